package bleproxy_test

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"

	"gaspay/bleproxy"
)

// rig is a box and the server's end of a session with it, established
// through a real handshake with the vector keys.
type rig struct {
	v      vectors
	box    *bleproxy.Box
	server bleproxy.Session
	card   *bleproxy.Card
}

func newRig(t *testing.T) *rig {
	t.Helper()
	v := loadVectors(t)
	r := &rig{v: v, box: bleproxy.NewBox(v.boxID, v.kbox, bleproxy.BoxConfig{Firmware: vecFirmware, HelloCounter: 6})}
	r.card = &bleproxy.Card{Image: v.image}
	r.box.InsertCard(r.card)
	r.handshake(t)
	return r
}

func (r *rig) handshake(t *testing.T) {
	t.Helper()
	hello, err := r.box.Hello()
	if err != nil {
		t.Fatal(err)
	}
	nonce, err := bleproxy.NewNonce(nil)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := bleproxy.ServerHandshake(r.v.master, hello, hello.Counter-1, nonce)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.box.HandleSession(hs.Reply); err != nil {
		t.Fatal(err)
	}
	r.server = hs.Session
}

// send seals m from the server, has the box handle it, and opens the reply.
func (r *rig) send(t *testing.T, m bleproxy.Message) bleproxy.Message {
	t.Helper()
	f, err := r.server.SealMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	reply, err := r.box.Handle(f)
	if err != nil {
		t.Fatalf("box: %v", err)
	}
	got, err := r.server.OpenMessage(reply)
	if err != nil {
		t.Fatalf("server: %v", err)
	}
	return got
}

func TestBoxReadCard(t *testing.T) {
	tests := []struct {
		name    string
		noCard  bool
		fault   bleproxy.Fault
		status  bleproxy.CardStatus
		inBox   bool
		pending bool // fault still armed afterwards
	}{
		{"present", false, bleproxy.FaultNone, bleproxy.CardPresent, true, false},
		{"absent", true, bleproxy.FaultNone, bleproxy.CardAbsent, false, false},
		{"unreadable", false, bleproxy.FaultUnreadable, bleproxy.CardUnreadable, true, false},
		{"pulled", false, bleproxy.FaultPull, bleproxy.CardAbsent, false, false},
		{"write-only fault waits", false, bleproxy.FaultTornWrite, bleproxy.CardPresent, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			if tt.noCard {
				r.box.RemoveCard()
			}
			r.box.InjectFault(tt.fault)
			got := r.send(t, bleproxy.ReadCardBody{}).(bleproxy.CardBody)
			if got.Status != tt.status {
				t.Fatalf("status %s, want %s", got.Status, tt.status)
			}
			if tt.status == bleproxy.CardPresent && got.Image != r.v.image {
				t.Errorf("image %x", got.Image)
			}
			if (r.box.Card() != nil) != tt.inBox {
				t.Errorf("card in box: %v", r.box.Card() != nil)
			}
			if r.card.Image != r.v.image {
				t.Errorf("a read changed the card")
			}
			if tt.pending {
				// The armed torn-write fault must hit the next write.
				w := r.send(t, bleproxy.WriteCardBody{Expected: r.v.image, New: r.v.newImage}).(bleproxy.WriteResultBody)
				if w.Status != bleproxy.WriteFailed {
					t.Errorf("armed fault lost: write status %s", w.Status)
				}
			}
		})
	}
}

// TestBoxWriteCard covers every WRITE_RESULT status and what is on the card
// afterwards, which is what the server has to reason about.
func TestBoxWriteCard(t *testing.T) {
	v := loadVectors(t)
	torn := v.newImage
	copy(torn[32:], v.image[32:])
	other := v.image
	other[27] = 0x01 // some other purchase the server has not seen
	tests := []struct {
		name        string
		cardHolds   *[64]byte // nil: no card
		fault       bleproxy.Fault
		status      bleproxy.WriteStatus
		after       *[64]byte // nil: zero
		cardAfter   *[64]byte
		inBox       bool
		cardGenuine bool
	}{
		{"0 verified", &v.image, bleproxy.FaultNone, bleproxy.WriteVerified, &v.newImage, &v.newImage, true, true},
		{"1 no card", nil, bleproxy.FaultNone, bleproxy.WriteNoCard, nil, nil, false, false},
		{"1 pulled before the write", &v.image, bleproxy.FaultPull, bleproxy.WriteNoCard, nil, &v.image, false, true},
		{"1 pulled after the write", &v.image, bleproxy.FaultPullAfterWrite, bleproxy.WriteNoCard, nil, &v.newImage, false, true},
		{"2 write failed", &v.image, bleproxy.FaultWriteFails, bleproxy.WriteFailed, &v.image, &v.image, true, true},
		{"2 torn write", &v.image, bleproxy.FaultTornWrite, bleproxy.WriteFailed, &torn, &torn, true, false},
		{"2 unreadable", &v.image, bleproxy.FaultUnreadable, bleproxy.WriteFailed, nil, &v.image, true, true},
		{"3 card differs", &other, bleproxy.FaultNone, bleproxy.WriteMismatch, &other, &other, true, false},
		{"3 already written", &v.newImage, bleproxy.FaultNone, bleproxy.WriteMismatch, &v.newImage, &v.newImage, true, true},
		{"3 beats a write fault", &other, bleproxy.FaultWriteFails, bleproxy.WriteMismatch, &other, &other, true, false},
		{"4 read-back differs", &v.image, bleproxy.FaultReadBackDiffers, bleproxy.WriteReadBackDiffers, nil, &v.newImage, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.box.RemoveCard()
			if tt.cardHolds != nil {
				r.card.Image = *tt.cardHolds
				r.box.InsertCard(r.card)
			}
			r.box.InjectFault(tt.fault)
			res := r.send(t, bleproxy.WriteCardBody{WriteID: v.writeID, Expected: v.image, New: v.newImage}).(bleproxy.WriteResultBody)
			if res.Status != tt.status || res.WriteID != v.writeID {
				t.Fatalf("result %s for %s, want %s", res.Status, res.WriteID, tt.status)
			}
			switch {
			case tt.status == bleproxy.WriteReadBackDiffers:
				if res.ImageAfter == v.newImage || res.ImageAfter == ([64]byte{}) {
					t.Errorf("read-back %x", res.ImageAfter)
				}
			case tt.after == nil:
				if res.ImageAfter != ([64]byte{}) {
					t.Errorf("image_after %x, want zeros", res.ImageAfter)
				}
			case res.ImageAfter != *tt.after:
				t.Errorf("image_after %x\nwant        %x", res.ImageAfter, *tt.after)
			}
			if tt.cardAfter != nil && r.card.Image != *tt.cardAfter {
				t.Errorf("card holds %x\nwant       %x", r.card.Image, *tt.cardAfter)
			}
			if (r.box.Card() != nil) != tt.inBox {
				t.Errorf("card in box: %v", r.box.Card() != nil)
			}
			if tt.cardAfter != nil {
				if err := bleproxy.VerifyCardImage(v.kcard, r.card.Image); (err == nil) != tt.cardGenuine {
					t.Errorf("card MAC after: %v", err)
				}
			}
		})
	}
}

// TestBoxLostResult: the card is written but the WRITE_RESULT never
// arrives. The session cannot continue (the box's numbering moved on), and
// a new session's read shows the purchase on the card, which is how the
// server learns it was delivered.
func TestBoxLostResult(t *testing.T) {
	r := newRig(t)
	v := r.v
	r.box.InjectFault(bleproxy.FaultLoseReply)
	f, err := r.server.SealMessage(bleproxy.WriteCardBody{WriteID: v.writeID, Expected: v.image, New: v.newImage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.box.Handle(f); !errors.Is(err, bleproxy.ErrReplyLost) {
		t.Fatalf("err = %v", err)
	}
	if r.card.Image != v.newImage {
		t.Fatal("card not written")
	}

	// The server tries to go on in the same session: the box's next reply
	// carries counter 2 where the server expects 1.
	f, _ = r.server.SealMessage(bleproxy.ReadCardBody{})
	reply, err := r.box.Handle(f)
	if err != nil {
		t.Fatal(err)
	}
	before := r.server
	if _, err := r.server.OpenMessage(reply); !errors.Is(err, bleproxy.ErrCounterGap) {
		t.Fatalf("err = %v", err)
	}
	if r.server != before {
		t.Error("gap changed the server's session")
	}

	r.handshake(t)
	c := r.send(t, bleproxy.ReadCardBody{}).(bleproxy.CardBody)
	img, _, err := bleproxy.OpenCardImage(v.master, c.Image)
	if err != nil {
		t.Fatal(err)
	}
	if img.Seq != 5 || img.Credit != 10000 || img.State != bleproxy.CardPending {
		t.Errorf("re-read %+v", img)
	}
}

func TestBoxRejects(t *testing.T) {
	t.Run("no session", func(t *testing.T) {
		v := loadVectors(t)
		box := bleproxy.NewBox(v.boxID, v.kbox, bleproxy.BoxConfig{})
		if _, err := box.Handle(parseFrameHex(t, vecReadCard)); !errors.Is(err, bleproxy.ErrNoSession) {
			t.Errorf("err = %v", err)
		}
		if err := box.HandleSession(parseFrameHex(t, vecSession)); !errors.Is(err, bleproxy.ErrUnexpectedType) {
			t.Errorf("SESSION without HELLO: %v", err)
		}
	})
	t.Run("SESSION: forged then genuine, once", func(t *testing.T) {
		v := loadVectors(t)
		box := bleproxy.NewBox(v.boxID, v.kbox, bleproxy.BoxConfig{HelloCounter: 6, Firmware: vecFirmware})
		if _, err := box.HelloWithNonce(v.boxNonce); err != nil {
			t.Fatal(err)
		}
		forged := parseFrameHex(t, vecSession)
		forged.Body[0] ^= 1
		if err := box.HandleSession(forged); !errors.Is(err, bleproxy.ErrBadMAC) {
			t.Fatalf("forged: %v", err)
		}
		if err := box.HandleSession(parseFrameHex(t, vecSession)); err != nil {
			t.Fatalf("genuine after forged: %v", err)
		}
		if err := box.HandleSession(parseFrameHex(t, vecSession)); !errors.Is(err, bleproxy.ErrUnexpectedType) {
			t.Errorf("second SESSION: %v", err)
		}
		reply, err := box.Handle(parseFrameHex(t, vecReadCard))
		if err != nil || reply.Type != bleproxy.TypeCard {
			t.Errorf("READ_CARD vector: %v %v", reply, err)
		}
	})
	t.Run("replay, wrong box, wrong direction: no reply, no change", func(t *testing.T) {
		r := newRig(t)
		f, _ := r.server.SealMessage(bleproxy.ReadCardBody{})
		if _, err := r.box.Handle(f); err != nil {
			t.Fatal(err)
		}
		before, _ := r.box.Session()
		wrongBox := f
		wrongBox.BoxID[7] ^= 1
		cardFrame, _ := (&bleproxy.Session{BoxID: r.v.boxID, Key: before.Key, Role: bleproxy.RoleBox}).SealMessage(bleproxy.CardBody{Status: bleproxy.CardAbsent})
		for name, tc := range map[string]struct {
			f    bleproxy.Frame
			want error
		}{
			"replay":               {f, bleproxy.ErrReplay},
			"wrong box":            {wrongBox, bleproxy.ErrWrongBox},
			"CARD sent to the box": {cardFrame, bleproxy.ErrUnexpectedType},
			"HELLO":                {parseFrameHex(t, vecHello), bleproxy.ErrUnexpectedType},
		} {
			reply, err := r.box.Handle(tc.f)
			if !errors.Is(err, tc.want) || reply.Body != nil {
				t.Errorf("%s: reply %v, err %v", name, reply, err)
			}
			if after, _ := r.box.Session(); after != before {
				t.Errorf("%s changed the session", name)
			}
		}
	})
	t.Run("authentic malformed body: ERROR reply", func(t *testing.T) {
		r := newRig(t)
		f, err := r.server.Seal(bleproxy.TypeWriteCard, make([]byte, 10))
		if err != nil {
			t.Fatal(err)
		}
		reply, err := r.box.Handle(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := r.server.OpenMessage(reply)
		if err != nil {
			t.Fatal(err)
		}
		if e, ok := m.(bleproxy.ErrorBody); !ok || e.Code != bleproxy.CodeMalformed {
			t.Errorf("reply %+v", m)
		}
		// Both ends are still in step.
		if c := r.send(t, bleproxy.ReadCardBody{}).(bleproxy.CardBody); c.Status != bleproxy.CardPresent {
			t.Errorf("next read %s", c.Status)
		}
	})
	t.Run("server ERROR", func(t *testing.T) {
		r := newRig(t)
		f, _ := r.server.SealMessage(bleproxy.ErrorBody{Code: bleproxy.CodeRefused, Message: "card reported lost"})
		reply, err := r.box.Handle(f)
		var eb bleproxy.ErrorBody
		if !errors.As(err, &eb) || eb.Code != bleproxy.CodeRefused || reply.Body != nil {
			t.Fatalf("reply %v, err %v", reply, err)
		}
		if s, _ := r.box.Session(); s.Received.Last != 1 {
			t.Errorf("ERROR not consumed: %+v", s.Received)
		}
	})
	t.Run("new HELLO drops the session", func(t *testing.T) {
		r := newRig(t)
		old := r.server
		if _, err := r.box.Hello(); err != nil {
			t.Fatal(err)
		}
		f, _ := old.SealMessage(bleproxy.ReadCardBody{})
		if _, err := r.box.Handle(f); !errors.Is(err, bleproxy.ErrNoSession) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("old session's frames after a new handshake", func(t *testing.T) {
		r := newRig(t)
		old := r.server
		r.handshake(t)
		f, _ := old.SealMessage(bleproxy.ReadCardBody{})
		if _, err := r.box.Handle(f); !errors.Is(err, bleproxy.ErrBadMAC) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestBoxHelloCounter(t *testing.T) {
	v := loadVectors(t)
	box := bleproxy.NewBox(v.boxID, v.kbox, bleproxy.BoxConfig{HelloCounter: math.MaxUint32 - 1})
	f, err := box.HelloWithNonce(v.boxNonce)
	if err != nil || f.Counter != math.MaxUint32 {
		t.Fatalf("last HELLO: %v, %v", f, err)
	}
	if _, err := box.HelloWithNonce(v.boxNonce); !errors.Is(err, bleproxy.ErrCounterExhausted) {
		t.Errorf("err = %v", err)
	}
	if box.HelloCounter() != math.MaxUint32 {
		t.Errorf("counter moved: %d", box.HelloCounter())
	}
	failing := bleproxy.NewBox(v.boxID, v.kbox, bleproxy.BoxConfig{Rand: bytes.NewReader(nil)})
	if _, err := failing.Hello(); err == nil || failing.HelloCounter() != 0 {
		t.Errorf("Hello with a failing reader: %v, counter %d", err, failing.HelloCounter())
	}
}

func TestBoxCardSwap(t *testing.T) {
	v := loadVectors(t)
	box := bleproxy.NewBox(v.boxID, v.kbox, bleproxy.BoxConfig{})
	a, b := &bleproxy.Card{Image: v.image}, &bleproxy.Card{Image: v.newImage}
	if prev := box.InsertCard(a); prev != nil {
		t.Error("empty box had a card")
	}
	if prev := box.InsertCard(b); prev != a {
		t.Error("swap did not return the first card")
	}
	if box.Card() != b || box.RemoveCard() != b || box.Card() != nil || box.RemoveCard() != nil {
		t.Error("remove")
	}
	if box.ID() != v.boxID {
		t.Error("ID")
	}
}

// The box's side of the session lifetime: a WRITE_CARD held back past the
// box's idle timer, across a newer HELLO or across a power loss never
// reaches the card; activity within the timer keeps the session.
func TestBoxSessionLifetime(t *testing.T) {
	v := loadVectors(t)
	setup := func(t *testing.T) (*rig, *time.Time) {
		now := time.Unix(1_800_000_000, 0)
		r := &rig{v: v, box: bleproxy.NewBox(v.boxID, v.kbox, bleproxy.BoxConfig{Firmware: vecFirmware, HelloCounter: 6,
			Now: func() time.Time { return now }})}
		r.card = &bleproxy.Card{Image: v.image}
		r.box.InsertCard(r.card)
		r.handshake(t)
		return r, &now
	}
	write := func(t *testing.T, r *rig) bleproxy.Frame {
		f, err := r.server.SealMessage(bleproxy.WriteCardBody{WriteID: v.writeID, Expected: v.image, New: v.newImage})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	cases := []struct {
		name string
		// between runs after the write is sealed and before it is handed
		// to the box.
		between func(t *testing.T, r *rig, now *time.Time)
		written bool
	}{
		{"handed over within the idle time", func(t *testing.T, r *rig, now *time.Time) {
			*now = now.Add(bleproxy.SessionIdle - time.Second)
		}, true},
		{"held past the idle time", func(t *testing.T, r *rig, now *time.Time) {
			*now = now.Add(bleproxy.SessionIdle)
		}, false},
		{"held across a newer HELLO", func(t *testing.T, r *rig, now *time.Time) {
			if _, err := r.box.Hello(); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"held across a power loss", func(t *testing.T, r *rig, now *time.Time) {
			r.box.PowerCycle()
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, now := setup(t)
			*now = now.Add(200 * time.Second)
			r.send(t, bleproxy.ReadCardBody{}) // activity: the timer starts again here
			f := write(t, r)
			c.between(t, r, now)
			_, err := r.box.Handle(f)
			if c.written {
				if err != nil || r.card.Image != v.newImage {
					t.Fatalf("write within the session's life: %v", err)
				}
				return
			}
			if !errors.Is(err, bleproxy.ErrNoSession) {
				t.Fatalf("held write: err = %v", err)
			}
			if r.card.Image != v.image {
				t.Fatal("a frame of a forgotten session reached the card")
			}
		})
	}
}
