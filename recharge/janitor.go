package recharge

import (
	"context"
	"log/slog"
	"time"

	"gaspay/models"
)

// Locker hands out named, expiring locks shared by all replicas.
type Locker interface {
	// Lock takes the lock for at most ttl; ok is false when another holder
	// has it.
	Lock(ctx context.Context, key string, ttl time.Duration) (unlock func(), ok bool, err error)
}

// Janitor timings.
const (
	// lostNotificationAfter: a pending order this old is asked about even
	// before it expires, in case its notification was lost.
	lostNotificationAfter = 2 * time.Minute
	// recheckAfter: how often such an order is asked about again.
	recheckAfter = time.Minute
	// refundPause: a refund just tried is left alone this long.
	refundPause = 30 * time.Second
	batch       = 200
)

// JanitorReport says what one pass did.
type JanitorReport struct {
	Checked, Paid, Closed, Refunds int
	// Codes counts the kiosk payment codes whose loop was stepped.
	Codes int
}

// RunJanitor runs a janitor pass every interval until ctx ends. Every
// replica runs it; a lock in Redis lets one pass run at a time, and a
// replica that dies mid-pass loses the lock when it expires.
func (s *Service) RunJanitor(ctx context.Context, locks Locker, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		unlock, ok, err := locks.Lock(ctx, "janitor:recharge", 10*interval)
		if err != nil {
			s.log.WarnContext(ctx, "janitor lock", slog.String("err", err.Error()))
			continue
		}
		if !ok {
			continue
		}
		rep := s.JanitorPass(ctx)
		unlock()
		if rep != (JanitorReport{}) {
			s.log.InfoContext(ctx, "janitor pass", slog.Int("checked", rep.Checked), slog.Int("paid", rep.Paid),
				slog.Int("closed", rep.Closed), slog.Int("refunds", rep.Refunds), slog.Int("codes", rep.Codes))
		}
	}
}

// JanitorPass resolves what is unknown: pending orders past their expiry
// (asked about, then closed at the provider and here, or taken as paid),
// pending orders whose notification may have been lost, and refunds the
// provider has not settled. Nothing is guessed: whatever the provider cannot
// answer now is asked again on the next pass.
func (s *Service) JanitorPass(ctx context.Context) JanitorReport {
	var rep JanitorReport
	now := s.now().UTC()
	orders, err := s.store.OrdersToCheck(ctx, now, now.Add(-lostNotificationAfter), now.Add(-recheckAfter), batch)
	if err != nil {
		s.log.ErrorContext(ctx, "janitor orders", slog.String("err", err.Error()))
	}
	for _, o := range orders {
		if ctx.Err() != nil {
			return rep
		}
		if o.Channel == models.ChannelKioskCode {
			continue // its closed loop decides: CodePass below
		}
		rep.Checked++
		if now.Before(o.ExpiresAt) {
			// Still payable: only look for a payment we missed.
			p := s.byName[s.providerOf(o)]
			if p == nil {
				continue
			}
			t, err := p.Query(ctx, o.OrderNo)
			switch {
			case err != nil:
				s.log.WarnContext(ctx, "janitor query", slog.String("order_no", o.OrderNo), slog.String("err", err.Error()))
			case t.State == TxnPaid:
				if err := s.paidFromTxn(ctx, p, o, t, "query"); err == nil {
					rep.Paid++
				}
			}
			if err := s.store.MarkChecked(ctx, o.ID, now); err != nil {
				s.log.WarnContext(ctx, "janitor mark", slog.String("err", err.Error()))
			}
			continue
		}
		paid, err := s.settle(ctx, o, false)
		switch {
		case err != nil:
			s.log.WarnContext(ctx, "janitor settle", slog.String("order_no", o.OrderNo), slog.String("err", err.Error()))
		case paid:
			rep.Paid++
		default:
			rep.Closed++
		}
	}
	rep.Codes = s.CodePass(ctx)
	refunds, err := s.store.RefundsToFollow(ctx, now.Add(-refundPause), batch)
	if err != nil {
		s.log.ErrorContext(ctx, "janitor refunds", slog.String("err", err.Error()))
	}
	for _, r := range refunds {
		if ctx.Err() != nil {
			break
		}
		rep.Refunds++
		s.followRefund(ctx, r)
	}
	return rep
}
