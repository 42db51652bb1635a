package recharge

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"time"

	"gaspay/models"
)

// OrderRequest is a customer's purchase: a quote request plus the channel
// and who pays (the openid of the WeChat app they logged in through).
type OrderRequest struct {
	QuoteRequest
	Channel models.Channel
	AppID   string
	OpenID  string
	// Provider names the provider when the channel does not (kiosk_code).
	Provider string
	// TTL, if set, is how long the order may be paid instead of the
	// configured OrderTTL (a kiosk's screen waits 60 s).
	TTL time.Duration
	// Idem, if set, makes the request idempotent: a repeat with the same
	// key answers the order the first made (recharge/idempotency.go).
	Idem *IdemKey
	// Admit, if set, is asked once the request is known not to repeat an
	// earlier one, before anything is written: a rate limit counts there,
	// so that a repeat is not counted.
	Admit func(ctx context.Context) error
}

// inProgressAge is how long a pending order the provider has not heard of
// is taken to be still starting (another request is making its prepay).
const inProgressAge = 2 * time.Minute

// CreateOrder recomputes the quote, creates the order and opens it at the
// provider, returning what the customer's client needs to pay.
//
// One purchase per account is in flight: an unpaid order of the account is
// first asked about at the provider and closed there; if it turns out paid
// it takes the paid path and this order is refused. An account with a paid
// credit not yet delivered cannot buy.
//
// A repeat of an idempotent request answers the order the first made,
// with OrderView.Replayed set.
//
// Errors: those of Quote, and ErrCardChannel, ErrChannelMismatch,
// ErrCreditPending, ErrPreviousPaid, ErrOrderInProgress,
// ErrProviderUnavailable, ErrProviderRefused, ErrKeyReused,
// ErrRequestInProgress.
func (s *Service) CreateOrder(ctx context.Context, req OrderRequest) (OrderView, any, error) {
	p := s.providers[req.Channel]
	if p == nil {
		return OrderView{}, nil, ErrInvalid
	}
	d, err := s.store.BoundAccount(ctx, req.UserID, req.AccountID)
	if errors.Is(err, models.ErrNotFound) {
		return OrderView{}, nil, ErrNotFound
	}
	if err != nil {
		return OrderView{}, nil, fmt.Errorf("recharge: order: %w", err)
	}
	if d.Kind == models.KindICCard && req.Channel != models.ChannelWeChatMP {
		return OrderView{}, nil, ErrCardChannel
	}
	// A WeChat payer is the logged-in user's openid under the channel's
	// app; on other channels the payer is whoever pays at the provider.
	if want, ok := s.cfg.Apps[req.Channel]; ok {
		if want == "" || want != req.AppID || req.OpenID == "" {
			return OrderView{}, nil, ErrChannelMismatch
		}
	} else {
		req.AppID = p.MchID()
	}
	tiers, err := s.tiers(ctx, d.TariffID)
	if err != nil {
		return OrderView{}, nil, err
	}
	var cardType *models.CardType
	if d.CardStatus != nil && *d.CardStatus == models.CardCurrent {
		cardType = d.CardType
	}

	unlock, err := s.running(ctx, req.Idem)
	defer unlock()
	if err != nil {
		return OrderView{}, nil, err
	}
	o, lines, prev, err := s.place(ctx, req, tiers, cardType, nil)
	if err != nil {
		return OrderView{}, nil, err
	}
	if prev != nil {
		return s.replay(ctx, *prev, req.Idem)
	}
	params, err := s.prepay(ctx, o, d.UserNumber)
	if err != nil {
		return OrderView{}, nil, err
	}
	if req.Idem != nil {
		if err := s.storeParams(ctx, o, params); err != nil {
			// The answer stands; a repeat opens the payment again.
			s.log.WarnContext(ctx, "payment parameters not stored", slog.String("order_no", o.OrderNo), slog.String("err", err.Error()))
		}
	}
	s.log.InfoContext(ctx, "order created", slog.String("order_no", o.OrderNo), slog.Int64("account_id", o.AccountID),
		slog.Int64("payable_fen", int64(o.PayableFen)), slog.String("channel", string(o.Channel)))
	return OrderView{Order: o, Lines: lines}, params, nil
}

// prepay opens a pending order's payment at its provider and returns what
// the customer's client needs to pay. A refusal closes the order (and
// frees its idempotency key: the request failed, a repeat runs again); an
// unknown outcome leaves it pending for the janitor, or a repeat, to ask.
func (s *Service) prepay(ctx context.Context, o models.Order, userNumber string) (any, error) {
	p := s.providers[o.Channel]
	if p == nil {
		return nil, fmt.Errorf("recharge: order %s: no provider for %s", o.OrderNo, o.Channel)
	}
	params, err := p.Prepay(ctx, PrepayOf(o, s.description(userNumber, o)))
	switch {
	case errors.Is(err, ErrUnknownOutcome):
		// The provider may have the order: it stays pending, the janitor
		// (or the customer's next attempt) asks and closes it.
		s.log.WarnContext(ctx, "prepay outcome unknown", slog.String("order_no", o.OrderNo), slog.String("err", err.Error()))
		return nil, fmt.Errorf("%w: %w", ErrProviderUnavailable, err)
	case err != nil:
		s.log.WarnContext(ctx, "prepay refused", slog.String("order_no", o.OrderNo), slog.String("err", err.Error()))
		release := func(tx *models.Store) error { return tx.ReleaseIdemKey(ctx, o.ID) }
		if _, cerr := s.endUnpaid(ctx, o, models.OrderClosed, "prepay_refused", release); cerr != nil {
			return nil, cerr
		}
		if errors.Is(err, ErrProviderRefused) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrProviderRefused, err)
	}
	return params, nil
}

// place creates an order for req's account, priced again under the
// account's lock, with its balance deduction, while no other purchase of
// the account is in flight: an unpaid one is first settled with its
// provider; if it turns out paid, this order is refused. build, if given,
// completes the order and records what goes with it in the same
// transaction. Every channel's order is placed here. prev, when not nil,
// is the order an earlier request with req's idempotency key made: nothing
// was placed, and the caller answers as that request did.
func (s *Service) place(ctx context.Context, req OrderRequest, tiers []Tier, cardType *models.CardType,
	build func(tx *models.Store, o *models.Order) error) (o models.Order, lines []Line, prev *models.Order, err error) {
	for attempt := 0; ; attempt++ {
		var stale *models.Order
		err := s.store.Tx(ctx, func(tx *models.Store) error {
			stale = nil
			st, err := tx.LockAccountState(ctx, req.AccountID)
			if err != nil {
				return err
			}
			if prev, err = replayOf(ctx, tx, req.Idem); err != nil || prev != nil {
				return err
			}
			if req.Admit != nil && attempt == 0 {
				if err := req.Admit(ctx); err != nil {
					return err
				}
			}
			// Priced again under the lock: the balance, the arrears and
			// the year's volume are what they are now.
			q, err := s.price(st.Account, tiers, cardType, req.QuoteRequest)
			if err != nil {
				return err
			}
			switch err := admit(st.PendingCreditID, st.InflightOrderNo); {
			case errors.Is(err, ErrOrderInProgress):
				old, err := tx.Order(ctx, *st.InflightOrderNo)
				if err != nil {
					return err
				}
				stale = &old
				return nil
			case err != nil:
				return err
			}
			o, err = s.newOrder(req, q)
			if err != nil {
				return err
			}
			lines = q.Lines
			// The balance's part is taken with the order, in one
			// transaction, and given back if the order closes unpaid.
			if err := tx.AdjustBalance(ctx, st.ID, -q.DeductionFen, o.CreatedAt); err != nil {
				return fmt.Errorf("recharge: deduction: %w", err)
			}
			if err := tx.CreateOrder(ctx, &o); err != nil || build == nil {
				return err
			}
			return build(tx, &o)
		})
		if err != nil {
			prev, err = s.afterDuplicate(ctx, req.Idem, err)
			return models.Order{}, nil, prev, err
		}
		if prev != nil {
			return models.Order{}, nil, prev, nil
		}
		if stale == nil {
			break
		}
		if attempt == 2 {
			return models.Order{}, nil, nil, ErrOrderInProgress
		}
		// Another user's unpaid order does not block this one: a stranger
		// who bound the meter cannot hold its owner off by leaving orders
		// open. Only the same user's own order, moments old, is taken to be
		// still starting (a double tap).
		young := stale.UserID != nil && *stale.UserID == req.UserID
		paid, err := s.settle(ctx, *stale, young)
		if err != nil {
			return models.Order{}, nil, nil, err
		}
		if paid {
			return models.Order{}, nil, nil, ErrPreviousPaid
		}
	}
	return o, lines, nil, nil
}

func (s *Service) newOrder(req OrderRequest, q Quote) (models.Order, error) {
	no, err := s.orderNo()
	if err != nil {
		return models.Order{}, err
	}
	lines, err := json.Marshal(q.Lines)
	if err != nil {
		return models.Order{}, err
	}
	now := s.now().UTC()
	uid, acct := req.UserID, req.AccountID
	ttl := s.cfg.OrderTTL
	if req.TTL > 0 {
		ttl = req.TTL
	}
	var user *int64
	if uid != 0 {
		user = &uid
	}
	var scope, key, hash *string
	if k := req.Idem; k != nil {
		scope, key, hash = &k.Scope, &k.Key, &k.Hash
	}
	o := models.Order{IdemScope: scope, IdemKey: key, RequestHash: hash,
		OrderNo: no, AccountID: acct, UserID: user, Channel: req.Channel, Provider: req.Provider, AppID: req.AppID, PayerOpenID: req.OpenID,
		Purpose: q.Purpose, VolumeCentiM3: q.Volume, GrossFen: q.GrossFen, DeductionFen: q.DeductionFen,
		LeftoverFen: q.LeftoverFen, PayableFen: q.PayableFen,
		QuoteJSON: string(lines), TariffVersion: q.pricedBy(),
	}
	o.SetCredit(q.Credit)
	return o.Open(now.Add(ttl).Truncate(time.Second), now), nil
}

// orderNo makes an order number: "GP", the Beijing date, 12 random digits.
// 22 characters, within WeChat's 6–32 and Alipay's 64; the unique index
// catches the one-in-a-trillion collision.
func (s *Service) orderNo() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000_000_000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("GP%s%012d", s.now().In(s.cfg.Location).Format("20060102"), n.Int64()), nil
}

func (s *Service) description(userNumber string, o models.Order) string {
	if o.Purpose == models.PurposeBill {
		return "燃气费 " + userNumber
	}
	return fmt.Sprintf("燃气充值 %s %sm³", userNumber, o.VolumeCentiM3.M3())
}

// settle resolves a pending order with its provider: paid orders take the
// paid path, unpaid ones are closed at the provider and here. It reports
// whether the order turned out paid. young says to leave alone an order the
// provider has not heard of yet if it is only moments old.
func (s *Service) settle(ctx context.Context, o models.Order, young bool) (paid bool, err error) {
	if o.Channel == models.ChannelKioskCode {
		return s.settleCode(ctx, o)
	}
	p := s.byName[s.providerOf(o)]
	if p == nil {
		return false, fmt.Errorf("recharge: order %s: no provider", o.OrderNo)
	}
	t, err := p.Query(ctx, o.OrderNo)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrProviderUnavailable, err)
	}
	switch t.State {
	case TxnPaid:
		return true, s.paidFromTxn(ctx, p, o, t, "query")
	case TxnNotFound:
		if young && s.now().Sub(o.CreatedAt) < inProgressAge {
			return false, ErrOrderInProgress
		}
		_, err := s.closeLocal(ctx, o, "not_at_provider")
		return false, err
	case TxnClosed:
		_, err := s.closeLocal(ctx, o, "closed_at_provider")
		return false, err
	}
	// Open and unpaid: close it at the provider first, so that it cannot
	// be paid after we close it here.
	err = p.Close(ctx, o.OrderNo)
	switch {
	case errors.Is(err, errProviderPaid):
		t, err := p.Query(ctx, o.OrderNo)
		if err != nil {
			return false, fmt.Errorf("%w: %w", ErrProviderUnavailable, err)
		}
		if t.State != TxnPaid {
			return false, fmt.Errorf("%w: close said paid, query says %d", ErrProviderUnavailable, t.State)
		}
		return true, s.paidFromTxn(ctx, p, o, t, "close")
	case err != nil:
		return false, fmt.Errorf("%w: %w", ErrProviderUnavailable, err)
	}
	_, err = s.closeLocal(ctx, o, "unpaid")
	return false, err
}

func (s *Service) paidFromTxn(ctx context.Context, p Provider, o models.Order, t Txn, source string) error {
	_, err := s.MarkPaid(ctx, PaidEvent{Provider: p.Name(), OrderNo: o.OrderNo, TxnID: t.TxnID, AppID: t.AppID,
		MchID: t.MchID, AmountFen: t.AmountFen, Payer: t.Payer, PaidAt: t.PaidAt, Source: source})
	return err
}

// providerOf names the provider that takes an order's payment.
func (s *Service) providerOf(o models.Order) string {
	if o.Provider != "" {
		return o.Provider
	}
	if p := s.providers[o.Channel]; p != nil {
		return p.Name()
	}
	return ""
}

// closeLocal closes a pending order here and gives back the balance it had
// reserved; it reports whether this call closed it (false: it was no
// longer pending).
func (s *Service) closeLocal(ctx context.Context, o models.Order, reason string) (bool, error) {
	return s.endUnpaid(ctx, o, models.OrderClosed, reason, nil)
}

// endUnpaid ends a pending order unpaid, as status (closed, or reversed
// for a payment code reversed at its provider), giving back the balance it
// had reserved; also, if given, runs in the same transaction. It reports
// whether this call ended it.
func (s *Service) endUnpaid(ctx context.Context, o models.Order, status models.OrderStatus, reason string,
	also func(tx *models.Store) error) (bool, error) {
	var closed bool
	err := s.store.Tx(ctx, func(tx *models.Store) error {
		if _, err := tx.LockAccount(ctx, o.AccountID); err != nil {
			return err
		}
		now := s.now().UTC()
		closed = false
		_, err := tx.UpdateOrderSeen(ctx, o, func(o *models.Order) error { return o.EndUnpaid(status, reason, now) })
		if errors.Is(err, models.ErrTransition) {
			return nil
		}
		if err != nil {
			return err
		}
		closed = true
		if err := tx.AdjustBalance(ctx, o.AccountID, o.DeductionFen, now); err != nil || also == nil {
			return err
		}
		return also(tx)
	})
	if err == nil && closed {
		s.log.InfoContext(ctx, "order closed", slog.String("order_no", o.OrderNo), slog.String("status", string(status)),
			slog.String("reason", reason))
	}
	return closed, err
}
