package alipay

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// ErrBadAmount is returned by YuanToFen for any string that is not a plain,
// non-negative yuan amount with at most two decimals.
var ErrBadAmount = errors.New("bad amount")

// YuanToFen converts an Alipay yuan string ("12.3", "0.01", "100") into
// integer fen, exactly: the digits are read one by one, never through a
// float, because 0.1+0.2 must not become 0.30000000000000004 yuan.
//
// Accepted: "0", "0.5", "12.30", "1234". Refused: "", "-1", "+1", "1.234",
// "1.", ".5", "01", "1e3", " 1", "1,000", and anything above math.MaxInt64 fen.
// Leading zeros are refused so that each amount has one spelling, which is
// what Alipay sends and what FenToYuan writes back.
func YuanToFen(s string) (int64, error) {
	intPart, fracPart := s, ""
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			intPart, fracPart = s[:i], s[i+1:]
			if len(fracPart) == 0 || len(fracPart) > 2 {
				return 0, fmt.Errorf("alipay: %w %q", ErrBadAmount, clip(s))
			}
			break
		}
	}
	if len(intPart) == 0 || (len(intPart) > 1 && intPart[0] == '0') {
		return 0, fmt.Errorf("alipay: %w %q", ErrBadAmount, clip(s))
	}
	var fen int64
	for i := 0; i < len(intPart); i++ {
		d := intPart[i]
		if d < '0' || d > '9' {
			return 0, fmt.Errorf("alipay: %w %q", ErrBadAmount, clip(s))
		}
		if fen > (math.MaxInt64-int64(d-'0'))/10 {
			return 0, fmt.Errorf("alipay: %w %q (too large)", ErrBadAmount, clip(s))
		}
		fen = fen*10 + int64(d-'0')
	}
	// Two decimal places, "1.5" meaning 1.50.
	for i := 0; i < 2; i++ {
		var d byte = '0'
		if i < len(fracPart) {
			d = fracPart[i]
		}
		if d < '0' || d > '9' {
			return 0, fmt.Errorf("alipay: %w %q", ErrBadAmount, clip(s))
		}
		if fen > (math.MaxInt64-int64(d-'0'))/10 {
			return 0, fmt.Errorf("alipay: %w %q (too large)", ErrBadAmount, clip(s))
		}
		fen = fen*10 + int64(d-'0')
	}
	return fen, nil
}

// FenToYuan formats fen as the yuan string Alipay expects, always with two
// decimals: 1230 → "12.30", 1 → "0.01". A negative amount gets a leading
// minus sign (it never goes to Alipay, but it must not come out garbled in a
// log line).
func FenToYuan(fen int64) string {
	sign := ""
	// The magnitude as uint64 keeps math.MinInt64 representable.
	mag := uint64(fen)
	if fen < 0 {
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

// clip shortens an untrusted amount for an error message: a notification can
// carry anything, and a log line should not.
func clip(s string) string {
	const max = 24
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
