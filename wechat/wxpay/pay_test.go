package wxpay_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gaspay/wechat/wxpay"
	"gaspay/wechat/wxpay/wxpayfake"
)

func TestPrepayJSAPI(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.fake.AddUser(appAccount, "oAccountUser000000000000000")

	base := e.jsapiOrder(3000)
	first, err := e.client.PrepayJSAPI(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	paid := e.paidOrder(t, 1000)
	expire := time.Now().Add(15 * time.Minute)

	tests := []struct {
		name       string
		req        func() wxpay.PrepayRequest
		wantErr    error  // sentinel, if any
		wantCode   string // WeChat code, if any
		wantPrepay string // expected prepay_id, if known
	}{
		{name: "retry with the same parameters gets the same prepay_id", req: func() wxpay.PrepayRequest { return base }, wantPrepay: first.PrepayID},
		{name: "same number with another amount", req: func() wxpay.PrepayRequest { r := base; r.AmountFen = 3100; return r }, wantCode: "INVALID_REQUEST"},
		{name: "paid order", req: func() wxpay.PrepayRequest { return paid }, wantErr: wxpay.ErrOrderPaid, wantCode: "ORDERPAID"},
		{name: "time_expire in 15 minutes", req: func() wxpay.PrepayRequest { r := e.jsapiOrder(500); r.TimeExpire = expire; return r }},
		{name: "app id of another merchant", req: func() wxpay.PrepayRequest { r := e.jsapiOrder(500); r.AppID = "wx0000000000000000"; return r }, wantCode: "APPID_MCHID_NOT_MATCH"},
		{name: "openid of another app", req: func() wxpay.PrepayRequest { r := e.jsapiOrder(500); r.AppID = appAccount; return r }, wantCode: "PARAM_ERROR"},
		{name: "out_trade_no too short", req: func() wxpay.PrepayRequest { r := e.jsapiOrder(500); r.OutTradeNo = "A1234"; return r }, wantErr: wxpay.ErrInvalidRequest},
		{name: "out_trade_no with a dot", req: func() wxpay.PrepayRequest { r := e.jsapiOrder(500); r.OutTradeNo = "GAS.000001"; return r }, wantErr: wxpay.ErrInvalidRequest},
		{name: "zero amount", req: func() wxpay.PrepayRequest { return e.jsapiOrder(0) }, wantErr: wxpay.ErrInvalidRequest},
		{name: "time_expire under a minute ahead", req: func() wxpay.PrepayRequest {
			r := e.jsapiOrder(500)
			r.TimeExpire = time.Now().Add(30 * time.Second)
			return r
		}, wantErr: wxpay.ErrInvalidRequest},
		{name: "notify_url with a query", req: func() wxpay.PrepayRequest { r := e.jsapiOrder(500); r.NotifyURL += "?a=1"; return r }, wantErr: wxpay.ErrInvalidRequest},
		{name: "no openid", req: func() wxpay.PrepayRequest { r := e.jsapiOrder(500); r.OpenID = ""; return r }, wantErr: wxpay.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req()
			p, err := e.client.PrepayJSAPI(ctx, req)
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got := wxpay.Code(err); got != tt.wantCode {
				t.Fatalf("code = %q (err %v), want %q", got, err, tt.wantCode)
			}
			if tt.wantErr != nil || tt.wantCode != "" {
				if wxpay.IsUnknown(err) {
					t.Fatalf("a refusal must not be unknown: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantPrepay != "" && p.PrepayID != tt.wantPrepay {
				t.Errorf("prepay_id = %s, want %s", p.PrepayID, tt.wantPrepay)
			}
			if !req.TimeExpire.IsZero() {
				o, _ := e.fake.Order(req.OutTradeNo)
				if _, off := o.ExpiresAt.Zone(); off != 8*3600 || !o.ExpiresAt.Equal(req.TimeExpire.Truncate(time.Second)) {
					t.Errorf("fake saw time_expire %v, want %v in +08:00", o.ExpiresAt, req.TimeExpire)
				}
			}
		})
	}
}

func TestPaySignVerifiesWithMerchantKey(t *testing.T) {
	e := newEnv(t)
	req := e.jsapiOrder(12345)
	p, err := e.client.PrepayJSAPI(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if p.AppID != appMini || p.SignType != "RSA" || p.Package != "prepay_id="+p.PrepayID || p.NonceStr == "" || p.TimeStamp == "" {
		t.Fatalf("params = %+v", p)
	}
	// What the WeChat client checks before opening the payment sheet.
	msg := p.AppID + "\n" + p.TimeStamp + "\n" + p.NonceStr + "\n" + p.Package + "\n"
	sig, err := base64.StdEncoding.DecodeString(p.PaySign)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(msg))
	if err := rsa.VerifyPKCS1v15(&e.keys.MerchantKey.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		t.Fatalf("paySign does not verify: %v", err)
	}
	o, ok := e.fake.Order(req.OutTradeNo)
	if !ok || o.PrepayID != p.PrepayID || o.TotalFen != 12345 || o.State != wxpayfake.StateNotPay {
		t.Fatalf("fake order = %+v", o)
	}
	// The JSON the front end receives.
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"appId"`, `"timeStamp"`, `"nonceStr"`, `"package"`, `"signType"`, `"paySign"`} {
		if !strings.Contains(string(b), key) || strings.Contains(string(b), "PrepayID") {
			t.Fatalf("JSON %s lacks %s or leaks PrepayID", b, key)
		}
	}
}

func TestPrepayNativeAndPay(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	no := orderNo()
	codeURL, err := e.client.PrepayNative(ctx, wxpay.NativeRequest{
		AppID: appAccount, OutTradeNo: no, Description: "营业厅扫码缴费", AmountFen: 8800, NotifyURL: e.notifyURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(codeURL, "weixin://wxpay/bizpayurl?pr=") {
		t.Fatalf("code_url = %q", codeURL)
	}
	res, err := e.fake.Pay(ctx, no, "oScanner0000000000000000000")
	if err != nil || !res.Acknowledged() {
		t.Fatalf("pay: %+v, %v", res, err)
	}
	tx, err := e.client.Query(ctx, no)
	if err != nil {
		t.Fatal(err)
	}
	if tx.State != wxpay.TradeSuccess || tx.TradeType != "NATIVE" || tx.PayerOpenID != "oScanner0000000000000000000" || tx.TotalFen != 8800 {
		t.Fatalf("tx = %+v", tx)
	}
}

func TestQueryAndClose(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()

	t.Run("unknown order", func(t *testing.T) {
		_, err := e.client.Query(ctx, orderNo())
		var ae *wxpay.APIError
		if !errors.Is(err, wxpay.ErrOrderNotFound) || !errors.As(err, &ae) || ae.HTTPStatus != http.StatusNotFound || wxpay.IsUnknown(err) {
			t.Fatalf("err = %v", err)
		}
		if ae.RequestID == "" {
			t.Error("APIError without request id")
		}
	})

	t.Run("unpaid, then paid", func(t *testing.T) {
		req := e.jsapiOrder(4200)
		if _, err := e.client.PrepayJSAPI(ctx, req); err != nil {
			t.Fatal(err)
		}
		tx, err := e.client.Query(ctx, req.OutTradeNo)
		if err != nil || tx.State != wxpay.TradeNotPay || tx.TransactionID != "" || tx.State.Paid() {
			t.Fatalf("tx = %+v, %v", tx, err)
		}
		if err := e.fake.PayQuietly(req.OutTradeNo); err != nil {
			t.Fatal(err)
		}
		tx, err = e.client.Query(ctx, req.OutTradeNo)
		if err != nil {
			t.Fatal(err)
		}
		want := wxpay.Transaction{AppID: appMini, MchID: testMchID, OutTradeNo: req.OutTradeNo, TradeType: "JSAPI",
			State: wxpay.TradeSuccess, TotalFen: 4200, PayerTotalFen: 4200, Currency: "CNY", PayerOpenID: req.OpenID, Attach: req.Attach}
		got := tx
		got.TransactionID, got.SuccessTime, got.StateDesc = "", time.Time{}, ""
		if got != want || len(tx.TransactionID) != 28 || tx.SuccessTime.IsZero() || !tx.State.Paid() {
			t.Fatalf("tx = %+v\nwant %+v", tx, want)
		}
		if err := e.client.Close(ctx, req.OutTradeNo); !errors.Is(err, wxpay.ErrOrderPaid) {
			t.Fatalf("close paid: %v", err)
		}
	})

	t.Run("close unpaid, twice", func(t *testing.T) {
		req := e.jsapiOrder(100)
		if _, err := e.client.PrepayJSAPI(ctx, req); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := e.client.Close(ctx, req.OutTradeNo); err != nil {
				t.Fatal(err)
			}
		}
		tx, err := e.client.Query(ctx, req.OutTradeNo)
		if err != nil || tx.State != wxpay.TradeClosed {
			t.Fatalf("tx = %+v, %v", tx, err)
		}
		if _, err := e.fake.Pay(ctx, req.OutTradeNo, ""); !errors.Is(err, wxpayfake.ErrOrderClosed) {
			t.Fatalf("paying a closed order: %v", err)
		}
		if _, err := e.client.PrepayJSAPI(ctx, req); !errors.Is(err, wxpay.ErrOrderClosed) {
			t.Fatalf("prepay of a closed order: %v", err)
		}
	})

	t.Run("close unknown order", func(t *testing.T) {
		if err := e.client.Close(ctx, orderNo()); !errors.Is(err, wxpay.ErrOrderNotFound) {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("out_trade_no with | and * survives escaping and signing", func(t *testing.T) {
		req := e.jsapiOrder(100)
		req.OutTradeNo = "GAS|2024*" + orderNo()[3:15]
		if _, err := e.client.PrepayJSAPI(ctx, req); err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.Query(ctx, req.OutTradeNo); err != nil {
			t.Fatal(err)
		}
		if err := e.client.Close(ctx, req.OutTradeNo); err != nil {
			t.Fatal(err)
		}
	})
}

func TestExpiredOrderStaysNotPayUntilClosed(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	req := e.jsapiOrder(900)
	req.TimeExpire = time.Now().Add(2 * time.Minute)
	if _, err := e.client.PrepayJSAPI(ctx, req); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10 * time.Minute)
	if _, err := e.fake.Pay(ctx, req.OutTradeNo, ""); !errors.Is(err, wxpayfake.ErrOrderExpired) {
		t.Fatalf("paying an expired order: %v", err)
	}
	tx, err := e.client.Query(ctx, req.OutTradeNo)
	if err != nil || tx.State != wxpay.TradeNotPay {
		t.Fatalf("expired order: %+v, %v", tx, err)
	}
	if err := e.client.Close(ctx, req.OutTradeNo); err != nil {
		t.Fatal(err)
	}
	if tx, err = e.client.Query(ctx, req.OutTradeNo); err != nil || tx.State != wxpay.TradeClosed {
		t.Fatalf("after close: %+v, %v", tx, err)
	}
}

func TestPayDeliversNotification(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	req := e.jsapiOrder(2500)
	if _, err := e.client.PrepayJSAPI(ctx, req); err != nil {
		t.Fatal(err)
	}
	res, err := e.fake.Pay(ctx, req.OutTradeNo, "")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Acknowledged() || res.StatusCode != http.StatusNoContent {
		t.Fatalf("notify result = %+v", res)
	}
	notes, errs := e.paymentNotes()
	if len(errs) != 0 || len(notes) != 1 {
		t.Fatalf("notes %v, errs %v", notes, errs)
	}
	n := notes[0]
	tx, err := e.client.Query(ctx, req.OutTradeNo)
	if err != nil {
		t.Fatal(err)
	}
	if n.EventType != "TRANSACTION.SUCCESS" || !strings.HasPrefix(n.ID, "EV-") || n.CreateTime.IsZero() || n.Summary == "" {
		t.Fatalf("notification = %+v", n)
	}
	if n.Resource != tx {
		t.Fatalf("notified %+v\nqueried  %+v", n.Resource, tx)
	}
	if _, err := e.fake.Pay(ctx, req.OutTradeNo, ""); !errors.Is(err, wxpayfake.ErrAlreadyPaid) {
		t.Fatalf("second payment: %v", err)
	}
}

func TestPayWithMerchantDown(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	req := e.jsapiOrder(700)
	req.NotifyURL = down.URL + "/notify/pay"
	if _, err := e.client.PrepayJSAPI(ctx, req); err != nil {
		t.Fatal(err)
	}
	res, err := e.fake.Pay(ctx, req.OutTradeNo, "")
	if err != nil || res.Err == nil || res.Acknowledged() {
		t.Fatalf("pay: %+v, %v", res, err)
	}
	// The money is taken all the same: only a query finds it.
	if tx, err := e.client.Query(ctx, req.OutTradeNo); err != nil || tx.State != wxpay.TradeSuccess {
		t.Fatalf("query: %+v, %v", tx, err)
	}
}

func TestNotifyRetriesUntilAcknowledged(t *testing.T) {
	var attempts atomic.Int32
	ids := make(chan string, 10)
	e := newEnv(t, func(c *wxpayfake.Config) {
		c.NotifyRetries = []time.Duration{10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond}
	})
	merchant := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := e.client.ParsePaymentNotification(r)
		if err != nil {
			t.Errorf("parse: %v", err)
		}
		ids <- n.ID
		if attempts.Add(1) < 3 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(merchant.Close)
	req := e.jsapiOrder(300)
	req.NotifyURL = merchant.URL
	if _, err := e.client.PrepayJSAPI(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	if res, err := e.fake.Pay(t.Context(), req.OutTradeNo, ""); err != nil || res.Acknowledged() {
		t.Fatalf("first attempt: %+v, %v", res, err)
	}
	first := <-ids
	for range 2 {
		select {
		case id := <-ids:
			if id != first {
				t.Fatalf("retry id %s, first %s: retries must keep the id", id, first)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no retry")
		}
	}
	e.fake.Close() // waits for the retry goroutine, which has stopped after the ack
	if n := attempts.Load(); n != 3 {
		t.Fatalf("attempts = %d, want 3", n)
	}
}
