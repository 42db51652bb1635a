package iot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"gaspay/iot/meterproto"
	"gaspay/models"
)

const batch = 500

// errSkip ends a transaction that found nothing to do.
var errSkip = errors.New("iot: nothing to do")

// sendable are the states a copy leaves from (platformAccepted's).
var sendable = []State{Queued, Expired}

// backoff is how long a delivery whose copy failed waits before the next.
func backoff(copies int) time.Duration {
	d := time.Minute << min(copies, 5)
	return min(d, 30*time.Minute)
}

// DispatchPass queues the delivery of every new IoT credit and sends a copy
// of every delivery that is due (queued, or expired undelivered). It
// reports how many copies the platform accepted.
func (s *Service) DispatchPass(ctx context.Context) int {
	if _, err := s.Enqueue(ctx); err != nil {
		s.log.ErrorContext(ctx, "iot enqueue", slog.String("err", err.Error()))
	}
	due, err := s.Due(ctx, batch)
	if err != nil {
		s.log.ErrorContext(ctx, "iot due", slog.String("err", err.Error()))
		return 0
	}
	var mu sync.Mutex
	sent := 0
	work := make(chan Delivery)
	var wg sync.WaitGroup
	for range min(s.cfg.Workers, max(len(due), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range work {
				ok, err := s.Send(ctx, d)
				if err != nil {
					s.log.WarnContext(ctx, "iot send", slog.String("order_no", d.OrderNo), slog.String("err", err.Error()))
				}
				if ok {
					mu.Lock()
					sent++
					mu.Unlock()
				}
			}
		}()
	}
	for _, d := range due {
		if ctx.Err() != nil {
			break
		}
		work <- d
	}
	close(work)
	wg.Wait()
	return sent
}

// Enqueue creates the queued delivery of every paid IoT credit that has
// none (at most one batch).
func (s *Service) Enqueue(ctx context.Context) (int, error) {
	return s.store.EnqueueIoTDeliveries(ctx, string(Queued), s.now().UTC(), batch)
}

// Due lists deliveries to send now.
func (s *Service) Due(ctx context.Context, limit int) ([]Delivery, error) {
	return deliveriesOf(s.store.DueIoTDeliveries(ctx, names(sendable), s.now().UTC(), limit))
}

// Send seals a copy of a due delivery's recharge and hands it to the
// platform, and reports whether the platform accepted it. The attempt is
// counted on the credit before the copy leaves: from then the credit is in
// doubt. A delivery no longer due is left alone.
func (s *Service) Send(ctx context.Context, d Delivery) (bool, error) {
	now := s.now().UTC()
	notAfter := now.Add(s.cfg.CommandTTL).Truncate(time.Second)
	var cmd models.IoTCommand
	var deviceID string
	err := s.store.Tx(ctx, func(tx *models.Store) error {
		row, creditStatus, device, err := tx.LockIoTDeliveryForSend(ctx, d.AccountID, d.ID)
		if err != nil {
			return err
		}
		cur := deliveryOf(row)
		if cur.State.may(platformAccepted(now, now)) != nil || cur.CancelRequestedAt != nil || cur.NextAt.After(now) {
			return errSkip
		}
		if creditStatus != models.CreditPending {
			// Refunded while queued (or delivered some other way): the
			// delivery is over.
			if _, err := creditGone(cur, creditStatus, now).apply(ctx, tx, d.ID); err != nil {
				return err
			}
			return errSkip
		}
		if ok, err := attempt(ctx, tx, d.CreditID, now); err != nil || !ok {
			return errors.Join(err, errSkip)
		}
		if device == "" {
			m, err := tx.EnsureIoTMeter(ctx, d.MeterNumber, "", now)
			if err != nil {
				return err
			}
			device = m.DeviceID
		}
		counter, err := tx.NextIoTCommandCounter(ctx, d.MeterNumber)
		if err != nil {
			return err
		}
		deviceID = device
		cmd = models.IoTCommand{DeliveryID: d.ID, MeterNumber: d.MeterNumber, Counter: counter, NotAfter: notAfter,
			State: string(copySending), CreatedAt: now, UpdatedAt: now}
		if err := tx.InsertIoTCommand(ctx, &cmd); err != nil {
			return err
		}
		_, err = copySealed(cur, notAfter, now.Add(backoff(cur.Copies)), now).apply(ctx, tx, d.ID)
		return err
	})
	if errors.Is(err, errSkip) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	unit := meterproto.UnitFen
	if d.Unit == string(models.UnitCentiM3) {
		unit = meterproto.UnitCentiM3
	}
	payload, err := meterproto.SealRecharge(s.key(d.MeterNumber), d.MeterNumber, uint32(cmd.Counter), meterproto.Recharge{
		Seq: uint32(d.Seq), Unit: unit, Credit: uint32(d.Amount), ReopenValve: true, NotAfter: uint32(notAfter.Unix())})
	if err != nil {
		return false, err
	}
	id, err := s.platform.Send(ctx, deviceID, payload, s.cfg.CommandTTL, fmt.Sprintf("d%d-c%d", d.ID, cmd.Counter))
	done := s.now().UTC()
	switch {
	case err == nil:
		// One write for the copy's id and the delivery's move (the move
		// only if the delivery is still queued or expired: a report may
		// already have applied it).
		m := platformAccepted(done, done.Add(s.cfg.FollowEvery))
		return true, s.store.ChangeIoTCommandAndDelivery(ctx, cmd.ID, copyAnswer(CmdSaved, &id, &done, done), d.ID,
			names(m.from), m.change())
	case errors.Is(err, ErrPlatformRefused):
		// Not cached: another copy after the backoff.
		return false, errors.Join(err, s.store.ChangeIoTCommand(ctx, cmd.ID, copyAnswer(CmdFailed, nil, nil, done)))
	default:
		// Perhaps cached, perhaps not: the copy may still reach the meter
		// until not_after; another copy follows after the backoff, and
		// the sequence rule makes the two harmless together.
		return false, errors.Join(err, s.store.ChangeIoTCommand(ctx, cmd.ID, copyAnswer(copyUnknown, nil, nil, done)))
	}
}

// confirm asks the platform about a copy a push mentioned.
func (s *Service) confirm(ctx context.Context, commandID string) {
	c, err := s.store.IoTCommandByPlatformID(ctx, commandID)
	if err != nil {
		return
	}
	s.follow(ctx, c)
}

// follow asks the platform where a copy is and moves the delivery: the
// device acknowledged it (delivered), or every copy is gone undelivered
// (expired: another copy, same sequence).
func (s *Service) follow(ctx context.Context, c models.IoTCommand) {
	d, err := oneDelivery(s.store.IoTDelivery(ctx, c.DeliveryID))
	if err != nil || c.CommandID == nil {
		return
	}
	m, err := s.store.IoTMeter(ctx, c.MeterNumber)
	if err != nil {
		return
	}
	state, err := s.platform.Query(ctx, m.DeviceID, *c.CommandID)
	now := s.now().UTC()
	if err != nil {
		s.log.WarnContext(ctx, "iot query", slog.String("command_id", *c.CommandID), slog.String("err", err.Error()))
		s.store.ChangeIoTCommand(ctx, c.ID, models.IoTCommandChange{CheckedAt: &now})
		return
	}
	if err := s.store.ChangeIoTCommand(ctx, c.ID, copyAnswer(state, nil, &now, now)); err != nil {
		return
	}
	switch {
	case state.Reached():
		deviceAcked(now).apply(ctx, s.store, d.ID)
	case !state.Waiting() && d.State.may(platformDropped(now)) == nil && d.CancelRequestedAt == nil:
		copies, err := s.store.IoTCommandsOf(ctx, d.ID)
		if err != nil {
			return
		}
		for _, x := range copies {
			xs := copyState(x)
			if xs.Waiting() || xs.Reached() || xs == copySending || (xs == copyUnknown && now.Before(x.NotAfter)) {
				return
			}
		}
		platformDropped(now).apply(ctx, s.store, d.ID)
	}
}

// RefundRequest is the answer to a staff refund of an IoT credit already
// sent.
type RefundRequest struct {
	OrderNo     string
	State       State
	RequestedAt time.Time
	// ValidUntil is when the last copy dies on the meter: the refund
	// completes at the first report after it that shows the purchase not
	// applied.
	ValidUntil *time.Time
}

// RequestRefund records a staff refund of an IoT credit whose recharge was
// sent: the copies are cancelled at the platform, and the refund completes
// by itself once the meter's report proves the purchase dead. If the meter
// applies it first, it is delivered and never refunded.
// Errors: ErrNotIoT, ErrDeliveryOver.
func (s *Service) RequestRefund(ctx context.Context, orderNo, reason, by string) (RefundRequest, error) {
	d, err := oneDelivery(s.store.IoTDeliveryOfOrder(ctx, orderNo))
	if errors.Is(err, models.ErrNotFound) {
		return RefundRequest{}, ErrNotIoT
	}
	if err != nil {
		return RefundRequest{}, err
	}
	now := s.now().UTC()
	err = s.store.Tx(ctx, func(tx *models.Store) error {
		if _, err := tx.LockAccount(ctx, d.AccountID); err != nil {
			return err
		}
		cur, err := oneDelivery(tx.LockIoTDelivery(ctx, d.ID))
		if err != nil {
			return err
		}
		if !cur.State.Open() {
			return ErrDeliveryOver
		}
		d = cur
		if cur.CancelRequestedAt != nil {
			return nil
		}
		_, err = refundAsked(by, reason, now).apply(ctx, tx, d.ID)
		d.CancelRequestedAt = &now
		return err
	})
	if err != nil {
		return RefundRequest{}, err
	}
	s.log.InfoContext(ctx, "iot refund requested", slog.String("order_no", orderNo), slog.String("by", by))
	s.cancelCopies(ctx, d)
	return RefundRequest{OrderNo: orderNo, State: d.State, RequestedAt: *d.CancelRequestedAt, ValidUntil: d.ValidUntil}, nil
}

// cancelCopies cancels at the platform every copy it may still deliver,
// and records the confirmation once no copy can be delivered any more.
func (s *Service) cancelCopies(ctx context.Context, d Delivery) {
	m, err := s.store.IoTMeter(ctx, d.MeterNumber)
	if err != nil {
		return
	}
	copies, err := s.store.IoTCommandsOf(ctx, d.ID)
	if err != nil {
		return
	}
	now := s.now().UTC()
	final := true
	for _, c := range copies {
		state := copyState(c)
		if c.CommandID != nil && (state.Waiting() || state == copySending) {
			if err := s.platform.Cancel(ctx, m.DeviceID, *c.CommandID); err != nil && !errors.Is(err, ErrPlatformRefused) {
				final = false
				continue
			}
			// Confirmed by asking, not by the cancel's answer.
			q, err := s.platform.Query(ctx, m.DeviceID, *c.CommandID)
			if err != nil {
				final = false
				continue
			}
			state = q
			s.store.ChangeIoTCommand(ctx, c.ID, copyAnswer(q, nil, &now, now))
		}
		if state.Waiting() || state == copySending || (state == copyUnknown && now.Before(c.NotAfter)) {
			final = false
		}
	}
	if final {
		cancelConfirmed(now).apply(ctx, s.store, d.ID)
	}
}

// ErrNotResendable: no copy can go now: a copy may still reach the meter
// (it is at the platform, or the device took it), the meter rejected the
// purchase, or a refund is cancelling it.
var ErrNotResendable = errors.New("iot: no copy to resend now")

// Resend is staff's "send it again": it asks the platform now about the
// delivery's copies (the follow the dispatcher would make later) and, once
// none can still reach the meter, sends a copy at once instead of after the
// backoff, with the same sequence, so that the meter applies it at most
// once. It answers the delivery as it then stands.
// Errors: ErrNotIoT, ErrDeliveryOver, ErrNotResendable, and Send's.
func (s *Service) Resend(ctx context.Context, orderNo string) (Delivery, error) {
	d, err := s.DeliveryOf(ctx, orderNo)
	if errors.Is(err, ErrNotIoT) {
		// Paid since the last dispatch pass: queue it now.
		if _, err := s.Enqueue(ctx); err != nil {
			return d, err
		}
		d, err = s.DeliveryOf(ctx, orderNo)
	}
	if err != nil {
		return d, err
	}
	if d.State == Sent && d.CancelRequestedAt == nil {
		copies, err := s.store.IoTCommandsOf(ctx, d.ID)
		if err != nil {
			return d, err
		}
		for _, c := range copies {
			if c.CommandID != nil && (copyState(c).Waiting() || copyState(c) == copySending) {
				s.follow(ctx, c)
			}
		}
		if d, err = oneDelivery(s.store.IoTDelivery(ctx, d.ID)); err != nil {
			return d, err
		}
	}
	switch {
	case !d.State.Open():
		return d, ErrDeliveryOver
	case d.CancelRequestedAt != nil || (d.State != Queued && d.State != Expired):
		return d, ErrNotResendable
	}
	now := s.now().UTC()
	if _, err := resendNow(d, now).apply(ctx, s.store, d.ID); err != nil {
		return d, err
	}
	if _, err := s.Send(ctx, d); err != nil {
		return d, err
	}
	return oneDelivery(s.store.IoTDelivery(ctx, d.ID))
}

// Locker hands out named, expiring locks shared by all replicas.
type Locker interface {
	Lock(ctx context.Context, key string, ttl time.Duration) (unlock func(), ok bool, err error)
}

// Run dispatches every dispatchEvery and runs the janitor every
// janitorEvery until ctx ends, each on one replica at a time.
func (s *Service) Run(ctx context.Context, locks Locker, dispatchEvery, janitorEvery time.Duration) {
	d := time.NewTicker(dispatchEvery)
	j := time.NewTicker(janitorEvery)
	defer d.Stop()
	defer j.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.C:
			if unlock, ok, err := locks.Lock(ctx, "iot:dispatch", 10*dispatchEvery+time.Minute); err == nil && ok {
				s.DispatchPass(ctx)
				unlock()
			}
		case <-j.C:
			if unlock, ok, err := locks.Lock(ctx, "janitor:iot", 10*janitorEvery); err == nil && ok {
				s.JanitorPass(ctx)
				unlock()
			}
		}
	}
}

// JanitorReport says what one pass did.
type JanitorReport struct {
	Followed, Cancelling, Silent, Unapplied, Refunds int
}

// JanitorPass asks the platform about copies sent but not confirmed,
// applies what stored reports already prove, presses cancels staff asked
// for, flags meters silent for longer than SilentAfter, alerts staff about
// credits unapplied after UnappliedAlertAfter, and retries refunds proven
// safe whose provider call failed.
func (s *Service) JanitorPass(ctx context.Context) JanitorReport {
	var rep JanitorReport
	now := s.now().UTC()
	if cmds, err := s.store.IoTCommandsToFollow(ctx, []string{string(CmdSaved), string(CmdSent)}, now.Add(-s.cfg.FollowEvery), batch); err == nil {
		for _, c := range cmds {
			rep.Followed++
			s.follow(ctx, c)
		}
	}
	if ds, err := deliveriesOf(s.store.CancellingIoTDeliveries(ctx, names(openStates), batch)); err == nil {
		for _, d := range ds {
			rep.Cancelling++
			s.cancelCopies(ctx, d)
		}
	}
	if ms, err := s.store.SilentIoTMeters(ctx, now.Add(-s.cfg.SilentAfter), batch); err != nil {
		s.log.ErrorContext(ctx, "iot silent meters", slog.String("err", err.Error()))
	} else {
		for _, m := range ms {
			rep.Silent++
			if err := s.alert(ctx, s.store, AlertMeterSilent, "", fmt.Sprintf("meter %s has not reported since %s",
				m.MeterNumber, m.ReportedAt.Format(time.RFC3339))); err == nil {
				s.store.FlagIoTMeterSilent(ctx, m.MeterNumber, now)
			}
		}
	}
	if ds, err := deliveriesOf(s.store.UnalertedIoTDeliveries(ctx, names(openStates), now.Add(-s.cfg.UnappliedAlertAfter), batch)); err == nil {
		for _, d := range ds {
			rep.Unapplied++
			if err := s.alert(ctx, s.store, AlertUnapplied, d.OrderNo, fmt.Sprintf("purchase %d for meter %s is %s since %s",
				d.Seq, d.MeterNumber, d.State, d.CreatedAt.Format(time.RFC3339))); err == nil {
				unappliedAlerted(now).apply(ctx, s.store, d.ID)
			}
		}
	}
	if stuck, err := deliveriesOf(s.store.RefundableIoTDeliveries(ctx, string(Cancelled), batch)); err == nil {
		for _, d := range stuck {
			rep.Refunds++
			s.completeRefund(ctx, d)
		}
	}
	return rep
}
