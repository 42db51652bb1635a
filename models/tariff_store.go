package models

import (
	"context"
	"time"
)

// TariffVersion is one version of a tariff's tiers, in force from
// EffectiveFrom until the next version's.
type TariffVersion struct {
	ID            int64
	TariffID      int64
	Version       int
	EffectiveFrom time.Time
	CreatedBy     string
	CreatedAt     time.Time
	Tiers         []TariffTier `gorm:"-"`
}

// VersionTier is a tier of a tariff version.
type VersionTier struct {
	ID            int64
	VersionID     int64
	Ordinal       int
	UpperCentiM3  *int64 `gorm:"column:upper_centi_m3"`
	PriceFenPerM3 int64  `gorm:"column:price_fen_per_m3"`
}

// TableName is the tiers of versions.
func (VersionTier) TableName() string { return "tariff_version_tiers" }

// TariffVersions loads every version of a tariff, oldest first, with its
// tiers in order.
func (s *Store) TariffVersions(ctx context.Context, tariffID int64) ([]TariffVersion, error) {
	db := s.db.WithContext(ctx)
	var vs []TariffVersion
	if err := db.Where("tariff_id = ?", tariffID).Order("effective_from, version").Find(&vs).Error; err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(vs))
	for i, v := range vs {
		ids[i] = v.ID
	}
	var tiers []VersionTier
	if err := db.Where("version_id IN ?", ids).Order("version_id, ordinal").Find(&tiers).Error; err != nil {
		return nil, err
	}
	at := map[int64]int{}
	for i, v := range vs {
		at[v.ID] = i
	}
	for _, t := range tiers {
		i := at[t.VersionID]
		vs[i].Tiers = append(vs[i].Tiers, TariffTier{TariffID: tariffID, Ordinal: t.Ordinal, UpperCentiM3: t.UpperCentiM3, PriceFenPerM3: t.PriceFenPerM3})
	}
	return vs, nil
}

// Tariffs lists the tariffs (customer categories) by code.
func (s *Store) Tariffs(ctx context.Context) ([]Tariff, error) {
	var out []Tariff
	return out, s.db.WithContext(ctx).Order("code").Find(&out).Error
}

// TariffByCode finds a tariff by its code.
func (s *Store) TariffByCode(ctx context.Context, code string) (Tariff, error) {
	var t Tariff
	return t, one(s.db.WithContext(ctx).Where("code = ?", code).Take(&t).Error)
}

// LockTariffByCode finds a tariff by its code and locks it until the
// transaction ends: the tariff's row serialises changes to its versions.
// Errors: ErrNotFound.
func (s *Store) LockTariffByCode(ctx context.Context, code string) (Tariff, error) {
	var t Tariff
	return t, one(s.db.WithContext(ctx).Clauses(forUpdate()).Where("code = ?", code).Take(&t).Error)
}

// LatestTariffVersion is the tariff's version with the latest date,
// without its tiers. Lock the tariff first; in a transaction it is a
// locking read (see current).
// Errors: ErrNotFound when the tariff has no version.
func (s *Store) LatestTariffVersion(ctx context.Context, tariffID int64) (TariffVersion, error) {
	var v TariffVersion
	err := s.current(ctx).Where("tariff_id = ?", tariffID).Order("effective_from DESC, version DESC").Take(&v).Error
	return v, one(err)
}

// CreateTariff adds a tariff (a customer category) with its first version.
// Errors: ErrDuplicate when the code exists.
func (s *Store) CreateTariff(ctx context.Context, t *Tariff, v *TariffVersion) error {
	if err := dup(s.db.WithContext(ctx).Omit("Tiers").Create(t).Error); err != nil {
		return err
	}
	v.TariffID = t.ID
	return s.AddTariffVersion(ctx, v)
}

// AddTariffVersion records a new version of a tariff, numbered after the
// last, in the store's transaction (or one of its own). The tariff's row is
// locked first, so two versions added at once are numbered one after the
// other instead of colliding on the number.
// Errors: ErrNotFound (no such tariff).
func (s *Store) AddTariffVersion(ctx context.Context, v *TariffVersion) error {
	return s.within(ctx, func(tx *Store) error {
		db := tx.db.WithContext(ctx)
		if err := one(db.Clauses(forUpdate()).Select("id").Take(&Tariff{}, v.TariffID).Error); err != nil {
			return err
		}
		var last struct{ N int }
		if err := db.Raw("SELECT COALESCE(MAX(version), 0) AS n FROM tariff_versions WHERE tariff_id = ?"+tx.currentSQL(), v.TariffID).Scan(&last).Error; err != nil {
			return err
		}
		v.Version = last.N + 1
		if err := dup(db.Create(v).Error); err != nil {
			return err
		}
		rows := make([]VersionTier, len(v.Tiers))
		for i, t := range v.Tiers {
			rows[i] = VersionTier{VersionID: v.ID, Ordinal: i + 1, UpperCentiM3: t.UpperCentiM3, PriceFenPerM3: t.PriceFenPerM3}
		}
		return db.Create(&rows).Error
	})
}
