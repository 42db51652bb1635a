package recharge

import (
	"gaspay/models"
	"gaspay/units"
)

// PurchaseLimit is the one rule for the most one purchase may cost: the
// configured limit (GASPAY_PURCHASE_LIMIT_FEN), except that an ordinary
// account may always pay all it owes, so its limit is its arrears when they
// are more. Quotes, orders, partner queries, the account page (customer)
// and the kiosk's screen all ask this function; none restates the rule.
func PurchaseLimit(limit units.Fen, kind models.AccountKind, arrears units.Fen) units.Fen {
	if kind == models.KindOrdinary {
		return max(limit, arrears)
	}
	return limit
}

// maxVolume is the most gas a purchase of at most maxAmount buys at the
// account's place in the year (ytd): the volume limit quotes show for
// prepaid meters.
func maxVolume(tiers []Tier, ytd units.CentiM3, maxAmount units.Fen) units.CentiM3 {
	return units.CentiM3(volumeFor(tiers, int64(ytd), maxAmount))
}
