package models_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"gaspay/internal/testenv"
	"gaspay/models"
	"gaspay/units"
)

// The store's contract for the ledgers' locked updates, on every database
// (SQLite, and MariaDB when GASPAY_TEST_MYSQL_DSN is set, also with TiDB's
// snapshot timing): of 20 updaters racing on one order, credit or refund,
// exactly one makes each transition, every other learns it from
// ErrTransition, and the row holds the winner's state. Counting moves lose
// no update.

const racers = 20

// race runs the moves at once and returns how many succeeded, by index of
// the move; every failure must be ErrTransition.
func race(t *testing.T, moves []func() error) (wins []int) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, move := range moves {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := move()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins = append(wins, i)
			case !errors.Is(err, models.ErrTransition):
				t.Errorf("move %d: %v, want nil or ErrTransition", i, err)
			}
		}()
	}
	wg.Wait()
	return wins
}

func repeat(n int, move func() error) []func() error {
	out := make([]func() error, n)
	for i := range out {
		out[i] = move
	}
	return out
}

type ledger struct {
	t    *testing.T
	ctx  context.Context
	s    *models.Store
	next int
}

func newLedger(t *testing.T) *ledger {
	s := models.NewStore(testenv.DB(t))
	seed(t, s, accounts(20)...)
	return &ledger{t: t, ctx: context.Background(), s: s}
}

// pendingOrder opens an order on an account of its own.
func (l *ledger) pendingOrder() models.Order {
	l.t.Helper()
	a, err := l.s.AccountByUserNumber(l.ctx, accounts(20)[l.next].UserNumber)
	if err != nil {
		l.t.Fatal(err)
	}
	l.next++
	o := models.Order{OrderNo: fmt.Sprintf("GPTEST%014d", l.next), AccountID: a.ID, Channel: models.ChannelWeChatMP,
		AppID: "wx", PayerOpenID: "openid", Purpose: models.PurposeBill, GrossFen: 5000, PayableFen: 5000, QuoteJSON: "[]"}
	o.SetCredit(units.Money(5000))
	o = o.Open(now.Add(15*time.Minute), now)
	if err := l.s.CreateOrder(l.ctx, &o); err != nil {
		l.t.Fatal(err)
	}
	return o
}

func (l *ledger) paidOrder() models.Order {
	l.t.Helper()
	o := l.pendingOrder()
	o, err := l.s.UpdateOrder(l.ctx, o.OrderNo, func(o *models.Order) error { return o.MarkPaid(now, now) })
	if err != nil {
		l.t.Fatal(err)
	}
	return o
}

func (l *ledger) pendingCredit() models.Credit {
	l.t.Helper()
	o := l.paidOrder()
	c := models.NewCredit(o, now)
	c.Kind = models.CreditIoT
	if err := l.s.InsertCredit(l.ctx, &c); err != nil {
		l.t.Fatal(err)
	}
	return c
}

func (l *ledger) order(no string) models.Order {
	l.t.Helper()
	o, err := l.s.Order(l.ctx, no)
	if err != nil {
		l.t.Fatal(err)
	}
	return o
}

func (l *ledger) credit(id int64) models.Credit {
	l.t.Helper()
	c, err := l.s.CreditByID(l.ctx, id)
	if err != nil {
		l.t.Fatal(err)
	}
	return c
}

func TestLedgerContract(t *testing.T) {
	l := newLedger(t)
	at := now.Add(time.Minute)
	markPaid := func(no string) func() error {
		return func() error {
			_, err := l.s.UpdateOrder(l.ctx, no, func(o *models.Order) error { return o.MarkPaid(at, at) })
			return err
		}
	}
	closeUnpaid := func(no string) func() error {
		return func() error {
			_, err := l.s.UpdateOrder(l.ctx, no, func(o *models.Order) error { return o.EndUnpaid(models.OrderClosed, "expired", at) })
			return err
		}
	}

	t.Run("MarkPaid", func(t *testing.T) {
		o := l.pendingOrder()
		if wins := race(t, repeat(racers, markPaid(o.OrderNo))); len(wins) != 1 {
			t.Fatalf("%d of %d updaters paid the order", len(wins), racers)
		}
		got := l.order(o.OrderNo)
		if got.Status != models.OrderPaid || got.InflightAccountID != nil || got.PaidAt == nil || !got.PaidAt.Equal(at) {
			t.Fatalf("order after the race: %s, in flight %v, paid at %v", got.Status, got.InflightAccountID, got.PaidAt)
		}
	})

	t.Run("MarkPaid or close", func(t *testing.T) {
		o := l.pendingOrder()
		moves := append(repeat(racers/2, markPaid(o.OrderNo)), repeat(racers/2, closeUnpaid(o.OrderNo))...)
		wins := race(t, moves)
		if len(wins) != 1 {
			t.Fatalf("%d of %d updaters ended the order", len(wins), racers)
		}
		got := l.order(o.OrderNo)
		want := models.OrderPaid
		if wins[0] >= racers/2 {
			want = models.OrderClosed
		}
		if got.Status != want || got.InflightAccountID != nil {
			t.Fatalf("order %s (in flight %v); the winner made it %s", got.Status, got.InflightAccountID, want)
		}
		if (got.ClosedAt != nil) != (want == models.OrderClosed) || (got.PaidAt != nil) != (want == models.OrderPaid) {
			t.Fatalf("a loser's columns were written: paid at %v, closed at %v", got.PaidAt, got.ClosedAt)
		}
	})

	t.Run("refund: start once, finish once", func(t *testing.T) {
		o := l.paidOrder()
		start := func() error {
			_, err := l.s.UpdateOrder(l.ctx, o.OrderNo, func(o *models.Order) error { return o.StartRefund(at) })
			return err
		}
		if wins := race(t, repeat(racers, start)); len(wins) != 1 {
			t.Fatalf("%d refunds started", len(wins))
		}
		done := func() error {
			_, err := l.s.UpdateOrder(l.ctx, o.OrderNo, func(o *models.Order) error { return o.Refunded(at) })
			return err
		}
		if wins := race(t, repeat(racers, done)); len(wins) != 1 {
			t.Fatalf("%d refunds finished", len(wins))
		}
		if st := l.order(o.OrderNo).Status; st != models.OrderRefunded {
			t.Fatalf("order %s", st)
		}
	})

	t.Run("Reverse or refund", func(t *testing.T) {
		o := l.paidOrder()
		reverse := func() error {
			_, err := l.s.UpdateOrder(l.ctx, o.OrderNo, func(o *models.Order) error { return o.Reverse(at) })
			return err
		}
		refund := func() error {
			_, err := l.s.UpdateOrder(l.ctx, o.OrderNo, func(o *models.Order) error { return o.StartRefund(at) })
			return err
		}
		wins := race(t, append(repeat(racers/2, reverse), repeat(racers/2, refund)...))
		// A reversed order may still start a refund (a payment that came
		// after a reversal); a refunding one cannot be reversed.
		st := l.order(o.OrderNo).Status
		switch {
		case len(wins) == 1 && wins[0] >= racers/2 && st == models.OrderRefunding:
		case len(wins) == 1 && wins[0] < racers/2 && st == models.OrderReversed:
		case len(wins) == 2 && st == models.OrderRefunding && (wins[0] < racers/2) != (wins[1] < racers/2):
		default:
			t.Fatalf("winners %v, order %s", wins, st)
		}
	})

	t.Run("Deliver", func(t *testing.T) {
		c := l.pendingCredit()
		deliver := func() error {
			_, err := l.s.UpdateCredit(l.ctx, c.ID, func(c *models.Credit) error { return c.Deliver(at) })
			return err
		}
		if wins := race(t, repeat(racers, deliver)); len(wins) != 1 {
			t.Fatalf("%d of %d updaters delivered the credit", len(wins), racers)
		}
		got := l.credit(c.ID)
		if got.Status != models.CreditDelivered || got.PendingAccountID != nil || got.DeliveredAt == nil {
			t.Fatalf("credit after the race: %+v", got)
		}
	})

	t.Run("Deliver or Cancel", func(t *testing.T) {
		c := l.pendingCredit()
		deliver := func() error {
			_, err := l.s.UpdateCredit(l.ctx, c.ID, func(c *models.Credit) error { return c.Deliver(at) })
			return err
		}
		cancel := func() error {
			_, err := l.s.UpdateCredit(l.ctx, c.ID, func(c *models.Credit) error { return c.Cancel(at) })
			return err
		}
		wins := race(t, append(repeat(racers/2, deliver), repeat(racers/2, cancel)...))
		if len(wins) != 1 {
			t.Fatalf("%d of %d updaters ended the credit", len(wins), racers)
		}
		want := models.CreditDelivered
		if wins[0] >= racers/2 {
			want = models.CreditCancelled
		}
		got := l.credit(c.ID)
		if got.Status != want || got.PendingAccountID != nil || (got.DeliveredAt != nil) != (want == models.CreditDelivered) {
			t.Fatalf("credit %+v; the winner made it %s", got, want)
		}
		// Gas and money never both go out: neither moves again.
		if err := deliver(); !errors.Is(err, models.ErrTransition) {
			t.Fatalf("deliver after the race: %v", err)
		}
		if err := cancel(); !errors.Is(err, models.ErrTransition) {
			t.Fatalf("cancel after the race: %v", err)
		}
	})

	t.Run("Attempt loses no update", func(t *testing.T) {
		c := l.pendingCredit()
		seq := 7
		attempt := func() error {
			_, err := l.s.UpdateCredit(l.ctx, c.ID, func(c *models.Credit) error { return c.Attempt(&seq, at) })
			return err
		}
		if wins := race(t, repeat(racers, attempt)); len(wins) != racers {
			t.Fatalf("%d of %d attempts recorded", len(wins), racers)
		}
		got := l.credit(c.ID)
		if got.Attempts != racers || got.Seq == nil || *got.Seq != 7 || !got.InDoubt() {
			t.Fatalf("credit after %d attempts: attempts %d, seq %v", racers, got.Attempts, got.Seq)
		}
	})

	t.Run("UpdateCredits: batches lose no update and move only pending credits", func(t *testing.T) {
		a, b, done := l.pendingCredit(), l.pendingCredit(), l.pendingCredit()
		if _, err := l.s.UpdateCredit(l.ctx, done.ID, func(c *models.Credit) error { return c.Deliver(at) }); err != nil {
			t.Fatal(err)
		}
		batch := func() error {
			cs, errs, err := l.s.UpdateCredits(l.ctx, []int64{done.ID, b.ID, a.ID}, func(c *models.Credit) error { return c.Attempt(nil, at) })
			if err != nil {
				return err
			}
			for i, c := range cs {
				if moved := errs[i] == nil; moved != (c.ID != done.ID) {
					return fmt.Errorf("credit %d: %v", c.ID, errs[i])
				}
			}
			return nil
		}
		single := func() error {
			_, err := l.s.UpdateCredit(l.ctx, a.ID, func(c *models.Credit) error { return c.Attempt(nil, at) })
			return err
		}
		if wins := race(t, append(repeat(racers, batch), repeat(racers, single)...)); len(wins) != 2*racers {
			t.Fatalf("%d of %d updates went through", len(wins), 2*racers)
		}
		if got := l.credit(a.ID); got.Attempts != 2*racers || got.LastAttemptAt == nil {
			t.Fatalf("credit a: %d attempts; want %d", got.Attempts, 2*racers)
		}
		if got := l.credit(b.ID); got.Attempts != racers || got.Status != models.CreditPending {
			t.Fatalf("credit b: %+v; want %d attempts, pending", got, racers)
		}
		if got := l.credit(done.ID); got.Attempts != 0 || got.Status != models.CreditDelivered {
			t.Fatalf("delivered credit moved: %+v", got)
		}
		if _, _, err := l.s.UpdateCredits(l.ctx, []int64{a.ID, 1 << 40}, func(*models.Credit) error { return nil }); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("a missing credit: %v", err)
		}
	})

	t.Run("refund record", func(t *testing.T) {
		o := l.paidOrder()
		r := models.Refund{RefundNo: "R" + o.OrderNo, OrderID: o.ID, AmountFen: o.PayableFen, Reason: "test", RequestedBy: "test",
			Status: models.RefundPending, CreatedAt: now, UpdatedAt: now}
		if err := l.s.InsertRefund(l.ctx, &r); err != nil {
			t.Fatal(err)
		}
		record := func(st models.RefundStatus) func() error {
			return func() error {
				_, err := l.s.UpdateRefund(l.ctx, r.RefundNo, func(r *models.Refund) error { return r.Record(st, "wx-refund", at) })
				return err
			}
		}
		wins := race(t, append(repeat(racers/2, record(models.RefundSucceeded)), repeat(racers/2, record(models.RefundFailed))...))
		if len(wins) != 1 {
			t.Fatalf("%d of %d updaters ended the refund", len(wins), racers)
		}
		want := models.RefundSucceeded
		if wins[0] >= racers/2 {
			want = models.RefundFailed
		}
		got, err := l.s.RefundByNo(l.ctx, r.RefundNo)
		if err != nil || got.Status != want || (got.SucceededAt != nil) != (want == models.RefundSucceeded) {
			t.Fatalf("refund %+v %v; the winner made it %s", got, err, want)
		}
	})

	t.Run("a refused move writes nothing", func(t *testing.T) {
		o := l.pendingOrder()
		boom := errors.New("refused")
		_, err := l.s.UpdateOrder(l.ctx, o.OrderNo, func(o *models.Order) error {
			o.MarkPaid(at, at)
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("UpdateOrder: %v", err)
		}
		if got := l.order(o.OrderNo); got.Status != models.OrderPending || got.InflightAccountID == nil {
			t.Fatalf("order %s after a refused move", got.Status)
		}
		if _, err := l.s.UpdateOrder(l.ctx, "GPNOSUCHORDER", func(*models.Order) error { return nil }); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("unknown order: %v", err)
		}
	})
}
