package models

import (
	"database/sql/driver"
	"fmt"

	"gaspay/units"
)

// enum is implemented by the string types below: each knows its valid
// values, so a bad value is refused on the way into the database and on the
// way out, and a status can never silently hold garbage.
type enum interface{ valid() bool }

func scanEnum[T ~string](dst *T, src any, name string) error {
	var s string
	switch v := src.(type) {
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("models: %s: cannot scan %T", name, src)
	}
	t := T(s)
	if e, ok := any(t).(enum); !ok || !e.valid() {
		return fmt.Errorf("models: %s: invalid value %q", name, s)
	}
	*dst = t
	return nil
}

func enumValue[T ~string](v T, name string) (driver.Value, error) {
	if e, ok := any(v).(enum); !ok || !e.valid() {
		return nil, fmt.Errorf("models: %s: invalid value %q", name, string(v))
	}
	return string(v), nil
}

// AccountKind is how an account's meter takes its gas.
type AccountKind string

// Account kinds.
const (
	// KindOrdinary is a postpaid meter: the utility bills, the customer pays.
	KindOrdinary AccountKind = "ordinary"
	// KindIoT is a prepaid NB-IoT meter: credit reaches it on its next report.
	KindIoT AccountKind = "iot"
	// KindICCard is a prepaid IC-card meter: credit reaches it on a card.
	KindICCard AccountKind = "iccard"
)

func (k AccountKind) valid() bool {
	return k == KindOrdinary || k == KindIoT || k == KindICCard
}

// ParseAccountKind accepts exactly one of the kinds.
func ParseAccountKind(s string) (AccountKind, bool) {
	k := AccountKind(s)
	return k, k.valid()
}

// Scan implements sql.Scanner.
func (k *AccountKind) Scan(src any) error { return scanEnum(k, src, "account kind") }

// Value implements driver.Valuer.
func (k AccountKind) Value() (driver.Value, error) { return enumValue(k, "account kind") }

// Prepaid reports whether the meter is paid for before use.
func (k AccountKind) Prepaid() bool { return k == KindIoT || k == KindICCard }

// AccountStatus says whether an account may pay and be bound.
type AccountStatus string

// Account statuses.
const (
	AccountActive    AccountStatus = "active"
	AccountSuspended AccountStatus = "suspended"
	AccountClosed    AccountStatus = "closed"
)

func (s AccountStatus) valid() bool {
	return s == AccountActive || s == AccountSuspended || s == AccountClosed
}

// Scan implements sql.Scanner.
func (s *AccountStatus) Scan(src any) error { return scanEnum(s, src, "account status") }

// Value implements driver.Valuer.
func (s AccountStatus) Value() (driver.Value, error) { return enumValue(s, "account status") }

// CardType is the unit an IC card carries its credit in.
type CardType string

// Card types, numbered as in the card image.
const (
	CardVolume CardType = "volume" // credit in 0.01 m3
	CardAmount CardType = "amount" // credit in fen
)

func (t CardType) valid() bool { return t == CardVolume || t == CardAmount }

// ParseCardType accepts exactly one of the card types.
func ParseCardType(s string) (CardType, bool) {
	t := CardType(s)
	return t, t.valid()
}

// Scan implements sql.Scanner.
func (t *CardType) Scan(src any) error { return scanEnum(t, src, "card type") }

// Value implements driver.Valuer.
func (t CardType) Value() (driver.Value, error) { return enumValue(t, "card type") }

// CardStatus says whether a card is accepted.
type CardStatus string

// Card statuses.
const (
	// CardCurrent is the account's card in use.
	CardCurrent CardStatus = "current"
	// CardLost was reported lost or replaced; it is refused.
	CardLost CardStatus = "lost"
)

func (s CardStatus) valid() bool { return s == CardCurrent || s == CardLost }

// Scan implements sql.Scanner.
func (s *CardStatus) Scan(src any) error { return scanEnum(s, src, "card status") }

// Value implements driver.Valuer.
func (s CardStatus) Value() (driver.Value, error) { return enumValue(s, "card status") }

// AppKind is the WeChat application a user logged in through.
type AppKind string

// WeChat applications.
const (
	AppMiniProgram     AppKind = "mp"
	AppOfficialAccount AppKind = "oa"
)

func (k AppKind) valid() bool { return k == AppMiniProgram || k == AppOfficialAccount }

// Scan implements sql.Scanner.
func (k *AppKind) Scan(src any) error { return scanEnum(k, src, "app kind") }

// Value implements driver.Valuer.
func (k AppKind) Value() (driver.Value, error) { return enumValue(k, "app kind") }

// OrderStatus is where an order is in the payment ledger.
type OrderStatus string

// Order statuses. pending → paid | closed; paid → refunding → refunded;
// closed → refunding when a payment arrives after the close; a partner's
// paid order → reversed (冲正) when the partner takes it back.
const (
	OrderPending   OrderStatus = "pending"
	OrderPaid      OrderStatus = "paid"
	OrderClosed    OrderStatus = "closed"
	OrderRefunding OrderStatus = "refunding"
	OrderRefunded  OrderStatus = "refunded"
	OrderReversed  OrderStatus = "reversed"
)

func (s OrderStatus) valid() bool {
	switch s {
	case OrderPending, OrderPaid, OrderClosed, OrderRefunding, OrderRefunded, OrderReversed:
		return true
	}
	return false
}

// Scan implements sql.Scanner.
func (s *OrderStatus) Scan(src any) error { return scanEnum(s, src, "order status") }

// Value implements driver.Valuer.
func (s OrderStatus) Value() (driver.Value, error) { return enumValue(s, "order status") }

// Channel is how an order is paid.
type Channel string

// Payment channels.
const (
	ChannelWeChatMP  Channel = "wechat_mp"  // WeChat Pay JSAPI in the mini-program
	ChannelWeChatOA  Channel = "wechat_oa"  // WeChat Pay JSAPI in the official account
	ChannelAlipayWAP Channel = "alipay_wap" // Alipay in a phone browser (H5)
	ChannelAlipayMP  Channel = "alipay_mp"  // Alipay mini-program
	ChannelPartner   Channel = "partner"    // collected by a POS agent, bank or Alipay life-payment
	ChannelKioskCode Channel = "kiosk_code" // a payment code scanned at a self-service kiosk
)

func (c Channel) valid() bool {
	switch c {
	case ChannelWeChatMP, ChannelWeChatOA, ChannelAlipayWAP, ChannelAlipayMP, ChannelPartner, ChannelKioskCode:
		return true
	}
	return false
}

// ParseChannel accepts exactly one of the channels.
func ParseChannel(s string) (Channel, bool) {
	c := Channel(s)
	return c, c.valid()
}

// Scan implements sql.Scanner.
func (c *Channel) Scan(src any) error { return scanEnum(c, src, "channel") }

// Value implements driver.Valuer.
func (c Channel) Value() (driver.Value, error) { return enumValue(c, "channel") }

// Purpose is what an order buys.
type Purpose string

// Order purposes.
const (
	PurposeGas  Purpose = "gas"  // prepaid gas for an IoT or IC-card meter
	PurposeBill Purpose = "bill" // bills (and credit) of an ordinary account
)

func (p Purpose) valid() bool { return p == PurposeGas || p == PurposeBill }

// Scan implements sql.Scanner.
func (p *Purpose) Scan(src any) error { return scanEnum(p, src, "purpose") }

// Value implements driver.Valuer.
func (p Purpose) Value() (driver.Value, error) { return enumValue(p, "purpose") }

// Unit is what a credit is counted in, as stored. Outside models a credit
// is a units.Quantity (Order.Credit, Credit.Quantity), never a number and a
// unit apart.
type Unit string

// Credit units. Until migration 85 the volume unit was stored as "cm3"
// (which reads as a cubic centimetre).
const (
	UnitCentiM3 Unit = units.UnitCentiM3 // 0.01 m3: volume cards
	UnitFen     Unit = units.UnitFen     // fen: amount cards, IoT meters, ordinary accounts
)

func (u Unit) valid() bool { return u == UnitCentiM3 || u == UnitFen }

// Of reads a number stored in unit u as a quantity, for rows scanned
// outside models' own types (credits.unit and credits.amount).
func (u Unit) Of(n int64) units.Quantity { return quantityOf(u, n) }

// quantityOf reads a stored unit and number as a quantity.
func quantityOf(u Unit, n int64) units.Quantity {
	if u == UnitCentiM3 {
		return units.Gas(units.CentiM3(n))
	}
	return units.Money(units.Fen(n))
}

// Scan implements sql.Scanner.
func (u *Unit) Scan(src any) error { return scanEnum(u, src, "unit") }

// Value implements driver.Valuer.
func (u Unit) Value() (driver.Value, error) { return enumValue(u, "unit") }

// CreditKind is how a credit reaches the meter.
type CreditKind string

// Credit kinds.
const (
	CreditBill CreditKind = "bill" // settles bills, then the balance: at once
	CreditIoT  CreditKind = "iot"  // a recharge command for the meter platform
	CreditCard CreditKind = "card" // a card write through a box or kiosk
)

func (k CreditKind) valid() bool { return k == CreditBill || k == CreditIoT || k == CreditCard }

// Scan implements sql.Scanner.
func (k *CreditKind) Scan(src any) error { return scanEnum(k, src, "credit kind") }

// Value implements driver.Valuer.
func (k CreditKind) Value() (driver.Value, error) { return enumValue(k, "credit kind") }

// CreditStatus is where a credit is in the delivery ledger.
type CreditStatus string

// Credit statuses: pending → delivered | cancelled (refunded before delivery).
const (
	CreditPending   CreditStatus = "pending"
	CreditDelivered CreditStatus = "delivered"
	CreditCancelled CreditStatus = "cancelled"
)

func (s CreditStatus) valid() bool {
	return s == CreditPending || s == CreditDelivered || s == CreditCancelled
}

// Scan implements sql.Scanner.
func (s *CreditStatus) Scan(src any) error { return scanEnum(s, src, "credit status") }

// Value implements driver.Valuer.
func (s CreditStatus) Value() (driver.Value, error) { return enumValue(s, "credit status") }

// RefundStatus is where a refund is.
type RefundStatus string

// Refund statuses: pending (not yet accepted by the provider, or its answer
// unknown) → processing → succeeded | failed.
const (
	RefundPending    RefundStatus = "pending"
	RefundProcessing RefundStatus = "processing"
	RefundSucceeded  RefundStatus = "succeeded"
	RefundFailed     RefundStatus = "failed"
)

func (s RefundStatus) valid() bool {
	switch s {
	case RefundPending, RefundProcessing, RefundSucceeded, RefundFailed:
		return true
	}
	return false
}

// Scan implements sql.Scanner.
func (s *RefundStatus) Scan(src any) error { return scanEnum(s, src, "refund status") }

// Value implements driver.Valuer.
func (s RefundStatus) Value() (driver.Value, error) { return enumValue(s, "refund status") }
