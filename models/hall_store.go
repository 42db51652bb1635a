package models

import (
	"context"
	"time"
)

// OpenBills lists an ordinary account's bills not fully paid, oldest first:
// what its arrears are made of.
func (s *Store) OpenBills(ctx context.Context, accountID int64) ([]Bill, error) {
	var bills []Bill
	err := s.db.WithContext(ctx).Where("account_id = ? AND amount_paid_fen < amount_due_fen", accountID).
		Order("period").Find(&bills).Error
	return bills, err
}

// CreditInFlight is an account's paid credit that has not reached its meter
// yet, with the order that paid it.
type CreditInFlight struct {
	Credit
	OrderNo string
	PaidAt  *time.Time
}

// PendingCredit finds the account's credit on its way to the meter (at most
// one: one purchase in flight per meter). ErrNotFound when there is none.
func (s *Store) PendingCredit(ctx context.Context, accountID int64) (CreditInFlight, error) {
	var c CreditInFlight
	res := s.db.WithContext(ctx).Raw(`
		SELECT c.*, o.order_no, o.paid_at
		FROM credits c JOIN orders o ON o.id = c.order_id
		WHERE c.pending_account_id = ?`, accountID).Scan(&c)
	if res.Error != nil {
		return c, res.Error
	}
	if res.RowsAffected == 0 {
		return c, ErrNotFound
	}
	return c, nil
}
