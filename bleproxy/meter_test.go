package bleproxy_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"gaspay/bleproxy"
)

func newMeter(v vectors) *bleproxy.Meter {
	return &bleproxy.Meter{
		Serial: v.serial, LastSeq: 4, Remaining: 1250, Usage: 123456,
		Now: func() time.Time { return time.Unix(1700086400, 0) },
	}
}

func TestMeterLoadsOnce(t *testing.T) {
	v := loadVectors(t)
	m := newMeter(v)
	m.Consume(2000, 1000) // 20 m3 burnt since the last insertion, 10 m3 off the balance
	if m.Usage != 125456 || m.Remaining != 250 {
		t.Fatalf("after Consume: %+v", m)
	}

	out, err := m.Insert(v.kcard, v.newImage)
	if err != nil {
		t.Fatal(err)
	}
	if m.LastSeq != 5 || m.Remaining != 10250 {
		t.Errorf("meter %+v", m)
	}
	img, err := bleproxy.ParseCardImage(out[:])
	if err != nil {
		t.Fatal(err)
	}
	want := v.newImageFields
	want.State = bleproxy.CardLoaded
	want.MeterRemaining = 10250
	want.MeterUsage = 125456
	want.WriteBackTime = 1700086400
	if img != want {
		t.Errorf("written back %+v\nwant %+v", img, want)
	}
	if err := bleproxy.VerifyCardImage(v.kcard, out); err != nil {
		t.Errorf("written-back image: %v", err)
	}

	// Inserting again, the card as the meter left it, or the same purchase
	// rewritten by a box: nothing more is loaded.
	for name, raw := range map[string][64]byte{"same card again": out, "pending image rewritten": v.newImage} {
		t.Run(name, func(t *testing.T) {
			before := *m
			got, err := m.Insert(v.kcard, raw)
			if err == nil {
				t.Fatal("loaded twice")
			}
			if got != raw || m.LastSeq != before.LastSeq || m.Remaining != before.Remaining {
				t.Errorf("refused insert changed something")
			}
		})
	}
}

func TestMeterRejects(t *testing.T) {
	v := loadVectors(t)
	seal := func(mutate func(c *bleproxy.CardImage)) [64]byte {
		c := v.newImageFields
		mutate(&c)
		raw, err := c.Seal(v.kcard)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	tampered := v.newImage
	tampered[29] = 0xff // more credit, MAC unchanged
	tests := []struct {
		name  string
		raw   [64]byte
		setup func(m *bleproxy.Meter)
		key   bleproxy.Key // zero: K_card
		want  error
	}{
		{"genuine", v.newImage, func(*bleproxy.Meter) {}, bleproxy.Key{}, nil},
		{"credit tampered", tampered, func(*bleproxy.Meter) {}, bleproxy.Key{}, bleproxy.ErrBadCardMAC},
		{"not pending", v.image, func(m *bleproxy.Meter) { m.LastSeq = 3 }, bleproxy.Key{}, bleproxy.ErrNotPending},
		{"already loaded (replay)", v.newImage, func(m *bleproxy.Meter) { m.LastSeq = 5 }, bleproxy.Key{}, bleproxy.ErrSequence},
		{"older purchase", v.newImage, func(m *bleproxy.Meter) { m.LastSeq = 9 }, bleproxy.Key{}, bleproxy.ErrSequence},
		{"purchase skipped", seal(func(c *bleproxy.CardImage) { c.Seq = 6 }), func(*bleproxy.Meter) {}, bleproxy.Key{}, bleproxy.ErrSequence},
		{"wrong card", v.newImage, func(m *bleproxy.Meter) { m.Serial[0] = 1 }, bleproxy.Key{}, bleproxy.ErrWrongCard},
		{"unpaired meter takes any card", v.newImage, func(m *bleproxy.Meter) { m.Serial = bleproxy.CardSerial{} }, bleproxy.Key{}, nil},
		{"overflow", v.newImage, func(m *bleproxy.Meter) { m.Remaining = math.MaxUint32 - 9999 }, bleproxy.Key{}, bleproxy.ErrMeterOverflow},
		{"fills exactly", v.newImage, func(m *bleproxy.Meter) { m.Remaining = math.MaxUint32 - 10000 }, bleproxy.Key{}, nil},
		{"box key", v.newImage, func(*bleproxy.Meter) {}, v.kbox, bleproxy.ErrBadCardMAC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMeter(v)
			tt.setup(m)
			before := *m
			key := tt.key
			if key.IsZero() {
				key = v.kcard
			}
			_, err := m.Insert(key, tt.raw)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil && (m.LastSeq != before.LastSeq || m.Remaining != before.Remaining) {
				t.Errorf("meter changed on rejection: %+v", m)
			}
		})
	}
}
