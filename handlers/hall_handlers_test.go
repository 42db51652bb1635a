package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gaspay/internal/apptest"
	"gaspay/internal/browsertest"
)

func TestReceipt(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b := newBuyer(t, env, srv, "alice", "031130001", "李娜") // IoT
	no := orderNo(t, b.order(map[string]any{"amount_fen": 10000}))
	receipt := func(token, no string) apptest.Response {
		return srv.Do(apptest.Request{Method: "GET", Path: "/api/orders/" + no + "/receipt", Token: token})
	}
	// Not paid yet: no receipt.
	if r := receipt(b.token, no); r.Status != http.StatusConflict || r.Code(t) != "not_paid" || !strings.Contains(string(r.Body), "尚未支付") {
		t.Fatalf("receipt of an unpaid order: %d %s", r.Status, r.Body)
	}
	if _, err := env.Pay.Pay(context.Background(), no, ""); err != nil {
		t.Fatal(err)
	}
	r := receipt(b.token, no)
	if r.Status != http.StatusOK {
		t.Fatalf("receipt: %d %s", r.Status, r.Body)
	}
	got := r.JSON(t)
	lines, _ := got["lines"].([]any)
	delivery, _ := got["delivery"].(map[string]any)
	if got["utility_name"] != "洪通燃气" || got["user_number"] != "031130001" || got["holder"] != "李*" || got["order_no"] != no ||
		got["channel"] != "wechat_mp" || got["status"] != "paid" || num(got["paid_fen"]) != 10000 || num(got["gross_fen"]) != 10000 ||
		num(got["deduction_fen"]) != 0 || num(got["volume_centi_m3"]) != 3333 || len(lines) != 1 || got["paid_at"] == nil ||
		num(got["purchase_seq"]) != 1 || delivery["kind"] != "iot" || delivery["status"] != "pending" {
		t.Fatalf("receipt = %s", r.Body)
	}
	// Another customer's order has no receipt for you; it looks like none.
	bob := srv.Login("bob")
	if r := receipt(bob, no); r.Status != http.StatusNotFound {
		t.Fatalf("someone else's receipt: %d %s", r.Status, r.Body)
	}
	if r := receipt(b.token, "GP0000000000000000"); r.Status != http.StatusNotFound {
		t.Fatalf("no such order: %d %s", r.Status, r.Body)
	}
	if r := receipt(b.token, "bad!no"); r.Status != http.StatusBadRequest || r.Code(t) != "invalid_order_no" {
		t.Fatalf("bad order number: %d %s", r.Status, r.Body)
	}
	// The account now shows the credit on its way.
	a := srv.Do(apptest.Request{Method: "GET", Path: fmt.Sprintf("/api/accounts/%d", b.account), Token: b.token}).JSON(t)
	pc, _ := a["pending_credit"].(map[string]any)
	if pc["order_no"] != no || pc["kind"] != "iot" || num(pc["amount"]) != 10000 || pc["paid_at"] == nil {
		t.Fatalf("account after paying: %v", a)
	}
}

func TestAccountShowsOpenBills(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b := newBuyer(t, env, srv, "alice", "031120001", "王洪")
	get := func() map[string]any {
		return srv.Do(apptest.Request{Method: "GET", Path: fmt.Sprintf("/api/accounts/%d", b.account), Token: b.token}).JSON(t)
	}
	bills, _ := get()["bills"].([]any)
	if len(bills) != 2 {
		t.Fatalf("bills = %v", bills)
	}
	first := bills[0].(map[string]any)
	second := bills[1].(map[string]any)
	if num(first["owing_fen"]) != 8640 || num(second["owing_fen"]) != 12320 || first["period"].(string) >= second["period"].(string) {
		t.Fatalf("bills, oldest first: %v", bills)
	}
	// Paying 100.00 settles the oldest bill and part of the next.
	no := orderNo(t, b.order(map[string]any{"amount_fen": 10000}))
	if _, err := env.Pay.Pay(context.Background(), no, ""); err != nil {
		t.Fatal(err)
	}
	bills, _ = get()["bills"].([]any)
	if len(bills) != 1 || num(bills[0].(map[string]any)["owing_fen"]) != 20960-10000 || num(bills[0].(map[string]any)["amount_paid_fen"]) != 10000-8640 {
		t.Fatalf("bills after paying 100.00: %v", bills)
	}
}

// TestCustomerMessagesChinese: what a customer can read is Chinese, and a
// decoding error names the field sent, never a Go type.
func TestCustomerMessagesChinese(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b := newBuyer(t, env, srv, "alice", "031130001", "李娜")
	hasHan := func(s string) bool {
		for _, r := range s {
			if r >= 0x4e00 && r <= 0x9fff {
				return true
			}
		}
		return false
	}
	for _, tc := range []struct {
		name string
		r    apptest.Response
		code string
	}{
		{"wrong type in an order", b.order(map[string]any{"amount_fen": "x"}), "invalid_json"},
		{"wrong type in a quote", b.quote(map[string]any{"amount_fen": "x"}), "invalid_json"},
		{"neither amount nor volume", b.quote(map[string]any{}), "volume_or_amount"},
		{"over the limit", b.quote(map[string]any{"amount_fen": 150001}), "over_limit"},
		{"unknown field", b.quote(map[string]any{"amount": 1}), "invalid_json"},
		{"no session", srv.Do(apptest.Request{Method: "GET", Path: "/api/bindings"}), "unauthenticated"},
		{"no match", bind(srv, b.token, "user_number", "031120001", "王五"), "no_match"},
		{"bad holder name", bind(srv, b.token, "user_number", "031120001", "<b>"), "invalid_holder_name"},
		{"IC card here", newBuyer(t, env, srv, "bob", "031140086", "秦淮").order(map[string]any{"amount_fen": 100, "channel": "alipay_wap"}), "card_channel_required"},
		{"no route", srv.Do(apptest.Request{Method: "GET", Path: "/api/nothing"}), "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, _ := tc.r.JSON(t)["message"].(string)
			if tc.r.Code(t) != tc.code || !hasHan(msg) {
				t.Fatalf("%d %s, want code %s and a Chinese message", tc.r.Status, tc.r.Body, tc.code)
			}
			if strings.Contains(msg, "quoteRequest") || strings.Contains(msg, "orderRequest") {
				t.Fatalf("message names a Go type: %q", msg)
			}
		})
	}
	r := b.order(map[string]any{"amount_fen": "x"})
	if msg := r.JSON(t)["message"].(string); msg != "字段 amount_fen 的类型不正确。" {
		t.Fatalf("type error message %q", msg)
	}
}

// TestHallPaths: the hall's pages by path, its assets, and errors under
// /h5/ in the API's format or a Chinese page, never plain text.
func TestHallPaths(t *testing.T) {
	env := apptest.New(t, nil)
	srv := env.Start()
	for _, p := range []string{"/h5/", "/h5/pay", "/h5/result", "/h5/receipt", "/h5/accounts", "/h5/bind", "/h5/records", "/h5/account"} {
		r := srv.Do(apptest.Request{Method: "GET", Path: p + "?order_no=GP1"})
		if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "燃气服务大厅") || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(r.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Fatalf("%s: %d %v", p, r.Status, r.Header)
		}
	}
	for asset, want := range map[string]string{"/h5/app.js": "/api/bindings", "/h5/style.css": "@media print"} {
		r := srv.Do(apptest.Request{Method: "GET", Path: asset})
		if r.Status != http.StatusOK || !strings.Contains(string(r.Body), want) || r.Header.Get("ETag") == "" {
			t.Fatalf("%s: %d %v", asset, r.Status, r.Header)
		}
		again := srv.Do(apptest.Request{Method: "GET", Path: asset, Header: map[string]string{"If-None-Match": r.Header.Get("ETag")}})
		if again.Status != http.StatusNotModified {
			t.Fatalf("%s revalidated: %d", asset, again.Status)
		}
	}
	// A missing page: JSON for a program, a Chinese page for a browser.
	for _, p := range []string{"/h5/nope", "/h5/nope.js", "/h5/index.html", "/h5/../config/config.go", "/h5/a/b", "/h5/%2e%2e/go.mod"} {
		r := srv.Do(apptest.Request{Method: "GET", Path: p})
		if r.Status != http.StatusNotFound || r.Code(t) != "not_found" || !strings.Contains(r.JSON(t)["message"].(string), "不存在") {
			t.Errorf("%s: %d %s", p, r.Status, r.Body)
		}
	}
	r := srv.Do(apptest.Request{Method: "GET", Path: "/h5/nope", Header: map[string]string{"Accept": "text/html,application/xhtml+xml"}})
	if r.Status != http.StatusNotFound || !strings.Contains(string(r.Body), "页面不存在") || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("browser 404: %d %s", r.Status, r.Body)
	}
	if r := srv.Do(apptest.Request{Method: "GET", Path: "/h5", NoRedir: true}); r.Status != http.StatusMovedPermanently || r.Header.Get("Location") != "/h5/" {
		t.Fatalf("/h5: %d %v", r.Status, r.Header)
	}
	// Outside the sandbox the pages offer no sandbox step.
	cfg := srv.Do(apptest.Request{Method: "GET", Path: "/api/hall"}).JSON(t)
	sb := cfg["sandbox"].(map[string]any)
	if cfg["utility_name"] != "洪通燃气" || sb["login"] != false || sb["wechat_pay"] != false || sb["alipay"] != false {
		t.Fatalf("/api/hall = %v", cfg)
	}
}

// TestSandboxForTheHall: on a server run as `go run ./cmd/gaspay` runs,
// every customer step works from a browser: the hall says what the sandbox
// plays, the JS-SDK signs, and a WAP order nobody opened can be paid.
func TestSandboxForTheHall(t *testing.T) {
	s := browsertest.Sandbox(t, nil)
	jar := apptest.Browser(t)
	get := func(path string, out any) int {
		resp, err := jar.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out != nil {
			decodeJSONBody(t, resp, out)
		}
		return resp.StatusCode
	}
	var raw map[string]any
	get("/api/hall", &raw)
	sb := raw["sandbox"].(map[string]any)
	if sb["login"] != true || sb["wechat_pay"] != true || sb["alipay"] != true {
		t.Fatalf("/api/hall in the sandbox = %v", raw)
	}
	if st := get("/oa/login?as=zoe&next=/h5/", nil); st != http.StatusOK {
		t.Fatalf("sandbox login: %d", st)
	}
	var sig map[string]any
	page := s.URL + "/h5/bind"
	if st := get("/api/oa/jssdk-config?url="+url.QueryEscape(page), &sig); st != http.StatusOK || sig["signature"] == "" || sig["appId"] == nil {
		t.Fatalf("jssdk-config in the sandbox: %d %v", st, sig)
	}

	post := func(path string, body string, header map[string]string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", s.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", s.URL)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := jar.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		decodeJSONBody(t, resp, &out)
		return resp.StatusCode, out
	}
	if st, out := post("/api/bindings", `{"by":"meter_number","number":"20231100002"}`, nil); st != http.StatusCreated {
		t.Fatalf("bind: %d %v", st, out)
	}
	a, err := s.App.Store.AccountByUserNumber(context.Background(), "031130002")
	if err != nil {
		t.Fatal(err)
	}
	st, out := post("/api/orders", fmt.Sprintf(`{"account_id":%d,"amount_fen":2000,"channel":"alipay_wap"}`, a.ID), map[string]string{"Idempotency-Key": "hall-wap-0001"})
	if st != http.StatusCreated {
		t.Fatalf("order: %d %v", st, out)
	}
	no := out["order"].(map[string]any)["order_no"].(string)
	payURL := out["payment"].(map[string]any)["pay_url"].(string)
	if !strings.Contains(payURL, url.QueryEscape(s.URL+"/h5/result?order_no="+no)) {
		t.Errorf("the cashier does not return to the result page: %s", payURL)
	}
	// Nobody opened the cashier; the sandbox pays as the buyer would.
	if _, ok := s.App.AlipayFake.Trade(no); ok {
		t.Fatal("the trade exists before the cashier was opened")
	}
	st, out = post("/sandbox/alipay/pay/"+no, "", nil)
	if st != http.StatusOK || out["paid"] != true {
		t.Fatalf("sandbox Alipay pay of a WAP order: %d %v", st, out)
	}
	var o map[string]any
	get("/api/orders/"+no, &o)
	if o["status"] != "paid" || o["channel"] != "alipay_wap" {
		t.Fatalf("order after the sandbox paid it: %v", o)
	}
	// Paying it again is refused, in Chinese.
	st, out = post("/sandbox/alipay/pay/"+no, "", nil)
	if st != http.StatusConflict || out["code"] != "sandbox_pay_refused" || !strings.Contains(out["message"].(string), "沙箱") {
		t.Fatalf("paying twice: %d %v", st, out)
	}
}

func decodeJSONBody(t *testing.T, resp *http.Response, out any) {
	t.Helper()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("%s: body: %v", resp.Request.URL.Path, err)
	}
}
