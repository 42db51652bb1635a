package iot

import (
	"context"
	"errors"
	"fmt"
	"gaspay/internal/beijing"
	"log/slog"
	"sync"
	"time"

	"gaspay/iot/meterproto"
	"gaspay/models"
)

const batch = 500

// sendable are the states a copy leaves from (platformAccepted's).
var sendable = []State{Queued, Expired}

// backoff is how long a delivery whose copy failed waits before the next.
func backoff(copies int) time.Duration {
	d := time.Minute << min(copies, 5)
	return min(d, 30*time.Minute)
}

// SendBatchSize is how many due deliveries one transaction seals: their
// accounts, deliveries and credits locked in two reads, attempts counted
// in one statement, counters taken in two, copies recorded in one,
// deliveries moved in one; and after the platform's answers, the accepted
// copies and their deliveries in one more.
const SendBatchSize = 16

// passBudget is how long one dispatch pass goes on taking pages.
const passBudget = 30 * time.Second

// DispatchPass queues the delivery of every new IoT credit and sends a copy
// of every delivery that is due (queued, or expired undelivered), in
// batches sealed by one transaction each. It takes the due deliveries a
// page at a time until a page comes back short, so a backlog (after an
// outage, say) drains in one pass at the dispatcher's speed rather than a
// page per interval; a full page in which no copy could be sealed ends the
// pass (those deliveries wait for the next one rather than spin). It
// reports how many copies the platform accepted.
func (s *Service) DispatchPass(ctx context.Context) int {
	sent := 0
	// Well inside the dispatch lock's life (Run): a longer backlog goes on
	// at the next pass.
	until := time.Now().Add(passBudget)
	for ctx.Err() == nil && time.Now().Before(until) {
		if _, err := s.Enqueue(ctx); err != nil {
			s.log.ErrorContext(ctx, "iot enqueue", slog.String("err", err.Error()))
		}
		due, err := s.Due(ctx, s.page)
		if err != nil {
			s.log.ErrorContext(ctx, "iot due", slog.String("err", err.Error()))
			return sent
		}
		sealedN, accepted := s.dispatch(ctx, due)
		sent += accepted
		if len(due) < s.page || sealedN == 0 {
			return sent
		}
	}
	return sent
}

// dispatch sends due in batches from the service's workers, and says how
// many copies were sealed and how many the platform accepted.
func (s *Service) dispatch(ctx context.Context, due []Delivery) (sealedN, accepted int) {
	var mu sync.Mutex
	work := make(chan []Delivery)
	var wg sync.WaitGroup
	for range min(s.cfg.Workers, max((len(due)+SendBatchSize-1)/SendBatchSize, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ds := range work {
				k, n, err := s.sendBatch(ctx, ds)
				if err != nil {
					s.log.WarnContext(ctx, "iot send", slog.String("err", err.Error()))
				}
				mu.Lock()
				sealedN, accepted = sealedN+k, accepted+n
				mu.Unlock()
			}
		}()
	}
	for from := 0; from < len(due) && ctx.Err() == nil; from += SendBatchSize {
		work <- due[from:min(from+SendBatchSize, len(due))]
	}
	close(work)
	wg.Wait()
	return sealedN, accepted
}

// Enqueue creates the queued delivery of every paid IoT credit that has
// none (at most one page).
func (s *Service) Enqueue(ctx context.Context) (int, error) {
	return s.store.EnqueueIoTDeliveries(ctx, string(Queued), s.now().UTC(), s.page)
}

// Due lists deliveries to send now.
func (s *Service) Due(ctx context.Context, limit int) ([]Delivery, error) {
	return deliveriesOf(s.store.DueIoTDeliveries(ctx, names(sendable), s.now().UTC(), limit))
}

// Send is SendBatch for one delivery: it reports whether the platform
// accepted its copy.
func (s *Service) Send(ctx context.Context, d Delivery) (bool, error) {
	n, err := s.SendBatch(ctx, []Delivery{d})
	return n == 1, err
}

// sealed is a copy recorded and about to leave.
type sealed struct {
	d      Delivery
	cmd    models.IoTCommand
	device string
}

// SendBatch seals a copy of each due delivery of ds and hands them to the
// platform, and reports how many the platform accepted. One transaction
// counts every attempt on its credit before any copy leaves: from then the
// credit is in doubt. A delivery no longer due is left alone, and so is a
// second delivery of a meter in ds (the next pass takes it). If the
// batch's transaction fails, each delivery is tried alone. The error joins
// each copy's failure; the others went out all the same.
func (s *Service) SendBatch(ctx context.Context, ds []Delivery) (int, error) {
	_, accepted, err := s.sendBatch(ctx, ds)
	return accepted, err
}

// sendBatch is SendBatch, also saying how many copies it sealed (accepted
// or not, each moved its delivery's next copy past the backoff).
func (s *Service) sendBatch(ctx context.Context, ds []Delivery) (sealedN, accepted int, err error) {
	now := s.now().UTC()
	notAfter := now.Add(s.cfg.CommandTTL).Truncate(time.Second)
	meters := map[string]bool{}
	var todo []Delivery
	var ids, accounts []int64
	for _, d := range ds {
		if meters[d.MeterNumber] {
			continue
		}
		meters[d.MeterNumber] = true
		todo = append(todo, d)
		ids, accounts = append(ids, d.ID), append(accounts, d.AccountID)
	}
	if len(ids) == 0 {
		return 0, 0, nil
	}
	var out []sealed
	err = s.store.Tx(ctx, func(tx *models.Store) error {
		out = out[:0]
		rows, err := tx.LockIoTDeliveriesForSend(ctx, accounts, ids)
		if err != nil {
			return err
		}
		var credits []int64
		for _, row := range rows {
			cur := deliveryOf(row.IoTDelivery)
			if cur.State.may(platformAccepted(now, now)) != nil || cur.CancelRequestedAt != nil || cur.NextAt.After(now) {
				continue
			}
			if row.CreditStatus != models.CreditPending {
				// Refunded while queued (or delivered some other way): the
				// delivery is over.
				if _, err := creditGone(cur, row.CreditStatus, now).apply(ctx, tx, cur.ID); err != nil {
					return err
				}
				continue
			}
			if row.DeviceID == "" {
				m, err := tx.EnsureIoTMeter(ctx, cur.MeterNumber, "", now)
				if err != nil {
					return err
				}
				row.DeviceID = m.DeviceID
			}
			out = append(out, sealed{d: cur, device: row.DeviceID})
			credits = append(credits, cur.CreditID)
		}
		if len(out) == 0 {
			return nil
		}
		attempted, err := attemptAll(ctx, tx, credits, now)
		if err != nil {
			return err
		}
		kept := out[:0]
		var numbers []string
		for _, x := range out {
			if attempted[x.d.CreditID] {
				kept = append(kept, x)
				numbers = append(numbers, x.d.MeterNumber)
			}
		}
		out = kept
		if len(out) == 0 {
			return nil
		}
		counters, err := tx.NextIoTCommandCounters(ctx, numbers)
		if err != nil {
			return err
		}
		cmds := make([]models.IoTCommand, len(out))
		moves := make([]move, len(out))
		for i, x := range out {
			cmds[i] = models.IoTCommand{DeliveryID: x.d.ID, MeterNumber: x.d.MeterNumber, Counter: counters[x.d.MeterNumber],
				NotAfter: notAfter, State: string(copySending), CreatedAt: now, UpdatedAt: now}
			moves[i] = copySealed(x.d, notAfter, now.Add(backoff(x.d.Copies)), now)
		}
		if err := tx.InsertIoTCommands(ctx, cmds); err != nil {
			return err
		}
		ids := make([]int64, len(out))
		for i := range out {
			out[i].cmd = cmds[i]
			ids[i] = out[i].d.ID
		}
		return applyAll(ctx, tx, ids, moves)
	})
	if err != nil && len(todo) > 1 && ctx.Err() == nil {
		// One delivery's trouble (its meter's platform row, say) must not
		// hold up the others: each alone.
		errs := []error{err}
		for _, d := range todo {
			k, n, err := s.sendBatch(ctx, []Delivery{d})
			sealedN, accepted = sealedN+k, accepted+n
			errs = append(errs, err)
		}
		return sealedN, accepted, errors.Join(errs...)
	}
	if err != nil || len(out) == 0 {
		return 0, 0, err
	}
	// The copies leave side by side (at most platformInFlight of the
	// service's at once); each answer is kept for one write.
	answers := make([]error, len(out))
	platformIDs := make([]string, len(out))
	var wg sync.WaitGroup
	for i := range out {
		wg.Add(1)
		s.sending <- struct{}{}
		go func() {
			defer func() { <-s.sending; wg.Done() }()
			platformIDs[i], answers[i] = s.sendCopy(ctx, out[i], notAfter)
		}()
	}
	wg.Wait()
	done := s.now().UTC()
	var ok []int64
	var acceptedIDs []string
	var errs []error
	for i, x := range out {
		switch err := answers[i]; {
		case err == nil:
			ok, acceptedIDs = append(ok, x.cmd.ID), append(acceptedIDs, platformIDs[i])
		case errors.Is(err, ErrPlatformRefused):
			// Not cached: another copy after the backoff.
			errs = append(errs, fmt.Errorf("order %s: %w", x.d.OrderNo, err),
				s.store.ChangeIoTCommand(ctx, x.cmd.ID, copyAnswer(CmdFailed, nil, nil, done)))
		default:
			// Perhaps cached, perhaps not: the copy may still reach the
			// meter until not_after; another copy follows after the
			// backoff, and the sequence rule makes the two harmless
			// together.
			errs = append(errs, fmt.Errorf("order %s: %w", x.d.OrderNo, err),
				s.store.ChangeIoTCommand(ctx, x.cmd.ID, copyAnswer(copyUnknown, nil, nil, done)))
		}
	}
	if len(ok) > 0 {
		// One write for the copies' ids and their deliveries' moves (a
		// move only while the delivery is still queued or expired: a
		// report may already have applied it).
		m := platformAccepted(done, done.Add(s.cfg.FollowEvery))
		if err := s.store.ChangeIoTCommandsAndDeliveries(ctx, ok, acceptedIDs, copyAnswer(CmdSaved, nil, &done, done),
			names(m.from), m.change()); err != nil {
			errs = append(errs, err)
		}
	}
	return len(out), len(ok), errors.Join(errs...)
}

// sendCopy seals x's recharge under its meter's key and hands it to the
// platform, returning the platform's command id.
func (s *Service) sendCopy(ctx context.Context, x sealed, notAfter time.Time) (string, error) {
	unit := meterproto.UnitFen
	if x.d.Unit == string(models.UnitCentiM3) {
		unit = meterproto.UnitCentiM3
	}
	payload, err := meterproto.SealRecharge(s.key(x.d.MeterNumber), x.d.MeterNumber, uint32(x.cmd.Counter), meterproto.Recharge{
		Seq: uint32(x.d.Seq), Unit: unit, Credit: uint32(x.d.Amount), ReopenValve: true, NotAfter: uint32(notAfter.Unix())})
	if err != nil {
		return "", err
	}
	return s.platform.Send(ctx, x.device, payload, s.cfg.CommandTTL, fmt.Sprintf("d%d-c%d", x.d.ID, x.cmd.Counter))
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
// once. audit, if set, records the decision in the transaction that makes
// it, with the delivery as it stood under its lock. It answers the
// delivery as it then stands.
// Errors: ErrNotIoT, ErrDeliveryOver, ErrNotResendable, audit's, and
// Send's.
func (s *Service) Resend(ctx context.Context, orderNo string, audit func(tx *models.Store, before Delivery) error) (Delivery, error) {
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
	}
	now := s.now().UTC()
	err = s.store.Tx(ctx, func(tx *models.Store) error {
		cur, err := oneDelivery(tx.LockIoTDelivery(ctx, d.ID))
		if err != nil {
			return err
		}
		d = cur
		switch {
		case !cur.State.Open():
			return ErrDeliveryOver
		case cur.CancelRequestedAt != nil || (cur.State != Queued && cur.State != Expired):
			return ErrNotResendable
		}
		if ok, err := resendNow(cur, now).apply(ctx, tx, cur.ID); err != nil || !ok {
			return errors.Join(err, ErrNotResendable)
		}
		if audit != nil {
			return audit(tx, cur)
		}
		return nil
	})
	if err != nil {
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
			if err := s.alert(ctx, s.store, AlertMeterSilent, "", fmt.Sprintf("燃气表 %s 自 %s 起未通讯",
				m.MeterNumber, beijing.Minute(*m.ReportedAt))); err == nil {
				s.store.FlagIoTMeterSilent(ctx, m.MeterNumber, now)
			}
		}
	}
	if ds, err := deliveriesOf(s.store.UnalertedIoTDeliveries(ctx, names(openStates), now.Add(-s.cfg.UnappliedAlertAfter), batch)); err == nil {
		for _, d := range ds {
			rep.Unapplied++
			if err := s.alert(ctx, s.store, AlertUnapplied, d.OrderNo, fmt.Sprintf("燃气表 %s 的第 %d 次购气自 %s 起仍未到表（%s）",
				d.MeterNumber, d.Seq, beijing.Minute(d.CreatedAt), d.State)); err == nil {
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
