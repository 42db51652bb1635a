package alipay_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"gaspay/alipay"
	"gaspay/alipay/alipayfake"
)

func TestNotifications(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		opts     alipayfake.NotifyOptions
		accepted bool
		wantFen  int64
	}{
		{name: "genuine", accepted: true, wantFen: 2580},
		{name: "amount changed after signing", opts: alipayfake.NotifyOptions{Tamper: true}},
		{name: "signed with another key", opts: alipayfake.NotifyOptions{WrongKey: true}},
		{name: "unsigned", opts: alipayfake.NotifyOptions{Unsigned: true}},
		{name: "signed, one decimal", opts: alipayfake.NotifyOptions{AmountOverride: "25.8"}, accepted: true, wantFen: 2580},
		{name: "signed, unparseable amount", opts: alipayfake.NotifyOptions{AmountOverride: "1e3"}},
		// A genuine signature over an amount that is not the order's:
		// accepted here, caught by the caller's cross-check with its order.
		{name: "signed, other amount", opts: alipayfake.NotifyOptions{AmountOverride: "0.01"}, accepted: true, wantFen: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.paid("N1", 2580)
			res, err := e.fake.SendNotification(ctx, "N1", tt.opts)
			if err != nil || len(res) != 1 || res[0].Err != nil {
				t.Fatalf("SendNotification = %+v, %v", res, err)
			}
			if res[0].Acknowledged != tt.accepted {
				t.Fatalf("acknowledged = %v (HTTP %d %q)", res[0].Acknowledged, res[0].StatusCode, res[0].Body)
			}
			acc, ref := e.notifications()
			if !tt.accepted {
				if len(acc) != 0 || len(ref) != 1 || !errors.Is(ref[0], alipay.ErrBadNotification) {
					t.Fatalf("accepted %+v, refused %v", acc, ref)
				}
				return
			}
			if len(acc) != 1 {
				t.Fatalf("accepted %+v, refused %v", acc, ref)
			}
			n := acc[0]
			tr, _ := e.fake.Trade("N1")
			if n.OutTradeNo != "N1" || n.TradeNo != tr.TradeNo || n.Status != alipay.TradeSuccess || n.TotalFen != tt.wantFen ||
				n.AppID != testAppID || n.NotifyID == "" || n.NotifyType != "trade_status_sync" || n.BuyerOpenID != "buyer-1" ||
				n.GmtPayment.IsZero() || n.NotifyTime.IsZero() || n.HasRefund {
				t.Fatalf("notification = %+v", n)
			}
			if !n.GmtPayment.Equal(tr.PaidAt) {
				t.Fatalf("gmt_payment %v, paid at %v", n.GmtPayment, tr.PaidAt)
			}
		})
	}

	t.Run("pay notifies and the merchant answers success", func(t *testing.T) {
		e := newEnv(t)
		e.create("N2", 100)
		res, err := e.fake.Pay(ctx, "N2", "open-2")
		if err != nil || !res.Sent || !res.Acknowledged || res.Body != "success" {
			t.Fatalf("Pay = %+v, %v", res, err)
		}
		if _, err := e.fake.Pay(ctx, "N2", ""); !errors.Is(err, alipayfake.ErrNotPayable) {
			t.Fatalf("paying twice: %v", err)
		}
	})

	t.Run("refund notification", func(t *testing.T) {
		e := newEnv(t)
		e.paid("N3", 1000)
		if _, err := e.client.Refund(ctx, alipay.RefundRequest{OutTradeNo: "N3", OutRequestNo: "RR1", RefundFen: 250}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.fake.SendNotification(ctx, "N3", alipayfake.NotifyOptions{}); err != nil {
			t.Fatal(err)
		}
		acc, _ := e.notifications()
		if len(acc) != 1 || !acc[0].HasRefund || acc[0].RefundFen != 250 || acc[0].OutBizNo != "RR1" || acc[0].Status != alipay.TradeSuccess || acc[0].GmtRefund.IsZero() {
			t.Fatalf("notifications = %+v", acc)
		}
	})

	t.Run("concurrent duplicates all verify", func(t *testing.T) {
		e := newEnv(t)
		e.paid("N4", 100)
		res, err := e.fake.SendNotification(ctx, "N4", alipayfake.NotifyOptions{Copies: 8})
		if err != nil || len(res) != 8 {
			t.Fatalf("SendNotification = %v", err)
		}
		acc, _ := e.notifications()
		if len(acc) != 8 {
			t.Fatalf("accepted %d of 8", len(acc))
		}
		for _, n := range acc {
			if n.NotifyID != acc[0].NotifyID {
				t.Fatal("copies differ in notify_id")
			}
		}
	})

	t.Run("another app's notification", func(t *testing.T) {
		e := newEnv(t)
		k := keys(t)
		// Same keys, other app id: a genuine Alipay signature for someone else.
		other, err := alipayfake.New(alipayfake.Config{AppID: "2021000000000002", AppPublicKey: k.AppPublicKey, AlipayPrivateKey: k.AlipayPrivateKey})
		if err != nil {
			t.Fatal(err)
		}
		gw := httptest.NewServer(other)
		defer gw.Close()
		c := e.newClient(alipay.Config{AppID: "2021000000000002", GatewayURL: gw.URL + alipayfake.GatewayPath})
		if _, err := c.Create(ctx, alipay.CreateRequest{OutTradeNo: "X1", Subject: "s", AmountFen: 1, BuyerOpenID: "b", NotifyURL: e.notifyURL()}); err != nil {
			t.Fatal(err)
		}
		res, err := other.Pay(ctx, "X1", "")
		if err != nil || res.Acknowledged {
			t.Fatalf("Pay = %+v, %v", res, err)
		}
		_, ref := e.notifications()
		if len(ref) != 1 || !strings.Contains(ref[0].Error(), "not ours") {
			t.Fatalf("refused = %v", ref)
		}
	})
}

// TestParseNotificationRequest covers what reaches the handler besides the
// fake's deliveries.
func TestParseNotificationRequest(t *testing.T) {
	e := newEnv(t)
	e.paid("P1", 100)
	form := captureNotification(t, e, "P1")
	tests := []struct {
		name   string
		method string
		body   func(url.Values) string
		query  string
		ok     bool
	}{
		{"as delivered", http.MethodPost, func(f url.Values) string { return f.Encode() }, "", true},
		{"alipay_cert_sn added (outside the signature)", http.MethodPost, func(f url.Values) string {
			f.Set("alipay_cert_sn", "0123456789abcdef")
			return f.Encode()
		}, "", true},
		{"query string ignored", http.MethodPost, func(f url.Values) string { return f.Encode() }, "?total_amount=0.01", true},
		{"GET", http.MethodGet, func(url.Values) string { return "" }, "", false},
		{"repeated field", http.MethodPost, func(f url.Values) string {
			f.Add("total_amount", "0.01")
			return f.Encode()
		}, "", false},
		{"sign_type RSA", http.MethodPost, func(f url.Values) string {
			f.Set("sign_type", "RSA")
			return f.Encode()
		}, "", false},
		{"extra field after signing", http.MethodPost, func(f url.Values) string {
			f.Set("refund_fee", "1.00")
			return f.Encode()
		}, "", false},
		{"garbage signature", http.MethodPost, func(f url.Values) string {
			f.Set("sign", "!!!")
			return f.Encode()
		}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := url.Values{}
			for k, v := range form {
				f[k] = append([]string(nil), v...)
			}
			r := httptest.NewRequest(tt.method, "/alipay/notify"+tt.query, strings.NewReader(tt.body(f)))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			n, err := e.client.ParseNotification(context.Background(), r)
			if tt.ok {
				if err != nil || n.TotalFen != 100 {
					t.Fatalf("ParseNotification = %+v, %v", n, err)
				}
				return
			}
			if !errors.Is(err, alipay.ErrBadNotification) {
				t.Fatalf("err = %v, want ErrBadNotification", err)
			}
		})
	}
}

// captureNotification has the fake deliver a genuine notification to a
// recorder and returns its form.
func captureNotification(t testing.TB, e *env, no string) url.Values {
	t.Helper()
	got := make(chan url.Values, 1)
	rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		got <- r.PostForm
		alipay.Ack(w)
	}))
	defer rec.Close()
	// Point the trade's notifications at the recorder by creating a twin.
	twin := no + "C"
	if _, err := e.client.Create(context.Background(), alipay.CreateRequest{OutTradeNo: twin, Subject: "gas", AmountFen: 100, BuyerOpenID: "buyer-1", NotifyURL: rec.URL}); err != nil {
		t.Fatal(err)
	}
	if res, err := e.fake.Pay(context.Background(), twin, ""); err != nil || !res.Acknowledged {
		t.Fatalf("Pay = %+v, %v", res, err)
	}
	return <-got
}

// BenchmarkNotificationParse measures ParseNotification on a genuine
// notification: form parsing, RSA-2048 verification, field checks.
func BenchmarkNotificationParse(b *testing.B) {
	e := newEnv(b)
	e.paid("B1", 100)
	body := captureNotification(b, e, "B1").Encode()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/alipay/notify", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if _, err := e.client.ParseNotification(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}
