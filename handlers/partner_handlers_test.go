package handlers_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"gaspay/internal/apptest"
	"gaspay/models"
	"gaspay/partner"
)

const partnerKey = "lakala-shared-secret-0123456789"

// partnerClient signs requests as a partner's system would and checks the
// signature of every answer.
type partnerClient struct {
	t    *testing.T
	srv  *apptest.Instance
	id   string
	key  string
	skew time.Duration // added to the timestamp sent
}

type partnerAnswer struct {
	Status int
	Body   []byte
	Signed bool
}

func (a partnerAnswer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.Body, &m); err != nil {
		t.Fatalf("%s: %v", a.Body, err)
	}
	return m
}

func newPartner(t *testing.T, env *apptest.Env, srv *apptest.Instance, id string) *partnerClient {
	t.Helper()
	now := time.Now().UTC()
	if err := env.Store().SavePartner(context.Background(), &models.Partner{PartnerID: id, Name: id, Secret: partnerKey,
		Active: true, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	return &partnerClient{t: t, srv: srv, id: id, key: partnerKey}
}

func nonce() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (p *partnerClient) send(method, path string, body any, mutate func(h http.Header, body *[]byte)) partnerAnswer {
	p.t.Helper()
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	ts := strconv.FormatInt(time.Now().Add(p.skew).Unix(), 10)
	n := nonce()
	req, _ := http.NewRequest(method, p.srv.URL+path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Partner-Id", p.id)
	req.Header.Set("X-Timestamp", ts)
	req.Header.Set("X-Nonce", n)
	req.Header.Set("X-Signature", partner.Sign([]byte(p.key), method, path, ts, n, string(raw)))
	if mutate != nil {
		mutate(req.Header, &raw)
		req.Body = io.NopCloser(bytes.NewReader(raw))
		req.ContentLength = int64(len(raw))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	a := partnerAnswer{Status: resp.StatusCode, Body: got}
	if sig := resp.Header.Get("X-Signature"); sig != "" {
		want := partner.Sign([]byte(p.key), strconv.Itoa(resp.StatusCode), resp.Header.Get("X-Timestamp"), resp.Header.Get("X-Nonce"), string(got))
		if sig != want {
			p.t.Fatalf("answer signature does not verify: %s", got)
		}
		a.Signed = true
	}
	return a
}

func (p *partnerClient) post(path string, body any) partnerAnswer {
	return p.send("POST", path, body, nil)
}

func (p *partnerClient) pay(serial, userNumber string, amount int64) partnerAnswer {
	return p.post("/partner/v1/pay", map[string]any{"serial": serial, "user_number": userNumber, "amount_fen": amount})
}

// A POS agent pays an ordinary account's bills: query, pay, status, the
// same serial again, the day's file.
func TestPartnerPayment(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	p := newPartner(t, env, srv, "lakala")

	q := p.post("/partner/v1/query", map[string]string{"user_number": "031120001"})
	if q.Status != 200 || !q.Signed {
		t.Fatalf("query: %d %s", q.Status, q.Body)
	}
	if m := q.json(t); m["name"] != "王*" || num(m["arrears_fen"]) != 20960 || m["payable"] != true || m["kind"] != "ordinary" {
		t.Fatalf("query = %v", m)
	}
	pay := p.pay("LKL0001", "031120001", 20960)
	m := pay.json(t)
	if pay.Status != 200 || !pay.Signed || m["status"] != "paid" || m["credit"].(map[string]any)["status"] != "delivered" || m["replayed"] != nil {
		t.Fatalf("pay: %d %s", pay.Status, pay.Body)
	}
	if m := p.post("/partner/v1/query", map[string]string{"user_number": "031120001"}).json(t); num(m["arrears_fen"]) != 0 {
		t.Fatalf("bills after the payment: %v", m)
	}
	arrearsAgree(t, env)
	again := p.pay("LKL0001", "031120001", 20960)
	if again.Status != 200 || again.json(t)["order_no"] != m["order_no"] || again.json(t)["replayed"] != true {
		t.Fatalf("same serial again: %d %s", again.Status, again.Body)
	}
	if r := p.pay("LKL0001", "031120001", 100); r.Status != http.StatusConflict || r.json(t)["code"] != "serial_reused" || !r.Signed {
		t.Fatalf("same serial, other amount: %d %s", r.Status, r.Body)
	}
	if n := env.Count("payments", ""); n != 1 {
		t.Fatalf("%d payments", n)
	}
	st := p.post("/partner/v1/status", map[string]string{"serial": "LKL0001"})
	if st.Status != 200 || st.json(t)["order_no"] != m["order_no"] {
		t.Fatalf("status: %d %s", st.Status, st.Body)
	}
	if r := p.post("/partner/v1/status", map[string]string{"serial": "NOPE"}); r.Status != 404 || r.json(t)["code"] != "payment_not_found" {
		t.Fatalf("status of an unknown serial: %d %s", r.Status, r.Body)
	}
	// Another partner cannot see it.
	other := newPartner(t, env, srv, "icbc")
	if r := other.post("/partner/v1/status", map[string]string{"serial": "LKL0001"}); r.Status != 404 {
		t.Fatalf("another partner's serial: %d %s", r.Status, r.Body)
	}

	day := time.Now().In(srv.App.Recharge.Location()).Format(time.DateOnly)
	rec := p.send("GET", "/partner/v1/reconciliation?date="+day, nil, nil)
	lines := strings.Split(strings.TrimSpace(string(rec.Body)), "\n")
	if rec.Status != 200 || !rec.Signed || len(lines) != 2 || lines[0] != "1|20960" ||
		!strings.HasPrefix(lines[1], "LKL0001|"+m["order_no"].(string)+"|031120001|20960|") {
		t.Fatalf("reconciliation: %d %q", rec.Status, rec.Body)
	}
}

func TestPartnerAuthentication(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	p := newPartner(t, env, srv, "lakala")
	body := map[string]any{"serial": "LKL0001", "user_number": "031120001", "amount_fen": 100}
	for name, mutate := range map[string]func(http.Header, *[]byte){
		"bad signature":   func(h http.Header, _ *[]byte) { h.Set("X-Signature", strings.Repeat("0", 64)) },
		"tampered body":   func(_ http.Header, b *[]byte) { *b = bytes.Replace(*b, []byte("100"), []byte("999"), 1) },
		"unknown partner": func(h http.Header, _ *[]byte) { h.Set("X-Partner-Id", "nobody") },
		"no signature":    func(h http.Header, _ *[]byte) { h.Del("X-Signature") },
		"short nonce":     func(h http.Header, _ *[]byte) { h.Set("X-Nonce", "abc") },
		"bad timestamp":   func(h http.Header, _ *[]byte) { h.Set("X-Timestamp", "yesterday") },
	} {
		t.Run(name, func(t *testing.T) {
			r := p.send("POST", "/partner/v1/pay", body, mutate)
			if r.Status != http.StatusUnauthorized || r.json(t)["code"] != "partner_unauthenticated" {
				t.Fatalf("got %d %s", r.Status, r.Body)
			}
		})
	}
	for _, skew := range []time.Duration{-6 * time.Minute, 6 * time.Minute} {
		p.skew = skew
		if r := p.pay("LKL0002", "031120001", 100); r.Status != http.StatusUnauthorized {
			t.Fatalf("timestamp %s off: %d %s", skew, r.Status, r.Body)
		}
	}
	p.skew = 0
	// A replayed request: the same nonce (and signature) twice.
	var h http.Header
	var raw []byte
	keep := func(hh http.Header, b *[]byte) { h, raw = hh.Clone(), append([]byte(nil), *b...) }
	if r := p.send("POST", "/partner/v1/pay", body, keep); r.Status != 200 {
		t.Fatalf("first: %d %s", r.Status, r.Body)
	}
	// Redis loses everything (a restart without persistence): the nonce
	// is still known.
	ctx := context.Background()
	keys, err := env.Redis.Keys(ctx, env.Redis.Prefix()+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) > 0 {
		env.Redis.Del(ctx, keys...)
	}
	replay := p.send("POST", "/partner/v1/pay", body, func(hh http.Header, b *[]byte) {
		for k := range h {
			hh.Set(k, h.Get(k))
		}
		*b = raw
	})
	if replay.Status != http.StatusUnauthorized {
		t.Fatalf("replayed nonce: %d %s", replay.Status, replay.Body)
	}
	if n := env.Count("payments", ""); n != 1 {
		t.Fatalf("%d payments", n)
	}
}

// Prepaid meters: the EQ codes, a card account paid here, reversals.
func TestPartnerPrepaidAndReversal(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	p := newPartner(t, env, srv, "lakala")
	if r := p.post("/partner/v1/query", map[string]string{"user_number": "999999999"}); r.Status != 404 || r.json(t)["eq_code"] != "EQ0004" {
		t.Fatalf("unknown account: %d %s", r.Status, r.Body)
	}
	if r := p.pay("S1", "031130001", 150001); r.Status != 422 || r.json(t)["eq_code"] != "EQ0025" {
		t.Fatalf("over the limit: %d %s", r.Status, r.Body)
	}
	pay := p.pay("S2", "031130001", 5000)
	if pay.Status != 200 || pay.json(t)["credit"].(map[string]any)["status"] != "pending" {
		t.Fatalf("IoT payment: %d %s", pay.Status, pay.Body)
	}
	q := p.post("/partner/v1/query", map[string]string{"user_number": "031130001"}).json(t)
	if q["payable"] != false || q["reason"].(map[string]any)["eq_code"] != "EQ0026" {
		t.Fatalf("query with a credit pending: %v", q)
	}
	if r := p.pay("S3", "031130001", 100); r.Status != 409 || r.json(t)["eq_code"] != "EQ0026" {
		t.Fatalf("second payment: %d %s", r.Status, r.Body)
	}
	// Reversed, once: again answers the same reversal.
	rev := p.post("/partner/v1/reverse", map[string]string{"serial": "S2"})
	if rev.Status != 200 || rev.json(t)["status"] != "reversed" || rev.json(t)["credit"].(map[string]any)["status"] != "cancelled" {
		t.Fatalf("reverse: %d %s", rev.Status, rev.Body)
	}
	if again := p.post("/partner/v1/reverse", map[string]string{"serial": "S2"}); again.Status != 200 || string(again.Body) != string(rev.Body) {
		t.Fatalf("reverse twice: %d %s", again.Status, again.Body)
	}
	a, _ := env.Store().Account(context.Background(), env.AccountID("031130001"))
	if a.PurchaseSeq != 0 || a.YTDVolumeCentiM3 != 0 {
		t.Fatalf("account after the reversal: seq %d, ytd %d", a.PurchaseSeq, a.YTDVolumeCentiM3)
	}
	if r := p.pay("S4", "031130001", 3000); r.Status != 200 || num(r.json(t)["credit"].(map[string]any)["seq"]) != 1 {
		t.Fatalf("payment after the reversal: %d %s", r.Status, r.Body)
	}
	// A bill payment is delivered at once: no reversal.
	p.pay("S5", "031120001", 1000)
	if r := p.post("/partner/v1/reverse", map[string]string{"serial": "S5"}); r.Status != 409 || r.json(t)["code"] != "credit_delivered" {
		t.Fatalf("reversal after delivery: %d %s", r.Status, r.Body)
	}
	// An IC-card account may be paid here; its credit waits for the card.
	if q := p.post("/partner/v1/query", map[string]string{"user_number": "031140086"}).json(t); q["notice"].(map[string]any)["eq_code"] != "EQ0027" {
		t.Fatalf("card account query: %v", q)
	}
	if r := p.pay("S6", "031140086", 1000); r.Status != 200 || r.json(t)["credit"].(map[string]any)["kind"] != "card" {
		t.Fatalf("card account payment: %d %s", r.Status, r.Body)
	}
	// Tomorrow, today's payments can no longer be reversed.
	env.Clock.Advance(24 * time.Hour)
	if r := p.post("/partner/v1/reverse", map[string]string{"serial": "S6"}); r.Status != 409 || r.json(t)["code"] != "reverse_too_late" {
		t.Fatalf("reversal the next day: %d %s", r.Status, r.Body)
	}
}

// The partner's own file against ours: every planted difference is found.
func TestPartnerReconciliationDifferences(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	p := newPartner(t, env, srv, "lakala")
	for i, amount := range []int64{1000, 2000, 3000} {
		if r := p.pay("R"+strconv.Itoa(i+1), "031120001", amount); r.Status != 200 {
			t.Fatalf("pay: %s", r.Body)
		}
	}
	day := time.Now().In(srv.App.Recharge.Location())
	lines, err := srv.App.Recharge.PartnerDay(context.Background(), "lakala", day)
	if err != nil || len(lines) != 3 {
		t.Fatalf("%v %v", lines, err)
	}
	var ours bytes.Buffer
	partner.WriteFile(&ours, lines, srv.App.Recharge.Location())
	if diffs, err := partner.Compare(lines, &ours); err != nil || len(diffs) != 0 {
		t.Fatalf("our own file: %v %v", diffs, err)
	}
	// Theirs: R2 with another amount, R3 missing, an R9 we never saw.
	theirs := "3|6500\n" +
		"R1|x|031120001|1000|2026-11-22T10:00:00+08:00\n" +
		"R2|x|031120001|2500|2026-11-22T10:01:00+08:00\n" +
		"R9|x|031120001|3000|2026-11-22T10:02:00+08:00\n"
	diffs, err := partner.Compare(lines, strings.NewReader(theirs))
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, d := range diffs {
		found[d.Serial+":"+strings.Fields(d.What)[0]] = true
	}
	for _, want := range []string{"R2:amount:", "R3:gaspay", "R9:the", ":totals:"} {
		if !found[want] {
			t.Errorf("difference %q not reported; got %+v", want, diffs)
		}
	}
}
