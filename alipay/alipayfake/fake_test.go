package alipayfake

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

const appID = "2021000000000001"

// testKeys is generated once per test binary: key generation is slow.
var testKeys = sync.OnceValues(NewKeys)

type rig struct {
	fake   *Server
	srv    *httptest.Server
	appKey *rsa.PrivateKey
	aliPub *rsa.PublicKey
}

func newRig(t *testing.T, mount func(*Server) http.Handler) *rig {
	t.Helper()
	k, err := testKeys()
	if err != nil {
		t.Fatal(err)
	}
	fake, err := New(Config{AppID: appID, AppPublicKey: k.AppPublicKey, AlipayPrivateKey: k.AlipayPrivateKey})
	if err != nil {
		t.Fatal(err)
	}
	appKey, err := parsePrivateKey(k.AppPrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	aliPub, err := parsePublicKey(k.AlipayPublicKey)
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = fake
	if mount != nil {
		h = mount(fake)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &rig{fake: fake, srv: srv, appKey: appKey, aliPub: aliPub}
}

// form builds a request the way Alipay documents it, independently of the
// SDK: parameters sorted by name, "k=v" joined by "&", RSA2.
func (r *rig) form(t *testing.T, method, biz string) url.Values {
	t.Helper()
	f := url.Values{
		"app_id": {appID}, "method": {method}, "format": {"JSON"}, "charset": {"utf-8"},
		"sign_type": {"RSA2"}, "timestamp": {"2024-05-01 10:00:00"}, "version": {"1.0"},
		"biz_content": {biz},
	}
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var pairs []string
	for _, k := range keys {
		pairs = append(pairs, k+"="+f.Get(k))
	}
	sum := sha256.Sum256([]byte(strings.Join(pairs, "&")))
	sig, err := rsa.SignPKCS1v15(nil, r.appKey, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	f.Set("sign", base64.StdEncoding.EncodeToString(sig))
	return f
}

// call posts f to path and returns the raw body.
func (r *rig) call(t *testing.T, path string, f url.Values) string {
	t.Helper()
	resp, err := http.PostForm(r.srv.URL+path, f)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// node cuts the node out of an envelope exactly as written and checks the
// signature over those bytes.
func (r *rig) node(t *testing.T, body, name string) string {
	t.Helper()
	prefix := `{"` + name + `":`
	i := strings.LastIndex(body, `,"sign":"`)
	if !strings.HasPrefix(body, prefix) || i < 0 || !strings.HasSuffix(body, `"}`) {
		t.Fatalf("envelope shape: %s", body)
	}
	node := body[len(prefix):i]
	sig, err := base64.StdEncoding.DecodeString(body[i+len(`,"sign":"`) : len(body)-2])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(node))
	if err := rsa.VerifyPKCS1v15(r.aliPub, crypto.SHA256, sum[:], sig); err != nil {
		t.Fatalf("node signature: %v", err)
	}
	return node
}

func TestGatewayProtocol(t *testing.T) {
	r := newRig(t, nil)
	tests := []struct {
		name string
		form func() url.Values
		want string // substring of the node
	}{
		{"valid request", func() url.Values {
			return r.form(t, "alipay.trade.query", `{"out_trade_no":"NONE"}`)
		}, `"sub_code":"ACQ.TRADE_NOT_EXIST"`},
		{"parameter changed after signing", func() url.Values {
			f := r.form(t, "alipay.trade.query", `{"out_trade_no":"NONE"}`)
			f.Set("biz_content", `{"out_trade_no":"OTHER"}`)
			return f
		}, `"sub_code":"isv.invalid-signature"`},
		{"sign_type is part of a request's signed string", func() url.Values {
			// Signed the notification way, without sign_type: refused.
			f := r.form(t, "alipay.trade.query", `{}`)
			f.Del("sign_type")
			f = r.resign(t, f)
			f.Set("sign_type", "RSA2")
			return f
		}, `"sub_code":"isv.invalid-signature"`},
		{"no signature", func() url.Values {
			f := r.form(t, "alipay.trade.query", `{}`)
			f.Del("sign")
			return f
		}, `"sub_code":"isv.missing-signature"`},
		{"other app", func() url.Values {
			f := r.form(t, "alipay.trade.query", `{}`)
			f.Set("app_id", "2021000000000009")
			return f
		}, `"sub_code":"isv.invalid-app-id"`},
		{"unknown method", func() url.Values {
			return r.form(t, "alipay.trade.nothing", `{}`)
		}, `"sub_code":"isv.invalid-method"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.form()
			body := r.call(t, GatewayPath, f)
			name := strings.ReplaceAll(f.Get("method"), ".", "_") + "_response"
			if n := r.node(t, body, name); !strings.Contains(n, tt.want) {
				t.Fatalf("node %s lacks %s", n, tt.want)
			}
		})
	}
	t.Run("no method: unsigned error_response", func(t *testing.T) {
		f := r.form(t, "alipay.trade.query", `{}`)
		f.Del("method")
		body := r.call(t, GatewayPath, f)
		if !strings.HasPrefix(body, `{"error_response":`) || strings.Contains(body, `"sign"`) {
			t.Fatalf("body = %s", body)
		}
	})
	if got := r.fake.Requests("alipay.trade.query"); got != 5 {
		t.Fatalf("Requests = %d, want 5", got)
	}
}

func TestMountedUnderPrefix(t *testing.T) {
	for _, strip := range []bool{false, true} {
		t.Run(fmt.Sprintf("strip=%v", strip), func(t *testing.T) {
			r := newRig(t, func(s *Server) http.Handler {
				mux := http.NewServeMux()
				if strip {
					mux.Handle("/sandbox/alipay/", http.StripPrefix("/sandbox/alipay", s))
				} else {
					mux.Handle("/sandbox/alipay/", s)
				}
				return mux
			})
			f := r.form(t, "alipay.trade.precreate", `{"out_trade_no":"Q1","subject":"gas","total_amount":"1.00"}`)
			n := r.node(t, r.call(t, "/sandbox/alipay"+GatewayPath, f), "alipay_trade_precreate_response")
			want := r.srv.URL + "/sandbox/alipay/cashier?out_trade_no=Q1"
			if !strings.Contains(n, want) {
				t.Fatalf("node %s lacks %s", n, want)
			}
			resp, err := http.Get(want)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("cashier: %d", resp.StatusCode)
			}
		})
	}
}

func TestBillLinkUnknown(t *testing.T) {
	r := newRig(t, nil)
	resp, err := http.Get(r.srv.URL + billPath + "?token=nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// TestConcurrentUse runs customer actions, notifications and API calls at
// once; the race detector does the checking.
func TestConcurrentUse(t *testing.T) {
	r := newRig(t, nil)
	var hits sync.Map
	merchant := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_ = req.ParseForm()
		hits.Store(req.PostForm.Get("notify_id"), true)
		_, _ = w.Write([]byte("success"))
	}))
	defer merchant.Close()
	const n = 20
	for i := range n {
		biz := fmt.Sprintf(`{"out_trade_no":"T%d","subject":"gas","total_amount":"1.00","buyer_open_id":"b"}`, i)
		f := r.form(t, "alipay.trade.create", biz)
		f.Set("notify_url", merchant.URL)
		f = r.resign(t, f)
		if node := r.node(t, r.call(t, GatewayPath, f), "alipay_trade_create_response"); !strings.Contains(node, `"code":"10000"`) {
			t.Fatalf("create: %s", node)
		}
	}
	var wg sync.WaitGroup
	ctx := context.Background()
	for i := range n {
		no := fmt.Sprintf("T%d", i)
		wg.Add(3)
		go func() {
			defer wg.Done()
			if res, err := r.fake.Pay(ctx, no, ""); err != nil || !res.Acknowledged {
				t.Errorf("Pay %s: %+v %v", no, res, err)
			}
		}()
		go func() {
			defer wg.Done()
			r.fake.Trade(no)
			r.fake.Requests("alipay.trade.create")
		}()
		go func() {
			defer wg.Done()
			f := r.form(t, "alipay.trade.query", `{"out_trade_no":"`+no+`"}`)
			r.node(t, r.call(t, GatewayPath, f), "alipay_trade_query_response")
		}()
	}
	wg.Wait()
	for i := range n {
		if _, err := r.fake.SendNotification(ctx, fmt.Sprintf("T%d", i), NotifyOptions{Copies: 2}); err != nil {
			t.Fatal(err)
		}
	}
	count := 0
	hits.Range(func(any, any) bool { count++; return true })
	if count != 2*n {
		t.Fatalf("distinct notifications = %d, want %d", count, 2*n)
	}
}

// resign signs f again after a change.
func (r *rig) resign(t *testing.T, f url.Values) url.Values {
	t.Helper()
	f.Del("sign")
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var pairs []string
	for _, k := range keys {
		pairs = append(pairs, k+"="+f.Get(k))
	}
	sum := sha256.Sum256([]byte(strings.Join(pairs, "&")))
	sig, err := rsa.SignPKCS1v15(nil, r.appKey, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	f.Set("sign", base64.StdEncoding.EncodeToString(sig))
	return f
}

func TestKeysPrintMasked(t *testing.T) {
	k, err := testKeys()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%+v", k), fmt.Sprintf("%#v", k)} {
		if strings.Contains(s, "PRIVATE") || strings.Contains(s, k.AppPrivateKey[40:80]) {
			t.Fatalf("printed keys leak: %s", s)
		}
	}
}

func TestYuan(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{{"0.01", 1, true}, {"12.3", 1230, true}, {"100", 10000, true}, {"1.", 0, false}, {"01", 0, false}, {"1.234", 0, false}, {"-1", 0, false}} {
		got, err := yuanToFen(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("yuanToFen(%q) = %d, %v", tt.in, got, err)
		}
	}
	for fen, want := range map[int64]string{0: "0.00", 1: "0.01", 1230: "12.30", 100000: "1000.00"} {
		if got := fenToYuan(fen); got != want {
			t.Errorf("fenToYuan(%d) = %q", fen, got)
		}
	}
}

func TestTradeExpiry(t *testing.T) {
	k, err := testKeys()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	fake, err := New(Config{AppID: appID, AppPublicKey: k.AppPublicKey, AlipayPrivateKey: k.AlipayPrivateKey,
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	if err != nil {
		t.Fatal(err)
	}
	fake.mu.Lock()
	tr := fake.newTrade(methodCreate, "E1", "gas", 100)
	tr.ExpireAt = now.Add(time.Minute)
	fake.mu.Unlock()
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if got, _ := fake.Trade("E1"); got.Status != StatusClosed {
		t.Fatalf("status %s after expiry", got.Status)
	}
	if err := fake.PayQuietly("E1"); err == nil {
		t.Fatal("expired trade paid")
	}
}
