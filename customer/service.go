package customer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"gaspay/models"
	"gaspay/recharge"
	"gaspay/rediskv"
	"gaspay/units"
)

// Errors the service returns; test them with errors.Is.
var (
	// ErrNoMatch: no account matches the number and name. Deliberately
	// says nothing about which of the two was wrong.
	ErrNoMatch = errors.New("customer: no account matches")
	// ErrTooManyAttempts: too many failed binding attempts; see
	// *AttemptsError for when to retry.
	ErrTooManyAttempts = errors.New("customer: too many failed attempts")
	// ErrBindingLimit: the user has bound as many accounts as allowed.
	ErrBindingLimit = errors.New("customer: binding limit reached")
	// ErrNotFound: no such binding or account for this user.
	ErrNotFound = errors.New("customer: not found")
	// ErrInvalid: the request is malformed; handlers validate first, so
	// this is a second line of defence.
	ErrInvalid = errors.New("customer: invalid request")
)

// AttemptsError is ErrTooManyAttempts with the time until the next attempt
// is allowed.
type AttemptsError struct{ RetryAfter time.Duration }

func (e *AttemptsError) Error() string {
	return fmt.Sprintf("customer: too many failed attempts, retry in %s", e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrTooManyAttempts) true.
func (e *AttemptsError) Is(target error) bool { return target == ErrTooManyAttempts }

// RetryAfterDuration is when to try again.
func (e *AttemptsError) RetryAfterDuration() time.Duration { return e.RetryAfter }

// ErrMeterBindLimit: the user has bound as many accounts by meter number
// alone as a day allows; see *MeterLimitError for when to retry.
var ErrMeterBindLimit = errors.New("customer: daily meter-number binding limit reached")

// MeterLimitError is ErrMeterBindLimit with the time until the next day.
type MeterLimitError struct{ RetryAfter time.Duration }

func (e *MeterLimitError) Error() string {
	return fmt.Sprintf("customer: daily meter-number binding limit reached, retry in %s", e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrMeterBindLimit) true.
func (e *MeterLimitError) Is(target error) bool { return target == ErrMeterBindLimit }

// RetryAfterDuration is when to try again.
func (e *MeterLimitError) RetryAfterDuration() time.Duration { return e.RetryAfter }

// Config holds the service's limits.
type Config struct {
	BindingLimit     int
	FailLimit        int
	FailWindow       time.Duration
	PurchaseLimitFen int64
	// MeterBinds is how many accounts a user may newly bind by meter
	// number alone per day (in Location).
	MeterBinds int
	Location   *time.Location
}

// Service binds users to accounts and shows accounts to their users.
type Service struct {
	store *models.Store
	rdb   *rediskv.Client
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	// meterBinds counts the accounts each user newly bound by meter
	// number alone, per day.
	meterBinds *rediskv.Limit
}

// NewService makes a service.
func NewService(store *models.Store, rdb *rediskv.Client, cfg Config, log *slog.Logger) *Service {
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.MeterBinds == 0 {
		cfg.MeterBinds = 5
	}
	// A window longer than a day: the key names the day, and must outlive it.
	meterBinds := rdb.NewLimit("meterbind", cfg.MeterBinds, 25*time.Hour)
	return &Service{store: store, rdb: rdb, cfg: cfg, log: log, now: time.Now, meterBinds: meterBinds}
}

// How a customer identifies the account to bind.
const (
	ByUserNumber  = "user_number"
	ByMeterNumber = "meter_number"
)

// BindRequest is a user's attempt to bind an account.
type BindRequest struct {
	UserID     int64
	IP         string
	By         string // ByUserNumber or ByMeterNumber
	Number     string
	HolderName string // required with ByUserNumber; checked if given with ByMeterNumber
}

// Bind binds the account the request identifies to the user. Binding an
// account twice returns the existing binding with created false.
// Errors: ErrTooManyAttempts (*AttemptsError), ErrNoMatch, ErrBindingLimit,
// ErrInvalid.
func (s *Service) Bind(ctx context.Context, req BindRequest) (b models.Binding, created bool, err error) {
	if err := req.validate(); err != nil {
		return b, false, err
	}
	// Count the attempt as a failure before looking anything up, so that
	// concurrent guesses cannot slip past the limit; a success gives it back.
	userOver, ipOver, err := s.takeAttempt(ctx, req.UserID, req.IP)
	if err != nil {
		return b, false, err
	}
	if userOver != nil {
		return b, false, userOver
	}
	a, ok, err := s.match(ctx, req)
	if err != nil {
		return b, false, err
	}
	if !ok {
		s.log.InfoContext(ctx, "binding refused", slog.Int64("user_id", req.UserID), slog.String("by", req.By))
		if ipOver != nil {
			return b, false, ipOver
		}
		return b, false, ErrNoMatch
	}
	bound, _, err := s.store.BindingKind(ctx, req.UserID, a.ID)
	if err != nil {
		return b, false, fmt.Errorf("customer: bind: %w", err)
	}
	// An IP over its limit (many users behind one NAT, one of them
	// guessing) still lets a user through to an account they hold: that
	// reveals nothing they cannot already see.
	if ipOver != nil && !bound {
		return b, false, ipOver
	}
	s.giveBackAttempt(ctx, req.UserID, req.IP)
	proved := req.HolderName != ""
	// A meter number alone is printed on the meter: each new binding by it
	// counts against the user's day, so that meters cannot be harvested.
	counted := false
	if !proved && !bound {
		day := s.now().In(s.cfg.Location)
		ok, _, err := s.meterBinds.Take(ctx, meterDaySubject(req.UserID, day))
		if err != nil {
			return b, false, fmt.Errorf("customer: bind: %w", err)
		}
		if !ok {
			s.log.WarnContext(ctx, "meter-number binding limit", slog.Int64("user_id", req.UserID))
			return b, false, &MeterLimitError{RetryAfter: untilTomorrow(day)}
		}
		counted = true
	}
	b, created, err = s.store.BindAs(ctx, req.UserID, a.ID, s.cfg.BindingLimit, !proved, s.now().UTC())
	if counted && (err != nil || !created) {
		if gerr := s.meterBinds.GiveBack(ctx, meterDaySubject(req.UserID, s.now().In(s.cfg.Location))); gerr != nil {
			s.log.WarnContext(ctx, "meter binding give-back failed", slog.String("err", gerr.Error()))
		}
	}
	if errors.Is(err, models.ErrLimit) {
		return b, false, ErrBindingLimit
	}
	if err != nil {
		return b, false, fmt.Errorf("customer: bind: %w", err)
	}
	if created {
		s.log.InfoContext(ctx, "account bound", slog.Int64("user_id", req.UserID), slog.Int64("account_id", a.ID),
			slog.Bool("meter_only", b.MeterOnly))
	}
	return b, created, nil
}

func meterDaySubject(userID int64, day time.Time) string {
	return strconv.FormatInt(userID, 10) + ":" + day.Format("20060102")
}

// untilTomorrow is the time from t to the next midnight of t's location.
func untilTomorrow(t time.Time) time.Duration {
	y, m, d := t.Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, t.Location()).Sub(t)
}

func (r BindRequest) validate() error {
	switch r.By {
	case ByUserNumber:
		if !ValidDigits(r.Number, MaxUserNumber) || !ValidHolderName(r.HolderName) {
			return ErrInvalid
		}
	case ByMeterNumber:
		if !ValidDigits(r.Number, MaxMeterNumber) || (r.HolderName != "" && !ValidHolderName(r.HolderName)) {
			return ErrInvalid
		}
	default:
		return ErrInvalid
	}
	return nil
}

// match finds the account and checks the holder name. Every way of not
// matching gives the same answer.
func (s *Service) match(ctx context.Context, req BindRequest) (models.Account, bool, error) {
	var a models.Account
	var err error
	if req.By == ByUserNumber {
		a, err = s.store.AccountByUserNumber(ctx, req.Number)
	} else {
		a, err = s.store.AccountByMeterNumber(ctx, req.Number)
	}
	if errors.Is(err, models.ErrNotFound) {
		return a, false, nil
	}
	if err != nil {
		return a, false, fmt.Errorf("customer: bind lookup: %w", err)
	}
	if a.Status == models.AccountClosed {
		return a, false, nil
	}
	// An IoT meter's number (the digits under its barcode) binds it alone;
	// every other binding proves knowledge of the holder's name.
	if req.By == ByMeterNumber && a.Kind != models.KindIoT {
		return a, false, nil
	}
	if req.HolderName != "" || req.By == ByUserNumber {
		if NormalizeName(req.HolderName) != NormalizeName(a.HolderName) {
			return a, false, nil
		}
	}
	return a, true, nil
}

// takeAttemptScript counts a binding attempt against KEYS[1] and answers
// the count and the window's remaining milliseconds. One key per call: the
// user's and the IP's counters live in different hash slots of a cluster.
var takeAttemptScript = redis.NewScript(`
local n = redis.call("INCR", KEYS[1])
if n == 1 then redis.call("PEXPIRE", KEYS[1], ARGV[1]) end
return {n, redis.call("PTTL", KEYS[1])}`)

// giveBackScript returns an attempt that succeeded, if its window is still
// open (a DECR on a missing key would create one without expiry).
var giveBackScript = redis.NewScript(`
if tonumber(redis.call("GET", KEYS[1]) or "0") > 0 then redis.call("DECR", KEYS[1]) end
return 0`)

func (s *Service) attemptKeys(userID int64, ip string) []string {
	return []string{
		s.rdb.Key("bindfail", "u", strconv.FormatInt(userID, 10)),
		s.rdb.Key("bindfail", "ip", ip),
	}
}

// takeAttempt counts a binding attempt against the user and the IP. It
// answers the refusal of each that is over its limit, with the time until
// its window ends.
func (s *Service) takeAttempt(ctx context.Context, userID int64, ip string) (userOver, ipOver *AttemptsError, err error) {
	// The user's counter first: a user over the limit is refused without
	// costing the IP an attempt.
	over := make([]*AttemptsError, 2)
	for i, k := range s.attemptKeys(userID, ip) {
		res, err := takeAttemptScript.Run(ctx, s.rdb, []string{k}, s.cfg.FailWindow.Milliseconds()).Int64Slice()
		if err != nil {
			return nil, nil, fmt.Errorf("customer: rate limit: %w", err)
		}
		if len(res) != 2 {
			return nil, nil, errors.New("customer: rate limit: bad script answer")
		}
		if res[0] > int64(s.cfg.FailLimit) {
			over[i] = &AttemptsError{RetryAfter: time.Duration(res[1]) * time.Millisecond}
			if i == 0 {
				return over[0], nil, nil
			}
		}
	}
	return over[0], over[1], nil
}

func (s *Service) giveBackAttempt(ctx context.Context, userID int64, ip string) {
	for _, k := range s.attemptKeys(userID, ip) {
		if err := giveBackScript.Run(ctx, s.rdb, []string{k}).Err(); err != nil {
			s.log.WarnContext(ctx, "rate limit give-back failed", slog.String("err", err.Error()))
		}
	}
}

// BindingView is one of a user's bindings as the user sees it.
type BindingView struct {
	ID            int64
	AccountID     int64
	IsDefault     bool
	UserNumber    string
	Kind          models.AccountKind
	HolderMasked  string
	AddressMasked string
	// MeterOnly: bound by meter number alone; the user number, holder
	// and address are not shown.
	MeterOnly bool
	// MeterNumber is the account's meter, if it has one (what a
	// meter-only binding is known by).
	MeterNumber string
	BoundAt     time.Time
}

// Bindings lists the user's bindings, the default first.
func (s *Service) Bindings(ctx context.Context, userID int64) ([]BindingView, error) {
	rows, err := s.store.Bindings(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("customer: bindings: %w", err)
	}
	out := make([]BindingView, len(rows))
	for i, r := range rows {
		out[i] = BindingView{ID: r.ID, AccountID: r.AccountID, IsDefault: r.IsDefault, UserNumber: r.UserNumber,
			Kind: r.Kind, HolderMasked: MaskName(r.HolderName), AddressMasked: MaskAddress(r.Address), BoundAt: r.CreatedAt}
		if r.MeterNumber != nil {
			out[i].MeterNumber = *r.MeterNumber
		}
		if r.MeterOnly {
			out[i].MeterOnly, out[i].UserNumber, out[i].HolderMasked, out[i].AddressMasked = true, "", "", ""
		}
	}
	return out, nil
}

// Unbind removes one of the user's bindings.
// Errors: ErrNotFound.
func (s *Service) Unbind(ctx context.Context, userID, bindingID int64) error {
	err := s.store.Unbind(ctx, userID, bindingID)
	if errors.Is(err, models.ErrNotFound) {
		return ErrNotFound
	}
	return err
}

// SetDefault makes one of the user's bindings the default.
// Errors: ErrNotFound.
func (s *Service) SetDefault(ctx context.Context, userID, bindingID int64) error {
	err := s.store.SetDefaultBinding(ctx, userID, bindingID)
	if errors.Is(err, models.ErrNotFound) {
		return ErrNotFound
	}
	return err
}

// AccountView is an account as one of its bound users sees it: personal data
// masked, money in fen.
type AccountView struct {
	ID            int64
	BindingID     int64
	IsDefault     bool
	UserNumber    string
	Kind          models.AccountKind
	Status        models.AccountStatus
	HolderMasked  string
	AddressMasked string
	BalanceFen    int64
	// ArrearsFen is set for ordinary accounts.
	ArrearsFen *int64
	// Meter is set when the account has a meter; for IoT meters it
	// carries the last report.
	Meter *MeterView
	// Card is set for IC-card accounts with a current card.
	Card             *CardView
	PurchaseLimitFen int64
	// MeterOnly: bound by meter number alone. The view then holds the
	// balance, the meter and the delivery state only.
	MeterOnly bool
	// CreditPending: a paid purchase has not reached the meter yet.
	CreditPending bool
	// Bills are an ordinary account's open bills, oldest first.
	Bills []BillView
	// PendingCredit is a paid credit on its way to the meter (IoT meters,
	// IC cards), if any.
	PendingCredit *PendingCreditView
}

// BillView is one open bill of an ordinary account.
type BillView struct {
	Period        string // YYYY-MM
	AmountDueFen  int64
	AmountPaidFen int64
}

// PendingCreditView is a paid credit not yet on the meter.
type PendingCreditView struct {
	OrderNo string
	Kind    models.CreditKind
	Credit  units.Quantity
	PaidAt  *time.Time
}

// MeterView is an account's meter.
type MeterView struct {
	Number         string
	LastBalanceFen *int64
	LastReportedAt *time.Time
}

// CardView is an account's current IC card.
type CardView struct {
	Serial         string
	Type           models.CardType
	Status         models.CardStatus
	LastWrittenSeq *int
}

// Account shows an account the user has bound.
// Errors: ErrNotFound when the user has not bound it (whether or not it
// exists).
func (s *Service) Account(ctx context.Context, userID, accountID int64) (AccountView, error) {
	d, err := s.store.BoundAccount(ctx, userID, accountID)
	if errors.Is(err, models.ErrNotFound) {
		return AccountView{}, ErrNotFound
	}
	if err != nil {
		return AccountView{}, fmt.Errorf("customer: account %d: %w", accountID, err)
	}
	v := AccountView{
		ID: d.ID, BindingID: d.BindingID, IsDefault: d.IsDefault, UserNumber: d.UserNumber, Kind: d.Kind,
		Status: d.Status, HolderMasked: MaskName(d.HolderName), AddressMasked: MaskAddress(d.Address),
		BalanceFen: int64(d.BalanceFen),
		// The limit a quote of this account allows (recharge/limits.go).
		PurchaseLimitFen: int64(recharge.PurchaseLimit(units.Fen(s.cfg.PurchaseLimitFen), d.Kind, d.ArrearsFen)),
	}
	if d.Kind == models.KindOrdinary {
		arrears := int64(d.ArrearsFen)
		v.ArrearsFen = &arrears
	}
	if d.MeterNumber != nil {
		v.Meter = &MeterView{Number: *d.MeterNumber}
		if d.Kind == models.KindIoT {
			v.Meter.LastBalanceFen, v.Meter.LastReportedAt = d.MeterBalanceFen, d.MeterReportedAt
		}
	}
	if d.Kind == models.KindICCard && d.CardSerial != nil {
		v.Card = &CardView{Serial: *d.CardSerial, Status: *d.CardStatus, LastWrittenSeq: d.CardLastSeq}
		if d.CardType != nil {
			v.Card.Type = *d.CardType
		}
	}
	if d.Kind == models.KindOrdinary {
		bills, err := s.store.OpenBills(ctx, d.ID)
		if err != nil {
			return AccountView{}, fmt.Errorf("customer: account %d bills: %w", accountID, err)
		}
		v.Bills = make([]BillView, len(bills))
		for i, b := range bills {
			v.Bills[i] = BillView{Period: b.Period, AmountDueFen: int64(b.AmountDueFen), AmountPaidFen: int64(b.AmountPaidFen)}
		}
	} else {
		c, err := s.store.PendingCredit(ctx, d.ID)
		switch {
		case err == nil:
			v.PendingCredit = &PendingCreditView{OrderNo: c.OrderNo, Kind: c.Kind, Credit: c.Quantity(), PaidAt: c.PaidAt}
		case !errors.Is(err, models.ErrNotFound):
			return AccountView{}, fmt.Errorf("customer: account %d credit: %w", accountID, err)
		}
	}
	v.CreditPending = v.PendingCredit != nil
	if d.MeterOnly {
		// Only what the meter number itself could tell: the balance, the
		// meter, whether gas is on its way (not whose order, nor how much).
		v.MeterOnly = true
		v.UserNumber, v.HolderMasked, v.AddressMasked, v.ArrearsFen, v.Card, v.Bills = "", "", "", nil, nil, nil
		if v.PendingCredit != nil {
			v.PendingCredit = &PendingCreditView{Kind: v.PendingCredit.Kind, Credit: v.PendingCredit.Credit.Hidden()}
		}
	}
	return v, nil
}
