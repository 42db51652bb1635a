package models

import (
	"context"
	"database/sql/driver"
	"errors"
	"strings"
	"time"

	"gaspay/units"
)

// ReconStatus is where a day's reconciliation run is.
type ReconStatus string

// Run statuses: running → done | waiting (the bill is not ready yet: try
// again later) | failed (the bill was refused or storage failed: try again).
const (
	ReconRunning ReconStatus = "running"
	ReconDone    ReconStatus = "done"
	ReconWaiting ReconStatus = "waiting"
	ReconFailed  ReconStatus = "failed"
)

func (s ReconStatus) valid() bool {
	return s == ReconRunning || s == ReconDone || s == ReconWaiting || s == ReconFailed
}

// Scan implements sql.Scanner.
func (s *ReconStatus) Scan(src any) error { return scanEnum(s, src, "recon status") }

// Value implements driver.Valuer.
func (s ReconStatus) Value() (driver.Value, error) { return enumValue(s, "recon status") }

// DiffKind is how the provider's bill and gaspay disagree.
type DiffKind string

// Difference kinds.
const (
	// DiffMissingHere: a payment in the bill that gaspay has not recorded.
	DiffMissingHere DiffKind = "missing_here"
	// DiffMissingThere: a payment gaspay recorded that the bill lacks.
	DiffMissingThere DiffKind = "missing_there"
	// DiffAmount: both have the payment, with different amounts.
	DiffAmount DiffKind = "amount_mismatch"
	// DiffMerchant: the bill's merchant or app id is not the order's.
	DiffMerchant DiffKind = "merchant_mismatch"
	// DiffRefundMissingHere: refunded there, not here.
	DiffRefundMissingHere DiffKind = "refund_missing_here"
	// DiffRefundMissingThere: refunded here, not there.
	DiffRefundMissingThere DiffKind = "refund_missing_there"
	// DiffRefundAmount: both have the refund, with different amounts.
	DiffRefundAmount DiffKind = "refund_amount_mismatch"
)

func (k DiffKind) valid() bool {
	switch k {
	case DiffMissingHere, DiffMissingThere, DiffAmount, DiffMerchant, DiffRefundMissingHere, DiffRefundMissingThere, DiffRefundAmount:
		return true
	}
	return false
}

// Scan implements sql.Scanner.
func (k *DiffKind) Scan(src any) error { return scanEnum(k, src, "difference kind") }

// Value implements driver.Valuer.
func (k DiffKind) Value() (driver.Value, error) { return enumValue(k, "difference kind") }

// DiffState is where a difference is in its resolution.
type DiffState string

// Difference states: open → repaired (gaspay fixed it itself) | resolved
// (staff, with a note; or the system when a re-run no longer finds it).
const (
	DiffOpen     DiffState = "open"
	DiffRepaired DiffState = "repaired"
	DiffResolved DiffState = "resolved"
)

func (s DiffState) valid() bool { return s == DiffOpen || s == DiffRepaired || s == DiffResolved }

// ParseDiffState accepts exactly one of the states.
func ParseDiffState(s string) (DiffState, bool) {
	st := DiffState(s)
	return st, st.valid()
}

// Scan implements sql.Scanner.
func (s *DiffState) Scan(src any) error { return scanEnum(s, src, "difference state") }

// Value implements driver.Valuer.
func (s DiffState) Value() (driver.Value, error) { return enumValue(s, "difference state") }

// ReconRun is one provider's reconciliation of one bill day.
type ReconRun struct {
	ID              int64
	Provider        string
	BillDate        string // YYYY-MM-DD, Beijing time
	Status          ReconStatus
	Attempts        int
	BillPayments    int
	BillPaymentFen  int64
	BillRefunds     int
	BillRefundFen   int64
	BillFeeMilliFen int64 // the provider's fee column, summed, in thousandths of a fen
	OurPayments     int
	OurPaymentFen   int64
	OurRefunds      int
	OurRefundFen    int64
	Matched         int // bill lines that agree with gaspay
	Differences     int
	OpenDifferences int
	LastError       *string
	StartedAt       time.Time
	FinishedAt      *time.Time
	NextAttemptAt   *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// ReconDifference is one disagreement between a bill and gaspay.
type ReconDifference struct {
	ID         int64
	RunID      int64
	Provider   string
	BillDate   string
	Kind       DiffKind
	Ref        string // the order number, or the refund number for refund kinds
	OrderNo    string
	BillValue  string // what the bill says, "" when it says nothing
	OurValue   string // what gaspay says, "" when it has nothing
	State      DiffState
	Note       *string
	ResolvedBy *string
	FoundAt    time.Time
	ResolvedAt *time.Time
	UpdatedAt  time.Time
}

// Kinds of bill lines.
const (
	BillLinePayment = "payment"
	BillLineRefund  = "refund"
)

// ReconBillLine is one line of a bill under reconciliation.
type ReconBillLine struct {
	RunID       int64  `gorm:"primaryKey"`
	LineNo      int    `gorm:"primaryKey"`
	Kind        string // BillLinePayment or BillLineRefund
	OrderNo     string
	TxnID       string
	RefundNo    string
	AmountFen   int64
	FeeMilliFen int64
	AppID       string
	MchID       string
	BilledAt    time.Time
}

// StartReconRun marks the run of (provider, date) running, creating it the
// first time, and counts the attempt.
func (s *Store) StartReconRun(ctx context.Context, provider, date string, now time.Time) (ReconRun, error) {
	var run ReconRun
	err := s.Tx(ctx, func(tx *Store) error {
		db := tx.db.WithContext(ctx)
		err := db.Clauses(forUpdate()).Where("provider = ? AND bill_date = ?", provider, date).Take(&run).Error
		if err == nil {
			return db.Model(&run).Updates(map[string]any{"status": ReconRunning, "attempts": run.Attempts + 1,
				"started_at": now, "updated_at": now, "last_error": nil}).Error
		}
		if err = one(err); !errors.Is(err, ErrNotFound) {
			return err
		}
		run = ReconRun{Provider: provider, BillDate: date, Status: ReconRunning, Attempts: 1, StartedAt: now, CreatedAt: now, UpdatedAt: now}
		return dup(db.Create(&run).Error)
	})
	if errors.Is(err, ErrDuplicate) {
		// Another replica created it at the same moment; it holds the day.
		return s.StartReconRun(ctx, provider, date, now)
	}
	return run, err
}

// SaveReconRun writes a run's outcome.
func (s *Store) SaveReconRun(ctx context.Context, run *ReconRun) error {
	return s.db.WithContext(ctx).Select("*").Save(run).Error
}

// ReconRunOf finds the run of a provider and day.
func (s *Store) ReconRunOf(ctx context.Context, provider, date string) (ReconRun, error) {
	var run ReconRun
	err := s.db.WithContext(ctx).Where("provider = ? AND bill_date = ?", provider, date).Take(&run).Error
	return run, one(err)
}

// ReconRuns lists runs, newest day first; provider "" for all.
func (s *Store) ReconRuns(ctx context.Context, provider string, limit int) ([]ReconRun, error) {
	var out []ReconRun
	q := s.db.WithContext(ctx).Order("bill_date DESC, provider").Limit(limit)
	if provider != "" {
		q = q.Where("provider = ?", provider)
	}
	return out, q.Find(&out).Error
}

// ClearBillLines empties a run's bill lines.
func (s *Store) ClearBillLines(ctx context.Context, runID int64) error {
	return s.db.WithContext(ctx).Where("run_id = ?", runID).Delete(&ReconBillLine{}).Error
}

// InsertBillLines stores a batch of bill lines in one statement, written
// by hand: a long bill is hundreds of these, and GORM's reflection per row
// costs more than the database does. At most 2,000 lines a batch (SQLite
// allows 32,766 parameters).
func (s *Store) InsertBillLines(ctx context.Context, lines []ReconBillLine) error {
	if len(lines) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString(`INSERT INTO recon_bill_lines (run_id, line_no, kind, order_no, txn_id, refund_no, amount_fen,
		fee_milli_fen, app_id, mch_id, billed_at) VALUES `)
	args := make([]any, 0, len(lines)*11)
	for i, l := range lines {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?,?,?,?)")
		args = append(args, l.RunID, l.LineNo, l.Kind, l.OrderNo, l.TxnID, l.RefundNo, l.AmountFen, l.FeeMilliFen,
			l.AppID, l.MchID, l.BilledAt)
	}
	return s.db.WithContext(ctx).Exec(b.String(), args...).Error
}

// OrderPayment is an order, found by number, with its payment if any.
type OrderPayment struct {
	OrderNo   string
	AppID     string
	Provider  *string
	AmountFen *int64
	PaidAt    *time.Time
}

// PaymentsOfOrders finds orders by number with their payments, in one
// query: the orders a batch of bill lines names.
func (s *Store) PaymentsOfOrders(ctx context.Context, orderNos []string) ([]OrderPayment, error) {
	var out []OrderPayment
	if len(orderNos) == 0 {
		return out, nil
	}
	err := s.db.WithContext(ctx).Raw(`
		SELECT o.order_no, o.app_id, p.provider, p.amount_fen, p.paid_at
		FROM orders o LEFT JOIN payments p ON p.order_id = o.id
		WHERE o.order_no IN ?`, orderNos).Scan(&out).Error
	return out, err
}

// RefundByNumber is a refund, found by number, with its payment's
// provider.
type RefundByNumber struct {
	RefundNo  string
	AmountFen int64
	Status    RefundStatus
	CreatedAt time.Time
	Provider  *string
}

// RefundsByNumbers finds refunds by number, in one query.
func (s *Store) RefundsByNumbers(ctx context.Context, refundNos []string) ([]RefundByNumber, error) {
	var out []RefundByNumber
	if len(refundNos) == 0 {
		return out, nil
	}
	err := s.db.WithContext(ctx).Raw(`
		SELECT r.refund_no, r.amount_fen, r.status, r.created_at, p.provider
		FROM refunds r LEFT JOIN payments p ON p.order_id = r.order_id
		WHERE r.refund_no IN ?`, refundNos).Scan(&out).Error
	return out, err
}

// OurPaymentMissing is a payment of gaspay's that a bill lacks.
type OurPaymentMissing struct {
	ID            int64
	OrderNo       string
	ProviderTxnID string
	AmountFen     int64
	PaidAt        time.Time
}

// PaymentsNotBilled pages through a provider's payments made in [from, to)
// that the run's bill does not list.
func (s *Store) PaymentsNotBilled(ctx context.Context, runID int64, provider string, from, to time.Time, after int64, limit int) ([]OurPaymentMissing, error) {
	var out []OurPaymentMissing
	err := s.db.WithContext(ctx).Raw(`
		SELECT p.id, o.order_no, p.provider_txn_id, p.amount_fen, p.paid_at
		FROM payments p JOIN orders o ON o.id = p.order_id
		WHERE p.provider = ? AND p.paid_at >= ? AND p.paid_at < ? AND p.id > ?
			AND NOT EXISTS (SELECT 1 FROM recon_bill_lines l WHERE l.run_id = ? AND l.kind = ? AND l.order_no = o.order_no)
		ORDER BY p.id LIMIT ?`, provider, from, to, after, runID, BillLinePayment, limit).Scan(&out).Error
	return out, err
}

// OurRefundMissing is a refund of gaspay's that a bill lacks.
type OurRefundMissing struct {
	ID        int64
	RefundNo  string
	OrderNo   string
	AmountFen int64
	Status    RefundStatus
	CreatedAt time.Time
}

// RefundsNotBilled pages through a provider's refunds started in [from, to)
// and accepted by it (processing or succeeded) that the bill lacks.
func (s *Store) RefundsNotBilled(ctx context.Context, runID int64, provider string, from, to time.Time, after int64, limit int) ([]OurRefundMissing, error) {
	var out []OurRefundMissing
	err := s.db.WithContext(ctx).Raw(`
		SELECT r.id, r.refund_no, o.order_no, r.amount_fen, r.status, r.created_at
		FROM refunds r JOIN orders o ON o.id = r.order_id JOIN payments p ON p.order_id = o.id
		WHERE p.provider = ? AND r.created_at >= ? AND r.created_at < ? AND r.status IN ? AND r.id > ?
			AND NOT EXISTS (SELECT 1 FROM recon_bill_lines l WHERE l.run_id = ? AND l.kind = ? AND l.order_no = o.order_no
				AND l.refund_no = r.refund_no)
		ORDER BY r.id LIMIT ?`, provider, from, to, []RefundStatus{RefundProcessing, RefundSucceeded}, after,
		runID, BillLineRefund, limit).Scan(&out).Error
	return out, err
}

// DayTotals is gaspay's side of a day: count and sum of a provider's
// payments made and refunds started (and accepted) in [from, to).
type DayTotals struct {
	Payments   int
	PaymentFen int64
	Refunds    int
	RefundFen  int64
}

// ProviderDayTotals adds up gaspay's side of a day.
func (s *Store) ProviderDayTotals(ctx context.Context, provider string, from, to time.Time) (DayTotals, error) {
	var t DayTotals
	db := s.db.WithContext(ctx)
	if err := db.Raw(`SELECT COUNT(*) AS payments, COALESCE(SUM(amount_fen), 0) AS payment_fen FROM payments
		WHERE provider = ? AND paid_at >= ? AND paid_at < ?`, provider, from, to).Scan(&t).Error; err != nil {
		return t, err
	}
	var r struct {
		Refunds   int
		RefundFen int64
	}
	err := db.Raw(`SELECT COUNT(*) AS refunds, COALESCE(SUM(r.amount_fen), 0) AS refund_fen
		FROM refunds r JOIN payments p ON p.order_id = r.order_id
		WHERE p.provider = ? AND r.created_at >= ? AND r.created_at < ? AND r.status IN ?`,
		provider, from, to, []RefundStatus{RefundProcessing, RefundSucceeded}).Scan(&r).Error
	t.Refunds, t.RefundFen = r.Refunds, r.RefundFen
	return t, err
}

// RecordDifference stores a difference found by a run, or, when a run of
// the same day found it before, brings that row up to date and returns it
// (its state kept, except that one the system had set aside opens again):
// re-running a day never makes a second row.
func (s *Store) RecordDifference(ctx context.Context, d ReconDifference) (ReconDifference, error) {
	db := s.db.WithContext(ctx)
	err := dup(db.Create(&d).Error)
	if !errors.Is(err, ErrDuplicate) {
		return d, err
	}
	var cur ReconDifference
	if err := db.Where("provider = ? AND bill_date = ? AND kind = ? AND ref = ?", d.Provider, d.BillDate, d.Kind, d.Ref).
		Take(&cur).Error; err != nil {
		return cur, one(err)
	}
	set := map[string]any{"run_id": d.RunID, "bill_value": d.BillValue, "our_value": d.OurValue, "updated_at": d.UpdatedAt}
	if cur.State == DiffResolved && cur.ResolvedBy != nil && *cur.ResolvedBy == ResolvedBySystem {
		set["state"], set["note"], set["resolved_by"], set["resolved_at"] = DiffOpen, nil, nil, nil
	}
	if err := db.Model(&cur).Updates(set).Error; err != nil {
		return cur, err
	}
	return cur, one(db.Take(&cur, cur.ID).Error)
}

// ResolvedBySystem marks a difference set aside because a later run of
// its day no longer found it.
const ResolvedBySystem = "system"

// SetDifferenceState moves a difference from one state to another with a
// note, and reports whether it did (false: it was not in from).
func (s *Store) SetDifferenceState(ctx context.Context, id int64, from, to DiffState, note, by string, at time.Time) (bool, error) {
	set := map[string]any{"state": to, "note": note, "updated_at": at}
	if to == DiffResolved || to == DiffRepaired {
		set["resolved_by"], set["resolved_at"] = by, at
	}
	res := s.db.WithContext(ctx).Model(&ReconDifference{}).Where("id = ? AND state = ?", id, from).Updates(set)
	return res.RowsAffected == 1, res.Error
}

// SetAsideDifferences resolves, as the system, the open differences of a
// day that its latest run (runID) did not find again, and reports how many.
func (s *Store) SetAsideDifferences(ctx context.Context, provider, date string, runID int64, note string, at time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Model(&ReconDifference{}).
		Where("provider = ? AND bill_date = ? AND state = ? AND run_id <> ?", provider, date, DiffOpen, runID).
		Updates(map[string]any{"state": DiffResolved, "note": note, "resolved_by": ResolvedBySystem, "resolved_at": at, "updated_at": at})
	return res.RowsAffected, res.Error
}

// DifferencesOfDay lists a day's differences in the order found.
func (s *Store) DifferencesOfDay(ctx context.Context, provider, date string) ([]ReconDifference, error) {
	var out []ReconDifference
	err := s.db.WithContext(ctx).Where("provider = ? AND bill_date = ?", provider, date).Order("id").Find(&out).Error
	return out, err
}

// Differences lists differences, newest first; state "" for all.
func (s *Store) Differences(ctx context.Context, state DiffState, limit int) ([]ReconDifference, error) {
	var out []ReconDifference
	q := s.db.WithContext(ctx).Order("id DESC").Limit(limit)
	if state != "" {
		q = q.Where("state = ?", state)
	}
	return out, q.Find(&out).Error
}

// Difference finds one difference.
func (s *Store) Difference(ctx context.Context, id int64) (ReconDifference, error) {
	var d ReconDifference
	err := s.db.WithContext(ctx).Take(&d, id).Error
	return d, one(err)
}

// AgingBucket counts undelivered credits of one kind and age.
type AgingBucket struct {
	Kind   CreditKind
	Bucket string
	Count  int
	Amount int64
}

// CreditAging counts undelivered credits by kind and age: created after
// hour ("lt_1h"), after day ("lt_1d"), after days3 ("lt_3d"), or before
// ("older").
func (s *Store) CreditAging(ctx context.Context, hour, day, days3 time.Time) ([]AgingBucket, error) {
	var out []AgingBucket
	err := s.db.WithContext(ctx).Raw(`
		SELECT kind, bucket, COUNT(*) AS count, COALESCE(SUM(amount), 0) AS amount FROM (
			SELECT c.kind, c.amount, CASE WHEN c.created_at > ? THEN 'lt_1h' WHEN c.created_at > ? THEN 'lt_1d'
				WHEN c.created_at > ? THEN 'lt_3d' ELSE 'older' END AS bucket
			FROM credits c WHERE c.status = ?) t
		GROUP BY kind, bucket ORDER BY kind, bucket`, hour, day, days3, CreditPending).Scan(&out).Error
	return out, err
}

// UndeliveredCredit is a paid credit not yet on the meter.
type UndeliveredCredit struct {
	CreditID   int64
	OrderNo    string
	UserNumber string
	Kind       CreditKind
	// StoredUnit and StoredAmount are the credit as stored: read it with
	// Quantity.
	StoredUnit    Unit  `gorm:"column:unit"`
	StoredAmount  int64 `gorm:"column:amount"`
	PaidAt        *time.Time
	CreatedAt     time.Time
	Attempts      int
	LastAttemptAt *time.Time
}

// Quantity is what the credit delivers.
func (u UndeliveredCredit) Quantity() units.Quantity { return quantityOf(u.StoredUnit, u.StoredAmount) }

// OldestUndelivered lists undelivered credits created before before,
// oldest first.
func (s *Store) OldestUndelivered(ctx context.Context, before time.Time, limit int) ([]UndeliveredCredit, error) {
	var out []UndeliveredCredit
	err := s.db.WithContext(ctx).Raw(`
		SELECT c.id AS credit_id, o.order_no, a.user_number, c.kind, c.unit, c.amount, o.paid_at, c.created_at,
			c.attempts, c.last_attempt_at
		FROM credits c JOIN orders o ON o.id = c.order_id JOIN accounts a ON a.id = c.account_id
		WHERE c.status = ? AND c.created_at < ?
		ORDER BY c.created_at, c.id LIMIT ?`, CreditPending, before, limit).Scan(&out).Error
	return out, err
}
