package models

import (
	"errors"
	"fmt"
	"time"
)

// The two ledgers' state machines. Every change of an order's, a credit's,
// a refund's or a scanned code's state is one of the methods below, applied
// under a row lock by Store.UpdateOrder, UpdateCredit, UpdateRefund or
// UpdateCodePayment (ledger_store.go). A method checks the current state and
// refuses an illegal move with ErrTransition, so that a caller that lost a
// race learns it from the error instead of overwriting the winner.
//
// One purchase in flight per meter rests on two unique indexes (migration
// 2): ux_orders_inflight on orders.inflight_account_id, which holds the
// account id while the order is pending and NULL after, and
// ux_credits_pending on credits.pending_account_id, which holds it while
// the credit is undelivered. Only Open and NewCredit set them, only
// leavePending clears them.
// recharge.admit (recharge/inflight.go) is the rule that reads them.

// ErrTransition: the move is not allowed from the current state. Another
// writer usually got there first.
var ErrTransition = errors.New("models: illegal state transition")

func illegal(what, id string, state any, move string) error {
	return fmt.Errorf("%w: %s %s is %v, cannot %s", ErrTransition, what, id, state, move)
}

// Open starts an order: pending until expires, and claiming its account
// (ux_orders_inflight) until it leaves pending.
func (o Order) Open(expires, at time.Time) Order {
	acct := o.AccountID
	o.Status, o.InflightAccountID = OrderPending, &acct
	o.ExpiresAt, o.CreatedAt, o.UpdatedAt = expires, at, at
	return o
}

// NewCredit is what paid order o delivers: pending, and claiming its
// account (ux_credits_pending) until delivered or cancelled. The caller
// sets its kind and sequence.
func NewCredit(o Order, at time.Time) Credit {
	acct := o.AccountID
	c := Credit{OrderID: o.ID, AccountID: o.AccountID,
		Status: CreditPending, PendingAccountID: &acct, CreatedAt: at, UpdatedAt: at}
	c.SetQuantity(o.Credit())
	return c
}

// Pending reports whether the order may still be paid.
func (o *Order) Pending() bool { return o.Status == OrderPending }

// leavePending ends the order's claim on its account (ux_orders_inflight).
func (o *Order) leavePending(to OrderStatus, at time.Time) {
	o.Status, o.InflightAccountID, o.UpdatedAt = to, nil, at
}

// MarkPaid records that the order's payment arrived (paid at paidAt).
func (o *Order) MarkPaid(paidAt, at time.Time) error {
	if !o.Pending() {
		return illegal("order", o.OrderNo, o.Status, "be paid")
	}
	o.leavePending(OrderPaid, at)
	o.PaidAt = &paidAt
	return nil
}

// EndUnpaid ends a pending order without a payment: closed, or reversed (a
// scanned code reversed at its provider after the kiosk's deadline).
func (o *Order) EndUnpaid(status OrderStatus, reason string, at time.Time) error {
	if status != OrderClosed && status != OrderReversed {
		return fmt.Errorf("%w: an unpaid order cannot end %s", ErrTransition, status)
	}
	if !o.Pending() {
		return illegal("order", o.OrderNo, o.Status, "end unpaid")
	}
	o.leavePending(status, at)
	o.CloseReason, o.ClosedAt = &reason, &at
	return nil
}

// StartRefund moves a paid order, or one whose payment arrived after it
// ended (closed or reversed), to refunding.
func (o *Order) StartRefund(at time.Time) error {
	switch o.Status {
	case OrderPaid, OrderClosed, OrderReversed:
		o.Status, o.UpdatedAt = OrderRefunding, at
		return nil
	}
	return illegal("order", o.OrderNo, o.Status, "start a refund")
}

// Refunded records that the provider returned the money.
func (o *Order) Refunded(at time.Time) error {
	if o.Status != OrderRefunding {
		return illegal("order", o.OrderNo, o.Status, "be refunded")
	}
	o.Status, o.UpdatedAt = OrderRefunded, at
	return nil
}

// Reverse records a partner taking its paid payment back (冲正).
func (o *Order) Reverse(at time.Time) error {
	if o.Status != OrderPaid {
		return illegal("order", o.OrderNo, o.Status, "be reversed")
	}
	o.Status, o.ClosedAt, o.UpdatedAt = OrderReversed, &at, at
	return nil
}

// leavePending ends the credit's claim on its account (ux_credits_pending).
func (c *Credit) leavePending(to CreditStatus, at time.Time) {
	c.Status, c.PendingAccountID, c.UpdatedAt = to, nil, at
}

func (c *Credit) pending(move string) error {
	if c.Status != CreditPending {
		return illegal("credit", fmt.Sprint(c.ID), c.Status, move)
	}
	return nil
}

// InDoubt reports whether a delivery of the pending credit was attempted
// with an outcome not yet proven: the gas may be on its way. The rule of
// who may cancel is recharge.InDoubt's; this is only its fact.
func (c *Credit) InDoubt() bool { return c.Status == CreditPending && c.Attempts > 0 }

// Deliver records that the credit reached the meter.
func (c *Credit) Deliver(at time.Time) error {
	if err := c.pending("be delivered"); err != nil {
		return err
	}
	c.leavePending(CreditDelivered, at)
	c.DeliveredAt = &at
	return nil
}

// Cancel undoes a credit that never reached the meter: its sequence is
// freed, since the meter never saw it. recharge.cancelCredit is the only
// caller; it asks recharge.InDoubt first.
func (c *Credit) Cancel(at time.Time) error {
	if err := c.pending("be cancelled"); err != nil {
		return err
	}
	c.leavePending(CreditCancelled, at)
	c.Seq = nil
	return nil
}

// Attempt records that a delivery of the credit is leaving (a card write
// issued, a command handed to the meter platform): from here it is in
// doubt. seq, when not nil, is the purchase sequence the attempt carries.
func (c *Credit) Attempt(seq *int, at time.Time) error {
	if err := c.pending("be attempted"); err != nil {
		return err
	}
	if seq != nil {
		s := *seq
		c.Seq = &s
	}
	c.Attempts++
	c.LastAttemptAt, c.UpdatedAt = &at, at
	return nil
}

// ClearDoubt records that no attempt of the credit can reach the meter any
// more. Only the delivery paths that prove it call it
// (cards.settleNotLanded, iot.settleUnapplied).
func (c *Credit) ClearDoubt(at time.Time) error {
	if err := c.pending("leave doubt"); err != nil {
		return err
	}
	c.Attempts, c.UpdatedAt = 0, at
	return nil
}

// Final reports whether the refund is over.
func (s RefundStatus) Final() bool { return s == RefundSucceeded || s == RefundFailed }

// Record takes the provider's answer about the refund: a refund not final
// moves on; a final one never moves again. Pending again means the
// provider does not have it: it is submitted again, with the same number.
func (r *Refund) Record(status RefundStatus, providerRefundID string, at time.Time) error {
	if r.Status.Final() || (r.Status == RefundProcessing && status == RefundProcessing) {
		return illegal("refund", r.RefundNo, r.Status, "become "+string(status))
	}
	r.Status, r.UpdatedAt = status, at
	if providerRefundID != "" {
		r.ProviderRefundID = &providerRefundID
	}
	if status == RefundSucceeded {
		r.SucceededAt = &at
	}
	return nil
}

// Touch records that the refund was just followed up, so the janitor
// waits before the next try.
func (r *Refund) Touch(at time.Time) error {
	if r.Status.Final() {
		return illegal("refund", r.RefundNo, r.Status, "be followed up")
	}
	r.UpdatedAt = at
	return nil
}

func (c *CodePayment) in(state CodeState, move string) error {
	if c.State != state {
		return illegal("code payment of", c.OrderNo, c.State, move)
	}
	return nil
}

// Polled records a query that found the code not yet paid; next is when
// to ask again.
func (c *CodePayment) Polled(next, at time.Time) error {
	if err := c.in(CodePaying, "be polled"); err != nil {
		return err
	}
	c.Polls++
	c.NextAt, c.UpdatedAt = next, at
	return nil
}

// StartReverse moves the loop to reversing (reason: timeout or refused).
func (c *CodePayment) StartReverse(reason string, at time.Time) error {
	if err := c.in(CodePaying, "start reversing"); err != nil {
		return err
	}
	c.State, c.Reason, c.NextAt, c.UpdatedAt = CodeReversing, reason, at, at
	return nil
}

// ReverseAgain records a reversal the provider did not confirm yet.
func (c *CodePayment) ReverseAgain(next, at time.Time) error {
	if err := c.in(CodeReversing, "reverse again"); err != nil {
		return err
	}
	c.Reverses++
	c.NextAt, c.UpdatedAt = next, at
	return nil
}

// Finish ends the loop in a final state.
func (c *CodePayment) Finish(state CodeState, at time.Time) error {
	if c.State.Final() {
		return illegal("code payment of", c.OrderNo, c.State, "finish again")
	}
	if !state.Final() {
		return fmt.Errorf("%w: %s is not a final code state", ErrTransition, state)
	}
	c.State, c.FinishedAt, c.UpdatedAt = state, &at, at
	return nil
}

// Note keeps the last provider error of the loop, for staff.
func (c *CodePayment) Note(msg string) {
	if len(msg) > 255 {
		msg = msg[:255]
	}
	c.LastError = msg
}
