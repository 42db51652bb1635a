package cards

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"gaspay/bleproxy"
	"gaspay/models"
)

// What card reads and write results prove, recorded in the ledgers, each
// under the account's lock: deliveries, adopted sequences, and the one
// place a card credit leaves doubt undelivered (settleNotLanded). And the
// boxes' HELLO counters, in the database.

// settleRead records what a genuine read proves, under the account lock: a
// purchase found on the card is delivered; a sequence the server did not
// know is adopted (an imported card's first read, or a purchase written at
// the service hall), unless it is a purchase the server wrote and then
// refunded, which raises an alert; a card still at the sequence before a
// purchase whose write was attempted is handed to settleNotLanded.
func (d *Desk) settleRead(ctx context.Context, cr models.CardRead, seq int, credit int64, delivered bool, readAt time.Time) (readOutcome, models.WrittenPurchase, error) {
	now := d.now().UTC()
	var out readOutcome
	var gone models.WrittenPurchase
	err := d.store.Tx(ctx, func(tx *models.Store) error {
		out, gone = readNothing, models.WrittenPurchase{}
		if _, err := tx.LockAccount(ctx, cr.AccountID); err != nil {
			return err
		}
		card, err := tx.LockCard(ctx, cr.Serial)
		if err != nil {
			return err
		}
		before := card.LastWrittenSeq
		if before == nil || *before < seq {
			if _, err := tx.SetCardSeq(ctx, card.ID, before, seq, now); err != nil {
				return err
			}
			out = readAdopted
			if !delivered {
				w, err := tx.WriteOf(ctx, cr.AccountID, seq, credit)
				switch {
				case err == nil && w.CreditStatus == models.CreditCancelled:
					out, gone = readRefundedOnCard, w
					return d.refundedOnCard(ctx, tx, w, "a read", now)
				case err != nil && !errors.Is(err, models.ErrNotFound):
					return err
				}
			}
		}
		switch {
		case cr.CreditID == nil:
			return nil
		case delivered:
			out = readDelivered
			if err := deliver(ctx, tx, *cr.CreditID, now); err != nil {
				return err
			}
			return tx.ResolveCardWrites(ctx, *cr.CreditID, models.WriteResultOnCard, now)
		case before != nil && *before == seq && cr.CreditTries != nil && *cr.CreditTries > 0:
			landed, err := settleNotLanded(ctx, tx, *cr.CreditID, readAt, now)
			out = readNotLanded
			if !landed {
				out = readInDoubt
			}
			return err
		}
		return nil
	})
	return out, gone, err
}

// settleNotLanded is the one place where a card credit leaves doubt without
// being delivered. A genuine read has just shown its card still at the
// sequence before the purchase; that proves the purchase never landed only
// if no write of it can still be executed, so the credit stays in doubt
// while any of its writes is live. Otherwise its writes are closed and its
// attempts cleared: it may be written again, and refunded or reversed.
// readAt is when that read was asked for (the READ_CARD's seal time): the
// card was read no earlier, and a phone may relay the CARD much later, so
// the writes must have been dead already then.
// Call it under the account lock; it reports whether it cleared the doubt.
func settleNotLanded(ctx context.Context, tx *models.Store, creditID int64, readAt, now time.Time) (bool, error) {
	ws, err := tx.OpenCardWrites(ctx, creditID)
	if err != nil {
		return false, err
	}
	for _, w := range ws {
		if writeLive(w, readAt) {
			return false, nil
		}
	}
	for _, w := range ws {
		if err := tx.ResolveCardWrite(ctx, w.WriteID, models.WriteResultNotLanded, now); err != nil {
			return false, err
		}
	}
	_, err = tx.UpdateCredit(ctx, creditID, func(c *models.Credit) error { return c.ClearDoubt(now) })
	if errors.Is(err, models.ErrTransition) {
		// No longer pending: delivered or cancelled, so not in doubt.
		err = nil
	}
	return err == nil, err
}

// deliver records a card credit delivered; one already delivered (or
// cancelled: the caller's second line of defence alerts) stays as it is.
func deliver(ctx context.Context, tx *models.Store, creditID int64, now time.Time) error {
	_, err := tx.UpdateCredit(ctx, creditID, func(c *models.Credit) error { return c.Deliver(now) })
	if errors.Is(err, models.ErrTransition) {
		return nil
	}
	return err
}

// refundedOnCard is the second line of defence: a card shows, or a box
// reports, a purchase whose money went back. The ledger keeps saying what it
// says (the order refunded or reversed, its credit cancelled); staff are
// alerted that gas was loaded for money returned.
func (d *Desk) refundedOnCard(ctx context.Context, tx *models.Store, w models.WrittenPurchase, how string, now time.Time) error {
	if err := tx.ResolveCardWrite(ctx, w.WriteID, models.WriteResultOnCard, now); err != nil {
		return err
	}
	d.log.ErrorContext(ctx, "gas written for a refunded purchase", slog.String("order_no", w.OrderNo),
		slog.String("order_status", string(w.OrderStatus)), slog.Int("seq", w.Seq), slog.String("box_id", w.BoxID))
	return tx.AddAlert(ctx, AlertGasForRefund, w.OrderNo, fmt.Sprintf(
		"%s 显示第 %d 次购气（%d，写卡 %s，充值宝 %s）已在卡上，但订单状态为 %s：已退款的订单写入了气量",
		how, w.Seq, w.Amount, w.WriteID, w.BoxID, w.OrderStatus), now)
}

// AlertGasForRefund is the alert kind of a purchase found on a card after
// its money went back.
const AlertGasForRefund = "gas_for_refunded_order"

// ledger is the boxes' HELLO counters, in the database.
type ledger struct{ d *Desk }

func (l ledger) HelloCounter(ctx context.Context, id bleproxy.BoxID) (uint32, error) {
	b, err := l.d.store.BoxByID(ctx, strings.ToUpper(id.String()))
	if errors.Is(err, models.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if b.Blocked {
		l.d.rec.Add(ctx, models.BoxEvent{BoxID: b.BoxID, Kind: "hello_refused", Detail: "box blocked", CreatedAt: l.d.now().UTC()})
		return 0, ErrBoxBlocked
	}
	return uint32(b.HelloCounter), nil
}

func (l ledger) AdvanceHello(ctx context.Context, id bleproxy.BoxID, counter uint32) (bool, error) {
	return l.d.store.AdvanceHello(ctx, strings.ToUpper(id.String()), int64(counter), l.d.now().UTC())
}
