package recharge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gaspay/models"
)

// Payment codes (付款码) scanned at self-service kiosks, and their closed
// loop. Every code payment ends paid, closed or reversed, never unknown for
// longer than the janitor's interval:
//
//   - the code is charged at the scan; "the customer is confirming"
//     (WeChat USERPAYING, Alipay 10003), "system error" and a lost answer
//     all leave it paying, and the provider is asked every CodePoll;
//   - a payment the provider reports takes the one paid path (MarkPaid);
//   - CodeDeadline after the scan (the kiosk manual's 60-second screen) the
//     provider is asked once more, and if the order is not paid it is ended
//     here (reversed, its balance deduction given back) and reversed at the
//     provider (WeChat reverse, Alipay cancel), asked again until the
//     provider confirms; a reverse refused because the customer is still
//     paying is asked again too. A customer who pays as the reverse arrives
//     gets the money back from the reverse itself;
//   - a code the provider refuses (balance too low, code expired) is
//     reversed as well, to be sure, and the order closed;
//   - a reverse refused outright, with the order found paid after all,
//     takes the paid path of a closed order: the payment is recorded and
//     refunded (MarkPaid's LateRefund);
//   - one step at a time per order (a lock), by the kiosk's request, a
//     follower started at the scan, or the janitor for whatever is due.
//
// A paid kiosk order is an ordinary paid order from there: its credit goes
// to the card through the cards desk, and refunds ask InDoubt.

// Timings of the closed loop.
const (
	// CodePoll is how often a paying code is asked about.
	CodePoll = 5 * time.Second
	// CodeDeadline is how long after the scan a code may be paid.
	CodeDeadline = 60 * time.Second
	// codeStepLock bounds one step: a few provider calls.
	codeStepLock = 30 * time.Second
)

// Errors of payment codes; test them with errors.Is.
var (
	// ErrBadAuthCode: the scanned code is neither WeChat's (18 digits
	// starting 10–15) nor Alipay's (16–24 digits starting 25–30), or its
	// provider is not enabled. No provider was called.
	ErrBadAuthCode = errors.New("recharge: not a payment code we take")
	// errReverseRetry: the provider refused the reverse for now (the
	// customer is still paying): ask again.
	errReverseRetry = errors.New("recharge: reverse refused for now, retry")
)

// CodeProvider is a Provider that charges payment codes scanned at kiosks.
type CodeProvider interface {
	Provider
	// CodeAppID is the app id code orders are made under (and payments
	// must name).
	CodeAppID() string
	// CodePay charges authCode for o. A Txn in TxnPaid: paid; TxnNotPaid:
	// the customer is confirming. Errors: ErrUnknownOutcome (ask again),
	// ErrProviderRefused (not paid).
	CodePay(ctx context.Context, o models.Order, authCode, description, kioskID string) (Txn, error)
	// Reverse reverses (cancels) a code order whatever its state: unpaid
	// it can no longer be paid, paid it is refunded. nil: confirmed.
	// Errors: errReverseRetry and ErrUnknownOutcome (ask again),
	// errProviderNoOrder (the provider never had it), ErrProviderRefused.
	Reverse(ctx context.Context, o models.Order) error
}

// CodeProviderFor names the provider of a scanned payment code by its
// prefix: WeChat's are 18 digits starting 10–15, Alipay's 16–24 digits
// starting 25–30. Anything else is ErrBadAuthCode.
func CodeProviderFor(code string) (string, error) {
	if len(code) < 16 || len(code) > 24 {
		return "", ErrBadAuthCode
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return "", ErrBadAuthCode
		}
	}
	switch p := code[:2]; {
	case len(code) == 18 && p >= "10" && p <= "15":
		return ProviderWeChat, nil
	case p >= "25" && p <= "30":
		return ProviderAlipay, nil
	}
	return "", ErrBadAuthCode
}

// EnableCodes lets kiosks take payment codes of these providers. follow
// starts a follower per scanned code that steps its loop every CodePoll
// (servers); without it, only requests and the janitor step (tests that
// move the clock themselves).
func (s *Service) EnableCodes(locks Locker, follow bool, ps ...CodeProvider) {
	s.codeProviders = map[string]CodeProvider{}
	for _, p := range ps {
		s.codeProviders[p.Name()] = p
	}
	s.codeLocks, s.codeFollow = locks, follow
}

// QuoteAccount prices a purchase for an account without a user: at a
// kiosk the card just read is the customer. The same rules as Quote.
// Errors: those of Quote.
func (s *Service) QuoteAccount(ctx context.Context, req QuoteRequest) (Quote, error) {
	a, err := s.store.Account(ctx, req.AccountID)
	if errors.Is(err, models.ErrNotFound) {
		return Quote{}, ErrNotFound
	}
	if err != nil {
		return Quote{}, err
	}
	tiers, err := s.tiers(ctx, a.TariffID)
	if err != nil {
		return Quote{}, err
	}
	var cardType *models.CardType
	if c, err := s.store.CurrentCard(ctx, a.ID); err == nil {
		cardType = &c.Type
	} else if !errors.Is(err, models.ErrNotFound) {
		return Quote{}, err
	}
	return s.price(a, tiers, cardType, req)
}

// CodeOrderRequest is a kiosk purchase: the account of the card just read,
// an amount or a volume, and the scanned code.
type CodeOrderRequest struct {
	AccountID int64
	Purchase  Purchase
	AuthCode  string
	KioskID   string
	// Idem, if set, makes the request idempotent: a kiosk whose network
	// dropped after the scan repeats it and learns the order.
	Idem *IdemKey
}

// CodeOrder is a kiosk order with its code payment.
type CodeOrder struct {
	OrderView
	Code models.CodePayment
}

// Outcome is what the kiosk shows: paying, paid, closed or reversed.
func (c CodeOrder) Outcome() string {
	switch c.Code.State {
	case models.CodePaid:
		return "paid"
	case models.CodeClosed:
		return "closed"
	case models.CodeReversed, models.CodeRefunded:
		return "reversed"
	}
	return "paying"
}

// CreateCodeOrder places a kiosk order and charges the scanned code. The
// code's prefix picks the provider; a code of no provider we take is
// refused before anything is written or sent. The order is placed like
// every other (priced under the account's lock, one purchase in flight),
// with its code payment in the same transaction, so that the closed loop
// owns it from the start.
// Errors: ErrBadAuthCode, those of Quote and of placing an order.
func (s *Service) CreateCodeOrder(ctx context.Context, req CodeOrderRequest) (CodeOrder, error) {
	name, err := CodeProviderFor(req.AuthCode)
	if err != nil {
		return CodeOrder{}, err
	}
	p := s.codeProviders[name]
	if p == nil {
		return CodeOrder{}, ErrBadAuthCode
	}
	a, err := s.store.Account(ctx, req.AccountID)
	if errors.Is(err, models.ErrNotFound) {
		return CodeOrder{}, ErrNotFound
	}
	if err != nil {
		return CodeOrder{}, err
	}
	tiers, err := s.tiers(ctx, a.TariffID)
	if err != nil {
		return CodeOrder{}, err
	}
	var cardType *models.CardType
	if c, err := s.store.CurrentCard(ctx, a.ID); err == nil {
		cardType = &c.Type
	} else if !errors.Is(err, models.ErrNotFound) {
		return CodeOrder{}, err
	}
	unlock, err := s.running(ctx, req.Idem)
	defer unlock()
	if err != nil {
		return CodeOrder{}, err
	}
	var cp models.CodePayment
	o, lines, prev, err := s.place(ctx, OrderRequest{
		QuoteRequest: QuoteRequest{AccountID: a.ID, Purchase: req.Purchase},
		Channel:      models.ChannelKioskCode, AppID: p.CodeAppID(), Provider: name, TTL: CodeDeadline, Idem: req.Idem,
	}, tiers, cardType, func(tx *models.Store, o *models.Order) error {
		now := o.CreatedAt
		cp = models.CodePayment{OrderID: o.ID, OrderNo: o.OrderNo, KioskID: req.KioskID, Provider: name,
			State: models.CodePaying, ScannedAt: now, DeadlineAt: now.Add(CodeDeadline), NextAt: now.Add(CodePoll),
			CreatedAt: now, UpdatedAt: now}
		return tx.InsertCodePayment(ctx, &cp)
	})
	if err != nil {
		return CodeOrder{}, err
	}
	if prev != nil {
		// A repeat: the code was charged once, by the first request; its
		// loop tells where it stands.
		if err := sameRequest(*prev, req.Idem); err != nil {
			return CodeOrder{}, err
		}
		out, err := s.CodeOrderByNo(ctx, prev.OrderNo)
		out.Replayed = true
		return out, err
	}
	s.log.InfoContext(ctx, "code order created", slog.String("order_no", o.OrderNo), slog.String("provider", name),
		slog.String("kiosk", req.KioskID), slog.Int64("payable_fen", int64(o.PayableFen)))

	t, err := p.CodePay(ctx, o, req.AuthCode, s.description(a.UserNumber, o), req.KioskID)
	switch {
	case err == nil && t.State == TxnPaid:
		if err := s.codePaid(ctx, p, o, cp, t, "codepay"); err != nil {
			s.log.WarnContext(ctx, "code paid, not recorded yet", slog.String("order_no", o.OrderNo), slog.String("err", err.Error()))
		}
	case errors.Is(err, ErrProviderRefused):
		s.log.InfoContext(ctx, "code refused", slog.String("order_no", o.OrderNo), slog.String("err", err.Error()))
		if err := s.startReverse(ctx, p, o, cp, "refused"); err != nil {
			s.log.WarnContext(ctx, "code reverse", slog.String("order_no", o.OrderNo), slog.String("err", err.Error()))
		}
	case err != nil:
		// Unknown: the loop asks.
		s.noteCode(ctx, cp, err)
	}
	if s.codeFollow {
		go s.followCode(context.WithoutCancel(ctx), o.OrderNo)
	}
	out, err := s.CodeOrderByNo(ctx, o.OrderNo)
	if err != nil {
		return CodeOrder{OrderView: OrderView{Order: o, Lines: lines}, Code: cp}, nil
	}
	return out, nil
}

// CodeOrderByNo shows a kiosk order and its code payment; a step of the
// loop that is due is taken first, so a kiosk polling the order moves it.
// Errors: ErrNotFound.
func (s *Service) CodeOrderByNo(ctx context.Context, no string) (CodeOrder, error) {
	cp, err := s.store.CodePaymentOf(ctx, no)
	if errors.Is(err, models.ErrNotFound) {
		return CodeOrder{}, ErrNotFound
	}
	if err != nil {
		return CodeOrder{}, err
	}
	if !cp.State.Final() && !s.now().Before(cp.NextAt) {
		if err := s.codeStep(ctx, cp.OrderNo); err != nil {
			s.log.WarnContext(ctx, "code step", slog.String("order_no", no), slog.String("err", err.Error()))
		}
		if cp, err = s.store.CodePaymentOf(ctx, no); err != nil {
			return CodeOrder{}, err
		}
	}
	v, err := s.OrderByNo(ctx, no)
	if err != nil {
		return CodeOrder{}, err
	}
	return CodeOrder{OrderView: v, Code: cp}, nil
}

// followCode steps one code payment's loop until it is final, waiting for
// each step's time. If this process dies, the janitor carries on.
func (s *Service) followCode(ctx context.Context, no string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	for {
		cp, err := s.store.CodePaymentOf(ctx, no)
		if err != nil || cp.State.Final() {
			return
		}
		wait := min(max(cp.NextAt.Sub(s.now()), 0), CodePoll)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if err := s.codeStep(ctx, no); err != nil {
			s.log.WarnContext(ctx, "code step", slog.String("order_no", no), slog.String("err", err.Error()))
		}
	}
}

// CodePass steps every code payment that is due; the janitor runs it. It
// reports how many it stepped.
func (s *Service) CodePass(ctx context.Context) int {
	due, err := s.store.CodePaymentsDue(ctx, s.now().UTC(), batch)
	if err != nil {
		s.log.ErrorContext(ctx, "janitor codes", slog.String("err", err.Error()))
		return 0
	}
	for _, cp := range due {
		if ctx.Err() != nil {
			break
		}
		if err := s.codeStep(ctx, cp.OrderNo); err != nil {
			s.log.WarnContext(ctx, "janitor code step", slog.String("order_no", cp.OrderNo), slog.String("err", err.Error()))
		}
	}
	return len(due)
}

// codeStep takes one step of an order's loop, under the order's lock (a
// step already running elsewhere makes this one a no-op).
func (s *Service) codeStep(ctx context.Context, no string) error {
	if s.codeLocks != nil {
		unlock, ok, err := s.codeLocks.Lock(ctx, "code:"+no, codeStepLock)
		if err != nil || !ok {
			return err
		}
		defer unlock()
	}
	cp, err := s.store.CodePaymentOf(ctx, no)
	if err != nil || cp.State.Final() {
		return err
	}
	o, err := s.store.Order(ctx, no)
	if err != nil {
		return err
	}
	p := s.codeProviders[cp.Provider]
	if p == nil {
		return fmt.Errorf("recharge: code order %s: provider %s not enabled", no, cp.Provider)
	}
	if cp.State == models.CodeReversing {
		return s.reverseCode(ctx, p, o, cp)
	}
	now := s.now()
	t, qerr := p.Query(ctx, no)
	switch {
	case qerr == nil && t.State == TxnPaid:
		return s.codePaid(ctx, p, o, cp, t, "query")
	case qerr == nil && t.State == TxnClosed:
		// The customer cancelled, or the payment failed: reverse to be
		// sure, then it is closed.
		return s.startReverse(ctx, p, o, cp, "refused")
	case now.Before(cp.DeadlineAt):
		s.noteCode(ctx, cp, qerr)
		next := now.Add(CodePoll)
		if next.After(cp.DeadlineAt) {
			next = cp.DeadlineAt
		}
		_, err := s.store.UpdateCodePayment(ctx, cp.OrderNo, func(c *models.CodePayment) error { return c.Polled(next.UTC(), now.UTC()) })
		return ignoreMoved(err)
	}
	// The screen's time is up and, as of this query (or for want of an
	// answer), nothing is paid: reverse, whatever the provider holds.
	return s.startReverse(ctx, p, o, cp, "timeout")
}

// codePaid takes a payment the provider reported through the paid path,
// then ends the loop: paid, or refunded if the order had ended before.
func (s *Service) codePaid(ctx context.Context, p CodeProvider, o models.Order, cp models.CodePayment, t Txn, source string) error {
	out, err := s.MarkPaid(ctx, PaidEvent{Provider: p.Name(), OrderNo: o.OrderNo, TxnID: t.TxnID, AppID: t.AppID,
		MchID: t.MchID, AmountFen: t.AmountFen, Payer: t.Payer, PaidAt: t.PaidAt, Source: source})
	if err != nil {
		s.noteCode(ctx, cp, err)
		return err
	}
	state := models.CodePaid
	if out == LateRefund {
		state = models.CodeRefunded
	}
	if out == Duplicate {
		cur, err := s.store.Order(ctx, o.OrderNo)
		if err != nil {
			return err
		}
		if cur.Status != models.OrderPaid {
			state = models.CodeRefunded
		}
	}
	return s.finishCode(ctx, cp, state)
}

// startReverse ends a paying order here (reversed after the deadline,
// closed when the provider refused the code), giving back its deduction,
// and moves its loop to reversing in the same transaction; then it asks
// the provider. If the order turned out paid first, the loop ends paid.
func (s *Service) startReverse(ctx context.Context, p CodeProvider, o models.Order, cp models.CodePayment, reason string) error {
	status := models.OrderReversed
	if reason == "refused" {
		status = models.OrderClosed
	}
	now := s.now().UTC()
	moved := false
	toReversing := func(tx *models.Store) error {
		_, err := tx.UpdateCodePayment(ctx, cp.OrderNo, func(c *models.CodePayment) error { return c.StartReverse(reason, now) })
		moved = err == nil
		return ignoreMoved(err)
	}
	ended, err := s.endUnpaid(ctx, o, status, "code_"+reason, toReversing)
	if err != nil {
		return err
	}
	if !ended {
		cur, err := s.store.Order(ctx, o.OrderNo)
		if err != nil {
			return err
		}
		if cur.Status == models.OrderPaid {
			return s.finishCode(ctx, cp, models.CodePaid)
		}
		// Ended by another path: the provider is reversed all the same.
		if err := toReversing(s.store); err != nil {
			return err
		}
	}
	if moved {
		cp.State, cp.Reason = models.CodeReversing, reason
	}
	if cp.State != models.CodeReversing {
		return nil
	}
	return s.reverseCode(ctx, p, o, cp)
}

// reverseCode asks the provider to reverse, once; the loop asks again
// until the provider confirms.
func (s *Service) reverseCode(ctx context.Context, p CodeProvider, o models.Order, cp models.CodePayment) error {
	now := s.now().UTC()
	err := p.Reverse(ctx, o)
	final := models.CodeReversed
	if cp.Reason == "refused" {
		final = models.CodeClosed
	}
	switch {
	case err == nil, errors.Is(err, errProviderNoOrder):
		return s.finishCode(ctx, cp, final)
	case errors.Is(err, errReverseRetry), errors.Is(err, ErrUnknownOutcome):
		s.noteCode(ctx, cp, err)
		return s.reverseAgain(ctx, cp, now)
	}
	// Refused outright: whatever the provider holds decides.
	s.noteCode(ctx, cp, err)
	t, qerr := p.Query(ctx, o.OrderNo)
	switch {
	case qerr == nil && t.State == TxnPaid:
		// Paid after all, and not reversible: the payment of an ended
		// order is recorded and refunded.
		return s.codePaid(ctx, p, o, cp, t, "reverse")
	case qerr == nil && (t.State == TxnClosed || t.State == TxnNotFound):
		return s.finishCode(ctx, cp, final)
	}
	return s.reverseAgain(ctx, cp, now)
}

// reverseAgain schedules the next try of a reversal not yet confirmed.
func (s *Service) reverseAgain(ctx context.Context, cp models.CodePayment, now time.Time) error {
	_, err := s.store.UpdateCodePayment(ctx, cp.OrderNo, func(c *models.CodePayment) error { return c.ReverseAgain(now.Add(CodePoll), now) })
	return ignoreMoved(err)
}

// ignoreMoved: a step of the loop another replica took first is done.
func ignoreMoved(err error) error {
	if errors.Is(err, models.ErrTransition) {
		return nil
	}
	return err
}

func (s *Service) finishCode(ctx context.Context, cp models.CodePayment, state models.CodeState) error {
	now := s.now().UTC()
	_, err := s.store.UpdateCodePayment(ctx, cp.OrderNo, func(c *models.CodePayment) error {
		// Only from the state this step was decided in.
		if c.State != cp.State {
			return fmt.Errorf("%w: code payment of %s moved to %s", models.ErrTransition, c.OrderNo, c.State)
		}
		return c.Finish(state, now)
	})
	if err == nil {
		s.log.InfoContext(ctx, "code payment ended", slog.String("order_no", cp.OrderNo), slog.String("state", string(state)))
	}
	return ignoreMoved(err)
}

// noteCode keeps the last provider error of a loop, for staff.
func (s *Service) noteCode(ctx context.Context, cp models.CodePayment, err error) {
	if err == nil {
		return
	}
	_, uerr := s.store.UpdateCodePayment(ctx, cp.OrderNo, func(c *models.CodePayment) error {
		if c.State != cp.State {
			return models.ErrTransition
		}
		c.Note(err.Error())
		return nil
	})
	if uerr = ignoreMoved(uerr); uerr != nil {
		s.log.WarnContext(ctx, "code note", slog.String("err", uerr.Error()))
	}
}

// settleCode is settle for a kiosk order: its loop decides, never a close.
func (s *Service) settleCode(ctx context.Context, o models.Order) (bool, error) {
	if err := s.codeStep(ctx, o.OrderNo); err != nil {
		return false, fmt.Errorf("%w: %w", ErrProviderUnavailable, err)
	}
	cur, err := s.store.Order(ctx, o.OrderNo)
	if err != nil {
		return false, err
	}
	switch cur.Status {
	case models.OrderPending:
		return false, ErrOrderInProgress
	case models.OrderPaid:
		return true, nil
	}
	return false, nil
}
