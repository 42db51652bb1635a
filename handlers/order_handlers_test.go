package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"gaspay/internal/apptest"
	"gaspay/wechat/wxpay/wxpayfake"
)

// buyer is a logged-in mini-program customer with one bound account.
type buyer struct {
	t       *testing.T
	srv     *apptest.Instance
	token   string
	account int64
}

func newBuyer(t *testing.T, env *apptest.Env, srv *apptest.Instance, name, userNumber, holder string) buyer {
	t.Helper()
	token := srv.Login(name)
	r := bind(srv, token, "user_number", userNumber, holder)
	if r.Status != http.StatusCreated && r.Status != http.StatusOK {
		t.Fatalf("bind %s: %d %s", userNumber, r.Status, r.Body)
	}
	return buyer{t: t, srv: srv, token: token, account: env.AccountID(userNumber)}
}

func (b buyer) quote(body map[string]any) apptest.Response {
	body["account_id"] = b.account
	return b.srv.Do(apptest.Request{Method: "POST", Path: "/api/quotes", Token: b.token, Body: body})
}

var keys int

// order places an order with a fresh idempotency key.
func (b buyer) order(body map[string]any) apptest.Response {
	keys++
	return b.orderWithKey(fmt.Sprintf("key-%08d", keys), body)
}

func (b buyer) orderWithKey(key string, body map[string]any) apptest.Response {
	if _, ok := body["account_id"]; !ok {
		body["account_id"] = b.account
	}
	if _, ok := body["channel"]; !ok {
		body["channel"] = "wechat_mp"
	}
	return b.srv.Do(apptest.Request{Method: "POST", Path: "/api/orders", Token: b.token, Body: body,
		Header: map[string]string{"Idempotency-Key": key}})
}

func (b buyer) get(orderNo string) map[string]any {
	b.t.Helper()
	r := b.srv.Do(apptest.Request{Method: "GET", Path: "/api/orders/" + orderNo, Token: b.token})
	if r.Status != http.StatusOK {
		b.t.Fatalf("get order %s: %d %s", orderNo, r.Status, r.Body)
	}
	return r.JSON(b.t)
}

func orderNo(t *testing.T, r apptest.Response) string {
	t.Helper()
	if r.Status != http.StatusCreated {
		t.Fatalf("order: %d %s", r.Status, r.Body)
	}
	return r.JSON(t)["order"].(map[string]any)["order_no"].(string)
}

func num(v any) int64 { f, _ := v.(float64); return int64(f) }

func TestQuotes(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	card := newBuyer(t, env, srv, "alice", "031140086", "秦淮") // volume card, balance 30 fen
	iot := newBuyer(t, env, srv, "alice", "031130001", "李娜")
	bill := newBuyer(t, env, srv, "alice", "031120001", "王洪") // arrears 86.40 + 123.20

	// 100 m3 on the first tier: 300.00 yuan, 0.30 from the balance.
	q := card.quote(map[string]any{"volume_centi_m3": 10000}).JSON(t)
	if num(q["gross_fen"]) != 30000 || num(q["deduction_fen"]) != 30 || num(q["payable_fen"]) != 29970 ||
		q["credit_unit"] != "centi_m3" || num(q["credit_amount"]) != 10000 || len(q["lines"].([]any)) != 1 ||
		num(q["limits"].(map[string]any)["max_amount_fen"]) != 150000 || num(q["limits"].(map[string]any)["max_volume_cm3"]) != 48272 ||
		num(q["limits"].(map[string]any)["max_volume_centi_m3"]) != 48272 || num(q["volume_centi_m3"]) != 10000 {
		t.Errorf("volume quote = %v", q)
	}
	// 10 yuan buys 3.33 m3 (9.99 yuan); the fen left over stays in the account.
	q = card.quote(map[string]any{"amount_fen": 1000}).JSON(t)
	if num(q["volume_cm3"]) != 333 || num(q["leftover_fen"]) != 1 || num(q["gross_fen"]) != 1000 || num(q["payable_fen"]) != 970 {
		t.Errorf("amount quote = %v", q)
	}
	// An IoT meter counts money: the volume is what the money buys now.
	q = iot.quote(map[string]any{"amount_fen": 1000}).JSON(t)
	if q["credit_unit"] != "fen" || num(q["credit_amount"]) != 1000 || num(q["leftover_fen"]) != 0 || num(q["volume_cm3"]) != 333 {
		t.Errorf("iot quote = %v", q)
	}
	// Ordinary accounts pay bills: any amount, arrears shown.
	q = bill.quote(map[string]any{"amount_fen": 20960}).JSON(t)
	if q["purpose"] != "bill" || num(q["arrears_fen"]) != 20960 || num(q["payable_fen"]) != 20960 {
		t.Errorf("bill quote = %v", q)
	}
	for _, tt := range []struct {
		name string
		b    buyer
		body map[string]any
		code string
	}{
		{"over the limit by volume", card, map[string]any{"volume_centi_m3": 48273}, "over_limit"},
		{"over the limit by amount", card, map[string]any{"amount_fen": 150001}, "over_limit"},
		{"less than 0.01 m3", card, map[string]any{"amount_fen": 2}, "amount_too_small"},
		{"volume for a bill", bill, map[string]any{"volume_centi_m3": 100}, "volume_not_allowed"},
		{"both", card, map[string]any{"volume_centi_m3": 100, "amount_fen": 100}, "volume_or_amount"},
		{"neither", card, map[string]any{}, "volume_or_amount"},
		{"negative", card, map[string]any{"volume_centi_m3": -5}, "invalid_volume"},
		{"zero", card, map[string]any{"amount_fen": 0}, "invalid_amount"},
		{"fraction", card, map[string]any{"amount_fen": 10.5}, "invalid_json"},
		{"string", card, map[string]any{"amount_fen": "1000"}, "invalid_json"},
		{"huge", card, map[string]any{"amount_fen": 1e15}, "invalid_amount"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.b.quote(tt.body)
			if r.Code(t) != tt.code || r.Status < 400 {
				t.Errorf("got %d %s", r.Status, r.Body)
			}
		})
	}
	// Someone else's account.
	bob := srv.Login("bob")
	r := srv.Do(apptest.Request{Method: "POST", Path: "/api/quotes", Token: bob, Body: map[string]any{"account_id": card.account, "volume_centi_m3": 100}})
	if r.Status != 404 {
		t.Errorf("quote for an unbound account: %d %s", r.Status, r.Body)
	}
}

// The whole IC-card purchase as far as payment: order, WeChat Pay, the
// notification, a paid order with a pending card write.
func TestPurchase(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	card := newBuyer(t, env, srv, "alice", "031140086", "秦淮")

	r := card.order(map[string]any{"volume_centi_m3": 10000})
	no := orderNo(t, r)
	body := r.JSON(t)
	pay := body["payment"].(map[string]any)
	if pay["appId"] != apptest.MPAppID || pay["signType"] != "RSA" || pay["paySign"] == "" || pay["package"] == "" {
		t.Fatalf("payment parameters = %v", pay)
	}
	o := body["order"].(map[string]any)
	if o["status"] != "pending" || num(o["payable_fen"]) != 29970 || o["credit"] != nil {
		t.Fatalf("new order = %v", o)
	}
	fo, ok := env.Pay.Order(no)
	if !ok || fo.TotalFen != 29970 || fo.AppID != apptest.MPAppID || fo.NotifyURL != srv.URL+"/notify/wechat/pay" ||
		fo.ExpiresAt.Sub(fo.CreatedAt) < 14*time.Minute+58*time.Second || fo.ExpiresAt.Sub(fo.CreatedAt) > 15*time.Minute {
		t.Fatalf("WeChat Pay order = %+v", fo)
	}
	// The balance's 0.30 is held by the order.
	if a := env.Store(); true {
		acct, _ := a.Account(context.Background(), card.account)
		if acct.BalanceFen != 0 {
			t.Fatalf("balance while paying = %d", acct.BalanceFen)
		}
	}

	res, err := env.Pay.Pay(context.Background(), no, "")
	if err != nil || !res.Acknowledged() {
		t.Fatalf("pay: %+v %v", res, err)
	}
	o = card.get(no)
	credit, _ := o["credit"].(map[string]any)
	if o["status"] != "paid" || o["paid_at"] == nil || credit == nil || credit["kind"] != "card" || credit["status"] != "pending" ||
		num(credit["amount"]) != 10000 || credit["unit"] != "centi_m3" {
		t.Fatalf("paid order = %v", o)
	}
	if env.Count("payments", "") != 1 || env.Count("credits", "") != 1 {
		t.Fatal("want one payment and one credit")
	}
	list := srv.Do(apptest.Request{Method: "GET", Path: fmt.Sprintf("/api/orders?account_id=%d", card.account), Token: card.token}).JSON(t)
	if orders := list["orders"].([]any); len(orders) != 1 || orders[0].(map[string]any)["order_no"] != no {
		t.Fatalf("history = %v", list)
	}

	// The credit has not reached the card: no new purchase (EQ0026).
	if r := card.order(map[string]any{"volume_centi_m3": 100}); r.Status != http.StatusConflict || r.Code(t) != "credit_pending" {
		t.Fatalf("second purchase: %d %s", r.Status, r.Body)
	}
}

func TestOrderIdempotency(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b := newBuyer(t, env, srv, "alice", "031130001", "李娜")

	first := b.orderWithKey("same-key-1", map[string]any{"amount_fen": 5000})
	no := orderNo(t, first)
	again := b.orderWithKey("same-key-1", map[string]any{"amount_fen": 5000})
	if again.Status != http.StatusCreated || orderNo(t, again) != no || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("repeat: %d %s", again.Status, again.Body)
	}
	other := b.orderWithKey("same-key-1", map[string]any{"amount_fen": 6000})
	if other.Status != http.StatusUnprocessableEntity || other.Code(t) != "idempotency_key_reused" {
		t.Fatalf("same key, other body: %d %s", other.Status, other.Body)
	}
	if r := b.srv.Do(apptest.Request{Method: "POST", Path: "/api/orders", Token: b.token,
		Body: map[string]any{"account_id": b.account, "amount_fen": 5000, "channel": "wechat_mp"}}); r.Code(t) != "idempotency_key_required" {
		t.Fatalf("no key: %d %s", r.Status, r.Body)
	}
	if n := env.Count("orders", ""); n != 1 {
		t.Fatalf("%d orders, want 1", n)
	}
	if n := env.Pay.Requests(wxpayfake.RouteJSAPI); n != 1 {
		t.Fatalf("%d prepays, want 1", n)
	}

	// Ten at once with one new key: one order.
	var wg sync.WaitGroup
	statuses := make(chan int, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- b.orderWithKey("same-key-2", map[string]any{"amount_fen": 7000}).Status
		}()
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusCreated && s != http.StatusConflict {
			t.Errorf("concurrent repeat answered %d", s)
		}
	}
	// The second key's order replaced the first (closed at WeChat Pay).
	if n := env.Count("orders", "status = ?", "pending"); n != 1 {
		t.Fatalf("%d pending orders, want 1", n)
	}
	if n := env.Count("orders", ""); n != 2 {
		t.Fatalf("%d orders, want 2", n)
	}
}

// A customer who abandons a payment can simply try again: the old order is
// closed at WeChat Pay, its balance hold released, and a new one opened.
func TestAbandonedPaymentRetried(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b := newBuyer(t, env, srv, "alice", "031140086", "秦淮")
	first := orderNo(t, b.order(map[string]any{"volume_centi_m3": 1000}))
	second := orderNo(t, b.order(map[string]any{"volume_centi_m3": 2000}))
	if fo, _ := env.Pay.Order(first); fo.State != wxpayfake.StateClosed {
		t.Fatalf("first order at WeChat Pay: %s", fo.State)
	}
	if o := b.get(first); o["status"] != "closed" {
		t.Fatalf("first order: %v", o)
	}
	if o := b.get(second); o["status"] != "pending" || num(o["deduction_fen"]) != 30 {
		t.Fatalf("second order: %v", o)
	}
	// The customer can no longer pay the first one.
	if _, err := env.Pay.Pay(context.Background(), first, ""); err == nil {
		t.Fatal("paid a closed order")
	}
}

// The previous order turns out paid (its notification was lost): it takes
// the paid path and the new one is refused.
func TestPreviousOrderPaid(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b := newBuyer(t, env, srv, "alice", "031130001", "李娜")
	first := orderNo(t, b.order(map[string]any{"amount_fen": 5000}))
	if err := env.Pay.PayQuietly(first); err != nil {
		t.Fatal(err)
	}
	r := b.order(map[string]any{"amount_fen": 3000})
	if r.Status != http.StatusConflict || r.Code(t) != "previous_order_paid" {
		t.Fatalf("new order: %d %s", r.Status, r.Body)
	}
	o := b.get(first)
	if o["status"] != "paid" || o["credit"].(map[string]any)["kind"] != "iot" || num(o["credit"].(map[string]any)["seq"]) != 1 {
		t.Fatalf("first order: %v", o)
	}
	if n := env.Count("orders", ""); n != 1 {
		t.Fatalf("%d orders", n)
	}
}

func TestOrderChannels(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	card := newBuyer(t, env, srv, "alice", "031140086", "秦淮")
	if r := card.order(map[string]any{"volume_centi_m3": 100, "channel": "wechat_oa"}); r.Code(t) != "card_channel_required" {
		t.Errorf("IC card through the official account: %d %s", r.Status, r.Body)
	}
	iot := newBuyer(t, env, srv, "alice", "031130001", "李娜")
	if r := iot.order(map[string]any{"amount_fen": 100, "channel": "wechat_oa"}); r.Code(t) != "channel_mismatch" {
		t.Errorf("official-account payment with a mini-program login: %d %s", r.Status, r.Body)
	}
	if r := iot.order(map[string]any{"amount_fen": 100, "channel": "alipay"}); r.Code(t) != "invalid_channel" {
		t.Errorf("unknown channel: %d %s", r.Status, r.Body)
	}
	if n := env.Count("orders", ""); n != 0 {
		t.Errorf("%d orders made", n)
	}
}

// Ordinary accounts: the payment settles the oldest bills, then the balance.
func TestBillPayment(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b := newBuyer(t, env, srv, "alice", "031120001", "王洪")
	no := orderNo(t, b.order(map[string]any{"amount_fen": 10000}))
	if _, err := env.Pay.Pay(context.Background(), no, ""); err != nil {
		t.Fatal(err)
	}
	c := b.get(no)["credit"].(map[string]any)
	if c["status"] != "delivered" || num(c["settled_fen"]) != 10000 || c["to_balance_fen"] != nil {
		t.Fatalf("credit = %v", c)
	}
	a := srv.Do(apptest.Request{Method: "GET", Path: fmt.Sprintf("/api/accounts/%d", b.account), Token: b.token}).JSON(t)
	if num(a["arrears_fen"]) != 20960-10000 || num(a["balance_fen"]) != 0 {
		t.Fatalf("after a partial payment: %v", a)
	}
	// Paying more than owed: the rest is credit on the account.
	no = orderNo(t, b.order(map[string]any{"amount_fen": 15000}))
	if _, err := env.Pay.Pay(context.Background(), no, ""); err != nil {
		t.Fatal(err)
	}
	a = srv.Do(apptest.Request{Method: "GET", Path: fmt.Sprintf("/api/accounts/%d", b.account), Token: b.token}).JSON(t)
	if num(a["arrears_fen"]) != 0 || num(a["balance_fen"]) != 15000-10960 {
		t.Fatalf("after paying more than owed: %v", a)
	}
	arrearsAgree(t, env)
}

// arrearsAgree checks every account's arrears total against its bills.
func arrearsAgree(t *testing.T, env *apptest.Env) {
	t.Helper()
	var bad []struct {
		UserNumber string
		ArrearsFen int64
		Sum        int64
	}
	err := env.DB.Raw(`SELECT a.user_number, a.arrears_fen, COALESCE((SELECT SUM(b.amount_due_fen - b.amount_paid_fen)
		FROM bills b WHERE b.account_id = a.id), 0) AS sum FROM accounts a`).Scan(&bad).Error
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		if b.ArrearsFen != b.Sum {
			t.Errorf("account %s: arrears total %d, bills owe %d", b.UserNumber, b.ArrearsFen, b.Sum)
		}
	}
}

// The key is stored with the order, in its transaction: a process that
// dies after the commit, before answering, leaves an order its key finds.
// The repeat answers that order (opening its payment again once the first
// request is surely gone), never a second order. And a storage error is a
// 500, never a 409 the client would wait on.
func TestOrderIdempotencyInTheOrderTransaction(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b := newBuyer(t, env, srv, "alice", "031130001", "李娜")

	first := b.orderWithKey("died-after-commit", map[string]any{"amount_fen": 5000})
	no := orderNo(t, first)
	// The process died between the order's commit and its answer: the
	// order has its key, not its payment parameters.
	if err := env.DB.Exec("UPDATE orders SET pay_params = NULL WHERE order_no = ?", no).Error; err != nil {
		t.Fatal(err)
	}
	soon := b.orderWithKey("died-after-commit", map[string]any{"amount_fen": 5000})
	if soon.Status != http.StatusConflict || soon.Code(t) != "request_in_progress" || soon.Header.Get("Retry-After") == "" {
		t.Fatalf("repeat while the first may still run: %d %s", soon.Status, soon.Body)
	}
	env.Clock.Advance(time.Minute)
	later := b.orderWithKey("died-after-commit", map[string]any{"amount_fen": 5000})
	if later.Status != http.StatusCreated || orderNo(t, later) != no || later.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("repeat after the first died: %d %s", later.Status, later.Body)
	}
	if later.JSON(t)["payment"] == nil {
		t.Fatalf("repeat without payment parameters: %s", later.Body)
	}
	if n := env.Count("orders", ""); n != 1 {
		t.Fatalf("%d orders, want 1", n)
	}
	if n := env.Count("orders", "pay_params IS NOT NULL"); n != 1 {
		t.Fatal("the reopened payment's parameters were not kept")
	}

	// The database fails under the request: an internal error, not a
	// conflict, and nothing is left claimed.
	if err := env.DB.Exec("ALTER TABLE orders RENAME TO orders_away").Error; err != nil {
		t.Fatal(err)
	}
	broken := b.orderWithKey("storage-fails", map[string]any{"amount_fen": 3000})
	if err := env.DB.Exec("ALTER TABLE orders_away RENAME TO orders").Error; err != nil {
		t.Fatal(err)
	}
	if broken.Status != http.StatusInternalServerError || broken.Code(t) != "internal" {
		t.Fatalf("storage error answered %d %s", broken.Status, broken.Body)
	}
	if n := env.Count("orders", "idem_key = ?", "storage-fails"); n != 0 {
		t.Fatalf("a failed request left its key on %d orders", n)
	}
}
