package handlers_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"gaspay/bleproxy"
	"gaspay/config"
	"gaspay/internal/apptest"
	"gaspay/iot/meterproto"
	"gaspay/models"
	"gaspay/recharge"
)

const iotMeter = "20231100001" // 031130001 李娜, an IoT account of the demo

// simMeter is an NB-IoT meter on the Env's fake CTWing, running the
// protocol's meter model.
type simMeter struct {
	t   *testing.T
	env *apptest.Env
	m   *meterproto.Meter
}

func newSimMeter(t *testing.T, env *apptest.Env, balance int32) *simMeter {
	t.Helper()
	master, err := bleproxy.ParseMasterKey(config.SandboxMeterMasterKey)
	if err != nil {
		t.Fatal(err)
	}
	return &simMeter{t: t, env: env, m: &meterproto.Meter{Number: iotMeter, Key: meterproto.MeterKey(master, iotMeter),
		ReportCounter: 100, Unit: meterproto.UnitFen, Balance: balance, CumulativeCentiM3: 123456, BatteryMV: 3600, SignalDBm: -95}}
}

func (s *simMeter) clock() uint32 { return uint32(s.env.Clock.Now().Unix()) }

// uplink sends bytes as the meter and returns the command the platform
// hands it, if any.
func (s *simMeter) uplink(b []byte) (string, []byte) {
	s.t.Helper()
	d, err := s.env.CTWing.Uplink(context.Background(), iotMeter, b)
	if err != nil {
		s.t.Fatalf("uplink: %v", err)
	}
	if d == nil {
		return "", nil
	}
	return d.CommandID, d.Payload
}

type pressOpts struct {
	loseAck, loseAnswer, tamper, twice bool
}

// press is the 5-second button: a report, then the cached commands, one
// at a time, each applied, acknowledged and answered.
func (s *simMeter) press(o pressOpts) []meterproto.Result {
	s.t.Helper()
	b, _ := s.m.Report(meterproto.ReasonButton, s.clock())
	id, cmd := s.uplink(b)
	var results []meterproto.Result
	for id != "" {
		if o.tamper {
			cmd = bytes.Clone(cmd)
			cmd[len(cmd)-1] ^= 1
			if _, _, _, err := s.m.Apply(cmd, s.clock()); err == nil {
				s.t.Fatal("the meter applied a tampered recharge")
			}
			return results
		}
		res, _, ans, err := s.m.Apply(cmd, s.clock())
		if err != nil {
			s.t.Fatalf("apply: %v", err)
		}
		results = append(results, res)
		if o.twice {
			res2, _, _, _ := s.m.Apply(cmd, s.clock())
			results = append(results, res2)
		}
		if !o.loseAck {
			if err := s.env.CTWing.Ack(context.Background(), iotMeter, id); err != nil {
				s.t.Fatal(err)
			}
		}
		if o.loseAnswer {
			return results
		}
		id, cmd = s.uplink(ans)
		if o.loseAck {
			return results
		}
	}
	return results
}

type iotWorld struct {
	t     *testing.T
	env   *apptest.Env
	srv   *apptest.Instance
	buyer buyer
	meter *simMeter
}

func newIoTWorld(t *testing.T) *iotWorld {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	token := srv.Login("li")
	if r := bind(srv, token, "meter_number", iotMeter, ""); r.Status != http.StatusCreated {
		t.Fatalf("bind: %d %s", r.Status, r.Body)
	}
	return &iotWorld{t: t, env: env, srv: srv, buyer: buyer{t: t, srv: srv, token: token, account: env.AccountID("031130001")},
		meter: newSimMeter(t, env, 5678)}
}

// buy pays 100.00 yuan for the meter and returns the order number.
func (w *iotWorld) buy() string {
	w.t.Helper()
	no := orderNo(w.t, w.buyer.order(map[string]any{"amount_fen": 10000}))
	if res, err := w.env.Pay.Pay(context.Background(), no, ""); err != nil || !res.Acknowledged() {
		w.t.Fatalf("pay: %+v %v", res, err)
	}
	return no
}

func (w *iotWorld) dispatch() int { return w.srv.App.IoT.DispatchPass(context.Background()) }

func (w *iotWorld) account() map[string]any {
	w.t.Helper()
	r := w.srv.Do(apptest.Request{Method: "GET", Path: fmt.Sprintf("/api/accounts/%d", w.buyer.account), Token: w.buyer.token})
	if r.Status != http.StatusOK {
		w.t.Fatalf("account: %d %s", r.Status, r.Body)
	}
	return r.JSON(w.t)
}

func (w *iotWorld) delivery() map[string]any {
	iot, _ := w.account()["iot"].(map[string]any)
	d, _ := iot["delivery"].(map[string]any)
	return d
}

// outcome is how an order ended on both ledgers.
func (w *iotWorld) outcome(no string) (credit string, refunds int64) {
	w.t.Helper()
	var c struct{ Status string }
	w.env.DB.Raw("SELECT c.status FROM credits c JOIN orders o ON o.id = c.order_id WHERE o.order_no = ?", no).Scan(&c)
	return c.Status, w.env.Count("refunds r JOIN orders o ON o.id = r.order_id", "o.order_no = ?", no)
}

// appliedOnce: the credit delivered, no refund, and the meter credited
// exactly the purchase.
func (w *iotWorld) appliedOnce(no string, balance int32) {
	w.t.Helper()
	credit, refunds := w.outcome(no)
	if credit != "delivered" || refunds != 0 || w.meter.m.Balance != balance+10000 || w.meter.m.LastAppliedSeq != 1 {
		w.t.Fatalf("credit %s, %d refunds, meter balance %d seq %d; want delivered, none, %d, 1",
			credit, refunds, w.meter.m.Balance, w.meter.m.LastAppliedSeq, balance+10000)
	}
	if d := w.delivery(); d["state"] != "applied" {
		w.t.Fatalf("delivery %v", d)
	}
}

func TestIoTPurchaseAppliedByTheMeter(t *testing.T) {
	w := newIoTWorld(t)
	no := w.buy()
	if d := w.delivery(); d != nil {
		t.Fatalf("a delivery before dispatch: %v", d)
	}
	if n := w.dispatch(); n != 1 {
		t.Fatalf("dispatched %d", n)
	}
	d := w.delivery()
	// Bound by meter number alone: where the gas is and what to do, not
	// whose order nor how much.
	if d["state"] != "sent" || d["order_no"] != nil || d["amount"] != nil || d["action"] == "" || d["text"] == "" {
		t.Fatalf("sent delivery %v", d)
	}
	var row struct {
		OrderNo string
		Seq     int
		Amount  int64
	}
	w.env.DB.Raw("SELECT order_no, seq, amount FROM iot_deliveries").Scan(&row)
	if row.OrderNo != no || row.Seq != 1 || row.Amount != 10000 {
		t.Fatalf("delivery row %+v", row)
	}
	cmds := w.env.CTWing.Commands(iotMeter)
	if len(cmds) != 1 || cmds[0].Status != "指令已保存" {
		t.Fatalf("platform commands %+v", cmds)
	}
	// A second pass sends nothing more: one copy per delivery until it
	// expires.
	if n := w.dispatch(); n != 0 {
		t.Fatalf("second pass dispatched %d", n)
	}
	if res := w.meter.press(pressOpts{}); len(res) != 1 || res[0] != meterproto.ResultApplied {
		t.Fatalf("meter results %v", res)
	}
	w.appliedOnce(no, 5678)
	acct := w.account()
	m := acct["iot"].(map[string]any)["meter"].(map[string]any)
	if num(m["balance"]) != 15678 || m["as_of"] == nil || m["valve"] != "open" {
		t.Fatalf("meter as of its report: %v", m)
	}
	if mm := acct["meter"].(map[string]any); num(mm["last_balance_fen"]) != 15678 {
		t.Fatalf("account meter %v", mm)
	}
	hist := w.srv.Do(apptest.Request{Method: "GET", Path: fmt.Sprintf("/api/accounts/%d/meter-reports", w.buyer.account), Token: w.buyer.token}).JSON(t)
	if reps := hist["reports"].([]any); len(reps) != 2 || reps[0].(map[string]any)["reason"] != "answer" {
		t.Fatalf("history %v", hist)
	}
	// The credit is on the meter: the next purchase is allowed.
	if r := w.buyer.order(map[string]any{"amount_fen": 100}); r.Status != http.StatusCreated {
		t.Fatalf("next purchase: %d %s", r.Status, r.Body)
	}
}

// Forged, tampered and replayed pushes change nothing; two replicas given
// the same push take it once.
func TestIoTPushesForgedOrReplayed(t *testing.T) {
	w := newIoTWorld(t)
	no := w.buy()
	w.dispatch()
	w.meter.press(pressOpts{loseAnswer: true})
	// The meter applied it; its answer is still to come. Build it now.
	ans, _ := w.meter.m.Report(meterproto.ReasonScheduled, w.meter.clock())
	push := func(payload []byte) []byte {
		b, _ := json.Marshal(map[string]any{"messageType": "dataReport", "deviceId": iotMeter, "productId": "10000577",
			"timestamp": time.Now().UnixMilli(), "payload": map[string]string{"APPdata": base64.StdEncoding.EncodeToString(payload)}})
		return b
	}
	before := w.env.Count("iot_reports", "")
	tampered := bytes.Clone(ans)
	tampered[len(tampered)-20] ^= 0x40
	if r := w.srv.Do(apptest.Request{Method: "POST", Path: "/notify/ctwing", Body: push(tampered)}); r.Status != http.StatusBadRequest {
		t.Fatalf("tampered report: %d %s", r.Status, r.Body)
	}
	// A report forged under another master key (the box's sandbox key).
	other, _ := bleproxy.ParseMasterKey("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	forged, _ := meterproto.SealReport(meterproto.MeterKey(other, iotMeter), iotMeter, 999, meterproto.Report{LastAppliedSeq: 1,
		Unit: meterproto.UnitFen, Balance: 999999, MeterTime: w.meter.clock()})
	if r := w.srv.Do(apptest.Request{Method: "POST", Path: "/notify/ctwing", Body: push(forged)}); r.Status != http.StatusBadRequest {
		t.Fatalf("forged report: %d %s", r.Status, r.Body)
	}
	if c, _ := w.outcome(no); c != "pending" || w.env.Count("iot_reports", "") != before {
		t.Fatalf("a refused push changed something: credit %s", c)
	}
	// Two replicas receive the same genuine push at once.
	second := w.env.Start()
	body := push(ans)
	var wg sync.WaitGroup
	results := make([]string, 2)
	for i, inst := range []*apptest.Instance{w.srv, second} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := inst.Do(apptest.Request{Method: "POST", Path: "/notify/ctwing", Body: body})
			if r.Status == http.StatusOK {
				results[i], _ = r.JSON(t)["result"].(string)
			}
		}()
	}
	wg.Wait()
	if !(results[0] == "taken" && results[1] == "replayed") && !(results[0] == "replayed" && results[1] == "taken") {
		t.Fatalf("two replicas answered %v", results)
	}
	if n := w.env.Count("iot_reports", ""); n != before+1 {
		t.Fatalf("reports %d, want %d", n, before+1)
	}
	w.appliedOnce(no, 5678)
	// Replayed later, byte for byte: nothing changes.
	if r := w.srv.Do(apptest.Request{Method: "POST", Path: "/notify/ctwing", Body: body}); r.Status != http.StatusOK || r.JSON(t)["result"] != "replayed" {
		t.Fatalf("replay: %d %s", r.Status, r.Body)
	}
	if n := w.env.Count("iot_reports", ""); n != before+1 {
		t.Fatalf("replay stored a report")
	}
}

// Every fault ends with the credit applied exactly once or refunded, never
// both.
func TestIoTFaults(t *testing.T) {
	ctx := context.Background()
	t.Run("lost acknowledgement, command delivered again", func(t *testing.T) {
		w := newIoTWorld(t)
		no := w.buy()
		w.dispatch()
		if res := w.meter.press(pressOpts{loseAck: true}); len(res) != 1 || res[0] != meterproto.ResultApplied {
			t.Fatalf("first press %v", res)
		}
		// Not acknowledged: the platform hands the same command again.
		if res := w.meter.press(pressOpts{}); len(res) != 1 || res[0] != meterproto.ResultAlreadyApplied {
			t.Fatalf("second press %v", res)
		}
		w.appliedOnce(no, 5678)
	})
	t.Run("command delivered twice", func(t *testing.T) {
		w := newIoTWorld(t)
		no := w.buy()
		w.dispatch()
		if res := w.meter.press(pressOpts{twice: true}); len(res) != 2 || res[1] != meterproto.ResultAlreadyApplied {
			t.Fatalf("press %v", res)
		}
		w.appliedOnce(no, 5678)
	})
	t.Run("meter offline past the TTL: resent with the same sequence", func(t *testing.T) {
		w := newIoTWorld(t)
		no := w.buy()
		w.dispatch()
		w.env.Clock.Advance(49 * time.Hour)
		w.srv.App.IoT.JanitorPass(ctx)
		if d := w.delivery(); d["state"] != "expired" || d["action"] == "" {
			t.Fatalf("after the TTL: %v", d)
		}
		if n := w.dispatch(); n != 1 {
			t.Fatalf("resent %d", n)
		}
		var seqs []int
		w.env.DB.Raw("SELECT seq FROM iot_deliveries").Scan(&seqs)
		if w.env.Count("iot_commands", "") != 2 || len(seqs) != 1 || seqs[0] != 1 {
			t.Fatalf("copies %d, sequences %v", w.env.Count("iot_commands", ""), seqs)
		}
		w.meter.press(pressOpts{})
		w.appliedOnce(no, 5678)
		if alerts := w.env.Count("alerts", "kind = ? AND detail LIKE ?", "iot_meter_silent", "%"+iotMeter+"%"); alerts != 1 {
			t.Fatalf("silent meter alerts %d", alerts)
		}
	})
	t.Run("unapplied for 72 hours: staff alerted once", func(t *testing.T) {
		w := newIoTWorld(t)
		no := w.buy()
		w.dispatch()
		w.env.Clock.Advance(71 * time.Hour)
		w.srv.App.IoT.JanitorPass(ctx)
		if n := w.env.Count("alerts", "kind = ? AND order_no = ?", "iot_credit_unapplied", no); n != 0 {
			t.Fatalf("alerted after 71 h: %d", n)
		}
		w.env.Clock.Advance(2 * time.Hour)
		w.srv.App.IoT.JanitorPass(ctx)
		w.srv.App.IoT.JanitorPass(ctx)
		if n := w.env.Count("alerts", "kind = ? AND order_no = ?", "iot_credit_unapplied", no); n != 1 {
			t.Fatalf("alerts after 73 h: %d", n)
		}
		w.dispatch() // the copy expired at 48 h: resent, same sequence
		w.meter.press(pressOpts{})
		w.appliedOnce(no, 5678)
	})
	t.Run("tampered command", func(t *testing.T) {
		w := newIoTWorld(t)
		no := w.buy()
		w.dispatch()
		w.meter.press(pressOpts{tamper: true})
		if c, _ := w.outcome(no); c != "pending" || w.meter.m.LastAppliedSeq != 0 {
			t.Fatalf("after a tampered command: credit %s seq %d", c, w.meter.m.LastAppliedSeq)
		}
		w.meter.press(pressOpts{})
		w.appliedOnce(no, 5678)
	})
	t.Run("meter rejects the sequence, staff refund after proof", func(t *testing.T) {
		w := newIoTWorld(t)
		w.meter.m.MaxBalance = 10000 // 56.78 + 100.00 is more than it holds
		no := w.buy()
		w.dispatch()
		if res := w.meter.press(pressOpts{}); len(res) != 1 || res[0] != meterproto.ResultRefused {
			t.Fatalf("press %v", res)
		}
		if d := w.delivery(); d["state"] != "rejected" || w.env.Count("alerts", "kind = ?", "iot_rejected") != 1 {
			t.Fatalf("rejected: %v", d)
		}
		r := w.srv.Do(apptest.Request{Method: "POST", Path: "/api/admin/orders/" + no + "/refund", Token: apptest.AdminToken,
			Body: map[string]string{"reason": "燃气表拒收"}})
		if r.Status != http.StatusAccepted || r.JSON(t)["status"] != "cancel_requested" {
			t.Fatalf("refund: %d %s", r.Status, r.Body)
		}
		if c, n := w.outcome(no); c != "pending" || n != 0 {
			t.Fatalf("refunded before the proof: %s %d", c, n)
		}
		// A report before the copy's not_after proves nothing.
		w.meter.press(pressOpts{})
		if c, n := w.outcome(no); c != "pending" || n != 0 {
			t.Fatalf("refunded on a report inside the validity: %s %d", c, n)
		}
		w.env.Clock.Advance(49 * time.Hour)
		w.srv.App.IoT.JanitorPass(ctx)
		w.meter.press(pressOpts{})
		credit, refunds := w.outcome(no)
		if credit != "cancelled" || refunds != 1 || w.meter.m.LastAppliedSeq != 0 || w.meter.m.Balance != 5678 {
			t.Fatalf("credit %s refunds %d meter seq %d balance %d", credit, refunds, w.meter.m.LastAppliedSeq, w.meter.m.Balance)
		}
		if d := w.delivery(); d["state"] != "cancelled" {
			t.Fatalf("delivery %v", d)
		}
		// The sequence is free again: the next purchase carries 1.
		w.meter.m.MaxBalance = 0
		no2 := w.buy()
		w.dispatch()
		w.meter.press(pressOpts{})
		if c, _ := w.outcome(no2); c != "delivered" || w.meter.m.LastAppliedSeq != 1 || w.meter.m.Balance != 15678 {
			t.Fatalf("next purchase: %s seq %d balance %d", c, w.meter.m.LastAppliedSeq, w.meter.m.Balance)
		}
	})
	t.Run("staff refund while queued", func(t *testing.T) {
		w := newIoTWorld(t)
		no := w.buy()
		r := w.srv.Do(apptest.Request{Method: "POST", Path: "/api/admin/orders/" + no + "/refund", Token: apptest.AdminToken,
			Body: map[string]string{"reason": "客户申请退款"}})
		if r.Status != http.StatusAccepted || r.JSON(t)["refund_no"] == nil {
			t.Fatalf("refund: %d %s", r.Status, r.Body)
		}
		if n := w.dispatch(); n != 0 || len(w.env.CTWing.Commands(iotMeter)) != 0 {
			t.Fatalf("a refunded credit was sent: %d", n)
		}
		if credit, refunds := w.outcome(no); credit != "cancelled" || refunds != 1 {
			t.Fatalf("credit %s refunds %d", credit, refunds)
		}
	})
	t.Run("staff refund asked, but the meter had applied it", func(t *testing.T) {
		w := newIoTWorld(t)
		no := w.buy()
		w.dispatch()
		w.meter.press(pressOpts{loseAnswer: true})
		r := w.srv.Do(apptest.Request{Method: "POST", Path: "/api/admin/orders/" + no + "/refund", Token: apptest.AdminToken,
			Body: map[string]string{"reason": "客户申请退款"}})
		if r.Status != http.StatusAccepted {
			t.Fatalf("refund: %d %s", r.Status, r.Body)
		}
		w.env.Clock.Advance(49 * time.Hour)
		w.srv.App.IoT.JanitorPass(ctx)
		w.meter.press(pressOpts{})
		w.appliedOnce(no, 5678)
		if r := w.srv.Do(apptest.Request{Method: "POST", Path: "/api/admin/orders/" + no + "/refund", Token: apptest.AdminToken,
			Body: map[string]string{"reason": "again"}}); r.Status != http.StatusConflict {
			t.Fatalf("refund of an applied credit: %d %s", r.Status, r.Body)
		}
	})
}

// A collection partner's payment for an IoT account takes the same path:
// dispatched, applied by the meter's report; once sent, it cannot be
// reversed (the gas may be on its way).
func TestIoTPartnerPayment(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	p := newPartner(t, env, srv, "lakala")
	meter := newSimMeter(t, env, 5678)
	pay := p.pay("IOT1", "031130001", 10000)
	if pay.Status != 200 {
		t.Fatalf("partner pay: %d %s", pay.Status, pay.Body)
	}
	no := pay.json(t)["order_no"].(string)
	if n := srv.App.IoT.DispatchPass(context.Background()); n != 1 {
		t.Fatalf("dispatched %d", n)
	}
	if r := p.post("/partner/v1/reverse", map[string]string{"serial": "IOT1"}); r.Status != http.StatusConflict {
		t.Fatalf("reversal of a sent IoT credit: %d %s", r.Status, r.Body)
	}
	meter.press(pressOpts{})
	var status string
	env.DB.Raw("SELECT c.status FROM credits c JOIN orders o ON o.id = c.order_id WHERE o.order_no = ?", no).Scan(&status)
	if status != "delivered" || meter.m.Balance != 15678 || meter.m.LastAppliedSeq != 1 {
		t.Fatalf("credit %s, meter balance %d seq %d", status, meter.m.Balance, meter.m.LastAppliedSeq)
	}
}

// TestIoTDispatchBatch: one transaction seals a whole batch of due
// deliveries. A delivery whose payment was reversed while queued ends cancelled without a
// copy; a copy whose answer is lost stays in doubt and waits for its
// backoff; every other goes out once, each with its meter's next counter
// and its credit's attempt counted. Two dispatchers given the same batch
// at once send each delivery once.
func TestIoTDispatchBatch(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	a := srv.App
	ctx := context.Background()
	const n = 6
	meters, _ := paidIoTAccounts(t, env, srv, "0990", n)
	// Reversed by its partner while queued: never attempted, so the money
	// may go back.
	if _, err := a.Recharge.PartnerReverse(ctx, "batch", "0990-0"); err != nil {
		t.Fatal(err)
	}
	due, err := a.IoT.Due(ctx, 100)
	if err != nil || len(due) != n {
		t.Fatalf("due %d, %v; want %d", len(due), err, n)
	}
	env.CTWing.LoseNextAnswer()
	var wg sync.WaitGroup
	accepted := make([]int, 2)
	for i := range accepted {
		wg.Add(1)
		go func() {
			defer wg.Done()
			accepted[i], _ = a.IoT.SendBatch(ctx, due)
		}()
	}
	wg.Wait()
	if got := accepted[0] + accepted[1]; got != n-2 {
		t.Fatalf("accepted %v; want %d in all (one reversed, one answer lost)", accepted, n-2)
	}
	type copyRow struct {
		State   string
		Counter int64
		Copies  int
		DState  string
		Attempt int
	}
	lost := 0
	for i, m := range meters {
		var cs []copyRow
		env.DB.Raw(`SELECT c.state, c.counter, d.copies, d.state AS d_state, cr.attempts AS attempt
			FROM iot_deliveries d JOIN credits cr ON cr.id = d.credit_id LEFT JOIN iot_commands c ON c.delivery_id = d.id
			WHERE d.meter_number = ?`, m).Scan(&cs)
		if len(cs) != 1 {
			t.Fatalf("meter %s: %d rows %+v; want one delivery with at most one copy", m, len(cs), cs)
		}
		c := cs[0]
		switch {
		case i == 0:
			if c.DState != "cancelled" || c.State != "" || c.Attempt != 0 {
				t.Fatalf("reversed meter %s: %+v; want cancelled, no copy, never attempted", m, c)
			}
		case c.State == "unknown":
			lost++
			if c.DState != "queued" || c.Copies != 1 || c.Counter != 1 || c.Attempt != 1 {
				t.Fatalf("lost answer, meter %s: %+v; want queued with one copy in doubt", m, c)
			}
		default:
			if c.State != "saved" || c.DState != "sent" || c.Copies != 1 || c.Counter != 1 || c.Attempt != 1 {
				t.Fatalf("meter %s: %+v; want one saved copy, counter 1, delivery sent, one attempt", m, c)
			}
		}
		if cmds := env.CTWing.Commands(deviceOf(t, env, m)); i > 0 && len(cmds) != 1 {
			t.Fatalf("meter %s: the platform holds %d commands; want 1", m, len(cmds))
		}
	}
	if lost != 1 {
		t.Fatalf("%d copies in doubt; want the one whose answer was lost", lost)
	}
	// A second pass sends nothing: the lost copy waits for its backoff.
	if k := a.IoT.DispatchPass(ctx); k != 0 {
		t.Fatalf("second pass sent %d", k)
	}
}

// A batch whose transaction fails on one delivery (its meter's platform
// row cannot be made: the device id it would take is another meter's)
// sends the others, each alone; the failing one waits, never attempted.
func TestIoTDispatchBatchOneBadDelivery(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	a := srv.App
	ctx := context.Background()
	meters, _ := paidIoTAccounts(t, env, srv, "0991", 3)
	env.DB.Exec("DELETE FROM iot_meters WHERE meter_number = ?", meters[0])
	env.DB.Exec("UPDATE iot_meters SET device_id = ? WHERE meter_number = ?", meters[0], meters[1])
	due, err := a.IoT.Due(ctx, 100)
	if err != nil || len(due) != 3 {
		t.Fatalf("due %d, %v", len(due), err)
	}
	k, err := a.IoT.SendBatch(ctx, due)
	if k != 2 || err == nil {
		t.Fatalf("SendBatch = %d, %v; want the two good ones sent and the bad one's error", k, err)
	}
	for i, m := range meters {
		var d struct {
			State    string
			Copies   int
			Attempts int
		}
		env.DB.Raw(`SELECT d.state, d.copies, c.attempts FROM iot_deliveries d JOIN credits c ON c.id = d.credit_id
			WHERE d.meter_number = ?`, m).Scan(&d)
		want := map[bool]string{true: "queued", false: "sent"}[i == 0]
		if d.State != want || d.Copies != map[bool]int{true: 0, false: 1}[i == 0] || d.Attempts != d.Copies {
			t.Errorf("meter %s: %+v; want %s", m, d, want)
		}
	}
}

// A backlog larger than a dispatch pass's page (after an outage, say) is
// sent in one pass, page after page, each delivery once.
func TestIoTDispatchPassDrainsBacklog(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	a := srv.App
	meters, _ := paidIoTAccounts(t, env, srv, "0992", 11)
	a.IoT.SetPage(4)
	if k := a.IoT.DispatchPass(context.Background()); k != len(meters) {
		t.Fatalf("one pass sent %d of a backlog of %d", k, len(meters))
	}
	if n := env.Count("iot_deliveries", "state = ? AND copies = 1", "sent"); n != int64(len(meters)) {
		t.Fatalf("%d deliveries sent once; want %d", n, len(meters))
	}
	if n := env.Count("iot_commands", "1 = 1"); n != int64(len(meters)) {
		t.Fatalf("%d copies; want one each", n)
	}
}

// paidIoTAccounts imports n IoT accounts (user numbers prefix+5 digits)
// and pays a credit for each through a partner; the credits' deliveries
// are queued. It returns the meters and the orders.
func paidIoTAccounts(t *testing.T, env *apptest.Env, srv *apptest.Instance, prefix string, n int) (meters, orders []string) {
	t.Helper()
	ctx := context.Background()
	a := srv.App
	var rows []models.ImportRow
	for i := range n {
		meters = append(meters, fmt.Sprintf("2%s%06d", prefix, i))
		rows = append(rows, models.ImportRow{Line: i + 2, UserNumber: fmt.Sprintf("%s%05d", prefix, i), HolderName: "批量",
			Address: "test", Kind: models.KindIoT, MeterNumber: meters[i]})
	}
	if _, err := a.Store.ImportAccounts(ctx, rows, "residential", env.Clock.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		v, _, err := a.Recharge.PartnerPay(ctx, recharge.PartnerPayment{PartnerID: "batch", Serial: fmt.Sprint(prefix, "-", i),
			UserNumber: rows[i].UserNumber, AmountFen: 10000})
		if err != nil {
			t.Fatal(err)
		}
		orders = append(orders, v.Order.OrderNo)
	}
	if k, err := a.IoT.Enqueue(ctx); err != nil || k != n {
		t.Fatalf("enqueued %d, %v; want %d", k, err, n)
	}
	return meters, orders
}

func deviceOf(t *testing.T, env *apptest.Env, meter string) string {
	t.Helper()
	var dev string
	env.DB.Raw("SELECT device_id FROM iot_meters WHERE meter_number = ?", meter).Scan(&dev)
	if dev == "" {
		t.Fatalf("meter %s has no device id", meter)
	}
	return dev
}
