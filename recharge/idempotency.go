package recharge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gaspay/models"
)

// Idempotency keys of purchases (formance's model): the key a client
// chose, and the hash of the request it came with, are stored with the
// order, in the transaction that creates it (orders.idem_scope, idem_key,
// request_hash, under the unique index ux_orders_idem). A retry either
// finds the order its key made or finds none and runs again: there is no
// moment, not even a crash, when a key is claimed without its order.

// Errors of idempotent requests; test them with errors.Is.
var (
	// ErrKeyReused: the key was used for another request.
	ErrKeyReused = errors.New("recharge: idempotency key used for another request")
	// ErrRequestInProgress: the key's first request is still opening its
	// payment; ask again in a second (its RetryAfterDuration).
	ErrRequestInProgress error = &retryLater{"recharge: the same request is still being handled", time.Second}
)

type retryLater struct {
	msg   string
	after time.Duration
}

func (e *retryLater) Error() string                     { return e.msg }
func (e *retryLater) RetryAfterDuration() time.Duration { return e.after }

// IdemKey is a request's idempotency key: unique within Scope (a user, a
// kiosk), with the hash of the request it first came with.
type IdemKey struct {
	Scope, Key, Hash string
}

// prepayingFor is how long a pending order whose payment parameters are not
// stored yet is taken to be still opening its payment at the provider (its
// first request running). After that its request is taken to have died or
// failed, and a repeat opens the payment again: the provider knows the
// order by its number, so that is safe.
const prepayingFor = 15 * time.Second

// replayOf looks in the caller's transaction, under the account's lock,
// for the order a key already made: nil if none. A locking read, so that
// it sees a twin's commit whatever the transaction's snapshot.
func replayOf(ctx context.Context, tx *models.Store, k *IdemKey) (*models.Order, error) {
	if k == nil {
		return nil, nil
	}
	o, err := tx.LockOrderByIdemKey(ctx, k.Scope, k.Key)
	if errors.Is(err, models.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &o, nil
}

// afterDuplicate finds the order that won a key when creating an order
// collided with a twin request (on another account) that used it.
func (s *Service) afterDuplicate(ctx context.Context, k *IdemKey, err error) (*models.Order, error) {
	if k == nil || !errors.Is(err, models.ErrDuplicate) {
		return nil, err
	}
	o, ferr := s.store.OrderByIdemKey(ctx, k.Scope, k.Key)
	if ferr != nil {
		return nil, errors.Join(err, ferr)
	}
	return &o, nil
}

// sameRequest refuses a key reused for another request.
func sameRequest(o models.Order, k *IdemKey) error {
	if o.RequestHash == nil || *o.RequestHash != k.Hash {
		return ErrKeyReused
	}
	return nil
}

// replay answers a repeat of a CreateOrder whose order exists: the stored
// payment parameters if the first request stored them; a pending order
// whose first request died (or failed not knowing) opens its payment
// again; a young one is still being opened.
func (s *Service) replay(ctx context.Context, o models.Order, k *IdemKey) (OrderView, any, error) {
	if err := sameRequest(o, k); err != nil {
		return OrderView{}, nil, err
	}
	views, err := s.views(ctx, []models.Order{o})
	if err != nil {
		return OrderView{}, nil, err
	}
	v := views[0]
	v.Replayed = true
	if o.PayParams != nil {
		var params json.RawMessage = []byte(*o.PayParams)
		return v, params, nil
	}
	if !o.Pending() {
		return v, nil, nil
	}
	if s.now().Sub(o.CreatedAt) < prepayingFor {
		return OrderView{}, nil, ErrRequestInProgress
	}
	a, err := s.store.Account(ctx, o.AccountID)
	if err != nil {
		return OrderView{}, nil, err
	}
	params, err := s.prepay(ctx, o, a.UserNumber)
	if err != nil {
		return OrderView{}, nil, err
	}
	if err := s.storeParams(ctx, o, params); err != nil {
		return OrderView{}, nil, err
	}
	return v, params, nil
}

// storeParams keeps what the customer's client needs to pay, for a repeat
// of the request.
func (s *Service) storeParams(ctx context.Context, o models.Order, params any) error {
	raw, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("recharge: payment parameters of %s: %w", o.OrderNo, err)
	}
	return s.store.SetPayParams(ctx, o.ID, string(raw))
}
