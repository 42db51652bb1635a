package recharge_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"gaspay/customer"
	"gaspay/internal/testenv"
	"gaspay/models"
	"gaspay/recharge"
	"gaspay/units"
)

// The payment ledger's rules, through recharge.Service's own API on the
// test database (SQLite, or MariaDB when GASPAY_TEST_MYSQL_DSN is set),
// with a provider that does what the test tells it.

const (
	appID = "wx-mp-app"
	mchID = "mch-1"
)

// fakeProvider is a payment provider under the test's control.
type fakeProvider struct {
	mu      sync.Mutex
	txns    map[string]recharge.Txn // what Query answers, by order number
	closed  []string
	refunds []string
}

func (f *fakeProvider) Name() string  { return "wechat" }
func (f *fakeProvider) MchID() string { return mchID }

func (f *fakeProvider) Prepay(_ context.Context, o recharge.Prepay) (any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.txns[o.OrderNo] = recharge.Txn{State: recharge.TxnNotPaid}
	return map[string]string{"prepay_id": "wx" + o.OrderNo}, nil
}

func (f *fakeProvider) Query(_ context.Context, no string) (recharge.Txn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.txns[no]
	if !ok {
		return recharge.Txn{State: recharge.TxnNotFound}, nil
	}
	return t, nil
}

func (f *fakeProvider) Close(_ context.Context, no string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = append(f.closed, no)
	f.txns[no] = recharge.Txn{State: recharge.TxnClosed}
	return nil
}

func (f *fakeProvider) Refund(_ context.Context, r recharge.RefundRequest) (recharge.RefundResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refunds = append(f.refunds, r.RefundNo)
	return recharge.RefundResult{Status: models.RefundProcessing, ProviderRefundID: "rf-" + r.RefundNo}, nil
}

func (f *fakeProvider) QueryRefund(context.Context, recharge.RefundRequest) (recharge.RefundResult, error) {
	return recharge.RefundResult{Status: models.RefundProcessing}, nil
}

func (f *fakeProvider) ParsePayment(context.Context, recharge.Notification) (recharge.PaidEvent, error) {
	return recharge.PaidEvent{}, errors.New("fake: no notifications")
}

func (f *fakeProvider) ParseRefund(context.Context, recharge.Notification) (recharge.RefundEvent, error) {
	return recharge.RefundEvent{}, errors.New("fake: no notifications")
}

func (f *fakeProvider) refundCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.refunds)
}

type world struct {
	t     *testing.T
	ctx   context.Context
	store *models.Store
	svc   *recharge.Service
	prov  *fakeProvider
	clock *clock
	user  models.User
}

type clock struct {
	mu sync.Mutex
	at time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.at }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.at = c.at.Add(d)
	c.mu.Unlock()
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	store := models.NewStore(testenv.DB(t))
	c := &clock{at: time.Now().UTC().Truncate(time.Second)}
	if err := customer.SeedDemo(ctx, store, c.Now()); err != nil {
		t.Fatal(err)
	}
	prov := &fakeProvider{txns: map[string]recharge.Txn{}}
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	svc := recharge.NewService(store, recharge.Config{PurchaseLimitFen: 100000, OrderTTL: 15 * time.Minute, QuoteTTL: 5 * time.Minute,
		Location: loc, Apps: map[models.Channel]string{models.ChannelWeChatMP: appID}},
		map[models.Channel]recharge.Provider{models.ChannelWeChatMP: prov}, testenv.Logger())
	svc.SetClock(c.Now)
	u, err := store.UpsertUser(ctx, models.AppMiniProgram, appID, "openid-1", nil, c.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &world{t: t, ctx: ctx, store: store, svc: svc, prov: prov, clock: c, user: u}
}

// account binds the demo account to the world's user.
func (w *world) account(userNumber string) models.Account {
	w.t.Helper()
	a, err := w.store.AccountByUserNumber(w.ctx, userNumber)
	if err != nil {
		w.t.Fatal(err)
	}
	if _, _, err := w.store.Bind(w.ctx, w.user.ID, a.ID, 5, w.clock.Now()); err != nil {
		w.t.Fatal(err)
	}
	return a
}

func (w *world) order(a models.Account, q recharge.QuoteRequest) models.Order {
	w.t.Helper()
	q.UserID, q.AccountID = w.user.ID, a.ID
	v, _, err := w.svc.CreateOrder(w.ctx, recharge.OrderRequest{QuoteRequest: q, Channel: models.ChannelWeChatMP, AppID: appID, OpenID: "openid-1"})
	if err != nil {
		w.t.Fatalf("order for %s: %v", a.UserNumber, err)
	}
	return v.Order
}

// paid is the provider's report of o paid by transaction txn.
func (w *world) paid(o models.Order, txn string) recharge.PaidEvent {
	return recharge.PaidEvent{Provider: "wechat", OrderNo: o.OrderNo, TxnID: txn, AppID: appID, MchID: mchID,
		AmountFen: o.PayableFen, Payer: "openid-1", PaidAt: w.clock.Now(), Source: "notify"}
}

func (w *world) count(table, where string, args ...any) int64 {
	w.t.Helper()
	var n int64
	q := w.store.DB().Table(table)
	if where != "" {
		q = q.Where(where, args...)
	}
	if err := q.Count(&n).Error; err != nil {
		w.t.Fatal(err)
	}
	return n
}

func (w *world) orderNow(no string) models.Order {
	w.t.Helper()
	v, err := w.svc.OrderByNo(w.ctx, no)
	if err != nil {
		w.t.Fatal(err)
	}
	return v.Order
}

func (w *world) accountNow(id int64) models.Account {
	w.t.Helper()
	a, err := w.store.Account(w.ctx, id)
	if err != nil {
		w.t.Fatal(err)
	}
	return a
}

// Twenty copies of one payment at once, then a late copy: one is taken,
// every other is a duplicate, and the ledger holds one payment and one
// credit with one purchase sequence.
func TestDuplicatePayments(t *testing.T) {
	w := newWorld(t)
	a := w.account("031130001") // IoT
	o := w.order(a, recharge.QuoteRequest{Purchase: byAmount(5000)})
	ev := w.paid(o, "4200000001")
	var wg sync.WaitGroup
	outcomes := make([]recharge.Outcome, 20)
	errs := make([]error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outcomes[i], errs[i] = w.svc.MarkPaid(w.ctx, ev)
		}()
	}
	wg.Wait()
	paid, dups := 0, 0
	for i := range 20 {
		switch {
		case errs[i] != nil:
			t.Errorf("copy %d: %v", i, errs[i])
		case outcomes[i] == recharge.Paid:
			paid++
		case outcomes[i] == recharge.Duplicate:
			dups++
		default:
			t.Errorf("copy %d: outcome %d", i, outcomes[i])
		}
	}
	if paid != 1 || dups != 19 {
		t.Fatalf("%d paid, %d duplicates; want 1 and 19", paid, dups)
	}
	if out, err := w.svc.MarkPaid(w.ctx, ev); out != recharge.Duplicate || err != nil {
		t.Fatalf("a copy a day later: %d %v", out, err)
	}
	if got := w.orderNow(o.OrderNo); got.Status != models.OrderPaid || got.InflightAccountID != nil {
		t.Fatalf("order %s, in flight %v", got.Status, got.InflightAccountID)
	}
	if n := w.count("payments", "order_id = ?", o.ID); n != 1 {
		t.Fatalf("%d payments", n)
	}
	if n := w.count("credits", "order_id = ? AND status = ?", o.ID, models.CreditPending); n != 1 {
		t.Fatalf("%d pending credits", n)
	}
	if got := w.accountNow(a.ID); got.PurchaseSeq != 1 {
		t.Fatalf("purchase sequence %d, want 1", got.PurchaseSeq)
	}
}

// A payment that does not match its order is not taken: wrong amount,
// another merchant, an order we never made.
func TestMismatchedPayments(t *testing.T) {
	w := newWorld(t)
	a := w.account("031130001")
	o := w.order(a, recharge.QuoteRequest{Purchase: byAmount(5000)})
	for _, c := range []struct {
		name   string
		change func(*recharge.PaidEvent)
		want   error
	}{
		{"amount", func(e *recharge.PaidEvent) { e.AmountFen-- }, recharge.ErrMismatch},
		{"merchant", func(e *recharge.PaidEvent) { e.MchID = "mch-2" }, recharge.ErrMismatch},
		{"app", func(e *recharge.PaidEvent) { e.AppID = "wx-other" }, recharge.ErrMismatch},
		{"no transaction", func(e *recharge.PaidEvent) { e.TxnID = "" }, recharge.ErrMismatch},
		{"unknown order", func(e *recharge.PaidEvent) { e.OrderNo = "20990101000000000000" }, recharge.ErrUnknownOrder},
	} {
		t.Run(c.name, func(t *testing.T) {
			ev := w.paid(o, "4200000009")
			c.change(&ev)
			if _, err := w.svc.MarkPaid(w.ctx, ev); !errors.Is(err, c.want) {
				t.Fatalf("MarkPaid: %v, want %v", err, c.want)
			}
		})
	}
	if got := w.orderNow(o.OrderNo); got.Status != models.OrderPending {
		t.Fatalf("order %s after mismatched payments", got.Status)
	}
	if n := w.count("payments", ""); n != 0 {
		t.Fatalf("%d payments", n)
	}
	if n := w.count("alerts", ""); n != 5 {
		t.Fatalf("%d alerts, want one per refusal", n)
	}
}

// A second transaction for a paid order changes nothing and alerts staff;
// so does it when both arrive at once.
func TestConflictingPayments(t *testing.T) {
	w := newWorld(t)
	a := w.account("031130001")
	o := w.order(a, recharge.QuoteRequest{Purchase: byAmount(5000)})
	var wg sync.WaitGroup
	outcomes := make([]recharge.Outcome, 2)
	for i, txn := range []string{"4200000001", "4200000002"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if outcomes[i], err = w.svc.MarkPaid(w.ctx, w.paid(o, txn)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if !(outcomes[0] == recharge.Paid && outcomes[1] == recharge.OtherPayment) &&
		!(outcomes[1] == recharge.Paid && outcomes[0] == recharge.OtherPayment) {
		t.Fatalf("outcomes %v, want one paid and one other payment", outcomes)
	}
	if out, err := w.svc.MarkPaid(w.ctx, w.paid(o, "4200000003")); out != recharge.OtherPayment || err != nil {
		t.Fatalf("a third transaction later: %d %v", out, err)
	}
	if n := w.count("payments", ""); n != 1 {
		t.Fatalf("%d payments", n)
	}
	if n := w.count("alerts", "kind = ?", "second_payment"); n != 2 {
		t.Fatalf("%d second_payment alerts, want 2", n)
	}
	// The account's credit is on its way: no new purchase until it lands.
	_, _, err := w.svc.CreateOrder(w.ctx, recharge.OrderRequest{QuoteRequest: recharge.QuoteRequest{UserID: w.user.ID, AccountID: a.ID, Purchase: byAmount(100)},
		Channel: models.ChannelWeChatMP, AppID: appID, OpenID: "openid-1"})
	if !errors.Is(err, recharge.ErrCreditPending) {
		t.Fatalf("order behind an undelivered credit: %v", err)
	}
}

// An order left unpaid past its expiry is closed at the provider and here,
// its balance hold given back; a payment arriving after that is recorded
// and refunded in full, never lost and never credited.
func TestClosingAndLatePayment(t *testing.T) {
	w := newWorld(t)
	a := w.account("031140086") // IC card, volume, balance 30 fen
	o := w.order(a, recharge.QuoteRequest{Purchase: byVolume(1000)})
	if o.DeductionFen != 30 || w.accountNow(a.ID).BalanceFen != 0 {
		t.Fatalf("deduction %d, balance %d", o.DeductionFen, w.accountNow(a.ID).BalanceFen)
	}
	w.clock.Add(16 * time.Minute)
	if rep := w.svc.JanitorPass(w.ctx); rep.Closed != 1 {
		t.Fatalf("janitor: %+v", rep)
	}
	got := w.orderNow(o.OrderNo)
	if got.Status != models.OrderClosed || got.InflightAccountID != nil {
		t.Fatalf("after expiry: %s, in flight %v", got.Status, got.InflightAccountID)
	}
	if b := w.accountNow(a.ID).BalanceFen; b != 30 {
		t.Fatalf("balance %d after close, want 30 back", b)
	}
	if len(w.prov.closed) != 1 || w.prov.closed[0] != o.OrderNo {
		t.Fatalf("closed at the provider: %v", w.prov.closed)
	}

	out, err := w.svc.MarkPaid(w.ctx, w.paid(o, "4200000077"))
	if out != recharge.LateRefund || err != nil {
		t.Fatalf("late payment: %d %v", out, err)
	}
	if out, err := w.svc.MarkPaid(w.ctx, w.paid(o, "4200000077")); out != recharge.Duplicate || err != nil {
		t.Fatalf("late payment again: %d %v", out, err)
	}
	if n := w.count("payments", "order_id = ?", o.ID); n != 1 {
		t.Fatalf("%d payments", n)
	}
	if n := w.count("credits", "order_id = ?", o.ID); n != 0 {
		t.Fatalf("a late payment was credited")
	}
	if n := w.count("refunds", "order_id = ? AND amount_fen = ?", o.ID, o.PayableFen); n != 1 || w.prov.refundCount() != 1 {
		t.Fatalf("%d refunds stored, %d submitted; want 1 in full", n, w.prov.refundCount())
	}
	if st := w.orderNow(o.OrderNo).Status; st != models.OrderRefunding {
		t.Fatalf("order %s after the late refund", st)
	}
	if b := w.accountNow(a.ID).BalanceFen; b != 30 {
		t.Fatalf("balance %d after the late refund, want 30", b)
	}
}

// A new order of the same user moments after the first is "in progress";
// once the first is older, it is closed at the provider and replaced.
func TestNewOrderClosesTheAbandonedOne(t *testing.T) {
	w := newWorld(t)
	a := w.account("031130001")
	first := w.order(a, recharge.QuoteRequest{Purchase: byAmount(5000)})
	req := recharge.OrderRequest{QuoteRequest: recharge.QuoteRequest{UserID: w.user.ID, AccountID: a.ID, Purchase: byAmount(6000)},
		Channel: models.ChannelWeChatMP, AppID: appID, OpenID: "openid-1"}
	// The provider has not heard of it yet: another tap is still starting it.
	w.prov.mu.Lock()
	delete(w.prov.txns, first.OrderNo)
	w.prov.mu.Unlock()
	if _, _, err := w.svc.CreateOrder(w.ctx, req); !errors.Is(err, recharge.ErrOrderInProgress) {
		t.Fatalf("second order at once: %v", err)
	}
	w.clock.Add(3 * time.Minute)
	v, _, err := w.svc.CreateOrder(w.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if st := w.orderNow(first.OrderNo).Status; st != models.OrderClosed {
		t.Fatalf("first order %s", st)
	}
	if n := w.count("orders", "status = ?", models.OrderPending); n != 1 || v.Order.Status != models.OrderPending {
		t.Fatalf("%d pending orders", n)
	}
	// The first one's payment, if it comes, goes back.
	if out, err := w.svc.MarkPaid(w.ctx, w.paid(first, "4200000100")); out != recharge.LateRefund || err != nil {
		t.Fatalf("payment of the replaced order: %d %v", out, err)
	}
}

// Cancelling a credit: a paid credit not yet attempted is cancelled by a
// refund and what the payment did to the account is undone; a credit whose
// delivery was attempted is in doubt and cannot be; a cancelled one is not
// refunded twice.
func TestCancellingACredit(t *testing.T) {
	w := newWorld(t)
	a := w.account("031140086") // IC card
	o := w.order(a, recharge.QuoteRequest{Purchase: byVolume(1000)})
	if out, err := w.svc.MarkPaid(w.ctx, w.paid(o, "4200000200")); out != recharge.Paid || err != nil {
		t.Fatalf("pay: %d %v", out, err)
	}
	before := w.accountNow(a.ID)
	if before.YTDVolumeCentiM3 != 1000 {
		t.Fatalf("volume of year %d after the purchase", before.YTDVolumeCentiM3)
	}
	// A write of the credit was handed to a box: in doubt.
	if err := w.store.DB().Exec("UPDATE credits SET attempts = 1 WHERE order_id = ?", o.ID).Error; err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.RefundOrder(w.ctx, o.OrderNo, "客户申请退款", "staff:1"); !errors.Is(err, recharge.ErrDeliveryInDoubt) {
		t.Fatalf("refund of a credit in doubt: %v", err)
	}
	// The card read proved it never landed.
	if err := w.store.DB().Exec("UPDATE credits SET attempts = 0 WHERE order_id = ?", o.ID).Error; err != nil {
		t.Fatal(err)
	}
	r, err := w.svc.RefundOrder(w.ctx, o.OrderNo, "客户申请退款", "staff:1")
	if err != nil || r.AmountFen != o.PayableFen {
		t.Fatalf("refund: %+v %v", r, err)
	}
	c, err := w.store.CreditOf(w.ctx, o.ID)
	if err != nil || c.Status != models.CreditCancelled || c.PendingAccountID != nil {
		t.Fatalf("credit after the refund: %+v %v", c, err)
	}
	after := w.accountNow(a.ID)
	if after.YTDVolumeCentiM3 != 0 || after.BalanceFen != 30 {
		t.Fatalf("account after the refund: volume %d, balance %d; want 0 and 30", after.YTDVolumeCentiM3, after.BalanceFen)
	}
	if _, err := w.svc.RefundOrder(w.ctx, o.OrderNo, "again", "staff:1"); !errors.Is(err, recharge.ErrNotRefundable) {
		t.Fatalf("second refund: %v", err)
	}
	if n := w.count("refunds", ""); n != 1 || w.prov.refundCount() != 1 {
		t.Fatalf("%d refunds, %d submitted", n, w.prov.refundCount())
	}
	// With the credit gone the account can buy again.
	w.order(a, recharge.QuoteRequest{Purchase: byVolume(500)})
}

// A partner's serial is its payment's "exactly once": a repeat answers the
// payment made, also ten at once; another amount under it is refused; a
// reversal is answered the same when repeated.
func TestPartnerReplay(t *testing.T) {
	w := newWorld(t)
	pay := recharge.PartnerPayment{PartnerID: "lakala", Serial: "LKL0001", UserNumber: "031120001", AmountFen: 20960}
	var wg sync.WaitGroup
	views := make([]recharge.OrderView, 10)
	replays := make([]bool, 10)
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if views[i], replays[i], err = w.svc.PartnerPay(w.ctx, pay); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	first := 0
	for i := range 10 {
		if !replays[i] {
			first++
		}
		if views[i].Order.OrderNo != views[0].Order.OrderNo || views[i].Order.OrderNo == "" {
			t.Fatalf("answers name orders %q and %q", views[0].Order.OrderNo, views[i].Order.OrderNo)
		}
	}
	if first != 1 {
		t.Fatalf("%d first payments among ten copies", first)
	}
	if n := w.count("payments", ""); n != 1 {
		t.Fatalf("%d payments", n)
	}
	if a := w.accountNow(views[0].Order.AccountID); a.ArrearsFen != 0 {
		t.Fatalf("arrears %d after the bills were paid", a.ArrearsFen)
	}
	other := pay
	other.AmountFen = 100
	if _, _, err := w.svc.PartnerPay(w.ctx, other); !errors.Is(err, recharge.ErrSerialReused) {
		t.Fatalf("same serial, another amount: %v", err)
	}
	other = pay
	other.UserNumber = "031120002"
	if _, _, err := w.svc.PartnerPay(w.ctx, other); !errors.Is(err, recharge.ErrSerialReused) {
		t.Fatalf("same serial, another account: %v", err)
	}
	// Another partner's serial of the same name is its own.
	if _, replay, err := w.svc.PartnerPay(w.ctx, recharge.PartnerPayment{PartnerID: "icbc", Serial: "LKL0001",
		UserNumber: "031120002", AmountFen: 500}); err != nil || replay {
		t.Fatalf("another partner's serial: %v replay %v", err, replay)
	}

	// An IoT payment can be reversed on its day, once.
	iot := recharge.PartnerPayment{PartnerID: "lakala", Serial: "LKL0002", UserNumber: "031130002", AmountFen: 3000}
	if _, _, err := w.svc.PartnerPay(w.ctx, iot); err != nil {
		t.Fatal(err)
	}
	// Its credit waits for the meter: another serial is refused.
	if _, _, err := w.svc.PartnerPay(w.ctx, recharge.PartnerPayment{PartnerID: "lakala", Serial: "LKL0003",
		UserNumber: "031130002", AmountFen: 3000}); !errors.Is(err, recharge.ErrCreditPending) {
		t.Fatalf("behind an undelivered credit: %v", err)
	}
	for i := range 2 {
		v, err := w.svc.PartnerReverse(w.ctx, "lakala", "LKL0002")
		if err != nil || v.Order.Status != models.OrderReversed || v.Credit == nil || v.Credit.Status != models.CreditCancelled {
			t.Fatalf("reversal %d: %+v %v", i+1, v.Order.Status, err)
		}
	}
	if _, replay, err := w.svc.PartnerPay(w.ctx, iot); err != nil || !replay {
		t.Fatalf("the reversed serial again: replay %v %v", replay, err)
	}
	if a, _ := w.store.AccountByUserNumber(w.ctx, "031130002"); a.PurchaseSeq != 0 {
		t.Fatalf("purchase sequence %d after the reversal, want it given back", a.PurchaseSeq)
	}
	// A bill payment is delivered at once: no reversal.
	if _, err := w.svc.PartnerReverse(w.ctx, "lakala", "LKL0001"); !errors.Is(err, recharge.ErrDelivered) {
		t.Fatalf("reversing a bill payment: %v", err)
	}
}

func byAmount(fen int64) recharge.Purchase {
	p, err := recharge.ByAmount(units.Fen(fen))
	if err != nil {
		panic(err)
	}
	return p
}

func byVolume(v int64) recharge.Purchase {
	p, err := recharge.ByVolume(units.CentiM3(v))
	if err != nil {
		panic(err)
	}
	return p
}
