package customer

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"time"

	"gaspay/models"
	"gaspay/units"
)

// demoAccounts is the demo data set the sandbox starts with; the README
// lists it. 031140086 is the IC card of the box protocol's test vectors.
//
//go:embed demo_accounts.csv
var demoAccounts []byte

// SeedDemo loads the demo accounts, their bills and meter reports. It is
// idempotent: run at every sandbox start, it leaves a seeded database as it
// is (bills are only added, never reset, so demo payments survive restarts).
func SeedDemo(ctx context.Context, store *models.Store, now time.Time) error {
	rows, err := ParseImport(bytes.NewReader(demoAccounts))
	if err != nil {
		return fmt.Errorf("customer: demo data: %w", err)
	}
	if _, err := store.ImportAccounts(ctx, rows, DefaultTariff, now.UTC()); err != nil {
		return fmt.Errorf("customer: demo data: %w", err)
	}
	// Two unpaid months for 王洪, one paid for 阿依古丽·买买提.
	bills := []struct {
		userNumber string
		monthsAgo  int
		due, paid  int64
	}{
		{"031120001", 2, 8640, 0},
		{"031120001", 1, 12320, 0},
		{"031120002", 1, 5610, 5610},
	}
	for _, b := range bills {
		a, err := store.AccountByUserNumber(ctx, b.userNumber)
		if err != nil {
			return fmt.Errorf("customer: demo bills: %w", err)
		}
		period := now.AddDate(0, -b.monthsAgo, 0).Format("2006-01")
		if err := store.AddBillIfAbsent(ctx, &models.Bill{AccountID: a.ID, Period: period,
			AmountDueFen: units.Fen(b.due), AmountPaidFen: units.Fen(b.paid), CreatedAt: now.UTC(), UpdatedAt: now.UTC()}); err != nil {
			return fmt.Errorf("customer: demo bills: %w", err)
		}
	}
	// The IoT meters reported yesterday, as they do daily.
	for number, balance := range map[string]int64{"20231100001": 5678, "20231100002": 1203} {
		if err := store.RecordMeterReport(ctx, number, balance, now.Add(-20*time.Hour).UTC().Truncate(time.Second)); err != nil {
			return fmt.Errorf("customer: demo meter reports: %w", err)
		}
	}
	return nil
}
