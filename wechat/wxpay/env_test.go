package wxpay_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"gaspay/wechat/wxpay"
	"gaspay/wechat/wxpay/wxpayfake"
)

const (
	testMchID  = "1900000109"
	appMini    = "wxd678efh567hg6787" // mini-program
	appAccount = "wx8888888888888888" // official account
	appKiosk   = "wx6666666666666666"
)

// clock is the fake's business clock: wall time plus an offset that tests
// move. Protocol timestamps stay on the wall clock, as the SDK needs.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = time.Until(t)
}

// env is one merchant: keys, the fake behind httptest, our client pointed
// at it, and a merchant notification endpoint that parses with the client.
type env struct {
	keys      wxpayfake.Keys
	clock     *clock
	fake      *wxpayfake.Server
	api       *httptest.Server
	client    *wxpay.Client
	notifyURL string // payments
	refundURL string // refunds

	mu          sync.Mutex
	payments    []wxpay.Notification[wxpay.Transaction]
	paymentErrs []error
	refunds     []wxpay.Notification[wxpay.Refund]
	refundErrs  []error
}

// orderNo returns a fresh out_trade_no (23 characters).
func orderNo() string { return fmt.Sprintf("GAS%020d", rand.Uint64()) }

func newEnv(tb testing.TB, tweak ...func(*wxpayfake.Config)) *env {
	tb.Helper()
	keys, err := wxpayfake.NewKeys()
	if err != nil {
		tb.Fatal(err)
	}
	e := &env{keys: keys, clock: &clock{}}
	cfg := keys.Config(testMchID, appMini, appAccount, appKiosk)
	cfg.Now = e.clock.Now
	for _, f := range tweak {
		f(&cfg)
	}
	e.fake, err = wxpayfake.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(e.fake.Close)
	e.api = httptest.NewServer(e.fake)
	tb.Cleanup(e.api.Close)
	e.client = e.newClient(tb, nil)

	mux := http.NewServeMux()
	mux.HandleFunc("POST /notify/pay", func(w http.ResponseWriter, r *http.Request) {
		n, err := e.client.ParsePaymentNotification(r)
		e.mu.Lock()
		if err != nil {
			e.paymentErrs = append(e.paymentErrs, err)
		} else {
			e.payments = append(e.payments, n)
		}
		e.mu.Unlock()
		ack(w, err)
	})
	mux.HandleFunc("POST /notify/refund", func(w http.ResponseWriter, r *http.Request) {
		n, err := e.client.ParseRefundNotification(r)
		e.mu.Lock()
		if err != nil {
			e.refundErrs = append(e.refundErrs, err)
		} else {
			e.refunds = append(e.refunds, n)
		}
		e.mu.Unlock()
		ack(w, err)
	})
	merchant := httptest.NewServer(mux)
	tb.Cleanup(merchant.Close)
	e.notifyURL = merchant.URL + "/notify/pay"
	e.refundURL = merchant.URL + "/notify/refund"
	return e
}

// ack answers a notification in WeChat's format: 204, or an error status
// with {"code":"FAIL"} so that WeChat retries.
func ack(w http.ResponseWriter, err error) {
	if err == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"code": "FAIL", "message": "bad notification"})
}

// newClient builds a client for this merchant; change adjusts the config.
func (e *env) newClient(tb testing.TB, change func(*wxpay.Config)) *wxpay.Client {
	tb.Helper()
	cfg := wxpay.Config{
		MchID:               testMchID,
		MerchantSerialNo:    e.keys.MerchantSerialNo,
		MerchantKey:         e.keys.MerchantKey,
		PlatformPublicKeyID: e.keys.PlatformPublicKeyID,
		PlatformPublicKey:   &e.keys.PlatformKey.PublicKey,
		APIv3Key:            e.keys.APIv3Key,
		BaseURL:             e.api.URL,
		HTTPClient:          &http.Client{Timeout: 5 * time.Second},
	}
	if change != nil {
		change(&cfg)
	}
	c, err := wxpay.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func (e *env) paymentNotes() ([]wxpay.Notification[wxpay.Transaction], []error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]wxpay.Notification[wxpay.Transaction](nil), e.payments...), append([]error(nil), e.paymentErrs...)
}

func (e *env) refundNotes() ([]wxpay.Notification[wxpay.Refund], []error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]wxpay.Notification[wxpay.Refund](nil), e.refunds...), append([]error(nil), e.refundErrs...)
}

// jsapiOrder is a valid JSAPI request for a fresh order number.
func (e *env) jsapiOrder(amountFen int64) wxpay.PrepayRequest {
	return wxpay.PrepayRequest{
		AppID:       appMini,
		OpenID:      "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
		OutTradeNo:  orderNo(),
		Description: "燃气充值 IC卡 1002003004",
		AmountFen:   amountFen,
		NotifyURL:   e.notifyURL,
		Attach:      "acct=1002003004",
	}
}

// paidOrder places a JSAPI order and pays it quietly (no notification).
func (e *env) paidOrder(tb testing.TB, amountFen int64) wxpay.PrepayRequest {
	tb.Helper()
	req := e.jsapiOrder(amountFen)
	if _, err := e.client.PrepayJSAPI(tb.Context(), req); err != nil {
		tb.Fatal(err)
	}
	if err := e.fake.PayQuietly(req.OutTradeNo); err != nil {
		tb.Fatal(err)
	}
	return req
}
