package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"gaspay/internal/apptest"
	"gaspay/messages"
	"gaspay/staff"
	"gaspay/wechat/wxfake"
)

func templateVars() map[string]string {
	var mp, oa []string
	for _, e := range messages.Events {
		mp = append(mp, string(e)+"=mp-"+string(e))
		oa = append(oa, string(e)+"=oa-"+string(e))
	}
	return map[string]string{"GASPAY_WECHAT_MP_TEMPLATES": strings.Join(mp, ","), "GASPAY_WECHAT_OA_TEMPLATES": strings.Join(oa, ",")}
}

// sentSubscribe lists the subscribe messages WeChat received, by template.
func sentSubscribe(env *apptest.Env) []string {
	var out []string
	for _, s := range env.WX.SentMessages() {
		if s.Path != "/cgi-bin/message/subscribe/send" {
			continue
		}
		var b struct {
			TemplateID string `json:"template_id"`
		}
		json.Unmarshal(s.Body, &b)
		out = append(out, b.TemplateID)
	}
	return out
}

func TestMessagesToAMiniProgramUser(t *testing.T) {
	env := apptest.New(t, templateVars())
	env.SeedDemo()
	srv := env.Start()
	ctx := context.Background()
	token := srv.Login("li")
	if r := bind(srv, token, "meter_number", iotMeter, ""); r.Status != http.StatusCreated {
		t.Fatalf("bind: %d %s", r.Status, r.Body)
	}
	w := &iotWorld{t: t, env: env, srv: srv, buyer: buyer{t: t, srv: srv, token: token, account: env.AccountID("031130001")},
		meter: newSimMeter(t, env, 5678)}
	// The mini-program reports what the customer accepted.
	r := srv.Do(apptest.Request{Method: "POST", Path: "/api/subscriptions", Token: token, Body: map[string]any{"results": map[string]string{
		"mp-payment_received": "accept", "mp-credit_delivered": "accept", "mp-low_balance": "reject", "not-ours": "accept"}}})
	if r.Status != http.StatusOK {
		t.Fatalf("subscriptions: %d %s", r.Status, r.Body)
	}
	acc := r.JSON(t)["acceptances"].(map[string]any)
	if num(acc["mp-payment_received"]) != 1 || num(acc["mp-credit_delivered"]) != 1 || num(acc["mp-low_balance"]) != 0 || acc["not-ours"] != nil {
		t.Fatalf("acceptances %v", acc)
	}
	msgs := srv.App.Messages
	no := w.buy()
	if _, err := msgs.ProducePass(ctx); err != nil {
		t.Fatal(err)
	}
	if n := msgs.SendPass(ctx); n != 1 {
		t.Fatalf("sent %d", n)
	}
	w.dispatch()
	w.meter.press(pressOpts{})
	w.appliedOnce(no, 5678)
	msgs.ProducePass(ctx)
	msgs.SendPass(ctx)
	// The same events again: one message per (event, user).
	msgs.ProducePass(ctx)
	msgs.SendPass(ctx)
	got := sentSubscribe(env)
	if len(got) != 2 || got[0] != "mp-payment_received" || got[1] != "mp-credit_delivered" {
		t.Fatalf("subscribe messages %v", got)
	}
	if env.Count("outbox_messages", "event_key = ?", "delivered:"+no) != 1 {
		t.Fatal("no outbox row for the delivery")
	}
	// A second purchase: no acceptance left, recorded and not sent.
	no2 := w.buy()
	msgs.ProducePass(ctx)
	msgs.SendPass(ctx)
	var state string
	env.DB.Raw("SELECT state FROM outbox_messages WHERE event_key = ?", "paid:"+no2).Scan(&state)
	if state != messages.StateQuota || len(sentSubscribe(env)) != 2 {
		t.Fatalf("without acceptance: %s, %d sent", state, len(sentSubscribe(env)))
	}
}

func TestMessageFailures(t *testing.T) {
	env := apptest.New(t, templateVars())
	env.SeedDemo()
	srv := env.Start()
	ctx := context.Background()
	token := srv.Login("li")
	bind(srv, token, "meter_number", iotMeter, "")
	accept := func() {
		srv.Do(apptest.Request{Method: "POST", Path: "/api/subscriptions", Token: token, Body: map[string]any{"results": map[string]string{
			"mp-payment_received": "accept"}}})
	}
	w := &iotWorld{t: t, env: env, srv: srv, buyer: buyer{t: t, srv: srv, token: token, account: env.AccountID("031130001")}}
	msgs := srv.App.Messages
	stateOf := func(key string) (state string, attempts int) {
		var row struct {
			State    string
			Attempts int
		}
		env.DB.Raw("SELECT state, attempts FROM outbox_messages WHERE event_key = ?", key).Scan(&row)
		return row.State, row.Attempts
	}

	// 43101: WeChat says the user has no acceptance: recorded, not retried.
	accept()
	env.WX.Fail("/cgi-bin/message/subscribe/send", wxfake.Fault{ErrCode: 43101, ErrMsg: "user refuse to accept the msg"})
	no := w.buy()
	msgs.ProducePass(ctx)
	msgs.SendPass(ctx)
	if st, n := stateOf("paid:" + no); st != messages.StateRefused || n != 1 {
		t.Fatalf("43101: %s after %d", st, n)
	}
	// Cancel that order so the account may buy again.
	env.DB.Exec("UPDATE credits SET status = 'delivered', pending_account_id = NULL")

	// A WeChat error: retried with backoff, then given up after a day with
	// an alert.
	accept()
	env.WX.Fail("/cgi-bin/message/subscribe/send", wxfake.Fault{ErrCode: -1, ErrMsg: "system error"},
		wxfake.Fault{ErrCode: -1, ErrMsg: "system error"})
	no2 := w.buy()
	msgs.ProducePass(ctx)
	msgs.SendPass(ctx)
	if st, n := stateOf("paid:" + no2); st != messages.StatePending || n != 1 {
		t.Fatalf("after an error: %s after %d", st, n)
	}
	msgs.SendPass(ctx) // not due yet
	if _, n := stateOf("paid:" + no2); n != 1 {
		t.Fatalf("retried before its backoff: %d", n)
	}
	env.Clock.Advance(2 * time.Minute)
	msgs.SendPass(ctx)
	if st, n := stateOf("paid:" + no2); st != messages.StatePending || n != 2 {
		t.Fatalf("second try: %s after %d", st, n)
	}
	env.Clock.Advance(25 * time.Hour)
	msgs.SendPass(ctx)
	if st, _ := stateOf("paid:" + no2); st != messages.StateGivenUp || env.Count("alerts", "kind = ?", "message_given_up") != 1 {
		t.Fatalf("after a day: %s", st)
	}
	// The acceptance was never used: it is still the user's.
	var credits int
	env.DB.Raw("SELECT credits FROM message_subscriptions WHERE template_id = ?", "mp-payment_received").Scan(&credits)
	if credits != 1 {
		t.Fatalf("acceptances left %d", credits)
	}
}

// An official-account user gets template messages, with no acceptance to
// count: a low balance from a meter report, and the month's arrears.
func TestMessagesToAnOfficialAccountUser(t *testing.T) {
	env := apptest.New(t, templateVars())
	env.SeedDemo()
	srv := env.Start()
	ctx := context.Background()
	st := env.Store()
	now := time.Now().UTC()
	openID := wxfake.OpenID(apptest.OAAppID, "wang")
	u, err := st.UpsertUser(ctx, "oa", apptest.OAAppID, openID, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, acc := range []string{"031130001", "031120001"} { // an IoT meter, an ordinary account with arrears
		if _, _, err := st.Bind(ctx, u.ID, env.AccountID(acc), 5, now); err != nil {
			t.Fatal(err)
		}
	}
	meter := newSimMeter(t, env, 500) // 5.00 yuan: under the default 10.00
	b, _ := meter.m.Report(0, meter.clock())
	meter.uplink(b)
	msgs := srv.App.Messages
	msgs.ProducePass(ctx)
	if n := msgs.SendPass(ctx); n != 2 {
		t.Fatalf("sent %d", n)
	}
	got := map[string]map[string]string{}
	for _, s := range env.WX.SentMessages() {
		var m struct {
			ToUser     string                       `json:"touser"`
			TemplateID string                       `json:"template_id"`
			Data       map[string]map[string]string `json:"data"`
		}
		json.Unmarshal(s.Body, &m)
		if s.Path != "/cgi-bin/message/template/send" || m.ToUser != openID {
			t.Fatalf("sent %s to %s", s.Path, m.ToUser)
		}
		got[m.TemplateID] = map[string]string{"amount": m.Data["amount2"]["value"], "what": m.Data["character_string1"]["value"]}
	}
	if got["oa-low_balance"]["amount"] != "5.00元" || got["oa-low_balance"]["what"] != iotMeter || got["oa-arrears_reminder"]["amount"] != "209.60元" {
		t.Fatalf("template messages %v", got)
	}
	// The counter sees each account's messages on its customer record.
	viewer := newClerk(t, srv, "v1", staff.Viewer)
	for acc, event := range map[string]string{"031130001": "low_balance", "031120001": "arrears_reminder"} {
		r := viewer.do("GET", fmt.Sprintf("/api/admin/accounts/%d", env.AccountID(acc)), nil)
		ms, _ := r.JSON(t)["messages"].([]any)
		if len(ms) != 1 || ms[0].(map[string]any)["event"] != event || ms[0].(map[string]any)["state"] != "sent" {
			t.Fatalf("messages of %s: %s", acc, r.Body)
		}
	}
	// Another report the same day: no second warning.
	b, _ = meter.m.Report(0, meter.clock())
	meter.uplink(b)
	msgs.ProducePass(ctx)
	if n := msgs.SendPass(ctx); n != 0 {
		t.Fatalf("sent %d more", n)
	}
	// The customer raises the threshold; a user refusing messages (43004)
	// is recorded, not retried.
	token := srv.Login("li")
	bind(srv, token, "meter_number", iotMeter, "")
	r := srv.Do(apptest.Request{Method: "PUT", Path: fmt.Sprintf("/api/accounts/%d/low-balance", env.AccountID("031130001")), Token: token,
		Body: map[string]any{"threshold_fen": 100}})
	if r.Status != http.StatusOK {
		t.Fatalf("threshold: %d %s", r.Status, r.Body)
	}
	env.Clock.Advance(24 * time.Hour)
	meter.m.Balance = 50
	b, _ = meter.m.Report(0, meter.clock())
	meter.uplink(b)
	env.WX.Fail("/cgi-bin/message/template/send", wxfake.Fault{ErrCode: 43004, ErrMsg: "require subscribe"})
	msgs.ProducePass(ctx)
	msgs.SendPass(ctx)
	var states []string
	env.DB.Raw("SELECT state FROM outbox_messages WHERE event = 'low_balance' AND user_id = ? ORDER BY id", u.ID).Scan(&states)
	if len(states) != 2 || states[0] != messages.StateSent || states[1] != messages.StateRefused {
		t.Fatalf("low-balance rows %v", states)
	}
	// The mini-program user who accepted nothing: recorded, not sent.
	var mp string
	env.DB.Raw("SELECT state FROM outbox_messages WHERE event = 'low_balance' AND user_id <> ?", u.ID).Scan(&mp)
	if mp != messages.StateQuota {
		t.Fatalf("mini-program user's low-balance row: %q", mp)
	}
}
