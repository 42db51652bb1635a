package recharge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"gaspay/models"
)

// OrderView is an order with its payment and delivery state, as the
// customer's payment history (缴费记录) shows it.
type OrderView struct {
	Order  models.Order
	Lines  []Line
	Credit *models.Credit
	Refund *models.Refund
	// Replayed: the view answers a repeat of an idempotent request.
	Replayed bool
}

// Order shows an order of one of the user's bound accounts.
// Errors: ErrNotFound, also for an order of an account the user has not
// bound.
func (s *Service) Order(ctx context.Context, userID int64, orderNo string) (OrderView, error) {
	o, err := s.store.Order(ctx, orderNo)
	if errors.Is(err, models.ErrNotFound) {
		return OrderView{}, ErrNotFound
	}
	if err != nil {
		return OrderView{}, err
	}
	bound, meterOnly, err := s.store.BindingKind(ctx, userID, o.AccountID)
	if err != nil || !bound {
		return OrderView{}, errors.Join(err, ErrNotFound)
	}
	// A meter-only binding sees the user's own payments only.
	if meterOnly && (o.UserID == nil || *o.UserID != userID) {
		return OrderView{}, ErrNotFound
	}
	views, err := s.views(ctx, []models.Order{o})
	if err != nil {
		return OrderView{}, err
	}
	return views[0], nil
}

// OrderByNo shows any order, for staff.
// Errors: ErrNotFound.
func (s *Service) OrderByNo(ctx context.Context, orderNo string) (OrderView, error) {
	o, err := s.store.Order(ctx, orderNo)
	if errors.Is(err, models.ErrNotFound) {
		return OrderView{}, ErrNotFound
	}
	if err != nil {
		return OrderView{}, err
	}
	views, err := s.views(ctx, []models.Order{o})
	if err != nil {
		return OrderView{}, err
	}
	return views[0], nil
}

// Orders lists the orders of one of the user's accounts, newest first.
// Errors: ErrNotFound when the user has not bound the account.
func (s *Service) Orders(ctx context.Context, userID, accountID int64, limit int) ([]OrderView, error) {
	bound, meterOnly, err := s.store.BindingKind(ctx, userID, accountID)
	if err != nil || !bound {
		return nil, errors.Join(err, ErrNotFound)
	}
	var orders []models.Order
	if meterOnly {
		// Bound by meter number alone: the user's own payments only; the
		// whole history needs the holder's name.
		orders, err = s.store.OrdersOfUser(ctx, accountID, userID, limit)
	} else {
		orders, err = s.store.OrdersOf(ctx, accountID, limit)
	}
	if err != nil {
		return nil, err
	}
	return s.views(ctx, orders)
}

func (s *Service) views(ctx context.Context, orders []models.Order) ([]OrderView, error) {
	ids := make([]int64, len(orders))
	for i, o := range orders {
		ids[i] = o.ID
	}
	credits, err := s.store.CreditsOf(ctx, ids)
	if err != nil {
		return nil, err
	}
	refunds, err := s.store.RefundsOf(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]OrderView, len(orders))
	for i, o := range orders {
		v := OrderView{Order: o}
		if err := json.Unmarshal([]byte(o.QuoteJSON), &v.Lines); err != nil {
			return nil, fmt.Errorf("recharge: order %s lines: %w", o.OrderNo, err)
		}
		if c, ok := credits[o.ID]; ok {
			v.Credit = &c
		}
		if r, ok := refunds[o.ID]; ok {
			v.Refund = &r
		}
		out[i] = v
	}
	return out, nil
}
