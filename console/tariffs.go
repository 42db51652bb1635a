package console

import (
	"context"
	"errors"
	"regexp"

	"gaspay/models"
	"gaspay/recharge"
	"gaspay/staff"
)

// ErrTariffDate: a new version must start after now and after the
// tariff's latest version.
var ErrTariffDate = errors.New("console: a tariff version must start in the future, after the latest one")

// TariffView is a tariff with its versions and the one in force.
type TariffView struct {
	Tariff   models.Tariff
	Versions []models.TariffVersion
	InForce  int
}

// Tariffs lists every tariff with its versions.
func (s *Service) Tariffs(ctx context.Context) ([]TariffView, error) {
	ts, err := s.store.Tariffs(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]TariffView, len(ts))
	for i, t := range ts {
		vs, err := s.store.TariffVersions(ctx, t.ID)
		if err != nil {
			return nil, err
		}
		out[i] = TariffView{Tariff: t, Versions: vs}
		for _, v := range vs {
			if !v.EffectiveFrom.After(now) {
				out[i].InForce = v.Version
			}
		}
	}
	return out, nil
}

var tariffCode = regexp.MustCompile(`^[a-z][a-z0-9_]{1,31}$`)

// toStored checks tiers by the pricing rule and turns them into rows.
func toStored(tiers []recharge.Tier) ([]models.TariffTier, error) {
	if err := recharge.CheckTiers(tiers); err != nil {
		return nil, ErrInvalid
	}
	out := make([]models.TariffTier, len(tiers))
	for i, t := range tiers {
		out[i] = models.TariffTier{Ordinal: i + 1, PriceFenPerM3: t.PriceFenPerM3}
		if i < len(tiers)-1 {
			u := t.UpperCentiM3
			out[i].UpperCentiM3 = &u
		}
	}
	return out, nil
}

// AddTariff adds a customer category (commercial, …) with its first
// tiers, in force at once.
// Errors: ErrInvalid, ErrNameTaken… (models.ErrDuplicate as ErrInvalid).
func (s *Service) AddTariff(ctx context.Context, by staff.Actor, code, name string, tiers []recharge.Tier) error {
	if !tariffCode.MatchString(code) || name == "" || len([]rune(name)) > 64 {
		return ErrInvalid
	}
	stored, err := toStored(tiers)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	err = s.store.Tx(ctx, func(tx *models.Store) error {
		t := models.Tariff{Code: code, Name: name, CreatedAt: now}
		v := models.TariffVersion{EffectiveFrom: now, CreatedBy: by.Name, CreatedAt: now, Tiers: stored}
		if err := tx.CreateTariff(ctx, &t, &v); err != nil {
			return err
		}
		return by.Audit(ctx, tx, now, "tariff.add", "tariff:"+code, nil, map[string]any{"name": name, "tiers": tiers}, "")
	})
	if errors.Is(err, models.ErrDuplicate) {
		return ErrDuplicateTariff
	}
	return err
}

// ErrDuplicateTariff: the code is taken.
var ErrDuplicateTariff = errors.New("console: tariff code taken")

// ScheduleTariff adds a version of a tariff in force from the start of day
// (YYYY-MM-DD, Beijing), which must be after today and after the latest
// version: prices change from a date announced in advance, never in the
// past.
// Errors: ErrNotFound, ErrInvalid, ErrTariffDate.
func (s *Service) ScheduleTariff(ctx context.Context, by staff.Actor, code, day string, tiers []recharge.Tier) (models.TariffVersion, error) {
	from, _, err := s.DayBounds(day)
	if err != nil {
		return models.TariffVersion{}, err
	}
	stored, err := toStored(tiers)
	if err != nil {
		return models.TariffVersion{}, err
	}
	now := s.now().UTC()
	if !from.After(now) {
		return models.TariffVersion{}, ErrTariffDate
	}
	var v models.TariffVersion
	err = s.store.Tx(ctx, func(tx *models.Store) error {
		// The tariff's lock first: another schedule of the tariff waits
		// here, then checks its day against the version this one adds.
		t, err := tx.LockTariffByCode(ctx, code)
		if errors.Is(err, models.ErrNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		latest, err := tx.LatestTariffVersion(ctx, t.ID)
		switch {
		case errors.Is(err, models.ErrNotFound):
		case err != nil:
			return err
		case !from.After(latest.EffectiveFrom):
			return ErrTariffDate
		}
		v = models.TariffVersion{TariffID: t.ID, EffectiveFrom: from, CreatedBy: by.Name, CreatedAt: now, Tiers: stored}
		if err := tx.AddTariffVersion(ctx, &v); err != nil {
			return err
		}
		return by.Audit(ctx, tx, now, "tariff.schedule", "tariff:"+code, nil,
			map[string]any{"version": v.Version, "effective_from": day, "tiers": tiers}, "")
	})
	if err == nil && s.recharge != nil {
		s.recharge.ForgetTariffs()
	}
	return v, err
}
