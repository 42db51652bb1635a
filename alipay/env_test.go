package alipay_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"gaspay/alipay"
	"gaspay/alipay/alipayfake"
	"gaspay/internal/beijing"
)

const testAppID = "2021000000000001"

// sharedKeys generates the test key pairs once per test binary: RSA key
// generation is slow, and every test may use the same keys. Test-only, and
// never written anywhere.
var sharedKeys = sync.OnceValues(alipayfake.NewKeys)

func keys(t testing.TB) alipayfake.Keys {
	t.Helper()
	k, err := sharedKeys()
	if err != nil {
		t.Fatalf("keys: %v", err)
	}
	return k
}

// clock is the fake's injectable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is one fake gateway, one client of it, and a merchant notification
// endpoint that parses with the client and records what it accepted.
type env struct {
	t      testing.TB
	fake   *alipayfake.Server
	gw     *httptest.Server
	client *alipay.Client
	clock  *clock
	notify *httptest.Server

	mu       sync.Mutex
	accepted []alipay.Notification
	refused  []error
}

func newEnv(t testing.TB) *env {
	t.Helper()
	k := keys(t)
	e := &env{t: t, clock: &clock{now: time.Date(2024, 5, 1, 10, 0, 0, 0, beijing.Location())}}
	fake, err := alipayfake.New(alipayfake.Config{
		AppID:            testAppID,
		AppPublicKey:     k.AppPublicKey,
		AlipayPrivateKey: k.AlipayPrivateKey,
		Now:              e.clock.Now,
	})
	if err != nil {
		t.Fatalf("fake: %v", err)
	}
	e.fake = fake
	e.gw = httptest.NewServer(fake)
	t.Cleanup(e.gw.Close)
	e.client = e.newClient(alipay.Config{})
	e.notify = httptest.NewServer(http.HandlerFunc(e.serveNotify))
	t.Cleanup(e.notify.Close)
	return e
}

// newClient builds a client of the env's fake; fields set in cfg win.
func (e *env) newClient(cfg alipay.Config) *alipay.Client {
	e.t.Helper()
	k := keys(e.t)
	if cfg.AppID == "" {
		cfg.AppID = testAppID
	}
	if cfg.AppPrivateKey == "" {
		cfg.AppPrivateKey = k.AppPrivateKey
	}
	if cfg.AlipayPublicKey == "" {
		cfg.AlipayPublicKey = k.AlipayPublicKey
	}
	if cfg.GatewayURL == "" {
		cfg.GatewayURL = e.gw.URL + alipayfake.GatewayPath
	}
	c, err := alipay.New(cfg)
	if err != nil {
		e.t.Fatalf("client: %v", err)
	}
	return c
}

// serveNotify is the merchant's notification handler, as the server's
// will be: parse, record, answer "success" or not.
func (e *env) serveNotify(w http.ResponseWriter, r *http.Request) {
	n, err := e.client.ParseNotification(r.Context(), r)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		e.refused = append(e.refused, err)
		http.Error(w, "fail", http.StatusBadRequest)
		return
	}
	e.accepted = append(e.accepted, n)
	alipay.Ack(w)
}

func (e *env) notifications() ([]alipay.Notification, []error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]alipay.Notification(nil), e.accepted...), append([]error(nil), e.refused...)
}

func (e *env) notifyURL() string { return e.notify.URL + "/alipay/notify" }

// create makes a waiting mini-program trade.
func (e *env) create(no string, fen int64) {
	e.t.Helper()
	_, err := e.client.Create(context.Background(), alipay.CreateRequest{
		OutTradeNo: no, Subject: "gas", AmountFen: fen, BuyerOpenID: "buyer-1", NotifyURL: e.notifyURL(),
	})
	if err != nil {
		e.t.Fatalf("create %s: %v", no, err)
	}
}

// paid makes a paid trade, quietly.
func (e *env) paid(no string, fen int64) {
	e.t.Helper()
	e.create(no, fen)
	if err := e.fake.PayQuietly(no); err != nil {
		e.t.Fatalf("pay %s: %v", no, err)
	}
}

func bizError(t *testing.T, err error) *alipay.BizError {
	t.Helper()
	var be *alipay.BizError
	if !errors.As(err, &be) {
		t.Fatalf("error %v is not a *BizError", err)
	}
	return be
}

func wantSubCode(t *testing.T, err error, subCode string) {
	t.Helper()
	if be := bizError(t, err); be.SubCode != subCode {
		t.Fatalf("sub code = %q, want %q (%v)", be.SubCode, subCode, err)
	}
	if alipay.IsUnknown(err) {
		t.Fatalf("%v is a definite failure, reported unknown", err)
	}
}
