package web_test

// The service hall driven in headless Chromium as a customer uses it, on a
// whole sandbox server (internal/browsertest): sandbox login, binding,
// paying an ordinary account's arrears through the sandbox WeChat pay sheet,
// an IoT recharge, Alipay WAP through the sandbox cashier, the receipt.

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"gaspay/app"
	"gaspay/internal/browsertest"
)

type hall struct {
	t   *testing.T
	srv *browsertest.Server
	b   *browsertest.Browser
}

func newHall(t *testing.T) *hall {
	t.Helper()
	// The browser first: without Chromium the test skips before building
	// a server (and fails in CI).
	b := browsertest.New(t)
	return &hall{t: t, srv: browsertest.Sandbox(t, nil), b: b}
}

func (h *hall) open(path string) { h.t.Helper(); h.b.Navigate(h.srv.URL + path) }

// login uses the sandbox login the hall offers outside WeChat.
func (h *hall) login(name string) {
	h.t.Helper()
	h.open("/h5/")
	h.b.WaitText("the login page", "#view", "沙箱登录")
	h.b.Fill("type the sandbox name", "#sandbox-name", name)
	h.b.Click("sandbox login", "#sandbox-login button[type=submit]")
	h.b.WaitText("the hall after login", "#view", "我要缴费")
}

func (h *hall) bind(by, number, holder string) {
	h.t.Helper()
	h.open("/h5/bind")
	h.b.WaitText("the bind page", "#bind-form", "立即绑定")
	if by == "meter_number" {
		h.b.Click("bind by meter number", "input[value=meter_number]")
	}
	h.b.Fill("type the number", "#bind-number", number)
	if holder != "" {
		h.b.Fill("type the holder", "#bind-holder", holder)
	}
	h.b.Click("bind", "#bind-form button[type=submit]")
}

func (h *hall) accountID(userNumber string) int64 {
	h.t.Helper()
	a, err := h.srv.App.Store.AccountByUserNumber(context.Background(), userNumber)
	if err != nil {
		h.t.Fatal(err)
	}
	return a.ID
}

func (h *hall) scalar(query string, args ...any) int64 {
	h.t.Helper()
	var n int64
	if err := h.srv.App.Store.DB().Raw(query, args...).Scan(&n).Error; err != nil {
		h.t.Fatal(err)
	}
	return n
}

// docShot saves a screenshot for the README when GASPAY_DOC_SCREENSHOTS
// names a folder.
func (h *hall) docShot(name string) {
	dir := os.Getenv("GASPAY_DOC_SCREENSHOTS")
	if dir == "" {
		return
	}
	if err := h.b.ScreenshotTo(filepath.Join(dir, name)); err != nil {
		h.t.Errorf("doc screenshot %s: %v", name, err)
	}
}

func TestHallPaysOrdinaryArrears(t *testing.T) {
	h := newHall(t)
	h.login("alice")

	// A failed bind answers in Chinese, on the page.
	h.bind("user_number", "031120001", "王五")
	h.b.WaitText("a failed bind", "#bind-error", "没有与该号码和户主姓名相符的账户")

	h.bind("user_number", "031120001", "王洪")
	id := h.accountID("031120001")
	h.b.WaitText("the account page", "#bills", "2")
	text := h.b.WaitText("the arrears", "#view", "209.60")
	for _, want := range []string{"王*", "欠费合计", "86.40", "123.20"} {
		if !strings.Contains(text, want) {
			t.Errorf("account page lacks %q:\n%s", want, text)
		}
	}

	h.b.Click("pay the arrears", "a[href^='/h5/pay']")
	h.b.WaitText("the pay page", "#limits", "1500.00")
	if v := browsertest.Eval[string](h.b, "the pre-filled amount", `document.querySelector("#amount").value`); v != "209.60" {
		t.Fatalf("amount pre-filled %q, want the arrears 209.60", v)
	}
	h.b.Click("query", "#query")
	quote := h.b.WaitText("the quote", "#quote", "应付款")
	for _, want := range []string{"燃气费 20", "86.40", "123.20", "合计", "账户余额抵扣", "0.00 元", "209.60 元", "结清欠费 209.60 元"} {
		if !strings.Contains(quote, want) {
			t.Errorf("quote lacks %q:\n%s", want, quote)
		}
	}
	h.docShot("hall-pay.png")
	h.b.Click("WeChat Pay", "#pay-wechat")
	h.b.WaitText("the sandbox pay sheet", "#sheet-amount", "¥209.60")
	h.docShot("hall-sheet.png")
	h.b.Click("pay on the sheet", "#sheet-pay")

	h.b.WaitText("the result: paid", "#pay-state", "缴费成功")
	h.b.WaitText("the bills settled", "#delivery-state", "已销账：结清账单 209.60 元")
	if n := h.scalar("SELECT arrears_fen FROM accounts WHERE id = ?", id); n != 0 {
		t.Errorf("arrears after paying: %d fen", n)
	}
	if n := h.scalar("SELECT COUNT(*) FROM bills WHERE account_id = ? AND amount_paid_fen < amount_due_fen", id); n != 0 {
		t.Errorf("%d bills still open", n)
	}
	if n := h.scalar("SELECT COUNT(*) FROM orders WHERE account_id = ? AND status = 'paid' AND payable_fen = 20960", id); n != 1 {
		t.Errorf("%d paid orders of 209.60, want 1", n)
	}

	h.b.Click("open the receipt", "a[href^='/h5/receipt']")
	receipt := h.b.WaitText("the receipt", "#receipt", "缴费凭证")
	for _, want := range []string{"洪通燃气", "031120001", "王*", "GP", "微信支付", "实付金额", "209.60 元", "结清账单", "已销账", "购气次数"} {
		if !strings.Contains(receipt, want) {
			t.Errorf("receipt lacks %q:\n%s", want, receipt)
		}
	}
	h.docShot("hall-receipt.png")
	// Printed, the receipt is all there is: no bar, no buttons.
	h.b.Do("print media", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
		return err
	}))
	if d := browsertest.Eval[string](h.b, "header in print", `getComputedStyle(document.querySelector(".bar")).display`); d != "none" {
		t.Errorf("the bar prints (display %q)", d)
	}
	if d := browsertest.Eval[string](h.b, "buttons in print", `getComputedStyle(document.querySelector("#print").parentElement).display`); d != "none" {
		t.Errorf("the buttons print (display %q)", d)
	}
	if d := browsertest.Eval[string](h.b, "receipt in print", `getComputedStyle(document.querySelector("#receipt")).display`); d == "none" {
		t.Errorf("the receipt does not print")
	}
	if ex := h.b.Exceptions(); len(ex) > 0 {
		t.Errorf("page exceptions: %v", ex)
	}
}

func TestHallRechargesIoTMeter(t *testing.T) {
	h := newHall(t)
	h.login("bob")
	h.bind("meter_number", "20231100001", "")
	id := h.accountID("031130001")
	h.b.WaitText("the IoT account", "#view", "表内余额")
	h.b.WaitText("the balance as of the report", "#view", "56.78 元")
	h.b.WaitText("as of", "#view", "截至")

	h.open("/h5/pay")
	h.b.WaitText("the recharge page", "#title", "物联网表充值")
	h.b.Click("quick amount 100", ".chip:nth-child(2)")
	h.b.Click("query", "#query")
	quote := h.b.WaitText("the quote", "#quote-lines", "第1阶梯")
	for _, want := range []string{"3.00", "33.33", "99.99", "100.00"} {
		if !strings.Contains(quote, want) {
			t.Errorf("quote lacks %q:\n%s", want, quote)
		}
	}
	h.b.Click("WeChat Pay", "#pay-wechat")
	h.b.WaitText("the sheet", "#sheet-amount", "¥100.00")
	h.b.Click("pay", "#sheet-pay")
	h.b.WaitText("paid", "#pay-state", "充值成功")
	h.b.WaitText("queued for the meter", "#delivery-state", "已排队")
	h.docShot("hall-result.png")
	if n := h.scalar("SELECT COUNT(*) FROM credits WHERE account_id = ? AND kind = 'iot' AND status = 'pending'", id); n != 1 {
		t.Errorf("%d IoT credits queued, want 1", n)
	}
	// The account says where the credit is and what to do.
	h.open("/h5/account")
	h.b.WaitText("the credit on its way", "#in-flight", "长按燃气表上的按钮 5 秒")

	// The record lists it and opens its receipt.
	h.open("/h5/records")
	h.b.WaitText("the records", "#records", "100.00 元")
	h.b.Click("the record", "#records a")
	h.b.WaitText("the receipt", "#receipt", "已排队，等待燃气表通讯")
}

func TestHallPaysWithAlipayWAP(t *testing.T) {
	h := newHall(t)
	h.login("carol")
	h.bind("meter_number", "20231100002", "")
	h.b.WaitText("the IoT account", "#view", "表内余额")
	h.open("/h5/pay")
	h.b.Fill("type an amount", "#amount", "50")
	h.b.Click("query", "#query")
	h.b.WaitText("the quote", "#quote", "50.00 元")
	h.b.Click("Alipay", "#pay-alipay")
	// The sandbox's Alipay cashier, as the buyer's browser sees it.
	h.b.WaitText("the cashier", "#total_amount", "50.00")
	h.b.Click("pay at the cashier", "form button[type=submit]")
	h.b.WaitText("back on the result page", "#pay-state", "充值成功")
	u, err := url.Parse(browsertest.Get(h.b, "location", chromedp.Location()))
	if err != nil {
		t.Fatal(err)
	}
	if u.Path != "/h5/result" || !strings.HasPrefix(u.Query().Get("order_no"), "GP") {
		t.Errorf("Alipay returned to %s, want the result page with the order number", u)
	}
	h.b.WaitText("alipay channel", "#view", "支付宝")
	h.b.WaitText("queued", "#delivery-state", "已排队")
}

// TestHallFirstVisit: the pages' whole transfer for a first visit stays
// under 150 KB and comes from this origin only.
func TestHallFirstVisit(t *testing.T) {
	h := newHall(t)
	h.login("dave")
	h.bind("user_number", "031120002", "阿依古丽·买买提")
	h.b.WaitText("bound", "#view", "账户余额")
	// A first visit: nothing in the browser's cache.
	h.b.Do("disable the cache", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Call(ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true})
		return err
	}))
	h.open("/h5/")
	h.b.WaitText("the hall", "#view", "我要缴费")
	type entry struct {
		Name string  `json:"name"`
		Size float64 `json:"size"`
	}
	entries := browsertest.Eval[[]entry](h.b, "resources", `[...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")].map(e => ({name: e.name, size: e.transferSize || e.encodedBodySize + 300}))`)
	var total float64
	for _, e := range entries {
		if !strings.HasPrefix(e.Name, h.srv.URL) {
			t.Errorf("the hall loads %s from elsewhere", e.Name)
		}
		total += e.Size
	}
	if len(entries) < 3 {
		t.Fatalf("only %d entries measured: %v", len(entries), entries)
	}
	t.Logf("first visit: %d requests, %.0f bytes", len(entries), total)
	if total > 150*1024 {
		t.Errorf("first visit transfers %.0f bytes, over 150 KB: %v", total, entries)
	}
}

func TestHallMissingPage(t *testing.T) {
	h := newHall(t)
	h.open("/h5/no-such-page")
	h.b.WaitText("the Chinese 404 page", "main", "页面不存在")
}

// TestHallPagesTour opens every page for each kind of account, as a
// customer browsing would: each says what it should, in Chinese, without a
// script error.
func TestHallPagesTour(t *testing.T) {
	h := newHall(t)
	h.open("/h5/")
	h.b.WaitText("the login page", "#view", "沙箱登录")
	h.docShot("tour-login.png")
	h.login("erin")
	h.bind("user_number", "031140086", "秦淮")
	h.b.WaitText("an IC-card account", "#card-channel", "蓝牙充值宝")
	h.b.WaitText("its card", "#view", "0000000012345678")
	h.docShot("tour-iccard.png")
	h.open("/h5/pay")
	h.b.WaitText("no paying an IC card here", "#card-channel", "EQ0027")
	h.bind("user_number", "031120001", "王洪")
	h.b.WaitText("bound", "#bills", "86.40")
	h.docShot("tour-ordinary.png")
	h.bind("meter_number", "20231100002", "")
	h.b.WaitText("bound", "#view", "12.03 元")

	h.open("/h5/accounts")
	list := h.b.WaitText("my accounts", "#account-list", "031140086")
	// The IoT meter, bound by its number alone, is shown by that number:
	// its user number and holder are not for a meter-only binding.
	for _, want := range []string{"默认", "031120001", "表号 20231100002", "IC卡表", "普表", "物联网表"} {
		if !strings.Contains(list, want) {
			t.Errorf("my accounts lack %q:\n%s", want, list)
		}
	}
	h.docShot("tour-accounts.png")
	// The IoT account becomes the default: listed first, and the hall's.
	h.b.Click("make the IoT meter the default", "#account-list li:nth-child(3) button:not(.danger)")
	h.b.WaitText("the new default first", "#account-list li:first-child", "默认")
	h.b.WaitText("the new default first", "#account-list li:first-child", "20231100002")
	h.open("/h5/")
	h.b.WaitText("the hall shows the default", "#view", "20231100002")
	h.docShot("tour-home.png")
	// Unbinding the IC card leaves two.
	h.open("/h5/accounts")
	h.b.WaitText("my accounts", "#account-list", "031140086")
	h.b.Do("accept the confirmation", chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`))
	h.b.Click("unbind the IC card", "#account-list li:nth-child(3) button.danger")
	h.b.WaitText("unbound", "#toast", "已解绑")
	if n := h.scalar("SELECT COUNT(*) FROM bindings"); n != 2 {
		t.Errorf("%d bindings after unbinding one of three", n)
	}
	h.open("/h5/records")
	h.b.WaitText("no records yet", "#view", "暂无缴费记录")
	h.open("/h5/bind")
	h.b.WaitText("the bind page", "#bind-form", "户主姓名")
	h.b.Click("bind by meter number", "input[value=meter_number]")
	h.b.WaitText("the meter hint", "#bind-form", "条形码下的数字")
	h.docShot("tour-bind.png")
	// Outside WeChat there is no scanner to offer: the number is typed.
	if hidden := browsertest.Eval[bool](h.b, "scan button", `document.querySelector("#scan").hidden`); !hidden {
		t.Error("the scan button shows outside WeChat")
	}
	h.b.Click("log out", "#logout")
	h.b.WaitText("logged out", "#view", "沙箱登录")
	if ex := h.b.Exceptions(); len(ex) > 0 {
		t.Errorf("page exceptions: %v", ex)
	}
}

// wechatBridge stands in for WeChat's in-app browser: WeixinJSBridge
// records each call; the JS-SDK's check and the barcode scanner answer at
// once, the pay sheet waits for the test (which pays, then answers ok). The
// orders the page creates are recorded, to compare with what it asks WeChat
// to pay.
const wechatBridge = `
window.__wx = { calls: [], orders: [], pay: null };
const realFetch = window.fetch.bind(window);
window.fetch = async (url, opts) => {
  const resp = await realFetch(url, opts);
  if (String(url) === "/api/orders" && opts && opts.method === "POST" && resp.ok) {
    resp.clone().json().then((o) => window.__wx.orders.push(o));
  }
  return resp;
};
window.WeixinJSBridge = {
  invoke(name, args, cb) {
    window.__wx.calls.push({ name, args });
    if (name === "preVerifyJSAPI") setTimeout(() => cb({ err_msg: "preVerifyJSAPI:ok" }), 0);
    else if (name === "scanQRCode") setTimeout(() => cb({ err_msg: "scanQRCode:ok", resultStr: "CODE_128,20231100001" }), 0);
    else if (name === "getBrandWCPayRequest") window.__wx.pay = cb;
  },
};`

// TestHallInWeChat: in WeChat's browser the hall logs in through OAuth by
// itself, scans the meter's barcode through the JS-SDK, and pays with
// getBrandWCPayRequest using exactly the parameters the order answered.
func TestHallInWeChat(t *testing.T) {
	b := browsertest.New(t, browsertest.Options{WeChat: true})
	h := &hall{t: t, srv: browsertest.Sandbox(t, nil), b: b}
	b.OnNewDocument(wechatBridge)

	// No session: straight to the official account's OAuth, and back.
	h.open("/h5/bind")
	h.b.WaitText("the bind page after OAuth", "#bind-form", "立即绑定")
	h.b.Click("bind by meter number", "input[value=meter_number]")
	h.b.Click("scan the barcode", "#scan")
	got := ""
	for range 100 {
		if got = browsertest.Eval[string](h.b, "scanned number", `document.querySelector("#bind-number").value`); got != "" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got != "20231100001" {
		t.Fatalf("the scanned meter number is %q", got)
	}
	type call struct {
		Name string         `json:"name"`
		Args map[string]any `json:"args"`
	}
	calls := browsertest.Eval[[]call](h.b, "bridge calls", `window.__wx.calls`)
	if len(calls) < 2 || calls[0].Name != "preVerifyJSAPI" || calls[0].Args["appId"] != app.SandboxOAAppID ||
		len(calls[0].Args["verifySignature"].(string)) != 40 || calls[1].Name != "scanQRCode" {
		t.Fatalf("JS-SDK calls: %+v", calls)
	}
	h.b.Click("bind", "#bind-form button[type=submit]")
	h.b.WaitText("bound", "#view", "表内余额")

	h.open("/h5/pay")
	h.b.WaitText("the pay page", "#title", "物联网表充值")
	h.b.Fill("type an amount", "#amount", "30.5")
	h.b.Click("query", "#query")
	h.b.WaitText("the quote", "#quote", "30.50 元")
	// No Alipay inside WeChat: it would not open.
	if n := browsertest.Eval[int](h.b, "alipay button", `document.querySelectorAll("#pay-alipay").length`); n != 0 {
		t.Error("an Alipay button inside WeChat")
	}
	h.b.Click("WeChat Pay", "#pay-wechat")
	var pay call
	for range 200 {
		calls = browsertest.Eval[[]call](h.b, "bridge calls", `window.__wx.calls`)
		if n := len(calls); n > 0 && calls[n-1].Name == "getBrandWCPayRequest" {
			pay = calls[n-1]
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if pay.Name == "" {
		t.Fatal("the page never opened WeChat's pay sheet")
	}
	type order struct {
		Order struct {
			OrderNo    string `json:"order_no"`
			PayableFen int64  `json:"payable_fen"`
		} `json:"order"`
		Payment map[string]any `json:"payment"`
	}
	orders := browsertest.Eval[[]order](h.b, "orders", `window.__wx.orders`)
	if len(orders) != 1 || orders[0].Order.PayableFen != 3050 {
		t.Fatalf("orders created: %+v", orders)
	}
	for _, k := range []string{"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"} {
		if pay.Args[k] == nil || pay.Args[k] != orders[0].Payment[k] {
			t.Errorf("getBrandWCPayRequest %s = %v, the order answered %v", k, pay.Args[k], orders[0].Payment[k])
		}
	}
	// The customer pays in WeChat; WeChat Pay notifies the server.
	if _, err := h.srv.App.WeChatPayFake.Pay(context.Background(), orders[0].Order.OrderNo, ""); err != nil {
		t.Fatal(err)
	}
	h.b.Do("WeChat answers ok", chromedp.Evaluate[chromedp.Void](`window.__wx.pay({ err_msg: "get_brand_wcpay_request:ok" })`))
	h.b.WaitText("paid", "#pay-state", "充值成功")
	h.b.WaitText("queued", "#delivery-state", "已排队")
}
