package alipay_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"gaspay/alipay"
)

func TestYuanToFen(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"0.00", 0, true},
		{"0.01", 1, true},
		{"0.1", 10, true},
		{"0.10", 10, true},
		{"1", 100, true},
		{"12.3", 1230, true},
		{"12.30", 1230, true},
		{"12.34", 1234, true},
		{"100000000.00", 10_000_000_000, true},
		{"92233720368547758.07", math.MaxInt64, true},
		{"92233720368547758.08", 0, false},
		{"99999999999999999999", 0, false},
		{"", 0, false},
		{".", 0, false},
		{".5", 0, false},
		{"1.", 0, false},
		{"1.234", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"01", 0, false},
		{"00.01", 0, false},
		{"1e3", 0, false},
		{" 1", 0, false},
		{"1 ", 0, false},
		{"1,000", 0, false},
		{"1.2.3", 0, false},
		{"1.a", 0, false},
		{"NaN", 0, false},
		{"１", 0, false}, // full-width digit
		{"0x10", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := alipay.YuanToFen(tt.in)
			if tt.ok {
				if err != nil || got != tt.want {
					t.Fatalf("YuanToFen(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, alipay.ErrBadAmount) {
				t.Fatalf("YuanToFen(%q) = %d, %v; want ErrBadAmount", tt.in, got, err)
			}
		})
	}
}

func TestFenToYuan(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0.00"},
		{1, "0.01"},
		{10, "0.10"},
		{99, "0.99"},
		{100, "1.00"},
		{1230, "12.30"},
		{123456789, "1234567.89"},
		{-1, "-0.01"},
		{-1230, "-12.30"},
		{math.MaxInt64, "92233720368547758.07"},
		{math.MinInt64, "-92233720368547758.08"},
	}
	for _, tt := range tests {
		if got := alipay.FenToYuan(tt.in); got != tt.want {
			t.Errorf("FenToYuan(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzYuanToFen: never panics; every accepted string means the amount that
// FenToYuan writes back, and that canonical form parses to the same fen.
func FuzzYuanToFen(f *testing.F) {
	for _, s := range []string{"0", "0.01", "12.3", "12.30", "100000000.00", "92233720368547758.07", "1.234", "-1", "", "1e3", " 1", "01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fen, err := alipay.YuanToFen(s)
		if err != nil {
			if fen != 0 {
				t.Fatalf("YuanToFen(%q) = %d with error %v", s, fen, err)
			}
			return
		}
		if fen < 0 {
			t.Fatalf("YuanToFen(%q) = %d < 0", s, fen)
		}
		back := alipay.FenToYuan(fen)
		// s with its decimals padded to two is the canonical form.
		canon := s
		switch i := strings.IndexByte(s, '.'); {
		case i < 0:
			canon += ".00"
		case len(s)-i == 2:
			canon += "0"
		}
		if back != canon {
			t.Fatalf("FenToYuan(YuanToFen(%q)) = %q, want %q", s, back, canon)
		}
		if again, err := alipay.YuanToFen(back); err != nil || again != fen {
			t.Fatalf("YuanToFen(%q) = %d, %v; want %d", back, again, err, fen)
		}
	})
}
