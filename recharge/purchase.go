package recharge

import "gaspay/units"

// Purchase is what a customer asks to buy: a volume of gas or an amount of
// money, exactly one of them. It is parsed once, at the boundary (handlers,
// the kiosk, a partner's payment), by ByVolume or ByAmount; the domain
// never checks "one of the two" again. The zero Purchase is neither and is
// refused as ErrInvalid.
type Purchase struct {
	volume units.CentiM3
	amount units.Fen
}

// ByVolume is a purchase of v (0.01 m³). Errors: ErrInvalid unless v > 0.
func ByVolume(v units.CentiM3) (Purchase, error) {
	if v <= 0 {
		return Purchase{}, ErrInvalid
	}
	return Purchase{volume: v}, nil
}

// ByAmount is a purchase of f fen. Errors: ErrInvalid unless f > 0.
func ByAmount(f units.Fen) (Purchase, error) {
	if f <= 0 {
		return Purchase{}, ErrInvalid
	}
	return Purchase{amount: f}, nil
}

// Volume is the volume asked for, if the purchase is by volume.
func (p Purchase) Volume() (units.CentiM3, bool) { return p.volume, p.volume > 0 }

// Amount is the amount asked for, if the purchase is by amount.
func (p Purchase) Amount() (units.Fen, bool) { return p.amount, p.amount > 0 }
