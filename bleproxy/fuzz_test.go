package bleproxy_test

import (
	"bytes"
	"errors"
	"testing"

	"gaspay/bleproxy"
)

var vectorFrames = []string{vecHello, vecSession, vecReadCard, vecCard, vecWriteCard}

// FuzzParseFrame: ParseFrame never panics, and what it accepts marshals
// back to exactly its input.
func FuzzParseFrame(f *testing.F) {
	for _, s := range vectorFrames {
		f.Add(unhex(f, s))
	}
	f.Add([]byte("GB\x01\x10"))
	f.Add(rawFrame("GB", 1, 0x7f, 494, make([]byte, 494)))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := bleproxy.ParseFrame(b)
		if err != nil {
			return
		}
		if got := fr.Marshal(); !bytes.Equal(got, b) {
			t.Fatalf("round trip\n got %x\nwant %x", got, b)
		}
		h := fr.Header()
		if !bytes.Equal(h[:], b[:bleproxy.HeaderSize]) {
			t.Fatalf("header %x", h)
		}
	})
}

// FuzzParseCardImage: never panics; an accepted image re-encodes to the
// same 56 bytes, and sealing it gives an image that verifies and parses
// to the same fields.
func FuzzParseCardImage(f *testing.F) {
	f.Add(unhex(f, vecImage))
	f.Add(unhex(f, vecNewImage))
	f.Add(make([]byte, 64))
	v := loadVectors(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := bleproxy.ParseCardImage(b)
		if err != nil {
			return
		}
		raw, err := img.Seal(v.kcard)
		if err != nil {
			t.Fatalf("parsed image does not seal: %v", err)
		}
		if !bytes.Equal(raw[:56], b[:56]) {
			t.Fatalf("re-encoded\n got %x\nwant %x", raw[:56], b[:56])
		}
		if err := bleproxy.VerifyCardImage(v.kcard, raw); err != nil {
			t.Fatal(err)
		}
		var in [64]byte
		copy(in[:], b)
		if (bleproxy.VerifyCardImage(v.kcard, in) == nil) != bytes.Equal(raw[56:], b[56:]) {
			t.Fatal("VerifyCardImage disagrees with Seal")
		}
		back, err := bleproxy.ParseCardImage(raw[:])
		if err != nil || back != img {
			t.Fatalf("reparsed %+v, %v", back, err)
		}
	})
}

// FuzzOpen feeds arbitrary frames to both ends of the vector session. No
// input may panic; a refused frame must leave the session unchanged; an
// accepted one must re-seal to exactly its input.
func FuzzOpen(f *testing.F) {
	for _, s := range vectorFrames {
		f.Add(unhex(f, s), uint32(0))
	}
	f.Add(unhex(f, vecWriteCard), uint32(1))
	v := loadVectors(f)
	f.Fuzz(func(t *testing.T, b []byte, last uint32) {
		fr, err := bleproxy.ParseFrame(b)
		if err != nil {
			return
		}
		for _, role := range []bleproxy.Role{bleproxy.RoleServer, bleproxy.RoleBox} {
			s := bleproxy.Session{BoxID: v.boxID, Key: v.ksess, Role: role, Received: bleproxy.CounterState{Last: last}}
			before := s
			m, err := s.OpenMessage(fr)
			if err != nil && !errors.Is(err, bleproxy.ErrBadBody) {
				if s != before {
					t.Fatalf("refused frame changed the session: %v", err)
				}
				continue
			}
			if s.Received.Last != fr.Counter || fr.Counter != last+1 {
				t.Fatalf("accepted counter %d after %d, state %d", fr.Counter, last, s.Received.Last)
			}
			recv := bleproxy.BoxToServer // what the server receives
			if role == bleproxy.RoleBox {
				recv = bleproxy.ServerToBox
			}
			pt, err := bleproxy.Open(v.ksess, recv, fr)
			if err != nil {
				t.Fatalf("Open disagrees with Session.Open: %v", err)
			}
			again, err := bleproxy.Seal(v.ksess, recv, fr.Type, fr.BoxID, fr.Counter, pt)
			if err != nil || !bytes.Equal(again.Marshal(), b) {
				t.Fatalf("re-seal differs: %v", err)
			}
			if m != nil {
				enc, err := m.Encode()
				if err != nil || !bytes.Equal(enc, pt) {
					t.Fatalf("body re-encodes to %x, want %x (%v)", enc, pt, err)
				}
			}
		}
		// The bare function must not panic either, for any key.
		_, _ = bleproxy.Open(bleproxy.Key{}, bleproxy.BoxToServer, fr)
		_, _ = bleproxy.Open(bleproxy.Key{}, bleproxy.ServerToBox, fr)
	})
}

// FuzzDecodeBodies: no body decoder panics, and every accepted body
// re-encodes to exactly its input.
func FuzzDecodeBodies(f *testing.F) {
	v := loadVectors(f)
	seeds := []bleproxy.Message{
		bleproxy.ReadCardBody{},
		bleproxy.CardBody{Status: bleproxy.CardPresent, Image: v.image},
		bleproxy.CardBody{Status: bleproxy.CardAbsent},
		bleproxy.WriteCardBody{WriteID: v.writeID, Expected: v.image, New: v.newImage},
		bleproxy.WriteResultBody{WriteID: v.writeID, Status: bleproxy.WriteVerified, ImageAfter: v.newImage},
		bleproxy.ErrorBody{Code: bleproxy.CodeRefused, Message: "卡已挂失"},
	}
	for _, m := range seeds {
		b, err := m.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(byte(m.Type()), b)
	}
	f.Fuzz(func(t *testing.T, typ byte, b []byte) {
		m, err := bleproxy.DecodeBody(bleproxy.Type(typ), b)
		if err != nil {
			if m != nil {
				t.Fatal("message returned with an error")
			}
			return
		}
		if m.Type() != bleproxy.Type(typ) {
			t.Fatalf("decoded %s as %s", bleproxy.Type(typ), m.Type())
		}
		enc, err := m.Encode()
		if err != nil {
			t.Fatalf("decoded body does not encode: %v", err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("round trip\n got %x\nwant %x", enc, b)
		}
	})
}
