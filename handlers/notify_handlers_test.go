package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"gaspay/internal/apptest"
	"gaspay/wechat/wxpay/wxpayfake"
)

func paidState(t *testing.T, env *apptest.Env, no string) (status string, payments, credits int64) {
	t.Helper()
	var o struct {
		ID     int64
		Status string
	}
	if err := env.DB.Table("orders").Where("order_no = ?", no).Take(&o).Error; err != nil {
		t.Fatal(err)
	}
	return o.Status, env.Count("payments", "order_id = ?", o.ID), env.Count("credits", "order_id = ?", o.ID)
}

// Twenty copies of one notification at once: one payment, one credit,
// twenty acknowledgements.
func TestConcurrentDuplicateNotifications(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b := newBuyer(t, env, srv, "alice", "031130001", "李娜")
	no := orderNo(t, b.order(map[string]any{"amount_fen": 5000}))
	if err := env.Pay.PayQuietly(no); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	acks := make(chan bool, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := env.Pay.SendPaymentNotification(context.Background(), no, wxpayfake.NotifyOptions{})
			acks <- err == nil && res.Acknowledged()
		}()
	}
	wg.Wait()
	close(acks)
	for ok := range acks {
		if !ok {
			t.Error("a duplicate was not acknowledged")
		}
	}
	status, payments, credits := paidState(t, env, no)
	if status != "paid" || payments != 1 || credits != 1 {
		t.Fatalf("status %s, %d payments, %d credits", status, payments, credits)
	}
	// The account's purchase sequence moved once.
	a, _ := env.Store().Account(context.Background(), b.account)
	if a.PurchaseSeq != 1 || a.YTDVolumeCentiM3 != 1666 {
		t.Fatalf("account after 20 notifications: seq %d, ytd %d", a.PurchaseSeq, a.YTDVolumeCentiM3)
	}
}

// crashingFront passes a notification to the server and then drops the
// connection before the answer leaves: the server committed "paid" but
// WeChat never heard the acknowledgement.
func crashingFront(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		conn.Close()
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestCrashBetweenPaidAndAcknowledged(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b := newBuyer(t, env, srv, "alice", "031140086", "秦淮")
	no := orderNo(t, b.order(map[string]any{"volume_centi_m3": 5000}))
	if err := env.Pay.PayQuietly(no); err != nil {
		t.Fatal(err)
	}
	res, _ := env.Pay.SendPaymentNotification(context.Background(), no,
		wxpayfake.NotifyOptions{URL: crashingFront(t, srv.App.Handler) + "/notify/wechat/pay"})
	if res.Acknowledged() {
		t.Fatal("the crashed attempt was acknowledged")
	}
	if status, payments, credits := paidState(t, env, no); status != "paid" || payments != 1 || credits != 1 {
		t.Fatalf("after the crash: %s %d %d", status, payments, credits)
	}
	// WeChat sends again: acknowledged, nothing more happens.
	res, err := env.Pay.SendPaymentNotification(context.Background(), no, wxpayfake.NotifyOptions{})
	if err != nil || !res.Acknowledged() {
		t.Fatalf("retry: %+v %v", res, err)
	}
	if status, payments, credits := paidState(t, env, no); status != "paid" || payments != 1 || credits != 1 {
		t.Fatalf("after the retry: %s %d %d", status, payments, credits)
	}
}

func TestForgedNotificationsRefused(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b := newBuyer(t, env, srv, "alice", "031130001", "李娜")
	no := orderNo(t, b.order(map[string]any{"amount_fen": 5000}))
	if err := env.Pay.PayQuietly(no); err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string]wxpayfake.NotifyOptions{
		"tampered body":        {Tamper: true},
		"wrong APIv3 key":      {WrongAPIv3Key: true},
		"wrong signature":      {WrongSignature: true},
		"unknown key id":       {WrongSerial: true},
		"stale timestamp":      {StaleTimestamp: 10 * time.Minute},
		"SIGNTEST probe":       {SignTest: true},
		"bad GCM nonce length": {BadNonceLength: true},
	} {
		t.Run(name, func(t *testing.T) {
			res, err := env.Pay.SendPaymentNotification(context.Background(), no, opts)
			if err != nil || res.Acknowledged() || !strings.Contains(res.Body, `"code":"FAIL"`) {
				t.Fatalf("answer: %+v %v", res, err)
			}
		})
	}
	if status, payments, _ := paidState(t, env, no); status != "pending" || payments != 0 {
		t.Fatalf("forgeries changed the order: %s %d", status, payments)
	}
	// A request that is not even a notification.
	r := srv.Do(apptest.Request{Method: "POST", Path: "/notify/wechat/pay", Body: `{"id":"x"}`})
	if r.Status != http.StatusUnauthorized || r.Code(t) != "FAIL" {
		t.Fatalf("bare POST: %d %s", r.Status, r.Body)
	}
	if res, _ := env.Pay.SendPaymentNotification(context.Background(), no, wxpayfake.NotifyOptions{}); !res.Acknowledged() {
		t.Fatalf("genuine notification: %+v", res)
	}
	if status, payments, _ := paidState(t, env, no); status != "paid" || payments != 1 {
		t.Fatalf("genuine notification not taken: %s %d", status, payments)
	}
}

func TestAmountMismatchFlaggedNotPaid(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b := newBuyer(t, env, srv, "alice", "031130001", "李娜")
	no := orderNo(t, b.order(map[string]any{"amount_fen": 5000}))
	// Our order now says one fen more than WeChat Pay was asked for.
	if err := env.DB.Exec("UPDATE orders SET payable_fen = payable_fen + 1 WHERE order_no = ?", no).Error; err != nil {
		t.Fatal(err)
	}
	res, err := env.Pay.Pay(context.Background(), no, "")
	if err != nil || !res.Acknowledged() {
		t.Fatalf("pay: %+v %v", res, err)
	}
	if status, payments, credits := paidState(t, env, no); status != "pending" || payments != 0 || credits != 0 {
		t.Fatalf("mismatched payment taken: %s %d %d", status, payments, credits)
	}
	alerts := srv.Do(apptest.Request{Method: "GET", Path: "/api/admin/alerts", Token: apptest.AdminToken}).JSON(t)["alerts"].([]any)
	if len(alerts) != 1 || alerts[0].(map[string]any)["kind"] != "payment_mismatch" || alerts[0].(map[string]any)["order_no"] != no {
		t.Fatalf("alerts = %v", alerts)
	}
	if r := srv.Do(apptest.Request{Method: "GET", Path: "/api/admin/alerts", Token: "wrong"}); r.Status != http.StatusUnauthorized {
		t.Fatalf("alerts without the staff token: %d", r.Status)
	}
}

// An unpaid order is closed after it expires, at WeChat Pay first, and the
// balance it held is released.
func TestExpiredOrderClosed(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b := newBuyer(t, env, srv, "alice", "031140086", "秦淮")
	no := orderNo(t, b.order(map[string]any{"volume_centi_m3": 1000}))

	// Before expiry the janitor only looks for a lost payment.
	env.Clock.Advance(3 * time.Minute)
	if rep := srv.App.Recharge.JanitorPass(context.Background()); rep.Checked != 1 || rep.Closed != 0 {
		t.Fatalf("early pass: %+v", rep)
	}
	if o := b.get(no); o["status"] != "pending" {
		t.Fatalf("closed early: %v", o)
	}
	env.Clock.Advance(13 * time.Minute)
	if rep := srv.App.Recharge.JanitorPass(context.Background()); rep.Closed != 1 {
		t.Fatalf("pass after expiry: %+v", rep)
	}
	if fo, _ := env.Pay.Order(no); fo.State != wxpayfake.StateClosed {
		t.Fatalf("WeChat Pay order %s", fo.State)
	}
	if o := b.get(no); o["status"] != "closed" || o["closed_at"] == nil {
		t.Fatalf("order: %v", o)
	}
	a, _ := env.Store().Account(context.Background(), b.account)
	if a.BalanceFen != 30 {
		t.Fatalf("balance after close: %d", a.BalanceFen)
	}
	// A second pass finds nothing to do.
	if rep := srv.App.Recharge.JanitorPass(context.Background()); rep.Checked != 0 {
		t.Fatalf("second pass: %+v", rep)
	}
}

// A payment whose notification was lost is found by the janitor's query.
func TestLostNotificationFoundByQuery(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b := newBuyer(t, env, srv, "alice", "031130001", "李娜")
	no := orderNo(t, b.order(map[string]any{"amount_fen": 5000}))
	if err := env.Pay.PayQuietly(no); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(3 * time.Minute)
	if rep := srv.App.Recharge.JanitorPass(context.Background()); rep.Paid != 1 {
		t.Fatalf("pass: %+v", rep)
	}
	if status, payments, credits := paidState(t, env, no); status != "paid" || payments != 1 || credits != 1 {
		t.Fatalf("%s %d %d", status, payments, credits)
	}
	// The notification arrives after all: a duplicate.
	if res, _ := env.Pay.SendPaymentNotification(context.Background(), no, wxpayfake.NotifyOptions{}); !res.Acknowledged() {
		t.Fatal("late notification not acknowledged")
	}
	if _, payments, credits := paidState(t, env, no); payments != 1 || credits != 1 {
		t.Fatalf("%d payments %d credits", payments, credits)
	}
}

// An order closed here while WeChat Pay still had it open is paid anyway:
// the payment is recorded and refunded automatically, never lost.
func TestLatePaymentAfterCloseRefunded(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b := newBuyer(t, env, srv, "alice", "031130001", "李娜")
	first := orderNo(t, b.order(map[string]any{"amount_fen": 5000}))
	// WeChat Pay's query briefly cannot find the order; three minutes on,
	// the customer starts again, and the first order is closed here.
	env.Pay.FailNext(wxpayfake.RouteQuery, 404, "ORDER_NOT_EXIST", "order not exist", 1)
	env.Clock.Advance(3 * time.Minute)
	second := orderNo(t, b.order(map[string]any{"amount_fen": 3000}))
	if o := b.get(first); o["status"] != "closed" {
		t.Fatalf("first order: %v", o)
	}
	// The customer pays the first order's page, still open at WeChat Pay.
	res, err := env.Pay.Pay(context.Background(), first, "")
	if err != nil || !res.Acknowledged() {
		t.Fatalf("late payment: %+v %v", res, err)
	}
	o := b.get(first)
	refund, _ := o["refund"].(map[string]any)
	if o["status"] != "refunding" || refund == nil || num(refund["amount_fen"]) != 5000 || refund["status"] != "processing" || o["credit"] != nil {
		t.Fatalf("late-paid order: %v", o)
	}
	if fr, ok := env.Pay.Refund(refund["refund_no"].(string)); !ok || fr.RefundFen != 5000 {
		t.Fatalf("WeChat Pay refund: %+v", fr)
	}
	if _, err := env.Pay.CompleteRefund(context.Background(), refund["refund_no"].(string)); err != nil {
		t.Fatal(err)
	}
	if o := b.get(first); o["status"] != "refunded" {
		t.Fatalf("after the refund: %v", o)
	}
	if o := b.get(second); o["status"] != "pending" {
		t.Fatalf("second order: %v", o)
	}
}

func TestStaffRefund(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b := newBuyer(t, env, srv, "alice", "031140086", "秦淮")        // volume card, balance 0.30
	no := orderNo(t, b.order(map[string]any{"amount_fen": 1000})) // 3.33 m3, 1 fen left over, 0.30 deducted
	if _, err := env.Pay.Pay(context.Background(), no, ""); err != nil {
		t.Fatal(err)
	}
	refund := func(no, token string) apptest.Response {
		return srv.Do(apptest.Request{Method: "POST", Path: "/api/admin/orders/" + no + "/refund", Token: token,
			Body: map[string]string{"reason": "客户申请退款"}})
	}
	if r := refund(no, b.token); r.Status != http.StatusUnauthorized {
		t.Fatalf("a customer refunding: %d", r.Status)
	}
	r := refund(no, apptest.AdminToken)
	if r.Status != http.StatusAccepted || r.JSON(t)["status"] != "processing" || num(r.JSON(t)["amount_fen"]) != 970 {
		t.Fatalf("refund: %d %s", r.Status, r.Body)
	}
	refundNo := r.JSON(t)["refund_no"].(string)
	o := b.get(no)
	if o["status"] != "refunding" || o["credit"].(map[string]any)["status"] != "cancelled" {
		t.Fatalf("refunding order: %v", o)
	}
	a, _ := env.Store().Account(context.Background(), b.account)
	if a.BalanceFen != 30 || a.YTDVolumeCentiM3 != 0 {
		t.Fatalf("balance %d, year volume %d after refund: want the 30 fen back and no volume", a.BalanceFen, a.YTDVolumeCentiM3)
	}
	if r := refund(no, apptest.AdminToken); r.Status != http.StatusConflict || r.Code(t) != "not_refundable" {
		t.Fatalf("second refund: %d %s", r.Status, r.Body)
	}

	// WeChat Pay completes it and notifies, twice.
	res, err := env.Pay.CompleteRefund(context.Background(), refundNo)
	if err != nil || !res.Acknowledged() {
		t.Fatalf("refund notification: %+v %v", res, err)
	}
	if res, _ := env.Pay.SendRefundNotification(context.Background(), refundNo, wxpayfake.NotifyOptions{}); !res.Acknowledged() {
		t.Fatalf("duplicate refund notification: %+v", res)
	}
	if res, _ := env.Pay.SendRefundNotification(context.Background(), refundNo, wxpayfake.NotifyOptions{Tamper: true}); res.Acknowledged() {
		t.Fatalf("tampered refund notification acknowledged")
	}
	o = b.get(no)
	if o["status"] != "refunded" || o["refund"].(map[string]any)["status"] != "succeeded" {
		t.Fatalf("refunded order: %v", o)
	}
	if n := env.Count("alerts", ""); n != 0 {
		t.Fatalf("%d alerts", n)
	}
	// The card account may buy again, with the same purchase sequence.
	if r := b.order(map[string]any{"volume_centi_m3": 100}); r.Status != http.StatusCreated {
		t.Fatalf("buying after a refund: %d %s", r.Status, r.Body)
	}

	// A bill payment is delivered at once: not refundable here.
	bill := newBuyer(t, env, srv, "alice", "031120001", "王洪")
	bno := orderNo(t, bill.order(map[string]any{"amount_fen": 100}))
	if _, err := env.Pay.Pay(context.Background(), bno, ""); err != nil {
		t.Fatal(err)
	}
	if r := refund(bno, apptest.AdminToken); r.Status != http.StatusConflict || r.Code(t) != "credit_delivered" {
		t.Fatalf("refund of a delivered credit: %d %s", r.Status, r.Body)
	}
}

// A refund whose answer was lost stays pending; the janitor asks again
// with the same refund number, and the money goes back once.
func TestRefundRetriedByJanitor(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b := newBuyer(t, env, srv, "alice", "031130001", "李娜")
	no := orderNo(t, b.order(map[string]any{"amount_fen": 5000}))
	if _, err := env.Pay.Pay(context.Background(), no, ""); err != nil {
		t.Fatal(err)
	}
	env.Pay.InjectFault(wxpayfake.RouteRefund, wxpayfake.Fault{AfterApply: true, Drop: true}, 1)
	r := srv.Do(apptest.Request{Method: "POST", Path: "/api/admin/orders/" + no + "/refund", Token: apptest.AdminToken,
		Body: map[string]string{"reason": "test"}})
	if r.Status != http.StatusAccepted || r.JSON(t)["status"] != "pending" {
		t.Fatalf("refund with a lost answer: %d %s", r.Status, r.Body)
	}
	env.Clock.Advance(time.Minute)
	if rep := srv.App.Recharge.JanitorPass(context.Background()); rep.Refunds != 1 {
		t.Fatalf("pass: %+v", rep)
	}
	refundNo := r.JSON(t)["refund_no"].(string)
	fr, ok := env.Pay.Refund(refundNo)
	if !ok || fr.RefundFen != 5000 {
		t.Fatalf("WeChat Pay refund: %+v", fr)
	}
	if fo, _ := env.Pay.Order(no); fo.Refunds != 1 || fo.RefundedFen != 5000 {
		t.Fatalf("refunded %d times, %d fen", fo.Refunds, fo.RefundedFen)
	}
	if o := b.get(no); o["refund"].(map[string]any)["status"] != "processing" {
		t.Fatalf("order: %v", o)
	}
}

// A payment that cannot be credited because the account already has an
// undelivered credit (impossible through the API; here forced) is
// recorded and refunded rather than racing a second credit to the meter.
func TestPaymentBehindUndeliveredCreditRefunded(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b := newBuyer(t, env, srv, "alice", "031130001", "李娜")
	first := orderNo(t, b.order(map[string]any{"amount_fen": 5000}))
	if _, err := env.Pay.Pay(context.Background(), first, ""); err != nil {
		t.Fatal(err)
	}
	// Hide the undelivered credit long enough to start a second order.
	if err := env.DB.Exec("UPDATE credits SET pending_account_id = NULL").Error; err != nil {
		t.Fatal(err)
	}
	second := orderNo(t, b.order(map[string]any{"amount_fen": 3000}))
	if err := env.DB.Exec("UPDATE credits SET pending_account_id = account_id WHERE status = 'pending'").Error; err != nil {
		t.Fatal(err)
	}
	if res, err := env.Pay.Pay(context.Background(), second, ""); err != nil || !res.Acknowledged() {
		t.Fatalf("pay: %+v %v", res, err)
	}
	o := b.get(second)
	if o["status"] != "refunding" || o["credit"] != nil || o["refund"].(map[string]any)["reason"] != "credit conflict" {
		t.Fatalf("second order: %v", o)
	}
	if n := env.Count("credits", ""); n != 1 {
		t.Fatalf("%d credits", n)
	}
	if n := env.Count("alerts", "kind = ?", "payment_refunded"); n != 1 {
		t.Fatalf("%d alerts", n)
	}
	// A repeat of the notification changes nothing.
	if res, _ := env.Pay.SendPaymentNotification(context.Background(), second, wxpayfake.NotifyOptions{}); !res.Acknowledged() {
		t.Fatal("repeat not acknowledged")
	}
	if n := env.Count("refunds", ""); n != 1 {
		t.Fatalf("%d refunds", n)
	}
}

// A genuinely signed notification that another transaction paid an order
// already paid is recorded for staff and acknowledged, once: not a 500
// that WeChat Pay retries forever.
func TestOtherTransactionForPaidOrderAlerts(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b := newBuyer(t, env, srv, "alice", "031130001", "李娜")
	no := orderNo(t, b.order(map[string]any{"amount_fen": 5000}))
	if res, err := env.Pay.Pay(context.Background(), no, ""); err != nil || !res.Acknowledged() {
		t.Fatalf("pay: %+v %v", res, err)
	}
	for i := 0; i < 2; i++ {
		res, err := env.Pay.SendPaymentNotification(context.Background(), no, wxpayfake.NotifyOptions{TransactionID: "4200000000209901011234567890"})
		if err != nil || !res.Acknowledged() {
			t.Fatalf("other transaction %d: %+v %v", i, res, err)
		}
	}
	if status, payments, credits := paidState(t, env, no); status != "paid" || payments != 1 || credits != 1 {
		t.Fatalf("the order changed: %s %d payments %d credits", status, payments, credits)
	}
	if n := env.Count("alerts", "kind = ? AND order_no = ? AND detail LIKE ?", "second_payment", no, "%4200000000209901011234567890%"); n != 2 {
		t.Fatalf("second_payment alerts: %d", n)
	}
	// Staff read it in Chinese, the amounts in yuan.
	if n := env.Count("alerts", "kind = ? AND order_no = ? AND detail LIKE ?", "second_payment", no, "%（50.00 元，%该订单已由付款%（50.00 元）支付"); n != 2 {
		t.Fatalf("second_payment alerts in Chinese with yuan: %d", n)
	}
	r := srv.Do(apptest.Request{Method: "GET", Path: "/api/admin/alerts", Token: apptest.AdminToken})
	if !strings.Contains(string(r.Body), "second_payment") {
		t.Fatalf("staff do not see it: %s", r.Body)
	}
}
