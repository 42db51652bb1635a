package kiosk

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"gaspay/bleproxy"
	"gaspay/cards"
	"gaspay/customer"
	"gaspay/models"
	"gaspay/recharge"
	"gaspay/units"
)

// Errors of the kiosk flow; test them with errors.Is.
var (
	// ErrWrongBox: a HELLO from another box than the kiosk's own reader.
	ErrWrongBox = errors.New("kiosk: HELLO from another box than the kiosk's")
	// ErrCardNotLoaded: the card carries gas the meter has not taken; no
	// purchase may be written over it.
	ErrCardNotLoaded = errors.New("kiosk: the card's last purchase is not in the meter yet")
)

// Service is the kiosk's purchase flow: the card reader through the cards
// desk, the payment code through recharge's closed loop.
type Service struct {
	store    *models.Store
	desk     *cards.Desk
	recharge *recharge.Service
	limitFen int64
}

// NewService makes the flow; limitFen is the most one purchase may cost.
func NewService(store *models.Store, desk *cards.Desk, rs *recharge.Service, limitFen int64) *Service {
	return &Service{store: store, desk: desk, recharge: rs, limitFen: limitFen}
}

// Open opens a session of the kiosk's own box: a HELLO from any other box
// is refused before it is verified.
func (s *Service) Open(ctx context.Context, k models.Kiosk, hello []byte) (string, bleproxy.Answer, error) {
	f, err := bleproxy.ParseFrame(hello)
	if err != nil {
		return "", bleproxy.Answer{}, err
	}
	if !strings.EqualFold(f.BoxID.String(), k.BoxID) {
		return "", bleproxy.Answer{}, ErrWrongBox
	}
	return s.desk.OpenKiosk(ctx, k.KioskID, hello)
}

// Frame relays a frame of the kiosk's box.
func (s *Service) Frame(ctx context.Context, k models.Kiosk, sessionID string, frame []byte) (bleproxy.Answer, error) {
	return s.desk.FrameKiosk(ctx, k.KioskID, sessionID, frame)
}

// Read asks the kiosk's box to read the card again.
func (s *Service) Read(ctx context.Context, k models.Kiosk, sessionID string) (bleproxy.Answer, error) {
	return s.desk.ReadKiosk(ctx, k.KioskID, sessionID)
}

// Write writes a paid purchase to the card just read: a purchase of this
// kiosk, or one waiting for the card from anywhere (free recovery).
func (s *Service) Write(ctx context.Context, k models.Kiosk, sessionID, orderNo string) (bleproxy.Answer, error) {
	return s.desk.WriteKiosk(ctx, k.KioskID, sessionID, orderNo)
}

// Purchase is a kiosk purchase: an amount or a volume (recharge.Purchase,
// parsed by the handler) for the card just read in a session.
type Purchase struct {
	SessionID string
	Buy       recharge.Purchase
}

func (s *Service) card(ctx context.Context, k models.Kiosk, sessionID string) (cards.KioskCard, error) {
	c, err := s.desk.CardInKiosk(ctx, k.KioskID, sessionID)
	if err != nil {
		return c, err
	}
	if !c.Loaded {
		return c, ErrCardNotLoaded
	}
	return c, nil
}

// Quote prices a purchase for the card just read.
// Errors: cards.ErrNoCardRead, ErrCardNotLoaded, recharge.Quote's.
func (s *Service) Quote(ctx context.Context, k models.Kiosk, p Purchase) (recharge.Quote, error) {
	c, err := s.card(ctx, k, p.SessionID)
	if err != nil {
		return recharge.Quote{}, err
	}
	return s.recharge.QuoteAccount(ctx, recharge.QuoteRequest{AccountID: c.AccountID, Purchase: p.Buy})
}

// Order places the purchase for the card just read and charges the scanned
// code. A code of no provider we take is refused before anything else.
// Errors: recharge.ErrBadAuthCode, cards.ErrNoCardRead, ErrCardNotLoaded,
// recharge.CreateCodeOrder's.
func (s *Service) Order(ctx context.Context, k models.Kiosk, p Purchase, authCode string, idem *recharge.IdemKey) (recharge.CodeOrder, error) {
	if _, err := recharge.CodeProviderFor(authCode); err != nil {
		return recharge.CodeOrder{}, err
	}
	c, err := s.card(ctx, k, p.SessionID)
	if err != nil {
		return recharge.CodeOrder{}, err
	}
	return s.recharge.CreateCodeOrder(ctx, recharge.CodeOrderRequest{AccountID: c.AccountID, Purchase: p.Buy,
		AuthCode: authCode, KioskID: k.KioskID, Idem: idem})
}

// OrderOf shows one of the kiosk's orders, taking a due step of its loop.
// Errors: recharge.ErrNotFound, also for another kiosk's order.
func (s *Service) OrderOf(ctx context.Context, k models.Kiosk, no string) (recharge.CodeOrder, error) {
	o, err := s.recharge.CodeOrderByNo(ctx, no)
	if err != nil {
		return o, err
	}
	if o.Code.KioskID != k.KioskID {
		return recharge.CodeOrder{}, recharge.ErrNotFound
	}
	return o, nil
}

// View is what the kiosk's screen shows after a card read or a write: the
// desk's view, the account's balance and masked address, the purchase
// limit, and the screen's words in Chinese.
type View struct {
	cards.CardView
	BalanceFen   *int64 `json:"balance_fen,omitempty"`
	Address      string `json:"address,omitempty"`
	MaxAmountFen int64  `json:"max_amount_fen,omitempty"`
	Screen       string `json:"screen"`
}

// ViewOf turns the desk's view into the kiosk's.
func (s *Service) ViewOf(ctx context.Context, raw json.RawMessage) (*View, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var v View
	if err := json.Unmarshal(raw, &v.CardView); err != nil {
		return nil, err
	}
	if v.AccountID != 0 && v.Refusal == nil {
		a, err := s.store.Account(ctx, v.AccountID)
		if err != nil {
			return nil, err
		}
		bal := int64(a.BalanceFen)
		limit := recharge.PurchaseLimit(units.Fen(s.limitFen), a.Kind, a.ArrearsFen)
		v.BalanceFen, v.Address, v.MaxAmountFen = &bal, customer.MaskAddress(a.Address), int64(limit)
	}
	v.Screen = Screen(v.CardView)
	return &v, nil
}
