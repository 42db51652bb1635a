package models

import (
	"context"
	"time"
)

// PartnerPaymentRow is one partner payment of a day, for the daily report.
type PartnerPaymentRow struct {
	ProviderTxnID string
	AmountFen     int64
}

// PartnerPaymentsBetween lists the partner payments made in [from, to).
func (s *Store) PartnerPaymentsBetween(ctx context.Context, from, to time.Time) ([]PartnerPaymentRow, error) {
	var out []PartnerPaymentRow
	err := s.db.WithContext(ctx).Raw(`SELECT provider_txn_id, amount_fen FROM payments
		WHERE provider = 'partner' AND paid_at >= ? AND paid_at < ?`, from, to).Scan(&out).Error
	return out, err
}

// StatusTotal counts and sums rows of one status.
type StatusTotal struct {
	Status   string
	Count    int64
	TotalFen int64
}

// RefundsBetween sums the refunds started in [from, to) by status.
func (s *Store) RefundsBetween(ctx context.Context, from, to time.Time) ([]StatusTotal, error) {
	var out []StatusTotal
	err := s.db.WithContext(ctx).Raw(`SELECT status, COUNT(*) AS count, SUM(amount_fen) AS total_fen FROM refunds
		WHERE created_at >= ? AND created_at < ? GROUP BY status ORDER BY status`, from, to).Scan(&out).Error
	return out, err
}

// ReversalsBetween sums the partner payments reversed (冲正) in [from, to).
func (s *Store) ReversalsBetween(ctx context.Context, from, to time.Time) (StatusTotal, error) {
	var out StatusTotal
	err := s.db.WithContext(ctx).Raw(`SELECT 'reversed' AS status, COUNT(*) AS count, COALESCE(SUM(payable_fen), 0) AS total_fen FROM orders
		WHERE status = ? AND closed_at >= ? AND closed_at < ?`, OrderReversed, from, to).Scan(&out).Error
	return out, err
}
