package recharge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"gaspay/models"
	"gaspay/units"
)

// Config holds the service's rules.
type Config struct {
	// PurchaseLimitFen is the most one purchase may cost.
	PurchaseLimitFen int64
	// OrderTTL is how long an order may be paid.
	OrderTTL time.Duration
	// QuoteTTL is how long a quote is promised.
	QuoteTTL time.Duration
	// Location is where the tier year and order numbers are dated.
	Location *time.Location
	// Apps maps each WeChat channel to the app id its payer's openid must
	// belong to (the app the customer logged in through).
	Apps map[models.Channel]string
}

// Service quotes, takes payments and keeps both ledgers.
type Service struct {
	store     *models.Store
	cfg       Config
	providers map[models.Channel]Provider
	byName    map[string]Provider
	log       *slog.Logger
	now       func() time.Time

	// tariffs caches tariffs for tariffTTL: they change a few times a
	// year, and every quote needs one.
	tariffMu sync.Mutex
	tariffs  map[int64]cachedTariff

	// Payment codes at kiosks (codepay.go).
	codeProviders map[string]CodeProvider
	codeLocks     Locker
	codeFollow    bool
	// keyLocks keep simultaneous twins of an idempotent request apart
	// (idempotency.go: running).
	keyLocks Locker
}

type cachedTariff struct {
	tiers []Tier
	at    time.Time
	// versions, oldest first: the tiers in force are the last version
	// whose date has come (tariffs.go).
	versions []tariffVersion
}

// tariffTTL is how long a replica may price on a tariff after staff change
// it.
const tariffTTL = time.Minute

// NewService makes the service; providers maps each channel to the
// provider that takes its payments.
func NewService(store *models.Store, cfg Config, providers map[models.Channel]Provider, log *slog.Logger) *Service {
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	byName := map[string]Provider{}
	for _, p := range providers {
		byName[p.Name()] = p
	}
	return &Service{store: store, cfg: cfg, providers: providers, byName: byName, log: log, now: time.Now,
		tariffs: map[int64]cachedTariff{}}
}

// SetClock replaces the service's clock (tests move time past expiry).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// Provider is the provider of a name ("wechat"), or nil.
func (s *Service) Provider(name string) Provider { return s.byName[name] }

// QuoteRequest names an account and what to buy for it.
type QuoteRequest struct {
	UserID    int64
	AccountID int64
	Purchase  Purchase
}

// Quote is a purchase priced by the server.
type Quote struct {
	AccountID int64
	Kind      models.AccountKind
	Purpose   models.Purpose
	// Volume is the gas bought. For meters that count money (IoT, amount
	// cards), which apply the tiers themselves as gas flows, it is the
	// volume the money buys at the account's place in the year.
	Volume units.CentiM3
	Lines  []Line
	// GrossFen is what is bought; DeductionFen comes from the balance;
	// PayableFen is paid; LeftoverFen, what a volume card bought by amount
	// cannot use, goes to the balance.
	GrossFen     units.Fen
	DeductionFen units.Fen
	LeftoverFen  units.Fen
	PayableFen   units.Fen
	// Credit is what reaches the meter: fen, or 0.01 m3 for a volume card.
	Credit units.Quantity

	BalanceFen units.Fen
	ArrearsFen units.Fen
	YTDVolume  units.CentiM3
	// MaxAmount and MaxVolume are the most this purchase may buy
	// (PurchaseLimit; MaxVolume for prepaid meters only).
	MaxAmount  units.Fen
	MaxVolume  units.CentiM3
	ValidUntil time.Time
	// TariffVersion is the version of the account's tariff that priced
	// the quote: the one in force now (0 for bill payments, which are not
	// priced).
	TariffVersion int
}

// Quote prices a purchase for one of the user's accounts.
// Errors: ErrNotFound, ErrInvalid, ErrAccountInactive, ErrOverLimit,
// ErrTooLittle, ErrVolumeForBill, ErrNoCard.
func (s *Service) Quote(ctx context.Context, req QuoteRequest) (Quote, error) {
	d, err := s.store.BoundAccount(ctx, req.UserID, req.AccountID)
	if errors.Is(err, models.ErrNotFound) {
		return Quote{}, ErrNotFound
	}
	if err != nil {
		return Quote{}, fmt.Errorf("recharge: quote: %w", err)
	}
	tiers, err := s.tiers(ctx, d.TariffID)
	if err != nil {
		return Quote{}, err
	}
	var cardType *models.CardType
	if d.CardSerial != nil && d.CardStatus != nil && *d.CardStatus == models.CardCurrent {
		cardType = d.CardType
	}
	return s.price(d.Account, tiers, cardType, req)
}

func (s *Service) tiers(ctx context.Context, tariffID int64) ([]Tier, error) {
	return s.tiersVia(ctx, s.store, tariffID)
}

// tiersVia loads a tariff through store: inside a transaction, pass the
// transaction's store (SQLite has one connection, which the transaction
// holds).
func (s *Service) tiersVia(ctx context.Context, store *models.Store, tariffID int64) ([]Tier, error) {
	s.tariffMu.Lock()
	c, ok := s.tariffs[tariffID]
	s.tariffMu.Unlock()
	if ok && time.Since(c.at) < tariffTTL {
		return c.inForce(s.now()).tiers, nil
	}
	if versions, err := s.tariffVersions(ctx, store, tariffID); err != nil || len(versions) > 0 {
		if err != nil {
			return nil, err
		}
		c := cachedTariff{at: time.Now(), versions: versions}
		s.tariffMu.Lock()
		s.tariffs[tariffID] = c
		s.tariffMu.Unlock()
		return c.inForce(s.now()).tiers, nil
	}
	t, err := store.Tariff(ctx, tariffID)
	if err != nil {
		return nil, fmt.Errorf("recharge: tariff %d: %w", tariffID, err)
	}
	tiers := make([]Tier, len(t.Tiers))
	for i, tt := range t.Tiers {
		tiers[i] = Tier{UpperCentiM3: unbounded, PriceFenPerM3: tt.PriceFenPerM3}
		if tt.UpperCentiM3 != nil {
			tiers[i].UpperCentiM3 = *tt.UpperCentiM3
		}
	}
	if err := checkTiers(tiers); err != nil {
		return nil, fmt.Errorf("recharge: tariff %d: %w", tariffID, err)
	}
	s.tariffMu.Lock()
	s.tariffs[tariffID] = cachedTariff{tiers: tiers, at: time.Now()}
	s.tariffMu.Unlock()
	return tiers, nil
}

// price applies the rules of a purchase to an account as it stands.
// The arrears are the account's own (a.ArrearsFen): priced under the
// account's lock, they are the ones read under that lock.
func (s *Service) price(a models.Account, tiers []Tier, cardType *models.CardType, req QuoteRequest) (Quote, error) {
	if a.Status != models.AccountActive {
		return Quote{}, ErrAccountInactive
	}
	volume, byVolume := req.Purchase.Volume()
	amount, byAmount := req.Purchase.Amount()
	if !byVolume && !byAmount {
		return Quote{}, ErrInvalid // the zero Purchase
	}
	now := s.now()
	ytd := units.CentiM3(0)
	if a.YTDYear == now.In(s.cfg.Location).Year() {
		ytd = a.YTDVolumeCentiM3
	}
	q := Quote{AccountID: a.ID, Kind: a.Kind, BalanceFen: a.BalanceFen, ArrearsFen: a.ArrearsFen, YTDVolume: ytd,
		MaxAmount:  PurchaseLimit(units.Fen(s.cfg.PurchaseLimitFen), a.Kind, a.ArrearsFen),
		ValidUntil: now.Add(s.cfg.QuoteTTL).UTC().Truncate(time.Second)}
	if a.Kind != models.KindOrdinary {
		q.TariffVersion = s.versionOf(a.TariffID, tiers, now)
	}

	if a.Kind == models.KindOrdinary {
		// Any amount from 0.01 yuan up to the limit (which is the arrears
		// if they are more: a customer can always clear what they owe).
		if byVolume {
			return Quote{}, ErrVolumeForBill
		}
		if amount > q.MaxAmount {
			return Quote{}, ErrOverLimit
		}
		q.Purpose, q.GrossFen, q.PayableFen = models.PurposeBill, amount, amount
		q.Credit = units.Money(amount)
		return q, nil
	}

	q.Purpose = models.PurposeGas
	volumeCard := false
	if a.Kind == models.KindICCard {
		if cardType == nil {
			return Quote{}, ErrNoCard
		}
		volumeCard = *cardType == models.CardVolume
	}
	q.MaxVolume = maxVolume(tiers, ytd, q.MaxAmount)
	if byVolume {
		if volume > q.MaxVolume {
			return Quote{}, ErrOverLimit
		}
		q.Volume = volume
		q.Lines, q.GrossFen = price(tiers, int64(ytd), int64(volume))
	} else {
		if amount > q.MaxAmount {
			return Quote{}, ErrOverLimit
		}
		q.Volume = units.CentiM3(volumeFor(tiers, int64(ytd), amount))
		if q.Volume == 0 {
			return Quote{}, ErrTooLittle
		}
		var cost units.Fen
		q.Lines, cost = price(tiers, int64(ytd), int64(q.Volume))
		q.GrossFen = amount
		if volumeCard {
			// The card takes whole 0.01 m3; the fen that buy less stay
			// in the account for the next purchase.
			q.LeftoverFen = amount - cost
		}
	}
	q.Credit = units.Money(q.GrossFen)
	if volumeCard {
		q.Credit = units.Gas(q.Volume)
	}
	// The balance pays what it can, but a purchase always moves at least
	// a fen through the payment channel: a payment of zero does not exist.
	q.DeductionFen = max(0, min(a.BalanceFen, q.GrossFen-1))
	q.PayableFen = q.GrossFen - q.DeductionFen
	return q, nil
}
