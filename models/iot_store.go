package models

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// This file persists the IoT delivery (issue 9): the meters' platform rows,
// their reports, the deliveries and their copies. It decides nothing: the
// delivery's lifecycle (which state may follow which) is iot/lifecycle.go's,
// and reaches this file as a conditional update (ChangeIoTDelivery: "while
// the state is one of from, write this change"). States are the iot
// package's words, stored as they are.

// IoTDelivery is a row of iot_deliveries: one IoT credit's way to its meter.
type IoTDelivery struct {
	ID                 int64
	CreditID           int64
	OrderNo            string
	AccountID          int64
	MeterNumber        string
	Seq                int
	Unit               string
	Amount             int64
	State              string
	Reason             *string
	Copies             int
	ValidUntil         *time.Time
	NextAt             time.Time
	SentAt             *time.Time
	DeliveredAt        *time.Time
	AppliedAt          *time.Time
	CancelRequestedAt  *time.Time
	CancelBy           *string
	CancelReason       *string
	CancelConfirmedAt  *time.Time
	UnappliedAlertedAt *time.Time
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// TableName is the deliveries' table.
func (IoTDelivery) TableName() string { return "iot_deliveries" }

// IoTCommand is a row of iot_commands: one sealed copy of a delivery's
// recharge, with the platform's id and word for it.
type IoTCommand struct {
	ID          int64
	DeliveryID  int64
	MeterNumber string
	Counter     int64
	CommandID   *string
	NotAfter    time.Time
	State       string
	CheckedAt   *time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// TableName is the copies' table.
func (IoTCommand) TableName() string { return "iot_commands" }

// IoTMeter is a meter's platform identity and last authenticated state.
type IoTMeter struct {
	ID                int64
	MeterNumber       string
	DeviceID          string
	ReportCounter     int64
	CommandCounter    int64
	LastAppliedSeq    *int64
	Unit              *int
	Balance           *int64
	CumulativeCentiM3 *int64 `gorm:"column:cumulative_centi_m3"`
	Valve             *int
	BatteryMV         *int `gorm:"column:battery_mv"`
	SignalDBm         *int `gorm:"column:signal_dbm"`
	MeterTime         *time.Time
	ReportedAt        *time.Time
	Online            bool
	SilentAlertedAt   *time.Time
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// TableName is the meters' platform table.
func (IoTMeter) TableName() string { return "iot_meters" }

// IoTReport is one authenticated meter report: the meter's history, and
// the state it sets on its meter when it is the newest.
type IoTReport struct {
	ID                int64
	MeterNumber       string
	Counter           int64
	Reason            int
	LastAppliedSeq    int64
	Unit              int
	Balance           int64
	CumulativeCentiM3 int64 `gorm:"column:cumulative_centi_m3"`
	Valve             int
	BatteryMV         int `gorm:"column:battery_mv"`
	SignalDBm         int `gorm:"column:signal_dbm"`
	MeterTime         time.Time
	AnsweredCounter   int64
	Result            int
	AnsweredSeq       int64
	ReceivedAt        time.Time
}

// TableName is the reports' table.
func (IoTReport) TableName() string { return "iot_reports" }

// iotUnitFen is meterproto.UnitFen: a report in this unit carries money,
// which the account view shows as the meter's balance.
const iotUnitFen = 1

// IoTMeter finds a meter's platform row.
func (s *Store) IoTMeter(ctx context.Context, number string) (IoTMeter, error) {
	var m IoTMeter
	return m, one(s.db.WithContext(ctx).Where("meter_number = ?", number).Take(&m).Error)
}

// EnsureIoTMeter creates the platform row of an IoT account's meter if it
// has none; deviceID defaults to the meter number (the sandbox's
// convention). Errors: ErrNotFound when no IoT account has this meter.
func (s *Store) EnsureIoTMeter(ctx context.Context, number, deviceID string, now time.Time) (IoTMeter, error) {
	m, err := s.IoTMeter(ctx, number)
	if !errors.Is(err, ErrNotFound) {
		return m, err
	}
	var n int64
	if err := s.db.WithContext(ctx).Raw(`SELECT COUNT(*) FROM meters m JOIN accounts a ON a.id = m.account_id
		WHERE m.meter_number = ? AND a.kind = ?`, number, KindIoT).Scan(&n).Error; err != nil {
		return m, err
	}
	if n == 0 {
		return m, ErrNotFound
	}
	if deviceID == "" {
		deviceID = number
	}
	row := IoTMeter{MeterNumber: number, DeviceID: deviceID, CreatedAt: now, UpdatedAt: now}
	if err := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return m, err
	}
	// Read as current (locking, in a transaction): when another writer's
	// row won, a plain read whose snapshot predates it would not find it.
	return m, one(s.current(ctx).Where("meter_number = ?", number).Take(&m).Error)
}

// IoTDeviceTaken reports whether another meter has deviceID at the platform.
func (s *Store) IoTDeviceTaken(ctx context.Context, deviceID, number string) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&IoTMeter{}).Where("device_id = ? AND meter_number <> ?", deviceID, number).Count(&n).Error
	return n > 0, err
}

// SetIoTDevice records a meter's platform device id.
func (s *Store) SetIoTDevice(ctx context.Context, number, deviceID string, at time.Time) error {
	return s.db.WithContext(ctx).Model(&IoTMeter{}).Where("meter_number = ?", number).
		Updates(map[string]any{"device_id": deviceID, "updated_at": at}).Error
}

// SetIoTOnline records a platform's online/offline event.
func (s *Store) SetIoTOnline(ctx context.Context, deviceID string, online bool, at time.Time) error {
	return s.db.WithContext(ctx).Model(&IoTMeter{}).Where("device_id = ?", deviceID).
		Updates(map[string]any{"online": online, "updated_at": at}).Error
}

// NextIoTCommandCounters takes the next recharge counter of each meter of
// numbers (distinct; never used twice: it is the GCM nonce), in one update
// and one read, in a transaction. The meters' platform rows must exist.
func (s *Store) NextIoTCommandCounters(ctx context.Context, numbers []string) (map[string]int64, error) {
	db := s.db.WithContext(ctx)
	res := db.Exec("UPDATE iot_meters SET command_counter = command_counter + 1 WHERE meter_number IN ?", numbers)
	if res.Error != nil {
		return nil, res.Error
	}
	if res.RowsAffected != int64(len(numbers)) {
		return nil, ErrNotFound
	}
	var rows []struct {
		MeterNumber    string
		CommandCounter int64
	}
	// The rows are this transaction's own writes, locked by the update.
	if err := db.Raw("SELECT meter_number, command_counter FROM iot_meters WHERE meter_number IN ?", numbers).Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.MeterNumber] = r.CommandCounter
	}
	return out, nil
}

// SilentIoTMeters lists the meters of IoT accounts whose last report (ours,
// or the billing system's before gaspay heard from them) is older than
// before and that were not flagged since; ReportedAt is that last report.
func (s *Store) SilentIoTMeters(ctx context.Context, before time.Time, limit int) ([]IoTMeter, error) {
	var rows []struct {
		MeterNumber    string
		ReportedAt     *time.Time
		LastReportedAt *time.Time
	}
	err := s.db.WithContext(ctx).Raw(`SELECT m.meter_number, im.reported_at, m.last_reported_at
		FROM meters m JOIN accounts a ON a.id = m.account_id LEFT JOIN iot_meters im ON im.meter_number = m.meter_number
		WHERE a.kind = ? AND COALESCE(im.reported_at, m.last_reported_at) < ?
		AND (im.silent_alerted_at IS NULL OR im.silent_alerted_at < COALESCE(im.reported_at, m.last_reported_at))
		ORDER BY m.id LIMIT ?`, KindIoT, before, limit).Scan(&rows).Error
	out := make([]IoTMeter, len(rows))
	for i, r := range rows {
		out[i] = IoTMeter{MeterNumber: r.MeterNumber, ReportedAt: r.ReportedAt}
		if r.ReportedAt == nil {
			out[i].ReportedAt = r.LastReportedAt
		}
	}
	return out, err
}

// FlagIoTMeterSilent records that staff were told a meter is silent.
func (s *Store) FlagIoTMeterSilent(ctx context.Context, number string, at time.Time) error {
	if _, err := s.EnsureIoTMeter(ctx, number, "", at); err != nil {
		return err
	}
	return s.db.WithContext(ctx).Model(&IoTMeter{}).Where("meter_number = ?", number).Update("silent_alerted_at", at).Error
}

// IoTReports lists a meter's reports, newest first.
func (s *Store) IoTReports(ctx context.Context, number string, limit int) ([]IoTReport, error) {
	var out []IoTReport
	return out, s.db.WithContext(ctx).Where("meter_number = ?", number).Order("id DESC").Limit(limit).Find(&out).Error
}

// TakeIoTReport is the replay guard of one report, for a caller holding
// the meter's account lock: the history row is inserted only if its
// counter beats the meter's stored one, and the unique (meter_number,
// counter) lets one writer only insert it; then the meter's state moves to
// it (a guarded update, idempotent, run again when the row was already
// there so that a crash between the two heals on the retry). It reports
// whether this call took the report. now is when it arrived.
func (s *Store) TakeIoTReport(ctx context.Context, r IoTReport, now time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Exec(`INSERT INTO iot_reports (meter_number, counter, reason, last_applied_seq, unit, balance,
		cumulative_centi_m3, valve, battery_mv, signal_dbm, meter_time, answered_counter, result, answered_seq, received_at)
		SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM iot_meters WHERE meter_number = ? AND report_counter < ?`,
		r.MeterNumber, r.Counter, r.Reason, r.LastAppliedSeq, r.Unit, r.Balance, r.CumulativeCentiM3, r.Valve, r.BatteryMV, r.SignalDBm,
		r.MeterTime, r.AnsweredCounter, r.Result, r.AnsweredSeq, r.ReceivedAt, r.MeterNumber, r.Counter)
	dupErr := errors.Is(res.Error, gorm.ErrDuplicatedKey)
	if res.Error != nil && !dupErr {
		return false, res.Error
	}
	if !dupErr && res.RowsAffected == 0 {
		return false, nil // not newer than what is stored
	}
	if err := s.advanceIoTMeters(ctx, []IoTReport{r}); err != nil {
		return false, err
	}
	return !dupErr, nil
}

// IoTReportTaken is what TakeIoTReports did with one report.
type IoTReportTaken struct {
	// Known: the meter has a platform row. When false nothing was done:
	// the caller creates the row (EnsureIoTMeter) and tries again.
	Known bool
	// DeviceID is the meter's device id at the platform.
	DeviceID string
	// OpenID and OpenAccount name the meter's open delivery, for a report
	// fresher than the stored one. When set nothing was done: the report
	// must be reconciled with the delivery under its account's lock
	// (LockIoTDeliveryAndAccount, TakeIoTReport, then the iot rules).
	OpenID, OpenAccount *int64
	// Taken: the report was fresh and is stored; otherwise it was a
	// replay, or older than what the meter said since.
	Taken bool
}

// TakeIoTReports takes many reports in one transaction (the ingester's
// group commit): it locks the meters' platform rows in meter-number order
// (two batches, or a batch and a single report, then never wait on each
// other in a cycle), decides each report's freshness against the stored
// counter and the batch's earlier reports, inserts the fresh ones in one
// statement and moves each meter to its newest report in one more.
// Reports of meters with a delivery in one of the open states are left to
// the caller (OpenID set). Results are in the order of rs.
func (s *Store) TakeIoTReports(ctx context.Context, rs []IoTReport, open []string) ([]IoTReportTaken, error) {
	out := make([]IoTReportTaken, len(rs))
	err := s.Tx(ctx, func(tx *Store) error {
		clear(out)
		return tx.takeIoTReports(ctx, rs, open, out)
	})
	return out, err
}

func (s *Store) takeIoTReports(ctx context.Context, rs []IoTReport, open []string, out []IoTReportTaken) error {
	db := s.db.WithContext(ctx)
	numbers := make([]string, 0, len(rs))
	seen := map[string]bool{}
	for _, r := range rs {
		if !seen[r.MeterNumber] {
			seen[r.MeterNumber] = true
			numbers = append(numbers, r.MeterNumber)
		}
	}
	sort.Strings(numbers)
	var meters []struct {
		MeterNumber   string
		DeviceID      string
		ReportCounter int64
	}
	if err := db.Raw(`SELECT meter_number, device_id, report_counter FROM iot_meters WHERE meter_number IN ?
		ORDER BY meter_number`+forUpdateSQL(s.db), numbers).Scan(&meters).Error; err != nil {
		return err
	}
	var deliveries []struct {
		MeterNumber string
		ID          int64
		AccountID   int64
	}
	if err := db.Raw(`SELECT meter_number, id, account_id FROM iot_deliveries WHERE meter_number IN ? AND state IN ? ORDER BY id`,
		numbers, open).Scan(&deliveries).Error; err != nil {
		return err
	}
	type meterSeen struct {
		device  string
		counter int64
		openID  *int64
		account *int64
	}
	byNumber := make(map[string]*meterSeen, len(meters))
	for _, m := range meters {
		byNumber[m.MeterNumber] = &meterSeen{device: m.DeviceID, counter: m.ReportCounter}
	}
	for _, d := range deliveries {
		if m := byNumber[d.MeterNumber]; m != nil && m.openID == nil {
			m.openID, m.account = &d.ID, &d.AccountID
		}
	}
	var fresh []IoTReport
	newest := map[string]int{} // meter → index in fresh of its newest report
	for i, r := range rs {
		m := byNumber[r.MeterNumber]
		if m == nil {
			continue
		}
		out[i] = IoTReportTaken{Known: true, DeviceID: m.device}
		if r.Counter <= m.counter {
			continue // a replay, or older than what the meter said since
		}
		if m.openID != nil {
			out[i].OpenID, out[i].OpenAccount = m.openID, m.account
			continue
		}
		m.counter = r.Counter
		out[i].Taken = true
		newest[r.MeterNumber] = len(fresh)
		fresh = append(fresh, r)
	}
	if len(fresh) == 0 {
		return nil
	}
	// A history row already there (a crash between the two statements of
	// an older version) is kept; the meter still moves to it.
	if err := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&fresh).Error; err != nil {
		return err
	}
	last := make([]IoTReport, 0, len(newest))
	for _, i := range newest {
		last = append(last, fresh[i])
	}
	sort.Slice(last, func(a, b int) bool { return last[a].MeterNumber < last[b].MeterNumber })
	return s.advanceIoTMeters(ctx, last)
}

// advanceIoTMeters moves each meter (at most one report each) to its
// report if the report's counter beats the stored one, and, for a meter
// counting money, the balance the account view shows unless a newer one is
// there. One statement on MySQL; two per meter on SQLite, whose
// transaction holds the database.
func (s *Store) advanceIoTMeters(ctx context.Context, rs []IoTReport) error {
	db := s.db.WithContext(ctx)
	if s.Dialect() == MySQL {
		var sb strings.Builder
		args := make([]any, 0, len(rs)*13+1)
		for i, r := range rs {
			if i == 0 {
				sb.WriteString(`SELECT ? AS n, ? AS c, ? AS seq, ? AS unit, ? AS bal, ? AS cum, ? AS valve, ? AS bat, ? AS sig,
					? AS mt, ? AS at, ? AS fen`)
			} else {
				sb.WriteString(" UNION ALL SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?")
			}
			args = append(args, r.MeterNumber, r.Counter, r.LastAppliedSeq, r.Unit, r.Balance, r.CumulativeCentiM3, r.Valve,
				r.BatteryMV, r.SignalDBm, r.MeterTime, r.ReceivedAt, r.Unit == iotUnitFen)
		}
		return db.Exec(`UPDATE iot_meters im JOIN (`+sb.String()+`) v ON im.meter_number = v.n
			LEFT JOIN meters m ON m.meter_number = im.meter_number AND v.fen AND (m.last_reported_at IS NULL OR m.last_reported_at < v.at)
			SET im.report_counter = v.c, im.last_applied_seq = v.seq, im.unit = v.unit, im.balance = v.bal,
				im.cumulative_centi_m3 = v.cum, im.valve = v.valve, im.battery_mv = v.bat, im.signal_dbm = v.sig,
				im.meter_time = v.mt, im.reported_at = v.at, im.updated_at = v.at,
				m.last_balance_fen = v.bal, m.last_reported_at = v.at, m.updated_at = v.at
			WHERE im.report_counter < v.c`, args...).Error
	}
	for _, r := range rs {
		res := db.Model(&IoTMeter{}).Where("meter_number = ? AND report_counter < ?", r.MeterNumber, r.Counter).Updates(map[string]any{
			"report_counter": r.Counter, "last_applied_seq": r.LastAppliedSeq, "unit": r.Unit, "balance": r.Balance,
			"cumulative_centi_m3": r.CumulativeCentiM3, "valve": r.Valve, "battery_mv": r.BatteryMV, "signal_dbm": r.SignalDBm,
			"meter_time": r.MeterTime, "reported_at": r.ReceivedAt, "updated_at": r.ReceivedAt})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 || r.Unit != iotUnitFen {
			continue
		}
		if err := db.Exec(`UPDATE meters SET last_balance_fen = ?, last_reported_at = ?, updated_at = ?
			WHERE meter_number = ? AND (last_reported_at IS NULL OR last_reported_at < ?)`,
			r.Balance, r.ReceivedAt, r.ReceivedAt, r.MeterNumber, r.ReceivedAt).Error; err != nil {
			return err
		}
	}
	return nil
}

// IoTDelivery finds a delivery.
func (s *Store) IoTDelivery(ctx context.Context, id int64) (IoTDelivery, error) {
	var d IoTDelivery
	return d, one(s.db.WithContext(ctx).Take(&d, id).Error)
}

// LockIoTDelivery reads a delivery and locks it until the transaction
// ends; lock its account first.
func (s *Store) LockIoTDelivery(ctx context.Context, id int64) (IoTDelivery, error) {
	var d IoTDelivery
	db := s.db.WithContext(ctx)
	if s.Dialect() == MySQL {
		db = db.Clauses(forUpdate())
	}
	return d, one(db.Take(&d, id).Error)
}

// LockIoTDeliveryAndAccount locks, in one round trip and in the ledger's
// order, a delivery's account and the delivery, and reads the delivery.
func (s *Store) LockIoTDeliveryAndAccount(ctx context.Context, accountID, id int64) (IoTDelivery, error) {
	var d IoTDelivery
	res := s.db.WithContext(ctx).Raw(`SELECT d.* FROM accounts a JOIN iot_deliveries d ON d.account_id = a.id
		WHERE a.id = ? AND d.id = ?`+forUpdateSQL(s.db), accountID, id).Scan(&d)
	if res.Error == nil && res.RowsAffected == 0 {
		return d, ErrNotFound
	}
	return d, res.Error
}

// IoTDeliveryOfOrder finds an order's delivery.
func (s *Store) IoTDeliveryOfOrder(ctx context.Context, orderNo string) (IoTDelivery, error) {
	var d IoTDelivery
	return d, one(s.db.WithContext(ctx).Where("order_no = ?", orderNo).Take(&d).Error)
}

// LatestIoTDelivery is an account's newest delivery.
func (s *Store) LatestIoTDelivery(ctx context.Context, accountID int64) (IoTDelivery, error) {
	var d IoTDelivery
	return d, one(s.db.WithContext(ctx).Where("account_id = ?", accountID).Order("id DESC").Take(&d).Error)
}

// IoTSendRow is a delivery locked for sending, with its credit's status
// and its meter's device id (empty when the meter has no platform row yet).
type IoTSendRow struct {
	IoTDelivery
	CreditStatus CreditStatus
	DeviceID     string
}

// LockIoTDeliveriesForSend locks deliveries ids for sending, in the
// ledger's order: their accounts first (accountIDs, in id order, so that
// two batches never wait on each other in a cycle), then in one read the
// deliveries, their credits and their meters' platform rows. Deliveries
// not found are left out; rows are in delivery id order.
func (s *Store) LockIoTDeliveriesForSend(ctx context.Context, accountIDs, ids []int64) ([]IoTSendRow, error) {
	db := s.db.WithContext(ctx)
	var locked []int64
	if err := db.Raw(`SELECT id FROM accounts WHERE id IN ? ORDER BY id`+forUpdateSQL(s.db), accountIDs).Scan(&locked).Error; err != nil {
		return nil, err
	}
	var rows []struct {
		IoTDelivery
		CreditStatus CreditStatus
		DeviceID     *string
	}
	err := db.Raw(`SELECT d.*, c.status AS credit_status, im.device_id
		FROM iot_deliveries d JOIN credits c ON c.id = d.credit_id
		LEFT JOIN iot_meters im ON im.meter_number = d.meter_number
		WHERE d.id IN ? AND d.account_id IN ? ORDER BY d.id`+forUpdateSQL(s.db), ids, accountIDs).Scan(&rows).Error
	out := make([]IoTSendRow, len(rows))
	for i, r := range rows {
		out[i] = IoTSendRow{IoTDelivery: r.IoTDelivery, CreditStatus: r.CreditStatus}
		if r.DeviceID != nil {
			out[i].DeviceID = *r.DeviceID
		}
	}
	return out, err
}

// IoTDeliveryChange is what one move of a delivery writes; nil fields are
// left as they are. At is the change's time (updated_at); when zero,
// updated_at is left too.
type IoTDeliveryChange struct {
	State              *string
	Reason             *string
	Copies             *int
	ValidUntil         *time.Time
	NextAt             *time.Time
	SentAt             *time.Time
	DeliveredAt        *time.Time
	AppliedAt          *time.Time
	CancelRequestedAt  *time.Time
	CancelBy           *string
	CancelReason       *string
	CancelConfirmedAt  *time.Time
	UnappliedAlertedAt *time.Time
	At                 time.Time
}

func (c IoTDeliveryChange) columns() map[string]any {
	set := map[string]any{}
	put := func(col string, ok bool, v any) {
		if ok {
			set[col] = v
		}
	}
	put("state", c.State != nil, c.State)
	put("reason", c.Reason != nil, c.Reason)
	put("copies", c.Copies != nil, c.Copies)
	put("valid_until", c.ValidUntil != nil, c.ValidUntil)
	put("next_at", c.NextAt != nil, c.NextAt)
	put("sent_at", c.SentAt != nil, c.SentAt)
	put("delivered_at", c.DeliveredAt != nil, c.DeliveredAt)
	put("applied_at", c.AppliedAt != nil, c.AppliedAt)
	put("cancel_requested_at", c.CancelRequestedAt != nil, c.CancelRequestedAt)
	put("cancel_by", c.CancelBy != nil, c.CancelBy)
	put("cancel_reason", c.CancelReason != nil, c.CancelReason)
	put("cancel_confirmed_at", c.CancelConfirmedAt != nil, c.CancelConfirmedAt)
	put("unapplied_alerted_at", c.UnappliedAlertedAt != nil, c.UnappliedAlertedAt)
	put("updated_at", !c.At.IsZero(), c.At)
	return set
}

// ChangeIoTDelivery writes change while the delivery's state is one of
// from, and reports whether it did: a move that lost a race to another
// changes nothing.
func (s *Store) ChangeIoTDelivery(ctx context.Context, id int64, from []string, change IoTDeliveryChange) (bool, error) {
	set := change.columns()
	if len(set) == 0 {
		return false, fmt.Errorf("models: empty change of IoT delivery %d", id)
	}
	res := s.db.WithContext(ctx).Model(&IoTDelivery{}).Where("id = ? AND state IN ?", id, from).Updates(set)
	return res.RowsAffected == 1, res.Error
}

// IoTDeliveryMove is one delivery's conditional change in a batch: while
// its state is one of From, write Change.
type IoTDeliveryMove struct {
	ID     int64
	From   []string
	Change IoTDeliveryChange
}

// ChangeIoTDeliveries writes many deliveries' changes in one statement
// (every change naming the same columns) and reports how many moved: a
// row whose state is no longer one of its From is left alone.
func (s *Store) ChangeIoTDeliveries(ctx context.Context, moves []IoTDeliveryMove) (int, error) {
	if len(moves) == 1 {
		ok, err := s.ChangeIoTDelivery(ctx, moves[0].ID, moves[0].From, moves[0].Change)
		if ok {
			return 1, err
		}
		return 0, err
	}
	ids := make([]int64, len(moves))
	sets := make([]map[string]any, len(moves))
	cond := "CASE id"
	var args []any
	for i, m := range moves {
		ids[i], sets[i] = m.ID, m.Change.columns()
		cond += " WHEN ? THEN state IN ?"
		args = append(args, m.ID, m.From)
	}
	n, err := updateEach(s.db.WithContext(ctx).Model(&IoTDelivery{}).Where(cond+" END", args...), ids, sets)
	return int(n), err
}

// EnqueueIoTDeliveries creates a delivery, in state, of every pending IoT
// credit that has none (at most limit); the unique credit_id makes a second
// replica's insert a no-op. It reports how many it created.
func (s *Store) EnqueueIoTDeliveries(ctx context.Context, state string, now time.Time, limit int) (int, error) {
	var rows []struct {
		CreditID    int64
		AccountID   int64
		Seq         int
		Unit        string
		Amount      int64
		OrderNo     string
		MeterNumber string
	}
	err := s.db.WithContext(ctx).Raw(`SELECT c.id AS credit_id, c.account_id, c.seq, c.unit, c.amount, o.order_no, m.meter_number
		FROM credits c JOIN orders o ON o.id = c.order_id JOIN meters m ON m.account_id = c.account_id
		LEFT JOIN iot_deliveries d ON d.credit_id = c.id
		WHERE c.kind = ? AND c.status = ? AND c.seq IS NOT NULL AND d.id IS NULL ORDER BY c.id LIMIT ?`,
		CreditIoT, CreditPending, limit).Scan(&rows).Error
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range rows {
		d := IoTDelivery{CreditID: r.CreditID, OrderNo: r.OrderNo, AccountID: r.AccountID, MeterNumber: r.MeterNumber, Seq: r.Seq,
			Unit: r.Unit, Amount: r.Amount, State: state, NextAt: now, CreatedAt: now, UpdatedAt: now}
		res := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&d)
		if res.Error != nil {
			return n, res.Error
		}
		n += int(res.RowsAffected)
		// The meter's platform row exists before any copy is sealed: a
		// sending transaction then only updates it (creating it there
		// would take gap locks that deadlock concurrent sends).
		if _, err := s.EnsureIoTMeter(ctx, r.MeterNumber, "", now); err != nil {
			return n, err
		}
	}
	return n, nil
}

// DueIoTDeliveries lists deliveries in one of states whose next_at has
// come and for which no refund was asked, soonest first.
func (s *Store) DueIoTDeliveries(ctx context.Context, states []string, now time.Time, limit int) ([]IoTDelivery, error) {
	var out []IoTDelivery
	err := s.db.WithContext(ctx).Where("state IN ? AND next_at <= ? AND cancel_requested_at IS NULL", states, now).
		Order("next_at").Limit(limit).Find(&out).Error
	return out, err
}

// UnalertedIoTDeliveries lists deliveries in one of states created before
// before that no unapplied-credit alert named yet.
func (s *Store) UnalertedIoTDeliveries(ctx context.Context, states []string, before time.Time, limit int) ([]IoTDelivery, error) {
	var out []IoTDelivery
	err := s.db.WithContext(ctx).Where("state IN ? AND created_at <= ? AND unapplied_alerted_at IS NULL", states, before).
		Order("id").Limit(limit).Find(&out).Error
	return out, err
}

// CancellingIoTDeliveries lists deliveries in one of states whose refund
// waits for the platform's confirmation of the cancel.
func (s *Store) CancellingIoTDeliveries(ctx context.Context, states []string, limit int) ([]IoTDelivery, error) {
	var out []IoTDelivery
	err := s.db.WithContext(ctx).Where("state IN ? AND cancel_requested_at IS NOT NULL AND cancel_confirmed_at IS NULL", states).
		Order("id").Limit(limit).Find(&out).Error
	return out, err
}

// RefundableIoTDeliveries lists deliveries in state whose refund was asked
// and whose credit is still pending: proven dead, the refund itself not
// yet through.
func (s *Store) RefundableIoTDeliveries(ctx context.Context, state string, limit int) ([]IoTDelivery, error) {
	var out []IoTDelivery
	err := s.db.WithContext(ctx).Raw(`SELECT d.* FROM iot_deliveries d JOIN credits c ON c.id = d.credit_id
		WHERE d.state = ? AND d.cancel_requested_at IS NOT NULL AND c.status = ? LIMIT ?`, state, CreditPending, limit).
		Scan(&out).Error
	return out, err
}

// InsertIoTCommands records sealed copies in one statement and sets
// their ids (read back by meter and counter, which are unique).
func (s *Store) InsertIoTCommands(ctx context.Context, cs []IoTCommand) error {
	db := s.db.WithContext(ctx)
	if err := db.Create(&cs).Error; err != nil {
		return dup(err)
	}
	if len(cs) == 1 {
		return nil
	}
	// Not the driver's ids: a multi-row insert's are consecutive only in
	// some of InnoDB's auto-increment lock modes.
	type key struct {
		meter   string
		counter int64
	}
	keys := make([][]any, len(cs))
	at := make(map[key]int, len(cs))
	for i, c := range cs {
		keys[i] = []any{c.MeterNumber, c.Counter}
		at[key{c.MeterNumber, c.Counter}] = i
	}
	var rows []struct {
		ID          int64
		MeterNumber string
		Counter     int64
	}
	if err := db.Raw("SELECT id, meter_number, counter FROM iot_commands WHERE (meter_number, counter) IN ?", keys).Scan(&rows).Error; err != nil {
		return err
	}
	if len(rows) != len(cs) {
		return fmt.Errorf("models: %d of %d copies read back", len(rows), len(cs))
	}
	for _, r := range rows {
		cs[at[key{r.MeterNumber, r.Counter}]].ID = r.ID
	}
	return nil
}

// IoTCommandChange is what the platform's answer about a copy writes; nil
// fields are left as they are, and so is updated_at when At is zero.
type IoTCommandChange struct {
	CommandID *string
	State     *string
	CheckedAt *time.Time
	At        time.Time
}

// ChangeIoTCommand records what is known of a copy.
func (s *Store) ChangeIoTCommand(ctx context.Context, id int64, change IoTCommandChange) error {
	return s.db.WithContext(ctx).Model(&IoTCommand{}).Where("id = ?", id).Updates(change.columns()).Error
}

// ChangeIoTCommandsAndDeliveries records the platform's ids of copies
// ids (commandIDs[i] for ids[i]) with copyChange and, for each copy whose
// delivery's state is one of from, writes change to the delivery: one
// statement (and one commit) on MySQL, where a delivery joins only while
// in from, so a delivery that moved on (a report applied it) is left alone
// and its copy is recorded all the same.
func (s *Store) ChangeIoTCommandsAndDeliveries(ctx context.Context, ids []int64, commandIDs []string, copyChange IoTCommandChange,
	from []string, change IoTDeliveryChange) error {
	if s.Dialect() != MySQL {
		return s.Tx(ctx, func(tx *Store) error {
			for i, id := range ids {
				cc := copyChange
				cc.CommandID = &commandIDs[i]
				var c IoTCommand
				if err := tx.db.WithContext(ctx).Select("delivery_id").Where("id = ?", id).Take(&c).Error; err != nil {
					return one(err)
				}
				if err := tx.ChangeIoTCommand(ctx, id, cc); err != nil {
					return err
				}
				if _, err := tx.ChangeIoTDelivery(ctx, c.DeliveryID, from, change); err != nil {
					return err
				}
			}
			return nil
		})
	}
	var sets []string
	var args []any
	add := func(alias string, cols map[string]any) {
		keys := make([]string, 0, len(cols))
		for k := range cols {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			sets = append(sets, alias+"."+k+" = ?")
			args = append(args, cols[k])
		}
	}
	copyChange.CommandID = nil
	add("c", copyChange.columns())
	add("d", change.columns())
	caseSQL := "c.command_id = CASE c.id"
	var caseArgs []any
	for i, id := range ids {
		caseSQL += " WHEN ? THEN ?"
		caseArgs = append(caseArgs, id, commandIDs[i])
	}
	sets = append(sets, caseSQL+" END")
	args = append(append([]any{from}, args...), caseArgs...)
	args = append(args, ids)
	return s.db.WithContext(ctx).Exec(`UPDATE iot_commands c
		LEFT JOIN iot_deliveries d ON d.id = c.delivery_id AND d.state IN ?
		SET `+strings.Join(sets, ", ")+` WHERE c.id IN ?`, args...).Error
}

func (change IoTCommandChange) columns() map[string]any {
	set := map[string]any{}
	if change.CommandID != nil {
		set["command_id"] = change.CommandID
	}
	if change.State != nil {
		set["state"] = change.State
	}
	if change.CheckedAt != nil {
		set["checked_at"] = change.CheckedAt
	}
	if !change.At.IsZero() {
		set["updated_at"] = change.At
	}
	return set
}

// IoTCommandsOf lists a delivery's copies, oldest first.
func (s *Store) IoTCommandsOf(ctx context.Context, deliveryID int64) ([]IoTCommand, error) {
	var out []IoTCommand
	return out, s.db.WithContext(ctx).Where("delivery_id = ?", deliveryID).Order("id").Find(&out).Error
}

// IoTCommandByPlatformID finds a copy by the platform's command id.
func (s *Store) IoTCommandByPlatformID(ctx context.Context, commandID string) (IoTCommand, error) {
	var c IoTCommand
	return c, one(s.db.WithContext(ctx).Where("command_id = ?", commandID).Take(&c).Error)
}

// IoTCommandsToFollow lists copies in one of states that the platform
// named, not asked about since before.
func (s *Store) IoTCommandsToFollow(ctx context.Context, states []string, before time.Time, limit int) ([]IoTCommand, error) {
	var out []IoTCommand
	err := s.db.WithContext(ctx).Where("state IN ? AND command_id IS NOT NULL AND (checked_at IS NULL OR checked_at <= ?)",
		states, before).Order("id").Limit(limit).Find(&out).Error
	return out, err
}

// IoTDeliveriesIn counts deliveries in state (the benchmark's check).
func (s *Store) IoTDeliveriesIn(ctx context.Context, state string) (int64, error) {
	var n int64
	return n, s.db.WithContext(ctx).Model(&IoTDelivery{}).Where("state = ?", state).Count(&n).Error
}
