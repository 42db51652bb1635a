package recharge

import (
	"errors"
	"math"
)

// unbounded is the upper bound of a tariff's last tier.
const unbounded = math.MaxInt64

// Tier prices the gas bought while the year's volume is below UpperCm3.
type Tier struct {
	UpperCm3      int64 // unbounded for the last tier
	PriceFenPerM3 int64
}

// Line is the part of a purchase priced in one tier.
type Line struct {
	Tier          int   `json:"tier"` // 1 for the first
	PriceFenPerM3 int64 `json:"price_fen_per_m3"`
	VolumeCm3     int64 `json:"volume_cm3"`
	AmountFen     int64 `json:"amount_fen"`
}

var errBadTiers = errors.New("recharge: tariff tiers must rise and end unbounded")

func checkTiers(tiers []Tier) error {
	if len(tiers) == 0 || tiers[len(tiers)-1].UpperCm3 != unbounded {
		return errBadTiers
	}
	for i, t := range tiers {
		if t.PriceFenPerM3 <= 0 || t.UpperCm3 <= 0 || (i > 0 && t.UpperCm3 <= tiers[i-1].UpperCm3) {
			return errBadTiers
		}
	}
	return nil
}

// price prices volume bought when the year's volume so far is ytd. Each
// line is rounded to the fen, half up (a line of 0.5 fen or more counts a
// fen), and the gross is the sum of the lines, so the breakdown a customer
// sees always adds up.
func price(tiers []Tier, ytd, volume int64) (lines []Line, gross int64) {
	pos, left := ytd, volume
	for i, t := range tiers {
		if left == 0 {
			break
		}
		if pos >= t.UpperCm3 {
			continue
		}
		take := left
		if t.UpperCm3 != unbounded {
			take = min(left, t.UpperCm3-pos)
		}
		amount := (take*t.PriceFenPerM3 + 50) / 100
		lines = append(lines, Line{Tier: i + 1, PriceFenPerM3: t.PriceFenPerM3, VolumeCm3: take, AmountFen: amount})
		gross += amount
		pos += take
		left -= take
	}
	return lines, gross
}

// volumeFor is the most volume, in whole 0.01 m3, whose price is at most
// amount fen.
func volumeFor(tiers []Tier, ytd, amount int64) int64 {
	// Exactly, in hundredths of a fen: a cm3 at p fen/m3 costs p of them.
	budget, pos, vol := amount*100, ytd, int64(0)
	for _, t := range tiers {
		if pos >= t.UpperCm3 {
			continue
		}
		if t.UpperCm3 != unbounded {
			room := t.UpperCm3 - pos
			if cost := room * t.PriceFenPerM3; budget >= cost {
				vol, budget, pos = vol+room, budget-cost, t.UpperCm3
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
