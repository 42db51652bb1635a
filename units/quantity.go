package units

// Quantity is what a credit delivers: an amount of money or a volume of
// gas, and which of the two. A meter or card counts in one unit or the
// other (IoT meters and amount cards in fen, volume cards in 0.01 m³); a
// bare number whose unit sits in another field is how a volume once got
// read as money, so a credit's number is only ever read through Fen or
// Volume, which say whether it is one.
//
// The zero Quantity is neither (IsZero).
type Quantity struct {
	unit string
	n    int64
}

// Unit names, as stored (credits.unit, orders.credit_unit) and as the API
// writes them.
const (
	UnitFen     = "fen"
	UnitCentiM3 = "centi_m3"
)

// Money is a credit of f fen.
func Money(f Fen) Quantity { return Quantity{unit: UnitFen, n: int64(f)} }

// Gas is a credit of v (0.01 m³).
func Gas(v CentiM3) Quantity { return Quantity{unit: UnitCentiM3, n: int64(v)} }

// Fen is the amount, if the quantity is money.
func (q Quantity) Fen() (Fen, bool) { return Fen(q.n), q.unit == UnitFen }

// Volume is the volume, if the quantity is gas.
func (q Quantity) Volume() (CentiM3, bool) { return CentiM3(q.n), q.unit == UnitCentiM3 }

// IsZero reports the zero Quantity, neither money nor gas.
func (q Quantity) IsZero() bool { return q.unit == "" }

// Unit is UnitFen or UnitCentiM3 ("" for the zero Quantity).
func (q Quantity) Unit() string { return q.unit }

// Count is the number in the quantity's own unit, for a wire format that
// carries Unit beside it (a card image, a meter command, the API's
// unit/amount pair). Anything that computes reads Fen or Volume instead.
func (q Quantity) Count() int64 { return q.n }

// String is the quantity with its unit, for logs and errors.
func (q Quantity) String() string {
	if v, ok := q.Volume(); ok {
		return v.String()
	}
	if f, ok := q.Fen(); ok {
		return f.String()
	}
	return "none"
}

// Hidden is the quantity's unit with nothing in it: a view that may say
// what a credit is counted in but not how much.
func (q Quantity) Hidden() Quantity { return Quantity{unit: q.unit} }
