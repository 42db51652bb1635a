package recharge

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"gaspay/models"
	"gaspay/units"
)

// Errors of partner payments; test them with errors.Is.
var (
	// ErrSerialReused: the partner used this serial for another payment.
	ErrSerialReused = errors.New("recharge: serial already used for another payment")
	// ErrReverseTooLate: a payment can be reversed only on its own day.
	ErrReverseTooLate = errors.New("recharge: only a payment of today can be reversed")
)

// partnerProvider names partner payments in the payments table; the
// transaction id is "<partner id>:<serial>", unique like every provider's.
const partnerProvider = "partner"

func partnerTxn(partnerID, serial string) string { return partnerID + ":" + serial }

// PartnerPayment is money a partner collected for an account.
type PartnerPayment struct {
	PartnerID  string
	Serial     string
	UserNumber string
	AmountFen  int64
}

// PartnerPay records a partner's payment and credits it through the same
// delivery ledger as every payment: an ordinary account's bills are
// settled, an IoT meter's credit queued, an IC card's credit left for the
// card channel. It is idempotent by serial: the same serial with the same
// account and amount returns the payment already made (replay true), with
// another account or amount it is refused. The account's balance is not
// deducted: the partner collected the whole amount.
//
// Errors: ErrNotFound (EQ0004), ErrAccountInactive, ErrOrderInProgress
// (EQ0024), ErrOverLimit (EQ0025), ErrTooLittle, ErrCreditPending (EQ0026),
// ErrSerialReused.
func (s *Service) PartnerPay(ctx context.Context, p PartnerPayment) (OrderView, bool, error) {
	txn := partnerTxn(p.PartnerID, p.Serial)
	var view OrderView
	errDup := errors.New("duplicate serial")
	err := s.store.Tx(ctx, func(tx *models.Store) error {
		a, err := tx.LockAccountByNumber(ctx, p.UserNumber)
		if errors.Is(err, models.ErrNotFound) {
			// Perhaps a repeat of a payment whose account is gone from
			// the register since; the serial decides.
			return errDup
		}
		if err != nil {
			return err
		}
		tiers, err := s.tiersVia(ctx, tx, a.TariffID)
		if err != nil {
			return err
		}
		var cardType *models.CardType
		if a.Kind == models.KindICCard {
			if c, err := tx.CurrentCard(ctx, a.ID); err == nil {
				cardType = &c.Type
			}
		}
		buy, err := ByAmount(units.Fen(p.AmountFen))
		if err != nil {
			return err
		}
		q, err := s.price(a, tiers, cardType, QuoteRequest{AccountID: a.ID, Purchase: buy})
		if err != nil {
			return err
		}
		if a.Kind.Prepaid() {
			credit, inflight, err := tx.Blockers(ctx, a.ID)
			if err != nil {
				return err
			}
			if err := admit(credit, inflight); err != nil {
				return err
			}
		}
		q.DeductionFen, q.PayableFen = 0, q.GrossFen
		o, err := s.newOrder(OrderRequest{QuoteRequest: QuoteRequest{AccountID: a.ID}, Channel: models.ChannelPartner,
			AppID: p.PartnerID, OpenID: p.PartnerID}, q)
		if err != nil {
			return err
		}
		now := o.CreatedAt
		// Collected before it is recorded: the order is born paid.
		o.UserID = nil
		if err := o.MarkPaid(now, now); err != nil {
			return err
		}
		if err := tx.CreateOrder(ctx, &o); err != nil {
			return err
		}
		// The payments table's unique (provider, txn) is the serial's
		// "exactly once": a repeat, or a simultaneous twin, collides here.
		err = tx.InsertPayment(ctx, &models.Payment{OrderID: o.ID, Provider: partnerProvider, ProviderTxnID: txn,
			AmountFen: units.Fen(p.AmountFen), Payer: p.PartnerID, Source: "partner", PaidAt: now, CreatedAt: now})
		if errors.Is(err, models.ErrDuplicate) {
			return errDup
		}
		if err != nil {
			return err
		}
		c, err := s.credit(ctx, tx, a, o, now)
		view = OrderView{Order: o, Lines: q.Lines, Credit: &c}
		return err
	})
	if err != nil {
		// A serial used before is answered by what it did, whatever the
		// account, its limits or its state are now.
		if v, rerr := s.partnerReplay(ctx, txn, p); !errors.Is(rerr, ErrNotFound) {
			return v, rerr == nil, rerr
		}
		if errors.Is(err, errDup) {
			return OrderView{}, false, ErrNotFound
		}
		return OrderView{}, false, err
	}
	s.log.InfoContext(ctx, "partner payment", slog.String("partner", p.PartnerID), slog.String("order_no", view.Order.OrderNo),
		slog.Int64("amount_fen", p.AmountFen))
	return view, false, nil
}

// partnerReplay answers a serial already used: the payment made, if the
// request is the same; ErrSerialReused if not; ErrNotFound if the serial is
// new.
func (s *Service) partnerReplay(ctx context.Context, txn string, p PartnerPayment) (OrderView, error) {
	v, err := s.PartnerStatus(ctx, p.PartnerID, p.Serial)
	if err != nil {
		return OrderView{}, err
	}
	a, err := s.store.Account(ctx, v.Order.AccountID)
	if err != nil {
		return OrderView{}, err
	}
	if a.UserNumber != p.UserNumber || v.Order.PayableFen != units.Fen(p.AmountFen) {
		return OrderView{}, ErrSerialReused
	}
	return v, nil
}

// PartnerStatus shows a partner's payment by serial.
// Errors: ErrNotFound.
func (s *Service) PartnerStatus(ctx context.Context, partnerID, serial string) (OrderView, error) {
	pay, err := s.store.PaymentByTxn(ctx, partnerProvider, partnerTxn(partnerID, serial))
	if errors.Is(err, models.ErrNotFound) {
		return OrderView{}, ErrNotFound
	}
	if err != nil {
		return OrderView{}, err
	}
	o, err := s.store.OrderByID(ctx, pay.OrderID)
	if err != nil {
		return OrderView{}, err
	}
	views, err := s.views(ctx, []models.Order{o})
	if err != nil {
		return OrderView{}, err
	}
	return views[0], nil
}

// PartnerReverse reverses (冲正) a partner's payment of today whose credit
// has not reached the meter, once: the credit is cancelled and what the
// payment did to the account undone. Reversing it again answers the same
// reversal. A bill payment is delivered at once and cannot be reversed.
// Errors: ErrNotFound, ErrReverseTooLate, ErrDelivered, ErrDeliveryInDoubt.
func (s *Service) PartnerReverse(ctx context.Context, partnerID, serial string) (OrderView, error) {
	v, err := s.PartnerStatus(ctx, partnerID, serial)
	if err != nil {
		return OrderView{}, err
	}
	no := v.Order.OrderNo
	err = s.store.Tx(ctx, func(tx *models.Store) error {
		a, err := tx.LockAccount(ctx, v.Order.AccountID)
		if err != nil {
			return err
		}
		o, err := tx.LockOrder(ctx, no)
		if err != nil {
			return err
		}
		if o.Status == models.OrderReversed {
			return nil
		}
		if o.Status != models.OrderPaid || o.PaidAt == nil {
			return ErrNotRefundable
		}
		now := s.now()
		if o.PaidAt.In(s.cfg.Location).Format(time.DateOnly) != now.In(s.cfg.Location).Format(time.DateOnly) {
			return ErrReverseTooLate
		}
		at := now.UTC()
		if err := s.cancelCredit(ctx, tx, a, o, at); err != nil {
			return err
		}
		_, err = tx.UpdateOrder(ctx, o.OrderNo, func(o *models.Order) error { return o.Reverse(at) })
		return err
	})
	if err != nil {
		return OrderView{}, err
	}
	s.log.InfoContext(ctx, "partner payment reversed", slog.String("partner", partnerID), slog.String("order_no", no))
	return s.PartnerStatus(ctx, partnerID, serial)
}

// PartnerLine is one standing payment of a partner's day.
type PartnerLine struct {
	Serial     string
	OrderNo    string
	UserNumber string
	AmountFen  int64
	PaidAt     time.Time
}

// PartnerDay lists the partner's payments of a day (Beijing time) that
// stand: reversed ones are left out.
func (s *Service) PartnerDay(ctx context.Context, partnerID string, day time.Time) ([]PartnerLine, error) {
	return PartnerDay(ctx, s.store, s.cfg.Location, partnerID, day)
}

// PartnerDay lists a partner's standing payments of a day in loc; the
// tools call it without a whole service.
func PartnerDay(ctx context.Context, store *models.Store, loc *time.Location, partnerID string, day time.Time) ([]PartnerLine, error) {
	y, m, d := day.In(loc).Date()
	from := time.Date(y, m, d, 0, 0, 0, 0, loc)
	rows, err := store.PaymentsBetween(ctx, partnerProvider, partnerID+":", from.UTC(), from.AddDate(0, 0, 1).UTC())
	if err != nil {
		return nil, err
	}
	var out []PartnerLine
	for _, r := range rows {
		if r.Status == models.OrderReversed {
			continue
		}
		out = append(out, PartnerLine{Serial: r.ProviderTxnID[len(partnerID)+1:], OrderNo: r.OrderNo, UserNumber: r.UserNumber,
			AmountFen: r.AmountFen, PaidAt: r.PaidAt})
	}
	return out, nil
}

// Location is where the service dates days.
func (s *Service) Location() *time.Location { return s.cfg.Location }

// PartnerAccount is an account as a partner's terminal shows it before
// taking money.
type PartnerAccount struct {
	Account      models.Account
	ArrearsFen   int64
	MaxAmountFen int64
	// Blocked says why no payment is taken now, if so: ErrOrderInProgress
	// (EQ0024), ErrCreditPending (EQ0026), ErrAccountInactive.
	Blocked error
	// CardChannel is set for IC-card accounts: a payment here waits for
	// the card channel to reach the meter (EQ0027).
	CardChannel bool
}

// PartnerQuery looks an account up by user number for a partner.
// Errors: ErrNotFound (EQ0004).
func (s *Service) PartnerQuery(ctx context.Context, userNumber string) (PartnerAccount, error) {
	a, err := s.store.AccountByUserNumber(ctx, userNumber)
	if errors.Is(err, models.ErrNotFound) {
		return PartnerAccount{}, ErrNotFound
	}
	if err != nil {
		return PartnerAccount{}, err
	}
	st, err := s.store.AccountStateOf(ctx, a.ID)
	if err != nil {
		return PartnerAccount{}, err
	}
	arrears := st.Account.ArrearsFen
	out := PartnerAccount{Account: st.Account, ArrearsFen: int64(arrears),
		MaxAmountFen: int64(PurchaseLimit(units.Fen(s.cfg.PurchaseLimitFen), a.Kind, arrears)),
		CardChannel:  a.Kind == models.KindICCard}
	switch {
	case a.Status != models.AccountActive:
		out.Blocked = ErrAccountInactive
	case a.Kind.Prepaid():
		out.Blocked = admit(st.PendingCreditID, st.InflightOrderNo)
	}
	return out, nil
}
