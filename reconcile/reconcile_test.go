package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"gaspay/alipay/alipayfake"
	"gaspay/internal/apptest"
	"gaspay/internal/beijing"
	"gaspay/models"
	"gaspay/reconcile"
	"gaspay/wechat/wxpay/wxpayfake"
)

var cst = beijing.Location()

// world is a server with demo accounts and a customer who pays bills.
type world struct {
	t     *testing.T
	env   *apptest.Env
	srv   *apptest.Instance
	token string
	keys  int
}

func newWorld(t *testing.T, at time.Time, vars ...map[string]string) *world {
	t.Helper()
	var v map[string]string
	if len(vars) > 0 {
		v = vars[0]
	}
	env := apptest.New(t, v)
	env.SeedDemo()
	env.Clock.Set(at)
	w := &world{t: t, env: env, srv: env.Start()}
	w.token = w.srv.Login("alice")
	for _, b := range []struct{ number, holder string }{{"031120001", "王洪"}, {"031120002", "阿依古丽·买买提"}, {"031130001", "李娜"}} {
		r := w.srv.Do(apptest.Request{Method: "POST", Path: "/api/bindings", Token: w.token,
			Body: map[string]string{"by": "user_number", "number": b.number, "holder_name": b.holder}})
		if b.number == "031130001" {
			r = w.srv.Do(apptest.Request{Method: "POST", Path: "/api/bindings", Token: w.token,
				Body: map[string]string{"by": "meter_number", "number": "20231100001"}})
		}
		if r.Status != http.StatusCreated && r.Status != http.StatusOK {
			t.Fatalf("bind %s: %d %s", b.number, r.Status, r.Body)
		}
	}
	return w
}

// order places an order of fen for an account and returns its number.
func (w *world) order(userNumber string, fen int64, channel string) string {
	w.t.Helper()
	w.keys++
	body := map[string]any{"account_id": w.env.AccountID(userNumber), "amount_fen": fen, "channel": channel}
	if channel == "alipay_mp" {
		body["buyer_open_id"] = "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5"
	}
	r := w.srv.Do(apptest.Request{Method: "POST", Path: "/api/orders", Token: w.token,
		Header: map[string]string{"Idempotency-Key": fmt.Sprintf("recon-%06d", w.keys)}, Body: body})
	if r.Status != http.StatusCreated {
		w.t.Fatalf("order %s: %d %s", userNumber, r.Status, r.Body)
	}
	return r.JSON(w.t)["order"].(map[string]any)["order_no"].(string)
}

// paid places a WeChat order and pays it, with its notification.
func (w *world) paid(userNumber string, fen int64) string {
	w.t.Helper()
	no := w.order(userNumber, fen, "wechat_mp")
	if _, err := w.env.Pay.Pay(context.Background(), no, ""); err != nil {
		w.t.Fatal(err)
	}
	if n := w.env.Count("payments", "order_id = (SELECT id FROM orders WHERE order_no = ?)", no); n != 1 {
		w.t.Fatalf("order %s: %d payments after its notification", no, n)
	}
	return no
}

func (w *world) refund(no string) string {
	w.t.Helper()
	r := w.srv.Do(apptest.Request{Method: "POST", Path: "/api/admin/orders/" + no + "/refund", Token: apptest.AdminToken,
		Body: map[string]string{"reason": "客户申请退款"}})
	if r.Status != http.StatusAccepted {
		w.t.Fatalf("refund %s: %d %s", no, r.Status, r.Body)
	}
	return r.JSON(w.t)["refund_no"].(string)
}

func (w *world) svc() *reconcile.Service { return w.srv.App.Reconcile }

func byKind(res reconcile.Result) map[models.DiffKind][]models.ReconDifference {
	m := map[models.DiffKind][]models.ReconDifference{}
	for _, d := range res.Differences {
		m[d.Kind] = append(m[d.Kind], d)
	}
	return m
}

func findDiff(t *testing.T, res reconcile.Result, kind models.DiffKind, ref string) models.ReconDifference {
	t.Helper()
	for _, d := range res.Differences {
		if d.Kind == kind && d.Ref == ref {
			return d
		}
	}
	t.Fatalf("no %s difference for %s in %+v", kind, ref, res.Differences)
	return models.ReconDifference{}
}

// dayAt is a time two days from now (Beijing): business time only moves
// forward (WeChat Pay's client checks order expiries against the wall
// clock), and the test then moves on to the next day.
func dayAt(hour, minute int) time.Time {
	d := time.Now().In(cst).AddDate(0, 0, 2)
	return time.Date(d.Year(), d.Month(), d.Day(), hour, minute, 0, 0, cst)
}

func TestWeChatDifferencesOfEveryKind(t *testing.T) {
	ctx := context.Background()
	day := dayAt(9, 0)
	w := newWorld(t, day)
	date := day.Format(time.DateOnly)

	matched := w.paid("031120002", 1000)
	amount := w.paid("031120002", 2000)
	omitted := w.paid("031120002", 3000)
	merchant := w.paid("031120002", 4000)
	// The notification of this one is lost: WeChat has it, we do not.
	lost := w.order("031120001", 8640, "wechat_mp")
	if err := w.env.Pay.PayQuietly(lost); err != nil {
		t.Fatal(err)
	}
	// IoT purchases refunded before delivery.
	refundedHere := w.paid("031130001", 5000)
	refundNo := w.refund(refundedHere)
	refundedOther := w.paid("031130001", 6000)
	refundNo2 := w.refund(refundedOther)

	w.env.Pay.PlantBillDifference(wxpayfake.BillPlant{Kind: wxpayfake.PlantAmount, OutTradeNo: amount, Fen: 1999})
	w.env.Pay.PlantBillDifference(wxpayfake.BillPlant{Kind: wxpayfake.PlantOmit, OutTradeNo: omitted})
	w.env.Pay.PlantBillDifference(wxpayfake.BillPlant{Kind: wxpayfake.PlantMerchant, OutTradeNo: merchant, AppID: "wxsomeoneelse0000"})
	w.env.Pay.PlantBillDifference(wxpayfake.BillPlant{Kind: wxpayfake.PlantExtra, OutTradeNo: "G00000000000GHOST", Fen: 777, At: day.Add(time.Hour)})
	w.env.Pay.PlantBillDifference(wxpayfake.BillPlant{Kind: wxpayfake.PlantRefundOmit, OutRefundNo: refundNo})
	w.env.Pay.PlantBillDifference(wxpayfake.BillPlant{Kind: wxpayfake.PlantRefundAmount, OutRefundNo: refundNo2, Fen: 5900})
	w.env.Pay.PlantBillDifference(wxpayfake.BillPlant{Kind: wxpayfake.PlantRefundExtra, OutTradeNo: matched, OutRefundNo: "RX" + matched, Fen: 100, At: day.Add(2 * time.Hour)})

	// The same day the bill is not ready.
	if _, err := w.svc().Run(ctx, "wechat", date); !errors.Is(err, reconcile.ErrBillNotReady) {
		t.Fatalf("same-day run: %v", err)
	}
	if run, _ := w.env.Store().ReconRunOf(ctx, "wechat", date); run.Status != models.ReconWaiting || run.NextAttemptAt == nil {
		t.Fatalf("run after not ready: %+v", run)
	}

	w.env.Clock.Set(day.Add(25 * time.Hour))
	res, err := w.svc().Run(ctx, "wechat", date)
	if err != nil {
		t.Fatal(err)
	}
	kinds := byKind(res)
	if len(res.Differences) != 8 {
		t.Errorf("%d differences: %+v", len(res.Differences), res.Differences)
	}
	if d := findDiff(t, res, models.DiffAmount, amount); d.State != models.DiffOpen || d.OurValue != "paid 20.00" {
		t.Errorf("amount: %+v", d)
	}
	if d := findDiff(t, res, models.DiffMissingThere, omitted); d.BillValue != "" || d.State != models.DiffOpen {
		t.Errorf("missing there: %+v", d)
	}
	if d := findDiff(t, res, models.DiffMerchant, merchant); d.BillValue != "merchant "+apptest.MchID+" app wxsomeoneelse0000" {
		t.Errorf("merchant: %+v", d)
	}
	if d := findDiff(t, res, models.DiffMissingHere, lost); d.State != models.DiffRepaired || d.ResolvedBy == nil || *d.ResolvedBy != "reconcile" {
		t.Errorf("lost payment not repaired: %+v", d)
	}
	if d := findDiff(t, res, models.DiffMissingHere, "G00000000000GHOST"); d.State != models.DiffOpen || d.OurValue != "no such order" {
		t.Errorf("ghost payment: %+v", d)
	}
	findDiff(t, res, models.DiffRefundMissingThere, refundNo)
	if d := findDiff(t, res, models.DiffRefundAmount, refundNo2); d.OurValue != "refund of 60.00" {
		t.Errorf("refund amount: %+v", d)
	}
	if d := findDiff(t, res, models.DiffRefundMissingHere, "RX"+matched); d.OurValue != "no such refund" {
		t.Errorf("refund missing here: %+v", d)
	}
	if len(kinds[models.DiffMissingHere]) != 2 {
		t.Errorf("missing here: %+v", kinds[models.DiffMissingHere])
	}

	// The repair took the one paid path: one payment, marked, one credit.
	if n := w.env.Count("payments p JOIN orders o ON o.id = p.order_id", "o.order_no = ? AND p.source = 'reconcile'", lost); n != 1 {
		t.Errorf("lost order: %d payments by reconciliation", n)
	}
	if n := w.env.Count("credits c JOIN orders o ON o.id = c.order_id", "o.order_no = ?", lost); n != 1 {
		t.Errorf("lost order: %d credits", n)
	}
	if n := w.env.Count("alerts", "kind = 'reconcile_missing_here' AND order_no = ?", "G00000000000GHOST"); n != 1 {
		t.Errorf("ghost alerts: %d", n)
	}

	// Totals: the bill lists 7 payments (matched, amount, merchant, lost,
	// ghost, two IoT) and 2 refunds (one left out, one planted); gaspay
	// has 7 payments (the omitted one, not the ghost) and 2 refunds.
	r := res.Run
	if r.Status != models.ReconDone || r.BillPayments != 7 || r.BillRefunds != 2 || r.OurPayments != 7 || r.OurRefunds != 2 {
		t.Errorf("run %+v", r)
	}
	wantBill := int64(1000 + 1999 + 4000 + 8640 + 777 + 5000 + 6000)
	wantOurs := int64(1000 + 2000 + 3000 + 4000 + 8640 + 5000 + 6000)
	if r.BillPaymentFen != wantBill || r.OurPaymentFen != wantOurs || r.BillRefundFen != 5900+100 || r.OurRefundFen != 11000 {
		t.Errorf("amounts %+v", r)
	}
	// Fees 0.60 %, half up per line, refunds give theirs back.
	var fee int64
	for _, f := range []int64{1000, 1999, 4000, 8640, 777, 5000, 6000} {
		fee += (f*60 + 5000) / 10000
	}
	for _, f := range []int64{5900, 100} {
		fee -= (f*60 + 5000) / 10000
	}
	if r.BillFeeMilliFen != fee*1000 {
		t.Errorf("fees %d, want %d thousandths of a fen", r.BillFeeMilliFen, fee*1000)
	}
	// Nine lines; six differ (amount, merchant, lost, ghost, a refund's
	// amount, a refund unknown here). The lost payment, repaired, agrees
	// from the next run on.
	if r.Matched != 9-6 {
		t.Errorf("matched %d", r.Matched)
	}
	if r.OpenDifferences != 7 || res.Open() != 7 {
		t.Errorf("open %d / %d", r.OpenDifferences, res.Open())
	}

	t.Run("re-run is idempotent", func(t *testing.T) {
		again, err := w.svc().Run(ctx, "wechat", date)
		if err != nil {
			t.Fatal(err)
		}
		if len(again.Differences) != len(res.Differences) {
			t.Fatalf("%d differences, first run %d", len(again.Differences), len(res.Differences))
		}
		for i := range again.Differences {
			a, b := again.Differences[i], res.Differences[i]
			if a.ID != b.ID || a.Kind != b.Kind || a.Ref != b.Ref || a.State != b.State {
				t.Errorf("difference %d: %+v, first run %+v", i, a, b)
			}
		}
		if n := w.env.Count("payments p JOIN orders o ON o.id = p.order_id", "o.order_no = ?", lost); n != 1 {
			t.Errorf("%d payments for the repaired order", n)
		}
		if again.Run.Attempts != 3 || again.Run.Matched != r.Matched+1 {
			t.Errorf("second run %+v", again.Run)
		}
		if n := w.env.Count("recon_bill_lines", ""); n != 0 {
			t.Errorf("%d bill lines left", n)
		}
	})

	t.Run("staff resolve with a note", func(t *testing.T) {
		d := findDiff(t, res, models.DiffAmount, amount)
		r := w.srv.Do(apptest.Request{Method: "POST", Path: fmt.Sprintf("/api/admin/reconciliation/differences/%d/resolve", d.ID),
			Token: apptest.AdminToken, Body: map[string]string{"note": "微信确认差一分，已线下补退"}})
		if r.Status != http.StatusOK || r.JSON(t)["state"] != "resolved" || r.JSON(t)["resolved_by"] != "token:automation" {
			t.Fatalf("resolve: %d %s", r.Status, r.Body)
		}
		if n := w.env.Count("audit_log", "action = ? AND target = ? AND note = ?", "recon.resolve",
			fmt.Sprintf("difference:%d", d.ID), "微信确认差一分，已线下补退"); n != 1 {
			t.Errorf("%d audit entries of the resolution, want 1", n)
		}
		r = w.srv.Do(apptest.Request{Method: "POST", Path: fmt.Sprintf("/api/admin/reconciliation/differences/%d/resolve", d.ID),
			Token: apptest.AdminToken, Body: map[string]string{"note": "again"}})
		if r.Status != http.StatusConflict || r.Code(t) != "not_open" {
			t.Fatalf("resolve twice: %d %s", r.Status, r.Body)
		}
		// A re-run keeps staff's resolution.
		again, err := w.svc().Run(ctx, "wechat", date)
		if err != nil {
			t.Fatal(err)
		}
		if d2 := findDiff(t, again, models.DiffAmount, amount); d2.State != models.DiffResolved || d2.Note == nil || *d2.Note != "微信确认差一分，已线下补退" {
			t.Errorf("after re-run: %+v", d2)
		}
	})
}

func TestRepairRacingANotification(t *testing.T) {
	ctx := context.Background()
	day := dayAt(11, 0)
	w := newWorld(t, day)
	no := w.order("031120002", 1234, "wechat_mp")
	if err := w.env.Pay.PayQuietly(no); err != nil {
		t.Fatal(err)
	}
	w.env.Clock.Set(day.Add(24 * time.Hour))
	// Reconciliation's query is held back while WeChat's (late)
	// notification arrives: both take the paid path at once.
	w.env.Pay.InjectFault(wxpayfake.RouteQuery, wxpayfake.Fault{Delay: 400 * time.Millisecond}, 1)
	var res reconcile.Result
	var err error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		res, err = w.svc().Run(ctx, "wechat", day.Format(time.DateOnly))
	}()
	for w.env.Pay.Requests(wxpayfake.RouteQuery) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	nr, nerr := w.env.Pay.SendPaymentNotification(ctx, no, wxpayfake.NotifyOptions{})
	wg.Wait()
	if err != nil || nerr != nil || nr.StatusCode/100 != 2 {
		t.Fatalf("run %v, notification %v %+v", err, nerr, nr)
	}
	if n := w.env.Count("payments p JOIN orders o ON o.id = p.order_id", "o.order_no = ?", no); n != 1 {
		t.Fatalf("%d payments", n)
	}
	if n := w.env.Count("credits c JOIN orders o ON o.id = c.order_id", "o.order_no = ?", no); n != 1 {
		t.Fatalf("%d credits", n)
	}
	d := findDiff(t, res, models.DiffMissingHere, no)
	if d.State != models.DiffRepaired || d.Note == nil || *d.Note != "the payment was recorded meanwhile (notification or query); nothing taken twice" {
		t.Fatalf("difference %+v", d)
	}
	if res.Open() != 0 {
		t.Errorf("open differences: %+v", res.Differences)
	}
}

func TestMidnightEdge(t *testing.T) {
	ctx := context.Background()
	day := dayAt(12, 0)
	w := newWorld(t, day, map[string]string{"GASPAY_ORDER_TTL": "30m"})
	noon := w.paid("031120002", 500)

	// Created at 23:50, paid at 00:10 the next day: billed the next day.
	w.env.Clock.Set(day.Add(11*time.Hour + 50*time.Minute))
	late := w.order("031120002", 600, "wechat_mp")
	lateLost := w.order("031120001", 700, "wechat_mp")
	w.env.Clock.Set(day.Add(12*time.Hour + 10*time.Minute))
	if _, err := w.env.Pay.Pay(ctx, late, ""); err != nil {
		t.Fatal(err)
	}
	if err := w.env.Pay.PayQuietly(lateLost); err != nil {
		t.Fatal(err)
	}

	w.env.Clock.Set(day.Add(46 * time.Hour))
	first, err := w.svc().Run(ctx, "wechat", day.Format(time.DateOnly))
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Differences) != 0 || first.Run.Matched != 1 || first.Run.OurPayments != 1 || first.Run.BillPayments != 1 {
		t.Fatalf("day of creation: %+v %+v", first.Run, first.Differences)
	}
	if d := findPayment(t, w, noon); d.In(cst).Format(time.DateOnly) != day.Format(time.DateOnly) {
		t.Errorf("noon payment dated %s", d)
	}
	next, err := w.svc().Run(ctx, "wechat", day.AddDate(0, 0, 1).Format(time.DateOnly))
	if err != nil {
		t.Fatal(err)
	}
	if next.Run.BillPayments != 2 || next.Run.OurPayments != 2 || len(next.Differences) != 1 {
		t.Fatalf("day of payment: %+v %+v", next.Run, next.Differences)
	}
	if d := findDiff(t, next, models.DiffMissingHere, lateLost); d.State != models.DiffRepaired {
		t.Fatalf("late lost payment: %+v", d)
	}
	for _, no := range []string{late, lateLost} {
		if got := findPayment(t, w, no).In(cst).Format(time.DateOnly); got != day.AddDate(0, 0, 1).Format(time.DateOnly) {
			t.Errorf("payment of %s dated %s", no, got)
		}
	}
}

// findPayment is when an order's payment succeeded, as recorded.
func findPayment(t *testing.T, w *world, orderNo string) time.Time {
	t.Helper()
	var paidAt time.Time
	if err := w.env.DB.Raw("SELECT p.paid_at FROM payments p JOIN orders o ON o.id = p.order_id WHERE o.order_no = ?", orderNo).Scan(&paidAt).Error; err != nil {
		t.Fatal(err)
	}
	return paidAt
}

func TestCorruptBillRefusedThenRetriedByTheDailyPass(t *testing.T) {
	ctx := context.Background()
	day := dayAt(15, 0)
	w := newWorld(t, day)
	w.paid("031120002", 900)
	date := day.Format(time.DateOnly)
	second := w.env.Start() // another replica

	// Before 10:00 nothing runs.
	w.env.Clock.Set(day.Add(18*time.Hour + 59*time.Minute)) // 09:59 the next day
	if got := w.svc().DailyPass(ctx); len(got) != 0 {
		t.Fatalf("before 10:00: %v", got)
	}
	w.env.Clock.Set(day.Add(19*time.Hour + time.Minute)) // 10:01
	w.env.Pay.InjectFault(wxpayfake.RouteDownload, wxpayfake.Fault{Corrupt: true}, 1)
	var passes [2]map[string]error
	var wg sync.WaitGroup
	for i, s := range []*reconcile.Service{w.svc(), second.App.Reconcile} {
		wg.Add(1)
		go func() { defer wg.Done(); passes[i] = s.DailyPass(ctx) }()
	}
	wg.Wait()
	var wechatErrs []error
	for _, p := range passes {
		if err, ok := p["wechat"]; ok {
			wechatErrs = append(wechatErrs, err)
		}
	}
	run, err := w.env.Store().ReconRunOf(ctx, "wechat", date)
	if err != nil {
		t.Fatal(err)
	}
	// One replica ran the day; the bill was refused and nothing was kept.
	if len(wechatErrs) != 1 || !errors.Is(wechatErrs[0], reconcile.ErrBillRefused) || run.Attempts != 1 || run.Status != models.ReconFailed {
		t.Fatalf("first pass: %v, run %+v", wechatErrs, run)
	}
	if n := w.env.Count("recon_bill_lines", ""); n != 0 {
		t.Errorf("%d lines kept from a corrupt bill", n)
	}
	// Not again before the retry time.
	if got := w.svc().DailyPass(ctx); got["wechat"] != nil || len(got) != 0 {
		t.Fatalf("pass before retry: %v", got)
	}
	w.env.Clock.Set(day.Add(19*time.Hour + 12*time.Minute))
	if got := w.svc().DailyPass(ctx); got["wechat"] != nil {
		t.Fatalf("retry: %v", got)
	}
	run, _ = w.env.Store().ReconRunOf(ctx, "wechat", date)
	if run.Status != models.ReconDone || run.Attempts != 2 || run.Matched != 1 {
		t.Fatalf("after retry %+v", run)
	}
	if _, ok := w.svc().DailyPass(ctx)["wechat"]; ok {
		t.Fatal("a done day ran again")
	}
	// Alipay's bill of a day without trade is empty, and agrees.
	if ali, _ := w.env.Store().ReconRunOf(ctx, "alipay", date); ali.Status != models.ReconDone || ali.Matched != 0 || ali.Differences != 0 {
		t.Errorf("alipay run %+v", ali)
	}
}

func TestAlipayDifferences(t *testing.T) {
	ctx := context.Background()
	day := dayAt(10, 0)
	w := newWorld(t, day)
	ok := w.order("031120002", 1500, "alipay_mp")
	if _, err := w.env.Alipay.Pay(ctx, ok, ""); err != nil {
		t.Fatal(err)
	}
	lost := w.order("031120001", 2500, "alipay_mp")
	if err := w.env.Alipay.PayQuietly(lost); err != nil {
		t.Fatal(err)
	}
	omitted := w.order("031120002", 3500, "alipay_mp")
	if _, err := w.env.Alipay.Pay(ctx, omitted, ""); err != nil {
		t.Fatal(err)
	}
	iot := w.order("031130001", 4500, "alipay_mp")
	if _, err := w.env.Alipay.Pay(ctx, iot, ""); err != nil {
		t.Fatal(err)
	}
	refundNo := w.refund(iot)
	w.env.Alipay.PlantBillDifference(alipayfake.BillPlant{Kind: alipayfake.PlantOmit, OutTradeNo: omitted})
	w.env.Alipay.PlantBillDifference(alipayfake.BillPlant{Kind: alipayfake.PlantAmount, OutTradeNo: ok, Fen: 1501})
	w.env.Alipay.PlantBillDifference(alipayfake.BillPlant{Kind: alipayfake.PlantRefundAmount, OutRefundNo: refundNo, Fen: 4400})

	w.env.Clock.Set(day.Add(24 * time.Hour))
	res, err := w.svc().Run(ctx, "alipay", day.Format(time.DateOnly))
	if err != nil {
		t.Fatal(err)
	}
	if d := findDiff(t, res, models.DiffMissingHere, lost); d.State != models.DiffRepaired {
		t.Errorf("lost: %+v", d)
	}
	findDiff(t, res, models.DiffMissingThere, omitted)
	findDiff(t, res, models.DiffAmount, ok)
	findDiff(t, res, models.DiffRefundAmount, refundNo)
	if len(res.Differences) != 4 || res.Run.BillPayments != 3 || res.Run.BillRefunds != 1 || res.Run.OurPayments != 4 {
		t.Errorf("run %+v differences %+v", res.Run, res.Differences)
	}
	if n := w.env.Count("payments p JOIN orders o ON o.id = p.order_id", "o.order_no = ? AND p.source = 'reconcile'", lost); n != 1 {
		t.Errorf("%d repairs", n)
	}

	t.Run("another account's bill", func(t *testing.T) {
		w.env.Alipay.PlantBillDifference(alipayfake.BillPlant{Kind: alipayfake.PlantMerchant, Account: "2088000000000001"})
		res, err := w.svc().Run(ctx, "alipay", day.Format(time.DateOnly))
		if err != nil {
			t.Fatal(err)
		}
		// Every payment line is under another account now.
		if n := len(byKind(res)[models.DiffMerchant]); n != 3 {
			t.Errorf("%d merchant differences: %+v", n, res.Differences)
		}
	})
}

func TestAdminRoutesAndAging(t *testing.T) {
	day := dayAt(8, 0)
	w := newWorld(t, day)
	w.paid("031130001", 5000) // an IoT credit waiting for the meter
	w.paid("031120002", 700)
	w.env.Clock.Set(day.Add(26 * time.Hour))

	r := w.srv.Do(apptest.Request{Method: "POST", Path: "/api/admin/reconciliation/runs", Token: apptest.AdminToken,
		Body: map[string]string{"provider": "wechat", "date": day.Format(time.DateOnly)}})
	if r.Status != http.StatusOK {
		t.Fatalf("run: %d %s", r.Status, r.Body)
	}
	body := r.JSON(t)
	if body["matched"].(float64) != 2 || body["status"] != "done" || body["bill"].(map[string]any)["fee_yuan"] != "0.34000" {
		t.Errorf("run answer %s", r.Body)
	}
	if d, ok := body["differences"].([]any); !ok || len(d) != 0 {
		t.Errorf("differences where there are none: %s", r.Body)
	}
	for _, bad := range []struct {
		body map[string]string
		code string
	}{
		{map[string]string{"provider": "paypal", "date": day.Format(time.DateOnly)}, "invalid_provider"},
		{map[string]string{"provider": "wechat", "date": "2026-02-30"}, "invalid_date"},
		{map[string]string{"provider": "wechat", "date": "2099-01-01"}, "invalid_date"},
	} {
		r := w.srv.Do(apptest.Request{Method: "POST", Path: "/api/admin/reconciliation/runs", Token: apptest.AdminToken, Body: bad.body})
		if r.Status != http.StatusBadRequest || r.Code(t) != bad.code {
			t.Errorf("%v: %d %s", bad.body, r.Status, r.Body)
		}
	}
	if r := w.srv.Do(apptest.Request{Method: "POST", Path: "/api/admin/reconciliation/runs", Body: map[string]string{"provider": "wechat", "date": day.Format(time.DateOnly)}}); r.Status != http.StatusUnauthorized {
		t.Errorf("without staff token: %d", r.Status)
	}
	r = w.srv.Do(apptest.Request{Method: "GET", Path: "/api/admin/reconciliation/runs/wechat/" + day.Format(time.DateOnly), Token: apptest.AdminToken})
	if r.Status != http.StatusOK || r.JSON(t)["matched"].(float64) != 2 {
		t.Errorf("day: %d %s", r.Status, r.Body)
	}
	r = w.srv.Do(apptest.Request{Method: "GET", Path: "/api/admin/reconciliation/runs", Token: apptest.AdminToken})
	if r.Status != http.StatusOK || len(r.JSON(t)["runs"].([]any)) != 1 {
		t.Errorf("runs: %d %s", r.Status, r.Body)
	}

	// Aging: the IoT credit is 26 hours old, past the 24 h alert age.
	r = w.srv.Do(apptest.Request{Method: "GET", Path: "/api/admin/reconciliation/aging", Token: apptest.AdminToken})
	if r.Status != http.StatusOK {
		t.Fatalf("aging: %d %s", r.Status, r.Body)
	}
	aging := r.JSON(t)
	iot := aging["by_kind"].(map[string]any)["iot"].(map[string]any)
	if aging["total"].(float64) != 1 || iot["lt_3d"].(float64) != 1 || iot["lt_1h"].(float64) != 0 {
		t.Errorf("aging %s", r.Body)
	}
	overdue := aging["overdue"].([]any)
	if len(overdue) != 1 || overdue[0].(map[string]any)["kind"] != "iot" || overdue[0].(map[string]any)["age_seconds"].(float64) < 25*3600 {
		t.Errorf("overdue %v", overdue)
	}
	if _, err := w.svc().CheckAging(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := w.env.Count("alerts", "kind = 'delivery_overdue'"); n != 1 {
		t.Errorf("%d delivery alerts", n)
	}
}
