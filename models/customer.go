package models

import (
	"time"

	"gaspay/units"
)

// Account is a gas customer's account, keyed by the utility's user number.
type Account struct {
	ID         int64
	UserNumber string
	HolderName string
	Address    string
	Phone      string
	Kind       AccountKind
	TariffID   int64
	BalanceFen units.Fen
	// ArrearsFen is what the account owes on its bills: their sum, kept
	// here and changed with them.
	ArrearsFen units.Fen
	Status     AccountStatus
	// PurchaseSeq counts the purchases credited to the account (购气次数).
	PurchaseSeq int
	// YTDVolumeCentiM3 is the volume bought in YTDYear; the annual tiers
	// count from it.
	YTDYear          int           `gorm:"column:ytd_year"`
	YTDVolumeCentiM3 units.CentiM3 `gorm:"column:ytd_volume_centi_m3"`
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Meter is an account's gas meter. For IoT meters it keeps the balance the
// meter last reported and when.
type Meter struct {
	ID             int64
	AccountID      int64
	MeterNumber    string
	LastBalanceFen *int64
	LastReportedAt *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Card is an IC card. LastWrittenSeq is the purchase sequence of the last
// write the server saw confirmed; nil for a card imported from the billing
// system until its first genuine read.
type Card struct {
	ID               int64
	AccountID        int64
	Serial           string   `gorm:"column:card_serial"`
	Type             CardType `gorm:"column:card_type"`
	LastWrittenSeq   *int
	Status           CardStatus
	CurrentAccountID *int64
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Bill is one billing period of an ordinary account.
type Bill struct {
	ID            int64
	AccountID     int64
	Period        string // YYYY-MM
	AmountDueFen  units.Fen
	AmountPaidFen units.Fen
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// DueDate (YYYY-MM-DD) comes with imported bills.
	DueDate *string
}

// Tariff is a named price list with annual tiers.
type Tariff struct {
	ID        int64
	Code      string
	Name      string
	CreatedAt time.Time
	Tiers     []TariffTier `gorm:"foreignKey:TariffID"`
}

// TariffTier prices the gas bought while the account's year-to-date volume
// is below UpperCentiM3 (nil: no upper bound).
type TariffTier struct {
	ID            int64
	TariffID      int64
	Ordinal       int
	UpperCentiM3  *int64 `gorm:"column:upper_centi_m3"`
	PriceFenPerM3 int64  `gorm:"column:price_fen_per_m3"`
}

// User is one WeChat identity: an openid under one appid.
type User struct {
	ID          int64
	AppKind     AppKind
	AppID       string
	OpenID      string
	UnionID     *string
	CreatedAt   time.Time
	LastLoginAt time.Time
}

// Binding links a user to an account they may see and pay for.
type Binding struct {
	ID        int64
	UserID    int64
	AccountID int64
	IsDefault bool
	// MeterOnly: bound by meter number without the holder's name; the
	// user sees the account's balance and delivery, and their own payments.
	MeterOnly bool
	CreatedAt time.Time
}
