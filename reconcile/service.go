package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"gaspay/models"
	"gaspay/recharge"
	"gaspay/staff"
	"gaspay/units"
)

// Errors of Run.
var (
	// ErrUnknownProvider: no bill source of that name.
	ErrUnknownProvider = errors.New("reconcile: unknown provider")
	// ErrBadDate: not a YYYY-MM-DD date, or a day that has not begun.
	ErrBadDate = errors.New("reconcile: bad date")
	// ErrBusy: a run of the same provider and day is in progress.
	ErrBusy = errors.New("reconcile: a run of this day is in progress")
	// ErrNotFound: no such run or difference.
	ErrNotFound = errors.New("reconcile: not found")
	// ErrNotOpen: only an open difference can be resolved.
	ErrNotOpen = errors.New("reconcile: difference not open")
)

// Config tunes reconciliation.
type Config struct {
	// Location is the providers' time zone (Beijing).
	Location *time.Location
	// ReadyAfter is the time of day after which yesterday's bills are
	// fetched (10:00).
	ReadyAfter time.Duration
	// Retry is how long to wait before trying a day again whose bill was
	// not ready or failed.
	Retry time.Duration
	// DeliveryAlertAge: undelivered credits older than this raise an
	// alert in the daily aging report.
	DeliveryAlertAge time.Duration
}

// Locker hands out named, expiring locks shared by all replicas.
type Locker = recharge.Locker

// Service runs reconciliations and reports.
type Service struct {
	store   *models.Store
	pay     *recharge.Service
	sources map[string]Source
	locks   Locker
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
}

// NewService builds the service over the bill sources.
func NewService(store *models.Store, pay *recharge.Service, sources []Source, locks Locker, cfg Config, log *slog.Logger) *Service {
	m := map[string]Source{}
	for _, src := range sources {
		m[src.Provider()] = src
	}
	return &Service{store: store, pay: pay, sources: m, locks: locks, cfg: cfg, log: log, now: time.Now}
}

// SetClock replaces the clock (tests).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// Providers names the providers with a bill source, sorted.
func (s *Service) Providers() []string {
	var out []string
	for name := range s.sources {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// Result is a run and its day's differences.
type Result struct {
	Run         models.ReconRun
	Differences []models.ReconDifference
}

// Open counts the differences still open.
func (r Result) Open() int {
	n := 0
	for _, d := range r.Differences {
		if d.State == models.DiffOpen {
			n++
		}
	}
	return n
}

// repairSource marks payments taken by reconciliation.
const repairSource = "reconcile"

// lockTTL bounds a run: a replica that dies mid-run frees the day then.
const lockTTL = 15 * time.Minute

// pageSize is how many differences are read at a time; insertBatch how
// many bill lines are checked in one pair of queries, or stored in one
// statement. (Grouping statements in transactions measured no faster on
// MariaDB.)
const (
	pageSize    = 500
	insertBatch = 2000
)

// Run reconciles one provider's bill of one day (YYYY-MM-DD, Beijing
// time), storing the run and its differences, repairing what it can. It
// is safe to run again: same differences, no second repair.
// Errors: ErrUnknownProvider, ErrBadDate, ErrBusy, ErrBillNotReady,
// ErrBillRefused, or a transport or storage error; the run records all but
// the first three.
func (s *Service) Run(ctx context.Context, provider, date string) (Result, error) {
	src := s.sources[provider]
	if src == nil {
		return Result{}, ErrUnknownProvider
	}
	day, err := time.ParseInLocation(time.DateOnly, date, s.cfg.Location)
	if err != nil || day.Format(time.DateOnly) != date {
		return Result{}, ErrBadDate
	}
	if day.After(s.now()) {
		return Result{}, ErrBadDate
	}
	unlock, ok, err := s.locks.Lock(ctx, "reconcile:"+provider+":"+date, lockTTL)
	if err != nil {
		return Result{}, fmt.Errorf("reconcile: lock: %w", err)
	}
	if !ok {
		return Result{}, ErrBusy
	}
	defer unlock()

	run, err := s.store.StartReconRun(ctx, provider, date, s.now().UTC())
	if err != nil {
		return Result{}, err
	}
	if err := s.reconcile(ctx, src, day, &run); err != nil {
		status := models.ReconFailed
		if errors.Is(err, ErrBillNotReady) {
			status = models.ReconWaiting
		}
		now := s.now().UTC()
		next := now.Add(s.cfg.Retry)
		msg := truncate(err.Error())
		run.Status, run.LastError, run.NextAttemptAt, run.UpdatedAt = status, &msg, &next, now
		if serr := s.store.SaveReconRun(context.WithoutCancel(ctx), &run); serr != nil {
			err = errors.Join(err, serr)
		}
		s.log.WarnContext(ctx, "reconciliation not done", slog.String("provider", provider), slog.String("date", date),
			slog.String("status", string(status)), slog.String("err", msg))
		return Result{Run: run}, err
	}
	diffs, err := s.store.DifferencesOfDay(ctx, provider, date)
	if err != nil {
		return Result{}, err
	}
	res := Result{Run: run, Differences: diffs}
	s.log.InfoContext(ctx, "reconciled", slog.String("provider", provider), slog.String("date", date),
		slog.Int("matched", run.Matched), slog.Int("differences", run.Differences), slog.Int("open", run.OpenDifferences))
	if run.OpenDifferences > 0 {
		s.alert(ctx, "reconciliation", "", fmt.Sprintf("%s %s 的对账单：%d 处差异待处理", provider, date, run.OpenDifferences))
	}
	return res, nil
}

func (s *Service) reconcile(ctx context.Context, src Source, day time.Time, run *models.ReconRun) error {
	bill, err := src.Open(ctx, day)
	if err != nil {
		return err
	}
	defer bill.Close()
	s.log.DebugContext(ctx, "bill downloaded")
	from, to := day.UTC(), day.AddDate(0, 0, 1).UTC()
	m := matcher{s: s, src: src, run: run, date: day.Format(time.DateOnly), from: from, to: to}

	// First pass: every line of the bill against gaspay, a batch at a
	// time, counting the lines that are gaspay's payments and refunds of
	// the day.
	run.BillPayments, run.BillPaymentFen, run.BillRefunds, run.BillRefundFen, run.BillFeeMilliFen = 0, 0, 0, 0, 0
	batch := make([]Line, 0, insertBatch)
	flush := func() error {
		err := m.check(ctx, batch)
		batch = batch[:0]
		return err
	}
	err = bill.Lines(func(l Line) error {
		if l.Kind == LineRefund {
			run.BillRefunds++
			run.BillRefundFen += l.AmountFen
		} else {
			run.BillPayments++
			run.BillPaymentFen += l.AmountFen
		}
		run.BillFeeMilliFen += l.FeeMilliFen
		batch = append(batch, l)
		if len(batch) == cap(batch) {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return err
	}
	s.log.DebugContext(ctx, "bill checked", slog.Int("lines", run.BillPayments+run.BillRefunds))
	ours, err := s.store.ProviderDayTotals(ctx, src.Provider(), from, to)
	if err != nil {
		return err
	}

	// Second pass, only when the bill lists fewer of gaspay's payments or
	// refunds of the day than gaspay has: which are missing there is found
	// in the database, with the bill's lines stored there.
	if m.ourPaymentsBilled != ours.Payments || m.ourPaymentFenBilled != ours.PaymentFen ||
		m.ourRefundsBilled != ours.Refunds || m.ourRefundFenBilled != ours.RefundFen {
		if err := m.findNotBilled(ctx, bill); err != nil {
			return err
		}
		s.log.DebugContext(ctx, "gaspay's side matched")
	}

	now := s.now().UTC()
	if _, err := s.store.SetAsideDifferences(ctx, src.Provider(), m.date, run.ID,
		"no longer differs at the run of "+now.In(s.cfg.Location).Format(time.DateTime), now); err != nil {
		return err
	}
	diffs, err := s.store.DifferencesOfDay(ctx, src.Provider(), m.date)
	if err != nil {
		return err
	}
	run.Differences, run.OpenDifferences = 0, 0
	for _, d := range diffs {
		if d.State == models.DiffResolved && d.ResolvedBy != nil && *d.ResolvedBy == models.ResolvedBySystem {
			continue
		}
		run.Differences++
		if d.State == models.DiffOpen {
			run.OpenDifferences++
		}
	}
	run.OurPayments, run.OurPaymentFen, run.OurRefunds, run.OurRefundFen = ours.Payments, ours.PaymentFen, ours.Refunds, ours.RefundFen
	run.Matched = run.BillPayments + run.BillRefunds - m.differing
	run.Status, run.FinishedAt, run.NextAttemptAt, run.LastError, run.UpdatedAt = models.ReconDone, &now, nil, nil, now
	return s.store.SaveReconRun(ctx, run)
}

// findNotBilled stores the bill's lines and finds gaspay's payments and
// refunds of the day that the bill lacks. The lines are emptied whatever
// happens: the bill stays with the provider.
func (m *matcher) findNotBilled(ctx context.Context, bill Bill) error {
	s, run := m.s, m.run
	if err := s.store.ClearBillLines(ctx, run.ID); err != nil {
		return err
	}
	defer func() {
		if err := s.store.ClearBillLines(context.WithoutCancel(ctx), run.ID); err != nil {
			s.log.WarnContext(ctx, "bill lines not cleared", slog.Int64("run", run.ID), slog.String("err", err.Error()))
		}
	}()
	batch := make([]models.ReconBillLine, 0, insertBatch)
	flush := func() error {
		err := s.store.InsertBillLines(ctx, batch)
		batch = batch[:0]
		return err
	}
	err := bill.Lines(func(l Line) error {
		batch = append(batch, models.ReconBillLine{RunID: run.ID, LineNo: l.No, Kind: string(l.Kind), OrderNo: l.OrderNo,
			TxnID: l.TxnID, RefundNo: l.RefundNo, AmountFen: l.AmountFen, FeeMilliFen: l.FeeMilliFen,
			AppID: l.AppID, MchID: l.MchID, BilledAt: l.At.UTC()})
		if len(batch) == cap(batch) {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return err
	}
	if err := m.ourPayments(ctx, m.from, m.to); err != nil {
		return err
	}
	return m.ourRefunds(ctx, m.from, m.to)
}

// matcher walks the disagreements of one run.
type matcher struct {
	s         *Service
	src       Source
	run       *models.ReconRun
	date      string
	from, to  time.Time
	differing int // bill lines that disagree
	// Bill lines that are gaspay's payments (refunds) of the day, and
	// gaspay's amounts of them: when both agree with gaspay's totals of the
	// day, none is missing from the bill.
	ourPaymentsBilled, ourRefundsBilled     int
	ourPaymentFenBilled, ourRefundFenBilled int64
}

func (m *matcher) record(ctx context.Context, kind models.DiffKind, ref, orderNo, bill, ours string) (models.ReconDifference, error) {
	now := m.s.now().UTC()
	return m.s.store.RecordDifference(ctx, models.ReconDifference{RunID: m.run.ID, Provider: m.src.Provider(), BillDate: m.date,
		Kind: kind, Ref: ref, OrderNo: orderNo, BillValue: bill, OurValue: ours, State: models.DiffOpen, FoundAt: now, UpdatedAt: now})
}

func (m *matcher) ofTheDay(provider *string, at *time.Time) bool {
	return provider != nil && *provider == m.src.Provider() && at != nil && !at.Before(m.from) && at.Before(m.to)
}

// check compares a batch of bill lines with gaspay, one query for the
// payments and one for the refunds, and records what differs.
func (m *matcher) check(ctx context.Context, lines []Line) error {
	var orderNos, refundNos []string
	for _, l := range lines {
		if l.Kind == LineRefund {
			refundNos = append(refundNos, l.RefundNo)
		} else {
			orderNos = append(orderNos, l.OrderNo)
		}
	}
	payments, err := m.s.store.PaymentsOfOrders(ctx, orderNos)
	if err != nil {
		return err
	}
	byOrder := make(map[string]models.OrderPayment, len(payments))
	for _, p := range payments {
		byOrder[p.OrderNo] = p
	}
	refunds, err := m.s.store.RefundsByNumbers(ctx, refundNos)
	if err != nil {
		return err
	}
	byRefund := make(map[string]models.RefundByNumber, len(refunds))
	for _, r := range refunds {
		byRefund[r.RefundNo] = r
	}
	for _, l := range lines {
		if l.Kind == LineRefund {
			err = m.checkRefund(ctx, l, byRefund)
		} else {
			err = m.checkPayment(ctx, l, byOrder)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (m *matcher) checkPayment(ctx context.Context, l Line, byOrder map[string]models.OrderPayment) error {
	bill := fmt.Sprintf("%s paid %s at %s (line %d)", l.TxnID, Yuan(l.AmountFen), l.At.In(m.s.cfg.Location).Format(time.DateTime), l.No)
	our, found := byOrder[l.OrderNo]
	if !found || our.AmountFen == nil {
		m.differing++
		ours := "no such order"
		if found {
			ours = "order without payment"
		}
		d, err := m.record(ctx, models.DiffMissingHere, l.OrderNo, l.OrderNo, bill, ours)
		if err != nil || d.State != models.DiffOpen {
			return err
		}
		return m.s.repair(ctx, m.src, d)
	}
	if m.ofTheDay(our.Provider, our.PaidAt) {
		m.ourPaymentsBilled++
		m.ourPaymentFenBilled += *our.AmountFen
	}
	differs := false
	if *our.AmountFen != l.AmountFen {
		differs = true
		if _, err := m.record(ctx, models.DiffAmount, l.OrderNo, l.OrderNo, bill, "paid "+Yuan(*our.AmountFen)); err != nil {
			return err
		}
	}
	if l.MchID != m.src.Merchant() || (l.AppID != "" && l.AppID != our.AppID) {
		differs = true
		if _, err := m.record(ctx, models.DiffMerchant, l.OrderNo, l.OrderNo,
			"merchant "+l.MchID+appPart(l.AppID), "merchant "+m.src.Merchant()+appPart(our.AppID)); err != nil {
			return err
		}
	}
	if differs {
		m.differing++
	}
	return nil
}

func (m *matcher) checkRefund(ctx context.Context, l Line, byRefund map[string]models.RefundByNumber) error {
	bill := fmt.Sprintf("refunded %s at %s (line %d)", Yuan(l.AmountFen), l.At.In(m.s.cfg.Location).Format(time.DateTime), l.No)
	r, found := byRefund[l.RefundNo]
	if found && (r.Status == models.RefundProcessing || r.Status == models.RefundSucceeded) && m.ofTheDay(r.Provider, &r.CreatedAt) {
		m.ourRefundsBilled++
		m.ourRefundFenBilled += r.AmountFen
	}
	var err error
	switch {
	case !found:
		_, err = m.record(ctx, models.DiffRefundMissingHere, l.RefundNo, l.OrderNo, bill, "no such refund")
	case r.Status == models.RefundFailed:
		_, err = m.record(ctx, models.DiffRefundMissingHere, l.RefundNo, l.OrderNo, bill, "refund failed")
	case r.AmountFen != l.AmountFen:
		_, err = m.record(ctx, models.DiffRefundAmount, l.RefundNo, l.OrderNo, bill, "refund of "+Yuan(r.AmountFen))
	default:
		return nil
	}
	m.differing++
	return err
}

func appPart(app string) string {
	if app == "" {
		return ""
	}
	return " app " + app
}

func (m *matcher) ourPayments(ctx context.Context, from, to time.Time) error {
	var after int64
	for {
		page, err := m.s.store.PaymentsNotBilled(ctx, m.run.ID, m.src.Provider(), from, to, after, pageSize)
		if err != nil {
			return err
		}
		for _, p := range page {
			after = p.ID
			ours := fmt.Sprintf("%s paid %s at %s", p.ProviderTxnID, Yuan(p.AmountFen), p.PaidAt.In(m.s.cfg.Location).Format(time.DateTime))
			if _, err := m.record(ctx, models.DiffMissingThere, p.OrderNo, p.OrderNo, "", ours); err != nil {
				return err
			}
		}
		if len(page) < pageSize {
			return nil
		}
	}
}

func (m *matcher) ourRefunds(ctx context.Context, from, to time.Time) error {
	var after int64
	for {
		page, err := m.s.store.RefundsNotBilled(ctx, m.run.ID, m.src.Provider(), from, to, after, pageSize)
		if err != nil {
			return err
		}
		for _, r := range page {
			after = r.ID
			ours := fmt.Sprintf("refund of %s, %s, started %s", Yuan(r.AmountFen), r.Status, r.CreatedAt.In(m.s.cfg.Location).Format(time.DateTime))
			if _, err := m.record(ctx, models.DiffRefundMissingThere, r.RefundNo, r.OrderNo, "", ours); err != nil {
				return err
			}
		}
		if len(page) < pageSize {
			return nil
		}
	}
}

// repair handles a payment the bill has and gaspay lacks: it asks the
// provider about the order and, if paid, takes recharge's paid path exactly
// as a notification would. Whatever the provider or the paid path cannot
// settle stays open with the reason, and staff are alerted. Only a storage
// failure recording the outcome is returned.
func (s *Service) repair(ctx context.Context, src Source, d models.ReconDifference) error {
	now := s.now().UTC()
	leaveOpen := func(why string) error {
		s.alert(ctx, "reconcile_missing_here", d.OrderNo, fmt.Sprintf("%s %s 的对账单：%s；%s", src.Provider(), d.BillDate, d.BillValue, why))
		_, err := s.store.SetDifferenceState(ctx, d.ID, models.DiffOpen, models.DiffOpen, truncate(why), "", now)
		return err
	}
	p := s.pay.Provider(src.Provider())
	if p == nil {
		return leaveOpen("no payment provider " + src.Provider())
	}
	t, err := p.Query(ctx, d.OrderNo)
	if err != nil {
		return leaveOpen("query failed: " + err.Error())
	}
	if t.State != recharge.TxnPaid {
		return leaveOpen("the provider does not say paid: " + map[recharge.TxnState]string{recharge.TxnNotFound: "no such order",
			recharge.TxnNotPaid: "not paid", recharge.TxnClosed: "closed"}[t.State])
	}
	out, err := s.pay.MarkPaid(ctx, recharge.PaidEvent{Provider: p.Name(), OrderNo: d.OrderNo, TxnID: t.TxnID, AppID: t.AppID,
		MchID: t.MchID, AmountFen: t.AmountFen, Payer: t.Payer, PaidAt: t.PaidAt, Source: repairSource})
	if err != nil {
		return leaveOpen("paid path refused: " + err.Error())
	}
	note := map[recharge.Outcome]string{
		recharge.Paid:           "paid by reconciliation: the order took the paid path",
		recharge.Duplicate:      "the payment was recorded meanwhile (notification or query); nothing taken twice",
		recharge.LateRefund:     "paid after the order closed: recorded and refunded automatically",
		recharge.ConflictRefund: "the account had an undelivered credit: recorded and refunded automatically",
	}[out]
	_, err = s.store.SetDifferenceState(ctx, d.ID, models.DiffOpen, models.DiffRepaired, note, repairSource, now)
	s.log.InfoContext(ctx, "reconciliation repair", slog.String("order_no", d.OrderNo), slog.String("outcome", note))
	return err
}

func truncate(s string) string {
	if len(s) > 255 {
		return strings.ToValidUTF8(s[:255], "")
	}
	return s
}

func (s *Service) alert(ctx context.Context, kind, orderNo, detail string) {
	s.log.WarnContext(ctx, "alert", slog.String("kind", kind), slog.String("order_no", orderNo), slog.String("detail", detail))
	if err := s.store.AddAlert(ctx, kind, orderNo, detail, s.now().UTC()); err != nil {
		s.log.ErrorContext(ctx, "alert not stored", slog.String("kind", kind), slog.String("err", err.Error()))
	}
}

// Yuan formats fen as yuan, exactly (units.Fen.Yuan).
func Yuan(fen int64) string { return units.Fen(fen).Yuan() }

// Day shows the run of a provider and day with its differences.
func (s *Service) Day(ctx context.Context, provider, date string) (Result, error) {
	run, err := s.store.ReconRunOf(ctx, provider, date)
	if errors.Is(err, models.ErrNotFound) {
		return Result{}, ErrNotFound
	}
	if err != nil {
		return Result{}, err
	}
	diffs, err := s.store.DifferencesOfDay(ctx, provider, date)
	return Result{Run: run, Differences: diffs}, err
}

// Runs lists runs, newest day first.
func (s *Service) Runs(ctx context.Context, provider string, limit int) ([]models.ReconRun, error) {
	return s.store.ReconRuns(ctx, provider, limit)
}

// Differences lists differences, newest first; state "" for all.
func (s *Service) Differences(ctx context.Context, state models.DiffState, limit int) ([]models.ReconDifference, error) {
	return s.store.Differences(ctx, state, limit)
}

// Resolve closes an open difference on staff's word, with their note.
// Errors: ErrNotFound, ErrNotOpen.
func (s *Service) Resolve(ctx context.Context, by staff.Actor, id int64, note string) (models.ReconDifference, error) {
	now := s.now().UTC()
	var d models.ReconDifference
	err := s.store.Tx(ctx, func(tx *models.Store) error {
		ok, err := tx.SetDifferenceState(ctx, id, models.DiffOpen, models.DiffResolved, note, by.Name, now)
		if err != nil {
			return err
		}
		if d, err = tx.Difference(ctx, id); err != nil {
			return err
		}
		if !ok {
			return ErrNotOpen
		}
		// Who closed a difference, and why, is in the audit trail with
		// every other staff action, in the same transaction.
		return by.Audit(ctx, tx, now, "recon.resolve", "difference:"+strconv.FormatInt(id, 10),
			map[string]any{"state": models.DiffOpen}, map[string]any{"state": models.DiffResolved, "kind": d.Kind}, note)
	})
	if errors.Is(err, models.ErrNotFound) {
		return d, ErrNotFound
	}
	return d, err
}
