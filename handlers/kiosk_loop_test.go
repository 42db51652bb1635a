package handlers_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"gaspay/alipay/alipayfake"
	"gaspay/bleproxy"
	"gaspay/internal/apptest"
	"gaspay/kiosk/kioskclient"
	"gaspay/models"
	"gaspay/recharge"
	"gaspay/wechat/wxpay/wxpayfake"
)

// loopCustomer is one purchase of the closed-loop test.
type loopCustomer struct {
	userNumber string
	serial     string
	card       *bleproxy.Card
	balance    int64
	code       string
	provider   string
	drop       bool // the kiosk's network drops after the scan
	pull       bool // the card is pulled mid-write
	orderNo    string
}

// The closed loop under random faults: 300 kiosk purchases, customers who
// pay at once, after a password, after a delay, never, just as the reverse
// arrives, or not at all (balance too low); providers that answer "system
// error", drop connections and lose answers; kiosks whose network drops
// after the scan; cards pulled mid-write. Afterwards every order is paid
// (one payment, one credit, on the card), closed or reversed, the
// providers agree order by order, nobody was charged without a credit, and
// every balance deduction of an order not paid went back.
func TestKioskClosedLoop(t *testing.T) {
	const n, kiosks = 300, 6
	env := apptest.New(t, nil)
	srv := env.Start()
	ctx := context.Background()
	store := env.Store()
	rng := rand.New(rand.NewPCG(12, 2026))

	// The customers: IC-card accounts, some with a balance to deduct.
	rows := make([]models.ImportRow, n)
	customers := make([]*loopCustomer, n)
	for i := range n {
		c := &loopCustomer{userNumber: fmt.Sprintf("0399%05d", i), serial: fmt.Sprintf("00000000%08X", 0x20000000+i)}
		if rng.IntN(3) == 0 {
			c.balance = int64(rng.IntN(500))
		}
		typ := models.CardVolume
		if i%2 == 1 {
			typ = models.CardAmount
		}
		rows[i] = models.ImportRow{Line: i + 2, UserNumber: c.userNumber, HolderName: "测试", Address: "测试路1号", Phone: "13800000000",
			Kind: models.KindICCard, CardSerial: c.serial, CardType: typ, BalanceFen: c.balance}
		serial, _ := bleproxy.ParseCardSerial(c.serial)
		ct := bleproxy.CardVolume
		if typ == models.CardAmount {
			ct = bleproxy.CardAmount
		}
		raw, err := bleproxy.CardImage{CardType: ct, UserNumber: c.userNumber, Serial: serial, Seq: 3, State: bleproxy.CardLoaded}.
			Seal(bleproxy.DeriveCardKey(master(t), serial))
		if err != nil {
			t.Fatal(err)
		}
		c.card = &bleproxy.Card{Image: raw}
		switch rng.IntN(2) {
		case 0:
			c.provider = "wechat"
			c.code = wxpayfake.AuthCode([]wxpayfake.CodePayOutcome{wxpayfake.CodePaySuccess, wxpayfake.CodePaySuccess,
				wxpayfake.CodePayUserPaying, wxpayfake.CodePayNeverConfirmed, wxpayfake.CodePayUserCancels, wxpayfake.CodePayNotEnough,
				wxpayfake.CodePaySystemErrorPaid, wxpayfake.CodePayRacesReverse, wxpayfake.CodePayAfterDelay}[rng.IntN(9)])
		default:
			c.provider = "alipay"
			c.code = fmt.Sprintf("28%014d%s", rng.Int64N(1e14), []string{"10", "10", "91", "92", "94", "95", "96", "97"}[rng.IntN(8)])
		}
		c.drop, c.pull = rng.IntN(10) == 0, rng.IntN(7) == 0
		customers[i] = c
	}
	if _, err := store.ImportAccounts(ctx, rows, "residential", time.Now()); err != nil {
		t.Fatal(err)
	}
	terms := make([]*kioskclient.Terminal, kiosks)
	for i := range terms {
		terms[i] = newKiosk(t, env, srv, fmt.Sprintf("K-%04d", i), fmt.Sprintf("4B0000000000%04X", i), 0)
	}

	// Providers misbehave now and then, whichever order is next.
	var faultMu sync.Mutex
	fault := func(r *rand.Rand) {
		faultMu.Lock()
		defer faultMu.Unlock()
		switch r.IntN(12) {
		case 0:
			env.Pay.InjectFault(wxpayfake.RouteQuery, wxpayfake.Fault{Status: 500, Code: "SYSTEM_ERROR"}, 1)
		case 1:
			env.Pay.InjectFault(wxpayfake.RouteReverse, wxpayfake.Fault{Drop: true, AfterApply: true}, 1)
		case 2:
			env.Pay.InjectFault(wxpayfake.RouteCodePay, wxpayfake.Fault{Drop: true, AfterApply: true}, 1)
		case 3:
			env.Alipay.FailNext("alipay.trade.query", "20000", "ACQ.SYSTEM_ERROR", 1)
		case 4:
			env.Alipay.FailNext("alipay.trade.cancel", "20000", "ACQ.SYSTEM_ERROR", 1)
		}
	}

	// Scan: each kiosk serves its customers one after another.
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range kiosks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			k := terms[w]
			for i := w; i < n; i += kiosks {
				c := customers[i]
				fault(r)
				k.Box.InsertCard(c.card)
				v, err := k.Connect(ctx)
				if err != nil || !v.PurchaseAllowed {
					errs <- fmt.Errorf("%s: read %+v %v", c.userNumber, v, err)
					return
				}
				p := kioskclient.Purchase{AuthCode: c.code}
				amount := int64(500 + r.IntN(100000))
				if v.CardType == "volume" && r.IntN(2) == 0 {
					vol := int64(100 + r.IntN(30000))
					p.VolumeCentiM3 = &vol
				} else {
					p.AmountFen = &amount
				}
				key := "loop-" + c.userNumber
				o, a, err := k.PlaceOrder(ctx, p, key)
				if c.drop {
					// The answer never reached the kiosk: it asks again.
					o, a, err = k.PlaceOrder(ctx, p, key)
				}
				if err != nil {
					errs <- fmt.Errorf("%s: order %d %s %v", c.userNumber, a.Status, a.Body, err)
					return
				}
				c.orderNo = o.Order.OrderNo
				c.card = k.Box.RemoveCard()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Time passes: the kiosks poll some orders, the janitor steps the rest.
	for tick := 0; tick < 24; tick++ {
		env.Clock.Advance(recharge.CodePoll)
		for range 10 {
			c := customers[rng.IntN(n)]
			if _, err := terms[0].GetOrder(ctx, c.orderNo); err != nil && !strings.Contains(err.Error(), "404") {
				t.Fatal(err)
			}
		}
		fault(rng)
		for srv.App.Recharge.CodePass(ctx) > 0 {
		}
	}
	if left := env.Count("code_payments", "state IN ?", []string{"paying", "reversing"}); left != 0 {
		t.Fatalf("%d code payments still open after two minutes", left)
	}

	// Paid purchases are written; a pulled card is written free at the next
	// read, at another kiosk.
	var pulled []*loopCustomer
	for i, c := range customers {
		o, err := store.Order(ctx, c.orderNo)
		if err != nil {
			t.Fatal(err)
		}
		if o.Status != models.OrderPaid {
			continue
		}
		k := terms[i%kiosks]
		k.Box.InsertCard(c.card)
		if _, err := k.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		if c.pull {
			card := k.Box.Card()
			k.Box.InjectFault(bleproxy.FaultPull)
			if v, err := k.Write(ctx, c.orderNo); err != nil || v.Reason == nil || v.Reason.Code != "write_incomplete" {
				t.Fatalf("%s pulled: %+v %v", c.userNumber, v, err)
			}
			c.card = card
			pulled = append(pulled, c)
			continue
		}
		if v, err := k.Write(ctx, c.orderNo); err != nil || v.Delivered == nil {
			t.Fatalf("%s write: %+v %v", c.userNumber, v, err)
		}
		k.Box.RemoveCard()
	}
	for j, c := range pulled {
		k := terms[(j+1)%kiosks]
		k.Box.InsertCard(c.card)
		v, err := k.Connect(ctx)
		if err != nil || v.Pending == nil || v.Pending.OrderNo != c.orderNo {
			t.Fatalf("%s after the pull: %+v %v", c.userNumber, v, err)
		}
		if v, err := k.Write(ctx, c.orderNo); err != nil || v.Delivered == nil {
			t.Fatalf("%s free write: %+v %v", c.userNumber, v, err)
		}
		k.Box.RemoveCard()
	}

	// Order by order: our ledger, the provider's, the account.
	seen := map[string]int{}
	for _, c := range customers {
		o, err := store.Order(ctx, c.orderNo)
		if err != nil {
			t.Fatal(err)
		}
		cp, err := store.CodePaymentOf(ctx, c.orderNo)
		if err != nil || !cp.State.Final() {
			t.Fatalf("%s: code payment %+v %v", c.orderNo, cp, err)
		}
		a, err := store.Account(ctx, o.AccountID)
		if err != nil {
			t.Fatal(err)
		}
		payments := env.Count("payments", "order_id = ?", o.ID)
		credit, cerr := store.CreditOf(ctx, o.ID)
		providerPaid, providerAmount := false, int64(0)
		switch c.provider {
		case "wechat":
			fo, ok := env.Pay.Order(c.orderNo)
			providerPaid = ok && fo.State == wxpayfake.StateSuccess
			providerAmount = fo.TotalFen
			if ok && fo.State == wxpayfake.StateUserPaying {
				t.Fatalf("%s: still USERPAYING at WeChat Pay", c.orderNo)
			}
		case "alipay":
			tr, ok := env.Alipay.Trade(c.orderNo)
			providerPaid = ok && tr.Status == alipayfake.StatusSuccess
			providerAmount = tr.TotalFen
			if ok && tr.Status == alipayfake.StatusWaitBuyerPay {
				t.Fatalf("%s: still waiting at Alipay", c.orderNo)
			}
		}
		seen[string(o.Status)]++
		switch o.Status {
		case models.OrderPaid:
			if payments != 1 || cerr != nil || credit.Status != models.CreditDelivered || cp.State != models.CodePaid ||
				!providerPaid || providerAmount != int64(o.PayableFen) {
				t.Fatalf("%s paid: %d payments, credit %+v %v, code %s, provider paid %v %d/%d", c.orderNo, payments, credit, cerr,
					cp.State, providerPaid, providerAmount, o.PayableFen)
			}
			if int64(a.BalanceFen) != c.balance-int64(o.DeductionFen)+int64(o.LeftoverFen) {
				t.Fatalf("%s: balance %d, had %d, deducted %d, left over %d", c.orderNo, a.BalanceFen, c.balance, o.DeductionFen, o.LeftoverFen)
			}
		case models.OrderClosed, models.OrderReversed:
			if payments != 0 || cerr == nil || providerPaid || int64(a.BalanceFen) != c.balance {
				t.Fatalf("%s %s: %d payments, credit %v, provider paid %v, balance %d of %d", c.orderNo, o.Status, payments, cerr,
					providerPaid, a.BalanceFen, c.balance)
			}
		case models.OrderRefunding, models.OrderRefunded:
			// Paid after its reverse was refused: recorded and refunded.
			if payments != 1 || cerr == nil || int64(a.BalanceFen) != c.balance || cp.State != models.CodeRefunded {
				t.Fatalf("%s %s: %d payments, credit %v, balance %d of %d", c.orderNo, o.Status, payments, cerr, a.BalanceFen, c.balance)
			}
		default:
			t.Fatalf("%s ended %s", c.orderNo, o.Status)
		}
	}
	t.Logf("outcomes: %v; %d cards pulled and written free", seen, len(pulled))
	if seen["paid"] == 0 || seen["reversed"] == 0 || seen["closed"] == 0 {
		t.Fatalf("the faults drawn did not exercise every ending: %v", seen)
	}
	if env.Count("alerts", "kind <> ?", "payment_refunded") != 0 {
		r := srv.Do(apptest.Request{Method: "GET", Path: "/api/admin/alerts", Token: apptest.AdminToken})
		if r.Status == http.StatusOK {
			t.Fatalf("alerts: %s", r.Body)
		}
	}
}
