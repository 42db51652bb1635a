package staff

import (
	"context"

	"gaspay/models"
)

// Audit records, in a transaction of its own, that a acted (action on
// target) with nothing changed yet: the automation token's uses, written
// before they act.
func (s *Service) Audit(ctx context.Context, a Actor, action, target string) error {
	return s.store.Tx(ctx, func(tx *models.Store) error {
		return a.Audit(ctx, tx, s.now(), action, target, nil, nil, "")
	})
}
