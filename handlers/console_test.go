package handlers_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"gaspay/internal/apptest"
	"gaspay/internal/beijing"
	"gaspay/models"
	"gaspay/partner"
	"gaspay/recharge"
	"gaspay/staff"
)

const staffPassword = "counter-password-1"

// clerk is a logged-in member of staff: a browser with the session cookie
// and the CSRF token the login answered.
type clerk struct {
	t      *testing.T
	srv    *apptest.Instance
	name   string
	client *http.Client
	csrf   string
}

// addStaff creates a member of staff through the service, as the command
// line does.
func addStaff(t *testing.T, srv *apptest.Instance, name string, role staff.Role, totp bool) staff.Added {
	t.Helper()
	a, err := srv.App.Staff.Add(context.Background(), staff.Actor{Name: staff.CLIActor, Role: staff.Admin, IP: "test"}, name, role, staffPassword, totp)
	if err != nil {
		t.Fatalf("add %s: %v", name, err)
	}
	return a
}

func staffLogin(srv *apptest.Instance, client *http.Client, name, password, otp string) apptest.Response {
	body := map[string]string{"name": name, "password": password}
	if otp != "" {
		body["otp"] = otp
	}
	return srv.Do(apptest.Request{Method: "POST", Path: "/api/admin/login", Body: body, Client: client,
		Header: map[string]string{"Origin": srv.URL}})
}

// newClerk adds a member of staff with role and logs them in.
func newClerk(t *testing.T, srv *apptest.Instance, name string, role staff.Role) *clerk {
	t.Helper()
	addStaff(t, srv, name, role, false)
	c := &clerk{t: t, srv: srv, name: name, client: apptest.Browser(t)}
	r := staffLogin(srv, c.client, name, staffPassword, "")
	if r.Status != http.StatusOK {
		t.Fatalf("login %s: %d %s", name, r.Status, r.Body)
	}
	c.csrf = r.JSON(t)["csrf_token"].(string)
	return c
}

func (c *clerk) do(method, path string, body any) apptest.Response {
	c.t.Helper()
	h := map[string]string{"Origin": c.srv.URL}
	if method != "GET" {
		h["X-CSRF-Token"] = c.csrf
	}
	return c.srv.Do(apptest.Request{Method: method, Path: path, Body: body, Client: c.client, Header: h})
}

// auditRows reads the audit trail's entries for an action.
func auditRows(t *testing.T, env *apptest.Env, action string) []models.AuditEntry {
	t.Helper()
	var out []models.AuditEntry
	if err := env.DB.Where("action = ?", action).Order("id").Find(&out).Error; err != nil {
		t.Fatal(err)
	}
	return out
}

func TestStaffLoginSessionsAndCSRF(t *testing.T) {
	env := apptest.New(t, nil)
	srv := env.Start()
	addStaff(t, srv, "lin", staff.Operator, false)
	browser := apptest.Browser(t)

	r := staffLogin(srv, browser, "lin", "wrong-password-00", "")
	if r.Status != http.StatusUnauthorized || r.Code(t) != "bad_credentials" {
		t.Fatalf("wrong password: %d %s", r.Status, r.Body)
	}
	if r := staffLogin(srv, browser, "nobody", staffPassword, ""); r.Status != http.StatusUnauthorized || r.Code(t) != "bad_credentials" {
		t.Fatalf("unknown name: %d %s", r.Status, r.Body)
	}
	if got := auditRows(t, env, "staff.login_failed"); len(got) != 2 || got[0].Actor != "lin" || got[0].IP == "" {
		t.Fatalf("failed logins audited: %+v", got)
	}
	if r := srv.Do(apptest.Request{Method: "POST", Path: "/api/admin/login", Body: map[string]string{"name": "lin", "password": staffPassword},
		Header: map[string]string{"Origin": "https://evil.example"}}); r.Status != http.StatusForbidden {
		t.Fatalf("login from another origin: %d", r.Status)
	}

	r = staffLogin(srv, browser, "lin", staffPassword, "")
	if r.Status != http.StatusOK || r.JSON(t)["role"] != "operator" {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	csrf := r.JSON(t)["csrf_token"].(string)
	cookie := r.Header.Get("Set-Cookie")
	for _, want := range []string{"gaspay_staff=gst_", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(cookie, want) {
			t.Fatalf("cookie %q lacks %s", cookie, want)
		}
	}
	// The session lives in Redis (under a hash of the cookie) for 8 idle
	// hours, renewed by each use.
	token := strings.TrimPrefix(strings.Split(cookie, ";")[0], "gaspay_staff=")
	sum := sha256.Sum256([]byte(token))
	if ttl := env.Redis.TTL(context.Background(), env.Redis.Key("staffsess", hex.EncodeToString(sum[:16]))).Val(); ttl < 7*time.Hour+59*time.Minute || ttl > 8*time.Hour {
		t.Fatalf("session TTL %s", ttl)
	}
	me := srv.Do(apptest.Request{Method: "GET", Path: "/api/admin/me", Client: browser})
	if me.Status != http.StatusOK || me.JSON(t)["name"] != "lin" || me.JSON(t)["csrf_token"] != csrf {
		t.Fatalf("me: %d %s", me.Status, me.Body)
	}

	// A change without the CSRF token, or with another, is refused.
	body := map[string]string{"note": "已处理"}
	for _, tok := range []string{"", "not-the-token"} {
		h := map[string]string{}
		if tok != "" {
			h["X-CSRF-Token"] = tok
		}
		r := srv.Do(apptest.Request{Method: "POST", Path: "/api/admin/alerts/1/resolve", Body: body, Client: browser, Header: h})
		if r.Status != http.StatusForbidden || r.Code(t) != "csrf_required" {
			t.Fatalf("CSRF token %q: %d %s", tok, r.Status, r.Body)
		}
	}
	r = srv.Do(apptest.Request{Method: "POST", Path: "/api/admin/alerts/1/resolve", Body: body, Client: browser,
		Header: map[string]string{"X-CSRF-Token": csrf}})
	if r.Status != http.StatusNotFound {
		t.Fatalf("with the token: %d %s", r.Status, r.Body)
	}

	// Logout ends the session on the server, not only in the browser.
	stolen := &http.Cookie{Name: "gaspay_staff", Value: strings.TrimPrefix(strings.Split(cookie, ";")[0], "gaspay_staff=")}
	if r := srv.Do(apptest.Request{Method: "POST", Path: "/api/admin/logout", Client: browser, Header: map[string]string{"X-CSRF-Token": csrf}}); r.Status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", r.Status, r.Body)
	}
	if r := srv.Do(apptest.Request{Method: "GET", Path: "/api/admin/me", Header: map[string]string{"Cookie": stolen.String()}}); r.Status != http.StatusUnauthorized {
		t.Fatalf("after logout: %d %s", r.Status, r.Body)
	}
	if n := len(auditRows(t, env, "staff.login")) + len(auditRows(t, env, "staff.logout")); n != 2 {
		t.Fatalf("login and logout audited: %d rows", n)
	}

	// Disabling ends every session and refuses the password.
	c := newClerk(t, srv, "wang", staff.Viewer)
	if err := srv.App.Staff.Disable(context.Background(), staff.Actor{Name: staff.CLIActor, Role: staff.Admin}, "wang"); err != nil {
		t.Fatal(err)
	}
	if r := c.do("GET", "/api/admin/me", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("disabled staff's session: %d", r.Status)
	}
	if r := staffLogin(srv, apptest.Browser(t), "wang", staffPassword, ""); r.Code(t) != "bad_credentials" {
		t.Fatalf("disabled staff's login: %d %s", r.Status, r.Body)
	}
}

func TestStaffLoginLimitsAndTOTP(t *testing.T) {
	env := apptest.New(t, nil)
	srv := env.Start()
	addStaff(t, srv, "zhao", staff.Finance, false)
	// Five failures for one name: the sixth attempt is refused even with
	// the right password.
	for i := range 5 {
		if r := staffLogin(srv, nil, "zhao", fmt.Sprintf("wrong-password-%02d", i), ""); r.Code(t) != "bad_credentials" {
			t.Fatalf("attempt %d: %d %s", i, r.Status, r.Body)
		}
	}
	if r := staffLogin(srv, nil, "zhao", staffPassword, ""); r.Status != http.StatusTooManyRequests {
		t.Fatalf("after five failures: %d %s", r.Status, r.Body)
	}
	// The IP is limited too: the same client guessing other names is
	// refused (all test requests come from 127.0.0.1, which has used up its
	// five attempts above).
	addStaff(t, srv, "qian", staff.Admin, true)
	if r := staffLogin(srv, nil, "qian", staffPassword, ""); r.Status != http.StatusTooManyRequests {
		t.Fatalf("another name from the same IP: %d %s", r.Status, r.Body)
	}

	env2 := apptest.New(t, nil)
	srv2 := env2.Start()
	added := addStaff(t, srv2, "sun", staff.Admin, true)
	if !strings.HasPrefix(added.TOTPURI, "otpauth://totp/gaspay:sun?secret=") {
		t.Fatalf("TOTP URI %q", added.TOTPURI)
	}
	if r := staffLogin(srv2, nil, "sun", staffPassword, ""); r.Status != http.StatusUnauthorized || r.Code(t) != "otp_required" {
		t.Fatalf("no code: %d %s", r.Status, r.Body)
	}
	if r := staffLogin(srv2, nil, "sun", staffPassword, "000000"); r.Code(t) != "otp_required" {
		t.Fatalf("wrong code: %d %s", r.Status, r.Body)
	}
	code, err := staff.TOTPCode(added.TOTPSecret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r := staffLogin(srv2, nil, "sun", staffPassword, code); r.Status != http.StatusOK {
		t.Fatalf("right code: %d %s", r.Status, r.Body)
	}
	// A code is good once: one seen over a shoulder cannot be replayed.
	if r := staffLogin(srv2, nil, "sun", staffPassword, code); r.Code(t) != "otp_required" {
		t.Fatalf("replayed code: %d %s", r.Status, r.Body)
	}
}

// adminRoutes names the permission every /api/admin route needs. A route
// added to the router without a line here fails the test.
var adminRoutes = map[string]staff.Permission{
	"POST /api/admin/logout":                                 staff.Read,
	"GET /api/admin/me":                                      staff.Read,
	"GET /api/admin/dashboard":                               staff.Read,
	"GET /api/admin/accounts":                                staff.Read,
	"GET /api/admin/accounts/:id":                            staff.Read,
	"POST /api/admin/accounts/:id/status":                    staff.Act,
	"POST /api/admin/accounts/:id/correction":                staff.Act,
	"POST /api/admin/accounts/:id/card-replacement":          staff.Act,
	"DELETE /api/admin/accounts/:id/bindings/:bid":           staff.Act,
	"GET /api/admin/orders":                                  staff.Read,
	"GET /api/admin/orders/:no":                              staff.Read,
	"GET /api/admin/orders/:no/provider":                     staff.Act,
	"POST /api/admin/orders/:no/refund":                      staff.Act,
	"GET /api/admin/orders/:no/delivery":                     staff.Read,
	"POST /api/admin/orders/:no/resend":                      staff.Act,
	"GET /api/admin/approvals":                               staff.Read,
	"POST /api/admin/approvals/:id/approve":                  staff.Approve,
	"POST /api/admin/approvals/:id/reject":                   staff.Approve,
	"GET /api/admin/alerts":                                  staff.Read,
	"POST /api/admin/alerts/:id/resolve":                     staff.Act,
	"GET /api/admin/box/events":                              staff.Read,
	"GET /api/admin/iot/meters/:number/reports":              staff.Read,
	"GET /api/admin/kiosks":                                  staff.Read,
	"GET /api/admin/audit":                                   staff.Audit,
	"GET /api/admin/imports":                                 staff.Manage,
	"POST /api/admin/imports/accounts":                       staff.Manage,
	"POST /api/admin/imports/bills":                          staff.Manage,
	"POST /api/admin/imports/readings":                       staff.Manage,
	"GET /api/admin/tariffs":                                 staff.Read,
	"POST /api/admin/tariffs":                                staff.Manage,
	"POST /api/admin/tariffs/:code/versions":                 staff.Manage,
	"GET /api/admin/partners":                                staff.Manage,
	"POST /api/admin/partners":                               staff.Manage,
	"POST /api/admin/partners/:id/disable":                   staff.Manage,
	"POST /api/admin/partners/:id/enable":                    staff.Manage,
	"POST /api/admin/partners/:id/rotate":                    staff.Manage,
	"GET /api/admin/staff":                                   staff.Manage,
	"POST /api/admin/staff":                                  staff.Manage,
	"POST /api/admin/staff/:name/disable":                    staff.Manage,
	"GET /api/admin/reconciliation/runs":                     staff.Report,
	"GET /api/admin/reconciliation/runs/:provider/:date":     staff.Report,
	"GET /api/admin/reconciliation/differences":              staff.Report,
	"GET /api/admin/reconciliation/aging":                    staff.Report,
	"POST /api/admin/reconciliation/runs":                    staff.Report,
	"POST /api/admin/reconciliation/differences/:id/resolve": staff.Report,
	"GET /api/admin/refusals":                                staff.Read,
	"POST /api/admin/staff/:name/password":                   staff.Manage,
	"GET /api/admin/reports/daily":                           staff.Report,
}

// Every /api/admin route × every role: a role without the route's
// permission gets 403 forbidden, one with it gets past the check; nobody
// gets in without credentials; no state change passes without the CSRF
// token.
func TestEveryAdminRouteByRole(t *testing.T) {
	env := apptest.New(t, nil)
	srv := env.Start()
	var routes []string
	for _, ri := range srv.App.Handler.(*gin.Engine).Routes() {
		if !strings.HasPrefix(ri.Path, "/api/admin/") || ri.Path == "/api/admin/login" {
			continue
		}
		key := ri.Method + " " + ri.Path
		if _, ok := adminRoutes[key]; !ok {
			t.Errorf("route %s is missing from the role table", key)
		}
		routes = append(routes, key)
	}
	if len(routes) != len(adminRoutes) {
		t.Fatalf("router has %d admin routes, the table %d", len(routes), len(adminRoutes))
	}
	// Logout last: it ends the session the others use.
	sort.Slice(routes, func(i, j int) bool {
		return !strings.HasSuffix(routes[i], "/logout") && (strings.HasSuffix(routes[j], "/logout") || routes[i] < routes[j])
	})
	path := func(p string) string {
		return strings.NewReplacer(":id", "999", ":bid", "999", ":no", "NOSUCHORDER1", ":code", "nosuch", ":name", "nobody", ":provider", "wechat", ":date", "2026-01-01").Replace(p)
	}
	request := func(c *clerk, key string, csrf bool) apptest.Response {
		method, p, _ := strings.Cut(key, " ")
		h := map[string]string{"Origin": srv.URL}
		if csrf {
			h["X-CSRF-Token"] = c.csrf
		}
		req := apptest.Request{Method: method, Path: path(p), Client: c.client, Header: h}
		switch {
		case strings.Contains(p, "/imports/"):
			req.Body, h["Content-Type"] = "x", "text/csv"
		case method != "GET" && method != "DELETE":
			req.Body = map[string]any{}
		}
		if strings.HasSuffix(p, "/accounts") {
			req.Path += "?q=1"
		}
		return srv.Do(req)
	}
	for _, role := range staff.Roles {
		c := newClerk(t, srv, "staff-"+string(role), role)
		for _, key := range routes {
			method, _, _ := strings.Cut(key, " ")
			if method != "GET" {
				if r := request(c, key, false); r.Status != http.StatusForbidden || r.Code(t) != "csrf_required" {
					t.Errorf("%s %s without CSRF token: %d %s", role, key, r.Status, r.Body)
				}
			}
			r := request(c, key, true)
			allowed := role.Allows(adminRoutes[key])
			switch {
			case !allowed && (r.Status != http.StatusForbidden || r.Code(t) != "forbidden"):
				t.Errorf("%s %s: %d %s, want 403 forbidden", role, key, r.Status, r.Body)
			case allowed && (r.Status == http.StatusForbidden || r.Status == http.StatusUnauthorized || r.Status >= 500):
				t.Errorf("%s %s: %d %s, want past the role check", role, key, r.Status, r.Body)
			}
		}
	}
	for _, key := range routes {
		method, p, _ := strings.Cut(key, " ")
		if r := srv.Do(apptest.Request{Method: method, Path: path(p)}); r.Status != http.StatusUnauthorized {
			t.Errorf("anonymous %s: %d", key, r.Status)
		}
		if r := srv.Do(apptest.Request{Method: method, Path: path(p), Token: "not-the-admin-token-0123456789abcdef"}); r.Status != http.StatusUnauthorized {
			t.Errorf("wrong token %s: %d", key, r.Status)
		}
	}
}

// paidOrder is a paid WeChat order of a buyer, of amount fen.
func paidOrder(t *testing.T, env *apptest.Env, b buyer, amount int64) string {
	t.Helper()
	no := orderNo(t, b.order(map[string]any{"amount_fen": amount}))
	if _, err := env.Pay.Pay(context.Background(), no, ""); err != nil {
		t.Fatal(err)
	}
	return no
}

func TestRefundApproval(t *testing.T) {
	env := apptest.New(t, map[string]string{"GASPAY_REFUND_APPROVAL_FEN": "500"})
	env.SeedDemo()
	srv := env.Start()
	iot := newBuyer(t, env, srv, "alice", "031130001", "李娜")
	op := newClerk(t, srv, "op1", staff.Operator)
	fin := newClerk(t, srv, "fin1", staff.Finance)
	adm := newClerk(t, srv, "adm1", staff.Admin)

	// Under the threshold: refunded at once.
	small := paidOrder(t, env, iot, 300)
	r := op.do("POST", "/api/admin/orders/"+small+"/refund", map[string]string{"reason": "客户申请退款"})
	if r.Status != http.StatusAccepted || r.JSON(t)["status"] != "processing" {
		t.Fatalf("small refund: %d %s", r.Status, r.Body)
	}
	if got := auditRows(t, env, "refund"); len(got) != 1 || got[0].Actor != "op1" || got[0].Role != "operator" ||
		got[0].Target != "order:"+small || !strings.Contains(*got[0].BeforeJSON, `"paid"`) || !strings.Contains(*got[0].AfterJSON, `"refunding"`) {
		t.Fatalf("refund audit: %+v", got)
	}

	// A refund refused changes nothing and leaves no audit entry: the entry
	// is written in the refund's own transaction.
	wang := newBuyer(t, env, srv, "bob", "031120001", "王洪")
	bill := paidOrder(t, env, wang, 300)
	if r := op.do("POST", "/api/admin/orders/"+bill+"/refund", map[string]string{"reason": "误缴"}); r.Code(t) != "credit_delivered" {
		t.Fatalf("refund of a delivered bill payment: %d %s", r.Status, r.Body)
	}
	var n int64
	env.DB.Model(&models.AuditEntry{}).Where("target = ?", "order:"+bill).Count(&n)
	if n != 0 {
		t.Fatalf("a refused refund left %d audit entries", n)
	}

	// Over it: the request waits for someone else with finance or admin.
	big := paidOrder(t, env, iot, 2000)
	r = op.do("POST", "/api/admin/orders/"+big+"/refund", map[string]string{"reason": "多缴"})
	if r.Status != http.StatusAccepted || r.JSON(t)["status"] != "awaiting_approval" {
		t.Fatalf("big refund: %d %s", r.Status, r.Body)
	}
	approval := num(r.JSON(t)["approval_id"])
	if o := iot.get(big); o["status"] != "paid" {
		t.Fatalf("order moved before approval: %v", o["status"])
	}
	if r := op.do("POST", "/api/admin/orders/"+big+"/refund", map[string]string{"reason": "多缴"}); r.Code(t) != "approval_pending" {
		t.Fatalf("second request: %d %s", r.Status, r.Body)
	}
	approve := fmt.Sprintf("/api/admin/approvals/%d/approve", approval)
	if r := op.do("POST", approve, map[string]any{}); r.Status != http.StatusForbidden || r.Code(t) != "forbidden" {
		t.Fatalf("operator approving: %d %s", r.Status, r.Body)
	}
	r = fin.do("POST", approve, map[string]any{})
	if r.Status != http.StatusAccepted || r.JSON(t)["status"] != "processing" || num(r.JSON(t)["amount_fen"]) != 2000 {
		t.Fatalf("approval: %d %s", r.Status, r.Body)
	}
	if o := iot.get(big); o["status"] != "refunding" {
		t.Fatalf("approved order: %v", o["status"])
	}
	if r := adm.do("POST", approve, map[string]any{}); r.Code(t) != "already_decided" {
		t.Fatalf("approving twice: %d %s", r.Status, r.Body)
	}
	if got := auditRows(t, env, "refund.request"); len(got) != 1 || got[0].Actor != "op1" || got[0].Note != "多缴" {
		t.Fatalf("request audit: %+v", got)
	}
	if got := auditRows(t, env, "refund.approve"); len(got) != 1 || got[0].Actor != "fin1" || !strings.Contains(got[0].Note, "op1") {
		t.Fatalf("approval audit: %+v", got)
	}

	// The requester cannot approve their own request, even as admin.
	third := paidOrder(t, env, iot, 1000)
	r = adm.do("POST", "/api/admin/orders/"+third+"/refund", map[string]string{"reason": "重复缴费"})
	id := num(r.JSON(t)["approval_id"])
	if r := adm.do("POST", fmt.Sprintf("/api/admin/approvals/%d/approve", id), map[string]any{}); r.Status != http.StatusForbidden || r.Code(t) != "own_request" {
		t.Fatalf("own approval: %d %s", r.Status, r.Body)
	}
	if o := iot.get(third); o["status"] != "paid" {
		t.Fatalf("own approval moved the order: %v", o["status"])
	}
	if r := fin.do("POST", fmt.Sprintf("/api/admin/approvals/%d/reject", id), map[string]string{"note": "已电话核实，不退"}); r.Status != http.StatusOK {
		t.Fatalf("reject: %d %s", r.Status, r.Body)
	}
	if r := fin.do("GET", "/api/admin/approvals?all=1", nil); len(r.JSON(t)["approvals"].([]any)) != 2 {
		t.Fatalf("approvals: %s", r.Body)
	}
	// The day's settlement (日结): the channels, a partner's payments and
	// its reversal, the refunds; as JSON and as CSV, for finance only.
	ctx := context.Background()
	for i, un := range []string{"031120001", "031130002"} {
		if _, _, err := srv.App.Recharge.PartnerPay(ctx, recharge.PartnerPayment{PartnerID: "lakala", Serial: fmt.Sprint("S", i),
			UserNumber: un, AmountFen: 1500}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := srv.App.Recharge.PartnerReverse(ctx, "lakala", "S1"); err != nil {
		t.Fatal(err)
	}
	if r := op.do("GET", "/api/admin/reports/daily", nil); r.Status != http.StatusForbidden {
		t.Fatalf("operator reading the report: %d", r.Status)
	}
	rep := fin.do("GET", "/api/admin/reports/daily", nil).JSON(t)
	if num(rep["total_fen"]) != 300+300+2000+1000+3000 || len(rep["partners"].([]any)) != 1 ||
		num(rep["partners"].([]any)[0].(map[string]any)["total_fen"]) != 3000 || num(rep["reversals"].(map[string]any)["total_fen"]) != 1500 ||
		len(rep["refunds"].([]any)) != 1 || num(rep["refunds"].([]any)[0].(map[string]any)["count"]) != 2 {
		t.Fatalf("daily report: %v", rep)
	}
	csvr := fin.do("GET", "/api/admin/reports/daily?format=csv", nil)
	for _, want := range []string{"渠道收款,合计,6,6600,66.00", "代收合作方,lakala,2,3000,30.00", "冲正,reversed,1,1500,15.00", "退款,processing,2,2300,23.00"} {
		if !strings.Contains(string(csvr.Body), want) {
			t.Errorf("CSV lacks %q:\n%s", want, csvr.Body)
		}
	}
	if r := fin.do("GET", "/api/admin/reports/daily?date=2026-02-30", nil); r.Status != http.StatusBadRequest {
		t.Fatalf("bad date: %d", r.Status)
	}

	// The automation token acts as admin, and its every use is audited.
	before := len(auditRows(t, env, "token.use"))
	if r := srv.Do(apptest.Request{Method: "GET", Path: "/api/admin/orders/" + big, Token: apptest.AdminToken}); r.Status != http.StatusOK {
		t.Fatalf("token read: %d", r.Status)
	}
	if got := auditRows(t, env, "token.use"); len(got) != before+1 || got[len(got)-1].Actor != staff.TokenActor || got[len(got)-1].Target != "GET /api/admin/orders/"+big {
		t.Fatalf("token use audit: %+v", got)
	}
}

func TestConsoleSearchCustomerAndActions(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	card := newBuyer(t, env, srv, "alice", "031140086", "秦淮")
	op := newClerk(t, srv, "op1", staff.Operator)
	viewer := newClerk(t, srv, "kefu", staff.Viewer)
	ctx := context.Background()
	if err := env.Store().DB().Exec("UPDATE accounts SET phone = '13911112222' WHERE user_number = '031120001'").Error; err != nil {
		t.Fatal(err)
	}

	for q, want := range map[string]string{
		"031140086": "031140086", "0312000101": "031120001", "0000000012345679": "031140087",
		"0000000012345678": "031140086", "13911112222": "031120001", "阿依古丽": "031120002", "王": "031120001",
	} {
		r := viewer.do("GET", "/api/admin/accounts?q="+url.QueryEscape(q), nil)
		hits, _ := r.JSON(t)["accounts"].([]any)
		if r.Status != http.StatusOK || len(hits) != 1 || hits[0].(map[string]any)["user_number"] != want {
			t.Errorf("search %q: %d %s, want %s", q, r.Status, r.Body, want)
		}
	}
	if r := viewer.do("GET", "/api/admin/accounts?q="+url.QueryEscape("%"), nil); len(r.JSON(t)["accounts"].([]any)) != 0 {
		t.Errorf("a LIKE wildcard matched: %s", r.Body)
	}

	no := paidOrder(t, env, card, 1000)
	r := viewer.do("GET", fmt.Sprintf("/api/admin/accounts/%d", card.account), nil)
	if r.Status != http.StatusOK {
		t.Fatalf("customer: %d %s", r.Status, r.Body)
	}
	var cust struct {
		Account  map[string]any   `json:"account"`
		Cards    []map[string]any `json:"cards"`
		Bindings []map[string]any `json:"bindings"`
		Orders   []map[string]any `json:"orders"`
	}
	json.Unmarshal(r.Body, &cust)
	if cust.Account["holder_name"] != "秦淮" || len(cust.Cards) != 1 || len(cust.Bindings) != 1 || len(cust.Orders) != 1 ||
		cust.Orders[0]["order_no"] != no || cust.Orders[0]["payment"].(map[string]any)["provider"] != "wechat" {
		t.Fatalf("customer record: %s", r.Body)
	}
	if r := op.do("GET", "/api/admin/orders/"+no+"/provider", nil); r.Status != http.StatusOK || r.JSON(t)["state"] != "paid" {
		t.Fatalf("provider query: %d %s", r.Status, r.Body)
	}
	if r := viewer.do("GET", "/api/admin/orders?channel=wechat_mp&status=paid&account_id="+fmt.Sprint(card.account), nil); len(r.JSON(t)["orders"].([]any)) != 1 {
		t.Fatalf("orders filter: %s", r.Body)
	}
	if r := viewer.do("GET", "/api/admin/orders?status=lost", nil); r.Status != http.StatusBadRequest {
		t.Fatalf("bad filter: %d", r.Status)
	}
	if r := viewer.do("GET", "/api/admin/dashboard", nil); r.Status != http.StatusOK || num(r.JSON(t)["total_fen"]) != 970 {
		t.Fatalf("dashboard: %d %s", r.Status, r.Body)
	}

	// 补卡: the old card is lost, the new one carries the sequence on.
	repl := fmt.Sprintf("/api/admin/accounts/%d/card-replacement", card.account)
	if r := op.do("POST", repl, map[string]string{"card_serial": "0000000012345679", "note": "挂失补卡"}); r.Code(t) != "card_serial_taken" {
		t.Fatalf("replacing with a taken serial: %d %s", r.Status, r.Body)
	}
	if r := op.do("POST", repl, map[string]string{"card_serial": "00000000ABCDEF01", "note": "挂失补卡"}); r.Status != http.StatusOK {
		t.Fatalf("replacement: %d %s", r.Status, r.Body)
	}
	old, _ := env.Store().LockCard(ctx, "0000000012345678")
	cur, _ := env.Store().CurrentCard(ctx, card.account)
	if old.Status != models.CardLost || cur.Serial != "00000000ABCDEF01" || fmt.Sprint(cur.LastWrittenSeq) != fmt.Sprint(old.LastWrittenSeq) {
		t.Fatalf("cards after replacement: old %+v current %+v", old, cur)
	}
	if got := auditRows(t, env, "card.replace"); len(got) != 1 || !strings.Contains(*got[0].BeforeJSON, "0000000012345678") ||
		!strings.Contains(*got[0].AfterJSON, "00000000ABCDEF01") || got[0].Target != "account:031140086" {
		t.Fatalf("replacement audit: %+v", got)
	}

	// 停用: the account cannot buy; 启用 again.
	status := fmt.Sprintf("/api/admin/accounts/%d/status", card.account)
	if r := viewer.do("POST", status, map[string]string{"status": "suspended", "note": "x"}); r.Status != http.StatusForbidden {
		t.Fatalf("viewer suspending: %d", r.Status)
	}
	if r := op.do("POST", status, map[string]string{"status": "suspended", "note": "客户要求停用"}); r.Status != http.StatusOK {
		t.Fatalf("suspend: %d %s", r.Status, r.Body)
	}
	if r := card.quote(map[string]any{"volume_centi_m3": 100}); r.Code(t) != "account_inactive" {
		t.Fatalf("quote on a suspended account: %d %s", r.Status, r.Body)
	}
	op.do("POST", status, map[string]string{"status": "active", "note": "恢复"})
	if got := auditRows(t, env, "account.status"); len(got) != 2 || *got[0].BeforeJSON != `{"status":"active"}` || *got[0].AfterJSON != `{"status":"suspended"}` {
		t.Fatalf("status audit: %+v", got)
	}

	corr := fmt.Sprintf("/api/admin/accounts/%d/correction", card.account)
	if r := op.do("POST", corr, map[string]string{"phone": "abc"}); r.Code(t) != "invalid_phone" {
		t.Fatalf("bad phone: %d %s", r.Status, r.Body)
	}
	if r := op.do("POST", corr, map[string]string{"phone": "13900000002", "address": "秦淮人家8号", "note": "客户来电更正"}); r.Status != http.StatusOK {
		t.Fatalf("correction: %d %s", r.Status, r.Body)
	}
	a, _ := env.Store().Account(ctx, card.account)
	if a.Phone != "13900000002" || a.Address != "秦淮人家8号" {
		t.Fatalf("corrected account: %+v", a)
	}

	// An alert resolved with a note, once.
	if err := env.Store().AddAlert(ctx, "amount_mismatch", no, "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	alerts := op.do("GET", "/api/admin/alerts", nil).JSON(t)["alerts"].([]any)
	aid := num(alerts[0].(map[string]any)["id"])
	resolve := fmt.Sprintf("/api/admin/alerts/%d/resolve", aid)
	if r := op.do("POST", resolve, map[string]string{"note": ""}); r.Code(t) != "invalid_note" {
		t.Fatalf("resolve without a note: %d %s", r.Status, r.Body)
	}
	if r := op.do("POST", resolve, map[string]string{"note": "已与微信支付核对"}); r.Status != http.StatusOK || r.JSON(t)["resolved_at"] == nil {
		t.Fatalf("resolve: %d %s", r.Status, r.Body)
	}
	if r := op.do("POST", resolve, map[string]string{"note": "again"}); r.Status != http.StatusNotFound {
		t.Fatalf("resolve twice: %d", r.Status)
	}

	// Unbind at the counter.
	bid := int64(cust.Bindings[0]["binding_id"].(float64))
	if r := op.do("DELETE", fmt.Sprintf("/api/admin/accounts/%d/bindings/%d", card.account, bid), nil); r.Status != http.StatusNoContent {
		t.Fatalf("unbind: %d %s", r.Status, r.Body)
	}
	if n := env.Count("bindings", "account_id = ?", card.account); n != 0 {
		t.Fatalf("%d bindings left", n)
	}

	// The audit trail, read by finance, filtered.
	fin := newClerk(t, srv, "fin1", staff.Finance)
	if r := viewer.do("GET", "/api/admin/audit", nil); r.Status != http.StatusForbidden {
		t.Fatalf("viewer reading the audit: %d", r.Status)
	}
	r = fin.do("GET", "/api/admin/audit?actor=op1&action=account.correct", nil)
	entries := r.JSON(t)["entries"].([]any)
	if len(entries) != 1 || entries[0].(map[string]any)["before"].(map[string]any)["phone"] != "13800000001" ||
		entries[0].(map[string]any)["after"].(map[string]any)["address"] != "秦淮人家8号" {
		t.Fatalf("audit: %s", r.Body)
	}
	for _, action := range []string{"alert.resolve", "binding.remove", "account.correct"} {
		if got := auditRows(t, env, action); len(got) != 1 || got[0].Actor != "op1" || got[0].IP == "" || got[0].RequestID == "" {
			t.Errorf("%s audit: %+v", action, got)
		}
	}
}

// The console's page is embedded, served with a strict content security
// policy, and loads nothing from elsewhere.
func TestConsolePage(t *testing.T) {
	env := apptest.New(t, nil)
	srv := env.Start()
	r := srv.Do(apptest.Request{Method: "GET", Path: "/admin", NoRedir: true})
	if r.Status != http.StatusMovedPermanently || r.Header.Get("Location") != "/admin/" {
		t.Fatalf("/admin: %d %s", r.Status, r.Header.Get("Location"))
	}
	r = srv.Do(apptest.Request{Method: "GET", Path: "/admin/"})
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "营业厅与后台") ||
		!strings.Contains(r.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("/admin/: %d %s", r.Status, r.Header)
	}
	for _, f := range []string{"/admin/", "/admin/app.js", "/admin/style.css"} {
		body := string(srv.Do(apptest.Request{Method: "GET", Path: f}).Body)
		if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
			t.Errorf("%s refers to another site", f)
		}
	}
}

// A price change scheduled for a future day shows in the console; quotes
// keep the version in force until the day comes, and say which priced them.
func TestTariffVersions(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	iot := newBuyer(t, env, srv, "alice", "031130001", "李娜")
	adm := newClerk(t, srv, "adm1", staff.Admin)
	quote := func() map[string]any {
		r := iot.quote(map[string]any{"volume_centi_m3": 100})
		if r.Status != http.StatusOK {
			t.Fatalf("quote: %d %s", r.Status, r.Body)
		}
		return r.JSON(t)
	}
	if q := quote(); num(q["gross_fen"]) != 300 || num(q["tariff_version"]) != 1 {
		t.Fatalf("quote on version 1: %v", q)
	}
	// The order keeps the version that priced it; the console shows it.
	pricedBy := func(no string) int64 {
		r := adm.do("GET", "/api/admin/orders/"+no, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("order: %d %s", r.Status, r.Body)
		}
		return num(r.JSON(t)["tariff_version"])
	}
	before := orderNo(t, iot.order(map[string]any{"volume_cm3": 100}))
	if v := pricedBy(before); v != 1 {
		t.Fatalf("order before the change priced by version %d", v)
	}
	today := time.Now().In(beijing.Location()).Format("2006-01-02")
	tomorrow := time.Now().In(beijing.Location()).AddDate(0, 0, 1).Format("2006-01-02")
	flat := []map[string]any{{"upper_centi_m3": nil, "price_fen_per_m3": 350}}
	path := "/api/admin/tariffs/residential/versions"
	if r := adm.do("POST", path, map[string]any{"effective_from": today, "tiers": flat}); r.Code(t) != "tariff_date" {
		t.Fatalf("a version from today: %d %s", r.Status, r.Body)
	}
	bad := []map[string]any{{"upper_centi_m3": 500, "price_fen_per_m3": 350}}
	if r := adm.do("POST", path, map[string]any{"effective_from": tomorrow, "tiers": bad}); r.Code(t) != "invalid_tiers" {
		t.Fatalf("tiers without an unbounded last: %d %s", r.Status, r.Body)
	}
	if r := adm.do("POST", path, map[string]any{"effective_from": tomorrow, "tiers": flat}); r.Status != http.StatusCreated || num(r.JSON(t)["version"]) != 2 {
		t.Fatalf("schedule: %d %s", r.Status, r.Body)
	}
	list := adm.do("GET", "/api/admin/tariffs", nil).JSON(t)["tariffs"].([]any)
	res := list[0].(map[string]any)
	vs := res["versions"].([]any)
	if res["code"] != "residential" || num(res["in_force"]) != 1 || len(vs) != 2 || vs[1].(map[string]any)["scheduled"] != true {
		t.Fatalf("tariffs: %v", list)
	}
	if q := quote(); num(q["gross_fen"]) != 300 || num(q["tariff_version"]) != 1 {
		t.Fatalf("quote before the day: %v", q)
	}
	env.Clock.Advance(48 * time.Hour)
	if q := quote(); num(q["gross_fen"]) != 350 || num(q["tariff_version"]) != 2 {
		t.Fatalf("quote after the day: %v", q)
	}
	after := orderNo(t, iot.order(map[string]any{"volume_cm3": 100}))
	if v1, v2 := pricedBy(before), pricedBy(after); v1 != 1 || v2 != 2 {
		t.Fatalf("orders priced by versions %d and %d, want 1 and 2", v1, v2)
	}
	r := adm.do("GET", fmt.Sprintf("/api/admin/orders?account_id=%d", env.AccountID("031130001")), nil)
	if os := r.JSON(t)["orders"].([]any); len(os) != 2 || num(os[0].(map[string]any)["tariff_version"]) != 2 {
		t.Fatalf("orders list: %s", r.Body)
	}
	if got := auditRows(t, env, "tariff.schedule"); len(got) != 1 || !strings.Contains(*got[0].AfterJSON, tomorrow) {
		t.Fatalf("tariff audit: %+v", got)
	}
	if r := adm.do("POST", "/api/admin/tariffs", map[string]any{"code": "commercial", "name": "非居民用气", "tiers": flat}); r.Status != http.StatusCreated {
		t.Fatalf("add a category: %d %s", r.Status, r.Body)
	}
	if r := adm.do("POST", "/api/admin/tariffs", map[string]any{"code": "commercial", "name": "x", "tiers": flat}); r.Code(t) != "tariff_exists" {
		t.Fatalf("add it twice: %d %s", r.Status, r.Body)
	}
}

// Partners added, rotated with a grace period (both keys good until it
// ends), disabled and enabled from the console.
func TestPartnerKeysFromConsole(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	adm := newClerk(t, srv, "adm1", staff.Admin)
	r := adm.do("POST", "/api/admin/partners", map[string]string{"id": "lakala", "name": "拉卡拉"})
	if r.Status != http.StatusCreated || len(r.JSON(t)["key"].(string)) != 64 {
		t.Fatalf("add partner: %d %s", r.Status, r.Body)
	}
	key1 := r.JSON(t)["key"].(string)
	if r := adm.do("POST", "/api/admin/partners", map[string]string{"id": "lakala", "name": "x"}); r.Code(t) != "partner_exists" {
		t.Fatalf("add twice: %d %s", r.Status, r.Body)
	}
	client := func(key string) *partnerClient { return &partnerClient{t: t, srv: srv, id: "lakala", key: key} }
	query := func(key string) int {
		return client(key).post("/partner/v1/query", map[string]string{"user_number": "031120001"}).Status
	}
	if s := query(key1); s != http.StatusOK {
		t.Fatalf("query with the first key: %d", s)
	}
	r = adm.do("POST", "/api/admin/partners/lakala/rotate", map[string]int{"grace_hours": 1})
	key2 := r.JSON(t)["key"].(string)
	if r.Status != http.StatusOK || key2 == key1 {
		t.Fatalf("rotate: %d %s", r.Status, r.Body)
	}
	// During the grace period both keys are good; each answer is signed
	// with the key of its request (partnerClient checks).
	if query(key1) != http.StatusOK || query(key2) != http.StatusOK {
		t.Fatal("a key refused during the grace period")
	}
	r = adm.do("POST", "/api/admin/partners/lakala/rotate", map[string]int{"grace_hours": 0})
	key3 := r.JSON(t)["key"].(string)
	// A refusal is signed with the partner's current key: sign the request
	// with an old key and check the answer with the new one.
	signedWith := func(old string) int {
		path, body := "/partner/v1/query", map[string]string{"user_number": "031120001"}
		return client(key3).send("POST", path, body, func(h http.Header, raw *[]byte) {
			h.Set("X-Signature", partner.Sign([]byte(old), "POST", path, h.Get("X-Timestamp"), h.Get("X-Nonce"), string(*raw)))
		}).Status
	}
	if signedWith(key1) != http.StatusUnauthorized || signedWith(key2) != http.StatusUnauthorized || query(key3) != http.StatusOK {
		t.Fatal("after a rotation without grace only the new key may be good")
	}
	if r := adm.do("POST", "/api/admin/partners/lakala/disable", map[string]any{}); r.Status != http.StatusOK {
		t.Fatalf("disable: %d %s", r.Status, r.Body)
	}
	if s := query(key3); s != http.StatusUnauthorized {
		t.Fatalf("a disabled partner: %d", s)
	}
	adm.do("POST", "/api/admin/partners/lakala/enable", map[string]any{})
	if s := query(key3); s != http.StatusOK {
		t.Fatalf("re-enabled partner: %d", s)
	}
	list := adm.do("GET", "/api/admin/partners", nil)
	if strings.Contains(string(list.Body), key3) || !strings.Contains(string(list.Body), "拉卡拉") {
		t.Fatalf("partner list: %s", list.Body)
	}
	for _, action := range []string{"partner.add", "partner.rotate", "partner.disable", "partner.enable"} {
		got := auditRows(t, env, action)
		if len(got) == 0 {
			t.Errorf("no %s audit", action)
		}
		for _, e := range got {
			if e.AfterJSON != nil && (strings.Contains(*e.AfterJSON, key1) || strings.Contains(*e.AfterJSON, key3)) {
				t.Errorf("%s audit holds a key", action)
			}
		}
	}
}

// Admins manage staff from the console: add (with a TOTP secret shown
// once), list, reset a password, disable (never themselves).
func TestStaffManagement(t *testing.T) {
	env := apptest.New(t, nil)
	srv := env.Start()
	adm := newClerk(t, srv, "adm1", staff.Admin)
	r := adm.do("POST", "/api/admin/staff", map[string]any{"name": "zhou", "role": "finance", "password": staffPassword, "totp": true})
	if r.Status != http.StatusCreated || r.JSON(t)["totp_secret"] == nil {
		t.Fatalf("add: %d %s", r.Status, r.Body)
	}
	for body, code := range map[string]string{
		`{"name":"zhou","role":"viewer","password":"counter-password-1"}`:    "staff_exists",
		`{"name":"Zhou Wu","role":"viewer","password":"counter-password-1"}`: "invalid_staff",
		`{"name":"wu","role":"boss","password":"counter-password-1"}`:        "invalid_staff",
		`{"name":"wu","role":"viewer","password":"short"}`:                   "weak_password",
	} {
		if r := adm.do("POST", "/api/admin/staff", body); r.Code(t) != code {
			t.Errorf("%s: %d %s, want %s", body, r.Status, r.Body, code)
		}
	}
	list := adm.do("GET", "/api/admin/staff", nil)
	if !strings.Contains(string(list.Body), `"zhou"`) || strings.Contains(string(list.Body), "argon2") {
		t.Fatalf("list: %s", list.Body)
	}
	c := newClerk(t, srv, "wang", staff.Operator)
	if r := adm.do("POST", "/api/admin/staff/wang/password", map[string]string{"password": "another-password-2"}); r.Status != http.StatusOK {
		t.Fatalf("reset: %d %s", r.Status, r.Body)
	}
	if r := c.do("GET", "/api/admin/me", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("session after a reset: %d", r.Status)
	}
	if r := staffLogin(srv, nil, "wang", "another-password-2", ""); r.Status != http.StatusOK {
		t.Fatalf("login with the new password: %d %s", r.Status, r.Body)
	}
	if r := adm.do("POST", "/api/admin/staff/adm1/disable", map[string]any{}); r.Code(t) != "own_account" {
		t.Fatalf("disabling oneself: %d %s", r.Status, r.Body)
	}
	if r := adm.do("POST", "/api/admin/staff/wang/disable", map[string]any{}); r.Status != http.StatusOK {
		t.Fatalf("disable: %d %s", r.Status, r.Body)
	}
	if r := adm.do("POST", "/api/admin/staff/nobody/disable", map[string]any{}); r.Status != http.StatusNotFound {
		t.Fatalf("disable nobody: %d", r.Status)
	}
	if got := auditRows(t, env, "staff.add"); len(got) != 3 || got[1].Actor != "adm1" || strings.Contains(*got[1].AfterJSON, "password") {
		t.Fatalf("staff.add audit: %+v", got)
	}
}

// The counter sees a card purchase's recovery state: a write issued and not
// yet answered is in doubt; once the box reports it, it has a result.
func TestCustomerShowsCardWrites(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b, p := cardBuyer(t, env, srv, "4742000000000001", 4)
	op := newClerk(t, srv, "op1", staff.Operator)
	p.connect()
	no := paidPurchase(t, env, b, 10000)
	p.read()
	_, frames := p.write(no)
	writes := func() []any {
		r := op.do("GET", fmt.Sprintf("/api/admin/accounts/%d", b.account), nil)
		return r.JSON(t)["card_writes"].([]any)
	}
	recovery := func() (string, bool, []any) {
		r := op.do("GET", "/api/admin/orders/"+no+"/delivery", nil)
		card, _ := r.JSON(t)["card"].(map[string]any)
		if r.Status != http.StatusOK || card == nil {
			t.Fatalf("delivery: %d %s", r.Status, r.Body)
		}
		return card["recovery"].(string), r.JSON(t)["in_doubt"].(bool), card["writes"].([]any)
	}
	w := writes()
	if len(w) != 1 || w[0].(map[string]any)["in_doubt"] != true || num(w[0].(map[string]any)["seq"]) != 5 {
		t.Fatalf("a write in flight: %v", w)
	}
	if st, doubt, ws := recovery(); st != "in_doubt" || !doubt || len(ws) != 1 || ws[0].(map[string]any)["result"] != nil {
		t.Fatalf("the order's recovery with a write in flight: %s %v %v", st, doubt, ws)
	}
	p.deliver(frames)
	w = writes()
	if len(w) != 1 || w[0].(map[string]any)["in_doubt"] != false || w[0].(map[string]any)["result"] == nil {
		t.Fatalf("a write answered: %v", w)
	}
	if st, doubt, ws := recovery(); st != "delivered" || doubt || len(ws) != 1 || ws[0].(map[string]any)["result"] == nil {
		t.Fatalf("the order's recovery once written: %s %v %v", st, doubt, ws)
	}
	// An IoT action on a card order is refused.
	if r := op.do("POST", "/api/admin/orders/"+no+"/resend", map[string]any{}); r.Status != http.StatusConflict || r.Code(t) != "not_iot" {
		t.Fatalf("resend of a card order: %d %s", r.Status, r.Body)
	}
}

// iotWorldWith is newIoTWorld with settings.
func iotWorldWith(t *testing.T, settings map[string]string) *iotWorld {
	env := apptest.New(t, settings)
	env.SeedDemo()
	srv := env.Start()
	token := srv.Login("li")
	if r := bind(srv, token, "meter_number", iotMeter, ""); r.Status != http.StatusCreated {
		t.Fatalf("bind: %d %s", r.Status, r.Body)
	}
	return &iotWorld{t: t, env: env, srv: srv, buyer: buyer{t: t, srv: srv, token: token, account: env.AccountID("031130001")},
		meter: newSimMeter(t, env, 5678)}
}

// A refund above the approval threshold of an IoT credit already sent
// follows the rule of every IoT refund once approved: the copies are
// cancelled, and the money goes back only when a report after the last
// copy's not_after shows the sequence not applied; before that, nothing is
// refunded, however long the approval took.
func TestIoTRefundAboveThresholdWaitsForProof(t *testing.T) {
	w := iotWorldWith(t, map[string]string{"GASPAY_REFUND_APPROVAL_FEN": "5000"})
	ctx := context.Background()
	op := newClerk(t, w.srv, "op1", staff.Operator)
	fin := newClerk(t, w.srv, "fin1", staff.Finance)
	no := w.buy() // 100.00 yuan, above 50.00
	if n := w.dispatch(); n != 1 {
		t.Fatalf("%d copies sent", n)
	}
	r := op.do("GET", "/api/admin/orders/"+no+"/delivery", nil)
	if d, _ := r.JSON(t)["iot"].(map[string]any); r.Status != http.StatusOK || d["state"] != "sent" || r.JSON(t)["in_doubt"] != true {
		t.Fatalf("delivery: %d %s", r.Status, r.Body)
	}
	// The copy is live at the platform: nothing to resend.
	if r := op.do("POST", "/api/admin/orders/"+no+"/resend", map[string]any{}); r.Status != http.StatusConflict || r.Code(t) != "not_resendable" {
		t.Fatalf("resend of a live copy: %d %s", r.Status, r.Body)
	}
	r = op.do("POST", "/api/admin/orders/"+no+"/refund", map[string]string{"reason": "客户申请退款"})
	if r.Status != http.StatusAccepted || r.JSON(t)["status"] != "awaiting_approval" {
		t.Fatalf("request: %d %s", r.Status, r.Body)
	}
	id := num(r.JSON(t)["approval_id"])
	r = fin.do("POST", fmt.Sprintf("/api/admin/approvals/%d/approve", id), map[string]any{})
	if r.Status != http.StatusAccepted || r.JSON(t)["status"] != "cancel_requested" {
		t.Fatalf("approve: %d %s", r.Status, r.Body)
	}
	noMoney := func(when string) {
		t.Helper()
		var status string
		w.env.DB.Raw("SELECT status FROM orders WHERE order_no = ?", no).Scan(&status)
		if c, n := w.outcome(no); c != "pending" || n != 0 || status != "paid" {
			t.Fatalf("%s: credit %s, %d refunds, order %s", when, c, n, status)
		}
	}
	noMoney("approved")
	if got := auditRows(t, w.env, "refund.approve"); len(got) != 1 || got[0].Actor != "fin1" || !strings.Contains(*got[0].AfterJSON, "cancel_requested") {
		t.Fatalf("approval audit: %+v", got)
	}
	if r := fin.do("GET", "/api/admin/approvals?all=1", nil); r.JSON(t)["approvals"].([]any)[0].(map[string]any)["status"] != "approved" {
		t.Fatalf("approvals: %s", r.Body)
	}
	// A second approval of the same request changes nothing.
	if r := fin.do("POST", fmt.Sprintf("/api/admin/approvals/%d/approve", id), map[string]any{}); r.Status != http.StatusConflict {
		t.Fatalf("approved twice: %d %s", r.Status, r.Body)
	}
	// A report inside the copy's validity proves nothing.
	w.meter.press(pressOpts{})
	noMoney("a report inside the validity")
	w.env.Clock.Advance(49 * time.Hour)
	w.srv.App.IoT.JanitorPass(ctx)
	noMoney("the validity over, no report yet")
	w.meter.press(pressOpts{})
	if c, n := w.outcome(no); c != "cancelled" || n != 1 || w.meter.m.LastAppliedSeq != 0 || w.meter.m.Balance != 5678 {
		t.Fatalf("after the proof: credit %s, %d refunds, meter seq %d balance %d", c, n, w.meter.m.LastAppliedSeq, w.meter.m.Balance)
	}
}

// Staff resend an IoT credit whose copy expired at the platform: a new copy
// goes at once (same sequence), audited, and the meter applies it once.
func TestIoTResendFromConsole(t *testing.T) {
	w := newIoTWorld(t)
	op := newClerk(t, w.srv, "op1", staff.Operator)
	viewer := newClerk(t, w.srv, "v1", staff.Viewer)
	no := w.buy()
	w.dispatch()
	w.env.Clock.Advance(49 * time.Hour) // the copy dies at the platform
	if r := viewer.do("POST", "/api/admin/orders/"+no+"/resend", map[string]any{}); r.Status != http.StatusForbidden {
		t.Fatalf("viewer resending: %d", r.Status)
	}
	r := op.do("POST", "/api/admin/orders/"+no+"/resend", map[string]string{"note": "客户来电未到账"})
	if r.Status != http.StatusOK || r.JSON(t)["state"] != "sent" || num(r.JSON(t)["copies"]) != 2 {
		t.Fatalf("resend: %d %s", r.Status, r.Body)
	}
	got := auditRows(t, w.env, "iot.resend")
	if len(got) != 1 || got[0].Actor != "op1" || got[0].Note != "客户来电未到账" {
		t.Fatalf("resend audit: %+v", got)
	}
	// "before" is the delivery the resend decided on, under its lock: the
	// copy found dead at the platform, not the "sent" an earlier read saw.
	var before struct {
		State  string
		Copies int
	}
	if got[0].BeforeJSON == nil || json.Unmarshal([]byte(*got[0].BeforeJSON), &before) != nil || before.State != "expired" || before.Copies != 1 {
		t.Fatalf("resend audit before: %+v", before)
	}
	w.meter.press(pressOpts{})
	w.appliedOnce(no, 5678)
	// Applied: over.
	if r := op.do("POST", "/api/admin/orders/"+no+"/resend", map[string]any{}); r.Status != http.StatusConflict || r.Code(t) != "delivery_over" {
		t.Fatalf("resend of an applied credit: %d %s", r.Status, r.Body)
	}
}
