package models

import (
	"context"
	"time"
)

// PartnerNonce is a nonce a partner's request used, kept until expiresAt.
type PartnerNonce struct {
	ID        int64
	PartnerID string
	Nonce     string
	ExpiresAt time.Time
}

// UseNonce records that a partner's request used nonce.
// Errors: ErrDuplicate when it was used before (and has not expired and
// been deleted).
func (s *Store) UseNonce(ctx context.Context, partnerID, nonce string, expiresAt time.Time) error {
	return dup(s.db.WithContext(ctx).Create(&PartnerNonce{PartnerID: partnerID, Nonce: nonce, ExpiresAt: expiresAt.UTC()}).Error)
}

// DeleteExpiredNonces deletes the nonces expired before now and reports
// how many.
func (s *Store) DeleteExpiredNonces(ctx context.Context, now time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Where("expires_at < ?", now.UTC()).Delete(&PartnerNonce{})
	return res.RowsAffected, res.Error
}
