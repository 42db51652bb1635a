package console_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"gaspay/console"
	"gaspay/internal/testenv"
	"gaspay/models"
	"gaspay/recharge"
)

// Staff scheduling the same tariff at once: a version is added only when
// its day is after the latest version's, whatever the interleaving, and
// the version numbers follow the days. Without the tariff's lock, two
// schedules both passed the check on the same latest version: both
// committed (the second numbered after the first, dated before or on it),
// or the second collided on the version number and failed as an internal
// error instead of ErrTariffDate.
func TestConcurrentTariffSchedules(t *testing.T) {
	const n = 12
	for _, tc := range []struct {
		name string
		day  func(i int) string
		// oneWins: every schedule asks for the same day.
		oneWins bool
	}{
		{"same day", func(int) string { return "2026-07-01" }, true},
		{"different days", func(i int) string { return fmt.Sprintf("2026-07-%02d", 1+i) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := models.NewStore(testenv.DB(t))
			svc := console.NewService(store, nil, console.Config{}, testenv.Logger())
			svc.SetClock(func() time.Time { return time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) })
			ctx := context.Background()

			got := make([]models.TariffVersion, n)
			errs := testenv.AtOnce(n, func(i int) (err error) {
				tiers := []recharge.Tier{recharge.NewTier(nil, 300+int64(i))}
				got[i], err = svc.ScheduleTariff(ctx, admin, "residential", tc.day(i), tiers)
				return err
			})

			won := map[int]string{} // version number → day
			for i, err := range errs {
				switch {
				case err == nil:
					if d, ok := won[got[i].Version]; ok {
						t.Errorf("version %d given twice: %s and %s", got[i].Version, d, tc.day(i))
					}
					won[got[i].Version] = tc.day(i)
				case !errors.Is(err, console.ErrTariffDate):
					t.Errorf("schedule %d (%s): %v, want nil or ErrTariffDate", i, tc.day(i), err)
				}
			}
			if len(won) == 0 || (tc.oneWins && len(won) != 1) {
				t.Errorf("%d schedules won, want %s", len(won), map[bool]string{true: "exactly one", false: "at least one"}[tc.oneWins])
			}

			t1, err := store.TariffByCode(ctx, "residential")
			if err != nil {
				t.Fatal(err)
			}
			var vs []models.TariffVersion
			if err := store.DB().Where("tariff_id = ?", t1.ID).Order("version").Find(&vs).Error; err != nil {
				t.Fatal(err)
			}
			if len(vs) != 1+len(won) {
				t.Errorf("%d versions stored, want the first and %d scheduled", len(vs), len(won))
			}
			for i, v := range vs {
				if v.Version != i+1 {
					t.Errorf("version %d stored as number %d", i+1, v.Version)
				}
				if i > 0 && !v.EffectiveFrom.After(vs[i-1].EffectiveFrom) {
					t.Errorf("version %d from %s, not after version %d's %s", v.Version, v.EffectiveFrom, vs[i-1].Version, vs[i-1].EffectiveFrom)
				}
				if day, ok := won[v.Version]; ok && v.EffectiveFrom.Format("2006-01-02") != day {
					t.Errorf("version %d from %s, its schedule asked for %s", v.Version, v.EffectiveFrom, day)
				}
			}
			var audited int64
			store.DB().Model(&models.AuditEntry{}).Where("action = ?", "tariff.schedule").Count(&audited)
			if audited != int64(len(won)) {
				t.Errorf("%d tariff.schedule audit entries, want %d", audited, len(won))
			}
		})
	}
}
