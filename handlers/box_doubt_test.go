package handlers_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"gaspay/bleproxy"
	"gaspay/internal/apptest"
)

// These tests play issue 8's attack: a phone keeps a WRITE_CARD back, reads
// the card in a second box, asks for the money back, then hands the held
// frame to the first box. spec/box-protocol.md "Session lifetime" and
// "Rules the server keeps" say when the purchase is in doubt.

// heldWrite is a paid purchase whose WRITE_CARD the phone on box A holds
// back, with the card taken out of box A.
type heldWrite struct {
	env     *apptest.Env
	srv     *apptest.Instance
	b       buyer
	a       *phone // box A, whose session issued the write
	orderNo string
	frames  []string // the held WRITE_CARD
	card    *bleproxy.Card
	partner *partnerClient
}

// boxWithClock is a box whose own idle timer runs on now.
func boxWithClock(t *testing.T, idHex string, now func() time.Time) *bleproxy.Box {
	t.Helper()
	id, err := bleproxy.ParseBoxID(idHex)
	if err != nil {
		t.Fatal(err)
	}
	return bleproxy.NewBox(id, bleproxy.DeriveBoxKey(master(t), id), bleproxy.BoxConfig{Firmware: 0x0102, Now: now})
}

// holdWrite sets the attack up. With byPartner the purchase is a
// collection partner's payment; boxClock is box A's own clock.
func holdWrite(t *testing.T, byPartner bool, boxClock func(*apptest.Env) func() time.Time) *heldWrite {
	t.Helper()
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	h := &heldWrite{env: env, srv: srv}
	h.b = newBuyer(t, env, srv, "alice", "031140086", "秦淮")
	h.a = &phone{t: t, srv: srv, token: h.b.token, box: boxWithClock(t, "4742000000000001", boxClock(env))}
	h.a.box.InsertCard(demoCard(t, 4))
	h.a.connect()
	if byPartner {
		h.partner = newPartner(t, env, srv, "lakala")
		r := h.partner.pay("S1", "031140086", 3000)
		if r.Status != http.StatusOK {
			t.Fatalf("partner payment: %d %s", r.Status, r.Body)
		}
		h.orderNo = r.json(t)["order_no"].(string)
	} else {
		h.orderNo = paidPurchase(t, env, h.b, 10000)
	}
	h.a.read()
	r, frames := h.a.write(h.orderNo)
	if r.Status != http.StatusOK || len(frames) != 1 {
		t.Fatalf("write: %d %s", r.Status, r.Body)
	}
	h.frames = frames
	h.card = h.a.box.RemoveCard()
	return h
}

func realClock(*apptest.Env) func() time.Time  { return time.Now }
func envClock(e *apptest.Env) func() time.Time { return e.Clock.Now }

// cancel asks for the money back the way the purchase came: a staff refund,
// or the partner's reversal.
func (h *heldWrite) cancel(t *testing.T) (int, string) {
	t.Helper()
	if h.partner != nil {
		r := h.partner.post("/partner/v1/reverse", map[string]string{"serial": "S1"})
		return r.Status, codeOf(r.json(t))
	}
	r := h.srv.Do(apptest.Request{Method: "POST", Path: "/api/admin/orders/" + h.orderNo + "/refund", Token: apptest.AdminToken,
		Body: map[string]string{"reason": "客户申请退款"}})
	return r.Status, codeOf(r.JSON(t))
}

// codeOf is an error's code, or a success's status.
func codeOf(m map[string]any) string {
	if c, ok := m["code"].(string); ok {
		return c
	}
	s, _ := m["status"].(string)
	return s
}

// readInBoxB puts the card into another box and reads it.
func (h *heldWrite) readInBoxB(t *testing.T) (*phone, map[string]any) {
	t.Helper()
	q := &phone{t: t, srv: h.srv, token: h.b.token, box: newBox(t, "4742000000000002")}
	q.box.InsertCard(h.card)
	return q, q.connect()
}

func (h *heldWrite) credit(t *testing.T) (status string, attempts int) {
	t.Helper()
	h.env.DB.Raw("SELECT c.status, c.attempts FROM credits c JOIN orders o ON o.id = c.order_id WHERE o.order_no = ?", h.orderNo).
		Row().Scan(&status, &attempts)
	return status, attempts
}

func (h *heldWrite) orderStatus(t *testing.T) string {
	t.Helper()
	var s string
	h.env.DB.Raw("SELECT status FROM orders WHERE order_no = ?", h.orderNo).Scan(&s)
	return s
}

// The attack as reported, paid by WeChat Pay (staff refund) or by a
// collection partner (its reversal): while box A's session lives, a read in
// box B proves nothing and nothing gives the money back; the late write is
// then delivered normally.
func TestHeldWriteWhileSessionLives(t *testing.T) {
	for _, byPartner := range []bool{false, true} {
		name := "staff refund"
		if byPartner {
			name = "partner reversal"
		}
		t.Run(name, func(t *testing.T) {
			h := holdWrite(t, byPartner, realClock)
			if st, code := h.cancel(t); st != http.StatusConflict || code != "delivery_in_doubt" {
				t.Fatalf("cancel while the write is held: %d %s", st, code)
			}
			q, v := h.readInBoxB(t)
			pending, _ := v["pending"].(map[string]any)
			if num(v["seq"]) != 4 || pending == nil || pending["in_doubt"] != true || pending["write_available"] != true {
				t.Fatalf("read in box B: %v", v)
			}
			if st, code := h.cancel(t); st != http.StatusConflict || code != "delivery_in_doubt" {
				t.Fatalf("cancel after the read in box B: %d %s", st, code)
			}
			if _, attempts := h.credit(t); attempts == 0 {
				t.Fatal("the read in box B took the purchase out of doubt")
			}
			if ev := events(t, h.srv, "session_id="+q.session); !has(ev, "write_in_doubt") {
				t.Fatalf("box B's record: %v", ev)
			}

			// The phone hands the held frame to box A: the card is written,
			// and that is a delivery like any other.
			h.a.box.InsertCard(q.box.RemoveCard())
			v = h.a.deliver(h.frames)
			if d, _ := v["delivered"].(map[string]any); d == nil || d["order_no"] != h.orderNo || num(d["seq"]) != 5 {
				t.Fatalf("late write: %v", v)
			}
			if st, code := h.cancel(t); st != http.StatusConflict || code != "credit_delivered" {
				t.Fatalf("cancel after the delivery: %d %s", st, code)
			}
			if status, _ := h.credit(t); status != "delivered" || h.orderStatus(t) != "paid" {
				t.Fatalf("credit %s, order %s", status, h.orderStatus(t))
			}
			if n := h.env.Count("alerts", ""); n != 0 {
				t.Fatalf("%d alerts for a normal delivery", n)
			}
			if n := h.env.Count("card_writes", "resolved_at IS NULL"); n != 0 {
				t.Fatalf("%d writes still live after the delivery", n)
			}
		})
	}
}

// Box A opens a newer session before the read in box B: its old session,
// and the write in it, are dead. The read proves the write never landed;
// the refund goes through; the held frame reaches nothing.
func TestHeldWriteAfterNewerSession(t *testing.T) {
	for _, byPartner := range []bool{false, true} {
		t.Run(map[bool]string{false: "staff refund", true: "partner reversal"}[byPartner], func(t *testing.T) {
			h := holdWrite(t, byPartner, realClock)
			old := h.a.session
			if v := h.a.connect(); v["card"] != "absent" {
				t.Fatalf("box A's new session: %v", v)
			}
			_, v := h.readInBoxB(t)
			pending, _ := v["pending"].(map[string]any)
			if num(v["seq"]) != 4 || pending == nil || pending["in_doubt"] == true || pending["write_available"] != true {
				t.Fatalf("read in box B: %v", v)
			}
			if st, code := h.cancel(t); st != http.StatusAccepted && !(byPartner && st == http.StatusOK) {
				t.Fatalf("cancel after box A's new session and the read: %d %s", st, code)
			}
			if status, _ := h.credit(t); status != "cancelled" {
				t.Fatalf("credit %s", status)
			}

			// The held frame: box A forgot its session, and the server
			// refuses anything of it.
			if _, err := h.a.box.Handle(decode(t, h.frames[0])); err == nil {
				t.Fatal("box A executed a frame of the session it replaced")
			}
			r := h.srv.Do(apptest.Request{Method: "POST", Path: "/api/box/sessions/" + old + "/read", Token: h.b.token})
			if r.Status != http.StatusConflict || r.Code(t) != "box_session_replaced" {
				t.Fatalf("command in the replaced session: %d %s", r.Status, r.Body)
			}
			if ev := events(t, h.srv, "session_id="+old); !has(ev, "frame_refused") {
				t.Fatalf("old session's record: %v", ev)
			}
			if n := h.env.Count("card_writes", "result = ?", "not_landed"); n != 1 {
				t.Fatalf("%d writes resolved as not landed", n)
			}
		})
	}
}

// Box A's idle timer: 300 s after the last frame, plus 60 s for the clocks,
// the session is dead on the box. Before that, a read in box B still proves
// nothing.
func TestHeldWriteAfterIdleTimeout(t *testing.T) {
	h := holdWrite(t, false, envClock)
	h.env.Clock.Advance(bleproxy.SessionIdle)
	q, v := h.readInBoxB(t)
	if p, _ := v["pending"].(map[string]any); p == nil || p["in_doubt"] != true {
		t.Fatalf("read in box B within the margin: %v", v)
	}
	if st, code := h.cancel(t); st != http.StatusConflict || code != "delivery_in_doubt" {
		t.Fatalf("refund within the margin: %d %s", st, code)
	}
	h.env.Clock.Advance(61 * time.Second)
	v = q.read()
	if p, _ := v["pending"].(map[string]any); p == nil || p["in_doubt"] == true || num(v["seq"]) != 4 {
		t.Fatalf("read in box B after box A's session died: %v", v)
	}
	if st, code := h.cancel(t); st != http.StatusAccepted {
		t.Fatalf("refund after box A's session died: %d %s", st, code)
	}
	card := q.box.RemoveCard()
	h.a.box.InsertCard(card)
	if _, err := h.a.box.Handle(decode(t, h.frames[0])); !errors.Is(err, bleproxy.ErrNoSession) {
		t.Fatalf("box A after its idle timeout: %v", err)
	}
	if card.Image != demoCard(t, 4).Image {
		t.Fatal("the held write reached the card")
	}
}

// Activity in the issuing session keeps the write live: a frame sealed in it
// 200 s after the write starts box A's timer again.
func TestActivityKeepsHeldWriteLive(t *testing.T) {
	h := holdWrite(t, false, envClock)
	h.env.Clock.Advance(200 * time.Second)
	// The phone asks box A's session for another read, and holds that too.
	if r, _ := h.a.post("/api/box/sessions/"+h.a.session+"/read", nil); r.Status != http.StatusOK {
		t.Fatalf("read command: %d %s", r.Status, r.Body)
	}
	h.env.Clock.Advance(200 * time.Second) // 400 s after the write, 200 s after the last seal
	if _, v := h.readInBoxB(t); v["pending"].(map[string]any)["in_doubt"] != true {
		t.Fatalf("read in box B 200 s after the session's last frame: %v", v)
	}
	if st, code := h.cancel(t); st != http.StatusConflict || code != "delivery_in_doubt" {
		t.Fatalf("refund: %d %s", st, code)
	}
}

// The second line of defence: box A's clock runs slow, so its session
// outlives the server's reckoning; the refund goes through and the held
// write still lands. The box's report, or else the next read, is recorded
// as what it is, never as a delivery, and staff are alerted.
func TestGasForRefundedOrderAlerts(t *testing.T) {
	for _, withheld := range []bool{false, true} {
		t.Run(map[bool]string{false: "write result relayed", true: "write result withheld"}[withheld], func(t *testing.T) {
			h := holdWrite(t, false, realClock)
			h.env.Clock.Advance(bleproxy.SessionIdle + 61*time.Second)
			q, _ := h.readInBoxB(t)
			if st, code := h.cancel(t); st != http.StatusAccepted {
				t.Fatalf("refund: %d %s", st, code)
			}
			h.a.box.InsertCard(q.box.RemoveCard())
			reply, err := h.a.box.Handle(decode(t, h.frames[0]))
			if err != nil {
				t.Fatalf("box A with a slow clock: %v", err)
			}
			var v map[string]any
			if withheld {
				q.box.InsertCard(h.a.box.RemoveCard())
				v = q.read()
				if num(v["seq"]) != 5 {
					t.Fatalf("read of the written card: %v", v)
				}
			} else {
				r, a := h.a.post("/api/box/sessions/"+h.a.session+"/frames", map[string]string{"frame": b64(reply)})
				if r.Status != http.StatusOK {
					t.Fatalf("relay: %d %s", r.Status, r.Body)
				}
				v = a.View
			}
			if v["delivered"] != nil || v["reason"].(map[string]any)["code"] != "purchase_refunded" {
				t.Fatalf("answer to the refunded purchase on the card: %v", v)
			}
			if n := h.env.Count("alerts", "kind = ? AND order_no = ?", "gas_for_refunded_order", h.orderNo); n != 1 {
				t.Fatalf("%d alerts", n)
			}
			if status, _ := h.credit(t); status != "cancelled" || (h.orderStatus(t) != "refunded" && h.orderStatus(t) != "refunding") {
				t.Fatalf("credit %s, order %s", status, h.orderStatus(t))
			}
			var seq int
			h.env.DB.Raw("SELECT last_written_seq FROM cards WHERE card_serial = ?", demoSerial).Scan(&seq)
			if seq != 5 {
				t.Fatalf("card's last written sequence %d", seq)
			}
			if ev := events(t, h.srv, "order_no="+h.orderNo); has(ev, "delivered") {
				t.Fatalf("recorded as delivered: %v", ev)
			}
			// Reading it again alerts no more.
			if !withheld {
				q.box.InsertCard(h.a.box.RemoveCard())
				q.read()
			} else {
				q.read()
			}
			if n := h.env.Count("alerts", "kind = ?", "gas_for_refunded_order"); n != 1 {
				t.Fatalf("%d alerts after another read", n)
			}
		})
	}
}

// A phone keeps back box B's CARD answer, read before the write was issued,
// and relays it once box A's session is dead. The read was asked for while
// the write was live, so it proves nothing: no refund. A fresh read settles
// the purchase as what the card holds.
func TestStaleCardReadProvesNothing(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	b := newBuyer(t, env, srv, "alice", "031140086", "秦淮")
	q := &phone{t: t, srv: srv, token: b.token, box: newBox(t, "4742000000000002")}
	q.box.InsertCard(demoCard(t, 4))
	hello, err := q.box.Hello()
	if err != nil {
		t.Fatal(err)
	}
	r, a := q.post("/api/box/sessions", map[string]string{"hello": b64(hello)})
	if r.Status != http.StatusCreated {
		t.Fatalf("open box B: %d %s", r.Status, r.Body)
	}
	q.session = a.SessionID
	if err := q.box.HandleSession(decode(t, a.Frames[0])); err != nil {
		t.Fatal(err)
	}
	stale, err := q.box.Handle(decode(t, a.Frames[1])) // box B reads purchase 4; the phone keeps the answer
	if err != nil {
		t.Fatal(err)
	}

	p := &phone{t: t, srv: srv, token: b.token, box: newBox(t, "4742000000000001")}
	p.box.InsertCard(q.box.RemoveCard())
	p.connect()
	no := paidPurchase(t, env, b, 10000)
	p.read()
	_, frames := p.write(no)
	if _, err := p.box.Handle(decode(t, frames[0])); err != nil { // written; the result is withheld
		t.Fatal(err)
	}
	card := p.box.RemoveCard()
	if v := p.connect(); v["card"] != "absent" { // box A's session with the write is dead now
		t.Fatalf("box A's new session: %v", v)
	}

	r, a = q.post("/api/box/sessions/"+q.session+"/frames", map[string]string{"frame": b64(stale)})
	if r.Status != http.StatusOK || num(a.View["seq"]) != 4 {
		t.Fatalf("stale read relayed: %d %s", r.Status, r.Body)
	}
	if p, _ := a.View["pending"].(map[string]any); p == nil || p["in_doubt"] != true {
		t.Fatalf("a stale read settled the purchase: %v", a.View)
	}
	rr := srv.Do(apptest.Request{Method: "POST", Path: "/api/admin/orders/" + no + "/refund", Token: apptest.AdminToken,
		Body: map[string]string{"reason": "客户申请退款"}})
	if rr.Status != http.StatusConflict || rr.Code(t) != "delivery_in_doubt" {
		t.Fatalf("refund after a stale read: %d %s", rr.Status, rr.Body)
	}
	q.box.InsertCard(card)
	if v := q.read(); v["delivered"] == nil || num(v["seq"]) != 5 {
		t.Fatalf("fresh read: %v", v)
	}
}
