package recharge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gaspay/models"
)

// startRefund moves an order to refunding and records its full refund, in
// the caller's transaction; the provider is asked after the commit.
func (s *Service) startRefund(ctx context.Context, tx *models.Store, o models.Order, reason, by string, now time.Time) (models.Refund, error) {
	o, err := tx.UpdateOrder(ctx, o.OrderNo, func(o *models.Order) error { return o.StartRefund(now) })
	if err != nil {
		return models.Refund{}, err
	}
	r := models.Refund{RefundNo: RefundNoOf(o.OrderNo), OrderID: o.ID, AmountFen: o.PayableFen, Reason: reason,
		RequestedBy: by, Status: models.RefundPending, CreatedAt: now, UpdatedAt: now}
	return r, tx.InsertRefund(ctx, &r)
}

// RefundOrder refunds a paid order whose credit has not reached the meter,
// as staff asked: the credit is cancelled and the balance the order used or
// left is restored in one transaction, then the provider is asked. A
// delivered credit, or one whose delivery was attempted with an unknown
// outcome, cannot be refunded this way.
// Errors: ErrNotFound, ErrNotRefundable, ErrDelivered, ErrDeliveryInDoubt.
func (s *Service) RefundOrder(ctx context.Context, orderNo, reason, by string) (models.Refund, error) {
	return s.RefundOrderWith(ctx, orderNo, reason, by, nil)
}

// RefundOrderWith is RefundOrder that also runs also, when not nil, in the
// refund's transaction after the refund is recorded: the console writes its
// audit entry (and settles an approval) there, so that the refund and its
// record commit together or not at all.
func (s *Service) RefundOrderWith(ctx context.Context, orderNo, reason, by string, also func(tx *models.Store, o models.Order, r models.Refund) error) (models.Refund, error) {
	o, err := s.store.Order(ctx, orderNo)
	if errors.Is(err, models.ErrNotFound) {
		return models.Refund{}, ErrNotFound
	}
	if err != nil {
		return models.Refund{}, err
	}
	var r models.Refund
	err = s.store.Tx(ctx, func(tx *models.Store) error {
		a, err := tx.LockAccount(ctx, o.AccountID)
		if err != nil {
			return err
		}
		o, err := tx.LockOrder(ctx, orderNo)
		if err != nil {
			return err
		}
		// A partner holds what it collected: its way back is a reversal.
		if o.Status != models.OrderPaid || o.Channel == models.ChannelPartner {
			return ErrNotRefundable
		}
		now := s.now().UTC()
		if err := s.cancelCredit(ctx, tx, a, o, now); err != nil {
			return err
		}
		r, err = s.startRefund(ctx, tx, o, reason, by, now)
		if err != nil || also == nil {
			return err
		}
		return also(tx, o, r)
	})
	if err != nil {
		return models.Refund{}, err
	}
	s.log.InfoContext(ctx, "refund started", slog.String("order_no", orderNo), slog.String("by", by), slog.String("reason", reason))
	return s.submitRefund(ctx, r), nil
}

// InDoubt is the one rule that every path cancelling a credit asks (staff
// refunds, partner reversals, and any to come): a pending credit whose
// delivery was attempted is in doubt until the delivery path proves where
// it stands, because the gas may be on its way to the meter. For a card it
// stays in doubt while a WRITE_CARD of it may still be executed by a box
// (a phone can hold one back) and until a read shows the card either way;
// only cards.settleNotLanded, or a delivery, takes it out. For an IoT
// meter it is in doubt from the moment a recharge copy is handed to the
// platform (iot.attempt) until a report proves it applied (delivered) or
// proves every copy dead: the platform confirmed the cancel and the meter's
// own clock passed every copy's not_after with the sequence not applied
// (iot.settleUnapplied, docs/meter-protocol.md). A credit in doubt may be
// delivered, never cancelled: money and gas never both go out.
func InDoubt(c models.Credit) bool {
	return c.Status == models.CreditPending && c.Attempts > 0
}

// cancelCredit undoes a paid order's credit that never reached the meter,
// in the caller's transaction under the account's lock: the credit is
// cancelled (its sequence freed, since the meter never saw it), and what
// the payment did to the account (balance used or left over, the year's
// volume) is undone. A delivered credit, or one whose delivery was
// attempted with an unknown outcome, is refused.
// Errors: ErrDelivered, ErrDeliveryInDoubt, ErrNotRefundable.
func (s *Service) cancelCredit(ctx context.Context, tx *models.Store, a models.Account, o models.Order, now time.Time) error {
	c, err := tx.CreditOf(ctx, o.ID)
	if err != nil {
		return err
	}
	switch {
	case c.Status == models.CreditDelivered:
		return ErrDelivered
	case c.Status != models.CreditPending:
		return ErrNotRefundable
	case InDoubt(c):
		return ErrDeliveryInDoubt
	}
	if _, err := tx.UpdateCredit(ctx, c.ID, func(c *models.Credit) error { return c.Cancel(now) }); err != nil {
		return err
	}
	if c.Seq != nil && c.Kind == models.CreditIoT {
		if err := tx.TakeBackPurchaseSeq(ctx, a.ID, *c.Seq); err != nil {
			return err
		}
	}
	if err := tx.AdjustBalance(ctx, a.ID, o.DeductionFen-o.LeftoverFen, now); err != nil {
		return fmt.Errorf("recharge: restore balance: %w", err)
	}
	if o.Purpose == models.PurposeGas && o.PaidAt != nil {
		return tx.AddYearVolume(ctx, a.ID, o.PaidAt.In(s.cfg.Location).Year(), -o.VolumeCentiM3)
	}
	return nil
}

// submitRefund asks the provider for a recorded refund and records its
// answer. An unknown outcome leaves the refund pending for the janitor,
// which asks again with the same refund number, so it happens once.
func (s *Service) submitRefund(ctx context.Context, r models.Refund) models.Refund {
	o, err := s.store.OrderByID(ctx, r.OrderID)
	if err != nil {
		s.log.ErrorContext(ctx, "refund: order", slog.String("refund_no", r.RefundNo), slog.String("err", err.Error()))
		return r
	}
	p := s.byName[s.providerOf(o)]
	if p == nil {
		return r
	}
	res, err := p.Refund(ctx, refundRequestOf(r, o))
	switch {
	case errors.Is(err, ErrUnknownOutcome):
		s.log.WarnContext(ctx, "refund outcome unknown", slog.String("refund_no", r.RefundNo), slog.String("err", err.Error()))
		s.touchRefund(ctx, r)
		return r
	case err != nil:
		s.log.WarnContext(ctx, "refund refused", slog.String("refund_no", r.RefundNo), slog.String("err", err.Error()))
		res = RefundResult{Status: models.RefundFailed}
	}
	got, _ := s.recordRefund(ctx, r, res)
	return got
}

// touchRefund marks a refund as just tried, so the janitor waits before
// trying it again.
func (s *Service) touchRefund(ctx context.Context, r models.Refund) {
	_, err := s.store.UpdateRefund(ctx, r.RefundNo, func(r *models.Refund) error { return r.Touch(s.now().UTC()) })
	if err != nil && !errors.Is(err, models.ErrTransition) {
		s.log.WarnContext(ctx, "refund touch", slog.String("err", err.Error()))
	}
}

// recordRefund records a provider's answer about a refund, exactly once:
// every move is conditional on the refund not being final yet. It reports
// whether this call moved it; a refund that failed alerts staff then.
func (s *Service) recordRefund(ctx context.Context, r models.Refund, res RefundResult) (models.Refund, bool) {
	now := s.now().UTC()
	var moved bool
	err := s.store.Tx(ctx, func(tx *models.Store) error {
		moved = false
		got, err := tx.UpdateRefund(ctx, r.RefundNo, func(r *models.Refund) error { return r.Record(res.Status, res.ProviderRefundID, now) })
		if errors.Is(err, models.ErrTransition) {
			return nil
		}
		moved = err == nil
		if err != nil || got.Status != models.RefundSucceeded {
			return err
		}
		o, err := tx.OrderByID(ctx, got.OrderID)
		if err != nil {
			return err
		}
		_, err = tx.UpdateOrder(ctx, o.OrderNo, func(o *models.Order) error { return o.Refunded(now) })
		if errors.Is(err, models.ErrTransition) {
			// The money is back whatever the order says; the refund's
			// record stands.
			s.log.ErrorContext(ctx, "refund of an order not refunding", slog.String("refund_no", got.RefundNo), slog.String("err", err.Error()))
			return nil
		}
		return err
	})
	if err != nil {
		s.log.ErrorContext(ctx, "refund record", slog.String("refund_no", r.RefundNo), slog.String("err", err.Error()))
		return r, false
	}
	if moved && res.Status == models.RefundFailed {
		s.alert(ctx, "refund_failed", "", "退款 "+r.RefundNo+" 在支付机构失败，款项尚未退回")
	}
	if moved && res.Status == models.RefundSucceeded {
		s.log.InfoContext(ctx, "refund succeeded", slog.String("refund_no", r.RefundNo))
	}
	got, err := s.store.RefundByNo(ctx, r.RefundNo)
	if err != nil {
		return r, moved
	}
	return got, moved
}

// HandleRefundEvent records a refund notification, exactly once.
// Errors: ErrNotFound for a refund we do not have.
func (s *Service) HandleRefundEvent(ctx context.Context, ev RefundEvent) error {
	r, err := s.store.RefundByNo(ctx, ev.RefundNo)
	if errors.Is(err, models.ErrNotFound) {
		s.alert(ctx, "unknown_refund", ev.OrderNo, "收到未知退款 "+ev.RefundNo+" 的通知")
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if ev.AmountFen != r.AmountFen {
		s.alert(ctx, "refund_mismatch", ev.OrderNo, fmt.Sprintf("退款 %s：支付机构报告 %s 元，申请 %s 元", r.RefundNo, ev.AmountFen.Yuan(), r.AmountFen.Yuan()))
		return ErrMismatch
	}
	s.recordRefund(ctx, r, RefundResult{Status: ev.Status, ProviderRefundID: ev.ProviderRefundID})
	return nil
}

// followRefund moves a refund the provider has not settled yet.
func (s *Service) followRefund(ctx context.Context, r models.Refund) {
	if r.Status == models.RefundPending {
		s.submitRefund(ctx, r)
		return
	}
	o, err := s.store.OrderByID(ctx, r.OrderID)
	if err != nil {
		return
	}
	p := s.byName[s.providerOf(o)]
	if p == nil {
		return
	}
	res, err := p.QueryRefund(ctx, refundRequestOf(r, o))
	if err != nil {
		s.touchRefund(ctx, r)
		return
	}
	if res.Status == models.RefundProcessing {
		s.touchRefund(ctx, r)
		return
	}
	s.recordRefund(ctx, r, res)
}
