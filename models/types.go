package models

import (
	"database/sql/driver"
	"fmt"
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
