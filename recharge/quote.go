package recharge

import (
	"encoding/json"
	"errors"
	"math"

	"gaspay/units"
)

// unbounded is the upper bound of a tariff's last tier.
const unbounded = math.MaxInt64

// Tier prices the gas bought while the year's volume (0.01 m3) is below
// UpperCentiM3.
type Tier struct {
	UpperCentiM3  int64 // unbounded for the last tier
	PriceFenPerM3 int64
}

// Line is the part of a purchase priced in one tier.
type Line struct {
	Tier          int // 1 for the first
	PriceFenPerM3 int64
	VolumeCentiM3 units.CentiM3
	AmountFen     int64
}

// lineJSON is a line as the API writes it and orders store it
// (orders.quote_json). volume_cm3 is the old name of volume_centi_m3: it is
// still written for the clients of the last release (deprecated, to go in
// the next one), and read from orders stored before the rename.
type lineJSON struct {
	Tier          int            `json:"tier"`
	PriceFenPerM3 int64          `json:"price_fen_per_m3"`
	VolumeCentiM3 *units.CentiM3 `json:"volume_centi_m3,omitempty"`
	VolumeCm3     *units.CentiM3 `json:"volume_cm3,omitempty"`
	AmountFen     int64          `json:"amount_fen"`
}

// MarshalJSON writes volume_centi_m3 and, deprecated, volume_cm3.
func (l Line) MarshalJSON() ([]byte, error) {
	v := l.VolumeCentiM3
	return json.Marshal(lineJSON{Tier: l.Tier, PriceFenPerM3: l.PriceFenPerM3, VolumeCentiM3: &v, VolumeCm3: &v, AmountFen: l.AmountFen})
}

// UnmarshalJSON reads volume_centi_m3, or volume_cm3 from a line stored
// before the rename.
func (l *Line) UnmarshalJSON(b []byte) error {
	var j lineJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*l = Line{Tier: j.Tier, PriceFenPerM3: j.PriceFenPerM3, AmountFen: j.AmountFen}
	switch {
	case j.VolumeCentiM3 != nil:
		l.VolumeCentiM3 = *j.VolumeCentiM3
	case j.VolumeCm3 != nil:
		l.VolumeCentiM3 = *j.VolumeCm3
	}
	return nil
}

var errBadTiers = errors.New("recharge: tariff tiers must rise and end unbounded")

func checkTiers(tiers []Tier) error {
	if len(tiers) == 0 || tiers[len(tiers)-1].UpperCentiM3 != unbounded {
		return errBadTiers
	}
	for i, t := range tiers {
		if t.PriceFenPerM3 <= 0 || t.UpperCentiM3 <= 0 || (i > 0 && t.UpperCentiM3 <= tiers[i-1].UpperCentiM3) {
			return errBadTiers
		}
	}
	return nil
}

// price prices volume bought when the year's volume so far is ytd. Each
// line is rounded to the fen, half up (a line of 0.5 fen or more counts a
// fen), and the gross is the sum of the lines, so the breakdown a customer
// sees always adds up.
func price(tiers []Tier, ytd, volume int64) (lines []Line, gross units.Fen) {
	pos, left := ytd, volume
	for i, t := range tiers {
		if left == 0 {
			break
		}
		if pos >= t.UpperCentiM3 {
			continue
		}
		take := left
		if t.UpperCentiM3 != unbounded {
			take = min(left, t.UpperCentiM3-pos)
		}
		amount := (take*t.PriceFenPerM3 + 50) / 100
		lines = append(lines, Line{Tier: i + 1, PriceFenPerM3: t.PriceFenPerM3, VolumeCentiM3: units.CentiM3(take), AmountFen: amount})
		gross += units.Fen(amount)
		pos += take
		left -= take
	}
	return lines, gross
}

// volumeFor is the most volume, in whole 0.01 m3, whose price is at most
// amount fen.
func volumeFor(tiers []Tier, ytd int64, amount units.Fen) int64 {
	// Exactly, in hundredths of a fen: 0.01 m3 at p fen/m3 costs p of them.
	budget, pos, vol := int64(amount)*100, ytd, int64(0)
	for _, t := range tiers {
		if pos >= t.UpperCentiM3 {
			continue
		}
		if t.UpperCentiM3 != unbounded {
			room := t.UpperCentiM3 - pos
			if cost := room * t.PriceFenPerM3; budget >= cost {
				vol, budget, pos = vol+room, budget-cost, t.UpperCentiM3
				continue
			}
		}
		vol += budget / t.PriceFenPerM3
		break
	}
	// Rounding each line half up moves a price by up to half a fen per
	// line either way: step up while a little more still fits, then back
	// until the rounded price fits.
	for {
		if _, g := price(tiers, ytd, vol+1); g > amount {
			break
		}
		vol++
	}
	for vol > 0 {
		if _, g := price(tiers, ytd, vol); g <= amount {
			break
		}
		vol--
	}
	return vol
}
