package alipayfake

import (
	"errors"
	"strconv"
)

// The fake parses and writes yuan on its own rather than with package
// alipay's helpers: a fake that shared the client's code would share its
// bugs and hide them.

var errAmount = errors.New("bad amount")

// yuanToFen reads "12", "12.3" or "12.34" exactly.
func yuanToFen(s string) (int64, error) {
	whole, frac := s, ""
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			whole, frac = s[:i], s[i+1:]
			break
		}
	}
	if whole == "" || len(whole) > 12 || (len(whole) > 1 && whole[0] == '0') ||
		len(frac) > 2 || (len(frac) == 0 && len(whole) != len(s)) {
		return 0, errAmount
	}
	for len(frac) < 2 {
		frac += "0"
	}
	digits := whole + frac
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, errAmount
		}
	}
	return strconv.ParseInt(digits, 10, 64)
}

// fenToYuan writes a non-negative amount with two decimals; refunds in the
// bill are written with a leading "-" by the caller.
func fenToYuan(fen int64) string {
	s := strconv.FormatInt(fen, 10)
	for len(s) < 3 {
		s = "0" + s
	}
	return s[:len(s)-2] + "." + s[len(s)-2:]
}
