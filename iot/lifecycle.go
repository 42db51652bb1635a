package iot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"gaspay/models"
)

// State is where an IoT delivery is.
type State string

// Delivery states: queued → sent (the platform accepted a copy) →
// delivered (the device acknowledged one) → applied (an authenticated
// report shows the sequence applied). expired: every copy's TTL passed
// undelivered, so a new copy with the same sequence goes out; rejected: the
// meter answered with another state; cancelled: the credit was refunded
// (queued, or proven dead after sending).
const (
	Queued    State = "queued"
	Sent      State = "sent"
	Delivered State = "delivered"
	Applied   State = "applied"
	Expired   State = "expired"
	Rejected  State = "rejected"
	Cancelled State = "cancelled"
)

// Open reports whether the delivery is not over.
func (s State) Open() bool { return s != Applied && s != Cancelled }

var openStates = []State{Queued, Sent, Delivered, Expired, Rejected}

// ErrIllegalMove: the delivery is not in a state the move may leave.
var ErrIllegalMove = errors.New("iot: illegal delivery move")

// A move is one step of the delivery's lifecycle: the states it may leave,
// the state it enters ("" when it stays), and what it records. Every
// change of a delivery is one of the moves below, applied as one
// conditional update (models.Store.ChangeIoTDelivery: "while the state is
// one of from"), so that a move that lost a race to another changes
// nothing. The whole lifecycle:
//
//	platformAccepted   queued, expired               → sent
//	deviceAcked        queued, sent, expired          → delivered
//	platformDropped    sent                           → expired (resent, same sequence)
//	meterApplied       any open                       → applied
//	meterExpired       any open                       → expired (resent, same sequence)
//	meterRejected      any open                       → rejected
//	provenUnapplied    any open                       → cancelled (the refund's proof)
//	creditGone         the state it was read in       → cancelled, or applied
//
// and, keeping the state: copySealed (a copy leaves), resendNow (staff
// want the next copy now), refundAsked, cancelConfirmed, meterBehind,
// unappliedAlerted.
type move struct {
	from []State
	to   State
	set  models.IoTDeliveryChange
}

// may reports whether a delivery in state s may make move m (checked
// under the delivery's lock; the store checks it again as it writes).
func (s State) may(m move) error {
	if !slices.Contains(m.from, s) {
		return ErrIllegalMove
	}
	return nil
}

// apply writes m to delivery id; false when the delivery had left m.from.
func (m move) apply(ctx context.Context, tx *models.Store, id int64) (bool, error) {
	return tx.ChangeIoTDelivery(ctx, id, names(m.from), m.change())
}

// applyAll writes moves[i] to delivery ids[i], all in one statement. The
// deliveries are locked and each was checked for its move, so every one
// must land; if one does not, nothing does.
func applyAll(ctx context.Context, tx *models.Store, ids []int64, moves []move) error {
	ms := make([]models.IoTDeliveryMove, len(moves))
	for i, m := range moves {
		ms[i] = models.IoTDeliveryMove{ID: ids[i], From: names(m.from), Change: m.change()}
	}
	n, err := tx.ChangeIoTDeliveries(ctx, ms)
	if err == nil && n != len(ms) {
		err = fmt.Errorf("%w: %d of %d locked deliveries moved", ErrIllegalMove, n, len(ms))
	}
	return err
}

// change is what m writes, its new state included.
func (m move) change() models.IoTDeliveryChange {
	set := m.set
	if m.to != "" {
		to := string(m.to)
		set.State = &to
	}
	return set
}

func names(states []State) []string {
	out := make([]string, len(states))
	for i, s := range states {
		out[i] = string(s)
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// copySealed: a copy leaves for the platform. The delivery counts it,
// keeps the latest not_after of its copies, and waits backoff before the
// next copy.
func copySealed(cur Delivery, notAfter, next, now time.Time) move {
	valid := notAfter
	if cur.ValidUntil != nil && cur.ValidUntil.After(valid) {
		valid = *cur.ValidUntil
	}
	return move{from: []State{cur.State}, set: models.IoTDeliveryChange{Copies: ptr(cur.Copies + 1), ValidUntil: &valid,
		NextAt: &next, At: now}}
}

// resendNow: staff asked for the next copy now instead of after the
// backoff (Resend).
func resendNow(cur Delivery, now time.Time) move {
	return move{from: []State{cur.State}, set: models.IoTDeliveryChange{NextAt: &now, At: now}}
}

// creditGone: the credit left pending some other way (refunded while
// queued, or delivered): the delivery is over.
func creditGone(cur Delivery, status models.CreditStatus, now time.Time) move {
	to := Cancelled
	if status == models.CreditDelivered {
		to = Applied
	}
	return move{from: []State{cur.State}, to: to, set: models.IoTDeliveryChange{At: now}}
}

// platformAccepted: the platform cached a copy; it is asked about again
// at followAt.
func platformAccepted(at, followAt time.Time) move {
	return move{from: []State{Queued, Expired}, to: Sent, set: models.IoTDeliveryChange{SentAt: &at, NextAt: &followAt, At: at}}
}

// deviceAcked: the platform says the device acknowledged a copy.
func deviceAcked(at time.Time) move {
	return move{from: []State{Sent, Queued, Expired}, to: Delivered, set: models.IoTDeliveryChange{DeliveredAt: &at, At: at}}
}

// platformDropped: every copy is gone at the platform undelivered; another
// copy, same sequence, goes out now.
func platformDropped(at time.Time) move {
	return move{from: []State{Sent}, to: Expired, set: models.IoTDeliveryChange{Reason: ptr("expired_at_platform"), NextAt: &at, At: at}}
}

// meterApplied: an authenticated report shows the sequence applied.
func meterApplied(at time.Time) move {
	return move{from: openStates, to: Applied, set: models.IoTDeliveryChange{AppliedAt: &at, At: at}}
}

// meterExpired: the meter answered that its clock passed the copy's
// not_after; a fresh copy, same sequence, goes out now.
func meterExpired(at time.Time) move {
	return move{from: openStates, to: Expired, set: models.IoTDeliveryChange{Reason: ptr("expired_on_meter"), NextAt: &at, At: at}}
}

// meterRejected: the meter answered the sequence with another state
// (out_of_sequence, refused_by_meter); staff reconcile.
func meterRejected(why string, at time.Time) move {
	return move{from: openStates, to: Rejected, set: models.IoTDeliveryChange{Reason: &why, At: at}}
}

// provenUnapplied: the meter's own report proves no copy can ever land;
// the refund staff asked for completes.
func provenUnapplied(at time.Time) move {
	return move{from: openStates, to: Cancelled, set: models.IoTDeliveryChange{Reason: ptr("proven_unapplied"), At: at}}
}

// refundAsked: staff asked for a refund once the delivery is proven dead.
func refundAsked(by, reason string, at time.Time) move {
	return move{from: openStates, set: models.IoTDeliveryChange{CancelRequestedAt: &at, CancelBy: &by, CancelReason: &reason, At: at}}
}

// cancelConfirmed: the platform can deliver no copy any more.
func cancelConfirmed(at time.Time) move {
	return move{from: openStates, set: models.IoTDeliveryChange{CancelConfirmedAt: &at, At: at}}
}

// meterBehind: the meter has not applied the purchase before this one.
func meterBehind(at time.Time) move {
	return move{from: openStates, set: models.IoTDeliveryChange{Reason: ptr("meter_behind"), At: at}}
}

// unappliedAlerted: staff were told the credit is unapplied for too long.
func unappliedAlerted(at time.Time) move {
	return move{from: openStates, set: models.IoTDeliveryChange{UnappliedAlertedAt: &at}}
}
