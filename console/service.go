package console

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gaspay/iot"
	"gaspay/messages"
	"gaspay/models"
	"gaspay/recharge"
)

// Errors the service returns; test them with errors.Is.
var (
	// ErrNotFound: no such account, order, alert, approval or card.
	ErrNotFound = errors.New("console: not found")
	// ErrInvalid: a malformed value (handlers check first).
	ErrInvalid = errors.New("console: invalid request")
	// ErrOwnApproval: the requester of a refund cannot approve it.
	ErrOwnApproval = errors.New("console: cannot approve one's own request")
	// ErrAlreadyDecided: the approval is no longer pending.
	ErrAlreadyDecided = errors.New("console: approval already decided")
	// ErrApprovalPending: the order already waits for an approval.
	ErrApprovalPending = errors.New("console: approval already pending")
	// ErrSerialTaken: the replacement card's serial is already registered.
	ErrSerialTaken = errors.New("console: card serial already registered")
	// ErrNoCard: the account has no current card to replace.
	ErrNoCard = errors.New("console: no current card")
)

// Config holds the console's rules.
type Config struct {
	// ApprovalFen: refunds above this wait for a second member of staff.
	ApprovalFen int64
	// Location is the business day's time zone (Beijing).
	Location *time.Location
	// JanitorLastRun reports when the janitor last finished a pass, if
	// known.
	JanitorLastRun func(context.Context) (time.Time, bool)
	// IoT delivers IoT credits (iot.Service): a refund of a credit already
	// sent is a cancel there, and staff resend through it. Nil without IoT
	// meters.
	IoT IoTDeliveries
	// Messages is the customers' messages (messages.Service), listed on
	// the customer record. Nil lists none.
	Messages MessageLog
}

// IoTDeliveries is what the console asks of the IoT delivery.
type IoTDeliveries interface {
	// RequestRefund cancels a sent credit at the platform; the refund
	// completes by itself once a report proves it unapplied.
	// Errors: iot.ErrNotIoT, iot.ErrDeliveryOver.
	RequestRefund(ctx context.Context, orderNo, reason, by string) (iot.RefundRequest, error)
	// Resend sends another copy now, if none can still land; audit
	// records the decision in its transaction.
	// Errors: iot.ErrNotIoT, iot.ErrDeliveryOver, iot.ErrNotResendable.
	Resend(ctx context.Context, orderNo string, audit func(tx *models.Store, before iot.Delivery) error) (iot.Delivery, error)
	// DeliveryOf is an order's delivery. Errors: iot.ErrNotIoT.
	DeliveryOf(ctx context.Context, orderNo string) (iot.Delivery, error)
}

// MessageLog lists the messages sent about an account.
type MessageLog interface {
	OfAccount(ctx context.Context, accountID int64, limit int) ([]messages.Message, error)
}

// Service is the console's back office.
type Service struct {
	store    *models.Store
	recharge *recharge.Service
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	// afterBatch, when set, runs after each applied batch of an import,
	// outside any transaction (tests pay while an import runs).
	afterBatch func(importID int64, rows int)
}

// SetBatchHook sets a function run after each applied batch of an
// import, between its transactions (tests).
func (s *Service) SetBatchHook(f func(importID int64, rows int)) { s.afterBatch = f }

// NewService makes the console.
func NewService(store *models.Store, rc *recharge.Service, cfg Config, log *slog.Logger) *Service {
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.ApprovalFen <= 0 {
		cfg.ApprovalFen = 50_000
	}
	return &Service{store: store, recharge: rc, cfg: cfg, log: log, now: time.Now}
}

// SetClock replaces the clock (tests).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// ApprovalFen is the refund amount above which approval is needed.
func (s *Service) ApprovalFen() int64 { return s.cfg.ApprovalFen }

// Dashboard is the 工作台.
type Dashboard struct {
	Day            string
	Payments       []models.ChannelTotal
	TotalFen       int64
	TotalCount     int64
	PendingCredits []PendingGroup
	OpenAlerts     int64
	PendingApprove int
	JanitorLastRun *time.Time
}

// PendingGroup counts credits waiting for delivery of one kind and age.
type PendingGroup struct {
	Kind  models.CreditKind
	Age   string // "<1h", "1-24h", ">24h"
	Count int
}

// DayBounds is the UTC span of a business day (YYYY-MM-DD, in the
// configured zone).
func (s *Service) DayBounds(day string) (time.Time, time.Time, error) {
	d, err := time.ParseInLocation("2006-01-02", day, s.cfg.Location)
	if err != nil {
		return time.Time{}, time.Time{}, ErrInvalid
	}
	return d.UTC(), d.AddDate(0, 0, 1).UTC(), nil
}

// Today is the business day now.
func (s *Service) Today() string { return s.now().In(s.cfg.Location).Format("2006-01-02") }

// Dashboard gathers today's figures.
func (s *Service) Dashboard(ctx context.Context) (Dashboard, error) {
	d := Dashboard{Day: s.Today()}
	from, to, _ := s.DayBounds(d.Day)
	var err error
	if d.Payments, err = s.store.PaymentsByChannel(ctx, from, to); err != nil {
		return d, fmt.Errorf("console: dashboard: %w", err)
	}
	for _, p := range d.Payments {
		d.TotalFen += p.TotalFen
		d.TotalCount += p.Count
	}
	credits, err := s.store.PendingCredits(ctx)
	if err != nil {
		return d, fmt.Errorf("console: dashboard: %w", err)
	}
	now := s.now()
	idx := map[[2]string]int{}
	for _, c := range credits {
		age := ">24h"
		switch a := now.Sub(c.CreatedAt); {
		case a < time.Hour:
			age = "<1h"
		case a < 24*time.Hour:
			age = "1-24h"
		}
		k := [2]string{string(c.Kind), age}
		if i, ok := idx[k]; ok {
			d.PendingCredits[i].Count++
			continue
		}
		idx[k] = len(d.PendingCredits)
		d.PendingCredits = append(d.PendingCredits, PendingGroup{Kind: c.Kind, Age: age, Count: 1})
	}
	if d.OpenAlerts, err = s.store.CountOpenAlerts(ctx); err != nil {
		return d, err
	}
	ap, err := s.store.Approvals(ctx, true, 100)
	if err != nil {
		return d, err
	}
	d.PendingApprove = len(ap)
	if s.cfg.JanitorLastRun != nil {
		if t, ok := s.cfg.JanitorLastRun(ctx); ok {
			d.JanitorLastRun = &t
		}
	}
	return d, nil
}

// Search finds accounts for the one search box.
func (s *Service) Search(ctx context.Context, q string) ([]models.AccountHit, error) {
	if q == "" || len([]rune(q)) > 32 {
		return nil, ErrInvalid
	}
	return s.store.SearchAccounts(ctx, q, 20)
}

// Customer is an account's whole record.
type Customer struct {
	models.CustomerRecord
	Orders    []recharge.OrderView
	Payments  map[int64]models.Payment
	BoxEvents []models.BoxEvent
	// Messages are the messages sent (or being sent) about the account,
	// newest first.
	Messages []messages.Message
}

// Customer loads an account's whole record.
// Errors: ErrNotFound.
func (s *Service) Customer(ctx context.Context, accountID int64) (Customer, error) {
	rec, err := s.store.Customer(ctx, accountID)
	if errors.Is(err, models.ErrNotFound) {
		return Customer{}, ErrNotFound
	}
	if err != nil {
		return Customer{}, err
	}
	c := Customer{CustomerRecord: rec}
	orders, err := s.store.FilterOrders(ctx, models.OrderFilter{AccountID: accountID}, 50)
	if err != nil {
		return c, err
	}
	if c.Orders, c.Payments, err = s.views(ctx, orders); err != nil {
		return c, err
	}
	if c.BoxEvents, err = s.store.BoxEventsOfAccount(ctx, accountID, 50); err != nil {
		return c, err
	}
	if s.cfg.Messages != nil {
		c.Messages, err = s.cfg.Messages.OfAccount(ctx, accountID, 50)
	}
	return c, err
}

func (s *Service) views(ctx context.Context, orders []models.Order) ([]recharge.OrderView, map[int64]models.Payment, error) {
	views, err := s.recharge.Views(ctx, orders)
	if err != nil {
		return nil, nil, err
	}
	ids := make([]int64, len(orders))
	for i, o := range orders {
		ids[i] = o.ID
	}
	pays, err := s.store.PaymentsOf(ctx, ids)
	return views, pays, err
}

// Orders lists orders by a filter, with their payments.
func (s *Service) Orders(ctx context.Context, f models.OrderFilter) ([]recharge.OrderView, map[int64]models.Payment, error) {
	orders, err := s.store.FilterOrders(ctx, f, 100)
	if err != nil {
		return nil, nil, err
	}
	return s.views(ctx, orders)
}

// Audit lists the audit trail.
func (s *Service) Audit(ctx context.Context, f models.AuditFilter) ([]models.AuditEntry, error) {
	return s.store.Audit(ctx, f, 200)
}
