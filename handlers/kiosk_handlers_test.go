package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"gaspay/alipay/alipayfake"
	"gaspay/bleproxy"
	"gaspay/internal/apptest"
	"gaspay/kiosk/kioskclient"
	"gaspay/models"
	"gaspay/recharge"
	"gaspay/wechat/wxpay/wxpayfake"
)

const kioskKey = "kiosk-key-0123456789abcdef"

// newKiosk registers a kiosk whose card reader is boxID and returns it with
// the demo card in its reader.
func newKiosk(t *testing.T, env *apptest.Env, srv *apptest.Instance, id, boxID string, seq uint16) *kioskclient.Terminal {
	t.Helper()
	now := time.Now().UTC()
	if err := env.Store().SaveKiosk(context.Background(), &models.Kiosk{KioskID: id, Secret: kioskKey, BoxID: boxID, Active: true,
		CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	box := newBox(t, boxID)
	if seq > 0 {
		box.InsertCard(demoCard(t, seq))
	}
	return &kioskclient.Terminal{Client: &kioskclient.Client{URL: srv.URL, ID: id, Key: []byte(kioskKey)}, Box: box}
}

func fen(n int64) *int64 { return &n }

// The manual's purchase: read the card, 1,200 yuan less the 0.30 balance,
// scan a WeChat code, write the card, print the receipt.
func TestKioskPurchase(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	ctx := context.Background()
	k := newKiosk(t, env, srv, "K-0001", "4B00000000000001", 4)

	v, err := k.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v.Card != "present" || v.Holder != "秦*" || v.UserNumber != "031140086" || !v.PurchaseAllowed ||
		v.BalanceFen == nil || *v.BalanceFen != 30 || !strings.HasPrefix(v.Address, "秦淮人家6号") || !strings.Contains(v.Address, "*") ||
		v.Screen == "" || utf8.RuneCountInString(v.Screen) == len(v.Screen) {
		t.Fatalf("card read: %+v", v)
	}

	q, err := k.Do(ctx, "POST", "/kiosk/v1/quotes", map[string]any{"session_id": k.Session, "amount_fen": 120000}, "")
	if err != nil || q.Status != http.StatusOK {
		t.Fatalf("quote: %v %d %s", err, q.Status, q.Body)
	}
	qm := apptest.Response{Body: q.Body}.JSON(t)
	if num(qm["gross_fen"]) != 120000 || num(qm["deduction_fen"]) != 30 || num(qm["payable_fen"]) != 119970 {
		t.Fatalf("quote: %s", q.Body)
	}

	before := env.Pay.Requests(wxpayfake.RouteCodePay)
	o, _, err := k.PlaceOrder(ctx, kioskclient.Purchase{AmountFen: fen(120000), AuthCode: wxpayfake.AuthCode(wxpayfake.CodePaySuccess)}, "kiosk-order-0001")
	if err != nil {
		t.Fatal(err)
	}
	if o.Outcome != "paid" || o.Provider != "wechat" || o.Order.PayableFen != 119970 || env.Pay.Requests(wxpayfake.RouteCodePay) != before+1 {
		t.Fatalf("order: %+v", o)
	}
	if fo, ok := env.Pay.Order(o.Order.OrderNo); !ok || fo.TradeType != "MICROPAY" || fo.State != wxpayfake.StateSuccess || fo.TotalFen != 119970 {
		t.Fatalf("at WeChat Pay: %+v", fo)
	}
	if n := env.Count("payments", "order_id = (SELECT id FROM orders WHERE order_no = ?)", o.Order.OrderNo); n != 1 {
		t.Fatalf("%d payments", n)
	}

	// The paper ran out before the write: the write first, the receipt after.
	v, err = k.Write(ctx, o.Order.OrderNo)
	if err != nil || v.Delivered == nil || v.Delivered.Seq != 5 || !strings.Contains(v.Screen, "写卡成功") {
		t.Fatalf("write: %+v %v", v, err)
	}
	r, err := k.GetReceipt(ctx, o.Order.OrderNo, false)
	if err != nil {
		t.Fatal(err)
	}
	if r.Width != 32 || r.Receipt["written"] != true || num(r.Receipt["payable_fen"]) != 119970 || !strings.Contains(r.Text, "1199.70") ||
		!strings.Contains(r.Text, "账户余额抵扣") || !strings.Contains(r.Text, "0.30") || !strings.Contains(r.Text, "秦*") || strings.Contains(r.Text, "秦淮") {
		t.Fatalf("receipt: %v\n%s", r.Receipt, r.Text)
	}
	for _, line := range strings.Split(strings.TrimRight(r.Text, "\n"), "\n") {
		if w := printCols(line); w > 32 {
			t.Fatalf("receipt line %q is %d columns", line, w)
		}
	}
	again, err := k.GetReceipt(ctx, o.Order.OrderNo, true)
	if err != nil || !strings.Contains(again.Text, "补打") {
		t.Fatalf("reprint: %v\n%s", err, again.Text)
	}

	// Another kiosk sees nothing of this one's orders.
	other := newKiosk(t, env, srv, "K-0002", "4B00000000000002", 0)
	if a, err := other.Do(ctx, "GET", "/kiosk/v1/orders/"+o.Order.OrderNo+"/receipt", nil, ""); err != nil || a.Status != http.StatusNotFound {
		t.Fatalf("other kiosk's receipt: %v %d", err, a.Status)
	}

	// Staff see the kiosks and their last contact.
	ks := srv.Do(apptest.Request{Method: "GET", Path: "/api/admin/kiosks", Token: apptest.AdminToken})
	if ks.Status != http.StatusOK || !strings.Contains(string(ks.Body), `"kiosk_id":"K-0001"`) || strings.Contains(string(ks.Body), kioskKey) {
		t.Fatalf("kiosks: %s", ks.Body)
	}
	list := ks.JSON(t)["kiosks"].([]any)
	if list[0].(map[string]any)["last_seen_at"] == nil {
		t.Fatalf("no last contact: %s", ks.Body)
	}
}

func printCols(s string) int {
	n := 0
	for _, r := range s {
		if r < 0x2E80 {
			n++
		} else {
			n += 2
		}
	}
	return n
}

// Requests not signed by a registered kiosk, with its box, get nothing.
func TestKioskAuthAndRefusals(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	ctx := context.Background()
	k := newKiosk(t, env, srv, "K-0001", "4B00000000000001", 4)

	bad := &kioskclient.Client{URL: srv.URL, ID: "K-0001", Key: []byte("another-key-0123456789")}
	if a, _ := bad.Do(ctx, "GET", "/kiosk/v1/orders/GP2026000000000000", nil, ""); a.Status != http.StatusUnauthorized {
		t.Fatalf("wrong key: %d %s", a.Status, a.Body)
	}
	stale := &kioskclient.Client{URL: srv.URL, ID: "K-0001", Key: []byte(kioskKey), Now: func() time.Time { return time.Now().Add(-time.Hour) }}
	if a, _ := stale.Do(ctx, "GET", "/kiosk/v1/orders/GP2026000000000000", nil, ""); a.Status != http.StatusUnauthorized {
		t.Fatalf("stale: %d", a.Status)
	}

	// A HELLO from another box than the kiosk's reader.
	strange := &kioskclient.Terminal{Client: k.Client, Box: newBox(t, "4B000000000000FF")}
	if _, err := strange.Connect(ctx); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("another box: %v", err)
	}

	if _, err := k.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	// Codes of no provider we take are refused before any provider call.
	wx, ali := env.Pay.Requests(wxpayfake.RouteCodePay), env.Alipay.Requests("alipay.trade.pay")
	for _, code := range []string{"990000000000000001", "160000000000000001", "1300000000000000001", "310000000000000001", "2400000000000001"} {
		_, a, err := k.PlaceOrder(ctx, kioskclient.Purchase{AmountFen: fen(1000), AuthCode: code}, "refused-"+code)
		if err == nil || a.Status != http.StatusUnprocessableEntity || a.Code() != "auth_code_not_accepted" || !strings.Contains(a.Message(), "付款码") {
			t.Fatalf("code %s: %d %s %v", code, a.Status, a.Body, err)
		}
	}
	if env.Pay.Requests(wxpayfake.RouteCodePay) != wx || env.Alipay.Requests("alipay.trade.pay") != ali || env.Count("orders", "") != 0 {
		t.Fatal("a refused code reached a provider or left an order")
	}
	// 25–30 prefixes, 16–24 digits, are Alipay's.
	for _, tc := range []struct{ code, want string }{{"134567890123456710", "wechat"}, {"281234567890123456", "alipay"},
		{"2512345678901234", "alipay"}, {"301234567890123456789012", "alipay"}} {
		if got, err := recharge.CodeProviderFor(tc.code); err != nil || got != tc.want {
			t.Fatalf("%s: %s %v", tc.code, got, err)
		}
	}
}

// kioskOrder reads the demo card and scans code for 10 yuan.
func kioskOrder(t *testing.T, k *kioskclient.Terminal, code, key string) kioskclient.Order {
	t.Helper()
	ctx := context.Background()
	if _, err := k.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	o, _, err := k.PlaceOrder(ctx, kioskclient.Purchase{AmountFen: fen(1000), AuthCode: code}, key)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// poll advances the clock by CodePoll and asks about the order, as the
// kiosk does while the customer confirms.
func poll(t *testing.T, env *apptest.Env, k *kioskclient.Terminal, no string) kioskclient.Order {
	t.Helper()
	env.Clock.Advance(recharge.CodePoll)
	o, err := k.GetOrder(context.Background(), no)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// The closed loop, one customer at a time: confirming then paying, never
// paying, paying as the reverse arrives, a provider's system error, Alipay
// waiting (10003) and never paying.
func TestKioskCodeLoop(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	ctx := context.Background()
	k := newKiosk(t, env, srv, "K-0001", "4B00000000000001", 4)
	acct := env.AccountID("031140086")
	balance := func() int64 {
		a, err := env.Store().Account(ctx, acct)
		if err != nil {
			t.Fatal(err)
		}
		return int64(a.BalanceFen)
	}
	// ends reports how an order ended, polling at most 20 times.
	ends := func(o kioskclient.Order) kioskclient.Order {
		for i := 0; i < 20 && o.Outcome == "paying"; i++ {
			o = poll(t, env, k, o.Order.OrderNo)
		}
		return o
	}

	t.Run("password entered after two polls", func(t *testing.T) {
		o := kioskOrder(t, k, wxpayfake.AuthCode(wxpayfake.CodePayUserPaying), "loop-userpaying")
		if o.Outcome != "paying" || !strings.Contains(o.Screen, "60秒") {
			t.Fatalf("at the scan: %+v", o)
		}
		if o = ends(o); o.Outcome != "paid" {
			t.Fatalf("%+v", o)
		}
		// Written, so that the next purchase may go.
		if _, err := k.Read(ctx); err != nil {
			t.Fatal(err)
		}
		if v, err := k.Write(ctx, o.Order.OrderNo); err != nil || v.Delivered == nil {
			t.Fatalf("write: %+v %v", v, err)
		}
		k.Box.InsertCard(loaded(t, k.Box.Card()))
	})

	t.Run("never pays: reversed at 60 s, deduction back", func(t *testing.T) {
		b := balance()
		o := kioskOrder(t, k, wxpayfake.AuthCode(wxpayfake.CodePayNeverConfirmed), "loop-never")
		if balance() != b-min(b, 999) {
			t.Fatalf("deduction not held: %d → %d", b, balance())
		}
		polls := 0
		for o.Outcome == "paying" {
			o = poll(t, env, k, o.Order.OrderNo)
			polls++
		}
		if o.Outcome != "reversed" || o.Order.Status != "reversed" || polls < 11 || polls > 13 {
			t.Fatalf("after %d polls: %+v", polls, o)
		}
		if fo, _ := env.Pay.Order(o.Order.OrderNo); fo.State != wxpayfake.StateRevoked {
			t.Fatalf("at WeChat Pay: %s", fo.State)
		}
		if balance() != b {
			t.Fatalf("balance %d, want %d back", balance(), b)
		}
	})

	t.Run("pays as the reverse arrives: refused, retried, money back", func(t *testing.T) {
		o := ends(kioskOrder(t, k, wxpayfake.AuthCode(wxpayfake.CodePayRacesReverse), "loop-race"))
		fo, _ := env.Pay.Order(o.Order.OrderNo)
		if o.Outcome != "reversed" || fo.State != wxpayfake.StateRevoked || fo.TransactionID == "" || env.Pay.Requests(wxpayfake.RouteReverse) < 2 {
			t.Fatalf("%+v; at WeChat Pay %+v", o, fo)
		}
		if n := env.Count("payments", "order_id = (SELECT id FROM orders WHERE order_no = ?)", o.Order.OrderNo); n != 0 {
			t.Fatal("a reversed payment was taken as paid")
		}
	})

	t.Run("reverse refused outright, paid after all: recorded and refunded", func(t *testing.T) {
		b := balance()
		o := kioskOrder(t, k, wxpayfake.AuthCode(wxpayfake.CodePayNeverConfirmed), "loop-refused-reverse")
		for i := 0; i < 11; i++ {
			o = poll(t, env, k, o.Order.OrderNo)
		}
		if o.Outcome != "paying" {
			t.Fatalf("before the deadline: %+v", o)
		}
		// The customer pays; the deadline's query fails and the reverse is
		// refused: what the provider holds decides.
		if _, err := env.Pay.Pay(ctx, o.Order.OrderNo, ""); err != nil {
			t.Fatal(err)
		}
		env.Pay.InjectFault(wxpayfake.RouteQuery, wxpayfake.Fault{Status: 500, Code: "SYSTEM_ERROR"}, 1)
		env.Pay.InjectFault(wxpayfake.RouteReverse, wxpayfake.Fault{Status: 400, Code: "INVALID_REQUEST", Message: "不能撤销"}, 1)
		o = poll(t, env, k, o.Order.OrderNo)
		if o.Outcome != "reversed" || o.CodeState != "refunded" || (o.Order.Status != "refunding" && o.Order.Status != "refunded") {
			t.Fatalf("%+v", o)
		}
		if fo, _ := env.Pay.Order(o.Order.OrderNo); fo.RefundedFen != fo.TotalFen || fo.TotalFen != o.Order.PayableFen {
			t.Fatalf("at WeChat Pay: %+v", fo)
		}
		if n := env.Count("payments", "order_id = (SELECT id FROM orders WHERE order_no = ?)", o.Order.OrderNo); n != 1 || o.Order.Credit != nil || balance() != b {
			t.Fatalf("%d payments, credit %+v, balance %d of %d", n, o.Order.Credit, balance(), b)
		}
	})

	t.Run("system error although paid: found by the query", func(t *testing.T) {
		o := kioskOrder(t, k, wxpayfake.AuthCode(wxpayfake.CodePaySystemErrorPaid), "loop-syserror")
		if o.Outcome != "paying" {
			t.Fatalf("%+v", o)
		}
		if o = ends(o); o.Outcome != "paid" {
			t.Fatalf("%+v", o)
		}
		if _, err := k.Read(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := k.Write(ctx, o.Order.OrderNo); err != nil {
			t.Fatal(err)
		}
		k.Box.InsertCard(loaded(t, k.Box.Card()))
	})

	t.Run("balance too low: closed", func(t *testing.T) {
		o := kioskOrder(t, k, wxpayfake.AuthCode(wxpayfake.CodePayNotEnough), "loop-notenough")
		if o = ends(o); o.Outcome != "closed" || o.Order.Status != "closed" {
			t.Fatalf("%+v", o)
		}
	})

	t.Run("alipay 10003 then never: cancelled", func(t *testing.T) {
		code := "28" + strings.Repeat("3", 14) + "92"
		o := kioskOrder(t, k, code, "loop-alipay-never")
		if o.Provider != "alipay" || o.Outcome != "paying" {
			t.Fatalf("%+v", o)
		}
		if o = ends(o); o.Outcome != "reversed" {
			t.Fatalf("%+v", o)
		}
		if tr, ok := env.Alipay.Trade(o.Order.OrderNo); !ok || tr.Status != alipayfake.StatusClosed || tr.CancelAction != "close" {
			t.Fatalf("at Alipay: %+v", tr)
		}
	})

	t.Run("alipay pays as the cancel arrives: refunded by the cancel", func(t *testing.T) {
		code := "28" + strings.Repeat("4", 14) + "96"
		o := ends(kioskOrder(t, k, code, "loop-alipay-race"))
		if tr, _ := env.Alipay.Trade(o.Order.OrderNo); o.Outcome != "reversed" || tr.CancelAction != "refund" || tr.RefundedFen != tr.TotalFen {
			t.Fatalf("%+v; at Alipay %+v", o, tr)
		}
	})

	t.Run("alipay paid at once, written", func(t *testing.T) {
		o := kioskOrder(t, k, "28"+strings.Repeat("5", 14)+"10", "loop-alipay-paid")
		if o.Outcome != "paid" || o.Provider != "alipay" {
			t.Fatalf("%+v", o)
		}
		if _, err := k.Read(ctx); err != nil {
			t.Fatal(err)
		}
		if v, err := k.Write(ctx, o.Order.OrderNo); err != nil || v.Delivered == nil {
			t.Fatalf("%+v %v", v, err)
		}
	})
}

// loaded is the card after the meter took its pending purchase.
func loaded(t *testing.T, c *bleproxy.Card) *bleproxy.Card {
	t.Helper()
	img, kcard, err := bleproxy.OpenCardImage(master(t), c.Image)
	if err != nil {
		t.Fatal(err)
	}
	img.State = bleproxy.CardLoaded
	raw, err := img.Seal(kcard)
	if err != nil {
		t.Fatal(err)
	}
	return &bleproxy.Card{Image: raw}
}

// A card pulled mid-write: the kiosk says the purchase is kept, and the next
// read of the card, at another kiosk, writes it at no charge.
func TestKioskPulledCardWrittenFreeElsewhere(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	ctx := context.Background()
	k := newKiosk(t, env, srv, "K-0001", "4B00000000000001", 4)
	o := kioskOrder(t, k, wxpayfake.AuthCode(wxpayfake.CodePaySuccess), "pull-order-1")
	if o.Outcome != "paid" {
		t.Fatalf("%+v", o)
	}
	card := k.Box.Card()
	k.Box.InjectFault(bleproxy.FaultPull)
	v, err := k.Write(ctx, o.Order.OrderNo)
	if err != nil || v.Reason == nil || v.Reason.Code != "write_incomplete" || !strings.Contains(v.Screen, "免费写卡") || strings.Contains(v.Screen, "营业厅") {
		t.Fatalf("pulled: %+v %v", v, err)
	}
	if k.Box.Card() != nil {
		t.Fatal("the card is still in the reader")
	}

	// Not a second purchase: the same card at another kiosk.
	other := newKiosk(t, env, srv, "K-0002", "4B00000000000002", 0)
	other.Box.InsertCard(card)
	v, err = other.Connect(ctx)
	if err != nil || v.PurchaseAllowed || v.Pending == nil || v.Pending.OrderNo != o.Order.OrderNo || !strings.Contains(v.Screen, "免费写卡") {
		t.Fatalf("next read: %+v %v", v, err)
	}
	if _, a, err := other.PlaceOrder(ctx, kioskclient.Purchase{AmountFen: fen(500), AuthCode: wxpayfake.AuthCode(wxpayfake.CodePaySuccess)}, "pull-order-2"); err == nil || a.Code() != "credit_pending" {
		t.Fatalf("a second purchase: %d %s", a.Status, a.Body)
	}
	codepays := env.Pay.Requests(wxpayfake.RouteCodePay)
	v, err = other.Write(ctx, o.Order.OrderNo)
	if err != nil || v.Delivered == nil || v.Delivered.OrderNo != o.Order.OrderNo {
		t.Fatalf("free write: %+v %v", v, err)
	}
	if env.Pay.Requests(wxpayfake.RouteCodePay) != codepays || env.Count("payments", "") != 1 || env.Count("card_writes", "") != 2 {
		t.Fatal("the recovery charged again or skipped the card_writes record")
	}
}

// The network drops after the scan: the kiosk sends the same request again
// and learns the order it made, never a second charge.
func TestKioskNetworkDropAfterScan(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	ctx := context.Background()
	k := newKiosk(t, env, srv, "K-0001", "4B00000000000001", 4)
	o := kioskOrder(t, k, "281111111111111191", "drop-order-1")
	again, a, err := k.PlaceOrder(ctx, kioskclient.Purchase{AmountFen: fen(1000), AuthCode: "281111111111111191"}, "drop-order-1")
	if err != nil || a.Status != http.StatusCreated || again.Order.OrderNo != o.Order.OrderNo || env.Alipay.Requests("alipay.trade.pay") != 1 {
		t.Fatalf("replay: %+v %d %s", again, a.Status, a.Body)
	}
	// The janitor alone finishes it if the kiosk never asks again.
	for i := 0; i < 4; i++ {
		env.Clock.Advance(recharge.CodePoll)
		srv.App.Recharge.JanitorPass(ctx)
	}
	got, err := k.GetOrder(ctx, o.Order.OrderNo)
	if err != nil || got.Outcome != "paid" {
		t.Fatalf("%+v %v", got, err)
	}
}
