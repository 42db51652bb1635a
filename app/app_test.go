package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"

	"gaspay/app"
	"gaspay/config"
	"gaspay/internal/testenv"
	"gaspay/models"
)

// With no configuration the server runs the sandbox: logins by
// "test:<name>", an OAuth redirect that comes straight back, demo accounts.
func TestSandbox(t *testing.T) {
	rdb := testenv.Redis(t)
	// The server's address must be known before it is built: WeChat Pay
	// notifies its public URL.
	var handler http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	defer srv.Close()
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"GASPAY_DATA_DIR": t.TempDir(), "GASPAY_REDIS_PREFIX": rdb.Prefix(), "GASPAY_PUBLIC_URL": srv.URL}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	opts := app.Options{Redis: rdb}
	if testenv.UsingMySQL() {
		opts.Store = models.NewStore(testenv.RawDB(t))
	}
	a, err := app.New(context.Background(), cfg, testenv.Logger(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.WeChatFake == nil || !strings.Contains(a.Describe(), "sandbox WeChat") {
		t.Fatalf("not a sandbox: %s", a.Describe())
	}
	handler = a.Handler

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		if r.URL.Path == "/h5/" {
			return http.ErrUseLastResponse // no page yet: stop at the landing
		}
		return nil
	}}
	resp, err := browser.Get(srv.URL + "/oa/login?as=bob&next=/h5/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/h5/" {
		t.Fatalf("sandbox OAuth ended at %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	req, _ := http.NewRequest("POST", srv.URL+"/api/bindings", strings.NewReader(`{"by":"user_number","number":"031140086","holder_name":"秦淮"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", cfg.PublicURL)
	// The cookie was set for the test server's host.
	for _, c := range jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("binding a demo account in the sandbox: %d", resp.StatusCode)
	}

	// A whole purchase in the sandbox: log in, bind, order, pay.
	call := func(method, path, token string, body string, header ...string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, out)
		}
		return out
	}
	token := call("POST", "/api/mp/login", "", `{"code":"test:alice"}`)["token"].(string)
	account := call("POST", "/api/bindings", token, `{"by":"meter_number","number":"20231100001"}`)["account_id"]
	order := call("POST", "/api/orders", token, fmt.Sprintf(`{"account_id":%v,"amount_fen":5000,"channel":"wechat_mp"}`, account),
		"Idempotency-Key", "sandbox-order-1")["order"].(map[string]any)
	paid := call("POST", "/sandbox/wechat/pay/"+order["order_no"].(string), "", "")
	if paid["notification_status"] != 204.0 {
		t.Fatalf("sandbox payment: %v", paid)
	}
	got := call("GET", "/api/orders/"+order["order_no"].(string), token, "")
	if got["status"] != "paid" || got["credit"].(map[string]any)["kind"] != "iot" {
		t.Fatalf("order after the sandbox payment: %v", got)
	}

	// The same through the sandbox's Alipay, for an ordinary account.
	account = call("POST", "/api/bindings", token, `{"by":"user_number","number":"031120001","holder_name":"王洪"}`)["account_id"]
	order = call("POST", "/api/orders", token, fmt.Sprintf(`{"account_id":%v,"amount_fen":8640,"channel":"alipay_mp","buyer_open_id":"sandboxbuyer01"}`, account),
		"Idempotency-Key", "sandbox-order-2")["order"].(map[string]any)
	if paid := call("POST", "/sandbox/alipay/pay/"+order["order_no"].(string), "", ""); paid["notification_answer"] != "success" {
		t.Fatalf("sandbox Alipay payment: %v", paid)
	}
	got = call("GET", "/api/orders/"+order["order_no"].(string), token, "")
	if got["status"] != "paid" || got["credit"].(map[string]any)["settled_fen"] != 8640.0 {
		t.Fatalf("order after the sandbox Alipay payment: %v", got)
	}
	// Paying again, or an order nobody has: a plain refusal that names no
	// part of the fakes.
	for _, path := range []string{"/sandbox/alipay/pay/" + order["order_no"].(string), "/sandbox/wechat/pay/GP20261122000000000001"} {
		resp, err := http.Post(srv.URL+path, "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), `"sandbox_pay_refused"`) ||
			strings.Contains(string(body), "fake") || strings.Contains(string(body), "GP2026") {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
}
