package customer

import (
	"context"

	"gaspay/models"
)

// KindIoT: an account with an NB-IoT prepaid meter. Named here so that
// handlers never imports models (internal/importrules).
const KindIoT = models.KindIoT

// UserNumberOf is the user number (用户号) of an account, for answers to
// collection partners, who know accounts by it.
func (s *Service) UserNumberOf(ctx context.Context, accountID int64) (string, error) {
	a, err := s.store.Account(ctx, accountID)
	return a.UserNumber, err
}
