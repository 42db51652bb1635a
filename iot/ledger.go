package iot

import (
	"context"
	"errors"
	"time"

	"gaspay/models"
)

// This file is the IoT delivery's whole use of the ledger: the credit is
// touched at three moments only, each under its account's lock, through
// the ledger's own conditional updates. Everything else about an IoT
// delivery lives in the iot_* tables.
//
//  1. attemptAll: copies are about to leave for the platform. From here the
//     credit is in doubt (recharge.InDoubt) and cannot be cancelled.
//  2. deliver: an authenticated report shows the sequence applied.
//  3. settleUnapplied: the meter's own report proves that no copy can ever
//     land (docs/meter-protocol.md, "Proving a recharge dead"): the one
//     place an IoT credit leaves doubt without being delivered, as
//     cards.settleNotLanded is for cards. The refund itself then goes
//     through recharge.RefundOrder, whose cancelCredit asks InDoubt.

// attemptAll counts a delivery attempt on each pending credit of ids (one
// locking read, one write) and says which were still pending.
func attemptAll(ctx context.Context, tx *models.Store, ids []int64, now time.Time) (map[int64]bool, error) {
	cs, errs, err := tx.UpdateCredits(ctx, ids, func(c *models.Credit) error { return c.Attempt(nil, now) })
	if err != nil {
		return nil, err
	}
	pending := make(map[int64]bool, len(cs))
	for i, c := range cs {
		switch {
		case errs[i] == nil:
			pending[c.ID] = true
		case !errors.Is(errs[i], models.ErrTransition):
			return nil, errs[i]
		}
	}
	return pending, nil
}

// deliver marks a pending credit delivered; false when it was not pending
// (delivered already, or cancelled: the caller alerts).
func deliver(ctx context.Context, tx *models.Store, creditID int64, now time.Time) (bool, error) {
	return moved(tx.UpdateCredit(ctx, creditID, func(c *models.Credit) error { return c.Deliver(now) }))
}

// moved reports whether a transition happened: false, without an error,
// when the credit was no longer pending.
func moved(_ models.Credit, err error) (bool, error) {
	if errors.Is(err, models.ErrTransition) {
		return false, nil
	}
	return err == nil, err
}

// settleUnapplied takes an IoT credit out of doubt once proven dead, and
// closes its delivery. Call it under the account lock, with the proof.
func settleUnapplied(ctx context.Context, tx *models.Store, d Delivery, now time.Time) error {
	ok, err := moved(tx.UpdateCredit(ctx, d.CreditID, func(c *models.Credit) error { return c.ClearDoubt(now) }))
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("iot: credit no longer pending")
	}
	_, err = provenUnapplied(now).apply(ctx, tx, d.ID)
	return err
}
