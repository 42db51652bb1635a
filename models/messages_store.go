package models

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// The storage of package messages: the outbox of messages to customers,
// the subscribe-message acceptances they gave, their low-balance settings,
// the producer's cursors, and the reads that find what happened.

// MessageEvent is what a message reports (messages.Event).
type MessageEvent string

// Outbox states: where an outbox message stands.
const (
	OutboxPending = "pending"
	OutboxSent    = "sent"
	OutboxRefused = "refused" // 43101 / 43004: the user gave no acceptance or refuses
	OutboxQuota   = "quota"   // a quota error, or no acceptance counted
	OutboxGivenUp = "given_up"
)

// OutboxMessage is an outbox row: one per event and user.
type OutboxMessage struct {
	ID         int64
	Event      MessageEvent
	EventKey   string
	UserID     int64
	AppKind    AppKind
	OpenID     string `gorm:"column:open_id"`
	TemplateID string
	DataJSON   string `gorm:"column:data_json"`
	Link       *string
	State      string
	Attempts   int
	NextAt     time.Time
	LastError  *string
	CreatedAt  time.Time
	SentAt     *time.Time
	UpdatedAt  time.Time

	// AccountID is the account the message is about (nil on rows older
	// than migration 82 whose key names no order).
	AccountID *int64
}

// TableName is the outbox's table.
func (OutboxMessage) TableName() string { return "outbox_messages" }

// scanAll runs a read-only query and scans every row into a T.
func scanAll[T any](ctx context.Context, s *Store, query string, args ...any) ([]T, error) {
	var out []T
	err := s.db.WithContext(ctx).Raw(query, args...).Scan(&out).Error
	return out, err
}

// AddSubscribeAcceptance counts one more acceptance of a subscribe-message
// template by a user and returns how many the user now has.
func (s *Store) AddSubscribeAcceptance(ctx context.Context, userID int64, templateID string, at time.Time) (int, error) {
	row := map[string]any{"user_id": userID, "template_id": templateID, "credits": 1, "updated_at": at}
	err := s.db.WithContext(ctx).Table("message_subscriptions").Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "user_id"}, {Name: "template_id"}},
		DoUpdates: clause.Assignments(map[string]any{"credits": gorm.Expr("credits + 1"), "updated_at": at}),
	}).Create(row).Error
	if err != nil {
		return 0, err
	}
	return s.SubscribeAcceptances(ctx, userID, templateID)
}

// SubscribeAcceptances is how many sends of a template a user accepted and
// has not yet had.
func (s *Store) SubscribeAcceptances(ctx context.Context, userID int64, templateID string) (int, error) {
	var n int
	err := s.db.WithContext(ctx).Raw("SELECT COALESCE(MAX(credits), 0) FROM message_subscriptions WHERE user_id = ? AND template_id = ?",
		userID, templateID).Scan(&n).Error
	return n, err
}

// TakeSubscribeAcceptance spends one acceptance before a send; false when
// the user has none left.
func (s *Store) TakeSubscribeAcceptance(ctx context.Context, userID int64, templateID string, at time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Exec("UPDATE message_subscriptions SET credits = credits - 1, updated_at = ? WHERE user_id = ? AND template_id = ? AND credits > 0",
		at, userID, templateID)
	return res.RowsAffected > 0, res.Error
}

// ReturnSubscribeAcceptance gives back an acceptance taken for a send that
// did not happen.
func (s *Store) ReturnSubscribeAcceptance(ctx context.Context, userID int64, templateID string) error {
	return s.db.WithContext(ctx).Exec("UPDATE message_subscriptions SET credits = credits + 1 WHERE user_id = ? AND template_id = ?",
		userID, templateID).Error
}

// ClearSubscribeAcceptances forgets a user's acceptances of a template,
// after WeChat said there are none.
func (s *Store) ClearSubscribeAcceptances(ctx context.Context, userID int64, templateID string) error {
	return s.db.WithContext(ctx).Exec("UPDATE message_subscriptions SET credits = 0 WHERE user_id = ? AND template_id = ?",
		userID, templateID).Error
}

// SetLowBalanceThreshold sets an account's low-balance warning.
func (s *Store) SetLowBalanceThreshold(ctx context.Context, accountID, fen int64, at time.Time) error {
	return s.db.WithContext(ctx).Table("message_settings").Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "account_id"}},
		DoUpdates: clause.Assignments(map[string]any{"low_balance_fen": fen, "updated_at": at}),
	}).Create(map[string]any{"account_id": accountID, "low_balance_fen": fen, "updated_at": at}).Error
}

// MessageRecipient is a user bound to an account, as a message reaches them.
type MessageRecipient struct {
	UserID  int64
	AppKind AppKind
	OpenID  string
}

// MessageRecipients are the users bound to an account.
func (s *Store) MessageRecipients(ctx context.Context, accountID int64) ([]MessageRecipient, error) {
	return scanAll[MessageRecipient](ctx, s, `SELECT u.id AS user_id, u.app_kind, u.open_id FROM bindings b JOIN users u ON u.id = b.user_id
		WHERE b.account_id = ?`, accountID)
}

// EnqueueMessage adds m to the outbox unless its (event_key, user_id) is
// there already; it reports whether it added it.
func (s *Store) EnqueueMessage(ctx context.Context, m *OutboxMessage) (bool, error) {
	res := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(m)
	return res.RowsAffected > 0, res.Error
}

// OutboxCursor is how far the producer named name looked; def if never.
func (s *Store) OutboxCursor(ctx context.Context, name string, def time.Time) (time.Time, error) {
	var at []time.Time
	if err := s.db.WithContext(ctx).Raw("SELECT at FROM outbox_cursors WHERE name = ?", name).Scan(&at).Error; err != nil {
		return def, err
	}
	if len(at) == 0 {
		return def, nil
	}
	return at[0], nil
}

// SetOutboxCursor moves the producer's cursor.
func (s *Store) SetOutboxCursor(ctx context.Context, name string, at time.Time) error {
	return s.db.WithContext(ctx).Table("outbox_cursors").Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "name"}}, DoUpdates: clause.Assignments(map[string]any{"at": at}),
	}).Create(map[string]any{"name": name, "at": at}).Error
}

// PaymentEvent is a payment received, for a message.
type PaymentEvent struct {
	OrderNo    string
	AccountID  int64
	AmountFen  int64
	Purpose    string
	PaidAt     time.Time
	UserNumber string
}

// PaymentsRecorded are the payments recorded in [from, to].
func (s *Store) PaymentsRecorded(ctx context.Context, from, to time.Time) ([]PaymentEvent, error) {
	return scanAll[PaymentEvent](ctx, s, `SELECT o.order_no, o.account_id, p.amount_fen, o.purpose, p.paid_at, a.user_number
		FROM payments p JOIN orders o ON o.id = p.order_id JOIN accounts a ON a.id = o.account_id
		WHERE p.created_at >= ? AND p.created_at <= ?`, from, to)
}

// DeliveryEvent is a credit delivered, for a message.
type DeliveryEvent struct {
	OrderNo     string
	AccountID   int64
	Kind        CreditKind
	Amount      int64
	Unit        Unit
	DeliveredAt time.Time
}

// CreditsDelivered are the credits delivered in [from, to].
func (s *Store) CreditsDelivered(ctx context.Context, from, to time.Time) ([]DeliveryEvent, error) {
	return scanAll[DeliveryEvent](ctx, s, `SELECT o.order_no, c.account_id, c.kind, c.amount, c.unit, c.delivered_at
		FROM credits c JOIN orders o ON o.id = c.order_id
		WHERE c.status = ? AND c.delivered_at >= ? AND c.delivered_at <= ?`, CreditDelivered, from, to)
}

// IoTActionEvent is an IoT delivery that needs the customer or staff.
type IoTActionEvent struct {
	OrderNo   string
	AccountID int64
	State     string
	Copies    int
	UpdatedAt time.Time
}

// IoTDeliveriesNeedingAction are the IoT deliveries that expired or were
// rejected in [from, to].
func (s *Store) IoTDeliveriesNeedingAction(ctx context.Context, from, to time.Time) ([]IoTActionEvent, error) {
	return scanAll[IoTActionEvent](ctx, s, `SELECT order_no, account_id, state, copies, updated_at FROM iot_deliveries
		WHERE state IN ('expired', 'rejected') AND updated_at >= ? AND updated_at <= ?`, from, to)
}

// LowBalanceEvent is a meter report below the account's warning.
type LowBalanceEvent struct {
	MeterNumber string
	AccountID   int64
	Balance     int64
	ReportedAt  time.Time
}

// LowBalanceReports are the IoT meters (money units) whose report in
// [from, to] is below their account's warning, or defFen without one.
func (s *Store) LowBalanceReports(ctx context.Context, from, to time.Time, defFen int64) ([]LowBalanceEvent, error) {
	return scanAll[LowBalanceEvent](ctx, s, `SELECT im.meter_number, m.account_id, im.balance, im.reported_at
		FROM iot_meters im JOIN meters m ON m.meter_number = im.meter_number LEFT JOIN message_settings ms ON ms.account_id = m.account_id
		WHERE im.reported_at >= ? AND im.reported_at <= ? AND im.unit = 1 AND im.balance < COALESCE(ms.low_balance_fen, ?)`,
		from, to, defFen)
}

// ArrearsEvent is an ordinary account in arrears.
type ArrearsEvent struct {
	ID         int64
	UserNumber string
	ArrearsFen int64
}

// AccountsInArrears are the ordinary accounts with arrears.
func (s *Store) AccountsInArrears(ctx context.Context) ([]ArrearsEvent, error) {
	return scanAll[ArrearsEvent](ctx, s, `SELECT id, user_number, arrears_fen FROM accounts WHERE kind = ? AND arrears_fen > 0`, KindOrdinary)
}

// DueMessages are up to limit pending messages whose time has come, the
// oldest first.
func (s *Store) DueMessages(ctx context.Context, now time.Time, limit int) ([]OutboxMessage, error) {
	var due []OutboxMessage
	err := s.db.WithContext(ctx).Where("state = ? AND next_at <= ?", OutboxPending, now).Order("next_at").Limit(limit).Find(&due).Error
	return due, err
}

// MessageAttempt is the outcome of one try at sending a pending message.
// Zero fields are left as they are.
type MessageAttempt struct {
	State     string
	Attempts  int
	LastError string
	NextAt    time.Time
	SentAt    time.Time
}

// RecordMessageAttempt writes an attempt's outcome on a message that is
// still pending.
func (s *Store) RecordMessageAttempt(ctx context.Context, id int64, a MessageAttempt, at time.Time) error {
	set := map[string]any{"updated_at": at}
	if a.State != "" {
		set["state"] = a.State
	}
	if a.Attempts != 0 {
		set["attempts"] = a.Attempts
	}
	if a.LastError != "" {
		set["last_error"] = a.LastError
	}
	if !a.NextAt.IsZero() {
		set["next_at"] = a.NextAt
	}
	if !a.SentAt.IsZero() {
		set["sent_at"] = a.SentAt
	}
	return s.db.WithContext(ctx).Model(&OutboxMessage{}).Where("id = ? AND state = ?", id, OutboxPending).Updates(set).Error
}

// RecentMessages lists the newest outbox rows, for staff.
func (s *Store) RecentMessages(ctx context.Context, limit int) ([]OutboxMessage, error) {
	var out []OutboxMessage
	err := s.db.WithContext(ctx).Order("id DESC").Limit(limit).Find(&out).Error
	return out, err
}

// MessagesOfAccount lists the messages about an account, newest first.
func (s *Store) MessagesOfAccount(ctx context.Context, accountID int64, limit int) ([]OutboxMessage, error) {
	var out []OutboxMessage
	err := s.db.WithContext(ctx).Where("account_id = ?", accountID).Order("id DESC").Limit(limit).Find(&out).Error
	return out, err
}
