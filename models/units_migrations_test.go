package models_test

import (
	"context"
	"testing"

	"gaspay/internal/testenv"
	"gaspay/models"
	"gaspay/units"
)

// Migration 85 renames the volume columns to centi_m3 and the stored unit
// "cm3" to "centi_m3", keeping every value, on both databases.
func TestMigrateVolumeToCentiM3(t *testing.T) {
	db := testenv.RawDB(t)
	ctx := context.Background()
	if _, err := models.MigrateUpTo(ctx, db, 84); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`INSERT INTO accounts (id, user_number, holder_name, address, phone, kind, tariff_id, balance_fen, status,
			purchase_seq, ytd_year, ytd_volume_cm3, created_at, updated_at)
			VALUES (7, '031140099', '甲', '某地', '', 'iccard', 1, 0, 'active', 1, 2026, 4321, '2026-01-02 00:00:00', '2026-01-02 00:00:00')`,
		`INSERT INTO orders (id, order_no, account_id, channel, app_id, payer_open_id, purpose, volume_cm3, gross_fen,
			deduction_fen, leftover_fen, payable_fen, credit_unit, credit_amount, quote_json, status, expires_at, created_at, updated_at)
			VALUES (1, 'GP2026010200000001', 7, 'wechat_mp', 'wx', 'o', 'gas', 10000, 30000, 0, 0, 30000, 'cm3', 10000, '[]',
			'paid', '2026-01-02 00:00:00', '2026-01-02 00:00:00', '2026-01-02 00:00:00')`,
		`INSERT INTO orders (id, order_no, account_id, channel, app_id, payer_open_id, purpose, volume_cm3, gross_fen,
			deduction_fen, leftover_fen, payable_fen, credit_unit, credit_amount, quote_json, status, expires_at, created_at, updated_at)
			VALUES (2, 'GP2026010200000002', 7, 'wechat_mp', 'wx', 'o', 'gas', 333, 1000, 0, 0, 1000, 'fen', 1000, '[]',
			'paid', '2026-01-02 00:00:00', '2026-01-02 00:00:00', '2026-01-02 00:00:00')`,
		`INSERT INTO credits (order_id, account_id, kind, seq, unit, amount, status, settled_fen, to_balance_fen, attempts,
			created_at, updated_at) VALUES (1, 7, 'card', 1, 'cm3', 10000, 'delivered', 0, 0, 1, '2026-01-02 00:00:00', '2026-01-02 00:00:00')`,
	} {
		if err := db.Exec(stmt).Error; err != nil {
			t.Fatal(err)
		}
	}
	applied, err := models.Migrate(ctx, db)
	if err != nil || len(applied) == 0 || applied[0] != 85 {
		t.Fatalf("migrate from 84: applied %v, %v", applied, err)
	}
	store := models.NewStore(db)
	a, err := store.Account(ctx, 7)
	if err != nil || a.YTDVolumeCentiM3 != 4321 {
		t.Fatalf("account after 85: %+v, %v", a, err)
	}
	o, err := store.Order(ctx, "GP2026010200000001")
	if v, ok := o.Credit().Volume(); err != nil || !ok || v != 10000 || o.VolumeCentiM3 != 10000 || o.StoredCreditUnit != models.UnitCentiM3 {
		t.Fatalf("volume order after 85: %+v, %v", o, err)
	}
	o, err = store.Order(ctx, "GP2026010200000002")
	if f, ok := o.Credit().Fen(); err != nil || !ok || f != 1000 || o.VolumeCentiM3 != 333 {
		t.Fatalf("amount order after 85: %+v, %v", o, err)
	}
	c, err := store.CreditOf(ctx, 1)
	if c.Quantity() != units.Gas(10000) || err != nil {
		t.Fatalf("credit after 85: %+v, %v", c, err)
	}
	tariff, err := store.Tariff(ctx, 1)
	if err != nil || *tariff.Tiers[0].UpperCentiM3 != 31000 {
		t.Fatalf("tariff after 85: %+v, %v", tariff, err)
	}
	// The widened unit column takes the new name on MySQL too.
	if err := db.Exec(`UPDATE credits SET unit = 'centi_m3' WHERE order_id = 1`).Error; err != nil {
		t.Fatal(err)
	}
}
