package recharge

import (
	"gaspay/models"
)

// The names of the payment ledger that handlers needs, so that handlers
// never imports models (the import rule of internal/importrules). They are
// aliases: models stays the one definition.

// Channel is where an order is paid.
type Channel = models.Channel

// The channels handlers treats apart when an order is placed.
const (
	ChannelAlipayWAP = models.ChannelAlipayWAP
	ChannelAlipayMP  = models.ChannelAlipayMP
	ChannelPartner   = models.ChannelPartner
)

// ParseChannel reads a channel's name; false if there is none such.
func ParseChannel(s string) (Channel, bool) { return models.ParseChannel(s) }

// OrderStatus is where an order stands.
type OrderStatus = models.OrderStatus

// OrderReversed: a partner payment reversed (冲正).
const OrderReversed = models.OrderReversed

// CreditDelivered: the credit reached the meter, the card or the bills.
const CreditDelivered = models.CreditDelivered

// Unavailable reports whether err says the database is out of reach,
// whichever service returned it: the answer is then a 503, not a 500.
func Unavailable(err error) bool { return models.Unavailable(err) }

// NewTier is one tier as staff enter it; upper nil is the last, unbounded.
func NewTier(upper *int64, priceFenPerM3 int64) Tier {
	return ToTiers([]models.TariffTier{{UpperCentiM3: upper, PriceFenPerM3: priceFenPerM3}})[0]
}
