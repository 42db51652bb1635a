package models

import "context"

// LockOrderByIdemKey finds the order an idempotency key made, and locks
// it: a locking read sees a twin request's commit whatever the
// transaction's snapshot.
func (s *Store) LockOrderByIdemKey(ctx context.Context, scope, key string) (Order, error) {
	var o Order
	err := s.db.WithContext(ctx).Clauses(forUpdate()).Where("idem_scope = ? AND idem_key = ?", scope, key).Take(&o).Error
	return o, one(err)
}

// OrderByIdemKey finds the order an idempotency key made.
func (s *Store) OrderByIdemKey(ctx context.Context, scope, key string) (Order, error) {
	var o Order
	err := s.db.WithContext(ctx).Where("idem_scope = ? AND idem_key = ?", scope, key).Take(&o).Error
	return o, one(err)
}

// ReleaseIdemKey frees the key of an order whose request failed (its
// payment was refused before it opened), so that a repeat runs again.
func (s *Store) ReleaseIdemKey(ctx context.Context, orderID int64) error {
	return s.db.WithContext(ctx).Model(&Order{}).Where("id = ?", orderID).
		Updates(map[string]any{"idem_scope": nil, "idem_key": nil, "request_hash": nil}).Error
}

// SetPayParams keeps what the customer's client was given to pay.
func (s *Store) SetPayParams(ctx context.Context, orderID int64, params string) error {
	return s.db.WithContext(ctx).Model(&Order{}).Where("id = ?", orderID).Update("pay_params", params).Error
}
