// Package apptest runs whole gaspay servers in tests: real app assembly,
// real router, on the test's own storage (see testenv), with fake providers
// speaking their real wire protocols. Several instances of one Env share the
// database, Redis and fakes, as replicas do.
package apptest

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"gaspay/alipay/alipayfake"
	"gaspay/app"
	"gaspay/config"
	"gaspay/customer"
	"gaspay/internal/testenv"
	"gaspay/iot/ctwing/ctwingfake"
	"gaspay/models"
	"gaspay/rediskv"
	"gaspay/wechat/wxfake"
	"gaspay/wechat/wxpay/wxpayfake"
)

// Test WeChat applications the fake knows.
const (
	MPAppID  = "wxtestminiprogram"
	MPSecret = "mp-secret-0123456789abcdef"
	OAAppID  = "wxtestofficialacc"
	OASecret = "oa-secret-0123456789abcdef"
)

// Env is the shared world of a test: one database, one Redis, one fake
// WeChat, one fake WeChat Pay and one clock.
type Env struct {
	T     testing.TB
	DB    *gorm.DB
	Redis *rediskv.Client
	WX    *wxfake.Server
	WXURL string
	// Pay is WeChat Pay; its merchant is MchID.
	Pay *wxpayfake.Server
	// Alipay is Alipay's gateway; the app is AlipayAppID.
	Alipay *alipayfake.Server
	// CTWing is the meter platform; it pushes to the first instance.
	CTWing *ctwingfake.Server
	Clock  *Clock
	env    map[string]string
	n      int
}

// MchID is the test merchant.
const MchID = "1900000109"

// Clock is the business clock of an Env: real time plus an offset that
// tests move forward.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = time.Until(t)
}

// payKeys are generated once per test binary: RSA keys take a while, and
// no test depends on their values.
var payKeys = sync.OnceValues(wxpayfake.NewKeys)

var alipayKeys = sync.OnceValues(alipayfake.NewKeys)

// AlipayAppID is the test Alipay app.
const AlipayAppID = "2021000000000042"

// New makes an Env. vars override the GASPAY_* settings.
func New(t testing.TB, vars map[string]string) *Env {
	t.Helper()
	e := &Env{T: t, DB: testenv.DB(t), Redis: testenv.Redis(t)}
	e.WX = wxfake.New(map[string]string{MPAppID: MPSecret, OAAppID: OASecret})
	srv := httptest.NewServer(e.WX)
	t.Cleanup(srv.Close)
	e.WXURL = srv.URL
	e.Clock = &Clock{}
	keys, err := payKeys()
	if err != nil {
		t.Fatal(err)
	}
	pcfg := keys.Config(MchID, MPAppID, OAAppID)
	pcfg.Now = e.Clock.Now
	e.Pay, err = wxpayfake.New(pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Pay.Close)
	paySrv := httptest.NewServer(e.Pay)
	t.Cleanup(paySrv.Close)
	akeys, err := alipayKeys()
	if err != nil {
		t.Fatal(err)
	}
	e.Alipay, err = alipayfake.New(alipayfake.Config{AppID: AlipayAppID, AppPublicKey: akeys.AppPublicKey,
		AlipayPrivateKey: akeys.AlipayPrivateKey, Now: e.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	aliSrv := httptest.NewServer(e.Alipay)
	t.Cleanup(aliSrv.Close)
	e.CTWing = ctwingfake.New(ctwingfake.Config{AppKey: CTWingAppKey, AppSecret: ctwingSecret, MasterKey: ctwingMasterKey,
		ProductID: CTWingProductID, Now: e.Clock.Now})
	ctSrv := httptest.NewServer(e.CTWing)
	t.Cleanup(ctSrv.Close)
	e.env = map[string]string{
		"GASPAY_WXPAY_MCHID":         MchID,
		"GASPAY_WXPAY_SERIAL_NO":     keys.MerchantSerialNo,
		"GASPAY_WXPAY_PRIVATE_KEY":   pemKey(t, keys.MerchantKey),
		"GASPAY_WXPAY_PUBLIC_KEY_ID": keys.PlatformPublicKeyID,
		"GASPAY_WXPAY_PUBLIC_KEY":    pemPublic(t, &keys.PlatformKey.PublicKey),
		"GASPAY_WXPAY_APIV3_KEY":     keys.APIv3Key,
		"GASPAY_WXPAY_BASE_URL":      paySrv.URL,
		"GASPAY_ADMIN_TOKEN":         AdminToken,
		"GASPAY_ALIPAY_APPID":        AlipayAppID,
		"GASPAY_ALIPAY_PRIVATE_KEY":  akeys.AppPrivateKey,
		"GASPAY_ALIPAY_PUBLIC_KEY":   akeys.AlipayPublicKey,
		"GASPAY_ALIPAY_GATEWAY":      aliSrv.URL + alipayfake.GatewayPath,
		"GASPAY_WECHAT_API_BASE":     srv.URL,
		"GASPAY_CTWING_APP_KEY":      CTWingAppKey,
		"GASPAY_CTWING_APP_SECRET":   ctwingSecret,
		"GASPAY_CTWING_MASTER_KEY":   ctwingMasterKey,
		"GASPAY_CTWING_PRODUCT_ID":   "10000577",
		"GASPAY_CTWING_BASE_URL":     ctSrv.URL,
		"GASPAY_WECHAT_OAUTH_URL":    srv.URL + "/connect/oauth2/authorize",
		"GASPAY_WECHAT_MP_APPID":     MPAppID,
		"GASPAY_WECHAT_MP_SECRET":    MPSecret,
		"GASPAY_WECHAT_OA_APPID":     OAAppID,
		"GASPAY_WECHAT_OA_SECRET":    OASecret,
		"GASPAY_REDIS_PREFIX":        e.Redis.Prefix(),
	}
	for k, v := range vars {
		e.env[k] = v
	}
	return e
}

// AdminToken is the staff token of test servers.
const AdminToken = "test-admin-token-0123456789abcdef"

func pemKey(t testing.TB, k *rsa.PrivateKey) string {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func pemPublic(t testing.TB, k *rsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// The test CTWing application.
const (
	CTWingAppKey    = "testAppKey"
	CTWingProductID = 10000577
	ctwingSecret    = "ctwing-app-secret"
	ctwingMasterKey = "ctwing-master-key"
)

// Store is a store on the Env's database.
func (e *Env) Store() *models.Store { return models.NewStore(e.DB) }

// Getenv reads the settings instances are built from, for a command run
// against the same world.
func (e *Env) Getenv(key string) string { return e.env[key] }

// Config is the configuration instances are built from.
func (e *Env) Config() config.Config {
	e.T.Helper()
	cfg, err := config.Load(func(k string) string { return e.env[k] })
	if err != nil {
		e.T.Fatalf("config: %v", err)
	}
	return cfg
}

// Instance is one running server.
type Instance struct {
	App *app.App
	URL string
	t   testing.TB
}

// Start starts another server instance. The first uses the Env's database
// and Redis handles; the others open their own pools on the same database
// and Redis, as separate replicas would.
func (e *Env) Start() *Instance {
	e.T.Helper()
	db, rdb := e.DB, e.Redis
	if e.n > 0 {
		db, rdb = testenv.Reopen(e.T, e.DB), testenv.ReopenRedis(e.T, e.Redis)
	}
	e.n++
	// The public URL is the test server's, known only once it listens.
	h := &lateHandler{}
	srv := httptest.NewServer(h)
	e.T.Cleanup(srv.Close)
	cfg := e.Config()
	cfg.PublicURL = srv.URL
	a, err := app.New(context.Background(), cfg, testenv.Logger(), app.Options{Store: models.NewStore(db), Redis: rdb, Now: e.Clock.Now})
	if err != nil {
		e.T.Fatalf("app: %v", err)
	}
	e.T.Cleanup(func() { a.Close() })
	h.h = a.Handler
	if e.n == 1 {
		e.CTWing.SetPushURL(srv.URL + "/notify/ctwing")
	}
	return &Instance{App: a, URL: srv.URL, t: e.T}
}

type lateHandler struct{ h http.Handler }

func (l *lateHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { l.h.ServeHTTP(w, r) }

// Response is an answer, with its body read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map.
func (r Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body %q: %v", r.Body, err)
	}
	return m
}

// Code is the error code of an error answer.
func (r Response) Code(t testing.TB) string {
	t.Helper()
	c, _ := r.JSON(t)["code"].(string)
	return c
}

// Request is one call to an instance.
type Request struct {
	Method  string
	Path    string
	Token   string // Bearer token, if any
	Body    any    // marshalled to JSON; a string or []byte is sent as is
	Header  map[string]string
	Client  *http.Client
	NoRedir bool
}

// Do sends a request and reads the answer.
func (i *Instance) Do(r Request) Response {
	i.t.Helper()
	var body io.Reader
	switch b := r.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			i.t.Fatal(err)
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(r.Method, i.URL+r.Path, body)
	if err != nil {
		i.t.Fatal(err)
	}
	if r.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	c := r.Client
	if c == nil {
		c = &http.Client{}
	}
	if r.NoRedir {
		cc := *c
		cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		c = &cc
	}
	resp, err := c.Do(req)
	if err != nil {
		i.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		i.t.Fatal(err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

// Login logs in through the mini-program as the sandbox user name and
// returns the session token.
func (i *Instance) Login(name string) string {
	i.t.Helper()
	r := i.Do(Request{Method: "POST", Path: "/api/mp/login", Body: map[string]string{"code": "test:" + name}})
	if r.Status != http.StatusOK {
		i.t.Fatalf("login %s: %d %s", name, r.Status, r.Body)
	}
	return r.JSON(i.t)["token"].(string)
}

// Browser is an HTTP client with a cookie jar, as a WeChat web view.
func Browser(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

// SeedDemo loads the demo accounts (see customer.SeedDemo).
func (e *Env) SeedDemo() {
	e.T.Helper()
	if err := customer.SeedDemo(context.Background(), e.Store(), time.Now()); err != nil {
		e.T.Fatal(err)
	}
}

// AccountID is the id of the account with this user number.
func (e *Env) AccountID(userNumber string) int64 {
	e.T.Helper()
	a, err := e.Store().AccountByUserNumber(context.Background(), userNumber)
	if err != nil {
		e.T.Fatalf("account %s: %v", userNumber, err)
	}
	return a.ID
}

// Count counts the rows of a table matching where.
func (e *Env) Count(table, where string, args ...any) int64 {
	e.T.Helper()
	var n int64
	q := e.DB.Table(table)
	if where != "" {
		q = q.Where(where, args...)
	}
	if err := q.Count(&n).Error; err != nil {
		e.T.Fatal(err)
	}
	return n
}
