package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"gaspay/alipay/alipayfake"
	"gaspay/internal/apptest"
)

// The whole Alipay purchase in a phone browser: the signed cashier URL,
// the buyer pays, the notification, a paid order with its credit.
func TestAlipayWAPPurchase(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b := newBuyer(t, env, srv, "alice", "031130001", "李娜")

	r := b.order(map[string]any{"amount_fen": 5000, "channel": "alipay_wap"})
	no := orderNo(t, r)
	payURL, _ := r.JSON(t)["payment"].(map[string]any)["pay_url"].(string)
	if !strings.Contains(payURL, "alipay.trade.wap.pay") || !strings.Contains(payURL, "sign=") {
		t.Fatalf("pay url = %q", payURL)
	}
	// The buyer's browser opens the cashier: the trade appears at Alipay.
	resp, err := http.Get(payURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("cashier: %d", resp.StatusCode)
	}
	tr, ok := env.Alipay.Trade(no)
	if !ok || tr.TotalFen != 5000 || !strings.HasSuffix(tr.NotifyURL, "/notify/alipay") || strings.Contains(tr.NotifyURL, "?") {
		t.Fatalf("Alipay trade = %+v", tr)
	}
	res, err := env.Alipay.Pay(context.Background(), no, "")
	if err != nil || !res.Acknowledged {
		t.Fatalf("pay: %+v %v", res, err)
	}
	o := b.get(no)
	if o["status"] != "paid" || o["channel"] != "alipay_wap" || o["credit"].(map[string]any)["kind"] != "iot" {
		t.Fatalf("order = %v", o)
	}
}

// The Alipay mini-program: a trade created for the buyer, paid; duplicate,
// tampered and mismatched notifications.
func TestAlipayMiniProgramNotifications(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b := newBuyer(t, env, srv, "alice", "031120001", "王洪")
	if r := b.order(map[string]any{"amount_fen": 5000, "channel": "alipay_mp"}); r.Code(t) != "invalid_buyer" {
		t.Fatalf("no buyer: %d %s", r.Status, r.Body)
	}
	r := b.order(map[string]any{"amount_fen": 5000, "channel": "alipay_mp", "buyer_open_id": "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5"})
	no := orderNo(t, r)
	if r.JSON(t)["payment"].(map[string]any)["trade_no"] == "" {
		t.Fatalf("no trade_no: %s", r.Body)
	}
	if err := env.Alipay.PayQuietly(no); err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string]alipayfake.NotifyOptions{
		"tampered":  {Tamper: true},
		"wrong key": {WrongKey: true},
		"unsigned":  {Unsigned: true},
	} {
		res, err := env.Alipay.SendNotification(context.Background(), no, opts)
		if err != nil || res[0].Acknowledged {
			t.Errorf("%s notification: %+v %v", name, res, err)
		}
	}
	if status, payments, _ := paidState(t, env, no); status != "pending" || payments != 0 {
		t.Fatalf("forgeries took the payment: %s %d", status, payments)
	}
	// A genuine signature over an amount that is not the order's.
	res, err := env.Alipay.SendNotification(context.Background(), no, alipayfake.NotifyOptions{AmountOverride: "0.01"})
	if err != nil || !res[0].Acknowledged {
		t.Fatalf("mismatch: %+v %v", res, err)
	}
	if status, payments, _ := paidState(t, env, no); status != "pending" || payments != 0 || env.Count("alerts", "kind = ?", "payment_mismatch") != 1 {
		t.Fatalf("mismatched amount taken: %s %d", status, payments)
	}
	// Eight copies of the genuine notification at once.
	res, err = env.Alipay.SendNotification(context.Background(), no, alipayfake.NotifyOptions{Copies: 8})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range res {
		if !x.Acknowledged || x.Body != "success" {
			t.Errorf("copy answered %d %q", x.StatusCode, x.Body)
		}
	}
	if status, payments, credits := paidState(t, env, no); status != "paid" || payments != 1 || credits != 1 {
		t.Fatalf("%s %d %d", status, payments, credits)
	}
	a := srv.Do(apptest.Request{Method: "GET", Path: "/api/accounts/" + itoa(b.account), Token: b.token}).JSON(t)
	if num(a["arrears_fen"]) != 20960-5000 {
		t.Fatalf("bills after the Alipay payment: %v", a)
	}
	arrearsAgree(t, env)
}

// The janitor asks Alipay too: an expired unpaid trade is closed there and
// here; a staff refund goes back through Alipay.
func TestAlipayJanitorAndRefund(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b := newBuyer(t, env, srv, "alice", "031130001", "李娜")
	buyer := "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5"
	no := orderNo(t, b.order(map[string]any{"amount_fen": 5000, "channel": "alipay_mp", "buyer_open_id": buyer}))
	env.Clock.Advance(16 * time.Minute)
	if rep := srv.App.Recharge.JanitorPass(context.Background()); rep.Closed != 1 {
		t.Fatalf("pass: %+v", rep)
	}
	if tr, _ := env.Alipay.Trade(no); tr.Status != alipayfake.StatusClosed {
		t.Fatalf("Alipay trade: %s", tr.Status)
	}
	if o := b.get(no); o["status"] != "closed" {
		t.Fatalf("order: %v", o)
	}

	no = orderNo(t, b.order(map[string]any{"amount_fen": 3000, "channel": "alipay_mp", "buyer_open_id": buyer}))
	if _, err := env.Alipay.Pay(context.Background(), no, buyer); err != nil {
		t.Fatal(err)
	}
	r := srv.Do(apptest.Request{Method: "POST", Path: "/api/admin/orders/" + no + "/refund", Token: apptest.AdminToken,
		Body: map[string]string{"reason": "客户申请退款"}})
	if r.Status != http.StatusAccepted || r.JSON(t)["status"] != "succeeded" {
		t.Fatalf("refund: %d %s", r.Status, r.Body)
	}
	if tr, _ := env.Alipay.Trade(no); tr.RefundedFen != 3000 {
		t.Fatalf("Alipay refunded %d", tr.RefundedFen)
	}
	if o := b.get(no); o["status"] != "refunded" {
		t.Fatalf("order: %v", o)
	}
}
