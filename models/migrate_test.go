package models_test

import (
	"context"
	"sync"
	"testing"

	"gaspay/internal/testenv"
	"gaspay/models"
)

// Migrations apply once, however many replicas start at the same moment,
// and a second run changes nothing.
func TestMigrateConcurrentAndIdempotent(t *testing.T) {
	db := testenv.RawDB(t)
	other := testenv.Reopen(t, db)
	ctx := context.Background()
	var wg sync.WaitGroup
	applied := make([][]int, 2)
	errs := make([]error, 2)
	for i, h := range []*gormDB{{db}, {other}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			applied[i], errs[i] = models.Migrate(ctx, h.DB)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(applied[0])+len(applied[1]) != len(models.Versions()) {
		t.Fatalf("applied %v and %v, want %d migrations in all", applied[0], applied[1], len(models.Versions()))
	}
	again, err := models.Migrate(ctx, db)
	if err != nil || len(again) != 0 {
		t.Fatalf("second run applied %v, %v", again, err)
	}
	v, err := models.SchemaVersion(ctx, db)
	if err != nil || v != models.LatestVersion() {
		t.Fatalf("version %d, %v", v, err)
	}
	// The default tariff is there, with its three tiers in order.
	tariff, err := models.NewStore(db).Tariff(ctx, 1)
	if err != nil || tariff.Code != "residential" || len(tariff.Tiers) != 3 || tariff.Tiers[2].UpperCentiM3 != nil ||
		*tariff.Tiers[0].UpperCentiM3 != 31000 || tariff.Tiers[1].PriceFenPerM3 != 330 {
		t.Fatalf("tariff = %+v, %v", tariff, err)
	}
}
