package models

import (
	"context"
	"database/sql/driver"
	"time"

	"gorm.io/gorm/clause"
)

// Kiosk is a self-service kiosk (自助售气终端): its HMAC key and the box id
// of its built-in card reader/writer.
type Kiosk struct {
	ID         int64
	KioskID    string
	Secret     string // the HMAC key
	BoxID      string // 16 upper-case hex digits
	Active     bool
	LastSeenAt *time.Time
	LastIP     *string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// KioskByID finds a kiosk.
func (s *Store) KioskByID(ctx context.Context, kioskID string) (Kiosk, error) {
	var k Kiosk
	err := s.db.WithContext(ctx).Where("kiosk_id = ?", kioskID).Take(&k).Error
	return k, one(err)
}

// SaveKiosk registers a kiosk, or gives an existing one a new key and box
// and makes it active again.
func (s *Store) SaveKiosk(ctx context.Context, k *Kiosk) error {
	return s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "kiosk_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"secret", "box_id", "active", "updated_at"}),
	}).Create(k).Error
}

// DisableKiosk stops a kiosk; it reports whether the kiosk exists.
func (s *Store) DisableKiosk(ctx context.Context, kioskID string, at time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Model(&Kiosk{}).Where("kiosk_id = ?", kioskID).
		Updates(map[string]any{"active": false, "updated_at": at})
	return res.RowsAffected == 1, res.Error
}

// TouchKiosk records a kiosk's contact.
func (s *Store) TouchKiosk(ctx context.Context, kioskID, ip string, at time.Time) error {
	return s.db.WithContext(ctx).Model(&Kiosk{}).Where("kiosk_id = ?", kioskID).
		Updates(map[string]any{"last_seen_at": at, "last_ip": ip}).Error
}

// Kiosks lists every kiosk, by id.
func (s *Store) Kiosks(ctx context.Context) ([]Kiosk, error) {
	var out []Kiosk
	err := s.db.WithContext(ctx).Order("kiosk_id").Find(&out).Error
	return out, err
}

// CodeState is where a scanned payment code is in its closed loop.
type CodeState string

// Code payment states: paying → paid | reversing; reversing → reversed |
// closed | refunded. The last four are final.
const (
	CodePaying    CodeState = "paying"
	CodeReversing CodeState = "reversing"
	CodePaid      CodeState = "paid"
	CodeReversed  CodeState = "reversed" // reversed at the provider after the deadline
	CodeClosed    CodeState = "closed"   // refused by the provider, and reversed to be sure
	CodeRefunded  CodeState = "refunded" // paid after all, refunded through the refund path
)

func (s CodeState) valid() bool {
	switch s {
	case CodePaying, CodeReversing, CodePaid, CodeReversed, CodeClosed, CodeRefunded:
		return true
	}
	return false
}

// Final reports whether the loop is over.
func (s CodeState) Final() bool { return s != CodePaying && s != CodeReversing && s.valid() }

// Scan implements sql.Scanner.
func (s *CodeState) Scan(src any) error { return scanEnum(s, src, "code state") }

// Value implements driver.Valuer.
func (s CodeState) Value() (driver.Value, error) { return enumValue(s, "code state") }

// CodePayment is the closed loop of one kiosk order's scanned code.
type CodePayment struct {
	ID         int64
	OrderID    int64
	OrderNo    string
	KioskID    string
	Provider   string
	State      CodeState
	Reason     string // why it is reversing: timeout, refused
	ScannedAt  time.Time
	DeadlineAt time.Time
	NextAt     time.Time
	Polls      int
	Reverses   int
	LastError  string
	FinishedAt *time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// InsertCodePayment records a scanned code, in the order's transaction.
func (s *Store) InsertCodePayment(ctx context.Context, c *CodePayment) error {
	return dup(s.db.WithContext(ctx).Create(c).Error)
}

// CodePaymentOf finds the code payment of an order.
func (s *Store) CodePaymentOf(ctx context.Context, orderNo string) (CodePayment, error) {
	var c CodePayment
	err := s.db.WithContext(ctx).Where("order_no = ?", orderNo).Take(&c).Error
	return c, one(err)
}

// CodePaymentsDue lists unfinished code payments whose next step is due.
func (s *Store) CodePaymentsDue(ctx context.Context, now time.Time, limit int) ([]CodePayment, error) {
	var out []CodePayment
	err := s.db.WithContext(ctx).Where("state IN ? AND next_at <= ?", []CodeState{CodePaying, CodeReversing}, now).
		Order("next_at").Limit(limit).Find(&out).Error
	return out, err
}

// CodePaymentsOf lists code payments by order number, for checks.
func (s *Store) CodePaymentsOf(ctx context.Context, orderNos []string) (map[string]CodePayment, error) {
	var list []CodePayment
	if err := s.db.WithContext(ctx).Where("order_no IN ?", orderNos).Find(&list).Error; err != nil {
		return nil, err
	}
	out := make(map[string]CodePayment, len(list))
	for _, c := range list {
		out[c.OrderNo] = c
	}
	return out, nil
}
