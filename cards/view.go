package cards

import "time"

// What the phone, the kiosk and the service hall are shown after a card
// read or a write result.

// Reason explains a refusal or a purchase not allowed.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// CardView is what the phone shows after a card read or a write result.
type CardView struct {
	Event             string `json:"event"`
	Card              string `json:"card,omitempty"` // present, absent, unreadable
	AccountID         int64  `json:"account_id,omitempty"`
	UserNumber        string `json:"user_number,omitempty"`
	Holder            string `json:"holder,omitempty"`
	CardSerial        string `json:"card_serial,omitempty"`
	CardType          string `json:"card_type,omitempty"`
	CreditState       string `json:"credit_state,omitempty"` // loaded: the meter took the last purchase; pending: not yet
	Seq               int    `json:"seq,omitempty"`
	LastCredit        int64  `json:"last_credit,omitempty"`
	MeterRemaining    *int64 `json:"meter_remaining,omitempty"`
	MeterUsageCentiM3 *int64 `json:"meter_usage_centi_m3,omitempty"`
	// MeterUsageCm3 is MeterUsageCentiM3's old name, kept for the clients
	// of the last release (deprecated).
	MeterUsageCm3   *int64         `json:"meter_usage_cm3,omitempty"`
	WrittenBackAt   *time.Time     `json:"written_back_at,omitempty"`
	PurchaseAllowed bool           `json:"purchase_allowed"`
	Reason          *Reason        `json:"reason,omitempty"`
	Pending         *PendingView   `json:"pending,omitempty"`
	Delivered       *DeliveredView `json:"delivered,omitempty"`
	Refusal         *Reason        `json:"refusal,omitempty"`
	WriteStatus     string         `json:"write_status,omitempty"`
}

// PendingView is a paid purchase waiting for this card.
type PendingView struct {
	OrderNo        string `json:"order_no"`
	Amount         int64  `json:"amount"`
	Unit           string `json:"unit"`
	WriteAvailable bool   `json:"write_available"`
	// InDoubt: a write of this purchase was issued and may still reach the
	// card; writing it again is safe, refunding it is not.
	InDoubt bool `json:"in_doubt,omitempty"`
}

// DeliveredView is a purchase that reached the card.
type DeliveredView struct {
	OrderNo string `json:"order_no"`
	Seq     int    `json:"seq"`
}
