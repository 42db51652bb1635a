package recharge

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gaspay/models"
)

// tariffVersion is a version of a tariff's tiers and when it comes into
// force.
type tariffVersion struct {
	version int
	from    time.Time
	tiers   []Tier
}

// tariffVersions loads and checks every version of a tariff.
func (s *Service) tariffVersions(ctx context.Context, store *models.Store, tariffID int64) ([]tariffVersion, error) {
	vs, err := store.TariffVersions(ctx, tariffID)
	if err != nil {
		return nil, fmt.Errorf("recharge: tariff %d: %w", tariffID, err)
	}
	out := make([]tariffVersion, len(vs))
	for i, v := range vs {
		tiers := ToTiers(v.Tiers)
		if err := checkTiers(tiers); err != nil {
			return nil, fmt.Errorf("recharge: tariff %d version %d: %w", tariffID, v.Version, err)
		}
		out[i] = tariffVersion{version: v.Version, from: v.EffectiveFrom, tiers: tiers}
	}
	return out, nil
}

// ToTiers turns stored tiers (in order) into prices.
func ToTiers(tt []models.TariffTier) []Tier {
	tiers := make([]Tier, len(tt))
	for i, t := range tt {
		tiers[i] = Tier{UpperCentiM3: unbounded, PriceFenPerM3: t.PriceFenPerM3}
		if t.UpperCentiM3 != nil {
			tiers[i].UpperCentiM3 = *t.UpperCentiM3
		}
	}
	return tiers
}

// CheckTiers is the rule every tariff's tiers follow (rising bounds,
// positive prices, the last unbounded), for staff entering a new version.
func CheckTiers(tiers []Tier) error { return checkTiers(tiers) }

// inForce is the version in force at t: the last one whose date has come.
// Versions are ordered by date; a tariff without versions (an old schema)
// is its plain tiers.
func (c cachedTariff) inForce(t time.Time) tariffVersion {
	if len(c.versions) == 0 {
		return tariffVersion{tiers: c.tiers}
	}
	cur := c.versions[0]
	for _, v := range c.versions[1:] {
		if !v.from.After(t) {
			cur = v
		}
	}
	return cur
}

// versionOf names the version that priced a quote: the version in force at
// t whose tiers are the ones used (the tiers were picked for the same
// moment; comparing them keeps the answer right even if the cache was
// refreshed in between).
func (s *Service) versionOf(tariffID int64, tiers []Tier, t time.Time) int {
	s.tariffMu.Lock()
	c := s.tariffs[tariffID]
	s.tariffMu.Unlock()
	for i := len(c.versions) - 1; i >= 0; i-- {
		v := c.versions[i]
		if !v.from.After(t) && slices.Equal(v.tiers, tiers) {
			return v.version
		}
	}
	return 0
}

// pricedBy is the tariff version an order records: the quote's, nil when
// nothing was priced (a bill payment).
func (q Quote) pricedBy() *int {
	if q.TariffVersion == 0 {
		return nil
	}
	v := q.TariffVersion
	return &v
}

// ForgetTariffs drops the cached tariffs, so that a version staff just
// added is seen by this replica at once (others within tariffTTL).
func (s *Service) ForgetTariffs() {
	s.tariffMu.Lock()
	s.tariffs = map[int64]cachedTariff{}
	s.tariffMu.Unlock()
}
