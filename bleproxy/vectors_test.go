package bleproxy_test

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"gaspay/bleproxy"
)

// The test vectors of spec/box-protocol.md, copied verbatim.
const (
	vecMaster      = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	vecBoxID       = "4742000000000001"
	vecBoxNonce    = "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
	vecServerNonce = "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
	vecCardSerial  = "0000000012345678"
	vecKBox        = "9765e7e12e31d00652c641d08301be6f"
	vecKSess       = "7bb4f4955166d87dfcd38c586372d98d"
	vecKCard       = "37e367f6e9f7a30f8d77c69b4c763143"

	vecHello     = "474201014742000000000001000000070022b0b1b2b3b4b5b6b7b8b9babbbcbdbebf01020dfd21112f166437ef2c378f9f8c5c83"
	vecSession   = "474201024742000000000001000000000020c0c1c2c3c4c5c6c7c8c9cacbcccdcecf479086d9e63405206b8c8a3df7476365"
	vecReadCard  = "474201104742000000000001000000010010600a72805b8b933e6045a294ad9cc20b"
	vecImage     = "47430101303030303331313430303836000000001234567800040000000000000004e20001e2406553f10000000000000000000000000000d977400d5bca0cf4"
	vecCard      = "47420111474200000000000100000001005111932f250f6b4515b8c8c7bccbb11589f780ee0967317686b6d58f467f0e246f93a797f10ea983000a8c8c365d31d3e6f8be9357cde5d9b4348e32d100cf94e4e740f2e746ad0f1cd26f1cca3b129a3eaf"
	vecNewImage  = "47430101303030303331313430303836000000001234567800050000271001000004e20001e2406553f10000000000000000000000000000b3cb0fd0f42f5cd7"
	vecWriteCard = "4742012047420000000000010000000200a03c0e32d539b08b52d6d46c0097f84b15f3b82e8964cf852f675c17c765a723da24df6df3a2f1981343cef820291f18bdc152e667f6f4125d7d981a1ee64197a15d1a88b57c29b22000ea4a18dd74f5ec2c8926d5cbe3fc1f5c093e47ec6c218d33b3181d9ec00fdfb83d289ea46491dcb3e6d809e7c3dd17e1deb0d2f8d88a13218407ca26892b348ff65eb2cc5db7330629208dfa091977cb999b0f106c494e"

	vecHelloCounter = 7
	vecFirmware     = 0x0102
	vecWriteID      = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
)

// vectors holds the spec's inputs as typed values.
type vectors struct {
	master      bleproxy.MasterKey
	boxID       bleproxy.BoxID
	boxNonce    bleproxy.Nonce
	serverNonce bleproxy.Nonce
	serial      bleproxy.CardSerial
	kbox        bleproxy.Key
	ksess       bleproxy.Key
	kcard       bleproxy.Key
	writeID     bleproxy.WriteID
	image       [bleproxy.CardImageSize]byte
	newImage    [bleproxy.CardImageSize]byte
	// imageFields and newImageFields are the images as the spec describes
	// them in words.
	imageFields    bleproxy.CardImage
	newImageFields bleproxy.CardImage
}

func loadVectors(t testing.TB) vectors {
	t.Helper()
	var v vectors
	var err error
	if v.master, err = bleproxy.ParseMasterKey(vecMaster); err != nil {
		t.Fatal(err)
	}
	if v.boxID, err = bleproxy.ParseBoxID(vecBoxID); err != nil {
		t.Fatal(err)
	}
	if v.serial, err = bleproxy.ParseCardSerial(vecCardSerial); err != nil {
		t.Fatal(err)
	}
	if v.writeID, err = bleproxy.ParseWriteID(vecWriteID); err != nil {
		t.Fatal(err)
	}
	copy(v.boxNonce[:], unhex(t, vecBoxNonce))
	copy(v.serverNonce[:], unhex(t, vecServerNonce))
	copy(v.kbox[:], unhex(t, vecKBox))
	copy(v.ksess[:], unhex(t, vecKSess))
	copy(v.kcard[:], unhex(t, vecKCard))
	copy(v.image[:], unhex(t, vecImage))
	copy(v.newImage[:], unhex(t, vecNewImage))
	v.imageFields = bleproxy.CardImage{
		CardType:       bleproxy.CardVolume,
		UserNumber:     "000031140086",
		Serial:         v.serial,
		Seq:            4,
		Credit:         0,
		State:          bleproxy.CardLoaded,
		MeterRemaining: 1250,
		MeterUsage:     123456,
		WriteBackTime:  1700000000,
	}
	v.newImageFields = v.imageFields
	v.newImageFields.Seq = 5
	v.newImageFields.Credit = 10000
	v.newImageFields.State = bleproxy.CardPending
	return v
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

func parseFrameHex(t testing.TB, s string) bleproxy.Frame {
	t.Helper()
	f, err := bleproxy.ParseFrame(unhex(t, s))
	if err != nil {
		t.Fatalf("ParseFrame(%.20s...): %v", s, err)
	}
	return f
}

func keyHex(k bleproxy.Key) string { return hex.EncodeToString(k[:]) }

func wantHex(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	if g := hex.EncodeToString(got); g != want {
		t.Errorf("%s\n got %s\nwant %s", what, g, want)
	}
}

func TestVectorKeys(t *testing.T) {
	v := loadVectors(t)
	tests := []struct {
		name string
		got  bleproxy.Key
		want string
	}{
		{"K_box", bleproxy.DeriveBoxKey(v.master, v.boxID), vecKBox},
		{"K_sess", bleproxy.DeriveSessionKey(v.kbox, v.boxNonce, v.serverNonce), vecKSess},
		{"K_card", bleproxy.DeriveCardKey(v.master, v.serial), vecKCard},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keyHex(tt.got); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestVectorHello(t *testing.T) {
	v := loadVectors(t)
	t.Run("build", func(t *testing.T) {
		f := bleproxy.BuildHello(v.kbox, v.boxID, vecHelloCounter, v.boxNonce, vecFirmware)
		wantHex(t, "HELLO", f.Marshal(), vecHello)
	})
	t.Run("verify", func(t *testing.T) {
		h, err := bleproxy.VerifyHello(v.kbox, parseFrameHex(t, vecHello))
		if err != nil {
			t.Fatal(err)
		}
		want := bleproxy.Hello{BoxID: v.boxID, Counter: vecHelloCounter, Nonce: v.boxNonce, Firmware: vecFirmware}
		if h != want {
			t.Errorf("got %+v, want %+v", h, want)
		}
	})
	t.Run("box", func(t *testing.T) {
		box := bleproxy.NewBox(v.boxID, v.kbox, bleproxy.BoxConfig{Firmware: vecFirmware, HelloCounter: vecHelloCounter - 1})
		f, err := box.HelloWithNonce(v.boxNonce)
		if err != nil {
			t.Fatal(err)
		}
		wantHex(t, "Box HELLO", f.Marshal(), vecHello)
		if box.HelloCounter() != vecHelloCounter {
			t.Errorf("HelloCounter = %d, want %d", box.HelloCounter(), vecHelloCounter)
		}
	})
	t.Run("box random nonce", func(t *testing.T) {
		box := bleproxy.NewBox(v.boxID, v.kbox, bleproxy.BoxConfig{
			Firmware: vecFirmware, HelloCounter: vecHelloCounter - 1, Rand: bytes.NewReader(v.boxNonce[:]),
		})
		f, err := box.Hello()
		if err != nil {
			t.Fatal(err)
		}
		wantHex(t, "Box HELLO", f.Marshal(), vecHello)
	})
}

func TestVectorSession(t *testing.T) {
	v := loadVectors(t)
	t.Run("build", func(t *testing.T) {
		f := bleproxy.BuildSession(v.kbox, v.boxID, v.boxNonce, v.serverNonce)
		wantHex(t, "SESSION", f.Marshal(), vecSession)
	})
	t.Run("server handshake", func(t *testing.T) {
		hs, err := bleproxy.ServerHandshake(v.master, parseFrameHex(t, vecHello), vecHelloCounter-1, v.serverNonce)
		if err != nil {
			t.Fatal(err)
		}
		wantHex(t, "SESSION", hs.Reply.Marshal(), vecSession)
		if got := keyHex(hs.Session.Key); got != vecKSess {
			t.Errorf("K_sess = %s, want %s", got, vecKSess)
		}
		if hs.Hello.Counter != vecHelloCounter || hs.ServerNonce != v.serverNonce {
			t.Errorf("handshake = %+v", hs)
		}
		if hs.Session.Role != bleproxy.RoleServer || hs.Session.BoxID != v.boxID || hs.Session.Sent.Last != 0 || hs.Session.Received.Last != 0 {
			t.Errorf("session = %+v", hs.Session)
		}
	})
	t.Run("box verifies", func(t *testing.T) {
		s, err := bleproxy.VerifySession(v.kbox, v.boxID, v.boxNonce, parseFrameHex(t, vecSession))
		if err != nil {
			t.Fatal(err)
		}
		if got := keyHex(s.Key); got != vecKSess {
			t.Errorf("K_sess = %s, want %s", got, vecKSess)
		}
		if s.Role != bleproxy.RoleBox || s.BoxID != v.boxID {
			t.Errorf("session = %+v", s)
		}
	})
}

func TestVectorCardImage(t *testing.T) {
	v := loadVectors(t)
	tests := []struct {
		name   string
		fields bleproxy.CardImage
		raw    string
	}{
		{"image", v.imageFields, vecImage},
		{"new image", v.newImageFields, vecNewImage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := tt.fields.Seal(v.kcard)
			if err != nil {
				t.Fatal(err)
			}
			wantHex(t, "sealed", raw[:], tt.raw)

			// The user number given without its padding encodes the same.
			short := tt.fields
			short.UserNumber = "031140086"
			raw2, err := short.Seal(v.kcard)
			if err != nil || raw2 != raw {
				t.Errorf("unpadded user number: %x, %v", raw2, err)
			}

			got, err := bleproxy.ParseCardImage(unhex(t, tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.fields {
				t.Errorf("parsed %+v\nwant   %+v", got, tt.fields)
			}
			var in [bleproxy.CardImageSize]byte
			copy(in[:], unhex(t, tt.raw))
			if err := bleproxy.VerifyCardImage(v.kcard, in); err != nil {
				t.Errorf("VerifyCardImage: %v", err)
			}
			opened, kcard, err := bleproxy.OpenCardImage(v.master, in)
			if err != nil || opened != tt.fields || kcard != v.kcard {
				t.Errorf("OpenCardImage = %+v, %v", opened, err)
			}
		})
	}
	t.Run("next purchase", func(t *testing.T) {
		next, err := v.imageFields.NextPurchase(10000)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := next.Seal(v.kcard)
		if err != nil {
			t.Fatal(err)
		}
		wantHex(t, "new image", raw[:], vecNewImage)
	})
}

// TestVectorSealed builds every sealed vector from its inputs, and opens
// and decodes every one, both with the bare functions and with Sessions.
func TestVectorSealed(t *testing.T) {
	v := loadVectors(t)
	writeCard := bleproxy.WriteCardBody{WriteID: v.writeID, Expected: v.image, New: v.newImage}
	tests := []struct {
		name    string
		dir     bleproxy.Direction
		counter uint32
		msg     bleproxy.Message
		wire    string
	}{
		{"READ_CARD", bleproxy.ServerToBox, 1, bleproxy.ReadCardBody{}, vecReadCard},
		{"CARD", bleproxy.BoxToServer, 1, bleproxy.CardBody{Status: bleproxy.CardPresent, Image: v.image}, vecCard},
		{"WRITE_CARD", bleproxy.ServerToBox, 2, writeCard, vecWriteCard},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := tt.msg.Encode()
			if err != nil {
				t.Fatal(err)
			}
			f, err := bleproxy.Seal(v.ksess, tt.dir, tt.msg.Type(), v.boxID, tt.counter, pt)
			if err != nil {
				t.Fatal(err)
			}
			wantHex(t, "sealed", f.Marshal(), tt.wire)

			in := parseFrameHex(t, tt.wire)
			if in.Type != tt.msg.Type() || in.BoxID != v.boxID || in.Counter != tt.counter {
				t.Errorf("parsed header %v", in)
			}
			got, err := bleproxy.Open(v.ksess, tt.dir, in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, pt) {
				t.Errorf("plaintext %x, want %x", got, pt)
			}
			m, err := bleproxy.DecodeBody(in.Type, got)
			if err != nil {
				t.Fatal(err)
			}
			if m != tt.msg {
				t.Errorf("decoded %+v, want %+v", m, tt.msg)
			}
		})
	}

	t.Run("sessions", func(t *testing.T) {
		server := bleproxy.Session{BoxID: v.boxID, Key: v.ksess, Role: bleproxy.RoleServer}
		box := bleproxy.Session{BoxID: v.boxID, Key: v.ksess, Role: bleproxy.RoleBox}
		f, err := server.SealMessage(bleproxy.ReadCardBody{})
		if err != nil {
			t.Fatal(err)
		}
		wantHex(t, "READ_CARD", f.Marshal(), vecReadCard)
		if m, err := box.OpenMessage(f); err != nil || m != (bleproxy.ReadCardBody{}) {
			t.Fatalf("box opens READ_CARD: %v, %v", m, err)
		}
		f, err = box.SealMessage(bleproxy.CardBody{Status: bleproxy.CardPresent, Image: v.image})
		if err != nil {
			t.Fatal(err)
		}
		wantHex(t, "CARD", f.Marshal(), vecCard)
		m, err := server.OpenMessage(f)
		if err != nil {
			t.Fatal(err)
		}
		if c, ok := m.(bleproxy.CardBody); !ok || c.Image != v.image {
			t.Fatalf("server opens CARD: %+v", m)
		}
		f, err = server.SealMessage(writeCard)
		if err != nil {
			t.Fatal(err)
		}
		wantHex(t, "WRITE_CARD", f.Marshal(), vecWriteCard)
		if m, err := box.OpenMessage(f); err != nil || m != writeCard {
			t.Fatalf("box opens WRITE_CARD: %+v, %v", m, err)
		}
		if server.Sent.Last != 2 || server.Received.Last != 1 || box.Sent.Last != 1 || box.Received.Last != 2 {
			t.Errorf("counters: server %+v %+v, box %+v %+v", server.Sent, server.Received, box.Sent, box.Received)
		}
	})
}

// TestVectorEndToEnd plays the spec's whole exchange between a Box and the
// server-side helpers, checking every frame on the wire against the vectors,
// and ends with the meter loading the purchase exactly once.
func TestVectorEndToEnd(t *testing.T) {
	v := loadVectors(t)
	box := bleproxy.NewBox(v.boxID, bleproxy.DeriveBoxKey(v.master, v.boxID), bleproxy.BoxConfig{Firmware: vecFirmware, HelloCounter: 6})
	card := &bleproxy.Card{Image: v.image}
	box.InsertCard(card)

	// Frames travel as bytes, the way the phone relays them.
	wire := func(f bleproxy.Frame) bleproxy.Frame {
		t.Helper()
		g, err := bleproxy.ParseFrame(f.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		return g
	}

	hello, err := box.HelloWithNonce(v.boxNonce)
	if err != nil {
		t.Fatal(err)
	}
	wantHex(t, "HELLO", hello.Marshal(), vecHello)
	hs, err := bleproxy.ServerHandshake(v.master, wire(hello), 6, v.serverNonce)
	if err != nil {
		t.Fatal(err)
	}
	wantHex(t, "SESSION", hs.Reply.Marshal(), vecSession)
	if err := box.HandleSession(wire(hs.Reply)); err != nil {
		t.Fatal(err)
	}
	server := hs.Session

	read, err := server.SealMessage(bleproxy.ReadCardBody{})
	if err != nil {
		t.Fatal(err)
	}
	wantHex(t, "READ_CARD", read.Marshal(), vecReadCard)
	cardFrame, err := box.Handle(wire(read))
	if err != nil {
		t.Fatal(err)
	}
	wantHex(t, "CARD", cardFrame.Marshal(), vecCard)
	m, err := server.OpenMessage(wire(cardFrame))
	if err != nil {
		t.Fatal(err)
	}
	cb := m.(bleproxy.CardBody)
	img, kcard, err := bleproxy.OpenCardImage(v.master, cb.Image)
	if err != nil {
		t.Fatal(err)
	}
	if !img.HasUserNumber("031140086") {
		t.Errorf("user number %q does not match account 031140086", img.UserNumber)
	}
	next, err := img.NextPurchase(10000)
	if err != nil {
		t.Fatal(err)
	}
	newRaw, err := next.Seal(kcard)
	if err != nil {
		t.Fatal(err)
	}
	write, err := server.SealMessage(bleproxy.WriteCardBody{WriteID: v.writeID, Expected: cb.Image, New: newRaw})
	if err != nil {
		t.Fatal(err)
	}
	wantHex(t, "WRITE_CARD", write.Marshal(), vecWriteCard)
	resFrame, err := box.Handle(wire(write))
	if err != nil {
		t.Fatal(err)
	}
	m, err = server.OpenMessage(wire(resFrame))
	if err != nil {
		t.Fatal(err)
	}
	res := m.(bleproxy.WriteResultBody)
	if res.Status != bleproxy.WriteVerified || res.WriteID != v.writeID || res.ImageAfter != v.newImage {
		t.Fatalf("WRITE_RESULT = %+v", res)
	}
	if box.RemoveCard() != card || card.Image != v.newImage {
		t.Fatalf("card holds %x", card.Image)
	}

	meter := &bleproxy.Meter{Serial: v.serial, LastSeq: 4, Remaining: 1250, Usage: 123456}
	loaded, err := meter.Insert(kcard, card.Image)
	if err != nil {
		t.Fatal(err)
	}
	if meter.LastSeq != 5 || meter.Remaining != 11250 {
		t.Errorf("meter = %+v", meter)
	}
	// The customer's phone, or an attacker, writes the same pending image
	// again: the meter refuses it, so the purchase loads once.
	if _, err := meter.Insert(kcard, v.newImage); err == nil {
		t.Error("meter loaded the same purchase twice")
	}
	if meter.Remaining != 11250 {
		t.Errorf("meter remaining %d after refused insert", meter.Remaining)
	}
	if !strings.HasPrefix(hex.EncodeToString(loaded[:]), "474301") {
		t.Errorf("loaded image %x", loaded)
	}
}
