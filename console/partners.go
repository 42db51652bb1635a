package console

import (
	"context"
	"errors"
	"time"

	"gaspay/internal/randhex"
	"gaspay/models"
	"gaspay/partner"
	"gaspay/staff"
)

// ErrPartnerExists: a partner already has the id.
var ErrPartnerExists = errors.New("console: partner exists")

// MaxGrace bounds how long a rotated key stays valid.
const MaxGrace = 7 * 24 * time.Hour

// Partners lists the collection partners (never their keys).
func (s *Service) Partners(ctx context.Context) ([]models.Partner, error) {
	return s.store.Partners(ctx)
}

// newKey is a partner's HMAC key: 32 random bytes, hex.
func newKey() string {
	return randhex.New(32)
}

// AddPartner adds a collection partner with a new key, returned once (to be
// handed to the partner over a safe channel; it is never shown again).
// Errors: ErrInvalid, ErrPartnerExists.
func (s *Service) AddPartner(ctx context.Context, by staff.Actor, id, name string) (string, error) {
	if !partner.ValidID(id) || name == "" || len([]rune(name)) > 64 {
		return "", ErrInvalid
	}
	key, now := newKey(), s.now().UTC()
	err := s.store.Tx(ctx, func(tx *models.Store) error {
		if err := tx.CreatePartner(ctx, &models.Partner{PartnerID: id, Name: name, Secret: key, Active: true, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		return by.Audit(ctx, tx, now, "partner.add", "partner:"+id, nil, map[string]any{"name": name, "active": true}, "")
	})
	if errors.Is(err, models.ErrDuplicate) {
		return "", ErrPartnerExists
	}
	return key, err
}

// SetPartnerActive disables (or re-enables) a partner: a disabled one's
// requests are refused as from an unknown partner.
// Errors: ErrNotFound.
func (s *Service) SetPartnerActive(ctx context.Context, by staff.Actor, id string, active bool) error {
	now := s.now().UTC()
	return s.onPartner(ctx, id, func(tx *models.Store, p models.Partner) error {
		if err := tx.UpdatePartner(ctx, p.ID, map[string]any{"active": active, "updated_at": now}); err != nil {
			return err
		}
		action := map[bool]string{true: "partner.enable", false: "partner.disable"}[active]
		return by.Audit(ctx, tx, now, action, "partner:"+id, map[string]any{"active": p.Active}, map[string]any{"active": active}, "")
	})
}

// RotatePartnerKey gives a partner a new key, returned once; the current
// key stays valid for grace (at most MaxGrace), so that the partner can
// switch without refused payments.
// Errors: ErrNotFound, ErrInvalid.
func (s *Service) RotatePartnerKey(ctx context.Context, by staff.Actor, id string, grace time.Duration) (string, time.Time, error) {
	if grace < 0 || grace > MaxGrace {
		return "", time.Time{}, ErrInvalid
	}
	key, now := newKey(), s.now().UTC()
	until := now.Add(grace)
	err := s.onPartner(ctx, id, func(tx *models.Store, p models.Partner) error {
		old := p.Secret
		if err := tx.UpdatePartner(ctx, p.ID, map[string]any{"secret": key, "previous_secret": old, "previous_until": until, "updated_at": now}); err != nil {
			return err
		}
		return by.Audit(ctx, tx, now, "partner.rotate", "partner:"+id, nil,
			map[string]any{"previous_key_valid_until": until}, "")
	})
	return key, until, err
}

func (s *Service) onPartner(ctx context.Context, id string, fn func(tx *models.Store, p models.Partner) error) error {
	err := s.store.Tx(ctx, func(tx *models.Store) error {
		p, err := tx.LockPartner(ctx, id)
		if err != nil {
			return err
		}
		return fn(tx, p)
	})
	if errors.Is(err, models.ErrNotFound) {
		return ErrNotFound
	}
	return err
}
