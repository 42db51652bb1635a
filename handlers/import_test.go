package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"gaspay/internal/apptest"
	"gaspay/models"
	"gaspay/staff"
)

func (c *clerk) upload(kind, name, body string) apptest.Response {
	c.t.Helper()
	return c.srv.Do(apptest.Request{Method: "POST", Path: "/api/admin/imports/" + kind + "?name=" + name, Body: body, Client: c.client,
		Header: map[string]string{"Content-Type": "text/csv", "X-CSRF-Token": c.csrf, "Origin": c.srv.URL}})
}

// seedOrdinary adds n ordinary accounts numbered from 04000000.
func seedOrdinary(t *testing.T, env *apptest.Env, n int) {
	t.Helper()
	rows := make([]models.ImportRow, n)
	for i := range rows {
		rows[i] = models.ImportRow{Line: i + 2, UserNumber: fmt.Sprintf("0400%04d", i), HolderName: "用户", Address: "路",
			Kind: models.KindOrdinary, MeterNumber: fmt.Sprintf("0400%06d", i)}
	}
	if _, err := env.Store().ImportAccounts(context.Background(), rows, "residential", time.Now()); err != nil {
		t.Fatal(err)
	}
}

func TestBillsImport(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	seedOrdinary(t, env, 450)
	adm := newClerk(t, srv, "adm1", staff.Admin)
	op := newClerk(t, srv, "op1", staff.Operator)
	wang := newBuyer(t, env, srv, "alice", "031120001", "王洪") // owes 86.40 + 123.20
	ctx := context.Background()
	period := func(monthsAgo int) string { return time.Now().AddDate(0, -monthsAgo, 0).Format("2006-01") }

	if r := op.upload("bills", "b.csv", "user_number,period,amount_fen,due_date\n"); r.Status != http.StatusForbidden {
		t.Fatalf("operator importing: %d", r.Status)
	}
	// Bad lines, in the file and against the database: every one reported
	// by number, nothing left behind.
	bad := "user_number,period,amount_fen,due_date\n" +
		"04000001,2026-09,1000,2026-10-15\n" +
		"04000002,2026-13,1000,2026-10-15\n" + // line 3: no such month
		"99999999,2026-09,1000,2026-10-15\n" + // line 4: no such account
		"031130001,2026-09,1000,2026-10-15\n" + // line 5: a prepaid meter
		"04000001,2026-09,1200,2026-10-15\n" // line 6: repeats line 2
	r := adm.upload("bills", "bad.csv", bad)
	if r.Status != http.StatusUnprocessableEntity || r.Code(t) != "import_invalid" {
		t.Fatalf("bad file: %d %s", r.Status, r.Body)
	}
	lines := r.JSON(t)["errors"].([]any)
	if len(lines) != 2 || num(lines[0].(map[string]any)["line"]) != 3 || num(lines[1].(map[string]any)["line"]) != 6 {
		t.Fatalf("format errors: %s", r.Body)
	}
	// The format is right; the database refuses two lines.
	bad = strings.Replace(strings.Replace(bad, "2026-13", "2026-08", 1), "04000001,2026-09,1200", "04000003,2026-09,1200", 1)
	r = adm.upload("bills", "bad.csv", bad)
	lines = r.JSON(t)["errors"].([]any)
	if r.Status != http.StatusUnprocessableEntity || len(lines) != 2 || num(lines[0].(map[string]any)["line"]) != 4 ||
		!strings.Contains(lines[1].(map[string]any)["message"].(string), "预付费") {
		t.Fatalf("database errors: %d %s", r.Status, r.Body)
	}
	for _, table := range []string{"bill_staging", "imports"} {
		if n := env.Count(table, ""); n != 0 {
			t.Fatalf("a failed import left %d rows in %s", n, table)
		}
	}
	if n := env.Count("bills", "account_id IN (SELECT id FROM accounts WHERE user_number LIKE '0400%')"); n != 0 {
		t.Fatalf("a failed import wrote %d bills", n)
	}

	// A good file: 450 new bills, and 王洪's last month corrected from
	// 123.20 to 130.00. A payment is made while the import runs, between
	// its batches: it goes through at once (the import holds no lock
	// across batches) and the import still lands whole.
	var b strings.Builder
	b.WriteString("\xef\xbb\xbfuser_number,period,amount_fen,due_date\n")
	for i := range 450 {
		fmt.Fprintf(&b, "0400%04d,%s,%d,2026-12-15\n", i, period(1), 1000+i)
	}
	fmt.Fprintf(&b, "031120001,%s,13000,2026-12-15\n", period(1))
	batches, paid := 0, ""
	srv.App.Console.SetBatchHook(func(importID int64, rows int) {
		batches++
		if batches != 1 {
			return
		}
		done := make(chan string, 1)
		go func() { done <- paidOrder(t, env, wang, 5000) }()
		select {
		case paid = <-done:
		case <-time.After(20 * time.Second):
			t.Error("a payment made while the import ran did not finish")
		}
	})
	r = adm.upload("bills", "bills-2026.csv", b.String())
	srv.App.Console.SetBatchHook(nil)
	if r.Status != http.StatusOK || r.JSON(t)["status"] != "applied" || num(r.JSON(t)["rows"]) != 451 {
		t.Fatalf("import: %d %s", r.Status, r.Body)
	}
	if batches < 3 || paid == "" {
		t.Fatalf("%d batches, payment %q", batches, paid)
	}
	if n := env.Count("bills", "account_id IN (SELECT id FROM accounts WHERE user_number LIKE '0400%') AND due_date = '2026-12-15'"); n != 450 {
		t.Fatalf("%d bills imported", n)
	}
	a, _ := env.Store().AccountByUserNumber(ctx, "04000449")
	if a.ArrearsFen != 1449 {
		t.Fatalf("arrears of 04000449: %d", a.ArrearsFen)
	}
	// 王洪 owed 8640 + 12320; the bill became 13000 and he paid 5000,
	// oldest first: 8640 - 5000 + 13000.
	a, _ = env.Store().AccountByUserNumber(ctx, "031120001")
	if a.ArrearsFen != 8640-5000+13000 {
		t.Fatalf("王洪's arrears: %d", a.ArrearsFen)
	}
	var sum int64
	env.DB.Raw("SELECT COALESCE(SUM(amount_due_fen - amount_paid_fen), 0) FROM bills WHERE account_id = ?", a.ID).Scan(&sum)
	if sum != int64(a.ArrearsFen) {
		t.Fatalf("arrears %d, open bills %d", a.ArrearsFen, sum)
	}
	if got := auditRows(t, env, "import.bills"); len(got) != 1 || got[0].Actor != "adm1" || !strings.Contains(*got[0].AfterJSON, `"rows":451`) {
		t.Fatalf("import audit: %+v", got)
	}
	// The same file again changes nothing.
	r = adm.upload("bills", "bills-2026.csv", b.String())
	if a2, _ := env.Store().AccountByUserNumber(ctx, "04000449"); r.Status != http.StatusOK || a2.ArrearsFen != 1449 {
		t.Fatalf("re-import: %d %s, arrears %d", r.Status, r.Body, a2.ArrearsFen)
	}
	if r := adm.do("GET", "/api/admin/imports", nil); len(r.JSON(t)["imports"].([]any)) != 2 {
		t.Fatalf("imports: %s", r.Body)
	}
}

func TestReadingsImport(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	adm := newClerk(t, srv, "adm1", staff.Admin)
	good := "meter_number,read_at,reading_centi_m3\n0312000101,2026-11-01,123456\n0312000102,2026-11-01,7890\n"
	if r := adm.upload("readings", "r.csv", good); r.Status != http.StatusOK || num(r.JSON(t)["applied_rows"]) != 2 {
		t.Fatalf("readings: %d %s", r.Status, r.Body)
	}
	bad := "meter_number,read_at,reading_centi_m3\n0312000101,2026-11-01,123457\n0312000102,2026-11-02,-1\n"
	r := adm.upload("readings", "r.csv", bad)
	lines, _ := r.JSON(t)["errors"].([]any)
	if r.Status != http.StatusUnprocessableEntity || len(lines) != 1 || num(lines[0].(map[string]any)["line"]) != 3 {
		t.Fatalf("bad readings: %d %s", r.Status, r.Body)
	}
	r = adm.upload("readings", "r.csv", strings.Replace(bad, ",-1\n", ",8000\n", 1))
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.JSON(t)["errors"].([]any)[0].(map[string]any)["message"].(string), "已有读数") {
		t.Fatalf("conflicting reading: %d %s", r.Status, r.Body)
	}
	if n := env.Count("meter_readings", ""); n != 2 {
		t.Fatalf("%d readings", n)
	}
	// The customer record shows them.
	r = adm.do("GET", fmt.Sprintf("/api/admin/accounts/%d", env.AccountID("031120001")), nil)
	if rd := r.JSON(t)["readings"].([]any); len(rd) != 1 || num(rd[0].(map[string]any)["reading_centi_m3"]) != 123456 {
		t.Fatalf("customer readings: %s", r.Body)
	}
	if r := adm.upload("readings", "x.csv", "wrong,header\n"); r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("bad header: %d", r.Status)
	}
}

// The billing system's accounts through the console: a file with a bad
// line (by format or against the database) changes nothing and leaves
// nothing behind; a good one is applied in batches while payments go on.
func TestAccountsImport(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	seedOrdinary(t, env, 450)
	adm := newClerk(t, srv, "adm1", staff.Admin)
	op := newClerk(t, srv, "op1", staff.Operator)
	wang := newBuyer(t, env, srv, "alice", "031120001", "王洪") // owes 86.40 + 123.20
	ctx := context.Background()
	const header = "user_number,holder_name,address,phone,kind,meter_number,card_serial,card_type,balance_fen\n"

	if r := op.upload("accounts", "a.csv", header); r.Status != http.StatusForbidden {
		t.Fatalf("operator importing: %d", r.Status)
	}
	nothingBehind := func(what string) {
		t.Helper()
		for _, table := range []string{"account_staging", "imports"} {
			if n := env.Count(table, ""); n != 0 {
				t.Fatalf("%s left %d rows in %s", what, n, table)
			}
		}
		if n := env.Count("accounts", "user_number LIKE '0410%' OR holder_name = '改名'"); n != 0 {
			t.Fatalf("%s wrote %d accounts", what, n)
		}
	}
	// Line 3 takes another account's meter: refused by the database's
	// check, with its number; lines 2 and 4 are good and not written either.
	bad := header +
		"04000001,改名,路,,ordinary,0400000001,,,0\n" +
		"04100001,新户,路,,ordinary,0400000002,,,0\n" +
		"04100002,新户,路,,ordinary,0410000002,,,0\n"
	r := adm.upload("accounts", "bad.csv", bad)
	lines, _ := r.JSON(t)["errors"].([]any)
	if r.Status != http.StatusUnprocessableEntity || len(lines) != 1 || num(lines[0].(map[string]any)["line"]) != 3 ||
		!strings.Contains(lines[0].(map[string]any)["message"].(string), "belongs to another account") {
		t.Fatalf("conflicting meter: %d %s", r.Status, r.Body)
	}
	nothingBehind("a file with a conflict")
	r = adm.upload("accounts", "bad.csv", strings.Replace(bad, "04100002,新户,路,,ordinary", "04100002,新户,路,,gasworks", 1))
	lines, _ = r.JSON(t)["errors"].([]any)
	if r.Status != http.StatusUnprocessableEntity || len(lines) != 1 || num(lines[0].(map[string]any)["line"]) != 4 {
		t.Fatalf("bad kind: %d %s", r.Status, r.Body)
	}
	nothingBehind("a file with a bad line")

	// A good file: 450 accounts renamed, 王洪's address corrected (his row
	// last, so in the last batch), a new account. 王洪 pays while the
	// import runs, between its batches: the payment goes through at once
	// and the import, which never overwrites a balance or arrears, lands
	// whole after it.
	var b strings.Builder
	b.WriteString(header)
	for i := range 450 {
		fmt.Fprintf(&b, "0400%04d,改名%d,新路%d号,,ordinary,0400%06d,,,0\n", i, i, i, i)
	}
	b.WriteString("04100002,新户,路,,ordinary,0410000002,,,0\n")
	b.WriteString("031120001,王洪,人民路18号院3号楼2单元102室,13800000003,ordinary,0312000101,,,0\n")
	batches, paid := 0, ""
	var during int64
	srv.App.Console.SetBatchHook(func(importID int64, rows int) {
		batches++
		if batches != 1 {
			return
		}
		// The import is under way: its first batch is in, the rest not.
		during = env.Count("accounts", "holder_name LIKE '改名%'")
		done := make(chan string, 1)
		go func() { done <- paidOrder(t, env, wang, 5000) }()
		select {
		case paid = <-done:
		case <-time.After(20 * time.Second):
			t.Error("a payment made while the accounts import ran did not finish")
		}
	})
	r = adm.upload("accounts", "accounts-2026.csv", b.String())
	srv.App.Console.SetBatchHook(nil)
	if r.Status != http.StatusOK || r.JSON(t)["status"] != "applied" || num(r.JSON(t)["rows"]) != 452 {
		t.Fatalf("import: %d %s", r.Status, r.Body)
	}
	if batches < 3 || paid == "" || during == 0 || during == 450 {
		t.Fatalf("%d batches, payment %q, %d accounts renamed when it was made", batches, paid, during)
	}
	if n := env.Count("accounts", "holder_name LIKE '改名%'"); n != 450 {
		t.Fatalf("%d accounts renamed", n)
	}
	a, _ := env.Store().AccountByUserNumber(ctx, "031120001")
	if a.Address != "人民路18号院3号楼2单元102室" || a.ArrearsFen != 8640+12320-5000 {
		t.Fatalf("王洪 after the import: %q, arrears %d", a.Address, a.ArrearsFen)
	}
	if _, err := env.Store().AccountByUserNumber(ctx, "04100002"); err != nil {
		t.Fatalf("the new account: %v", err)
	}
	if n := env.Count("account_staging", "applied = ?", false); n != 0 {
		t.Fatalf("%d staged accounts not applied", n)
	}
	if got := auditRows(t, env, "import.accounts"); len(got) != 1 || got[0].Actor != "adm1" || !strings.Contains(*got[0].AfterJSON, `"rows":452`) {
		t.Fatalf("import audit: %+v", got)
	}
}
