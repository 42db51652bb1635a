package iot

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"gaspay/models"
)

// State is where an IoT delivery is.
type State string

// Delivery states: queued → sent (the platform accepted a copy) →
// delivered (the device acknowledged one) → applied (an authenticated
// report shows the sequence applied). expired: every copy's TTL passed
// undelivered, so a new copy with the same sequence goes out; rejected: the
// meter answered with another state; cancelled: the credit was refunded
// (queued, or proven dead after sending).
const (
	Queued    State = "queued"
	Sent      State = "sent"
	Delivered State = "delivered"
	Applied   State = "applied"
	Expired   State = "expired"
	Rejected  State = "rejected"
	Cancelled State = "cancelled"
)

// Open reports whether the delivery is not over.
func (s State) Open() bool { return s != Applied && s != Cancelled }

var openStates = []State{Queued, Sent, Delivered, Expired, Rejected}

// Delivery is an IoT credit's way to its meter.
type Delivery struct {
	ID                 int64
	CreditID           int64
	OrderNo            string
	AccountID          int64
	MeterNumber        string
	Seq                int
	Unit               string
	Amount             int64
	State              State
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

// TableName is the delivery's table.
func (Delivery) TableName() string { return "iot_deliveries" }

// Copy states of our own, beside the platform's CommandState.
const (
	copySending CommandState = "sending" // sealed; the platform's answer not yet in
	copyUnknown CommandState = "unknown" // the platform's answer was lost
)

type commandRow struct {
	ID          int64
	DeliveryID  int64
	MeterNumber string
	Counter     int64
	CommandID   *string
	NotAfter    time.Time
	State       CommandState
	CheckedAt   *time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

func (commandRow) TableName() string { return "iot_commands" }

// MeterState is a meter's platform identity and last authenticated state.
type MeterState struct {
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
func (MeterState) TableName() string { return "iot_meters" }

// ReportRow is one authenticated report: the meter's history.
type ReportRow struct {
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
func (ReportRow) TableName() string { return "iot_reports" }

// store is the IoT tables' storage, over the models.Store's handle (inside
// its transaction when it is one).
type store struct{ db *gorm.DB }

func st(s *models.Store) store { return store{db: s.DB()} }

func forUpdate(db *gorm.DB) *gorm.DB {
	if models.DialectOf(db) == models.MySQL {
		return db.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
	}
	return db
}

func one(err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return models.ErrNotFound
	}
	return err
}

// meterByNumber finds a meter's platform row.
func (s store) meterByNumber(ctx context.Context, number string) (MeterState, error) {
	var m MeterState
	return m, one(s.db.WithContext(ctx).Where("meter_number = ?", number).Take(&m).Error)
}

// ensureMeter creates the platform row of an IoT account's meter if it has
// none; deviceID defaults to the meter number (the sandbox's convention).
// Errors: models.ErrNotFound when no IoT account has this meter.
func (s store) ensureMeter(ctx context.Context, number, deviceID string, now time.Time) (MeterState, error) {
	m, err := s.meterByNumber(ctx, number)
	if !errors.Is(err, models.ErrNotFound) {
		return m, err
	}
	var n int64
	if err := s.db.WithContext(ctx).Raw(`SELECT COUNT(*) FROM meters m JOIN accounts a ON a.id = m.account_id
		WHERE m.meter_number = ? AND a.kind = ?`, number, models.KindIoT).Scan(&n).Error; err != nil {
		return m, err
	}
	if n == 0 {
		return m, models.ErrNotFound
	}
	if deviceID == "" {
		deviceID = number
	}
	row := MeterState{MeterNumber: number, DeviceID: deviceID, CreatedAt: now, UpdatedAt: now}
	if err := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return m, err
	}
	// A locking read: when another writer's row won, a plain read in a
	// transaction whose snapshot predates it would not find it (see
	// models.Store).
	return m, one(s.db.WithContext(ctx).Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).
		Where("meter_number = ?", number).Take(&m).Error)
}

// reportState is what a report sets on its meter.
type reportState struct {
	Counter           int64
	LastAppliedSeq    int64
	Unit              int
	Balance           int64
	CumulativeCentiM3 int64
	Valve             int
	BatteryMV         int
	SignalDBm         int
	MeterTime         time.Time
}

// advanceReport is the replay guard: it takes the report only if its
// counter beats the stored one, stores the meter's state with it and, for a
// meter counting money, the balance the account view shows (unless a newer
// one is there). One statement on MySQL; two on SQLite, whose transaction
// holds the database.
func (s store) advanceReport(ctx context.Context, number string, r reportState, now time.Time) (bool, error) {
	fen := r.Unit == 1
	if models.DialectOf(s.db) == models.MySQL {
		res := s.db.WithContext(ctx).Exec(`UPDATE iot_meters im
			LEFT JOIN meters m ON m.meter_number = im.meter_number AND ? AND (m.last_reported_at IS NULL OR m.last_reported_at < ?)
			SET im.report_counter = ?, im.last_applied_seq = ?, im.unit = ?, im.balance = ?, im.cumulative_centi_m3 = ?,
				im.valve = ?, im.battery_mv = ?, im.signal_dbm = ?, im.meter_time = ?, im.reported_at = ?, im.updated_at = ?,
				m.last_balance_fen = ?, m.last_reported_at = ?, m.updated_at = ?
			WHERE im.meter_number = ? AND im.report_counter < ?`,
			fen, now, r.Counter, r.LastAppliedSeq, r.Unit, r.Balance, r.CumulativeCentiM3, r.Valve, r.BatteryMV, r.SignalDBm,
			r.MeterTime, now, now, r.Balance, now, now, number, r.Counter)
		return res.RowsAffected > 0, res.Error
	}
	res := s.db.WithContext(ctx).Model(&MeterState{}).Where("meter_number = ? AND report_counter < ?", number, r.Counter).Updates(map[string]any{
		"report_counter": r.Counter, "last_applied_seq": r.LastAppliedSeq, "unit": r.Unit, "balance": r.Balance,
		"cumulative_centi_m3": r.CumulativeCentiM3, "valve": r.Valve, "battery_mv": r.BatteryMV, "signal_dbm": r.SignalDBm,
		"meter_time": r.MeterTime, "reported_at": now, "updated_at": now})
	if res.Error != nil || res.RowsAffected != 1 {
		return false, res.Error
	}
	if !fen {
		return true, nil
	}
	return true, s.db.WithContext(ctx).Exec(`UPDATE meters SET last_balance_fen = ?, last_reported_at = ?, updated_at = ?
		WHERE meter_number = ? AND (last_reported_at IS NULL OR last_reported_at < ?)`, r.Balance, now, now, number, now).Error
}

// meterForReport reads, in one round trip, a meter's platform row and its
// open delivery (id and account), if any.
func (s store) meterForReport(ctx context.Context, number string) (MeterState, *int64, *int64, error) {
	var row struct {
		MeterState
		OpenID      *int64
		OpenAccount *int64
	}
	// One join, no correlated subquery: MariaDB pays per subquery.
	res := s.db.WithContext(ctx).Raw(`SELECT im.*, d.id AS open_id, d.account_id AS open_account
		FROM iot_meters im LEFT JOIN iot_deliveries d ON d.meter_number = im.meter_number AND d.state IN ?
		WHERE im.meter_number = ? ORDER BY d.id LIMIT 1`, openStates, number).Scan(&row)
	if res.Error != nil {
		return MeterState{}, nil, nil, res.Error
	}
	if res.RowsAffected == 0 {
		return MeterState{}, nil, nil, models.ErrNotFound
	}
	return row.MeterState, row.OpenID, row.OpenAccount, nil
}

// takeCommandCounter takes the meter's next recharge counter (never used
// twice: it is the GCM nonce). The meter's platform row must exist (enqueue
// creates it). On MySQL the new value comes back with the update itself.
func (s store) takeCommandCounter(ctx context.Context, number string) (int64, error) {
	db := s.db.WithContext(ctx)
	if models.DialectOf(s.db) == models.MySQL {
		// The handle's own pool: the transaction's connection inside one.
		res, err := db.Statement.ConnPool.ExecContext(ctx,
			"UPDATE iot_meters SET command_counter = LAST_INSERT_ID(command_counter + 1) WHERE meter_number = ?", number)
		if err != nil {
			return 0, err
		}
		if k, _ := res.RowsAffected(); k != 1 {
			return 0, models.ErrNotFound
		}
		return res.LastInsertId()
	}
	res := db.Exec("UPDATE iot_meters SET command_counter = command_counter + 1 WHERE meter_number = ?", number)
	if res.Error != nil {
		return 0, res.Error
	}
	if res.RowsAffected != 1 {
		return 0, models.ErrNotFound
	}
	var n int64
	return n, db.Raw("SELECT command_counter FROM iot_meters WHERE meter_number = ?", number).Scan(&n).Error
}

// lockForSend locks, in one round trip and in the ledger's order, the
// delivery's account, the delivery and its credit, and reads the credit's
// status and the meter's device id (empty when the meter has no platform
// row yet).
func (s store) lockForSend(ctx context.Context, accountID, id int64) (Delivery, models.CreditStatus, string, error) {
	var row struct {
		Delivery
		CreditStatus models.CreditStatus
		DeviceID     *string
	}
	lock := ""
	if models.DialectOf(s.db) == models.MySQL {
		lock = " FOR UPDATE"
	}
	res := s.db.WithContext(ctx).Raw(`SELECT d.*, c.status AS credit_status, im.device_id
		FROM accounts a JOIN iot_deliveries d ON d.account_id = a.id JOIN credits c ON c.id = d.credit_id
		LEFT JOIN iot_meters im ON im.meter_number = d.meter_number
		WHERE a.id = ? AND d.id = ?`+lock, accountID, id).Scan(&row)
	if res.Error != nil {
		return Delivery{}, "", "", res.Error
	}
	if res.RowsAffected == 0 {
		return Delivery{}, "", "", models.ErrNotFound
	}
	dev := ""
	if row.DeviceID != nil {
		dev = *row.DeviceID
	}
	return row.Delivery, row.CreditStatus, dev, nil
}

// openDelivery finds the meter's delivery not yet over, if any (one
// undelivered credit per meter: at most one).
func (s store) openDelivery(ctx context.Context, number string) (Delivery, error) {
	var d Delivery
	return d, one(s.db.WithContext(ctx).Where("meter_number = ? AND state IN ?", number, openStates).Order("id").Take(&d).Error)
}

func (s store) delivery(ctx context.Context, id int64) (Delivery, error) {
	var d Delivery
	return d, one(s.db.WithContext(ctx).Take(&d, id).Error)
}

func (s store) lockDelivery(ctx context.Context, id int64) (Delivery, error) {
	var d Delivery
	return d, one(forUpdate(s.db.WithContext(ctx)).Take(&d, id).Error)
}

func (s store) deliveryOfOrder(ctx context.Context, orderNo string) (Delivery, error) {
	var d Delivery
	return d, one(s.db.WithContext(ctx).Where("order_no = ?", orderNo).Take(&d).Error)
}

// latestDelivery is an account's newest delivery.
func (s store) latestDelivery(ctx context.Context, accountID int64) (Delivery, error) {
	var d Delivery
	return d, one(s.db.WithContext(ctx).Where("account_id = ?", accountID).Order("id DESC").Take(&d).Error)
}

// updateDelivery applies set while the delivery is in one of from.
func (s store) updateDelivery(ctx context.Context, id int64, from []State, set map[string]any) (bool, error) {
	res := s.db.WithContext(ctx).Model(&Delivery{}).Where("id = ? AND state IN ?", id, from).Updates(set)
	return res.RowsAffected == 1, res.Error
}

// enqueue creates the queued delivery of every pending IoT credit that has
// none; the unique credit_id makes a second replica's insert a no-op.
func (s store) enqueue(ctx context.Context, now time.Time, limit int) (int, error) {
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
		models.CreditIoT, models.CreditPending, limit).Scan(&rows).Error
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range rows {
		d := Delivery{CreditID: r.CreditID, OrderNo: r.OrderNo, AccountID: r.AccountID, MeterNumber: r.MeterNumber, Seq: r.Seq,
			Unit: r.Unit, Amount: r.Amount, State: Queued, NextAt: now, CreatedAt: now, UpdatedAt: now}
		res := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&d)
		if res.Error != nil {
			return n, res.Error
		}
		n += int(res.RowsAffected)
		// The meter's platform row exists before any copy is sealed: a
		// sending transaction then only updates it (creating it there
		// would take gap locks that deadlock concurrent sends).
		if _, err := s.ensureMeter(ctx, r.MeterNumber, "", now); err != nil {
			return n, err
		}
	}
	return n, nil
}

// due lists deliveries to send: queued or expired, due, no refund asked.
func (s store) due(ctx context.Context, now time.Time, limit int) ([]Delivery, error) {
	var out []Delivery
	err := s.db.WithContext(ctx).Where("state IN ? AND next_at <= ? AND cancel_requested_at IS NULL", []State{Queued, Expired}, now).
		Order("next_at").Limit(limit).Find(&out).Error
	return out, err
}

func (s store) insertCommand(ctx context.Context, c *commandRow) error {
	return s.db.WithContext(ctx).Create(c).Error
}

func (s store) setCommand(ctx context.Context, id int64, set map[string]any) error {
	return s.db.WithContext(ctx).Model(&commandRow{}).Where("id = ?", id).Updates(set).Error
}

func (s store) commandsOf(ctx context.Context, deliveryID int64) ([]commandRow, error) {
	var out []commandRow
	return out, s.db.WithContext(ctx).Where("delivery_id = ?", deliveryID).Order("id").Find(&out).Error
}

func (s store) commandByPlatformID(ctx context.Context, commandID string) (commandRow, error) {
	var c commandRow
	return c, one(s.db.WithContext(ctx).Where("command_id = ?", commandID).Take(&c).Error)
}

// commandsToFollow lists copies the platform may still deliver, not asked
// about since before.
func (s store) commandsToFollow(ctx context.Context, before time.Time, limit int) ([]commandRow, error) {
	var out []commandRow
	err := s.db.WithContext(ctx).Where("state IN ? AND command_id IS NOT NULL AND (checked_at IS NULL OR checked_at <= ?)",
		[]CommandState{CmdSaved, CmdSent}, before).Order("id").Limit(limit).Find(&out).Error
	return out, err
}

// takeReport is the replay guard: the report's history row is inserted
// only if its counter beats the meter's stored one, and the unique
// (meter_number, counter) lets one writer only insert it; then the meter's
// state moves to it (a guarded update, idempotent, run again when the row
// was already there so that a crash between the two heals on the retry).
// It reports whether this call took the report.
func (s store) takeReport(ctx context.Context, r ReportRow, state reportState, now time.Time) (bool, error) {
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
	if _, err := s.advanceReport(ctx, r.MeterNumber, state, now); err != nil {
		return false, err
	}
	return !dupErr, nil
}

// Reports lists a meter's reports, newest first.
func (s store) reports(ctx context.Context, number string, limit int) ([]ReportRow, error) {
	var out []ReportRow
	return out, s.db.WithContext(ctx).Where("meter_number = ?", number).Order("id DESC").Limit(limit).Find(&out).Error
}

// silent lists the meters of IoT accounts whose last report (ours, or the
// billing system's before gaspay heard from them) is older than before and
// that were not flagged since.
func (s store) silent(ctx context.Context, before time.Time, limit int) ([]MeterState, error) {
	var rows []struct {
		MeterNumber    string
		ReportedAt     *time.Time
		LastReportedAt *time.Time
	}
	err := s.db.WithContext(ctx).Raw(`SELECT m.meter_number, im.reported_at, m.last_reported_at
		FROM meters m JOIN accounts a ON a.id = m.account_id LEFT JOIN iot_meters im ON im.meter_number = m.meter_number
		WHERE a.kind = ? AND COALESCE(im.reported_at, m.last_reported_at) < ?
		AND (im.silent_alerted_at IS NULL OR im.silent_alerted_at < COALESCE(im.reported_at, m.last_reported_at))
		ORDER BY m.id LIMIT ?`, models.KindIoT, before, limit).Scan(&rows).Error
	out := make([]MeterState, len(rows))
	for i, r := range rows {
		out[i] = MeterState{MeterNumber: r.MeterNumber, ReportedAt: r.ReportedAt}
		if r.ReportedAt == nil {
			out[i].ReportedAt = r.LastReportedAt
		}
	}
	return out, err
}

func (s store) flagSilent(ctx context.Context, number string, at time.Time) error {
	if _, err := s.ensureMeter(ctx, number, "", at); err != nil {
		return err
	}
	return s.db.WithContext(ctx).Model(&MeterState{}).Where("meter_number = ?", number).Update("silent_alerted_at", at).Error
}

// unapplied lists open deliveries older than before that no alert named.
func (s store) unapplied(ctx context.Context, before time.Time, limit int) ([]Delivery, error) {
	var out []Delivery
	err := s.db.WithContext(ctx).Where("state IN ? AND created_at <= ? AND unapplied_alerted_at IS NULL", openStates, before).
		Order("id").Limit(limit).Find(&out).Error
	return out, err
}

// cancelling lists deliveries whose refund waits for the platform's
// confirmation of the cancel.
func (s store) cancelling(ctx context.Context, limit int) ([]Delivery, error) {
	var out []Delivery
	err := s.db.WithContext(ctx).Where("state IN ? AND cancel_requested_at IS NOT NULL AND cancel_confirmed_at IS NULL", openStates).
		Order("id").Limit(limit).Find(&out).Error
	return out, err
}

func (s store) setOnline(ctx context.Context, deviceID string, online bool, at time.Time) error {
	return s.db.WithContext(ctx).Model(&MeterState{}).Where("device_id = ?", deviceID).
		Updates(map[string]any{"online": online, "updated_at": at}).Error
}
