// Package iot delivers IoT credits to NB-IoT prepaid meters through their
// carrier platform (CTWing first, behind the Platform port), and proves them
// applied by the meter's own authenticated report (docs/meter-protocol.md).
//
// A paid IoT credit gets one delivery (iot_deliveries) whose recharge
// carries the account's purchase sequence; copies go to the platform
// (iot_commands) until a report shows the sequence applied. The platform is
// never believed about money: its pushes are hints, its command states only
// steer resends and cancels. The ledger is touched in ledger.go only.
package iot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"gaspay/bleproxy"
	"gaspay/iot/meterproto"
	"gaspay/models"
)

// Errors; test them with errors.Is.
var (
	// ErrMalformed: the push or its payload is not what a meter sends.
	ErrMalformed = errors.New("iot: malformed message")
	// ErrForged: the report does not authenticate under its meter's key.
	ErrForged = errors.New("iot: report does not authenticate")
	// ErrUnknownMeter: no IoT account has this meter.
	ErrUnknownMeter = errors.New("iot: unknown meter")
	// ErrNotIoT: the order has no IoT delivery.
	ErrNotIoT = errors.New("iot: not an IoT delivery")
	// ErrDeliveryOver: the delivery is applied or cancelled already.
	ErrDeliveryOver = errors.New("iot: delivery is over")
)

// Refunder refunds an order (recharge.Service): the refund of a proven
// dead IoT credit goes through the same cancelCredit as every other.
type Refunder interface {
	RefundOrder(ctx context.Context, orderNo, reason, by string) (models.Refund, error)
}

// Alerter tells staff.
type Alerter interface {
	AddAlert(ctx context.Context, kind, orderNo, detail string, at time.Time) error
}

// Config holds the delivery rules.
type Config struct {
	Master bleproxy.MasterKey
	// CommandTTL is how long the platform caches a copy, and its
	// not_after on the meter.
	CommandTTL time.Duration
	// SilentAfter flags a meter that has not reported for this long.
	SilentAfter time.Duration
	// UnappliedAlertAfter alerts staff about a credit not applied.
	UnappliedAlertAfter time.Duration
	// FollowEvery is how often a copy the platform still holds is asked
	// about.
	FollowEvery time.Duration
	// Workers send copies concurrently.
	Workers int
}

// Service runs IoT deliveries.
type Service struct {
	store    *models.Store
	platform Platform
	refunds  Refunder
	cfg      Config
	log      *slog.Logger
	now      func() time.Time

	ingest  *ingester
	sending chan struct{} // a slot for each command at the platform
	page    int           // due deliveries a dispatch pass takes at a time

	keyMu sync.Mutex
	keys  map[string]bleproxy.Key
}

// platformInFlight bounds the commands the service hands the platform at
// once, whatever the number of dispatch workers.
const platformInFlight = 32

// Group commit of reports: commits under way at once, reports per commit.
const (
	ingestCommits = 2
	ingestBatch   = 128
)

// New makes the service.
func New(store *models.Store, platform Platform, refunds Refunder, cfg Config, log *slog.Logger) *Service {
	if cfg.FollowEvery <= 0 {
		cfg.FollowEvery = 10 * time.Minute
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	return &Service{store: store, platform: platform, refunds: refunds, cfg: cfg, log: log, now: time.Now, keys: map[string]bleproxy.Key{},
		ingest: newIngester(store, ingestCommits, ingestBatch), sending: make(chan struct{}, platformInFlight), page: batch}
}

// SetPage sets how many due deliveries a dispatch pass takes at a time
// (tests: a backlog of several pages without thousands of accounts).
func (s *Service) SetPage(n int) { s.page = max(n, 1) }

// SetClock replaces the clock (tests).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// Platform is the meter platform the service speaks to.
func (s *Service) Platform() Platform { return s.platform }

func (s *Service) key(meter string) bleproxy.Key {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	k, ok := s.keys[meter]
	if !ok {
		if len(s.keys) > 100000 {
			clear(s.keys)
		}
		k = meterproto.MeterKey(s.cfg.Master, meter)
		s.keys[meter] = k
	}
	return k
}

func (s *Service) alert(ctx context.Context, tx *models.Store, kind, orderNo, detail string) error {
	s.log.WarnContext(ctx, "alert", slog.String("kind", kind), slog.String("order_no", orderNo), slog.String("detail", detail))
	return tx.AddAlert(ctx, kind, orderNo, detail, s.now().UTC())
}

// Alert kinds the IoT delivery raises.
const (
	AlertRejected       = "iot_rejected"
	AlertMeterBehind    = "iot_meter_behind"
	AlertMeterSilent    = "iot_meter_silent"
	AlertUnapplied      = "iot_credit_unapplied"
	AlertGasForRefund   = "gas_for_refunded_order"
	AlertRefundNotTaken = "iot_refund_failed"
)

// HandlePush takes one platform push. A report changes something only if it
// authenticates and is fresh; a command response only makes us ask the
// platform. Replays and duplicates answer nil and change nothing.
// Errors: ErrMalformed, ErrForged, ErrUnknownMeter.
func (s *Service) HandlePush(ctx context.Context, body []byte) (Outcome, error) {
	p, err := s.platform.ParsePush(body)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	switch p.Kind {
	case PushReport:
		return s.Ingest(ctx, p.DeviceID, p.Payload)
	case PushCommandResponse:
		s.confirm(ctx, p.CommandID)
		return Hint, nil
	case PushOnline, PushOffline:
		return Hint, s.store.SetIoTOnline(ctx, p.DeviceID, p.Kind == PushOnline, s.now().UTC())
	}
	return 0, ErrMalformed
}

// Outcome is what a push did.
type Outcome int

// Outcomes.
const (
	Taken    Outcome = iota + 1 // a fresh authenticated report, stored
	Replayed                    // a report already taken (or older): nothing changed
	Hint                        // a command response or an online event
)

// Ingest takes a meter report relayed by the platform for deviceID.
func (s *Service) Ingest(ctx context.Context, deviceID string, payload []byte) (Outcome, error) {
	msg, err := meterproto.Parse(payload)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	pt, err := meterproto.Open(s.key(msg.Meter), meterproto.TypeReport, msg)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrForged, err)
	}
	var r meterproto.Report
	if err := r.UnmarshalBinary(pt); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	now := s.now().UTC()
	meterTime := time.Unix(int64(r.MeterTime), 0).UTC()
	row := ReportRow{MeterNumber: msg.Meter, Counter: int64(msg.Counter), Reason: int(r.Reason),
		LastAppliedSeq: int64(r.LastAppliedSeq), Unit: int(r.Unit), Balance: int64(r.Balance), CumulativeCentiM3: int64(r.CumulativeCentiM3),
		Valve: int(r.Valve), BatteryMV: int(r.BatteryMV), SignalDBm: int(r.SignalDBm), MeterTime: meterTime,
		AnsweredCounter: int64(r.AnsweredCounter), Result: int(r.Result), AnsweredSeq: int64(r.AnsweredSeq), ReceivedAt: now}
	// No credit on its way (nearly every report): the report joins the
	// history and moves the meter's state in a commit shared with the
	// reports arriving beside it.
	t, err := s.ingest.take(ctx, row)
	if err == nil && !t.Known {
		if _, err = s.store.EnsureIoTMeter(ctx, msg.Meter, deviceID, now); err == nil {
			t, err = s.ingest.take(ctx, row)
		}
	}
	if errors.Is(err, models.ErrNotFound) || (err == nil && !t.Known) {
		return 0, ErrUnknownMeter
	}
	if err != nil {
		return 0, fmt.Errorf("iot: report %s/%d: %w", msg.Meter, msg.Counter, err)
	}
	if deviceID != "" && t.DeviceID != deviceID {
		// Authenticated, so the meter's; the platform's routing is what
		// is off. The report counts; staff may want to know.
		s.log.WarnContext(ctx, "report from another device id", slog.String("meter", msg.Meter), slog.String("device_id", deviceID))
	}
	if t.OpenID == nil {
		if t.Taken {
			return Taken, nil
		}
		return Replayed, nil
	}
	// A credit on its way: the report is taken under the account's lock,
	// with what it proves about the delivery.
	var out Outcome
	var refund *Delivery
	err = s.store.Tx(ctx, func(tx *models.Store) error {
		out, refund = Replayed, nil
		d, err := oneDelivery(tx.LockIoTDeliveryAndAccount(ctx, *t.OpenAccount, *t.OpenID))
		if err != nil {
			return err
		}
		taken, err := tx.TakeIoTReport(ctx, row, now)
		if err != nil || !taken {
			return err
		}
		out = Taken
		if !d.State.Open() {
			return nil
		}
		refund, err = s.reconcile(ctx, tx, d, r, meterTime, now)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("iot: report %s/%d: %w", msg.Meter, msg.Counter, err)
	}
	if refund != nil {
		s.completeRefund(ctx, *refund)
	}
	return out, nil
}

// reconcile applies what an authenticated report proves about the meter's
// open delivery, under the account lock. It returns the delivery when the
// report completed the proof a staff refund waits for.
func (s *Service) reconcile(ctx context.Context, tx *models.Store, d Delivery, r meterproto.Report, meterTime, now time.Time) (*Delivery, error) {
	last := int64(r.LastAppliedSeq)
	seq := int64(d.Seq)
	if last < seq-1 && (d.Reason == nil || *d.Reason != "meter_behind") {
		if _, err := meterBehind(now).apply(ctx, tx, d.ID); err != nil {
			return nil, err
		}
		if err := s.alert(ctx, tx, AlertMeterBehind, d.OrderNo, fmt.Sprintf(
			"燃气表 %s 报告已装入第 %d 次购气，第 %d 次在等待：其间有一次购气从未到表", d.MeterNumber, last, seq)); err != nil {
			return nil, err
		}
	}
	switch {
	case last >= seq:
		ok, err := deliver(ctx, tx, d.CreditID, now)
		if err != nil {
			return nil, err
		}
		if !ok {
			c, err := tx.CreditByID(ctx, d.CreditID)
			if err != nil {
				return nil, err
			}
			if c.Status == models.CreditCancelled {
				if err := s.alert(ctx, tx, AlertGasForRefund, d.OrderNo, fmt.Sprintf(
					"燃气表 %s 报告已装入第 %d 次购气，但该订单的款项已退回", d.MeterNumber, seq)); err != nil {
					return nil, err
				}
			}
		}
		_, err = meterApplied(now).apply(ctx, tx, d.ID)
		if err == nil {
			s.log.InfoContext(ctx, "iot credit applied", slog.String("order_no", d.OrderNo), slog.Int("seq", d.Seq))
		}
		return nil, err
	case r.Reason == meterproto.ReasonAnswer && int64(r.AnsweredSeq) == seq:
		switch r.Result {
		case meterproto.ResultExpired:
			// The meter's clock passed not_after: a fresh copy, same
			// sequence.
			if d.CancelRequestedAt == nil {
				if _, err := meterExpired(now).apply(ctx, tx, d.ID); err != nil {
					return nil, err
				}
			}
		case meterproto.ResultOutOfSequence, meterproto.ResultRefused:
			if d.State != Rejected {
				why := "out_of_sequence"
				if r.Result == meterproto.ResultRefused {
					why = "refused_by_meter"
				}
				if _, err := meterRejected(why, now).apply(ctx, tx, d.ID); err != nil {
					return nil, err
				}
				if err := s.alert(ctx, tx, AlertRejected, d.OrderNo, fmt.Sprintf(
					"燃气表 %s 对第 %d 次购气答复 %s；表内已装入第 %d 次（余额 %d）", d.MeterNumber, seq, why, last, r.Balance)); err != nil {
					return nil, err
				}
			}
		}
	}
	// The proof a staff refund waits for: every copy final at the
	// platform, then the meter's own clock past every copy's not_after
	// with the sequence not applied.
	if d.CancelRequestedAt != nil && d.CancelConfirmedAt != nil && last < seq && d.ValidUntil != nil && meterTime.After(*d.ValidUntil) {
		if err := settleUnapplied(ctx, tx, d, now); err != nil {
			return nil, err
		}
		return &d, nil
	}
	return nil, nil
}

// completeRefund refunds the order of a delivery proven dead; a failure is
// retried by the janitor.
func (s *Service) completeRefund(ctx context.Context, d Delivery) {
	reason, by := "IoT credit not applied", "staff"
	if d.CancelReason != nil {
		reason = *d.CancelReason
	}
	if d.CancelBy != nil {
		by = *d.CancelBy
	}
	if _, err := s.refunds.RefundOrder(ctx, d.OrderNo, reason, by); err != nil {
		s.log.WarnContext(ctx, "iot refund", slog.String("order_no", d.OrderNo), slog.String("err", err.Error()))
		return
	}
	s.log.InfoContext(ctx, "iot credit proven unapplied and refunded", slog.String("order_no", d.OrderNo))
}
