package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gaspay/internal/apptest"
	"gaspay/wechat/wxfake"
)

func TestMiniProgramLogin(t *testing.T) {
	env := apptest.New(t, nil)
	srv := env.Start()

	r := srv.Do(apptest.Request{Method: "POST", Path: "/api/mp/login", Body: map[string]string{"code": "test:alice"}})
	if r.Status != http.StatusOK {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	body := r.JSON(t)
	token, _ := body["token"].(string)
	exp, err := time.Parse(time.RFC3339, body["expires_at"].(string))
	if err != nil || time.Until(exp) < 23*time.Hour || time.Until(exp) > 25*time.Hour {
		t.Errorf("expires_at = %v (%v), want about 24h ahead", body["expires_at"], err)
	}
	if strings.Contains(string(r.Body), "session_key") {
		t.Errorf("the session_key left the server: %s", r.Body)
	}
	if got := srv.Do(apptest.Request{Method: "GET", Path: "/api/bindings", Token: token}); got.Status != http.StatusOK {
		t.Fatalf("token refused: %d %s", got.Status, got.Body)
	}
	// A real single-use code works once.
	code := env.WX.IssueCode(apptest.MPAppID, wxfake.OpenID(apptest.MPAppID, "carol"), false)
	if got := srv.Do(apptest.Request{Method: "POST", Path: "/api/mp/login", Body: map[string]string{"code": code}}); got.Status != http.StatusOK {
		t.Fatalf("issued code: %d %s", got.Status, got.Body)
	}
	if got := srv.Do(apptest.Request{Method: "POST", Path: "/api/mp/login", Body: map[string]string{"code": code}}); got.Status != http.StatusBadRequest || got.Code(t) != "invalid_code" {
		t.Fatalf("reused code: %d %s", got.Status, got.Body)
	}
	// The same WeChat user is the same gaspay user at every login.
	if n := env.Count("users", "open_id = ?", wxfake.OpenID(apptest.MPAppID, "alice")); n != 1 {
		t.Errorf("users for alice = %d, want 1", n)
	}

	// Logout revokes the token everywhere.
	if got := srv.Do(apptest.Request{Method: "POST", Path: "/api/logout", Token: token}); got.Status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", got.Status, got.Body)
	}
	if got := srv.Do(apptest.Request{Method: "GET", Path: "/api/bindings", Token: token}); got.Status != http.StatusUnauthorized || got.Code(t) != "session_expired" {
		t.Fatalf("after logout: %d %s", got.Status, got.Body)
	}
}

func TestMiniProgramLoginBadInput(t *testing.T) {
	env := apptest.New(t, nil)
	srv := env.Start()
	tests := []struct {
		name, body, contentType string
		status                  int
		code                    string
	}{
		{"malformed json", `{"code":`, "", 400, "invalid_json"},
		{"unknown field", `{"code":"test:a","openid":"x"}`, "", 400, "invalid_json"},
		{"two objects", `{"code":"test:a"}{"code":"test:b"}`, "", 400, "invalid_json"},
		{"empty code", `{"code":""}`, "", 400, "invalid_code"},
		{"code with space", `{"code":"test: a"}`, "", 400, "invalid_code"},
		{"overlong code", `{"code":"` + strings.Repeat("a", 129) + `"}`, "", 400, "invalid_code"},
		{"wrong type", `{"code":42}`, "", 400, "invalid_json"},
		{"invalid utf-8", "{\"code\":\"test:\xff\xfe\"}", "", 400, "invalid_utf8"},
		{"not json", `code=test:a`, "application/x-www-form-urlencoded", 415, "unsupported_media_type"},
		{"unknown code", `{"code":"0a1b2c3d"}`, "", 400, "invalid_code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{}
			if tt.contentType != "" {
				h["Content-Type"] = tt.contentType
			}
			r := srv.Do(apptest.Request{Method: "POST", Path: "/api/mp/login", Body: tt.body, Header: h})
			if r.Status != tt.status || r.Code(t) != tt.code {
				t.Errorf("got %d %s, want %d %s", r.Status, r.Body, tt.status, tt.code)
			}
		})
	}
	if n := env.Count("users", ""); n != 0 {
		t.Errorf("bad logins created %d users", n)
	}
}

func TestMiniProgramLoginWeChatDown(t *testing.T) {
	env := apptest.New(t, nil)
	srv := env.Start()
	env.WX.Fail("/sns/jscode2session", wxfake.Fault{ErrCode: -1, ErrMsg: "system error"})
	r := srv.Do(apptest.Request{Method: "POST", Path: "/api/mp/login", Body: map[string]string{"code": "test:alice"}})
	if r.Status != http.StatusBadGateway || r.Code(t) != "upstream_unavailable" {
		t.Fatalf("got %d %s", r.Status, r.Body)
	}
	if strings.Contains(string(r.Body), apptest.MPSecret) {
		t.Fatal("the AppSecret reached the client")
	}
}

// oaStart begins an official-account login in browser b and returns the
// state WeChat would carry back.
func oaStart(t *testing.T, srv *apptest.Instance, b *http.Client, next string) (authorize *url.URL, state string) {
	t.Helper()
	r := srv.Do(apptest.Request{Method: "GET", Path: "/oa/login?next=" + url.QueryEscape(next), Client: b, NoRedir: true})
	if r.Status != http.StatusFound {
		t.Fatalf("oa login: %d %s", r.Status, r.Body)
	}
	u, err := url.Parse(r.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u, u.Query().Get("state")
}

func TestOfficialAccountLogin(t *testing.T) {
	env := apptest.New(t, nil)
	srv := env.Start()
	browser := apptest.Browser(t)

	authorize, state := oaStart(t, srv, browser, "/h5/pay?account=7")
	q := authorize.Query()
	if q.Get("appid") != apptest.OAAppID || q.Get("scope") != "snsapi_base" || q.Get("redirect_uri") != srv.URL+"/oa/callback" ||
		len(state) != 32 || authorize.Fragment != "wechat_redirect" {
		t.Fatalf("authorize URL = %s", authorize)
	}
	// WeChat's page answers with a code and the state.
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(authorize.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	callback, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || callback.Query().Get("state") != state || callback.Query().Get("code") == "" {
		t.Fatalf("WeChat returned to %s", resp.Header.Get("Location"))
	}
	r := srv.Do(apptest.Request{Method: "GET", Path: callback.RequestURI(), Client: browser, NoRedir: true})
	if r.Status != http.StatusFound || r.Header.Get("Location") != "/h5/pay?account=7" {
		t.Fatalf("callback: %d %s → %s", r.Status, r.Body, r.Header.Get("Location"))
	}
	var sessionCookie *http.Cookie
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == "gaspay_session" {
			sessionCookie = c
		}
	}
	if sessionCookie == nil || !sessionCookie.HttpOnly || sessionCookie.SameSite != http.SameSiteLaxMode || sessionCookie.Secure {
		t.Fatalf("session cookie = %+v", sessionCookie)
	}
	if got := srv.Do(apptest.Request{Method: "GET", Path: "/api/bindings", Client: browser}); got.Status != http.StatusOK {
		t.Fatalf("cookie session refused: %d %s", got.Status, got.Body)
	}

	// The state is single-use.
	if got := srv.Do(apptest.Request{Method: "GET", Path: callback.RequestURI(), Client: browser, NoRedir: true}); got.Status != 400 || got.Code(t) != "invalid_state" {
		t.Errorf("replayed callback: %d %s", got.Status, got.Body)
	}
}

func TestOfficialAccountLoginRefusals(t *testing.T) {
	env := apptest.New(t, nil)
	srv := env.Start()

	t.Run("state from another browser", func(t *testing.T) {
		_, state := oaStart(t, srv, apptest.Browser(t), "/h5/")
		code := env.WX.IssueCode(apptest.OAAppID, wxfake.OpenID(apptest.OAAppID, "victim"), false)
		r := srv.Do(apptest.Request{Method: "GET", Path: "/oa/callback?code=" + code + "&state=" + state, Client: apptest.Browser(t), NoRedir: true})
		if r.Status != 400 || r.Code(t) != "invalid_state" {
			t.Errorf("got %d %s", r.Status, r.Body)
		}
	})
	t.Run("snapshot user", func(t *testing.T) {
		b := apptest.Browser(t)
		_, state := oaStart(t, srv, b, "/h5/")
		code := env.WX.IssueCode(apptest.OAAppID, wxfake.OpenID(apptest.OAAppID, "snap"), true)
		r := srv.Do(apptest.Request{Method: "GET", Path: "/oa/callback?code=" + code + "&state=" + state, Client: b, NoRedir: true})
		if r.Status != 403 || r.Code(t) != "snapshot_user" || strings.Contains(r.Header.Get("Set-Cookie"), "gaspay_session=gps_") {
			t.Errorf("got %d %s %v", r.Status, r.Body, r.Header.Values("Set-Cookie"))
		}
		if n := env.Count("users", "open_id = ?", wxfake.OpenID(apptest.OAAppID, "snap")); n != 0 {
			t.Errorf("snapshot user stored")
		}
	})
	t.Run("unknown state", func(t *testing.T) {
		r := srv.Do(apptest.Request{Method: "GET", Path: "/oa/callback?code=x&state=0123456789abcdef", Client: apptest.Browser(t), NoRedir: true})
		if r.Status != 400 || r.Code(t) != "invalid_state" {
			t.Errorf("got %d %s", r.Status, r.Body)
		}
	})
	for _, next := range []string{"https://evil.example/", "//evil.example/", "/\\evil.example", "/admin", "/h5/../admin",
		"javascript:alert(1)", "h5/", "/h5x", "/%2F%2Fevil.example"} {
		t.Run("next "+next, func(t *testing.T) {
			r := srv.Do(apptest.Request{Method: "GET", Path: "/oa/login?next=" + url.QueryEscape(next), NoRedir: true})
			if r.Status != 400 || r.Code(t) != "invalid_next" {
				t.Errorf("got %d %s → %s", r.Status, r.Body, r.Header.Get("Location"))
			}
		})
	}
}
