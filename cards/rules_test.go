package cards

import (
	"testing"

	"gaspay/bleproxy"
	"gaspay/models"
)

func ptr[T any](v T) *T { return &v }

// The card rules as a table, without a database: a genuine image and what
// the register knows of the card in, the verdict out.
func TestJudgeRead(t *testing.T) {
	img := bleproxy.CardImage{CardType: bleproxy.CardVolume, UserNumber: "000031140086", Seq: 7, Credit: 1500, State: bleproxy.CardLoaded}
	card := func(change func(*models.CardRead)) models.CardRead {
		cr := models.CardRead{Card: models.Card{AccountID: 9, Type: models.CardVolume, Status: models.CardCurrent, LastWrittenSeq: ptr(7)},
			UserNumber: "031140086", AccountKind: models.KindICCard, AccountStatus: models.AccountActive, Bound: true}
		if change != nil {
			change(&cr)
		}
		return cr
	}
	// pending: the account's purchase 8 of 2000 (0.01 m3), attempted tries times.
	pending := func(seq, tries int) func(*models.CardRead) {
		return func(cr *models.CardRead) {
			cr.CreditID, cr.CreditSeq, cr.CreditAmount, cr.CreditUnit = ptr(int64(3)), ptr(seq), ptr(int64(2000)), ptr(models.UnitCentiM3)
			cr.CreditTries, cr.OrderNo = ptr(tries), ptr("GP1")
		}
	}
	at := func(seq uint16, credit uint32) bleproxy.CardImage { i := img; i.Seq, i.Credit = seq, credit; return i }
	cases := []struct {
		name              string
		img               bleproxy.CardImage
		cr                models.CardRead
		unknown, kiosk    bool
		refusal           string
		delivered, settle bool
	}{
		{name: "unknown card", img: img, unknown: true, refusal: "card_unknown"},
		{name: "lost card", img: img, cr: card(func(cr *models.CardRead) { cr.Status = models.CardLost }), refusal: "card_lost"},
		{name: "not bound, on a phone", img: img, cr: card(func(cr *models.CardRead) { cr.Bound = false }), refusal: "card_not_bound"},
		{name: "not bound, at a kiosk", img: img, cr: card(func(cr *models.CardRead) { cr.Bound = false }), kiosk: true},
		{name: "account not an IC-card account", img: img, cr: card(func(cr *models.CardRead) { cr.AccountKind = models.KindIoT }), refusal: "card_mismatch"},
		{name: "another user number", img: img, cr: card(func(cr *models.CardRead) { cr.UserNumber = "031140087" }), refusal: "card_mismatch"},
		{name: "amount card registered, volume image", img: img, cr: card(func(cr *models.CardRead) { cr.Type = models.CardAmount }), refusal: "card_mismatch"},
		{name: "older than the last write", img: at(6, 1500), cr: card(nil), refusal: "card_stale"},
		{name: "at the last write, nothing pending", img: img, cr: card(nil)},
		{name: "imported card, sequence unknown", img: img, cr: card(func(cr *models.CardRead) { cr.LastWrittenSeq = nil }), settle: true},
		{name: "ahead of the register (written at the hall)", img: at(9, 100), cr: card(nil), settle: true},
		{name: "the pending purchase is on the card", img: at(8, 2000), cr: card(pending(8, 1)), delivered: true, settle: true},
		{name: "same sequence, other amount: not delivered", img: at(8, 1999), cr: card(pending(8, 1)), settle: true},
		{name: "before a purchase whose write was attempted", img: img, cr: card(pending(8, 2)), settle: true},
		{name: "before a purchase never attempted", img: img, cr: card(pending(8, 0))},
		{name: "an older card while a purchase is delivered on it", img: at(5, 1500), cr: card(func(cr *models.CardRead) {
			pending(5, 1)(cr)
			cr.CreditAmount = ptr(int64(1500))
		}), delivered: true, settle: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := judgeRead(c.img, c.cr, c.unknown, c.kiosk)
			got := ""
			if v.refusal != nil {
				got = v.refusal.Code
			}
			if got != c.refusal || v.delivered != c.delivered || v.settle != c.settle {
				t.Errorf("verdict: refusal %q delivered %v settle %v; want %q %v %v", got, v.delivered, v.settle, c.refusal, c.delivered, c.settle)
			}
			if v.refusal == nil && (v.seq != int(c.img.Seq) || v.cardType != models.CardVolume || v.unit != models.UnitCentiM3) {
				t.Errorf("verdict: seq %d type %s unit %s", v.seq, v.cardType, v.unit)
			}
		})
	}
}

// What the customer is told after a read the rules accepted.
func TestCardView(t *testing.T) {
	img := bleproxy.CardImage{CardType: bleproxy.CardAmount, UserNumber: "000031140086", Seq: 4, Credit: 5000, State: bleproxy.CardLoaded}
	cr := models.CardRead{Card: models.Card{AccountID: 9, Type: models.CardAmount}, UserNumber: "031140086", HolderName: "秦淮",
		AccountKind: models.KindICCard, AccountStatus: models.AccountActive}
	withPending := cr
	withPending.CreditID, withPending.CreditAmount, withPending.CreditUnit, withPending.OrderNo = ptr(int64(1)), ptr(int64(3000)), ptr(models.UnitFen), ptr("GP2")
	inactive := cr
	inactive.AccountStatus = models.AccountSuspended
	pendingImg := img
	pendingImg.State = bleproxy.CardPending
	cases := []struct {
		name      string
		img       bleproxy.CardImage
		cr        models.CardRead
		r         readVerdict
		out       readOutcome
		reason    string
		allowed   bool
		inDoubt   bool
		delivered bool
	}{
		{name: "nothing waits: buy", img: img, cr: cr, allowed: true},
		{name: "account suspended", img: img, cr: inactive, reason: "account_inactive"},
		{name: "gas on the card not in the meter yet", img: pendingImg, cr: cr, reason: "credit_not_loaded"},
		{name: "a paid purchase waits: write it", img: img, cr: withPending, reason: "credit_pending"},
		{name: "a paid purchase waits, its write may still land", img: img, cr: withPending, out: readInDoubt, reason: "credit_pending", inDoubt: true},
		{name: "delivered on this read", img: img, cr: withPending, r: readVerdict{delivered: true}, out: readDelivered, allowed: true, delivered: true},
		{name: "a refunded purchase is on the card", img: img, cr: cr, out: readRefundedOnCard, reason: "purchase_refunded"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.r.seq, c.r.cardType, c.r.unit = int(c.img.Seq), models.CardAmount, models.UnitFen
			v := cardView(c.img, c.cr, "0011223344556677", c.r, c.out, models.WrittenPurchase{OrderNo: "GP0"})
			reason := ""
			if v.Reason != nil {
				reason = v.Reason.Code
			}
			if reason != c.reason || v.PurchaseAllowed != c.allowed || (v.Delivered != nil) != c.delivered {
				t.Errorf("view: reason %q allowed %v delivered %v; want %q %v %v", reason, v.PurchaseAllowed, v.Delivered != nil, c.reason, c.allowed, c.delivered)
			}
			if v.Pending != nil && v.Pending.InDoubt != c.inDoubt {
				t.Errorf("in doubt %v, want %v", v.Pending.InDoubt, c.inDoubt)
			}
			if v.Holder == "秦淮" || v.CardSerial != "0011223344556677" || v.Seq != 4 {
				t.Errorf("view: holder %q serial %q seq %d", v.Holder, v.CardSerial, v.Seq)
			}
		})
	}
}
