package console_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gaspay/console"
	"gaspay/internal/testenv"
	"gaspay/models"
	"gaspay/staff"
)

var admin = staff.Actor{Name: "adm1", Role: staff.Admin, IP: "test"}

func seedAccounts(t *testing.T, store *models.Store, n int) {
	t.Helper()
	rows := make([]models.ImportRow, n)
	for i := range rows {
		rows[i] = models.ImportRow{Line: i + 2, UserNumber: fmt.Sprintf("0500%04d", i), HolderName: "用户", Address: "路", Kind: models.KindOrdinary}
	}
	if _, err := store.ImportAccounts(context.Background(), rows, "residential", time.Now()); err != nil {
		t.Fatal(err)
	}
}

func billsFile(n int, amount func(i int) int) string {
	var b strings.Builder
	b.WriteString(console.BillsHeader + "\n")
	for i := range n {
		fmt.Fprintf(&b, "0500%04d,2026-10,%d,2026-11-15\n", i, amount(i))
	}
	return b.String()
}

// arrearsMatchBills checks the one invariant imports must keep: every
// account's arrears are its open bills.
func arrearsMatchBills(t *testing.T, store *models.Store) {
	t.Helper()
	var bad int64
	store.DB().Raw(`SELECT COUNT(*) FROM accounts a WHERE a.arrears_fen <> COALESCE((SELECT SUM(b.amount_due_fen - b.amount_paid_fen)
		FROM bills b WHERE b.account_id = a.id), 0)`).Scan(&bad)
	if bad != 0 {
		t.Fatalf("%d accounts' arrears differ from their open bills", bad)
	}
}

// A crash after the switch leaves the import committed and half applied;
// resuming finishes it, twice at once changes nothing more, and the
// arrears equal the open bills.
func TestImportResumesAfterCrash(t *testing.T) {
	store := models.NewStore(testenv.DB(t))
	seedAccounts(t, store, 500)
	svc := console.NewService(store, nil, console.Config{}, testenv.Logger())
	ctx, crash := context.WithCancel(context.Background())
	svc.SetBatchHook(func(int64, int) { crash() })
	_, err := svc.ImportBills(ctx, admin, "bills.csv", strings.NewReader(billsFile(500, func(i int) int { return 1000 + i })))
	if err == nil || !strings.Contains(err.Error(), "committed, application will resume") {
		t.Fatalf("crashed import: %v", err)
	}
	var applied int64
	store.DB().Model(&models.Bill{}).Count(&applied)
	if applied == 0 || applied == 500 {
		t.Fatalf("%d bills applied before the crash, want some", applied)
	}
	arrearsMatchBills(t, store)

	svc.SetBatchHook(nil)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = svc.ResumeImports(context.Background()) }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	store.DB().Model(&models.Bill{}).Count(&applied)
	var total int64
	store.DB().Raw("SELECT SUM(arrears_fen) FROM accounts").Scan(&total)
	if want := int64(500*1000 + 499*500/2); applied != 500 || total != want {
		t.Fatalf("after resume: %d bills, arrears %d, want 500 and %d", applied, total, want)
	}
	arrearsMatchBills(t, store)
	list, _ := svc.Imports(context.Background())
	if len(list) != 1 || list[0].Status != models.ImportApplied || list[0].AppliedRows != 500 {
		t.Fatalf("import after resume: %+v", list)
	}
}

// A bill already paid in part takes a new amount not below what was paid;
// a new amount below it is refused by line, and nothing changes.
func TestImportReplacesBillAmounts(t *testing.T) {
	store := models.NewStore(testenv.DB(t))
	seedAccounts(t, store, 3)
	svc := console.NewService(store, nil, console.Config{}, testenv.Logger())
	ctx := context.Background()
	if _, err := svc.ImportBills(ctx, admin, "a.csv", strings.NewReader(billsFile(3, func(int) int { return 5000 }))); err != nil {
		t.Fatal(err)
	}
	a, _ := store.AccountByUserNumber(ctx, "05000001")
	if _, err := store.SettleBills(ctx, a.ID, 3000, time.Now()); err != nil {
		t.Fatal(err)
	}
	store.DB().Exec("UPDATE accounts SET arrears_fen = arrears_fen - 3000 WHERE id = ?", a.ID)
	_, err := svc.ImportBills(ctx, admin, "b.csv", strings.NewReader(billsFile(3, func(i int) int { return 2000 + 500*i })))
	var ie models.ImportError
	if !errors.As(err, &ie) || len(ie) != 1 || ie[0].Line != 3 {
		t.Fatalf("a bill below what was paid: %v", err)
	}
	arrearsMatchBills(t, store)
	if _, err := svc.ImportBills(ctx, admin, "c.csv", strings.NewReader(billsFile(3, func(i int) int { return 4000 }))); err != nil {
		t.Fatal(err)
	}
	a, _ = store.AccountByUserNumber(ctx, "05000001")
	if a.ArrearsFen != 1000 {
		t.Fatalf("arrears after the new amount: %d, want 4000 - 3000", a.ArrearsFen)
	}
	arrearsMatchBills(t, store)
}

func accountsFile(n int, meter func(i int) string) string {
	var b strings.Builder
	b.WriteString("user_number,holder_name,address,phone,kind,meter_number,card_serial,card_type,balance_fen\n")
	for i := range n {
		fmt.Fprintf(&b, "0600%04d,新户,路%d号,,ordinary,%s,,,0\n", i, i, meter(i))
	}
	return b.String()
}

// A file whose line conflicts with the database changes nothing and leaves
// nothing staged; a row made conflicting by a change after the check (here
// a meter registered between two batches) is skipped whole, account and
// all, and alerted, while the rest of the committed import lands.
func TestAccountsImportAllOrNothingThenBatches(t *testing.T) {
	store := models.NewStore(testenv.DB(t))
	seedAccounts(t, store, 1) // 05000000, meter-less
	svc := console.NewService(store, nil, console.Config{}, testenv.Logger())
	ctx := context.Background()
	count := func(table string) (n int64) {
		store.DB().Table(table).Count(&n)
		return n
	}
	meter := func(i int) string { return fmt.Sprintf("0600%06d", i) }
	// Line 402 (row 400) takes a meter another account has.
	if _, err := store.ImportAccounts(ctx, []models.ImportRow{{Line: 2, UserNumber: "05009999", HolderName: "旧户", Kind: models.KindOrdinary,
		MeterNumber: "0699999999"}}, "residential", time.Now()); err != nil {
		t.Fatal(err)
	}
	_, err := svc.ImportAccounts(ctx, admin, "a.csv", strings.NewReader(accountsFile(450, func(i int) string {
		if i == 400 {
			return "0699999999"
		}
		return meter(i)
	})))
	var ie models.ImportError
	if !errors.As(err, &ie) || len(ie) != 1 || ie[0].Line != 402 {
		t.Fatalf("conflicting file: %v", err)
	}
	if a, s, i := count("accounts"), count("account_staging"), count("imports"); a != 2 || s != 0 || i != 0 {
		t.Fatalf("after a refused file: %d accounts, %d staged, %d imports", a, s, i)
	}

	batches := 0
	svc.SetBatchHook(func(int64, int) {
		if batches++; batches == 1 {
			// Between batches, someone registers row 300's meter elsewhere.
			if err := store.DB().Exec("UPDATE meters SET meter_number = ? WHERE meter_number = ?", meter(300), "0699999999").Error; err != nil {
				t.Error(err)
			}
		}
	})
	res, err := svc.ImportAccounts(ctx, admin, "b.csv", strings.NewReader(accountsFile(450, meter)))
	if err != nil {
		t.Fatal(err)
	}
	if res.Import.Status != models.ImportApplied || res.Created != 449 || batches < 3 {
		t.Fatalf("import: %+v after %d batches", res, batches)
	}
	if _, err := store.AccountByUserNumber(ctx, "06000300"); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("the skipped row's account: %v", err)
	}
	var alerts int64
	store.DB().Table("alerts").Where("kind = ? AND detail LIKE ?", "import_row_skipped", "%第 302 行%").Count(&alerts)
	if alerts != 1 || count("accounts") != 2+449 {
		t.Fatalf("%d alerts, %d accounts", alerts, count("accounts"))
	}
}
