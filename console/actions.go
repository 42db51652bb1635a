package console

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"gaspay/iot"
	"gaspay/models"
	"gaspay/recharge"
	"gaspay/staff"
)

// RefundOutcome is what a refund request did: a refund started, an
// approval to wait for, or the cancel of an IoT credit already sent.
type RefundOutcome struct {
	Refund   *models.Refund
	Approval *models.Approval
	// Cancel: the credit was sent to an IoT meter, so it may still land.
	// It is being cancelled at the platform; the refund completes by
	// itself once a later report proves the sequence not applied (iot,
	// recharge.InDoubt), and never if the meter applies it.
	Cancel *iot.RefundRequest
}

// RequestRefund refunds a paid, undelivered order (the rules are
// recharge.RefundOrder's; an IoT credit already sent is cancelled first,
// see RefundOutcome.Cancel). A refund above the approval threshold is not
// made: it waits for a second member of staff (Approve), whichever path it
// then takes.
// Errors: ErrNotFound, ErrApprovalPending, and RefundOrder's.
func (s *Service) RequestRefund(ctx context.Context, by staff.Actor, orderNo, reason string) (RefundOutcome, error) {
	o, err := s.store.Order(ctx, orderNo)
	if errors.Is(err, models.ErrNotFound) {
		return RefundOutcome{}, ErrNotFound
	}
	if err != nil {
		return RefundOutcome{}, err
	}
	if int64(o.PayableFen) <= s.cfg.ApprovalFen {
		r, err := s.refund(ctx, by, orderNo, reason, nil)
		if errors.Is(err, recharge.ErrDeliveryInDoubt) {
			return s.cancelIoT(ctx, by, orderNo, reason, nil)
		}
		return RefundOutcome{Refund: &r}, err
	}
	// Checked now so that nobody is asked to approve what cannot be
	// refunded; the refund itself checks again under the locks.
	if o.Status != models.OrderPaid || o.Channel == models.ChannelPartner {
		return RefundOutcome{}, recharge.ErrNotRefundable
	}
	now := s.now().UTC()
	a := models.Approval{Kind: "refund", OrderNo: orderNo, AmountFen: int64(o.PayableFen), Reason: reason, RequestedBy: by.Name,
		Status: models.ApprovalPending, PendingOrderNo: &orderNo, CreatedAt: now}
	err = s.store.Tx(ctx, func(tx *models.Store) error {
		if err := tx.CreateApproval(ctx, &a); err != nil {
			return err
		}
		return by.Audit(ctx, tx, now, "refund.request", "order:"+orderNo, map[string]any{"status": o.Status},
			map[string]any{"approval_id": a.ID, "amount_fen": a.AmountFen, "status": "awaiting_approval"}, reason)
	})
	if errors.Is(err, models.ErrDuplicate) {
		return RefundOutcome{}, ErrApprovalPending
	}
	if err != nil {
		return RefundOutcome{}, err
	}
	return RefundOutcome{Approval: &a}, nil
}

// refund runs the refund with its audit entry (and, for an approval, the
// approval's decision) in the refund's own transaction.
func (s *Service) refund(ctx context.Context, by staff.Actor, orderNo, reason string, approval *models.Approval) (models.Refund, error) {
	return s.recharge.RefundOrderWith(ctx, orderNo, reason, by.Name, func(tx *models.Store, o models.Order, r models.Refund) error {
		now := s.now().UTC()
		action, note := "refund", reason
		if approval != nil {
			a, err := tx.LockApproval(ctx, approval.ID)
			if err != nil {
				return err
			}
			if a.Status != models.ApprovalPending {
				return ErrAlreadyDecided
			}
			if a.RequestedBy == by.Name {
				return ErrOwnApproval
			}
			if ok, err := tx.DecideApproval(ctx, a.ID, models.ApprovalApproved, by.Name, now); err != nil || !ok {
				return errors.Join(err, ErrAlreadyDecided)
			}
			action, note = "refund.approve", fmt.Sprintf("approval %d requested by %s: %s", a.ID, a.RequestedBy, a.Reason)
		}
		return by.Audit(ctx, tx, now, action, "order:"+orderNo, map[string]any{"status": o.Status},
			map[string]any{"status": models.OrderRefunding, "refund_no": r.RefundNo, "amount_fen": int64(r.AmountFen)}, note)
	})
}

// Approve approves a pending refund requested by someone else, and makes
// it by the same rules as any refund: an IoT credit sent since (or before)
// the request is not refunded now but cancelled, and refunded once proven
// unapplied (RefundOutcome.Cancel).
// Errors: ErrNotFound, ErrOwnApproval, ErrAlreadyDecided, and
// RefundOrder's (the order may have moved since the request).
func (s *Service) Approve(ctx context.Context, by staff.Actor, id int64) (RefundOutcome, error) {
	a, err := s.approval(ctx, id, by)
	if err != nil {
		return RefundOutcome{}, err
	}
	r, err := s.refund(ctx, by, a.OrderNo, a.Reason, &a)
	if errors.Is(err, recharge.ErrDeliveryInDoubt) {
		return s.cancelIoT(ctx, by, a.OrderNo, a.Reason, &a)
	}
	if err != nil {
		return RefundOutcome{}, err
	}
	return RefundOutcome{Refund: &r}, nil
}

// cancelIoT is the refund of a credit in doubt: for an IoT credit, the
// cancel that iot.RequestRefund makes (the money follows the proof, never
// before); a card credit in doubt stays ErrDeliveryInDoubt (the next card
// read settles it). With an approval, the approval is decided with the
// audit entry once the cancel is recorded.
func (s *Service) cancelIoT(ctx context.Context, by staff.Actor, orderNo, reason string, approval *models.Approval) (RefundOutcome, error) {
	if s.cfg.IoT == nil {
		return RefundOutcome{}, recharge.ErrDeliveryInDoubt
	}
	rr, err := s.cfg.IoT.RequestRefund(ctx, orderNo, reason, by.Name)
	if errors.Is(err, iot.ErrNotIoT) {
		return RefundOutcome{}, recharge.ErrDeliveryInDoubt
	}
	if err != nil {
		return RefundOutcome{}, err
	}
	now := s.now().UTC()
	err = s.store.Tx(ctx, func(tx *models.Store) error {
		action, note := "refund", reason
		if approval != nil {
			a, err := tx.LockApproval(ctx, approval.ID)
			if err != nil {
				return err
			}
			if a.Status != models.ApprovalPending {
				return ErrAlreadyDecided
			}
			if ok, err := tx.DecideApproval(ctx, a.ID, models.ApprovalApproved, by.Name, now); err != nil || !ok {
				return errors.Join(err, ErrAlreadyDecided)
			}
			action, note = "refund.approve", fmt.Sprintf("approval %d requested by %s: %s", a.ID, a.RequestedBy, a.Reason)
		}
		return by.Audit(ctx, tx, now, action, "order:"+orderNo, map[string]any{"status": models.OrderPaid, "delivery_state": rr.State},
			map[string]any{"status": "cancel_requested", "valid_until": rr.ValidUntil}, note)
	})
	if err != nil {
		return RefundOutcome{}, err
	}
	return RefundOutcome{Cancel: &rr}, nil
}

// Reject turns down a pending refund; the order stays as it is.
// Errors: ErrNotFound, ErrOwnApproval (the requester withdraws nothing
// this way), ErrAlreadyDecided.
func (s *Service) Reject(ctx context.Context, by staff.Actor, id int64, note string) error {
	a, err := s.approval(ctx, id, by)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	return s.store.Tx(ctx, func(tx *models.Store) error {
		ok, err := tx.DecideApproval(ctx, a.ID, models.ApprovalRejected, by.Name, now)
		if err != nil {
			return err
		}
		if !ok {
			return ErrAlreadyDecided
		}
		return by.Audit(ctx, tx, now, "refund.reject", "order:"+a.OrderNo, map[string]any{"approval": "pending"},
			map[string]any{"approval": "rejected"}, note)
	})
}

func (s *Service) approval(ctx context.Context, id int64, by staff.Actor) (models.Approval, error) {
	var a models.Approval
	err := s.store.Tx(ctx, func(tx *models.Store) error {
		var err error
		a, err = tx.LockApproval(ctx, id)
		return err
	})
	switch {
	case errors.Is(err, models.ErrNotFound):
		return a, ErrNotFound
	case err != nil:
		return a, err
	case a.Status != models.ApprovalPending:
		return a, ErrAlreadyDecided
	case a.RequestedBy == by.Name:
		return a, ErrOwnApproval
	}
	return a, nil
}

// Approvals lists approvals, pending ones unless all.
func (s *Service) Approvals(ctx context.Context, all bool) ([]models.Approval, error) {
	return s.store.Approvals(ctx, !all, 100)
}

// ResolveAlert closes an open alert with a note saying what was done.
// Errors: ErrNotFound.
func (s *Service) ResolveAlert(ctx context.Context, by staff.Actor, id int64, note string) (models.Alert, error) {
	now := s.now().UTC()
	var a models.Alert
	err := s.store.Tx(ctx, func(tx *models.Store) error {
		var err error
		if a, err = tx.ResolveAlert(ctx, id, by.Name, note, now); err != nil {
			return err
		}
		return by.Audit(ctx, tx, now, "alert.resolve", "alert:"+strconv.FormatInt(id, 10), map[string]any{"resolved": false},
			map[string]any{"resolved": true, "kind": a.Kind}, note)
	})
	if errors.Is(err, models.ErrNotFound) {
		return a, ErrNotFound
	}
	return a, err
}

// onAccount runs fn on a locked account and audits what it changed.
func (s *Service) onAccount(ctx context.Context, by staff.Actor, accountID int64, action, note string, fn func(tx *models.Store, a models.Account) (before, after any, err error)) error {
	now := s.now().UTC()
	err := s.store.Tx(ctx, func(tx *models.Store) error {
		a, err := tx.LockAccount(ctx, accountID)
		if err != nil {
			return err
		}
		before, after, err := fn(tx, a)
		if err != nil {
			return err
		}
		return by.Audit(ctx, tx, now, action, "account:"+a.UserNumber, before, after, note)
	})
	if errors.Is(err, models.ErrNotFound) {
		return ErrNotFound
	}
	return err
}

// SetAccountStatus suspends (停用) or reactivates (启用) an account.
// Errors: ErrNotFound, ErrInvalid.
func (s *Service) SetAccountStatus(ctx context.Context, by staff.Actor, accountID int64, status models.AccountStatus, note string) error {
	if status != models.AccountActive && status != models.AccountSuspended {
		return ErrInvalid
	}
	return s.onAccount(ctx, by, accountID, "account.status", note, func(tx *models.Store, a models.Account) (any, any, error) {
		err := tx.UpdateAccount(ctx, a.ID, map[string]any{"status": status, "updated_at": s.now().UTC()})
		return map[string]any{"status": a.Status}, map[string]any{"status": status}, err
	})
}

// Correction is a change to an account's contact details; nil fields stay.
type Correction struct {
	Phone   *string
	Address *string
}

// CorrectAccount corrects an account's phone or address.
// Errors: ErrNotFound, ErrInvalid (nothing to change).
func (s *Service) CorrectAccount(ctx context.Context, by staff.Actor, accountID int64, c Correction, note string) error {
	if c.Phone == nil && c.Address == nil {
		return ErrInvalid
	}
	return s.onAccount(ctx, by, accountID, "account.correct", note, func(tx *models.Store, a models.Account) (any, any, error) {
		set, before, after := map[string]any{"updated_at": s.now().UTC()}, map[string]any{}, map[string]any{}
		if c.Phone != nil {
			set["phone"], before["phone"], after["phone"] = *c.Phone, a.Phone, *c.Phone
		}
		if c.Address != nil {
			set["address"], before["address"], after["address"] = *c.Address, a.Address, *c.Address
		}
		return before, after, tx.UpdateAccount(ctx, a.ID, set)
	})
}

// ReplaceCard (补卡) reports the account's current card lost and registers
// its replacement: the old card is refused from then on, and the new one
// continues the purchase sequence.
// Errors: ErrNotFound, ErrNoCard, ErrSerialTaken.
func (s *Service) ReplaceCard(ctx context.Context, by staff.Actor, accountID int64, serial, note string) (models.Card, error) {
	var repl models.Card
	err := s.onAccount(ctx, by, accountID, "card.replace", note, func(tx *models.Store, a models.Account) (any, any, error) {
		old, r, err := tx.ReplaceCard(ctx, a.ID, serial, s.now().UTC())
		switch {
		case errors.Is(err, models.ErrNotFound):
			return nil, nil, ErrNoCard
		case errors.Is(err, models.ErrDuplicate):
			return nil, nil, ErrSerialTaken
		case err != nil:
			return nil, nil, err
		}
		repl = r
		return map[string]any{"card": old.Serial, "status": "current", "seq": old.LastWrittenSeq},
			map[string]any{"card": r.Serial, "old_card": "lost", "seq": r.LastWrittenSeq}, nil
	})
	return repl, err
}

// Unbind removes a WeChat user's binding of an account, at the customer's
// request at the counter.
// Errors: ErrNotFound.
func (s *Service) Unbind(ctx context.Context, by staff.Actor, accountID, bindingID int64, note string) error {
	return s.onAccount(ctx, by, accountID, "binding.remove", note, func(tx *models.Store, a models.Account) (any, any, error) {
		b, err := tx.UnbindAccount(ctx, a.ID, bindingID)
		return map[string]any{"binding_id": b.ID, "user_id": b.UserID}, nil, err
	})
}
