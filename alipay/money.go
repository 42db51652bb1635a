package alipay

import (
	"fmt"

	"gaspay/units"
)

// ErrBadAmount is returned by YuanToFen for any string that is not a plain,
// non-negative yuan amount with at most two decimals.
var ErrBadAmount = units.ErrBadAmount

// YuanToFen converts an Alipay yuan string ("12.3", "0.01", "100") into
// integer fen, exactly; the grammar is units.ParseYuan's, which is what
// Alipay sends (one spelling per amount).
func YuanToFen(s string) (int64, error) {
	f, err := units.ParseYuan(s)
	if err != nil {
		return 0, fmt.Errorf("alipay: %w", err)
	}
	return int64(f), nil
}

// FenToYuan formats fen as the yuan string Alipay expects, always with two
// decimals: 1230 → "12.30", 1 → "0.01" (units.Fen.Yuan).
func FenToYuan(fen int64) string { return units.Fen(fen).Yuan() }

// clip shortens an untrusted amount for an error message: a notification can
// carry anything, and a log line should not.
func clip(s string) string {
	const max = 24
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
