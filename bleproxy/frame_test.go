package bleproxy_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"gaspay/bleproxy"
)

// rawFrame builds frame bytes by hand, so tests can make frames the codec
// itself would never produce.
func rawFrame(magic string, version, typ byte, lenField int, body []byte) []byte {
	b := []byte(magic)
	b = append(b, version, typ)
	b = append(b, 0x47, 0x42, 0, 0, 0, 0, 0, 1) // box id
	b = append(b, 0, 0, 0, 9)                   // counter
	b = binary.BigEndian.AppendUint16(b, uint16(lenField))
	return append(b, body...)
}

func TestParseFrame(t *testing.T) {
	body := func(n int) []byte { return bytes.Repeat([]byte{0xaa}, n) }
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, bleproxy.ErrShortFrame},
		{"17 bytes", rawFrame("GB", 1, 0x10, 0, nil)[:17], bleproxy.ErrShortFrame},
		{"header only", rawFrame("GB", 1, 0x10, 0, nil), nil},
		{"512 bytes", rawFrame("GB", 1, 0x7f, 494, body(494)), nil},
		{"513 bytes", rawFrame("GB", 1, 0x7f, 495, body(495)), bleproxy.ErrFrameTooLarge},
		{"huge", rawFrame("GB", 1, 0x7f, 0xffff, body(0xffff)), bleproxy.ErrFrameTooLarge},
		{"magic GC", rawFrame("GC", 1, 0x10, 0, nil), bleproxy.ErrBadMagic},
		{"magic gb", rawFrame("gb", 1, 0x10, 0, nil), bleproxy.ErrBadMagic},
		{"version 0", rawFrame("GB", 0, 0x10, 0, nil), bleproxy.ErrBadVersion},
		{"version 2", rawFrame("GB", 2, 0x10, 0, nil), bleproxy.ErrBadVersion},
		{"length says more", rawFrame("GB", 1, 0x11, 5, body(4)), bleproxy.ErrBadLength},
		{"length says less", rawFrame("GB", 1, 0x11, 3, body(4)), bleproxy.ErrBadLength},
		{"length says some, none follow", rawFrame("GB", 1, 0x11, 1, nil), bleproxy.ErrBadLength},
		{"length says none, some follow", rawFrame("GB", 1, 0x11, 0, body(1)), bleproxy.ErrBadLength},
		{"type 0x00", rawFrame("GB", 1, 0x00, 0, nil), bleproxy.ErrUnknownType},
		{"type 0x03", rawFrame("GB", 1, 0x03, 0, nil), bleproxy.ErrUnknownType},
		{"type 0xff", rawFrame("GB", 1, 0xff, 0, nil), bleproxy.ErrUnknownType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := bleproxy.ParseFrame(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil {
				return
			}
			if got := f.Marshal(); !bytes.Equal(got, tt.in) {
				t.Errorf("round trip\n got %x\nwant %x", got, tt.in)
			}
		})
	}
}

func TestFrameFields(t *testing.T) {
	in := unhex(t, vecHello)
	f, err := bleproxy.ParseFrame(in)
	if err != nil {
		t.Fatal(err)
	}
	if f.Type != bleproxy.TypeHello || f.BoxID.String() != vecBoxID || f.Counter != 7 || len(f.Body) != 34 {
		t.Errorf("parsed %v", f)
	}
	h := f.Header()
	if !bytes.Equal(h[:], in[:bleproxy.HeaderSize]) {
		t.Errorf("Header = %x", h)
	}
	// The body must not alias the input: relays reuse their buffers.
	in[bleproxy.HeaderSize] ^= 0xff
	if f.Body[0] != 0xb0 {
		t.Error("Body aliases the input buffer")
	}
	if got, want := f.String(), "HELLO box=4742000000000001 counter=7 body=34B"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if got, want := f.LogValue().String(), "[type=HELLO box=4742000000000001 counter=7 body_len=34]"; got != want {
		t.Errorf("LogValue = %q, want %q", got, want)
	}
}

func TestFrameMarshalOversizePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Marshal of an oversize body did not panic")
		}
	}()
	bleproxy.Frame{Type: bleproxy.TypeError, Body: make([]byte, bleproxy.MaxBodySize+1)}.Marshal()
}

func TestTypeDirections(t *testing.T) {
	tests := []struct {
		typ            bleproxy.Type
		name           string
		sealed, up, dn bool // up: box→server, dn: server→box
	}{
		{bleproxy.TypeHello, "HELLO", false, true, false},
		{bleproxy.TypeSession, "SESSION", false, false, true},
		{bleproxy.TypeReadCard, "READ_CARD", true, false, true},
		{bleproxy.TypeCard, "CARD", true, true, false},
		{bleproxy.TypeWriteCard, "WRITE_CARD", true, false, true},
		{bleproxy.TypeWriteResult, "WRITE_RESULT", true, true, false},
		{bleproxy.TypeError, "ERROR", true, true, true},
		{bleproxy.Type(0x42), "type(0x42)", false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.typ.String() != tt.name || tt.typ.Sealed() != tt.sealed ||
				tt.typ.AllowedIn(bleproxy.BoxToServer) != tt.up || tt.typ.AllowedIn(bleproxy.ServerToBox) != tt.dn ||
				tt.typ.AllowedIn(bleproxy.Direction(2)) {
				t.Errorf("%v: sealed %v up %v down %v", tt.typ, tt.typ.Sealed(), tt.typ.AllowedIn(bleproxy.BoxToServer), tt.typ.AllowedIn(bleproxy.ServerToBox))
			}
		})
	}
}

func TestIDs(t *testing.T) {
	t.Run("box id", func(t *testing.T) {
		id, err := bleproxy.ParseBoxID("4742ABCDEF000001")
		if err != nil || id.String() != "4742abcdef000001" {
			t.Fatalf("%v %v", id, err)
		}
		var back bleproxy.BoxID
		text, _ := id.MarshalText()
		if err := back.UnmarshalText(text); err != nil || back != id {
			t.Errorf("text round trip: %v %v", back, err)
		}
	})
	t.Run("card serial", func(t *testing.T) {
		s, err := bleproxy.ParseCardSerial(vecCardSerial)
		if err != nil || s.String() != vecCardSerial {
			t.Fatalf("%v %v", s, err)
		}
		var back bleproxy.CardSerial
		text, _ := s.MarshalText()
		if err := back.UnmarshalText(text); err != nil || back != s {
			t.Errorf("text round trip: %v %v", back, err)
		}
	})
	t.Run("write id", func(t *testing.T) {
		w, err := bleproxy.ParseWriteID(vecWriteID)
		if err != nil || w.String() != vecWriteID {
			t.Fatalf("%v %v", w, err)
		}
		var back bleproxy.WriteID
		text, _ := w.MarshalText()
		if err := back.UnmarshalText(text); err != nil || back != w {
			t.Errorf("text round trip: %v %v", back, err)
		}
	})
	for _, bad := range []string{"", "4742", "47420000000000011", "474200000000000g", " 4742000000000001"} {
		t.Run("bad "+bad, func(t *testing.T) {
			if _, err := bleproxy.ParseBoxID(bad); !errors.Is(err, bleproxy.ErrBadID) {
				t.Errorf("ParseBoxID err = %v", err)
			}
			if _, err := bleproxy.ParseCardSerial(bad); !errors.Is(err, bleproxy.ErrBadID) {
				t.Errorf("ParseCardSerial err = %v", err)
			}
			var id bleproxy.BoxID
			if err := id.UnmarshalText([]byte(bad)); !errors.Is(err, bleproxy.ErrBadID) {
				t.Errorf("UnmarshalText err = %v", err)
			}
		})
	}
	if _, err := bleproxy.ParseWriteID("a0a1"); !errors.Is(err, bleproxy.ErrBadID) {
		t.Errorf("ParseWriteID err = %v", err)
	}
}
