package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"gaspay/internal/apptest"
	"gaspay/internal/testenv"
)

func bind(srv *apptest.Instance, token, by, number, name string) apptest.Response {
	body := map[string]string{"by": by, "number": number}
	if name != "" {
		body["holder_name"] = name
	}
	return srv.Do(apptest.Request{Method: "POST", Path: "/api/bindings", Token: token, Body: body})
}

func TestBindingsAndAccounts(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	alice := srv.Login("alice")

	// The name matches whatever spaces and widths the customer types.
	r := bind(srv, alice, "user_number", "031140086", " 秦　淮 ")
	if r.Status != http.StatusCreated {
		t.Fatalf("bind: %d %s", r.Status, r.Body)
	}
	card := r.JSON(t)
	if card["holder"] != "秦*" || card["is_default"] != true || card["kind"] != "iccard" || card["address"] != "秦淮人家6号****" {
		t.Errorf("binding = %s", r.Body)
	}
	if again := bind(srv, alice, "user_number", "031140086", "秦淮"); again.Status != http.StatusOK || again.JSON(t)["id"] != card["id"] {
		t.Errorf("binding twice: %d %s", again.Status, again.Body)
	}
	// Uyghur names match across the dots people type.
	if r := bind(srv, alice, "user_number", "031120002", "阿依古丽 • 买买提"); r.Status != http.StatusCreated {
		t.Errorf("dotted name: %d %s", r.Status, r.Body)
	}
	// IoT meters bind by the digits under the barcode alone.
	iot := bind(srv, alice, "meter_number", "20231100001", "")
	if iot.Status != http.StatusCreated || iot.JSON(t)["is_default"] != false {
		t.Fatalf("bind iot: %d %s", iot.Status, iot.Body)
	}
	ordinary := bind(srv, alice, "user_number", "031120001", "王洪")
	if ordinary.Status != http.StatusCreated {
		t.Fatalf("bind ordinary: %d %s", ordinary.Status, ordinary.Body)
	}

	list := srv.Do(apptest.Request{Method: "GET", Path: "/api/bindings", Token: alice}).JSON(t)["bindings"].([]any)
	if len(list) != 4 || list[0].(map[string]any)["id"] != card["id"] {
		t.Fatalf("bindings = %v", list)
	}

	account := func(id any) apptest.Response {
		return srv.Do(apptest.Request{Method: "GET", Path: fmt.Sprintf("/api/accounts/%v", id), Token: alice})
	}
	a := account(card["account_id"]).JSON(t)
	c, _ := a["card"].(map[string]any)
	if a["holder"] != "秦*" || a["balance_fen"] != 30.0 || a["purchase_limit_fen"] != 150000.0 || a["arrears_fen"] != nil ||
		c == nil || c["serial"] != "0000000012345678" || c["type"] != "volume" || c["status"] != "current" {
		t.Errorf("iccard account = %v", a)
	}
	m := account(iot.JSON(t)["account_id"]).JSON(t)
	meter, _ := m["meter"].(map[string]any)
	if meter == nil || meter["number"] != "20231100001" || meter["last_balance_fen"] != 5678.0 || meter["last_reported_at"] == nil || m["holder"] != "" ||
		m["user_number"] != "" || m["address"] != "" || m["access"] != "meter_only" || m["credit_pending"] != false {
		t.Errorf("iot account = %v", m)
	}
	o := account(ordinary.JSON(t)["account_id"]).JSON(t)
	if o["arrears_fen"] != 8640.0+12320.0 || o["card"] != nil {
		t.Errorf("ordinary account = %v", o)
	}

	// Default moves; unbinding the default promotes the oldest.
	iotID := iot.JSON(t)["id"]
	if r := srv.Do(apptest.Request{Method: "PUT", Path: fmt.Sprintf("/api/bindings/%v/default", iotID), Token: alice}); r.Status != http.StatusNoContent {
		t.Fatalf("set default: %d %s", r.Status, r.Body)
	}
	list = srv.Do(apptest.Request{Method: "GET", Path: "/api/bindings", Token: alice}).JSON(t)["bindings"].([]any)
	if list[0].(map[string]any)["id"] != iotID || env.Count("bindings", "is_default = ?", true) != 1 {
		t.Fatalf("after set default: %v", list)
	}
	if r := srv.Do(apptest.Request{Method: "DELETE", Path: fmt.Sprintf("/api/bindings/%v", iotID), Token: alice}); r.Status != http.StatusNoContent {
		t.Fatalf("unbind: %d %s", r.Status, r.Body)
	}
	list = srv.Do(apptest.Request{Method: "GET", Path: "/api/bindings", Token: alice}).JSON(t)["bindings"].([]any)
	if len(list) != 3 || list[0].(map[string]any)["id"] != card["id"] || list[0].(map[string]any)["is_default"] != true {
		t.Fatalf("after unbinding the default: %v", list)
	}
	if r := account(iot.JSON(t)["account_id"]); r.Status != http.StatusNotFound {
		t.Errorf("unbound account still visible: %d", r.Status)
	}

	// Somebody else's binding, account or nothing at all: 404 alike.
	bob := srv.Login("bob")
	for _, path := range []string{
		fmt.Sprintf("/api/accounts/%v", card["account_id"]),
		"/api/accounts/999999",
	} {
		if r := srv.Do(apptest.Request{Method: "GET", Path: path, Token: bob}); r.Status != 404 || r.Code(t) != "not_found" {
			t.Errorf("bob GET %s: %d %s", path, r.Status, r.Body)
		}
	}
	for _, method := range []string{"DELETE", "PUT"} {
		path := fmt.Sprintf("/api/bindings/%v", card["id"])
		if method == "PUT" {
			path += "/default"
		}
		if r := srv.Do(apptest.Request{Method: method, Path: path, Token: bob}); r.Status != 404 {
			t.Errorf("bob %s %s: %d %s", method, path, r.Status, r.Body)
		}
	}
	// A family: bob may bind the same account.
	if r := bind(srv, bob, "user_number", "031140086", "秦淮"); r.Status != http.StatusCreated {
		t.Errorf("second user binding the same account: %d %s", r.Status, r.Body)
	}
}

func TestBindingLimit(t *testing.T) {
	env := apptest.New(t, map[string]string{"GASPAY_BINDING_LIMIT": "2"})
	env.SeedDemo()
	srv := env.Start()
	alice := srv.Login("alice")
	for _, n := range []struct{ by, number, name string }{
		{"user_number", "031140086", "秦淮"}, {"meter_number", "20231100001", ""},
	} {
		if r := bind(srv, alice, n.by, n.number, n.name); r.Status != http.StatusCreated {
			t.Fatalf("bind %s: %d %s", n.number, r.Status, r.Body)
		}
	}
	r := bind(srv, alice, "user_number", "031120001", "王洪")
	if r.Status != http.StatusConflict || r.Code(t) != "binding_limit" {
		t.Fatalf("third binding: %d %s", r.Status, r.Body)
	}
	// Rebinding one already bound is not a new binding.
	if r := bind(srv, alice, "user_number", "031140086", "秦淮"); r.Status != http.StatusOK {
		t.Errorf("rebinding at the limit: %d %s", r.Status, r.Body)
	}
}

func TestBindingFailuresLookAlike(t *testing.T) {
	env := apptest.New(t, map[string]string{"GASPAY_BIND_FAIL_LIMIT": "100"})
	env.SeedDemo()
	srv := env.Start()
	alice := srv.Login("alice")
	attempts := []struct{ by, number, name string }{
		{"user_number", "031140086", "王五"},    // exists, wrong name
		{"user_number", "999999999", "王五"},    // does not exist
		{"meter_number", "0312000101", ""},    // an ordinary account's meter
		{"meter_number", "99999999999", ""},   // no such meter
		{"meter_number", "20231100001", "王五"}, // right meter, wrong name
	}
	var first string
	for _, a := range attempts {
		r := bind(srv, alice, a.by, a.number, a.name)
		if r.Status != http.StatusNotFound || r.Code(t) != "no_match" {
			t.Errorf("%v: %d %s", a, r.Status, r.Body)
		}
		if first == "" {
			first = string(r.Body)
		} else if string(r.Body) != first {
			t.Errorf("%v answered %s, unlike %s", a, r.Body, first)
		}
	}
	if n := env.Count("bindings", ""); n != 0 {
		t.Errorf("%d bindings after failures", n)
	}
}

func TestBindingRateLimit(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	alice := srv.Login("alice")
	for i := range 5 {
		// A forged X-Forwarded-For does not buy fresh attempts.
		r := srv.Do(apptest.Request{Method: "POST", Path: "/api/bindings", Token: alice,
			Header: map[string]string{"X-Forwarded-For": fmt.Sprintf("10.0.0.%d", i)},
			Body:   map[string]string{"by": "user_number", "number": strconv.Itoa(100 + i), "holder_name": "王五"}})
		if r.Status != http.StatusNotFound {
			t.Fatalf("attempt %d: %d %s", i+1, r.Status, r.Body)
		}
	}
	// The sixth is refused before any lookup, even with the right name.
	r := bind(srv, alice, "user_number", "031140086", "秦淮")
	retry, _ := strconv.Atoi(r.Header.Get("Retry-After"))
	if r.Status != http.StatusTooManyRequests || r.Code(t) != "too_many_attempts" || retry < 500 || retry > 600 {
		t.Fatalf("sixth attempt: %d %s Retry-After=%q", r.Status, r.Body, r.Header.Get("Retry-After"))
	}
	// The customer reads the wait in minutes, in Chinese.
	if msg, _ := r.JSON(t)["message"].(string); msg != "失败次数过多，请 10 分钟后再试。" {
		t.Errorf("sixth attempt's message %q, want the wait in minutes", msg)
	}
	// The same IP is limited for another user too.
	bob := srv.Login("bob")
	if r := bind(srv, bob, "user_number", "031140086", "秦淮"); r.Status != http.StatusTooManyRequests {
		t.Fatalf("same IP, other user: %d %s", r.Status, r.Body)
	}
	if n := env.Count("bindings", ""); n != 0 {
		t.Errorf("%d bindings made while limited", n)
	}
	// The window ends.
	for _, k := range testenv.Keys(t, env.Redis, env.Redis.Key("bindfail", "*")) {
		env.Redis.Del(context.Background(), k)
	}
	if r := bind(srv, alice, "user_number", "031140086", "秦淮"); r.Status != http.StatusCreated {
		t.Fatalf("after the window: %d %s", r.Status, r.Body)
	}
}

func TestBindingRateLimitConcurrent(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	alice := srv.Login("alice")
	results := make(chan int, 20)
	for i := range 20 {
		go func() {
			results <- bind(srv, alice, "user_number", strconv.Itoa(500+i), "王五").Status
		}()
	}
	counts := map[int]int{}
	for range 20 {
		counts[<-results]++
	}
	if counts[http.StatusNotFound] != 5 || counts[http.StatusTooManyRequests] != 15 {
		t.Fatalf("20 concurrent guesses: %v, want exactly 5 looked up", counts)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	alice := srv.Login("alice")
	expired := srv.Login("eve")
	// Expire eve's session the way Redis would.
	for _, k := range testenv.Keys(t, env.Redis, env.Redis.Key("sess", "*")) {
		env.Redis.PExpire(context.Background(), k, time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond)
	alice = srv.Login("alice")

	tests := []struct {
		name   string
		token  string
		body   string
		status int
		code   string
	}{
		{"malformed json", alice, `{"by":"user_number",`, 400, "invalid_json"},
		{"unknown field", alice, `{"by":"user_number","number":"031140086","holder_name":"秦淮","account_id":1}`, 400, "invalid_json"},
		{"array", alice, `[1,2]`, 400, "invalid_json"},
		{"overlong name", alice, `{"by":"user_number","number":"031140086","holder_name":"` + strings.Repeat("秦", 33) + `"}`, 400, "invalid_holder_name"},
		{"overlong number", alice, `{"by":"user_number","number":"0311400861234","holder_name":"秦淮"}`, 400, "invalid_number"},
		{"non-digit number", alice, `{"by":"user_number","number":"03114008a","holder_name":"秦淮"}`, 400, "invalid_number"},
		{"full-width digits", alice, `{"by":"user_number","number":"０３１１４００８６","holder_name":"秦淮"}`, 400, "invalid_number"},
		{"sql in number", alice, `{"by":"user_number","number":"1' OR '1'='1","holder_name":"秦淮"}`, 400, "invalid_number"},
		{"sql in name", alice, `{"by":"user_number","number":"031140086","holder_name":"秦淮'; DROP TABLE accounts;--"}`, 400, "invalid_holder_name"},
		{"control char in name", alice, `{"by":"user_number","number":"031140086","holder_name":"秦\u0000淮"}`, 400, "invalid_holder_name"},
		{"invalid utf-8", alice, "{\"by\":\"user_number\",\"number\":\"031140086\",\"holder_name\":\"\xe7\xa7\"}", 400, "invalid_utf8"},
		{"missing name", alice, `{"by":"user_number","number":"031140086"}`, 400, "holder_name_required"},
		{"bad by", alice, `{"by":"card","number":"031140086","holder_name":"秦淮"}`, 400, "invalid_by"},
		{"huge body", alice, `{"by":"user_number","number":"031140086","holder_name":"` + strings.Repeat("a", 70<<10) + `"}`, 413, "body_too_large"},
		{"no token", "", `{"by":"user_number","number":"031140086","holder_name":"秦淮"}`, 401, "unauthenticated"},
		{"forged token", "gps_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", `{"by":"user_number","number":"031140086","holder_name":"秦淮"}`, 401, "session_expired"},
		{"expired token", expired, `{"by":"user_number","number":"031140086","holder_name":"秦淮"}`, 401, "session_expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := srv.Do(apptest.Request{Method: "POST", Path: "/api/bindings", Token: tt.token, Body: tt.body})
			if r.Status != tt.status || r.Code(t) != tt.code {
				t.Errorf("got %d %s, want %d %s", r.Status, r.Body, tt.status, tt.code)
			}
			if m, _ := r.JSON(t)["message"].(string); m == "" {
				t.Errorf("no message for a person: %s", r.Body)
			}
		})
	}
	for _, path := range []string{"/api/accounts/abc", "/api/accounts/-1", "/api/accounts/0", "/api/accounts/99999999999999999999", "/api/accounts/1%27%20OR%201=1"} {
		if r := srv.Do(apptest.Request{Method: "GET", Path: path, Token: alice}); r.Status != 400 || r.Code(t) != "invalid_id" {
			t.Errorf("GET %s: %d %s", path, r.Status, r.Body)
		}
	}
	if n := env.Count("bindings", ""); n != 0 {
		t.Errorf("bad input made %d bindings", n)
	}
	if n := env.Count("accounts", ""); n != 6 {
		t.Errorf("accounts = %d, want the 6 demo accounts", n)
	}
}

// A cookie session needs a same-origin request to change anything.
func TestCookieSessionNeedsSameOrigin(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	browser := apptest.Browser(t)
	authorize, _ := oaStart(t, srv, browser, "/h5/")
	resp, err := browser.Get(authorize.String()) // follows WeChat, the callback and lands on /h5/
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	body := map[string]string{"by": "user_number", "number": "031140086", "holder_name": "秦淮"}
	r := srv.Do(apptest.Request{Method: "POST", Path: "/api/bindings", Client: browser, Body: body,
		Header: map[string]string{"Origin": "https://evil.example"}})
	if r.Status != http.StatusForbidden || r.Code(t) != "bad_origin" {
		t.Fatalf("cross-origin POST: %d %s", r.Status, r.Body)
	}
	r = srv.Do(apptest.Request{Method: "POST", Path: "/api/bindings", Client: browser, Body: body,
		Header: map[string]string{"Origin": srv.URL}})
	if r.Status != http.StatusCreated {
		t.Fatalf("same-origin POST: %d %s", r.Status, r.Body)
	}
}
