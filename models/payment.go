package models

import (
	"time"

	"gaspay/units"
)

// Order is one purchase or bill payment: its amounts, computed by the
// server, and where it is in the payment ledger.
type Order struct {
	ID        int64
	OrderNo   string // out_trade_no at the provider
	AccountID int64
	UserID    *int64
	Channel   Channel
	// Provider names the provider taking the payment when the channel
	// does not (kiosk_code: "wechat" or "alipay" by the scanned code).
	Provider    string
	AppID       string
	PayerOpenID string `gorm:"column:payer_open_id"`
	Purpose     Purpose
	// VolumeCentiM3 is the gas bought (for money-counting meters, what
	// the money buys at the account's place in the year).
	VolumeCentiM3 units.CentiM3 `gorm:"column:volume_centi_m3"`
	// GrossFen is what the customer buys; DeductionFen comes from the
	// account balance; PayableFen = GrossFen - DeductionFen is paid.
	// LeftoverFen (buying a volume card by amount) goes to the balance.
	GrossFen     units.Fen
	DeductionFen units.Fen
	LeftoverFen  units.Fen
	PayableFen   units.Fen
	// StoredCreditUnit and StoredCreditAmount are the credit as stored:
	// read and write it with Credit and SetCredit.
	StoredCreditUnit   Unit   `gorm:"column:credit_unit"`
	StoredCreditAmount int64  `gorm:"column:credit_amount"`
	QuoteJSON          string `gorm:"column:quote_json"`
	Status             OrderStatus
	InflightAccountID  *int64
	PrepayID           *string
	CloseReason        *string
	ExpiresAt          time.Time
	CheckedAt          *time.Time
	// The request's idempotency key, unique within its scope, and the
	// hash of the request it came with (recharge/idempotency.go); NULL
	// for orders made without one.
	IdemScope   *string
	IdemKey     *string
	RequestHash *string
	// PayParams is the JSON the customer's client was given to pay, kept
	// for a repeat of the request.
	PayParams *string
	PaidAt    *time.Time
	ClosedAt  *time.Time
	CreatedAt time.Time
	UpdatedAt time.Time

	// TariffVersion is the version of the account's tariff that priced a
	// gas order (nil for bill payments).
	TariffVersion *int
}

// Payment is money received for an order: exactly one per order.
type Payment struct {
	ID            int64
	OrderID       int64
	Provider      string
	ProviderTxnID string
	AmountFen     units.Fen
	Payer         string
	Source        string // notify, query, close
	PaidAt        time.Time
	CreatedAt     time.Time
}

// Credit is what a paid order delivers: exactly one per order.
type Credit struct {
	ID        int64
	OrderID   int64
	AccountID int64
	Kind      CreditKind
	Seq       *int
	// StoredUnit and StoredAmount are the quantity as stored: read and
	// write it with Quantity and SetQuantity.
	StoredUnit       Unit  `gorm:"column:unit"`
	StoredAmount     int64 `gorm:"column:amount"`
	Status           CreditStatus
	PendingAccountID *int64
	SettledFen       units.Fen // bill credits: what settled bills
	ToBalanceFen     units.Fen // bill credits: what went to the balance
	Attempts         int
	LastAttemptAt    *time.Time
	DeliveredAt      *time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Credit is what the order delivers once paid: fen (bills, IoT meters,
// amount cards) or 0.01 m3 (volume cards).
func (o Order) Credit() units.Quantity { return quantityOf(o.StoredCreditUnit, o.StoredCreditAmount) }

// SetCredit sets what the order delivers.
func (o *Order) SetCredit(q units.Quantity) {
	o.StoredCreditUnit, o.StoredCreditAmount = Unit(q.Unit()), q.Count()
}

// Quantity is what the credit delivers.
func (c Credit) Quantity() units.Quantity { return quantityOf(c.StoredUnit, c.StoredAmount) }

// SetQuantity sets what the credit delivers.
func (c *Credit) SetQuantity(q units.Quantity) {
	c.StoredUnit, c.StoredAmount = Unit(q.Unit()), q.Count()
}

// Refund returns an order's payment.
type Refund struct {
	ID               int64
	RefundNo         string // out_refund_no at the provider
	OrderID          int64
	AmountFen        units.Fen
	Reason           string
	RequestedBy      string
	Status           RefundStatus
	ProviderRefundID *string
	SucceededAt      *time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Alert is something staff must look at.
type Alert struct {
	ID         int64
	Kind       string
	OrderNo    *string
	Detail     string
	CreatedAt  time.Time
	ResolvedAt *time.Time
}
