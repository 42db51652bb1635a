package recharge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gaspay/models"
	"gaspay/units"
)

// Outcome is what a payment did.
type Outcome int

// Outcomes of MarkPaid.
const (
	// Paid: the order is now paid and has its credit.
	Paid Outcome = iota + 1
	// Duplicate: the payment was already recorded; nothing changed.
	Duplicate
	// LateRefund: the payment arrived for a closed order; it is recorded
	// and refunded, never lost.
	LateRefund
	// ConflictRefund: the account had an undelivered credit the payment
	// could not queue behind; it is recorded and refunded.
	ConflictRefund
	// OtherPayment: the order was already paid by another transaction of
	// its provider. Nothing changed here; staff are alerted to settle it
	// with the provider (the notification is acknowledged: sending it
	// again would not change it).
	OtherPayment
)

// MarkPaid takes a payment reported by a provider, exactly once: one
// payment row per order (a unique index), the order's move to paid a
// conditional update, and in the same transaction the order's one credit,
// carrying the account's next purchase sequence. Duplicates, concurrent or
// late, change nothing.
//
// Errors: ErrUnknownOrder and ErrMismatch (both alert staff; the payment is
// not taken as paid), or a storage error, in which case nothing changed and
// the provider's retry or the janitor's query will bring it again.
func (s *Service) MarkPaid(ctx context.Context, ev PaidEvent) (Outcome, error) {
	o, err := s.store.Order(ctx, ev.OrderNo)
	if errors.Is(err, models.ErrNotFound) {
		s.alert(ctx, "unknown_order", ev.OrderNo, fmt.Sprintf("%s 付款 %s（%s 元）对应的订单在本系统中不存在", ev.Provider, ev.TxnID, ev.AmountFen.Yuan()))
		return 0, ErrUnknownOrder
	}
	if err != nil {
		return 0, err
	}
	p := s.byName[ev.Provider]
	if p == nil || s.providerOf(o) != ev.Provider || ev.AppID != o.AppID || ev.MchID != p.MchID() || ev.AmountFen != o.PayableFen || ev.TxnID == "" {
		s.alert(ctx, "payment_mismatch", o.OrderNo, fmt.Sprintf(
			"%s 付款 %s：%s 元，应用 %s，商户 %s；订单：%s 元，应用 %s，渠道 %s",
			ev.Provider, ev.TxnID, ev.AmountFen.Yuan(), ev.AppID, ev.MchID, o.PayableFen.Yuan(), o.AppID, o.Channel))
		return 0, ErrMismatch
	}

	// A repeat is answered from two reads: a payment, once written, never
	// changes.
	if o.Status != models.OrderPending {
		if prev, err := s.store.PaymentOf(ctx, o.ID); err == nil {
			if prev.ProviderTxnID == ev.TxnID {
				return Duplicate, nil
			}
			s.otherPayment(ctx, ev, prev)
			return OtherPayment, nil
		}
	}

	var out Outcome
	var refund models.Refund
	var otherPrev models.Payment
	err = s.store.Tx(ctx, func(tx *models.Store) error {
		out, refund = 0, models.Refund{}
		a, err := tx.LockAccount(ctx, o.AccountID)
		if err != nil {
			return err
		}
		now := s.now().UTC()
		paidAt := ev.PaidAt.UTC()
		if paidAt.IsZero() {
			paidAt = now
		}
		// The payment's unique index is the "exactly once": a second
		// copy of the payment collides here.
		err = tx.InsertPayment(ctx, &models.Payment{OrderID: o.ID, Provider: ev.Provider, ProviderTxnID: ev.TxnID,
			AmountFen: units.Fen(ev.AmountFen), Payer: ev.Payer, Source: ev.Source, PaidAt: paidAt, CreatedAt: now})
		if errors.Is(err, models.ErrDuplicate) {
			prev, perr := tx.PaymentOf(ctx, o.ID)
			if perr != nil {
				return errors.Join(err, perr)
			}
			if prev.ProviderTxnID != ev.TxnID {
				out, otherPrev = OtherPayment, prev
				return nil
			}
			out = Duplicate
			return nil
		}
		if err != nil {
			return err
		}
		cur, err := tx.UpdateOrderSeen(ctx, o, func(o *models.Order) error { return o.MarkPaid(paidAt, now) })
		if errors.Is(err, models.ErrTransition) {
			// A kiosk's code order reversed at its deadline ends like a
			// closed one.
			if cur.Status != models.OrderClosed && cur.Status != models.OrderReversed {
				return fmt.Errorf("recharge: order %s is %s without a payment", o.OrderNo, cur.Status)
			}
			// Paid after we closed it: the money came, the purchase is
			// over. Refund it in full, automatically.
			out = LateRefund
			refund, err = s.startRefund(ctx, tx, cur, "paid after close", "system", now)
			return err
		}
		if err != nil {
			return err
		}
		if _, err := s.credit(ctx, tx, a, cur, now); err != nil {
			return err
		}
		out = Paid
		return nil
	})
	if errors.Is(err, errCreditConflict) {
		out, refund, err = s.conflictRefund(ctx, ev, o)
	}
	if err != nil {
		return 0, fmt.Errorf("recharge: mark %s paid: %w", ev.OrderNo, err)
	}
	switch out {
	case Paid:
		s.log.InfoContext(ctx, "order paid", slog.String("order_no", ev.OrderNo), slog.String("source", ev.Source),
			slog.Int64("amount_fen", int64(ev.AmountFen)))
	case LateRefund, ConflictRefund:
		s.alert(ctx, "payment_refunded", ev.OrderNo, fmt.Sprintf("付款 %s 已自动退回：%s", ev.TxnID, refund.Reason))
		s.submitRefund(ctx, refund)
	case OtherPayment:
		s.otherPayment(ctx, ev, otherPrev)
	}
	return out, nil
}

// otherPayment records, as an alert for staff, a payment reported for an
// order another transaction already paid: the money may have been taken
// twice, and only a person can settle that with the provider.
func (s *Service) otherPayment(ctx context.Context, ev PaidEvent, prev models.Payment) {
	s.alert(ctx, "second_payment", ev.OrderNo, fmt.Sprintf(
		"%s 报告付款 %s（%s 元，付款人 %s，来源 %s）；该订单已由付款 %s（%s 元）支付",
		ev.Provider, ev.TxnID, ev.AmountFen.Yuan(), ev.Payer, ev.Source, prev.ProviderTxnID, prev.AmountFen.Yuan()))
}

// errCreditConflict: the account already has an undelivered credit; the
// paid transaction is rolled back and conflictRefund takes over.
var errCreditConflict = errors.New("recharge: account has an undelivered credit")

// conflictRefund takes a payment that cannot be credited because the
// account already has an undelivered credit. By construction an account
// with one cannot start an order; if it happens anyway, the money goes back
// rather than two credits racing for one meter.
func (s *Service) conflictRefund(ctx context.Context, ev PaidEvent, o models.Order) (Outcome, models.Refund, error) {
	var refund models.Refund
	err := s.store.Tx(ctx, func(tx *models.Store) error {
		if _, err := tx.LockAccount(ctx, o.AccountID); err != nil {
			return err
		}
		now := s.now().UTC()
		if err := tx.InsertPayment(ctx, &models.Payment{OrderID: o.ID, Provider: ev.Provider, ProviderTxnID: ev.TxnID,
			AmountFen: units.Fen(ev.AmountFen), Payer: ev.Payer, Source: ev.Source, PaidAt: now, CreatedAt: now}); err != nil {
			return err
		}
		cur, err := tx.UpdateOrder(ctx, o.OrderNo, func(o *models.Order) error { return o.MarkPaid(now, now) })
		if err != nil {
			return err
		}
		if err := tx.AdjustBalance(ctx, o.AccountID, o.DeductionFen, now); err != nil {
			return err
		}
		refund, err = s.startRefund(ctx, tx, cur, "credit conflict", "system", now)
		return err
	})
	return ConflictRefund, refund, err
}

// credit creates the paid order's one credit and applies the payment to
// its account. The account is locked (and a read under that lock).
func (s *Service) credit(ctx context.Context, tx *models.Store, a models.Account, o models.Order, now time.Time) (models.Credit, error) {
	c := models.NewCredit(o, now)
	next := a.PurchaseSeq + 1
	var seq *int
	var settled units.Fen
	toBalance := o.LeftoverFen
	switch a.Kind {
	case models.KindOrdinary:
		// Delivered at once: the oldest bills first, the rest to the
		// balance.
		paid, _ := o.Credit().Fen() // a bill payment's credit is money
		if a.ArrearsFen != 0 {
			var err error
			if settled, err = tx.SettleBills(ctx, a.ID, paid, now); err != nil {
				return models.Credit{}, err
			}
		}
		seq, toBalance = &next, toBalance+paid-settled
		c.Kind, c.Seq = models.CreditBill, seq
		c.SettledFen, c.ToBalanceFen = settled, paid-settled
		if err := c.Deliver(now); err != nil {
			return models.Credit{}, err
		}
	case models.KindIoT:
		seq = &next
		c.Kind, c.Seq = models.CreditIoT, seq
	case models.KindICCard:
		// The card's sequence is known once a write was confirmed; an
		// imported card learns it at its first genuine read, and the write
		// then takes it (spec/box-protocol.md).
		c.Kind = models.CreditCard
		card, err := tx.CurrentCard(ctx, a.ID)
		if err != nil && !errors.Is(err, models.ErrNotFound) {
			return models.Credit{}, err
		}
		if err == nil && card.LastWrittenSeq != nil {
			cs := *card.LastWrittenSeq + 1
			c.Seq = &cs
		}
	}
	// One undelivered credit per account: the unique index says so.
	if err := tx.InsertCredit(ctx, &c); errors.Is(err, models.ErrDuplicate) && c.Status == models.CreditPending {
		if _, perr := tx.PendingCreditOf(ctx, a.ID); perr == nil {
			return models.Credit{}, errCreditConflict
		}
		return models.Credit{}, err
	} else if err != nil {
		return models.Credit{}, err
	}
	volume := units.CentiM3(0)
	if o.Purpose == models.PurposeGas {
		volume = o.VolumeCentiM3
	}
	return c, tx.ApplyPurchase(ctx, a.ID, seq, toBalance, settled, s.now().In(s.cfg.Location).Year(), volume, now)
}

func (s *Service) alert(ctx context.Context, kind, orderNo, detail string) {
	s.log.WarnContext(ctx, "alert", slog.String("kind", kind), slog.String("order_no", orderNo), slog.String("detail", detail))
	if err := s.store.AddAlert(ctx, kind, orderNo, detail, s.now().UTC()); err != nil {
		s.log.ErrorContext(ctx, "alert not stored", slog.String("kind", kind), slog.String("err", err.Error()))
	}
}
