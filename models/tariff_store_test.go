package models_test

import (
	"context"
	"errors"
	"testing"

	"gaspay/internal/testenv"
	"gaspay/models"
)

// Versions of one tariff added at once, each in a transaction of its own,
// are numbered one after the other. Numbered from a plain read of the
// last number, two took the same one and the second failed on the unique
// index.
func TestConcurrentTariffVersionsNumberedInTurn(t *testing.T) {
	const n = 12
	store := models.NewStore(testenv.DB(t))
	ctx := context.Background()
	tariff, err := store.TariffByCode(ctx, "residential")
	if err != nil {
		t.Fatal(err)
	}
	errs := testenv.AtOnce(n, func(i int) error {
		return store.Tx(ctx, func(tx *models.Store) error {
			return tx.AddTariffVersion(ctx, &models.TariffVersion{TariffID: tariff.ID, EffectiveFrom: now.AddDate(0, 0, 1+i),
				CreatedBy: "test", CreatedAt: now, Tiers: []models.TariffTier{{Ordinal: 1, PriceFenPerM3: 300}}})
		})
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	vs, err := store.TariffVersions(ctx, tariff.ID)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, v := range vs {
		if seen[v.Version] || v.Version < 1 || v.Version > n+1 {
			t.Errorf("version %d duplicated or out of 1..%d", v.Version, n+1)
		}
		if v.Version > 1 && len(v.Tiers) != 1 {
			t.Errorf("version %d has %d tiers, want the one added", v.Version, len(v.Tiers))
		}
		seen[v.Version] = true
	}
	if len(vs) != n+1 {
		t.Errorf("%d versions, want %d", len(vs), n+1)
	}
}
