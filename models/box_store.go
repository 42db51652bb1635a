package models

import (
	"context"
	"errors"
	"time"

	"gaspay/units"
)

// Box is a recharge box the server has heard from.
type Box struct {
	ID           int64
	BoxID        string // 16 upper-case hex digits
	HelloCounter int64
	Blocked      bool
	FirstSeenAt  time.Time
	LastSeenAt   time.Time
}

// BoxEvent is one line of the boxes' record.
type BoxEvent struct {
	ID         int64
	BoxID      string
	SessionID  string
	UserID     *int64
	Kind       string
	OrderNo    *string
	CardSerial *string
	Detail     string
	CreatedAt  time.Time
}

// BoxByID finds a box.
func (s *Store) BoxByID(ctx context.Context, boxID string) (Box, error) {
	var b Box
	err := s.db.WithContext(ctx).Where("box_id = ?", boxID).Take(&b).Error
	return b, one(err)
}

// AdvanceHello stores a box's HELLO counter if it is above the stored one,
// creating the box at its first HELLO, and reports whether it did. Of two
// requests carrying the same HELLO, one wins.
func (s *Store) AdvanceHello(ctx context.Context, boxID string, counter int64, at time.Time) (bool, error) {
	db := s.db.WithContext(ctx)
	res := db.Exec("UPDATE boxes SET hello_counter = ?, last_seen_at = ? WHERE box_id = ? AND hello_counter < ? AND blocked = ?",
		counter, at, boxID, counter, false)
	if res.Error != nil || res.RowsAffected == 1 {
		return res.RowsAffected == 1, res.Error
	}
	err := db.Create(&Box{BoxID: boxID, HelloCounter: counter, FirstSeenAt: at, LastSeenAt: at}).Error
	if errors.Is(dup(err), ErrDuplicate) {
		return false, nil // known box: a replay, or blocked
	}
	return err == nil, err
}

// AddBoxEvents records events, many in one statement.
func (s *Store) AddBoxEvents(ctx context.Context, events []BoxEvent) error {
	if len(events) == 0 {
		return nil
	}
	return s.db.WithContext(ctx).CreateInBatches(events, 200).Error
}

// BoxEventFilter selects events; empty fields select all.
type BoxEventFilter struct {
	BoxID, SessionID, OrderNo, CardSerial string
}

// BoxEvents lists events, newest first.
func (s *Store) BoxEvents(ctx context.Context, f BoxEventFilter, limit int) ([]BoxEvent, error) {
	q := s.db.WithContext(ctx).Order("id DESC").Limit(limit)
	if f.BoxID != "" {
		q = q.Where("box_id = ?", f.BoxID)
	}
	if f.SessionID != "" {
		q = q.Where("session_id = ?", f.SessionID)
	}
	if f.OrderNo != "" {
		q = q.Where("order_no = ?", f.OrderNo)
	}
	if f.CardSerial != "" {
		q = q.Where("card_serial = ?", f.CardSerial)
	}
	var out []BoxEvent
	return out, q.Find(&out).Error
}

// CardRead is what a card read needs from the database, in one query: the
// card, its account, whether the reader bound it, and the account's
// undelivered credit with its order.
type CardRead struct {
	Card
	UserNumber    string
	HolderName    string
	AccountKind   AccountKind
	AccountStatus AccountStatus
	Bound         bool
	CreditID      *int64
	CreditSeq     *int
	// The pending card credit, if any, as stored: read it with
	// PendingCredit.
	CreditAmount *int64 `gorm:"column:credit_amount"`
	CreditUnit   *Unit  `gorm:"column:credit_unit"`
	CreditTries  *int
	OrderNo      *string
}

// PendingCredit is the account's card credit waiting to be written, if
// any.
func (r CardRead) PendingCredit() (units.Quantity, bool) {
	if r.CreditAmount == nil || r.CreditUnit == nil {
		return units.Quantity{}, false
	}
	return quantityOf(*r.CreditUnit, *r.CreditAmount), true
}

// CardForRead loads a card by serial for a read by userID.
// Errors: ErrNotFound for an unknown card.
func (s *Store) CardForRead(ctx context.Context, serial string, userID int64) (CardRead, error) {
	var r CardRead
	res := s.db.WithContext(ctx).Raw(`
		SELECT c.*, a.user_number, a.holder_name, a.kind AS account_kind, a.status AS account_status,
			EXISTS (SELECT 1 FROM bindings b WHERE b.account_id = c.account_id AND b.user_id = ?) AS bound,
			cr.id AS credit_id, cr.seq AS credit_seq, cr.amount AS credit_amount, cr.unit AS credit_unit,
			cr.attempts AS credit_tries, o.order_no
		FROM cards c
		JOIN accounts a ON a.id = c.account_id
		LEFT JOIN credits cr ON cr.pending_account_id = c.account_id AND cr.kind = 'card'
		LEFT JOIN orders o ON o.id = cr.order_id
		WHERE c.card_serial = ?`, userID, serial).Scan(&r)
	if res.Error != nil {
		return r, res.Error
	}
	if res.RowsAffected == 0 {
		return r, ErrNotFound
	}
	return r, nil
}

// SetCardSeq records the purchase sequence a card was seen or confirmed to
// carry, only forwards: from (nil for a card that has none yet) to seq.
// The account must be locked.
func (s *Store) SetCardSeq(ctx context.Context, cardID int64, from *int, seq int, at time.Time) (bool, error) {
	q := s.db.WithContext(ctx).Model(&Card{}).Where("id = ?", cardID)
	if from == nil {
		q = q.Where("last_written_seq IS NULL")
	} else {
		q = q.Where("last_written_seq = ?", *from)
	}
	res := q.Updates(map[string]any{"last_written_seq": seq, "updated_at": at})
	return res.RowsAffected == 1, res.Error
}

// LockCard reads a card and locks it; lock its account first.
func (s *Store) LockCard(ctx context.Context, serial string) (Card, error) {
	var c Card
	err := s.db.WithContext(ctx).Clauses(forUpdate()).Where("card_serial = ?", serial).Take(&c).Error
	return c, one(err)
}

// CreditByID finds a credit; in a transaction, as it is now (a locking
// read: lock the account first).
func (s *Store) CreditByID(ctx context.Context, id int64) (Credit, error) {
	var c Credit
	err := s.current(ctx).Take(&c, id).Error
	return c, one(err)
}
