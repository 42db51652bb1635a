package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"gaspay/bleproxy"
	"gaspay/internal/randhex"
)

// The replicas run on the sandbox box master key (the spec's test-vector
// key): the suite plays the boxes with it.
const sandboxMasterKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

// IC-card accounts, one per box worker.
const cardAccounts = 16

func cardNumber(i int) string { return fmt.Sprintf("0503%05d", i) }
func cardSerial(i int) string { return fmt.Sprintf("00000000503%05d", i) }

// boxWorker is a customer with a recharge box, an IC card and a meter:
// it buys gas for the card through the box again and again, loading each
// purchase into the meter, whatever the replicas go through.
type boxWorker struct {
	w       *world
	c       *client
	box     *bleproxy.Box
	meter   *bleproxy.Meter
	kcard   bleproxy.Key
	session string
	account int64
}

type boxView struct {
	AccountID       int64  `json:"account_id"`
	Card            string `json:"card"`
	PurchaseAllowed bool   `json:"purchase_allowed"`
	Pending         *struct {
		OrderNo        string `json:"order_no"`
		WriteAvailable bool   `json:"write_available"`
	} `json:"pending"`
	Delivered *struct {
		OrderNo string `json:"order_no"`
		Seq     int    `json:"seq"`
	} `json:"delivered"`
	Refusal *struct {
		Code string `json:"code"`
	} `json:"refusal"`
	Reason *struct {
		Code string `json:"code"`
	} `json:"reason"`
}

func (w *world) newBoxWorker(ctx context.Context, i int) (*boxWorker, error) {
	master, err := bleproxy.ParseMasterKey(sandboxMasterKey)
	if err != nil {
		return nil, err
	}
	serial, err := bleproxy.ParseCardSerial(cardSerial(i))
	if err != nil {
		return nil, err
	}
	kcard := bleproxy.DeriveCardKey(master, serial)
	img := bleproxy.CardImage{CardType: bleproxy.CardVolume, UserNumber: cardNumber(i), Serial: serial, State: bleproxy.CardLoaded,
		MeterRemaining: 1000, WriteBackTime: uint32(time.Now().Unix())}
	raw, err := img.Seal(kcard)
	if err != nil {
		return nil, err
	}
	id, err := bleproxy.ParseBoxID(fmt.Sprintf("C4A0500000%06X", i))
	if err != nil {
		return nil, err
	}
	box := bleproxy.NewBox(id, bleproxy.DeriveBoxKey(master, id), bleproxy.BoxConfig{Firmware: 0x0102})
	box.InsertCard(&bleproxy.Card{Image: raw})
	c, err := w.newCustomer(ctx, fmt.Sprintf("box%d", i), false, cardNumber(i), "郑测试")
	if err != nil {
		return nil, err
	}
	return &boxWorker{w: w, c: c, box: box, kcard: kcard, meter: &bleproxy.Meter{Serial: serial, Remaining: 1000}}, nil
}

type boxAnswer struct {
	SessionID string   `json:"session_id"`
	Frames    []string `json:"frames"`
	View      boxView  `json:"view"`
}

func (b *boxWorker) post(ctx context.Context, path string, body any) (answer, boxAnswer, error) {
	a, err := b.c.do(ctx, "POST", path, body, nil)
	var ba boxAnswer
	if err == nil && a.status < 300 {
		err = json.Unmarshal(a.raw, &ba)
	}
	return a, ba, err
}

// connect opens a session (HELLO, SESSION) and reads the card.
func (b *boxWorker) connect(ctx context.Context) (boxView, error) {
	hello, err := b.box.Hello()
	if err != nil {
		return boxView{}, err
	}
	a, ba, err := b.post(ctx, "/api/box/sessions", map[string]string{"hello": enc(hello)})
	if err != nil {
		return boxView{}, err
	}
	if a.status != http.StatusCreated || len(ba.Frames) < 2 {
		return boxView{}, fmt.Errorf("open: %d %s", a.status, a.raw)
	}
	b.session = ba.SessionID
	f, err := dec(ba.Frames[0])
	if err != nil {
		return boxView{}, err
	}
	if err := b.box.HandleSession(f); err != nil {
		return boxView{}, err
	}
	return b.deliver(ctx, ba.Frames[1:])
}

// deliver gives the server's frames to the box and relays its replies.
func (b *boxWorker) deliver(ctx context.Context, frames []string) (boxView, error) {
	var v boxView
	for _, s := range frames {
		f, err := dec(s)
		if err != nil {
			return v, err
		}
		reply, err := b.box.Handle(f)
		if err != nil {
			return v, err
		}
		a, ba, err := b.post(ctx, "/api/box/sessions/"+b.session+"/frames", map[string]string{"frame": enc(reply)})
		if err != nil {
			return v, err
		}
		if a.status != http.StatusOK {
			return v, fmt.Errorf("relay: %d %s", a.status, a.raw)
		}
		v = ba.View
	}
	return v, nil
}

// purchase is one round: connect, write a waiting purchase or buy one,
// and load whatever was delivered into the meter.
func (b *boxWorker) purchase(ctx context.Context, rep *report) {
	v, err := b.connect(ctx)
	if err != nil {
		rep.add("box", "reconnect")
		return
	}
	if v.AccountID != 0 {
		b.account = v.AccountID
	}
	switch {
	case v.Delivered != nil:
		// A write whose answer was lost: the read found it on the card.
		rep.add("box", "delivered_on_read")
		b.load(rep)
		return
	case v.Pending != nil && v.Pending.WriteAvailable:
		b.write(ctx, rep, v.Pending.OrderNo, "rewritten")
		return
	case !v.PurchaseAllowed:
		code := "unknown"
		if v.Reason != nil {
			code = v.Reason.Code
		} else if v.Refusal != nil {
			code = v.Refusal.Code
		}
		rep.add("box", "not_allowed_"+code)
		if code == "credit_not_loaded" {
			// As the message says: the customer inserts the card into the
			// meter (a write was delivered while its answer was lost).
			b.load(rep)
		}
		return
	}
	a, err := b.c.do(ctx, "POST", "/api/orders", map[string]any{"account_id": b.account, "volume_centi_m3": 100 + randN(2000), "channel": "wechat_mp"},
		map[string]string{"Idempotency-Key": "chaosbox-" + randhex.New(10)})
	if err != nil {
		rep.fail(err)
		return
	}
	if a.status != http.StatusCreated {
		rep.add("box", "order_refused_"+a.code())
		return
	}
	o, _ := a.body["order"].(map[string]any)
	no, _ := o["order_no"].(string)
	var res struct {
		Acknowledged bool `json:"acknowledged"`
	}
	if err := b.w.control(ctx, "POST", "/wechat/pay/"+no, &res); err != nil {
		rep.add("box", "pay_refused")
		return
	}
	// Read again, then write.
	_, ra, err := b.post(ctx, "/api/box/sessions/"+b.session+"/read", nil)
	if err != nil || len(ra.Frames) == 0 {
		rep.add("box", "paid_write_later")
		return
	}
	if _, err := b.deliver(ctx, ra.Frames); err != nil {
		rep.add("box", "paid_write_later")
		return
	}
	b.write(ctx, rep, no, "paid_written")
}

func (b *boxWorker) write(ctx context.Context, rep *report, no, outcome string) {
	a, wa, err := b.post(ctx, "/api/box/sessions/"+b.session+"/write", map[string]string{"order_no": no})
	if err != nil || a.status != http.StatusOK {
		rep.add("box", "write_refused")
		return
	}
	v, err := b.deliver(ctx, wa.Frames)
	if err != nil || v.Delivered == nil {
		// The next connect reads the card and settles it.
		rep.add("box", "write_unsettled")
		return
	}
	rep.add("box", outcome)
	b.load(rep)
}

// load inserts the card into the meter and back into the box.
func (b *boxWorker) load(rep *report) {
	card := b.box.Card()
	if card == nil {
		return
	}
	after, err := b.meter.Insert(b.kcard, card.Image)
	if err != nil {
		if !errors.Is(err, bleproxy.ErrNotPending) {
			rep.add("box", "meter_refused")
		}
		return
	}
	b.box.InsertCard(&bleproxy.Card{Image: after})
}

func enc(f bleproxy.Frame) string { return base64.StdEncoding.EncodeToString(f.Marshal()) }

func dec(s string) (bleproxy.Frame, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return bleproxy.Frame{}, err
	}
	return bleproxy.ParseFrame(raw)
}
