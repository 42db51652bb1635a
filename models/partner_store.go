package models

import (
	"context"
	"time"

	"gorm.io/gorm/clause"
)

// Partner is a channel that collects money itself and tells us.
type Partner struct {
	ID        int64
	PartnerID string
	Name      string
	Secret    string // the HMAC key
	Active    bool
	CreatedAt time.Time
	UpdatedAt time.Time
	// PreviousSecret, after a rotation, is still accepted until
	// PreviousUntil.
	PreviousSecret *string
	PreviousUntil  *time.Time
}

// PartnerByID finds a partner.
func (s *Store) PartnerByID(ctx context.Context, partnerID string) (Partner, error) {
	var p Partner
	err := s.db.WithContext(ctx).Where("partner_id = ?", partnerID).Take(&p).Error
	return p, one(err)
}

// SavePartner creates a partner or gives an existing one a new key.
func (s *Store) SavePartner(ctx context.Context, p *Partner) error {
	return s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "partner_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"secret", "active", "updated_at"}),
	}).Create(p).Error
}

// PaymentByTxn finds a payment by its provider's transaction id; in a
// transaction, as it is now (a locking read).
func (s *Store) PaymentByTxn(ctx context.Context, provider, txnID string) (Payment, error) {
	var p Payment
	err := s.current(ctx).Where("provider = ? AND provider_txn_id = ?", provider, txnID).Take(&p).Error
	return p, one(err)
}

// PaymentLine is one payment in a reconciliation.
type PaymentLine struct {
	ProviderTxnID string
	OrderNo       string
	UserNumber    string
	AmountFen     int64
	PaidAt        time.Time
	Status        OrderStatus
}

// PaymentsBetween lists a provider's payments whose transaction id starts
// with prefix and that were made in [from, to), oldest first.
func (s *Store) PaymentsBetween(ctx context.Context, provider, prefix string, from, to time.Time) ([]PaymentLine, error) {
	var out []PaymentLine
	err := s.db.WithContext(ctx).Raw(`
		SELECT p.provider_txn_id, o.order_no, a.user_number, p.amount_fen, p.paid_at, o.status
		FROM payments p JOIN orders o ON o.id = p.order_id JOIN accounts a ON a.id = o.account_id
		WHERE p.provider = ? AND p.paid_at >= ? AND p.paid_at < ? AND p.provider_txn_id LIKE ?
		ORDER BY p.paid_at, p.id`, provider, from, to, prefix+"%").Scan(&out).Error
	return out, err
}
