package models

import (
	"context"
	"errors"
	"strings"
	"time"

	"gorm.io/gorm"
)

// AccountHit is one account found by the console's search.
type AccountHit struct {
	ID          int64
	UserNumber  string
	HolderName  string
	Phone       string
	Address     string
	Kind        AccountKind
	Status      AccountStatus
	BalanceFen  int64
	ArrearsFen  int64
	MeterNumber *string
	CardSerial  *string
}

const hitSelect = `SELECT a.id, a.user_number, a.holder_name, a.phone, a.address, a.kind, a.status, a.balance_fen, a.arrears_fen,
	m.meter_number, c.card_serial
	FROM accounts a LEFT JOIN meters m ON m.account_id = a.id LEFT JOIN cards c ON c.current_account_id = a.id `

// SearchAccounts finds accounts for the console's one search box. Digits
// are looked up as a user number, a meter number and a phone number; 16
// hex digits as a card serial (current or past); anything else as the
// start of a holder name. Every lookup is one index probe or range, so the
// answer stays fast on a million accounts.
func (s *Store) SearchAccounts(ctx context.Context, q string, limit int) ([]AccountHit, error) {
	db := s.db.WithContext(ctx)
	var out []AccountHit
	seen := map[int64]bool{}
	add := func(where string, args ...any) error {
		var hits []AccountHit
		// Ordered along the index the lookup uses, so that LIMIT stops the
		// scan early even when a name prefix matches many accounts.
		order := " ORDER BY a.id"
		if strings.Contains(where, "holder_name") {
			order = " ORDER BY a.holder_name, a.id"
		}
		if err := db.Raw(hitSelect+where+order+" LIMIT ?", append(args, limit)...).Scan(&hits).Error; err != nil {
			return err
		}
		for _, h := range hits {
			if !seen[h.ID] && len(out) < limit {
				seen[h.ID] = true
				out = append(out, h)
			}
		}
		return nil
	}
	digits := q != "" && strings.Trim(q, "0123456789") == ""
	if digits {
		for _, where := range []string{
			"WHERE a.user_number = ?",
			"WHERE a.id = (SELECT account_id FROM meters WHERE meter_number = ?)",
			"WHERE a.phone = ?",
		} {
			if err := add(where, q); err != nil {
				return nil, err
			}
		}
	}
	if len(q) == 16 && strings.Trim(strings.ToUpper(q), "0123456789ABCDEF") == "" {
		if err := add("WHERE a.id = (SELECT account_id FROM cards WHERE card_serial = ?)", strings.ToUpper(q)); err != nil {
			return nil, err
		}
	}
	if !digits && len(out) == 0 {
		if err := add(`WHERE a.holder_name LIKE ? ESCAPE '!'`, likePrefix(q)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// likePrefix escapes s for LIKE and matches what starts with it.
func likePrefix(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s) + "%"
}

// ChannelTotal is one channel's payments.
type ChannelTotal struct {
	Channel  Channel
	Count    int64
	TotalFen int64
}

// PaymentsByChannel sums the payments made in [from, to) by order channel.
func (s *Store) PaymentsByChannel(ctx context.Context, from, to time.Time) ([]ChannelTotal, error) {
	var out []ChannelTotal
	err := s.db.WithContext(ctx).Raw(`SELECT o.channel, COUNT(*) AS count, SUM(p.amount_fen) AS total_fen
		FROM payments p JOIN orders o ON o.id = p.order_id
		WHERE p.paid_at >= ? AND p.paid_at < ? GROUP BY o.channel ORDER BY o.channel`, from, to).Scan(&out).Error
	return out, err
}

// PendingCredit is an undelivered credit, for the dashboard's ageing.
type PendingCredit struct {
	Kind      CreditKind
	CreatedAt time.Time
}

// PendingCredits lists every credit waiting for delivery (a few hundred
// at most in normal operation; the index on pending_account_id keeps it
// cheap).
func (s *Store) PendingCredits(ctx context.Context) ([]PendingCredit, error) {
	var out []PendingCredit
	err := s.db.WithContext(ctx).Raw(`SELECT kind, created_at FROM credits WHERE pending_account_id IS NOT NULL`).Scan(&out).Error
	return out, err
}

// CountOpenAlerts counts alerts not resolved.
func (s *Store) CountOpenAlerts(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&Alert{}).Where("resolved_at IS NULL").Count(&n).Error
	return n, err
}

// ResolveAlert marks an open alert resolved with a note.
// Errors: ErrNotFound when there is no such open alert.
func (s *Store) ResolveAlert(ctx context.Context, id int64, by, note string, at time.Time) (Alert, error) {
	res := s.db.WithContext(ctx).Model(&Alert{}).Where("id = ? AND resolved_at IS NULL", id).
		Updates(map[string]any{"resolved_at": at, "resolved_by": by, "resolution": note})
	if res.Error != nil {
		return Alert{}, res.Error
	}
	if res.RowsAffected == 0 {
		return Alert{}, ErrNotFound
	}
	var a Alert
	return a, one(s.db.WithContext(ctx).Take(&a, id).Error)
}

// OrderFilter selects orders for the console; zero fields select all.
type OrderFilter struct {
	From, To  time.Time
	Channel   Channel
	Status    OrderStatus
	AccountID int64
	BeforeID  int64
}

// FilterOrders lists orders, newest first.
func (s *Store) FilterOrders(ctx context.Context, f OrderFilter, limit int) ([]Order, error) {
	q := s.db.WithContext(ctx).Order("id DESC").Limit(limit)
	if !f.From.IsZero() {
		q = q.Where("created_at >= ?", f.From)
	}
	if !f.To.IsZero() {
		q = q.Where("created_at < ?", f.To)
	}
	if f.Channel != "" {
		q = q.Where("channel = ?", f.Channel)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.AccountID > 0 {
		q = q.Where("account_id = ?", f.AccountID)
	}
	if f.BeforeID > 0 {
		q = q.Where("id < ?", f.BeforeID)
	}
	var out []Order
	return out, q.Find(&out).Error
}

// PaymentsOf finds the payments of orders, by order id.
func (s *Store) PaymentsOf(ctx context.Context, orderIDs []int64) (map[int64]Payment, error) {
	return byOrder(ctx, s, orderIDs, func(p Payment) int64 { return p.OrderID })
}

// CustomerRecord is everything the console shows about one account.
type CustomerRecord struct {
	Account  Account
	Meter    *Meter
	Cards    []Card
	Bindings []BoundUser
	Bills    []Bill
	Readings []MeterReading
	// CardWrites are the card writes issued for the account's purchases,
	// newest first: a write without a result may still reach the card
	// (the purchase is in doubt until it is settled).
	CardWrites []CardWrite
}

// BoundUser is a WeChat user bound to an account.
type BoundUser struct {
	BindingID int64
	UserID    int64
	AppKind   AppKind
	OpenID    string
	IsDefault bool
	CreatedAt time.Time
}

// MeterReading is a reading of a meter's index from the billing system.
type MeterReading struct {
	ID             int64
	MeterID        int64
	ReadAt         time.Time
	ReadingCentiM3 int64 `gorm:"column:reading_centi_m3"`
	ImportID       *int64
	CreatedAt      time.Time
}

// Customer loads an account with its meter, cards, bindings, bills and
// latest readings.
// Errors: ErrNotFound.
func (s *Store) Customer(ctx context.Context, accountID int64) (CustomerRecord, error) {
	db := s.db.WithContext(ctx)
	var r CustomerRecord
	if err := db.Take(&r.Account, accountID).Error; err != nil {
		return r, one(err)
	}
	var m Meter
	err := db.Where("account_id = ?", accountID).Take(&m).Error
	switch {
	case err == nil:
		r.Meter = &m
		if err := db.Where("meter_id = ?", m.ID).Order("read_at DESC").Limit(24).Find(&r.Readings).Error; err != nil {
			return r, err
		}
	case !errors.Is(err, gorm.ErrRecordNotFound):
		return r, err
	}
	if err := db.Where("account_id = ?", accountID).Order("id DESC").Find(&r.Cards).Error; err != nil {
		return r, err
	}
	if err := db.Raw(`SELECT b.id AS binding_id, u.id AS user_id, u.app_kind, u.open_id, b.is_default, b.created_at
		FROM bindings b JOIN users u ON u.id = b.user_id WHERE b.account_id = ? ORDER BY b.id`, accountID).Scan(&r.Bindings).Error; err != nil {
		return r, err
	}
	if err := db.Where("account_id = ?", accountID).Order("period DESC").Limit(36).Find(&r.Bills).Error; err != nil {
		return r, err
	}
	err = db.Where("account_id = ?", accountID).Order("id DESC").Limit(20).Find(&r.CardWrites).Error
	return r, err
}

// UnbindAccount removes a binding of an account (staff, at the customer's
// request), returning it.
// Errors: ErrNotFound.
func (s *Store) UnbindAccount(ctx context.Context, accountID, bindingID int64) (Binding, error) {
	var b Binding
	if err := s.db.WithContext(ctx).Where("id = ? AND account_id = ?", bindingID, accountID).Take(&b).Error; err != nil {
		return b, one(err)
	}
	// The user's default moves as when they unbind it themselves.
	return b, s.Unbind(ctx, b.UserID, b.ID)
}

// UpdateAccount sets columns of a locked account.
func (s *Store) UpdateAccount(ctx context.Context, id int64, set map[string]any) error {
	return s.db.WithContext(ctx).Model(&Account{}).Where("id = ?", id).Updates(set).Error
}

// ReplaceCard marks the account's current card lost and makes serial its
// current card, carrying the purchase sequence over: the service hall
// issues the replacement at the last sequence written, so the next purchase
// continues from it. The account must be locked.
// Errors: ErrNotFound (no current card), ErrDuplicate (the serial exists).
func (s *Store) ReplaceCard(ctx context.Context, accountID int64, serial string, at time.Time) (old, repl Card, err error) {
	db := s.db.WithContext(ctx)
	if err := db.Clauses(forUpdate()).Where("current_account_id = ?", accountID).Take(&old).Error; err != nil {
		return old, repl, one(err)
	}
	var n int64
	if err := db.Model(&Card{}).Where("card_serial = ?", serial).Count(&n).Error; err != nil {
		return old, repl, err
	}
	if n > 0 {
		return old, repl, ErrDuplicate
	}
	if err := db.Model(&Card{}).Where("id = ?", old.ID).
		Updates(map[string]any{"status": CardLost, "current_account_id": nil, "updated_at": at}).Error; err != nil {
		return old, repl, err
	}
	id := accountID
	repl = Card{AccountID: accountID, Serial: serial, Type: old.Type, LastWrittenSeq: old.LastWrittenSeq, Status: CardCurrent,
		CurrentAccountID: &id, CreatedAt: at, UpdatedAt: at}
	return old, repl, dup(db.Create(&repl).Error)
}

// BoxEventsOfAccount lists the box record of an account's cards and
// orders, newest first.
func (s *Store) BoxEventsOfAccount(ctx context.Context, accountID int64, limit int) ([]BoxEvent, error) {
	var out []BoxEvent
	err := s.db.WithContext(ctx).Raw(`SELECT e.* FROM box_events e
		WHERE e.card_serial IN (SELECT card_serial FROM cards WHERE account_id = ?)
		   OR e.order_no IN (SELECT order_no FROM orders WHERE account_id = ?)
		ORDER BY e.id DESC LIMIT ?`, accountID, accountID, limit).Scan(&out).Error
	return out, err
}

// Approval is a refund waiting for a second member of staff.
type Approval struct {
	ID             int64
	Kind           string
	OrderNo        string
	AmountFen      int64
	Reason         string
	RequestedBy    string
	Status         string // pending, approved, rejected
	PendingOrderNo *string
	DecidedBy      *string
	DecidedAt      *time.Time
	CreatedAt      time.Time
}

// Approval statuses.
const (
	ApprovalPending  = "pending"
	ApprovalApproved = "approved"
	ApprovalRejected = "rejected"
)

// CreateApproval records a request for approval.
// Errors: ErrDuplicate when the order already has one pending.
func (s *Store) CreateApproval(ctx context.Context, a *Approval) error {
	return dup(s.db.WithContext(ctx).Create(a).Error)
}

// LockApproval reads an approval and locks it.
func (s *Store) LockApproval(ctx context.Context, id int64) (Approval, error) {
	var a Approval
	return a, one(s.db.WithContext(ctx).Clauses(forUpdate()).Take(&a, id).Error)
}

// DecideApproval moves a pending approval to status.
func (s *Store) DecideApproval(ctx context.Context, id int64, status, by string, at time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Model(&Approval{}).Where("id = ? AND status = ?", id, ApprovalPending).
		Updates(map[string]any{"status": status, "pending_order_no": nil, "decided_by": by, "decided_at": at})
	return res.RowsAffected == 1, res.Error
}

// Approvals lists approvals, newest first; pending only if pending.
func (s *Store) Approvals(ctx context.Context, pending bool, limit int) ([]Approval, error) {
	q := s.db.WithContext(ctx).Order("id DESC").Limit(limit)
	if pending {
		q = q.Where("status = ?", ApprovalPending)
	}
	var out []Approval
	return out, q.Find(&out).Error
}

// Partners lists the collection partners by id.
func (s *Store) Partners(ctx context.Context) ([]Partner, error) {
	var out []Partner
	return out, s.db.WithContext(ctx).Order("partner_id").Find(&out).Error
}

// CreatePartner adds a partner.
// Errors: ErrDuplicate when the id exists.
func (s *Store) CreatePartner(ctx context.Context, p *Partner) error {
	return dup(s.db.WithContext(ctx).Create(p).Error)
}

// LockPartner reads a partner and locks it.
func (s *Store) LockPartner(ctx context.Context, partnerID string) (Partner, error) {
	var p Partner
	return p, one(s.db.WithContext(ctx).Clauses(forUpdate()).Where("partner_id = ?", partnerID).Take(&p).Error)
}

// UpdatePartner sets a partner's columns.
func (s *Store) UpdatePartner(ctx context.Context, id int64, set map[string]any) error {
	return s.db.WithContext(ctx).Model(&Partner{}).Where("id = ?", id).Updates(set).Error
}

// CardWritesOfCredit lists the card writes issued for a credit, oldest
// first: the recovery of a card purchase, write by write.
func (s *Store) CardWritesOfCredit(ctx context.Context, creditID int64) ([]CardWrite, error) {
	var out []CardWrite
	return out, s.db.WithContext(ctx).Where("credit_id = ?", creditID).Order("id").Limit(50).Find(&out).Error
}
