package recharge

import (
	"testing"

	"gaspay/units"
)

// The utility's residential tariff: 3.00 to 310 m3, 3.30 to 520 m3, 4.20 above.
var residential = []Tier{{31000, 300}, {52000, 330}, {unbounded, 420}}

func TestPrice(t *testing.T) {
	tests := []struct {
		name        string
		ytd, volume int64
		lines       []Line
		gross       int64
	}{
		{"first tier", 0, 10000, []Line{{1, 300, 10000, 30000}}, 30000},
		{"0.01 m3", 0, 1, []Line{{1, 300, 1, 3}}, 3},
		{"across two tiers", 30000, 5000, []Line{{1, 300, 1000, 3000}, {2, 330, 4000, 13200}}, 16200},
		{"across three tiers", 30000, 30000, []Line{{1, 300, 1000, 3000}, {2, 330, 21000, 69300}, {3, 420, 8000, 33600}}, 105900},
		{"top tier", 60000, 101, []Line{{3, 420, 101, 424}}, 424}, // 424.2 → 424
		{"half up", 0, 50, []Line{{1, 300, 50, 150}}, 150},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines, gross := price(residential, tt.ytd, tt.volume)
			if gross != units.Fen(tt.gross) || len(lines) != len(tt.lines) {
				t.Fatalf("got %v %d, want %v %d", lines, gross, tt.lines, tt.gross)
			}
			for i := range lines {
				if lines[i] != tt.lines[i] {
					t.Errorf("line %d = %+v, want %+v", i, lines[i], tt.lines[i])
				}
			}
		})
	}
	// Half a fen rounds up: 0.05 m3 at 3.30 is 16.5 fen.
	if _, g := price([]Tier{{unbounded, 330}}, 0, 5); g != 17 {
		t.Errorf("16.5 fen rounded to %d", g)
	}
}

func TestVolumeFor(t *testing.T) {
	tests := []struct {
		name        string
		ytd, amount int64
		want        int64
	}{
		{"exact", 0, 30000, 10000},
		{"floors to 0.01 m3", 0, 1000, 333}, // 333 × 0.01 m3 cost 999 fen; 1 fen stays
		{"120 yuan", 0, 12000, 4000},
		{"across tiers", 30000, 16200, 5000},
		{"top tier", 60000, 424, 101}, // 101 × 0.01 m3 cost 424.2 → 424 fen
		{"too little", 0, 1, 0},
		{"1500 yuan from zero", 0, 150000, 48272}, // 310 m3 for 930 yuan, 172.72 m3 at 3.30
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := volumeFor(residential, tt.ytd, units.Fen(tt.amount))
			if got != tt.want {
				t.Fatalf("volumeFor(%d, %d) = %d, want %d", tt.ytd, tt.amount, got, tt.want)
			}
		})
	}
}

// volumeFor is the largest volume that fits: its price fits and 0.01 m3
// more does not, wherever in the year and whatever the amount.
func FuzzVolumeFor(f *testing.F) {
	f.Add(int64(0), int64(12000))
	f.Add(int64(30999), int64(7))
	f.Add(int64(51990), int64(150000))
	f.Fuzz(func(t *testing.T, ytd, amount int64) {
		if ytd < 0 || ytd > 10_000_000 || amount < 0 || amount > 10_000_000 {
			return
		}
		v := volumeFor(residential, ytd, units.Fen(amount))
		_, g := price(residential, ytd, v)
		_, next := price(residential, ytd, v+1)
		if g > units.Fen(amount) || next <= units.Fen(amount) {
			t.Fatalf("ytd %d amount %d: volume %d costs %d, %d costs %d", ytd, amount, v, g, v+1, next)
		}
		lines, gross := price(residential, ytd, v)
		var sum, vol int64
		for _, l := range lines {
			sum += l.AmountFen
			vol += int64(l.VolumeCentiM3)
		}
		if sum != int64(gross) || vol != v {
			t.Fatalf("lines %v do not add up to %d / %d", lines, gross, v)
		}
	})
}

func TestCheckTiers(t *testing.T) {
	if err := checkTiers(residential); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]Tier{nil, {{31000, 300}}, {{52000, 300}, {31000, 330}, {unbounded, 420}}, {{unbounded, 0}}} {
		if checkTiers(bad) == nil {
			t.Errorf("accepted %v", bad)
		}
	}
}
