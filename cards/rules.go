package cards

import (
	"fmt"
	"strings"
	"time"

	"gaspay/bleproxy"
	"gaspay/customer"
	"gaspay/models"
)

// The card rules (spec/box-protocol.md): a genuine card read and what the
// server knows of its account in, a decision out. Nothing here reads or
// writes the database; rules_test.go tables them. The desk (desk.go) runs
// them, and ledger.go records what a read proves.

func cardUnit(t bleproxy.CardType) (models.CardType, models.Unit) {
	if t == bleproxy.CardVolume {
		return models.CardVolume, models.UnitCentiM3
	}
	return models.CardAmount, models.UnitFen
}

// serialText is a card serial as the register stores it.
func serialText(s bleproxy.CardSerial) string { return strings.ToUpper(s.String()) }

// noCard answers a read that found no card, or none readable, with the
// record's kind and detail; nil when a card image came.
func noCard(status bleproxy.CardStatus) (v *CardView, kind, detail string) {
	switch status {
	case bleproxy.CardAbsent:
		return &CardView{Event: "card", Card: "absent", Reason: &Reason{"no_card", "Insert the gas card into the recharge box."}},
			"card_absent", "no card in the box"
	case bleproxy.CardUnreadable:
		return &CardView{Event: "card", Card: "unreadable", Reason: &Reason{"card_unreadable", "The card could not be read; clean it, insert it again, or visit the service hall."}},
			"card_unreadable", "card unreadable"
	}
	return nil, "", ""
}

func refused(code, msg string) *CardView {
	return &CardView{Event: "card", Card: "present", Refusal: &Reason{code, msg}}
}

// readVerdict is what the rules make of a genuine card read.
type readVerdict struct {
	// refusal, when not nil, refuses the card: nothing else holds.
	refusal *Reason
	// cardType and unit are the card's, by its image.
	cardType models.CardType
	unit     models.Unit
	// seq is the card's purchase sequence.
	seq int
	// delivered: the account's undelivered purchase is on the card.
	delivered bool
	// settle: the read proves something the ledger must record
	// (Desk.settleRead): a delivery, a sequence the server did not know,
	// or where a purchase whose write was attempted stands.
	settle bool
}

// judgeRead applies the card rules to a genuine image img of a card the
// register has as cr (unknown: it has none). atKiosk: the kiosk's reader,
// where any customer's card is read without a binding.
func judgeRead(img bleproxy.CardImage, cr models.CardRead, unknown, atKiosk bool) readVerdict {
	v := readVerdict{seq: int(img.Seq)}
	v.cardType, v.unit = cardUnit(img.CardType)
	refuse := func(code, msg string) readVerdict { return readVerdict{refusal: &Reason{code, msg}} }
	switch {
	case unknown:
		return refuse("card_unknown", "This card is not registered with us. Visit the service hall.")
	case cr.Status == models.CardLost:
		return refuse("card_lost", "This card was reported lost or replaced and can no longer be used. Use your current card.")
	case !cr.Bound && !atKiosk:
		return refuse("card_not_bound", "Bind this card's account (user number and holder name) before reading it.")
	case cr.AccountKind != models.KindICCard || !img.HasUserNumber(cr.UserNumber) || cr.Type != v.cardType:
		return refuse("card_mismatch", "This card does not match its account's records. Visit the service hall.")
	}
	pending, hasPending := cr.PendingCredit()
	v.delivered = cr.CreditID != nil && cr.CreditSeq != nil && *cr.CreditSeq == v.seq &&
		hasPending && pending == v.unit.Of(int64(img.Credit))
	last := cr.LastWrittenSeq
	if !v.delivered && last != nil && v.seq < *last {
		return refuse("card_stale", fmt.Sprintf("This card is older than the last purchase written to its account (purchase %d). Use your latest card.", *last))
	}
	attempted := cr.CreditTries != nil && *cr.CreditTries > 0
	v.settle = v.delivered || last == nil || v.seq > *last || (attempted && v.seq == *last)
	return v
}

// readOutcome is what a genuine read proved.
type readOutcome int

const (
	readNothing        readOutcome = iota
	readDelivered                  // the pending purchase is on the card
	readAdopted                    // a sequence the server did not know
	readRefundedOnCard             // a purchase whose money went back is on the card
	readInDoubt                    // the card is before the purchase, but a write of it is live
	readNotLanded                  // the card is before the purchase, and no write of it can land
)

// cardView is what the customer is shown after a genuine read the rules
// accepted (r), once its proof is recorded (out, and gone: the refunded
// purchase found on the card, if that is what it proved).
func cardView(img bleproxy.CardImage, cr models.CardRead, serial string, r readVerdict, out readOutcome, gone models.WrittenPurchase) *CardView {
	v := &CardView{Event: "card", Card: "present", AccountID: cr.AccountID, UserNumber: cr.UserNumber,
		Holder: customer.MaskName(cr.HolderName), CardSerial: serial, CardType: string(r.cardType), Seq: r.seq,
		LastCredit: int64(img.Credit), CreditState: "loaded"}
	if img.State == bleproxy.CardPending {
		v.CreditState = "pending"
	}
	if img.WriteBackTime != 0 {
		rem, use := int64(img.MeterRemaining), int64(img.MeterUsage)
		at := time.Unix(int64(img.WriteBackTime), 0).UTC()
		v.MeterRemaining, v.MeterUsageCentiM3, v.MeterUsageCm3, v.WrittenBackAt = &rem, &use, &use, &at
	}
	switch {
	case r.delivered:
		v.Delivered = &DeliveredView{OrderNo: deref(cr.OrderNo), Seq: r.seq}
	case cr.CreditID != nil:
		pending, _ := cr.PendingCredit()
		v.Pending = &PendingView{OrderNo: deref(cr.OrderNo), Amount: pending.Count(), Unit: pending.Unit(),
			WriteAvailable: img.State == bleproxy.CardLoaded, InDoubt: out == readInDoubt}
	}
	switch {
	case out == readRefundedOnCard:
		v.Reason = &Reason{"purchase_refunded", fmt.Sprintf("卡上的第 %d 次购气对应的订单 %s 已退款，请持卡到营业厅处理。", r.seq, gone.OrderNo)}
	case cr.AccountStatus != models.AccountActive:
		v.Reason = &Reason{"account_inactive", "This account cannot buy at present; please contact the service hall."}
	case img.State == bleproxy.CardPending:
		v.Reason = &Reason{"credit_not_loaded", "This card still carries gas the meter has not taken: insert it into the meter first, then buy."}
	case v.Pending != nil:
		v.Reason = &Reason{"credit_pending", "A paid purchase is waiting for this card: write it now."}
	default:
		v.PurchaseAllowed = true
	}
	return v
}

// sessionDeadAfter is how long after the server last sealed or accepted a
// frame of a session its box has surely forgotten it: BOX_SESSION_IDLE by
// the box's own timer, and 60 s for the two clocks' drift.
const sessionDeadAfter = bleproxy.SessionIdle + 60*time.Second

// writeLive reports whether, at time at, the box could still execute an
// issued WRITE_CARD whose result never came: its session is alive on the
// box unless the box had by then opened a newer one (the box's newest HELLO
// was accepted no later than at) or been idle past its timeout.
func writeLive(w models.OpenCardWrite, at time.Time) bool {
	replaced := w.BoxHello > w.HelloCounter && w.BoxHelloAt != nil && !w.BoxHelloAt.After(at)
	idle := !at.Before(w.ActiveAt.Add(sessionDeadAfter))
	return !replaced && !idle
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
