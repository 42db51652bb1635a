package alipay_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"

	"gaspay/alipay"
	"gaspay/alipay/alipayfake"
)

func TestNew(t *testing.T) {
	k := keys(t)
	bare := func(p string) string {
		b, _ := pem.Decode([]byte(p))
		return base64.StdEncoding.EncodeToString(b.Bytes)
	}
	appPub := k.AppPublicKey
	tests := []struct {
		name    string
		cfg     alipay.Config
		wantErr string
	}{
		{"pem keys", alipay.Config{AppID: "a", AppPrivateKey: k.AppPrivateKey, AlipayPublicKey: k.AlipayPublicKey}, ""},
		{"bare base64 keys", alipay.Config{AppID: "a", AppPrivateKey: bare(k.AppPrivateKey), AlipayPublicKey: bare(k.AlipayPublicKey)}, ""},
		{"pkcs8 app key", alipay.Config{AppID: "a", AppPrivateKey: k.AlipayPrivateKey, AlipayPublicKey: appPub}, ""},
		{"no app id", alipay.Config{AppPrivateKey: k.AppPrivateKey, AlipayPublicKey: k.AlipayPublicKey}, "AppID"},
		{"bad private key", alipay.Config{AppID: "a", AppPrivateKey: "not a key", AlipayPublicKey: k.AlipayPublicKey}, "app private key"},
		{"app public key given as alipay's", alipay.Config{AppID: "a", AppPrivateKey: k.AppPrivateKey, AlipayPublicKey: appPub}, "app's own public key"},
		{"no alipay key", alipay.Config{AppID: "a", AppPrivateKey: k.AppPrivateKey}, "alipay public key"},
		{"client without timeout", alipay.Config{AppID: "a", AppPrivateKey: k.AppPrivateKey, AlipayPublicKey: k.AlipayPublicKey, HTTPClient: &http.Client{}}, "timeout"},
		{"bad gateway", alipay.Config{AppID: "a", AppPrivateKey: k.AppPrivateKey, AlipayPublicKey: k.AlipayPublicKey, GatewayURL: "ftp://x"}, "gateway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := alipay.New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want one mentioning %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Fatalf("error quotes a key: %v", err)
			}
		})
	}
	t.Run("config printing masks keys", func(t *testing.T) {
		cfg := alipay.Config{AppID: "a", AppPrivateKey: k.AppPrivateKey, AlipayPublicKey: k.AlipayPublicKey}
		for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg)} {
			if strings.Contains(s, "PRIVATE") || !strings.Contains(s, "***") {
				t.Fatalf("printed config leaks or does not mask: %s", s)
			}
		}
	})
}

func TestWapPayURL(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	expire := e.clock.Now().Add(15 * time.Minute)
	u, err := e.client.WapPayURL(ctx, alipay.WapPayRequest{
		OutTradeNo: "W1", Subject: "gas 10 m3", AmountFen: 3012, TimeExpire: expire,
		NotifyURL: e.notifyURL(), ReturnURL: "https://gas.example/paid",
	})
	if err != nil {
		t.Fatalf("WapPayURL: %v", err)
	}
	if got := e.fake.Requests("alipay.trade.wap.pay"); got != 0 {
		t.Fatalf("building the URL sent %d requests", got)
	}

	t.Run("tampered URL refused", func(t *testing.T) {
		pu, _ := url.Parse(u)
		q := pu.Query()
		q.Set("biz_content", strings.Replace(q.Get("biz_content"), `"30.12"`, `"0.01"`, 1))
		pu.RawQuery = q.Encode()
		body, status := get(t, pu.String())
		if status != http.StatusBadRequest || !strings.Contains(body, "isv.invalid-signature") {
			t.Fatalf("tampered URL: %d %s", status, body)
		}
		if _, ok := e.fake.Trade("W1"); ok {
			t.Fatal("tampered URL recorded a trade")
		}
	})

	t.Run("genuine URL opens the cashier", func(t *testing.T) {
		body, status := get(t, u)
		if status != http.StatusOK || !strings.Contains(body, "sandbox cashier") || !strings.Contains(body, "30.12") {
			t.Fatalf("cashier: %d %s", status, body)
		}
		tr, ok := e.fake.Trade("W1")
		if !ok || tr.TotalFen != 3012 || tr.NotifyURL != e.notifyURL() || !tr.ExpireAt.Equal(expire) {
			t.Fatalf("recorded trade = %+v", tr)
		}
		got, err := e.client.Query(ctx, "W1")
		if err != nil || got.Status != alipay.TradeWaitBuyerPay || got.TotalFen != 3012 {
			t.Fatalf("Query = %+v, %v", got, err)
		}
	})

	t.Run("cashier pay button notifies and returns", func(t *testing.T) {
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noRedirect.PostForm(e.gw.URL+"/cashier/pay", url.Values{"out_trade_no": {"W1"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusSeeOther || loc.Host != "gas.example" ||
			loc.Query().Get("out_trade_no") != "W1" || loc.Query().Get("sign") == "" {
			t.Fatalf("after paying: %d %s", resp.StatusCode, loc)
		}
		acc, ref := e.notifications()
		if len(acc) != 1 || len(ref) != 0 || acc[0].OutTradeNo != "W1" || acc[0].Status != alipay.TradeSuccess || acc[0].TotalFen != 3012 {
			t.Fatalf("notifications: %+v refused %v", acc, ref)
		}
	})

	t.Run("expired trade cannot be paid", func(t *testing.T) {
		u2, err := e.client.WapPayURL(ctx, alipay.WapPayRequest{OutTradeNo: "W2", Subject: "gas", AmountFen: 1, TimeExpire: e.clock.Now().Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		get(t, u2)
		e.clock.Advance(2 * time.Minute)
		if _, err := e.fake.Pay(ctx, "W2", ""); !errors.Is(err, alipayfake.ErrNotPayable) {
			t.Fatalf("pay after expiry: %v", err)
		}
		if got, err := e.client.Query(ctx, "W2"); err != nil || got.Status != alipay.TradeClosed {
			t.Fatalf("Query = %+v, %v", got, err)
		}
	})

	t.Run("bad arguments refused before signing", func(t *testing.T) {
		for _, req := range []alipay.WapPayRequest{
			{OutTradeNo: "", Subject: "gas", AmountFen: 1},
			{OutTradeNo: "W-3", Subject: "gas", AmountFen: 1},
			{OutTradeNo: "W3", Subject: "gas&co", AmountFen: 1},
			{OutTradeNo: "W3", Subject: "gas", AmountFen: 0},
			{OutTradeNo: "W3", Subject: "gas", AmountFen: 1, NotifyURL: "https://gas.example/n?x=1"},
		} {
			if _, err := e.client.WapPayURL(ctx, req); !errors.Is(err, alipay.ErrInvalidRequest) {
				t.Errorf("%+v: err = %v", req, err)
			}
		}
	})
}

func get(t *testing.T, u string) (string, int) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode
}

func TestCreate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	req := alipay.CreateRequest{OutTradeNo: "C1", Subject: "gas", AmountFen: 10000, BuyerOpenID: "open-1",
		TimeExpire: e.clock.Now().Add(30 * time.Minute), NotifyURL: e.notifyURL()}
	no, err := e.client.Create(ctx, req)
	if err != nil || len(no) != 28 {
		t.Fatalf("Create = %q, %v", no, err)
	}
	if tr, _ := e.fake.Trade("C1"); !tr.ExpireAt.Equal(req.TimeExpire) || tr.BuyerOpenID != "open-1" || tr.NotifyURL != req.NotifyURL {
		t.Fatalf("fake trade = %+v", tr)
	}
	tests := []struct {
		name    string
		mutate  func(*alipay.CreateRequest)
		wantNo  string
		subCode string
	}{
		{"same request again gives the same trade", func(*alipay.CreateRequest) {}, no, ""},
		{"same number, other amount", func(r *alipay.CreateRequest) { r.AmountFen = 1 }, "", "ACQ.CONTEXT_INCONSISTENT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := req
			tt.mutate(&r)
			got, err := e.client.Create(ctx, r)
			if tt.subCode != "" {
				wantSubCode(t, err, tt.subCode)
				return
			}
			if err != nil || got != tt.wantNo {
				t.Fatalf("Create = %q, %v; want %q", got, err, tt.wantNo)
			}
		})
	}
	t.Run("paid, then create again", func(t *testing.T) {
		res, err := e.fake.Pay(ctx, "C1", "")
		if err != nil || !res.Acknowledged {
			t.Fatalf("Pay = %+v, %v", res, err)
		}
		_, err = e.client.Create(ctx, req)
		wantSubCode(t, err, "ACQ.TRADE_HAS_SUCCESS")
		tr, err := e.client.Query(ctx, "C1")
		if err != nil || tr.Status != alipay.TradeSuccess || tr.BuyerOpenID != "open-1" || tr.PaidAt.IsZero() || tr.TradeNo != no {
			t.Fatalf("Query = %+v, %v", tr, err)
		}
	})
}

func TestPayWithCode(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		behavior alipayfake.CodeBehavior
		// queries: statuses seen by successive Query calls after paying
		queries  []alipay.TradeStatus
		pending  bool
		subCode  string
		cancel   string // expected cancel action at the deadline, "" = no cancel
		finalSts alipay.TradeStatus
	}{
		{name: "10000 paid at once", finalSts: alipay.TradeSuccess},
		{name: "10003 then paid on the second query", behavior: alipayfake.CodeBehavior{WaitQueries: 2, BuyerOpenID: "open-9"},
			pending: true, queries: []alipay.TradeStatus{alipay.TradeWaitBuyerPay, alipay.TradeSuccess}, finalSts: alipay.TradeSuccess},
		{name: "10003 never confirmed, cancelled at the deadline", behavior: alipayfake.CodeBehavior{NeverPay: true},
			pending: true, queries: []alipay.TradeStatus{alipay.TradeWaitBuyerPay, alipay.TradeWaitBuyerPay}, cancel: "close", finalSts: alipay.TradeClosed},
		{name: "refused", behavior: alipayfake.CodeBehavior{FailSubCode: "ACQ.BUYER_BALANCE_NOT_ENOUGH", FailSubMsg: "余额不足"},
			subCode: "ACQ.BUYER_BALANCE_NOT_ENOUGH"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			no := fmt.Sprintf("K%d", i)
			code := fmt.Sprintf("28%016d", i)
			e.fake.SetCodeBehavior(code, tt.behavior)
			tr, err := e.client.PayWithCode(ctx, alipay.CodePayRequest{OutTradeNo: no, AuthCode: code, Subject: "gas", AmountFen: 4550})
			switch {
			case tt.subCode != "":
				wantSubCode(t, err, tt.subCode)
				if _, err := e.client.Query(ctx, no); !errors.Is(err, alipay.ErrTradeNotFound) {
					t.Fatalf("refused code left a trade: %v", err)
				}
				return
			case tt.pending:
				if !errors.Is(err, alipay.ErrPending) || tr.Status.Paid() || alipay.IsUnknown(err) {
					t.Fatalf("10003: trade %+v, err %v; want ErrPending and not paid", tr, err)
				}
			default:
				if err != nil || tr.Status != alipay.TradeSuccess || tr.TotalFen != 4550 || tr.TradeNo == "" || tr.PaidAt.IsZero() {
					t.Fatalf("PayWithCode = %+v, %v", tr, err)
				}
			}
			for j, want := range tt.queries {
				got, err := e.client.Query(ctx, no)
				if err != nil || got.Status != want {
					t.Fatalf("query %d = %v, %v; want %v", j+1, got.Status, err, want)
				}
			}
			if tt.cancel != "" {
				res, err := e.client.Cancel(ctx, no)
				if err != nil || res.Action != tt.cancel || res.Retry {
					t.Fatalf("Cancel = %+v, %v", res, err)
				}
			}
			got, err := e.client.Query(ctx, no)
			if err != nil || got.Status != tt.finalSts {
				t.Fatalf("final Query = %+v, %v; want %v", got, err, tt.finalSts)
			}
			if tt.behavior.BuyerOpenID != "" && got.BuyerOpenID != tt.behavior.BuyerOpenID {
				t.Fatalf("buyer = %q", got.BuyerOpenID)
			}
		})
	}
	t.Run("buyer pays as the cancel arrives: retry, then refunded", func(t *testing.T) {
		e := newEnv(t)
		code := "281234567890123496" // …96 without a behaviour set: the racing buyer
		if _, err := e.client.PayWithCode(ctx, alipay.CodePayRequest{OutTradeNo: "R1", AuthCode: code, Subject: "gas", AmountFen: 700}); !errors.Is(err, alipay.ErrPending) {
			t.Fatalf("pay: %v", err)
		}
		if got, _ := e.client.Query(ctx, "R1"); got.Status != alipay.TradeWaitBuyerPay {
			t.Fatalf("before the cancel: %v", got.Status)
		}
		if res, err := e.client.Cancel(ctx, "R1"); !alipay.IsUnknown(err) || !res.Retry {
			t.Fatalf("first cancel: %+v, %v; want retry", res, err)
		}
		if got, _ := e.client.Query(ctx, "R1"); got.Status != alipay.TradeSuccess {
			t.Fatalf("after the first cancel: %v", got.Status)
		}
		if res, err := e.client.Cancel(ctx, "R1"); err != nil || res.Action != "refund" {
			t.Fatalf("second cancel: %+v, %v", res, err)
		}
		if tr, _ := e.fake.Trade("R1"); tr.RefundedFen != 700 || tr.Status != alipayfake.StatusClosed {
			t.Fatalf("at the fake: %+v", tr)
		}
	})
	t.Run("a code ending 92 never confirms", func(t *testing.T) {
		e := newEnv(t)
		if _, err := e.client.PayWithCode(ctx, alipay.CodePayRequest{OutTradeNo: "N1", AuthCode: "281234567890123492", Subject: "gas", AmountFen: 700}); !errors.Is(err, alipay.ErrPending) {
			t.Fatalf("pay: %v", err)
		}
		for range 5 {
			if got, _ := e.client.Query(ctx, "N1"); got.Status != alipay.TradeWaitBuyerPay {
				t.Fatalf("status %v", got.Status)
			}
		}
	})
	t.Run("bad payment code refused locally", func(t *testing.T) {
		e := newEnv(t)
		_, err := e.client.PayWithCode(ctx, alipay.CodePayRequest{OutTradeNo: "K", AuthCode: "28abc", Subject: "gas", AmountFen: 1})
		if !errors.Is(err, alipay.ErrInvalidRequest) || e.fake.Requests("alipay.trade.pay") != 0 {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestPreCreate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	qr, err := e.client.PreCreate(ctx, alipay.PreCreateRequest{OutTradeNo: "Q1", Subject: "gas", AmountFen: 999, NotifyURL: e.notifyURL()})
	if err != nil || !strings.Contains(qr, "out_trade_no=Q1") {
		t.Fatalf("PreCreate = %q, %v", qr, err)
	}
	// The QR code leads to the sandbox cashier.
	if body, status := get(t, qr); status != http.StatusOK || !strings.Contains(body, "9.99") {
		t.Fatalf("QR page: %d %s", status, body)
	}
	if tr, err := e.client.Query(ctx, "Q1"); err != nil || tr.Status != alipay.TradeWaitBuyerPay || tr.TotalFen != 999 {
		t.Fatalf("Query = %+v, %v", tr, err)
	}
}

func TestQueryCloseCancel(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.create("OPEN", 100)
	e.paid("PAID", 2000)
	e.paid("PART", 2000)
	if _, err := e.client.Refund(ctx, alipay.RefundRequest{OutTradeNo: "PART", OutRequestNo: "R1", RefundFen: 500}); err != nil {
		t.Fatal(err)
	}

	t.Run("query unknown trade", func(t *testing.T) {
		_, err := e.client.Query(ctx, "NOPE")
		if !errors.Is(err, alipay.ErrTradeNotFound) {
			t.Fatalf("err = %v", err)
		}
		wantSubCode(t, err, "ACQ.TRADE_NOT_EXIST")
	})

	closeTests := []struct {
		name    string
		no      string
		subCode string
		want    alipay.TradeStatus
	}{
		{"close waiting trade", "OPEN", "", alipay.TradeClosed},
		{"close it again", "OPEN", "", alipay.TradeClosed},
		{"close paid trade", "PAID", "ACQ.TRADE_STATUS_ERROR", alipay.TradeSuccess},
		{"close unknown trade", "NOPE", "ACQ.TRADE_NOT_EXIST", 0},
	}
	for _, tt := range closeTests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.client.Close(ctx, tt.no)
			if tt.subCode != "" {
				wantSubCode(t, err, tt.subCode)
			} else if err != nil {
				t.Fatalf("Close: %v", err)
			}
			if tt.want != 0 {
				if tr, err := e.client.Query(ctx, tt.no); err != nil || tr.Status != tt.want {
					t.Fatalf("Query = %+v, %v", tr, err)
				}
			}
		})
	}

	cancelTests := []struct {
		name   string
		no     string
		action string
		want   alipay.TradeStatus
	}{
		{"cancel paid trade refunds it", "PAID", "refund", alipay.TradeClosed},
		{"cancel again answers the same", "PAID", "refund", alipay.TradeClosed},
		{"cancel partly refunded trade refunds the rest", "PART", "refund", alipay.TradeClosed},
		{"cancel a trade Alipay never saw", "LOST", "close", 0},
	}
	for _, tt := range cancelTests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := e.client.Cancel(ctx, tt.no)
			if err != nil || res.Action != tt.action || res.Retry {
				t.Fatalf("Cancel = %+v, %v", res, err)
			}
			if tt.want != 0 {
				if tr, err := e.client.Query(ctx, tt.no); err != nil || tr.Status != tt.want {
					t.Fatalf("Query = %+v, %v", tr, err)
				}
			}
		})
	}
	if tr, _ := e.fake.Trade("PART"); tr.RefundedFen != 2000 {
		t.Fatalf("PART refunded %d", tr.RefundedFen)
	}

	t.Run("a late payment after cancel is refused", func(t *testing.T) {
		_, err := e.client.PayWithCode(ctx, alipay.CodePayRequest{OutTradeNo: "LOST", AuthCode: "281234567890123456", Subject: "gas", AmountFen: 100})
		wantSubCode(t, err, "ACQ.TRADE_HAS_CLOSE")
	})

	t.Run("cancel asking for a retry is unknown", func(t *testing.T) {
		e.create("RETRY", 100)
		e.fake.FailNext("alipay.trade.cancel", "40004", "ACQ.SYSTEM_ERROR", 1)
		res, err := e.client.Cancel(ctx, "RETRY")
		if !res.Retry || !alipay.IsUnknown(err) {
			t.Fatalf("Cancel = %+v, %v", res, err)
		}
		if res, err := e.client.Cancel(ctx, "RETRY"); err != nil || res.Action != "close" {
			t.Fatalf("retried Cancel = %+v, %v", res, err)
		}
	})
}

func TestRefund(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.paid("T1", 10000)
	e.create("UNPAID", 100)

	steps := []struct {
		name      string
		req       alipay.RefundRequest
		wantFen   int64
		wantTotal int64
		subCode   string
		err       error
	}{
		{name: "partial refund", req: alipay.RefundRequest{OutTradeNo: "T1", OutRequestNo: "R1", RefundFen: 3000, Reason: "overpaid"}, wantFen: 3000, wantTotal: 3000},
		{name: "same request again refunds nothing more", req: alipay.RefundRequest{OutTradeNo: "T1", OutRequestNo: "R1", RefundFen: 3000}, wantFen: 3000, wantTotal: 3000},
		{name: "same request number, other amount", req: alipay.RefundRequest{OutTradeNo: "T1", OutRequestNo: "R1", RefundFen: 100}, subCode: "ACQ.DISCORDANT_REPEAT_REQUEST"},
		{name: "more than what is left", req: alipay.RefundRequest{OutTradeNo: "T1", OutRequestNo: "R2", RefundFen: 7001}, subCode: "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"},
		{name: "exactly what is left", req: alipay.RefundRequest{OutTradeNo: "T1", OutRequestNo: "R2", RefundFen: 7000}, wantFen: 7000, wantTotal: 10000},
		{name: "nothing left", req: alipay.RefundRequest{OutTradeNo: "T1", OutRequestNo: "R3", RefundFen: 1}, subCode: "ACQ.TRADE_STATUS_ERROR"},
		{name: "unpaid trade", req: alipay.RefundRequest{OutTradeNo: "UNPAID", OutRequestNo: "R1", RefundFen: 1}, subCode: "ACQ.TRADE_STATUS_ERROR"},
		{name: "unknown trade", req: alipay.RefundRequest{OutTradeNo: "NOPE", OutRequestNo: "R1", RefundFen: 1}, err: alipay.ErrTradeNotFound},
		{name: "no request number", req: alipay.RefundRequest{OutTradeNo: "T1", RefundFen: 1}, err: alipay.ErrInvalidRequest},
	}
	for _, tt := range steps {
		t.Run(tt.name, func(t *testing.T) {
			r, err := e.client.Refund(ctx, tt.req)
			switch {
			case tt.subCode != "":
				wantSubCode(t, err, tt.subCode)
			case tt.err != nil:
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
			default:
				if err != nil || r.RefundFen != tt.wantFen || r.TotalRefundedFen != tt.wantTotal || r.Status != alipay.RefundSuccess || r.OutRequestNo != tt.req.OutRequestNo {
					t.Fatalf("Refund = %+v, %v", r, err)
				}
			}
		})
	}
	if tr, _ := e.fake.Trade("T1"); tr.RefundedFen != 10000 || len(tr.Refunds) != 2 || tr.Status != alipayfake.StatusClosed {
		t.Fatalf("fake trade after refunds: %+v", tr)
	}
	// The repeat went through the refund query: fund_change N alone
	// proves nothing.
	if n := e.fake.Requests("alipay.trade.fastpay.refund.query"); n != 1 {
		t.Fatalf("refund queries = %d, want 1", n)
	}

	queries := []struct {
		name    string
		reqNo   string
		wantFen int64
		err     error
	}{
		{"first refund", "R1", 3000, nil},
		{"second refund", "R2", 7000, nil},
		{"refund that was refused", "R3", 0, alipay.ErrRefundNotFound},
	}
	for _, tt := range queries {
		t.Run("query "+tt.name, func(t *testing.T) {
			r, err := e.client.QueryRefund(ctx, "T1", tt.reqNo)
			if tt.err != nil {
				if !errors.Is(err, tt.err) || alipay.IsUnknown(err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil || r.RefundFen != tt.wantFen || r.Status != alipay.RefundSuccess || r.RefundedAt.IsZero() {
				t.Fatalf("QueryRefund = %+v, %v", r, err)
			}
		})
	}

	t.Run("refund with unknown outcome, retried", func(t *testing.T) {
		e.paid("T2", 500)
		e.fake.BreakNext("alipay.trade.refund", alipayfake.BreakDropConnection, 1)
		req := alipay.RefundRequest{OutTradeNo: "T2", OutRequestNo: "R1", RefundFen: 500}
		if _, err := e.client.Refund(ctx, req); !alipay.IsUnknown(err) {
			t.Fatalf("dropped answer: %v", err)
		}
		r, err := e.client.Refund(ctx, req)
		if err != nil || r.RefundFen != 500 {
			t.Fatalf("retry = %+v, %v", r, err)
		}
		if tr, _ := e.fake.Trade("T2"); tr.RefundedFen != 500 {
			t.Fatalf("refunded %d fen, want 500 once", tr.RefundedFen)
		}
	})
}

func TestBill(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.paid("B1", 12345)
	e.paid("B2", 100)
	if _, err := e.client.Refund(ctx, alipay.RefundRequest{OutTradeNo: "B1", OutRequestNo: "BR1", RefundFen: 45}); err != nil {
		t.Fatal(err)
	}
	today := e.clock.Now().Format("2006-01-02")

	u, err := e.client.BillURL(ctx, "trade", today)
	if err != nil {
		t.Fatalf("BillURL: %v", err)
	}
	bill, err := e.client.DownloadBillFile(ctx, u, t.TempDir())
	if err != nil {
		t.Fatalf("DownloadBillFile: %v", err)
	}
	defer bill.Close()
	var rows []alipay.BillRow
	sum, err := bill.Rows(func(r alipay.BillRow) error { rows = append(rows, r); return nil })
	if err != nil {
		t.Fatalf("Rows: %v", err)
	}
	if sum.Account != testAppID || sum.Payments != 2 || sum.Refunds != 1 || sum.NetFen != 12400 || sum.FeeFen != 0 {
		t.Errorf("summary %+v", sum)
	}
	tr1, _ := e.fake.Trade("B1")
	if len(rows) != 3 {
		t.Fatalf("%d rows: %+v", len(rows), rows)
	}
	byKey := map[string]alipay.BillRow{}
	for _, r := range rows {
		byKey[r.OutTradeNo+"/"+r.BizType] = r
	}
	if r := byKey["B1/交易"]; r.TradeNo != tr1.TradeNo || r.AmountFen != 12345 || r.ReceivedFen != 12345 || r.IsRefund() || r.FinishedAt.IsZero() {
		t.Errorf("payment row %+v", r)
	}
	if r := byKey["B1/退款"]; r.AmountFen != -45 || r.RefundNo != "BR1" || !r.IsRefund() {
		t.Errorf("refund row %+v", r)
	}
	if r := byKey["B2/交易"]; r.AmountFen != 100 {
		t.Errorf("payment row %+v", r)
	}

	t.Run("GBK files and names", func(t *testing.T) {
		u, err := e.client.BillURL(ctx, "trade", today)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("bill is not a zip: %v", err)
		}
		files := map[string]string{}
		for _, f := range zr.File {
			name, err := simplifiedchinese.GBK.NewDecoder().String(f.Name)
			if err != nil || !f.NonUTF8 {
				t.Fatalf("name %q: %v (NonUTF8 %v)", f.Name, err, f.NonUTF8)
			}
			rc, _ := f.Open()
			b, _ := io.ReadAll(rc)
			rc.Close()
			if utf8.Valid(b) {
				t.Errorf("%s is UTF-8, want GBK", name)
			}
			text, err := simplifiedchinese.GBK.NewDecoder().Bytes(b)
			if err != nil {
				t.Fatal(err)
			}
			files[name] = string(text)
		}
		detail := files[testAppID+"_20240501_业务明细.csv"]
		summary := files[testAppID+"_20240501_业务明细(汇总).csv"]
		for _, want := range []string{"支付宝交易号,商户订单号,业务类型", tr1.TradeNo + ",B1,交易", "123.45,123.45", "B1,退款", "-0.45,-0.45", "BR1", "#交易合计：2笔，退款合计：1笔"} {
			if !strings.Contains(detail, want) {
				t.Errorf("detail lacks %q:\n%s", want, detail)
			}
		}
		if !strings.Contains(summary, "合计,,2,1,124.00,124.00") {
			t.Errorf("summary:\n%s", summary)
		}
	})

	t.Run("link expires after 30 s", func(t *testing.T) {
		u, err := e.client.BillURL(ctx, "trade", today)
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(31 * time.Second)
		if _, err := e.client.DownloadBillFile(ctx, u, t.TempDir()); err == nil || !strings.Contains(err.Error(), "404") {
			t.Fatalf("expired link: %v", err)
		}
	})

	bad := []struct {
		name, billType, date string
		subCode              string
		err                  error
	}{
		{"future day", "trade", "2099-01-01", "isp.bill_not_exist", nil},
		{"bad date", "trade", "2024-13-01", "", alipay.ErrInvalidRequest},
		{"bad type", "payments", today, "", alipay.ErrInvalidRequest},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.client.BillURL(ctx, tt.billType, tt.date)
			if tt.subCode != "" {
				wantSubCode(t, err, tt.subCode)
			} else if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v", err)
			}
		})
	}
	t.Run("month bill", func(t *testing.T) {
		if _, err := e.client.BillURL(ctx, "trade", "2024-05"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestBusinessFailures(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.create("F1", 100)
	tests := []struct {
		name, method, code, subCode string
		call                        func() error
		unknown                     bool
	}{
		{"query permission", "alipay.trade.query", "40006", "isv.insufficient-isv-permissions",
			func() error { _, err := e.client.Query(ctx, "F1"); return err }, false},
		{"create refused", "alipay.trade.create", "40004", "ACQ.ACCESS_FORBIDDEN",
			func() error {
				_, err := e.client.Create(ctx, alipay.CreateRequest{OutTradeNo: "F2", Subject: "s", AmountFen: 1, BuyerOpenID: "b"})
				return err
			}, false},
		{"close system error is unknown", "alipay.trade.close", "40004", "ACQ.SYSTEM_ERROR",
			func() error { return e.client.Close(ctx, "F1") }, true},
		{"service unavailable is unknown", "alipay.trade.pay", "20000", "isp.unknow-error",
			func() error {
				_, err := e.client.PayWithCode(ctx, alipay.CodePayRequest{OutTradeNo: "F3", AuthCode: "281111111111111111", Subject: "s", AmountFen: 1})
				return err
			}, true},
		{"precreate refused", "alipay.trade.precreate", "40004", "ACQ.TOTAL_FEE_EXCEED",
			func() error {
				_, err := e.client.PreCreate(ctx, alipay.PreCreateRequest{OutTradeNo: "F4", Subject: "s", AmountFen: 1})
				return err
			}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.fake.FailNext(tt.method, tt.code, tt.subCode, 1)
			err := tt.call()
			be := bizError(t, err)
			if be.Code != tt.code || be.SubCode != tt.subCode || alipay.IsUnknown(err) != tt.unknown {
				t.Fatalf("err = %v (unknown %v)", err, alipay.IsUnknown(err))
			}
		})
	}

	t.Run("request signed with another key is refused by the gateway", func(t *testing.T) {
		other, err := alipayfake.NewKeys()
		if err != nil {
			t.Fatal(err)
		}
		c := e.newClient(alipay.Config{AppPrivateKey: other.AppPrivateKey})
		_, err = c.Query(ctx, "F1")
		if be := bizError(t, err); be.Code != "40002" || be.SubCode != "isv.invalid-signature" {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestUnknownOutcomes checks that every answer the client cannot trust is
// reported unknown, and that the trade can then be resolved by a query.
func TestUnknownOutcomes(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		setup func(e *env) *alipay.Client
	}{
		{"response signed with another key", func(e *env) *alipay.Client {
			e.fake.BreakNext("alipay.trade.pay", alipayfake.BreakBadSignature, 1)
			return e.client
		}},
		{"response node changed after signing", func(e *env) *alipay.Client {
			e.fake.BreakNext("alipay.trade.pay", alipayfake.BreakTamperedNode, 1)
			return e.client
		}},
		{"unsigned response", func(e *env) *alipay.Client {
			e.fake.BreakNext("alipay.trade.pay", alipayfake.BreakUnsigned, 1)
			return e.client
		}},
		{"connection dropped", func(e *env) *alipay.Client {
			e.fake.BreakNext("alipay.trade.pay", alipayfake.BreakDropConnection, 1)
			return e.client
		}},
		{"proxy error page", func(e *env) *alipay.Client {
			e.fake.BreakNext("alipay.trade.pay", alipayfake.BreakBadGateway, 1)
			return e.client
		}},
		{"timeout", func(e *env) *alipay.Client {
			e.fake.SetLatency(2 * time.Second)
			return e.newClient(alipay.Config{HTTPClient: &http.Client{Timeout: 200 * time.Millisecond}})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			c := tt.setup(e)
			_, err := c.PayWithCode(ctx, alipay.CodePayRequest{OutTradeNo: "U1", AuthCode: "281234567890123456", Subject: "gas", AmountFen: 100})
			if !alipay.IsUnknown(err) {
				t.Fatalf("err = %v, want unknown", err)
			}
			var be *alipay.BizError
			if errors.As(err, &be) {
				t.Fatalf("unverified answer surfaced as a business error: %v", err)
			}
			e.fake.SetLatency(0)
			// The payment did happen: only a query can tell.
			tr, err := e.client.Query(ctx, "U1")
			if err != nil || tr.Status != alipay.TradeSuccess {
				t.Fatalf("Query = %+v, %v", tr, err)
			}
		})
	}
	t.Run("gateway unreachable", func(t *testing.T) {
		e := newEnv(t)
		e.gw.Close()
		_, err := e.client.Query(ctx, "U1")
		if !alipay.IsUnknown(err) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("canceled context", func(t *testing.T) {
		e := newEnv(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := e.client.Query(cctx, "U1")
		if !alipay.IsUnknown(err) || !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	})
}
