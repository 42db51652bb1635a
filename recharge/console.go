package recharge

import (
	"context"
	"errors"

	"gaspay/models"
)

// ErrNoProvider: the order's channel has no provider to ask (a partner's
// payment: the partner holds it).
var ErrNoProvider = errors.New("recharge: no provider to ask")

// AskProvider asks the order's payment provider about it now and returns
// its answer unchanged, for staff to compare with ours. It changes nothing:
// a payment found this way is taken by the janitor's next pass.
// Errors: ErrNotFound, ErrNoProvider, and the provider's own.
func (s *Service) AskProvider(ctx context.Context, orderNo string) (string, Txn, error) {
	o, err := s.store.Order(ctx, orderNo)
	if errors.Is(err, models.ErrNotFound) {
		return "", Txn{}, ErrNotFound
	}
	if err != nil {
		return "", Txn{}, err
	}
	name := s.providerOf(o)
	p := s.byName[name]
	if p == nil || o.Channel == models.ChannelPartner {
		return name, Txn{}, ErrNoProvider
	}
	t, err := p.Query(ctx, orderNo)
	return name, t, err
}

// Views loads orders' credits, refunds and price lines, for staff lists.
func (s *Service) Views(ctx context.Context, orders []models.Order) ([]OrderView, error) {
	return s.views(ctx, orders)
}
