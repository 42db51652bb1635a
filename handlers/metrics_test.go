package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"gaspay/internal/apptest"
	"gaspay/wechat/wxpay/wxpayfake"
)

// /metrics is a staff route with the request latencies, notification
// verdicts, box refusals and the ledger's figures.
func TestMetrics(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	if r := srv.Do(apptest.Request{Method: "GET", Path: "/metrics"}); r.Status != http.StatusUnauthorized {
		t.Fatalf("/metrics without the staff token: %d", r.Status)
	}
	b := newBuyer(t, env, srv, "alice", "031130001", "李娜")
	no := orderNo(t, b.order(map[string]any{"amount_fen": 5000}))
	if res, err := env.Pay.Pay(context.Background(), no, ""); err != nil || !res.Acknowledged() {
		t.Fatalf("pay: %+v %v", res, err)
	}
	env.Pay.SendPaymentNotification(context.Background(), no, wxpayfake.NotifyOptions{})
	env.Pay.SendPaymentNotification(context.Background(), no, wxpayfake.NotifyOptions{WrongSignature: true})
	srv.Do(apptest.Request{Method: "POST", Path: "/api/box/sessions", Token: b.token, Body: map[string]string{"hello": "AAAA"}})

	r := srv.Do(apptest.Request{Method: "GET", Path: "/metrics", Token: apptest.AdminToken})
	if r.Status != http.StatusOK {
		t.Fatalf("/metrics: %d %s", r.Status, r.Body)
	}
	out := string(r.Body)
	for _, want := range []string{
		`gaspay_http_request_duration_seconds_count{method="POST",route="/api/orders",status="201"} 1`,
		`gaspay_notifications_total{provider="wechat",verdict="taken"} 1`,
		`gaspay_notifications_total{provider="wechat",verdict="duplicate"} 1`,
		`gaspay_notifications_total{provider="wechat",verdict="refused"} 1`,
		`gaspay_box_frames_refused_total{reason="invalid_frame"} 1`,
		`gaspay_orders{channel="wechat_mp",status="paid"} 1`,
		`gaspay_payments{provider="wechat",source="notify"} 1`,
		`gaspay_credits{kind="iot",status="pending"} 1`,
		`gaspay_credits_pending_oldest_seconds{kind="iot"}`,
		`gaspay_ledger_scrape_ok 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		t.Log(out)
	}
}
