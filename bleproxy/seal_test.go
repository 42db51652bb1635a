package bleproxy_test

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"gaspay/bleproxy"
)

func TestSealRejects(t *testing.T) {
	v := loadVectors(t)
	tests := []struct {
		name    string
		dir     bleproxy.Direction
		typ     bleproxy.Type
		counter uint32
		size    int
		want    error
	}{
		{"largest plaintext", bleproxy.BoxToServer, bleproxy.TypeError, 1, bleproxy.MaxPlaintext, nil},
		{"plaintext too large", bleproxy.BoxToServer, bleproxy.TypeError, 1, bleproxy.MaxPlaintext + 1, bleproxy.ErrFrameTooLarge},
		{"counter 0", bleproxy.ServerToBox, bleproxy.TypeReadCard, 0, 0, bleproxy.ErrCounter},
		{"HELLO is plain", bleproxy.BoxToServer, bleproxy.TypeHello, 1, 0, bleproxy.ErrUnexpectedType},
		{"SESSION is plain", bleproxy.ServerToBox, bleproxy.TypeSession, 1, 0, bleproxy.ErrUnexpectedType},
		{"READ_CARD from the box", bleproxy.BoxToServer, bleproxy.TypeReadCard, 1, 0, bleproxy.ErrUnexpectedType},
		{"CARD from the server", bleproxy.ServerToBox, bleproxy.TypeCard, 1, 65, bleproxy.ErrUnexpectedType},
		{"unknown direction", bleproxy.Direction(2), bleproxy.TypeError, 1, 2, bleproxy.ErrUnexpectedType},
		{"unknown type", bleproxy.ServerToBox, bleproxy.Type(0x30), 1, 0, bleproxy.ErrUnexpectedType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := bleproxy.Seal(v.ksess, tt.dir, tt.typ, v.boxID, tt.counter, make([]byte, tt.size))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err == nil {
				if n := len(f.Marshal()); n > bleproxy.MaxFrameSize {
					t.Errorf("frame of %d bytes", n)
				}
				if _, err := bleproxy.ParseFrame(f.Marshal()); err != nil {
					t.Errorf("own frame does not parse: %v", err)
				}
			}
		})
	}
}

func TestOpenRejects(t *testing.T) {
	v := loadVectors(t)
	otherSess := bleproxy.DeriveSessionKey(v.kbox, v.serverNonce, v.boxNonce) // nonces swapped: another session
	tests := []struct {
		name   string
		key    bleproxy.Key
		dir    bleproxy.Direction
		mutate func(f *bleproxy.Frame)
		want   error
	}{
		{"genuine", v.ksess, bleproxy.BoxToServer, func(*bleproxy.Frame) {}, nil},
		{"another session's key", otherSess, bleproxy.BoxToServer, func(*bleproxy.Frame) {}, bleproxy.ErrBadMAC},
		{"reflected to the box", v.ksess, bleproxy.ServerToBox, func(*bleproxy.Frame) {}, bleproxy.ErrUnexpectedType},
		{"AAD: counter", v.ksess, bleproxy.BoxToServer, func(f *bleproxy.Frame) { f.Counter = 2 }, bleproxy.ErrBadMAC},
		{"AAD: box id", v.ksess, bleproxy.BoxToServer, func(f *bleproxy.Frame) { f.BoxID[0] ^= 1 }, bleproxy.ErrBadMAC},
		{"AAD: type", v.ksess, bleproxy.BoxToServer, func(f *bleproxy.Frame) { f.Type = bleproxy.TypeWriteResult }, bleproxy.ErrBadMAC},
		{"AAD: type ERROR", v.ksess, bleproxy.BoxToServer, func(f *bleproxy.Frame) { f.Type = bleproxy.TypeError }, bleproxy.ErrBadMAC},
		{"AAD: length (body truncated)", v.ksess, bleproxy.BoxToServer, func(f *bleproxy.Frame) { f.Body = f.Body[1:] }, bleproxy.ErrBadMAC},
		{"ciphertext bit", v.ksess, bleproxy.BoxToServer, func(f *bleproxy.Frame) { f.Body[0] ^= 1 }, bleproxy.ErrBadMAC},
		{"ciphertext image bit", v.ksess, bleproxy.BoxToServer, func(f *bleproxy.Frame) { f.Body[40] ^= 0x80 }, bleproxy.ErrBadMAC},
		{"tag bit", v.ksess, bleproxy.BoxToServer, func(f *bleproxy.Frame) { f.Body[len(f.Body)-1] ^= 1 }, bleproxy.ErrBadMAC},
		{"body shorter than tag", v.ksess, bleproxy.BoxToServer, func(f *bleproxy.Frame) { f.Body = f.Body[:15] }, bleproxy.ErrBadBody},
		{"counter 0", v.ksess, bleproxy.BoxToServer, func(f *bleproxy.Frame) { f.Counter = 0 }, bleproxy.ErrCounter},
		{"plain type", v.ksess, bleproxy.BoxToServer, func(f *bleproxy.Frame) { f.Type = bleproxy.TypeHello }, bleproxy.ErrUnexpectedType},
		{"oversize body", v.ksess, bleproxy.BoxToServer, func(f *bleproxy.Frame) { f.Body = make([]byte, 600) }, bleproxy.ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := parseFrameHex(t, vecCard)
			tt.mutate(&f)
			pt, err := bleproxy.Open(tt.key, tt.dir, f)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil && pt != nil {
				t.Error("plaintext returned with an error")
			}
		})
	}
}

func TestCounterState(t *testing.T) {
	tests := []struct {
		name string
		last uint32
		n    uint32
		want error
	}{
		{"first", 0, 1, nil},
		{"next", 41, 42, nil},
		{"zero", 0, 0, bleproxy.ErrReplay},
		{"replay", 5, 5, bleproxy.ErrReplay},
		{"older", 5, 3, bleproxy.ErrReplay},
		{"gap", 5, 7, bleproxy.ErrCounterGap},
		{"far ahead", 0, math.MaxUint32, bleproxy.ErrCounterGap},
		{"last possible", math.MaxUint32 - 1, math.MaxUint32, nil},
		{"exhausted", math.MaxUint32, 0, bleproxy.ErrCounterExhausted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := bleproxy.CounterState{Last: tt.last}
			if err := c.Check(tt.n); !errors.Is(err, tt.want) {
				t.Fatalf("Check err = %v, want %v", err, tt.want)
			}
			err := c.Accept(tt.n)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Accept err = %v, want %v", err, tt.want)
			}
			switch {
			case err == nil && c.Last != tt.n:
				t.Errorf("accepted but Last = %d", c.Last)
			case err != nil && c.Last != tt.last:
				t.Errorf("rejected but Last changed to %d", c.Last)
			case err != nil && !errors.Is(err, bleproxy.ErrCounter):
				t.Errorf("%v does not match ErrCounter", err)
			}
		})
	}
	t.Run("next", func(t *testing.T) {
		var c bleproxy.CounterState
		for want := uint32(1); want <= 3; want++ {
			if n, err := c.Next(); err != nil || n != want {
				t.Fatalf("Next = %d, %v; want %d", n, err, want)
			}
		}
		c.Last = math.MaxUint32
		if _, err := c.Next(); !errors.Is(err, bleproxy.ErrCounterExhausted) || c.Last != math.MaxUint32 {
			t.Errorf("Next at the end: %v, Last %d", err, c.Last)
		}
	})
}

// sessionPair returns the two ends of the vector session.
func sessionPair(t testing.TB) (server, box *bleproxy.Session) {
	v := loadVectors(t)
	return &bleproxy.Session{BoxID: v.boxID, Key: v.ksess, Role: bleproxy.RoleServer},
		&bleproxy.Session{BoxID: v.boxID, Key: v.ksess, Role: bleproxy.RoleBox}
}

func sealN(t *testing.T, s *bleproxy.Session, n int) []bleproxy.Frame {
	t.Helper()
	var out []bleproxy.Frame
	for i := 0; i < n; i++ {
		f, err := s.SealMessage(bleproxy.ReadCardBody{})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	return out
}

// TestSessionRejectsWithoutChange covers the spec's rule that a replay, a
// gap or a frame of another session is rejected without changing the
// session.
func TestSessionRejectsWithoutChange(t *testing.T) {
	v := loadVectors(t)
	server, box := sessionPair(t)
	frames := sealN(t, server, 3)

	// A second session of the same box: its frames carry valid-looking
	// numbers but another key.
	other := bleproxy.Session{BoxID: v.boxID, Key: bleproxy.DeriveSessionKey(v.kbox, v.serverNonce, v.boxNonce), Role: bleproxy.RoleServer}
	foreign := sealN(t, &other, 1)[0]
	// Another box's session, same counter.
	otherBox := bleproxy.Session{BoxID: bleproxy.BoxID{9}, Key: v.ksess, Role: bleproxy.RoleServer}
	wrongBox := sealN(t, &otherBox, 1)[0]
	// A forged frame with the next number must not burn it.
	forged := frames[0]
	forged.Body = bytes.Clone(forged.Body)
	forged.Body[0] ^= 1
	// The box's own frame sent back to it.
	boxCopy := *box
	reflected, err := boxCopy.SealMessage(bleproxy.CardBody{Status: bleproxy.CardAbsent})
	if err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name string
		f    bleproxy.Frame
		want error
		last uint32 // box.Received.Last afterwards
	}{
		{"gap: 2 before 1", frames[1], bleproxy.ErrCounterGap, 0},
		{"foreign session", foreign, bleproxy.ErrBadMAC, 0},
		{"another box", wrongBox, bleproxy.ErrWrongBox, 0},
		{"forged next", forged, bleproxy.ErrBadMAC, 0},
		{"reflected", reflected, bleproxy.ErrUnexpectedType, 0},
		{"1", frames[0], nil, 1},
		{"replay of 1", frames[0], bleproxy.ErrReplay, 1},
		{"2", frames[1], nil, 2},
		{"replay of 1 again", frames[0], bleproxy.ErrReplay, 2},
		{"replay of 2", frames[1], bleproxy.ErrReplay, 2},
		{"3", frames[2], nil, 3},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			before := *box
			_, err := box.Open(st.f)
			if !errors.Is(err, st.want) {
				t.Fatalf("err = %v, want %v", err, st.want)
			}
			if err != nil && *box != before {
				t.Errorf("rejection changed the session: %+v -> %+v", before, *box)
			}
			if box.Received.Last != st.last || box.Sent.Last != 0 {
				t.Errorf("counters %+v %+v", box.Sent, box.Received)
			}
		})
	}
}

func TestSessionMisuse(t *testing.T) {
	var zero bleproxy.Session
	if _, err := zero.Seal(bleproxy.TypeReadCard, nil); !errors.Is(err, bleproxy.ErrBadSession) {
		t.Errorf("zero session Seal: %v", err)
	}
	if _, err := zero.Open(parseFrameHex(t, vecCard)); !errors.Is(err, bleproxy.ErrBadSession) {
		t.Errorf("zero session Open: %v", err)
	}
	server, _ := sessionPair(t)
	if _, err := server.Seal(bleproxy.TypeCard, make([]byte, 65)); !errors.Is(err, bleproxy.ErrUnexpectedType) || server.Sent.Last != 0 {
		t.Errorf("server sealing CARD: %v, sent %d", err, server.Sent.Last)
	}
	if _, err := server.SealMessage(bleproxy.ErrorBody{Code: 1, Message: "\xff"}); !errors.Is(err, bleproxy.ErrBadBody) || server.Sent.Last != 0 {
		t.Errorf("bad message: %v, sent %d", err, server.Sent.Last)
	}
	server.Sent.Last = math.MaxUint32
	if _, err := server.Seal(bleproxy.TypeReadCard, nil); !errors.Is(err, bleproxy.ErrCounterExhausted) {
		t.Errorf("exhausted: %v", err)
	}
}

func TestSessionOpenMessageBadBody(t *testing.T) {
	server, box := sessionPair(t)
	// An authentic READ_CARD with a body: decoding fails after the frame
	// was accepted, so the counter must have moved on.
	f, err := server.Seal(bleproxy.TypeReadCard, []byte{1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := box.OpenMessage(f); !errors.Is(err, bleproxy.ErrBadBody) {
		t.Fatalf("err = %v", err)
	}
	if box.Received.Last != 1 {
		t.Errorf("Received = %d, want 1", box.Received.Last)
	}
}

func TestSessionBinary(t *testing.T) {
	server, _ := sessionPair(t)
	sealN(t, server, 2)
	server.Received.Last = 7
	b, err := server.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 34 {
		t.Errorf("%d bytes", len(b))
	}
	var back bleproxy.Session
	if err := back.UnmarshalBinary(b); err != nil || back != *server {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	bad := map[string][]byte{
		"empty":   nil,
		"short":   b[:33],
		"long":    append(bytes.Clone(b), 0),
		"version": append([]byte{2}, b[1:]...),
		"role 0":  append([]byte{1, 0}, b[2:]...),
		"role 3":  append([]byte{1, 3}, b[2:]...),
	}
	for name, in := range bad {
		t.Run(name, func(t *testing.T) {
			s := back
			if err := s.UnmarshalBinary(in); !errors.Is(err, bleproxy.ErrBadSession) || s != back {
				t.Errorf("err = %v", err)
			}
		})
	}
	if _, err := (bleproxy.Session{}).MarshalBinary(); !errors.Is(err, bleproxy.ErrBadSession) {
		t.Errorf("zero session marshals: %v", err)
	}
}
