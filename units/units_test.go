package units_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"gaspay/units"
)

func TestParseYuan(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want units.Fen
		ok   bool
	}{
		{"0", 0, true}, {"0.5", 50, true}, {"12.30", 1230, true}, {"1234", 123400, true}, {"0.01", 1, true},
		{"92233720368547758.07", math.MaxInt64, true},
		{"92233720368547758.08", 0, false}, {"", 0, false}, {"-1", 0, false}, {"+1", 0, false}, {"1.234", 0, false},
		{"1.", 0, false}, {".5", 0, false}, {"01", 0, false}, {"1e3", 0, false}, {" 1", 0, false}, {"1,000", 0, false},
		{"0.1x", 0, false},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := units.ParseYuan(tt.in)
			if tt.ok && (err != nil || got != tt.want) {
				t.Fatalf("ParseYuan(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
			if !tt.ok && !errors.Is(err, units.ErrBadAmount) {
				t.Fatalf("ParseYuan(%q) = %d, %v; want ErrBadAmount", tt.in, got, err)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	for _, tt := range []struct {
		in   units.Fen
		want string
	}{{0, "0.00"}, {1, "0.01"}, {1230, "12.30"}, {-5, "-0.05"}, {math.MinInt64, "-92233720368547758.08"}} {
		if got := tt.in.Yuan(); got != tt.want {
			t.Errorf("Fen(%d).Yuan() = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := units.CentiM3(12345).M3(); got != "123.45" {
		t.Errorf("CentiM3(12345).M3() = %q", got)
	}
	if got := units.CentiM3(5).String(); got != "0.05 m3" {
		t.Errorf("CentiM3(5).String() = %q", got)
	}
}

func TestParseDecimal(t *testing.T) {
	for _, tt := range []struct {
		in     string
		places int
		want   int64
		ok     bool
	}{
		{"12", 2, 1200, true}, {"12.3", 2, 1230, true}, {"-0.06000", 5, -6000, true}, {"0.001", 2, 0, false},
		{"", 2, 0, false}, {"-", 2, 0, false}, {"1a", 2, 0, false}, {"1234567890123", 2, 0, false},
	} {
		got, err := units.ParseDecimal(tt.in, tt.places)
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("ParseDecimal(%q, %d) = %d, %v", tt.in, tt.places, got, err)
		}
	}
}

// FuzzParseYuan: never panics; every accepted string is the canonical form
// Yuan writes back, so each amount has one spelling.
func FuzzParseYuan(f *testing.F) {
	for _, s := range []string{"0", "0.5", "12.30", "1.", "-1", "92233720368547758.07"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fen, err := units.ParseYuan(s)
		if err != nil {
			return
		}
		if fen < 0 {
			t.Fatalf("ParseYuan(%q) = %d < 0", s, fen)
		}
		back := fen.Yuan()
		canon := s
		if !strings.Contains(canon, ".") {
			canon += ".00"
		} else if len(canon)-strings.IndexByte(canon, '.') == 2 {
			canon += "0"
		}
		if back != canon {
			t.Fatalf("Yuan(ParseYuan(%q)) = %q, want %q", s, back, canon)
		}
	})
}

func TestQuantity(t *testing.T) {
	m := units.Money(1230)
	if f, ok := m.Fen(); !ok || f != 1230 {
		t.Fatalf("Money(1230).Fen() = %d, %v", f, ok)
	}
	if _, ok := m.Volume(); ok || m.Unit() != units.UnitFen || m.String() != "12.30 yuan" {
		t.Fatalf("Money(1230) reads as a volume or misnames its unit: %q %q", m.Unit(), m)
	}
	g := units.Gas(10000)
	if v, ok := g.Volume(); !ok || v != 10000 || g.Count() != 10000 {
		t.Fatalf("Gas(10000).Volume() = %d, %v", v, ok)
	}
	if _, ok := g.Fen(); ok || g.Unit() != units.UnitCentiM3 || g.String() != "100.00 m3" {
		t.Fatalf("Gas(10000) reads as money or misnames its unit: %q %q", g.Unit(), g)
	}
	var z units.Quantity
	if _, ok := z.Fen(); ok || !z.IsZero() {
		t.Fatal("the zero Quantity reads as money")
	}
	if _, ok := z.Volume(); ok {
		t.Fatal("the zero Quantity reads as gas")
	}
}
