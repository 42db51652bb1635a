package web_test

// The staff console driven in headless Chromium on a whole sandbox server
// (internal/browsertest), as the counter and the back office use it: log
// in, search, open a customer, request a refund above the approval
// threshold, approve it as a second member of staff, import a bills file
// with a bad line and see the line, read the audit trail.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"gaspay/internal/browsertest"
	"gaspay/staff"
)

type desk struct {
	t   *testing.T
	srv *browsertest.Server
	b   *browsertest.Browser
}

const deskPassword = "counter-password-1"

func (d *desk) addStaff(name string, role staff.Role) {
	d.t.Helper()
	if _, err := d.srv.App.Staff.Add(context.Background(), staff.Actor{Name: staff.CLIActor, Role: staff.Admin, IP: "test"},
		name, role, deskPassword, false); err != nil {
		d.t.Fatal(err)
	}
}

func (d *desk) login(name string) {
	d.t.Helper()
	d.b.Do("open the console", chromedp.Navigate(d.srv.URL+"/admin/"))
	d.b.WaitText("the login form", "#login-form", "员工登录")
	d.b.Do("log in as "+name,
		chromedp.SendKeys("#name", name),
		chromedp.SendKeys("#password", deskPassword),
		chromedp.Click("#login-form button[type=submit]"))
	d.b.WaitText("the dashboard", "#who", name)
	d.b.WaitText("today's figures", "#view", "今日收款")
}

func (d *desk) logout() {
	d.t.Helper()
	d.b.Do("log out", chromedp.Click("#logout"))
	d.b.WaitText("logged out", "#login-form", "已退出登录")
}

func (d *desk) shot(name string) {
	d.t.Helper()
	p := d.b.Screenshot(name)
	if dir := os.Getenv("GASPAY_DOC_SCREENSHOTS"); dir != "" {
		if err := d.b.ScreenshotTo(filepath.Join(dir, name+".png")); err != nil {
			d.t.Errorf("doc screenshot: %v", err)
		}
	}
	d.t.Logf("screenshot %s", p)
}

// call is a customer's request to the sandbox server.
func call(t *testing.T, url, token, idem string, body any) map[string]any {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s: %d %v", url, resp.StatusCode, out)
	}
	return out
}

func TestConsoleInChromium(t *testing.T) {
	b := browsertest.New(t)
	// The IoT credit below stays queued (the meter platform is not sent
	// it during this test), so that its refund is immediate once approved:
	// a recharge already sent is refunded only after the meter proves it
	// dead (issue 9).
	d := &desk{t: t, b: b, srv: browsertest.Sandbox(t, map[string]string{"GASPAY_REFUND_APPROVAL_FEN": "1000",
		"GASPAY_IOT_DISPATCH_INTERVAL": "1h"})}
	// A desk, not a phone.
	b.Do("desktop window", chromedp.EmulateViewport(1280, 900))
	t.Setenv("GASPAY_TEST_ARTIFACTS", filepath.Join(browsertest.ArtifactsDir(), "console"))
	d.addStaff("op1", staff.Operator)
	d.addStaff("fin1", staff.Finance)
	d.addStaff("adm1", staff.Admin)

	// 李娜 pays 20.00 yuan for her IoT meter in the mini-program.
	u := d.srv.URL
	token := call(t, u+"/api/mp/login", "", "", map[string]string{"code": "test:lina"})["token"].(string)
	bound := call(t, u+"/api/bindings", token, "", map[string]string{"by": "meter_number", "number": "20231100001", "holder_name": "李娜"})
	order := call(t, u+"/api/orders", token, "console-1", map[string]any{"account_id": bound["account_id"], "amount_fen": 2000, "channel": "wechat_mp"})
	no := order["order"].(map[string]any)["order_no"].(string)
	call(t, u+"/sandbox/wechat/pay/"+no, "", "", nil)
	// The messages loop's pass, now: "payment received" for her.
	if _, err := d.srv.App.Messages.ProducePass(context.Background()); err != nil {
		t.Fatal(err)
	}
	d.srv.App.Messages.SendPass(context.Background())

	// The counter: search, open the customer, ask for a refund; above the
	// threshold it waits for approval.
	d.login("op1")
	d.shot("console-dashboard")
	d.b.Do("open search", chromedp.Click(`nav a[data-tab=search]`))
	d.b.Do("search by meter number", chromedp.SendKeys("#q", "20231100001"), chromedp.Click("#search-form button"))
	d.b.WaitText("the result", "#results", "李娜")
	d.b.Do("open the customer", chromedp.Click("#results a.account"))
	d.b.WaitText("the customer", "#customer-title", "031130001")
	d.b.WaitText("the order", "#view", no)
	d.b.WaitText("the tariff version that priced it", ".tariff-version", "第 1 版")
	d.b.WaitText("the messages section", "#view", "发送的消息")
	d.b.Do("see the delivery", chromedp.Click("button.delivery"))
	d.b.WaitText("the IoT delivery, not yet queued", ".iot-state", "待排队")
	d.b.WaitText("the send-now button", "button.resend", "立即下发")
	d.b.Do("scroll to the delivery", chromedp.ScrollIntoView(".recovery"))
	d.shot("console-delivery")
	d.b.WaitText("the payment's message", "#messages", "缴费成功")
	d.b.Do("scroll to the messages", chromedp.ScrollIntoView("#messages"))
	d.shot("console-customer-messages")
	d.b.Do("ask WeChat Pay", chromedp.Click("button.ask"))
	d.b.WaitText("WeChat Pay's answer", ".provider-answer", "已支付")
	d.b.Do("refund", chromedp.Click("button.refund"))
	d.b.Do("give a reason", chromedp.SendKeys(".refund-reason", "客户搬家销户"), chromedp.Click(".refund-form button"))
	d.b.WaitText("awaiting approval", ".refund-result", "已提交审批")
	d.shot("console-customer")
	// Reconciliation is finance's.
	d.b.Do("open reconciliation", chromedp.Click(`nav a[data-tab=recon]`))
	d.b.WaitText("reconciliation refused", "#view", "只有财务和管理员可以查看对账")
	d.logout()

	// Finance approves it.
	d.login("fin1")
	d.b.Do("open approvals", chromedp.Click(`nav a[data-tab=approvals]`))
	d.b.WaitText("the request", "#view", "客户搬家销户")
	d.b.Do("approve", chromedp.Click("button.approve"))
	d.b.WaitText("approved", ".approval-status", "已批准")
	d.shot("console-approvals")
	d.b.Do("open the daily report", chromedp.Click(`nav a[data-tab=reports]`))
	d.b.WaitText("the daily report", "#view", "各渠道收款")
	d.b.WaitText("the day's total", "#view", "¥20.00")
	d.shot("console-report")
	// An alert reads in Chinese, its code beside it.
	if err := d.srv.App.Store.AddAlert(context.Background(), "iot_meter_silent", "",
		"燃气表 20231100002 自 2026-11-25 16:00 起未通讯", time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	d.b.Do("open alerts", chromedp.Click(`nav a[data-tab=alerts]`))
	d.b.WaitText("the alert's kind in Chinese", "#view", "燃气表长时间未通讯")
	d.b.WaitText("its code", "#view", "iot_meter_silent")
	d.shot("console-alerts")
	// A day reconciled with the sandbox's WeChat Pay bill, and its
	// differences, in the reconciliation section.
	yesterday := time.Now().In(time.FixedZone("CST", 8*3600)).AddDate(0, 0, -1).Format("2006-01-02")
	if _, err := d.srv.App.Reconcile.Run(context.Background(), "wechat", yesterday); err != nil {
		t.Logf("reconcile %s: %v", yesterday, err)
	}
	d.b.Do("open reconciliation", chromedp.Click(`nav a[data-tab=recon]`))
	d.b.WaitText("the runs", "#recon-runs", yesterday)
	d.b.WaitText("the undelivered", "#recon-aging", "已付款未送达")
	d.shot("console-reconciliation")
	d.logout()

	// The back office imports bills; a bad line is shown by its number
	// and nothing is imported.
	dir := t.TempDir()
	file := filepath.Join(dir, "bills.csv")
	os.WriteFile(file, []byte("user_number,period,amount_fen,due_date\n031120002,2025-12,5000,2026-01-15\n031120002,2026-13,5000,2026-11-15\n"), 0o600)
	d.login("adm1")
	d.b.Do("open imports", chromedp.Click(`nav a[data-tab=imports]`))
	d.b.WaitText("the import form", "#view", "上传导入")
	d.b.Do("choose the file", chromedp.SetUploadFiles("#import-file", []string{file}))
	d.b.Do("upload", chromedp.Click("#import-form button"))
	d.b.WaitText("the bad line", "#import-result", "第 3 行")
	d.shot("console-import-error")
	os.WriteFile(file, []byte("user_number,period,amount_fen,due_date\n031120002,2025-12,5000,2026-01-15\n"), 0o600)
	d.b.Do("upload the corrected file", chromedp.SetUploadFiles("#import-file", []string{file}), chromedp.Click("#import-form button"))
	d.b.WaitText("imported", "#import-result", "已导入 1 行")

	// Accounts too: a meter that belongs to another account is refused by
	// its line, and nothing is imported.
	accounts := filepath.Join(dir, "accounts.csv")
	os.WriteFile(accounts, []byte("user_number,holder_name,address,phone,kind,meter_number,card_serial,card_type,balance_fen\n"+
		"031199001,新户甲,新街1号,,ordinary,0319900101,,,0\n031199002,新户乙,新街2号,,ordinary,0312000101,,,0\n"), 0o600)
	d.b.Do("choose accounts", chromedp.SetValue("#import-kind", "accounts"), chromedp.SetUploadFiles("#import-file", []string{accounts}))
	d.b.Do("upload accounts", chromedp.Click("#import-form button"))
	d.b.WaitText("the conflicting line", "#import-result", "第 3 行")
	d.shot("console-import-accounts-error")
	os.WriteFile(accounts, []byte("user_number,holder_name,address,phone,kind,meter_number,card_serial,card_type,balance_fen\n"+
		"031199001,新户甲,新街1号,,ordinary,0319900101,,,0\n031199002,新户乙,新街2号,,ordinary,0319900102,,,0\n"), 0o600)
	d.b.Do("upload corrected accounts", chromedp.SetValue("#import-kind", "accounts"), chromedp.SetUploadFiles("#import-file", []string{accounts}),
		chromedp.Click("#import-form button"))
	d.b.WaitText("accounts imported", "#import-result", "已导入 2 行")
	d.b.WaitText("the import list", "#import-list", "账户")

	// A price change scheduled for a future day shows as scheduled.
	d.b.Do("open prices", chromedp.Click(`nav a[data-tab=settings]`))
	d.b.WaitText("the tariffs", "#view", "居民生活用气")
	d.b.Do("schedule a price", chromedp.SetValue("form.schedule .s-date", time.Now().AddDate(0, 1, 0).Format("2006-01-02")),
		chromedp.SendKeys("form.schedule .s-tiers", "310:3.10,520:3.40,*:4.30"), chromedp.Click("form.schedule button"))
	d.b.WaitText("scheduled", ".tariff-scheduled", "待生效")
	d.b.WaitText("the staff list", "#staff", "fin1")
	d.shot("console-prices")

	// The audit trail shows who did what.
	d.b.Do("open the audit", chromedp.Click(`nav a[data-tab=audit]`))
	text := d.b.WaitText("the audit", "#audit-list", "refund.approve")
	for _, want := range []string{"refund.request", "op1", "fin1", "import.bills", "import.accounts", "tariff.schedule", "order:" + no} {
		if !strings.Contains(text, want) {
			t.Errorf("audit page lacks %q", want)
		}
	}
	d.shot("console-audit")

	var status string
	d.srv.App.Store.DB().Raw("SELECT status FROM orders WHERE order_no = ?", no).Scan(&status)
	if status != "refunding" && status != "refunded" {
		t.Fatalf("order %s after approval: %s", no, status)
	}
	if ex := b.Exceptions(); len(ex) > 0 {
		t.Fatalf("page exceptions: %v", ex)
	}
}
