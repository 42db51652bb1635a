// Package units holds the two quantities gaspay counts, each in a type that
// says what it holds: Fen (money, 0.01 yuan) and CentiM3 (gas, 0.01 m³).
// Both are int64 and exact: money is never a float, and a yuan string is
// read digit by digit.
//
// It is a leaf package (it imports nothing of gaspay) so that storage
// (models), the domain (recharge, cards, iot, customer) and the boundary
// (handlers, which do not import models) all use the same types.
//
// Volume used to be called "cm3" in names and columns, which reads as a
// cubic centimetre; CentiM3 is a hundredth of a cubic metre (10 litres).
package units

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Fen is an amount of money in fen (0.01 yuan).
type Fen int64

// CentiM3 is a volume of gas in hundredths of a cubic metre (0.01 m³, 10 L).
type CentiM3 int64

// Yuan formats fen as yuan with two decimals: 1230 → "12.30", 1 → "0.01",
// -5 → "-0.05". It is the exact inverse of ParseYuan on what ParseYuan
// accepts.
func (f Fen) Yuan() string {
	sign := ""
	// The magnitude as uint64 keeps math.MinInt64 representable.
	mag := uint64(f)
	if f < 0 {
		sign = "-"
		mag = -mag
	}
	frac := mag % 100
	out := sign + strconv.FormatUint(mag/100, 10) + "."
	if frac < 10 {
		out += "0"
	}
	return out + strconv.FormatUint(frac, 10)
}

// String is Yuan followed by the unit, for logs and errors.
func (f Fen) String() string { return f.Yuan() + " yuan" }

// M3 formats a volume in cubic metres with two decimals: 12345 → "123.45".
func (v CentiM3) M3() string { return Fen(v).Yuan() }

// String is M3 followed by the unit, for logs and errors.
func (v CentiM3) String() string { return v.M3() + " m3" }

// ErrBadAmount is returned by ParseYuan for any string that is not a plain,
// non-negative yuan amount with at most two decimals.
var ErrBadAmount = errors.New("bad amount")

// ParseYuan reads a yuan string ("12.3", "0.01", "100") into fen, exactly:
// the digits are read one by one, never through a float, because 0.1+0.2
// must not become 0.30000000000000004 yuan.
//
// Accepted: "0", "0.5", "12.30", "1234". Refused: "", "-1", "+1", "1.234",
// "1.", ".5", "01", "1e3", " 1", "1,000", and anything above math.MaxInt64
// fen. Leading zeros are refused so that each amount has one spelling,
// which is what Yuan writes back (and what Alipay sends).
func ParseYuan(s string) (Fen, error) {
	intPart, fracPart := s, ""
	if i := strings.IndexByte(s, '.'); i >= 0 {
		intPart, fracPart = s[:i], s[i+1:]
		if len(fracPart) == 0 || len(fracPart) > 2 {
			return 0, fmt.Errorf("%w %q", ErrBadAmount, clip(s))
		}
	}
	if len(intPart) == 0 || (len(intPart) > 1 && intPart[0] == '0') {
		return 0, fmt.Errorf("%w %q", ErrBadAmount, clip(s))
	}
	// Two decimal places, "1.5" meaning 1.50.
	digits := intPart + fracPart + strings.Repeat("0", 2-len(fracPart))
	var fen int64
	for i := 0; i < len(digits); i++ {
		d := digits[i]
		if d < '0' || d > '9' {
			return 0, fmt.Errorf("%w %q", ErrBadAmount, clip(s))
		}
		if fen > (math.MaxInt64-int64(d-'0'))/10 {
			return 0, fmt.Errorf("%w %q (too large)", ErrBadAmount, clip(s))
		}
		fen = fen*10 + int64(d-'0')
	}
	return Fen(fen), nil
}

// ParseDecimal reads a decimal string with an optional leading minus and
// at most places decimals ("12", "12.3", "-0.06000" with places 5) into
// units of 10^-places, exactly. It is the lenient reader for statement
// files, which drop or pad trailing zeros; places 2 gives fen.
func ParseDecimal(s string, places int) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	u := strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(u, ".")
	if whole == "" || len(whole) > 12 || len(frac) > places {
		return 0, fmt.Errorf("%w %q", ErrBadAmount, clip(s))
	}
	digits := whole + frac + strings.Repeat("0", places-len(frac))
	var v int64
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w %q", ErrBadAmount, clip(s))
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, nil
}

// clip shortens an untrusted amount for an error message: a notification
// can carry anything, and a log line should not.
func clip(s string) string {
	const max = 24
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
