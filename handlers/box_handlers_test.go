package handlers_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"

	"gaspay/app"
	"gaspay/bleproxy"
	"gaspay/internal/apptest"
)

// The demo IC card, as in the box protocol's test vectors.
const demoSerial = "0000000012345678"

func master(t *testing.T) bleproxy.MasterKey {
	t.Helper()
	m, err := bleproxy.ParseMasterKey(app.SandboxBoxMasterKey)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// demoCard is the card of 031140086 after purchase seq, loaded into the
// meter, as the spec's vector.
func demoCard(t *testing.T, seq uint16) *bleproxy.Card {
	t.Helper()
	serial, _ := bleproxy.ParseCardSerial(demoSerial)
	img := bleproxy.CardImage{CardType: bleproxy.CardVolume, UserNumber: "031140086", Serial: serial, Seq: seq,
		State: bleproxy.CardLoaded, MeterRemaining: 1250, MeterUsage: 123456, WriteBackTime: 1700000000}
	raw, err := img.Seal(bleproxy.DeriveCardKey(master(t), serial))
	if err != nil {
		t.Fatal(err)
	}
	return &bleproxy.Card{Image: raw}
}

func newBox(t *testing.T, idHex string) *bleproxy.Box {
	t.Helper()
	id, err := bleproxy.ParseBoxID(idHex)
	if err != nil {
		t.Fatal(err)
	}
	return bleproxy.NewBox(id, bleproxy.DeriveBoxKey(master(t), id), bleproxy.BoxConfig{Firmware: 0x0102})
}

// phone relays between a box and the server, as the mini-program does.
type phone struct {
	t       *testing.T
	srv     *apptest.Instance
	token   string
	box     *bleproxy.Box
	session string
}

type boxAnswer struct {
	SessionID string         `json:"session_id"`
	Frames    []string       `json:"frames"`
	View      map[string]any `json:"view"`
}

func (p *phone) post(path string, body any) (apptest.Response, boxAnswer) {
	p.t.Helper()
	r := p.srv.Do(apptest.Request{Method: "POST", Path: path, Token: p.token, Body: body})
	var a boxAnswer
	if r.Status < 300 {
		if err := json.Unmarshal(r.Body, &a); err != nil {
			p.t.Fatalf("%s: %v", path, err)
		}
	}
	return r, a
}

func decode(t *testing.T, b64 string) bleproxy.Frame {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	f, err := bleproxy.ParseFrame(raw)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func b64(f bleproxy.Frame) string { return base64.StdEncoding.EncodeToString(f.Marshal()) }

// connect opens a session: HELLO, SESSION, and the first card read.
func (p *phone) connect() map[string]any {
	p.t.Helper()
	hello, err := p.box.Hello()
	if err != nil {
		p.t.Fatal(err)
	}
	r, a := p.post("/api/box/sessions", map[string]string{"hello": b64(hello)})
	if r.Status != http.StatusCreated || len(a.Frames) != 2 {
		p.t.Fatalf("open: %d %s", r.Status, r.Body)
	}
	p.session = a.SessionID
	if err := p.box.HandleSession(decode(p.t, a.Frames[0])); err != nil {
		p.t.Fatalf("box refused SESSION: %v", err)
	}
	return p.deliver(a.Frames[1:])
}

// deliver hands the server's frames to the box and relays each reply,
// returning the last view.
func (p *phone) deliver(frames []string) map[string]any {
	p.t.Helper()
	var view map[string]any
	for _, f := range frames {
		reply, err := p.box.Handle(decode(p.t, f))
		if err != nil {
			p.t.Fatalf("box: %v", err)
		}
		r, a := p.post("/api/box/sessions/"+p.session+"/frames", map[string]string{"frame": b64(reply)})
		if r.Status != http.StatusOK {
			p.t.Fatalf("relay: %d %s", r.Status, r.Body)
		}
		view = a.View
		view["_frame"] = b64(reply)
	}
	return view
}

func (p *phone) read() map[string]any {
	p.t.Helper()
	r, a := p.post("/api/box/sessions/"+p.session+"/read", nil)
	if r.Status != http.StatusOK {
		p.t.Fatalf("read: %d %s", r.Status, r.Body)
	}
	return p.deliver(a.Frames)
}

func (p *phone) write(orderNo string) (apptest.Response, []string) {
	p.t.Helper()
	r, a := p.post("/api/box/sessions/"+p.session+"/write", map[string]string{"order_no": orderNo})
	return r, a.Frames
}

// cardBuyer is a customer with the demo IC card in a box.
func cardBuyer(t *testing.T, env *apptest.Env, srv *apptest.Instance, boxID string, seq uint16) (buyer, *phone) {
	b := newBuyer(t, env, srv, "alice", "031140086", "秦淮")
	box := newBox(t, boxID)
	box.InsertCard(demoCard(t, seq))
	return b, &phone{t: t, srv: srv, token: b.token, box: box}
}

// paidPurchase buys volume for the card's account and pays it.
func paidPurchase(t *testing.T, env *apptest.Env, b buyer, volume int) string {
	t.Helper()
	no := orderNo(t, b.order(map[string]any{"volume_centi_m3": volume}))
	if _, err := env.Pay.Pay(context.Background(), no, ""); err != nil {
		t.Fatal(err)
	}
	return no
}

func events(t *testing.T, srv *apptest.Instance, query string) []string {
	t.Helper()
	r := srv.Do(apptest.Request{Method: "GET", Path: "/api/admin/box/events?" + query, Token: apptest.AdminToken})
	if r.Status != http.StatusOK {
		t.Fatalf("events: %d %s", r.Status, r.Body)
	}
	var out []string
	for _, e := range r.JSON(t)["events"].([]any) {
		out = append([]string{e.(map[string]any)["kind"].(string)}, out...)
	}
	return out
}

func has(list []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, l := range list {
			found = found || l == w
		}
		if !found {
			return false
		}
	}
	return true
}

// The whole purchase: read the card, buy, pay, write, insert into the meter.
func TestBoxPurchase(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b, p := cardBuyer(t, env, srv, "4742000000000001", 4)

	v := p.connect()
	if v["card"] != "present" || v["holder"] != "秦*" || v["user_number"] != "031140086" || v["card_type"] != "volume" ||
		num(v["seq"]) != 4 || v["credit_state"] != "loaded" || num(v["meter_remaining"]) != 1250 ||
		num(v["meter_usage_cm3"]) != 123456 || num(v["meter_usage_centi_m3"]) != 123456 || v["purchase_allowed"] != true {
		t.Fatalf("first read: %v", v)
	}
	// The imported card had no known sequence: the first genuine read gave it.
	if a := srv.Do(apptest.Request{Method: "GET", Path: "/api/accounts/" + itoa(b.account), Token: b.token}).JSON(t); num(a["card"].(map[string]any)["last_written_seq"]) != 4 {
		t.Fatalf("card sequence not adopted: %v", a)
	}

	no := paidPurchase(t, env, b, 10000)
	v = p.read()
	pending, _ := v["pending"].(map[string]any)
	if v["purchase_allowed"] != false || pending == nil || pending["order_no"] != no || pending["write_available"] != true {
		t.Fatalf("read with a paid purchase: %v", v)
	}
	r, frames := p.write(no)
	if r.Status != http.StatusOK || len(frames) != 1 {
		t.Fatalf("write: %d %s", r.Status, r.Body)
	}
	v = p.deliver(frames)
	if v["delivered"] == nil || v["delivered"].(map[string]any)["order_no"] != no || num(v["delivered"].(map[string]any)["seq"]) != 5 {
		t.Fatalf("write result: %v", v)
	}
	o := b.get(no)
	if c := o["credit"].(map[string]any); c["status"] != "delivered" || num(c["seq"]) != 5 {
		t.Fatalf("order after the write: %v", o)
	}

	// The customer inserts the card into the meter: the gas is loaded, once.
	serial, _ := bleproxy.ParseCardSerial(demoSerial)
	kcard := bleproxy.DeriveCardKey(master(t), serial)
	meter := &bleproxy.Meter{Serial: serial, LastSeq: 4, Remaining: 1250, Usage: 123456}
	after, err := meter.Insert(kcard, p.box.Card().Image)
	if err != nil || meter.Remaining != 11250 || meter.LastSeq != 5 {
		t.Fatalf("meter: %v, remaining %d", err, meter.Remaining)
	}
	if _, err := meter.Insert(kcard, p.box.Card().Image); err == nil {
		t.Fatal("the meter loaded the same purchase twice")
	}
	p.box.InsertCard(&bleproxy.Card{Image: after})
	if v := p.read(); v["purchase_allowed"] != true || num(v["meter_remaining"]) != 11250 || v["credit_state"] != "loaded" {
		t.Fatalf("read after the meter: %v", v)
	}
	if ev := events(t, srv, "order_no="+no); !has(ev, "write_issued", "delivered") {
		t.Fatalf("order record: %v", ev)
	}
	if ev := events(t, srv, "session_id="+p.session); !has(ev, "session_opened", "card_read", "write_issued", "delivered") {
		t.Fatalf("session record: %v", ev)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestReplayedHello(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	_, p := cardBuyer(t, env, srv, "4742000000000001", 4)
	hello, err := p.box.Hello()
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := p.post("/api/box/sessions", map[string]string{"hello": b64(hello)}); r.Status != http.StatusCreated {
		t.Fatalf("first HELLO: %d %s", r.Status, r.Body)
	}
	r, _ := p.post("/api/box/sessions", map[string]string{"hello": b64(hello)})
	if r.Status != http.StatusConflict || r.Code(t) != "frame_replayed" {
		t.Fatalf("replayed HELLO: %d %s", r.Status, r.Body)
	}
	// A box whose key is not derived from our master key.
	id, _ := bleproxy.ParseBoxID("4742000000000002")
	rogue := bleproxy.NewBox(id, bleproxy.Key{1, 2, 3}, bleproxy.BoxConfig{})
	hello, _ = rogue.Hello()
	if r, _ := p.post("/api/box/sessions", map[string]string{"hello": b64(hello)}); r.Status != http.StatusUnauthorized || r.Code(t) != "frame_rejected" {
		t.Fatalf("rogue HELLO: %d %s", r.Status, r.Body)
	}
	for _, bad := range []string{"", "not base64!", base64.StdEncoding.EncodeToString([]byte("GB\x01short"))} {
		if r, _ := p.post("/api/box/sessions", map[string]string{"hello": bad}); r.Status != http.StatusBadRequest || r.Code(t) != "invalid_frame" {
			t.Errorf("HELLO %q: %d %s", bad, r.Status, r.Body)
		}
	}
	if ev := events(t, srv, "box_id=4742000000000001"); !has(ev, "session_opened", "hello_refused") {
		t.Fatalf("record: %v", ev)
	}
	if ev := events(t, srv, "box_id=4742000000000002"); !has(ev, "hello_refused") {
		t.Fatalf("rogue box record: %v", ev)
	}
}

// A phone retrying a frame gets the same answer; an old frame sent later is
// refused; a frame of another session is refused; none changes anything.
func TestReplayedAndSplicedFrames(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b, p := cardBuyer(t, env, srv, "4742000000000001", 4)
	p.connect()
	first := p.read()["_frame"].(string)
	retry := srv.Do(apptest.Request{Method: "POST", Path: "/api/box/sessions/" + p.session + "/frames", Token: p.token,
		Body: map[string]string{"frame": first}})
	if retry.Status != http.StatusOK || retry.JSON(t)["view"].(map[string]any)["seq"] != 4.0 {
		t.Fatalf("retry of the same frame: %d %s", retry.Status, retry.Body)
	}
	p.read()
	r := srv.Do(apptest.Request{Method: "POST", Path: "/api/box/sessions/" + p.session + "/frames", Token: p.token,
		Body: map[string]string{"frame": first}})
	if r.Status != http.StatusConflict || r.Code(t) != "frame_replayed" {
		t.Fatalf("old frame: %d %s", r.Status, r.Body)
	}

	// A second box, another session: their frames do not mix.
	other := &phone{t: t, srv: srv, token: b.token, box: newBox(t, "4742000000000009")}
	other.box.InsertCard(demoCard(t, 4))
	other.connect()
	rr, a := other.post("/api/box/sessions/"+other.session+"/read", nil)
	if rr.Status != http.StatusOK {
		t.Fatal(rr.Status)
	}
	reply, err := other.box.Handle(decode(t, a.Frames[0]))
	if err != nil {
		t.Fatal(err)
	}
	r = srv.Do(apptest.Request{Method: "POST", Path: "/api/box/sessions/" + p.session + "/frames", Token: p.token,
		Body: map[string]string{"frame": b64(reply)}})
	if r.Status != http.StatusBadRequest || r.Code(t) != "frame_rejected" {
		t.Fatalf("frame of another box: %d %s", r.Status, r.Body)
	}
	// The same box, a session the server made before: same counters, other key.
	again := &phone{t: t, srv: srv, token: b.token, box: p.box}
	oldSession := p.session
	again.connect()
	rr, a = again.post("/api/box/sessions/"+again.session+"/read", nil)
	reply, err = again.box.Handle(decode(t, a.Frames[0]))
	if err != nil {
		t.Fatal(err)
	}
	r = srv.Do(apptest.Request{Method: "POST", Path: "/api/box/sessions/" + oldSession + "/frames", Token: p.token,
		Body: map[string]string{"frame": b64(reply)}})
	if r.Status == http.StatusOK {
		t.Fatalf("a frame of a newer session accepted in an older one: %s", r.Body)
	}
	// The genuine frame still goes through in its own session.
	r = srv.Do(apptest.Request{Method: "POST", Path: "/api/box/sessions/" + again.session + "/frames", Token: p.token,
		Body: map[string]string{"frame": b64(reply)}})
	if r.Status != http.StatusOK {
		t.Fatalf("genuine frame after the splices: %d %s", r.Status, r.Body)
	}
	// Someone else's session does not exist for bob.
	bob := srv.Login("bob")
	r = srv.Do(apptest.Request{Method: "POST", Path: "/api/box/sessions/" + again.session + "/read", Token: bob})
	if r.Status != http.StatusNotFound || r.Code(t) != "box_session_not_found" {
		t.Fatalf("another user's session: %d %s", r.Status, r.Body)
	}
	if ev := events(t, srv, "session_id="+oldSession); !has(ev, "frame_refused") {
		t.Fatalf("refusals not recorded: %v", ev)
	}
}

func TestTamperedCardAndWriteResult(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b, p := cardBuyer(t, env, srv, "4742000000000001", 4)
	// A card whose image was altered (credit raised) without the card key.
	bad := *demoCard(t, 4)
	bad.Image[29] = 0xff
	p.box.InsertCard(&bad)
	v := p.connect()
	if v["refusal"].(map[string]any)["code"] != "card_invalid" || v["purchase_allowed"] != false {
		t.Fatalf("tampered card: %v", v)
	}
	if ev := events(t, srv, "card_serial="+demoSerial); !has(ev, "card_refused") {
		t.Fatalf("record: %v", ev)
	}

	p.box.InsertCard(demoCard(t, 4))
	p.read()
	no := paidPurchase(t, env, b, 10000)
	p.read()
	_, frames := p.write(no)
	reply, err := p.box.Handle(decode(t, frames[0]))
	if err != nil {
		t.Fatal(err)
	}
	raw := reply.Marshal()
	raw[len(raw)-20] ^= 0x01 // a bit of the sealed body
	r := srv.Do(apptest.Request{Method: "POST", Path: "/api/box/sessions/" + p.session + "/frames", Token: p.token,
		Body: map[string]string{"frame": base64.StdEncoding.EncodeToString(raw)}})
	if r.Status != http.StatusUnauthorized || r.Code(t) != "frame_rejected" {
		t.Fatalf("tampered write result: %d %s", r.Status, r.Body)
	}
	if c := b.get(no)["credit"].(map[string]any); c["status"] != "pending" {
		t.Fatalf("a tampered result delivered: %v", c)
	}
	// The genuine one still counts.
	r = srv.Do(apptest.Request{Method: "POST", Path: "/api/box/sessions/" + p.session + "/frames", Token: p.token,
		Body: map[string]string{"frame": b64(reply)}})
	if r.Status != http.StatusOK {
		t.Fatalf("genuine write result: %d %s", r.Status, r.Body)
	}
	if c := b.get(no)["credit"].(map[string]any); c["status"] != "delivered" {
		t.Fatalf("not delivered: %v", c)
	}
}

// The card in the box changes between the read and the write: the box's
// compare-and-swap writes nothing, the purchase stays pending, and the next
// read offers the write again.
func TestCardSwappedBetweenReadAndWrite(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b, p := cardBuyer(t, env, srv, "4742000000000001", 4)
	p.connect()
	no := paidPurchase(t, env, b, 10000)
	p.read()
	_, frames := p.write(no)
	// Another card image goes in: the same card after a meter visit.
	swapped := demoCard(t, 4)
	img, _ := bleproxy.ParseCardImage(swapped.Image[:])
	img.MeterRemaining = 900
	serial, _ := bleproxy.ParseCardSerial(demoSerial)
	swapped.Image, _ = img.Seal(bleproxy.DeriveCardKey(master(t), serial))
	p.box.InsertCard(swapped)
	v := p.deliver(frames)
	if v["delivered"] != nil || v["write_status"] == "" || v["reason"].(map[string]any)["code"] != "write_incomplete" {
		t.Fatalf("write over a swapped card: %v", v)
	}
	if c := b.get(no)["credit"].(map[string]any); c["status"] != "pending" {
		t.Fatalf("credit: %v", c)
	}
	v = p.read()
	if v["pending"].(map[string]any)["write_available"] != true || num(v["meter_remaining"]) != 900 {
		t.Fatalf("next read: %v", v)
	}
	_, frames = p.write(no)
	if v := p.deliver(frames); v["delivered"] == nil {
		t.Fatalf("second write: %v", v)
	}
}

// The write happens but its result never reaches the server. The next
// read, through another box and session, finds the purchase on the card and
// delivers it; the meter takes it exactly once.
func TestLostWriteResultRecoveredOnNextRead(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b, p := cardBuyer(t, env, srv, "4742000000000001", 4)
	p.connect()
	no := paidPurchase(t, env, b, 10000)
	p.read()
	_, frames := p.write(no)
	p.box.InjectFault(bleproxy.FaultLoseReply)
	if _, err := p.box.Handle(decode(t, frames[0])); err == nil {
		t.Fatal("the box's reply was not lost")
	}
	// Money and delivery in doubt: no refund, no second payment.
	r := srv.Do(apptest.Request{Method: "POST", Path: "/api/admin/orders/" + no + "/refund", Token: apptest.AdminToken,
		Body: map[string]string{"reason": "test"}})
	if r.Status != http.StatusConflict || r.Code(t) != "delivery_in_doubt" {
		t.Fatalf("refund while in doubt: %d %s", r.Status, r.Body)
	}
	if r := b.order(map[string]any{"volume_centi_m3": 100}); r.Code(t) != "credit_pending" {
		t.Fatalf("second purchase: %d %s", r.Status, r.Body)
	}

	// The customer takes the card to another box.
	card := p.box.RemoveCard()
	q := &phone{t: t, srv: srv, token: b.token, box: newBox(t, "4742000000000003")}
	q.box.InsertCard(card)
	v := q.connect()
	if v["delivered"] == nil || v["delivered"].(map[string]any)["order_no"] != no || v["credit_state"] != "pending" {
		t.Fatalf("recovering read: %v", v)
	}
	if c := b.get(no)["credit"].(map[string]any); c["status"] != "delivered" || num(c["seq"]) != 5 {
		t.Fatalf("credit: %v", c)
	}
	if n := env.Count("credits", "status = ?", "delivered"); n != 1 {
		t.Fatalf("%d delivered credits", n)
	}
	serial, _ := bleproxy.ParseCardSerial(demoSerial)
	kcard := bleproxy.DeriveCardKey(master(t), serial)
	meter := &bleproxy.Meter{Serial: serial, LastSeq: 4, Remaining: 1250}
	if _, err := meter.Insert(kcard, q.box.Card().Image); err != nil || meter.Remaining != 11250 {
		t.Fatalf("meter: %v %d", err, meter.Remaining)
	}
	if _, err := meter.Insert(kcard, q.box.Card().Image); err == nil {
		t.Fatal("loaded twice")
	}
	// Reading it again changes nothing: nothing is pending any more.
	if v := q.read(); v["delivered"] != nil || v["pending"] != nil || num(v["seq"]) != 5 {
		t.Fatalf("read again: %v", v)
	}
	if n := env.Count("credits", "status = ?", "delivered"); n != 1 {
		t.Fatalf("%d delivered credits after a second read", n)
	}
}

// A write that fails leaves the purchase paid and pending; the next read
// offers it again at no charge; a card whose credit is not loaded is never
// written over.
func TestFailedWriteOfferedAgain(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b, p := cardBuyer(t, env, srv, "4742000000000001", 4)
	p.connect()
	no := paidPurchase(t, env, b, 10000)
	p.read()
	_, frames := p.write(no)
	p.box.InjectFault(bleproxy.FaultWriteFails)
	if v := p.deliver(frames); v["write_status"] == nil || v["delivered"] != nil {
		t.Fatalf("failed write: %v", v)
	}
	v := p.read()
	if v["pending"].(map[string]any)["write_available"] != true {
		t.Fatalf("not offered again: %v", v)
	}
	// The read proved the write never landed: staff could refund it now.
	var attempts int
	env.DB.Raw("SELECT attempts FROM credits").Scan(&attempts)
	if attempts != 0 {
		t.Fatalf("attempts after a read showing no write: %d", attempts)
	}
	_, frames = p.write(no)
	if v := p.deliver(frames); v["delivered"] == nil {
		t.Fatalf("second write: %v", v)
	}
	if n := env.Count("payments", ""); n != 1 {
		t.Fatalf("%d payments", n)
	}
	// The card now carries credit the meter has not taken: no new purchase
	// is written over it.
	v = p.read()
	if v["purchase_allowed"] != false || v["reason"].(map[string]any)["code"] != "credit_not_loaded" {
		t.Fatalf("read of a pending card: %v", v)
	}
	no2 := orderNo(t, b.order(map[string]any{"volume_centi_m3": 100}))
	if _, err := env.Pay.Pay(context.Background(), no2, ""); err != nil {
		t.Fatal(err)
	}
	p.read()
	if r, _ := p.write(no2); r.Status != http.StatusConflict || r.Code(t) != "credit_not_loaded" {
		t.Fatalf("write over a pending card: %d %s", r.Status, r.Body)
	}
}

func TestCardRefusals(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b, p := cardBuyer(t, env, srv, "4742000000000001", 5)
	p.connect() // adopts purchase 5
	p.box.InsertCard(demoCard(t, 4))
	if v := p.read(); v["refusal"].(map[string]any)["code"] != "card_stale" {
		t.Fatalf("stale card: %v", v)
	}
	p.box.InsertCard(demoCard(t, 5))
	if err := env.DB.Exec("UPDATE cards SET status = 'lost', current_account_id = NULL").Error; err != nil {
		t.Fatal(err)
	}
	if v := p.read(); v["refusal"].(map[string]any)["code"] != "card_lost" {
		t.Fatalf("lost card: %v", v)
	}
	env.DB.Exec("UPDATE cards SET status = 'current', current_account_id = account_id")
	// Someone who has not bound the account.
	bob := &phone{t: t, srv: srv, token: srv.Login("bob"), box: newBox(t, "4742000000000004")}
	bob.box.InsertCard(demoCard(t, 5))
	if v := bob.connect(); v["refusal"].(map[string]any)["code"] != "card_not_bound" {
		t.Fatalf("unbound card: %v", v)
	}
	if r, _ := p.write("GP20261122000000000001"); r.Status != http.StatusConflict {
		t.Fatalf("write without a good read: %d %s", r.Status, r.Body)
	}
	_ = b
}

// Two replicas share the session: any of them continues it.
func TestBoxSessionAcrossReplicas(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	a, c := env.Start(), env.Start()
	b, p := cardBuyer(t, env, a, "4742000000000001", 4)
	p.connect()
	no := paidPurchase(t, env, b, 10000)
	p.srv = c
	p.read()
	_, frames := p.write(no)
	p.srv = a
	if v := p.deliver(frames); v["delivered"] == nil {
		t.Fatalf("across replicas: %v", v)
	}
}
