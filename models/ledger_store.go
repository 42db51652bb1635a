package models

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"gorm.io/gorm"
)

// The ledgers' locked updates: read the row FOR UPDATE, let fn apply one
// of the transitions of ledger.go, write back the columns a transition can
// change. In a Store made by Tx they run in that transaction (lock the
// account first, as everywhere); otherwise each opens its own, with Tx's
// deadlock retries. fn's error is returned as is, and nothing is written.

// UpdateOrder applies fn to the order numbered no under its row lock.
// Errors: ErrNotFound, fn's error.
func (s *Store) UpdateOrder(ctx context.Context, no string, fn func(*Order) error) (Order, error) {
	return lockedUpdate(ctx, s, fn, func(o *Order) (int64, map[string]any) { return o.ID, orderState(o) }, "order_no = ?", no)
}

// orderState is the columns an order's transitions change.
func orderState(o *Order) map[string]any {
	return map[string]any{"status": o.Status, "inflight_account_id": o.InflightAccountID,
		"close_reason": o.CloseReason, "paid_at": o.PaidAt, "closed_at": o.ClosedAt, "updated_at": o.UpdatedAt}
}

// UpdateCredit applies fn to a credit under its row lock.
// Errors: ErrNotFound, ErrDuplicate (the sequence fn gave is taken), fn's
// error.
func (s *Store) UpdateCredit(ctx context.Context, id int64, fn func(*Credit) error) (Credit, error) {
	return lockedUpdate(ctx, s, fn, creditState, "id = ?", id)
}

// UpdateCredits is UpdateCredit for many credits at once (a batch of IoT
// sends): one locking read of them all, in id order, fn applied to each,
// and the credits fn moved written back in one statement. It returns the
// credits as fn left them, in id order, each with fn's error (nil: moved).
// Lock their accounts first, as for UpdateCredit.
// Errors: ErrNotFound when a credit is missing.
func (s *Store) UpdateCredits(ctx context.Context, ids []int64, fn func(*Credit) error) ([]Credit, []error, error) {
	return lockedUpdates(ctx, s, ids, fn, creditState)
}

// creditState is the columns a credit's transitions change.
func creditState(c *Credit) (int64, map[string]any) {
	return c.ID, map[string]any{"status": c.Status, "pending_account_id": c.PendingAccountID, "seq": c.Seq,
		"attempts": c.Attempts, "last_attempt_at": c.LastAttemptAt, "delivered_at": c.DeliveredAt, "updated_at": c.UpdatedAt}
}

// UpdateRefund applies fn to the refund numbered no under its row lock.
// Errors: ErrNotFound, fn's error.
func (s *Store) UpdateRefund(ctx context.Context, no string, fn func(*Refund) error) (Refund, error) {
	return lockedUpdate(ctx, s, fn, func(r *Refund) (int64, map[string]any) {
		return r.ID, map[string]any{"status": r.Status, "provider_refund_id": r.ProviderRefundID,
			"succeeded_at": r.SucceededAt, "updated_at": r.UpdatedAt}
	}, "refund_no = ?", no)
}

// UpdateCodePayment applies fn to the code payment of order no under its
// row lock.
// Errors: ErrNotFound, fn's error.
func (s *Store) UpdateCodePayment(ctx context.Context, orderNo string, fn func(*CodePayment) error) (CodePayment, error) {
	return lockedUpdate(ctx, s, fn, func(c *CodePayment) (int64, map[string]any) {
		return c.ID, map[string]any{"state": c.State, "reason": c.Reason, "next_at": c.NextAt, "polls": c.Polls,
			"reverses": c.Reverses, "last_error": c.LastError, "finished_at": c.FinishedAt, "updated_at": c.UpdatedAt}
	}, "order_no = ?", orderNo)
}

// lockedUpdate is the one read-lock-apply-write of the ledgers: the row
// found by where, locked; fn applied; the columns state names written
// back by id.
func lockedUpdate[T any](ctx context.Context, s *Store, fn func(*T) error, state func(*T) (int64, map[string]any),
	where string, args ...any) (T, error) {
	var v T
	err := s.within(ctx, func(tx *Store) error {
		if err := one(tx.db.WithContext(ctx).Clauses(forUpdate()).Where(where, args...).Take(&v).Error); err != nil {
			return err
		}
		if err := fn(&v); err != nil {
			return err
		}
		id, set := state(&v)
		return dup(tx.db.WithContext(ctx).Model(new(T)).Where("id = ?", id).Updates(set).Error)
	})
	return v, err
}

// lockedUpdates is lockedUpdate for many rows by id: one locking read in
// id order (so two batches never wait on each other in a cycle), fn
// applied to each, and the rows it moved written back in one statement.
func lockedUpdates[T any](ctx context.Context, s *Store, ids []int64, fn func(*T) error,
	state func(*T) (int64, map[string]any)) ([]T, []error, error) {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	var vs []T
	var errs []error
	err := s.within(ctx, func(tx *Store) error {
		vs = nil
		if err := tx.db.WithContext(ctx).Clauses(forUpdate()).Where("id IN ?", ids).Order("id").Find(&vs).Error; err != nil {
			return err
		}
		if len(vs) != len(ids) {
			return ErrNotFound
		}
		errs = make([]error, len(vs))
		var moved []int64
		var sets []map[string]any
		for i := range vs {
			if errs[i] = fn(&vs[i]); errs[i] == nil {
				id, set := state(&vs[i])
				moved, sets = append(moved, id), append(sets, set)
			}
		}
		_, err := updateEach(tx.db.WithContext(ctx).Model(new(T)), moved, sets)
		return dup(err)
	})
	return vs, errs, err
}

// updateEach writes sets[i] to row ids[i] of db's model, all in one
// statement (col = CASE id WHEN … THEN … END for each column), and says
// how many rows it changed. Every set names the same columns; db may carry
// conditions of its own.
func updateEach(db *gorm.DB, ids []int64, sets []map[string]any) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	if len(ids) == 1 {
		res := db.Where("id = ?", ids[0]).Updates(sets[0])
		return res.RowsAffected, res.Error
	}
	cols := make([]string, 0, len(sets[0]))
	for c := range sets[0] {
		cols = append(cols, c)
	}
	sort.Strings(cols)
	update := make(map[string]any, len(cols))
	for _, c := range cols {
		sql := "CASE id"
		args := make([]any, 0, 2*len(ids))
		for i, id := range ids {
			v, ok := sets[i][c]
			if !ok || len(sets[i]) != len(cols) {
				return 0, fmt.Errorf("models: rows of one batch update name different columns")
			}
			sql += " WHEN ? THEN ?"
			args = append(args, id, v)
		}
		update[c] = gorm.Expr(sql+" END", args...)
	}
	res := db.Where("id IN ?", ids).Updates(update)
	return res.RowsAffected, res.Error
}

// UpdateOrderSeen is UpdateOrder for a caller that has read the order
// already (seen): fn is applied to that copy and written back in one
// conditional update, valid only while the order's status is still
// seen's, since every transition of an order changes its status. If the
// order moved since, or fn refuses seen, it falls back to UpdateOrder,
// and fn decides on the locked, current row. The hot paths (a payment, a
// close) save the locking read this way.
// Errors: those of UpdateOrder.
func (s *Store) UpdateOrderSeen(ctx context.Context, seen Order, fn func(*Order) error) (Order, error) {
	next := seen
	if fn(&next) == nil && next.Status != seen.Status {
		res := s.db.WithContext(ctx).Model(&Order{}).Where("id = ? AND status = ?", seen.ID, seen.Status).Updates(orderState(&next))
		if res.Error != nil {
			return seen, res.Error
		}
		if res.RowsAffected == 1 {
			return next, nil
		}
	}
	return s.UpdateOrder(ctx, seen.OrderNo, fn)
}
