package models

import (
	"context"
)

// The ledgers' locked updates: read the row FOR UPDATE, let fn apply one
// of the transitions of ledger.go, write back the columns a transition can
// change. In a Store made by Tx they run in that transaction (lock the
// account first, as everywhere); otherwise each opens its own, with Tx's
// deadlock retries. fn's error is returned as is, and nothing is written.

// UpdateOrder applies fn to the order numbered no under its row lock.
// Errors: ErrNotFound, fn's error.
func (s *Store) UpdateOrder(ctx context.Context, no string, fn func(*Order) error) (Order, error) {
	var o Order
	err := s.within(ctx, func(tx *Store) error {
		var err error
		if o, err = tx.LockOrder(ctx, no); err != nil {
			return err
		}
		if err := fn(&o); err != nil {
			return err
		}
		return tx.db.WithContext(ctx).Model(&Order{}).Where("id = ?", o.ID).Updates(map[string]any{
			"status": o.Status, "inflight_account_id": o.InflightAccountID, "close_reason": o.CloseReason,
			"paid_at": o.PaidAt, "closed_at": o.ClosedAt, "updated_at": o.UpdatedAt}).Error
	})
	return o, err
}

// UpdateCredit applies fn to a credit under its row lock.
// Errors: ErrNotFound, ErrDuplicate (the sequence fn gave is taken), fn's
// error.
func (s *Store) UpdateCredit(ctx context.Context, id int64, fn func(*Credit) error) (Credit, error) {
	var c Credit
	err := s.within(ctx, func(tx *Store) error {
		if err := one(tx.db.WithContext(ctx).Clauses(forUpdate()).Take(&c, id).Error); err != nil {
			return err
		}
		if err := fn(&c); err != nil {
			return err
		}
		return dup(tx.db.WithContext(ctx).Model(&Credit{}).Where("id = ?", c.ID).Updates(map[string]any{
			"status": c.Status, "pending_account_id": c.PendingAccountID, "seq": c.Seq, "attempts": c.Attempts,
			"last_attempt_at": c.LastAttemptAt, "delivered_at": c.DeliveredAt, "updated_at": c.UpdatedAt}).Error)
	})
	return c, err
}

// UpdateRefund applies fn to the refund numbered no under its row lock.
// Errors: ErrNotFound, fn's error.
func (s *Store) UpdateRefund(ctx context.Context, no string, fn func(*Refund) error) (Refund, error) {
	var r Refund
	err := s.within(ctx, func(tx *Store) error {
		if err := one(tx.db.WithContext(ctx).Clauses(forUpdate()).Where("refund_no = ?", no).Take(&r).Error); err != nil {
			return err
		}
		if err := fn(&r); err != nil {
			return err
		}
		return tx.db.WithContext(ctx).Model(&Refund{}).Where("id = ?", r.ID).Updates(map[string]any{
			"status": r.Status, "provider_refund_id": r.ProviderRefundID, "succeeded_at": r.SucceededAt,
			"updated_at": r.UpdatedAt}).Error
	})
	return r, err
}

// UpdateCodePayment applies fn to the code payment of order no under its
// row lock.
// Errors: ErrNotFound, fn's error.
func (s *Store) UpdateCodePayment(ctx context.Context, orderNo string, fn func(*CodePayment) error) (CodePayment, error) {
	var c CodePayment
	err := s.within(ctx, func(tx *Store) error {
		if err := one(tx.db.WithContext(ctx).Clauses(forUpdate()).Where("order_no = ?", orderNo).Take(&c).Error); err != nil {
			return err
		}
		if err := fn(&c); err != nil {
			return err
		}
		return tx.db.WithContext(ctx).Model(&CodePayment{}).Where("id = ?", c.ID).Updates(map[string]any{
			"state": c.State, "reason": c.Reason, "next_at": c.NextAt, "polls": c.Polls, "reverses": c.Reverses,
			"last_error": c.LastError, "finished_at": c.FinishedAt, "updated_at": c.UpdatedAt}).Error
	})
	return c, err
}
