package app_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"

	"gaspay/app"
	"gaspay/config"
	"gaspay/internal/testenv"
)

// With no configuration the server runs the sandbox: logins by
// "test:<name>", an OAuth redirect that comes straight back, demo accounts.
func TestSandbox(t *testing.T) {
	rdb := testenv.Redis(t)
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"GASPAY_DATA_DIR": t.TempDir(), "GASPAY_REDIS_PREFIX": rdb.Prefix()}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	opts := app.Options{Redis: rdb}
	if testenv.UsingMySQL() {
		opts.DB = testenv.RawDB(t)
	}
	a, err := app.New(context.Background(), cfg, testenv.Logger(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.WeChatFake == nil || !strings.Contains(a.Describe(), "sandbox WeChat") {
		t.Fatalf("not a sandbox: %s", a.Describe())
	}
	srv := httptest.NewServer(a.Handler)
	defer srv.Close()

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

	resp, err = http.Post(srv.URL+"/api/mp/login", "application/json", strings.NewReader(`{"code":"test:alice"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sandbox mini-program login: %d", resp.StatusCode)
	}
}
