package models

import (
	"context"
	"time"
)

// CardWrite is one WRITE_CARD the server issued for a card credit, with the
// box session that carries it. See migration 6 for why each column is kept.
type CardWrite struct {
	ID           int64
	WriteID      string // hex of the frame's write_id
	CreditID     int64
	AccountID    int64
	BoxID        string // 16 upper-case hex digits
	SessionID    string
	HelloCounter int64 // the HELLO that opened SessionID
	Seq          int   // the purchase sequence the write puts on the card
	Amount       int64 // the credit it puts there, in the card's unit
	IssuedAt     time.Time
	ActiveAt     time.Time // the server last sealed or accepted a frame of SessionID
	Result       *string   // why it stopped being live; nil while it may be
	ResolvedAt   *time.Time
}

// Results of a card write, once it can no longer reach a card.
const (
	WriteResultReported   = "reported"   // the box's WRITE_RESULT arrived
	WriteResultOnCard     = "on_card"    // a read found the purchase on the card
	WriteResultNotLanded  = "not_landed" // a read after its session died found the card before it
	WriteResultSuperseded = "superseded" // its purchase was delivered by another write
)

// OpenCardWrite is a write not yet resolved, with the newest HELLO counter
// its box has since opened a session with, and when (boxes.last_seen_at
// moves only with an accepted HELLO).
type OpenCardWrite struct {
	CardWrite
	BoxHello   int64
	BoxHelloAt *time.Time // when the box's newest HELLO was accepted
}

// InsertCardWrite records an issued write, in the transaction that counts
// the delivery attempt on its credit.
func (s *Store) InsertCardWrite(ctx context.Context, w *CardWrite) error {
	return dup(s.db.WithContext(ctx).Create(w).Error)
}

// TouchCardWrites records that the server just sealed or accepted a frame
// of a session: its unresolved writes stay live BOX_SESSION_IDLE from now.
func (s *Store) TouchCardWrites(ctx context.Context, sessionID string, at time.Time) error {
	return s.db.WithContext(ctx).Exec("UPDATE card_writes SET active_at = ? WHERE session_id = ? AND resolved_at IS NULL AND active_at < ?",
		at, sessionID, at).Error
}

// OpenCardWrites lists a credit's unresolved writes with their boxes'
// newest HELLO counters. Lock the account first.
func (s *Store) OpenCardWrites(ctx context.Context, creditID int64) ([]OpenCardWrite, error) {
	var ws []OpenCardWrite
	err := s.db.WithContext(ctx).Raw(`
		SELECT w.*, COALESCE(b.hello_counter, w.hello_counter) AS box_hello, b.last_seen_at AS box_hello_at
		FROM card_writes w LEFT JOIN boxes b ON b.box_id = w.box_id
		WHERE w.credit_id = ? AND w.resolved_at IS NULL ORDER BY w.id`, creditID).Scan(&ws).Error
	return ws, err
}

// ResolveCardWrite marks one write as no longer able to reach a card.
func (s *Store) ResolveCardWrite(ctx context.Context, writeID, result string, at time.Time) error {
	return s.db.WithContext(ctx).Exec("UPDATE card_writes SET result = ?, resolved_at = ? WHERE write_id = ? AND resolved_at IS NULL",
		result, at, writeID).Error
}

// ResolveCardWrites marks every unresolved write of a credit as resolved.
func (s *Store) ResolveCardWrites(ctx context.Context, creditID int64, result string, at time.Time) error {
	return s.db.WithContext(ctx).Exec("UPDATE card_writes SET result = ?, resolved_at = ? WHERE credit_id = ? AND resolved_at IS NULL",
		result, at, creditID).Error
}

// WrittenPurchase is a card write with the state of its credit and order.
type WrittenPurchase struct {
	CardWrite
	CreditStatus CreditStatus
	OrderNo      string
	OrderStatus  OrderStatus
}

// WriteOf finds the write an account's card shows: the newest write of
// that account that put seq and amount on the card.
// Errors: ErrNotFound when the server issued no such write.
func (s *Store) WriteOf(ctx context.Context, accountID int64, seq int, amount int64) (WrittenPurchase, error) {
	var w WrittenPurchase
	res := s.db.WithContext(ctx).Raw(`
		SELECT w.*, c.status AS credit_status, o.order_no, o.status AS order_status
		FROM card_writes w JOIN credits c ON c.id = w.credit_id JOIN orders o ON o.id = c.order_id
		WHERE w.account_id = ? AND w.seq = ? AND w.amount = ? ORDER BY w.id DESC LIMIT 1`, accountID, seq, amount).Scan(&w)
	if res.Error != nil {
		return w, res.Error
	}
	if res.RowsAffected == 0 {
		return w, ErrNotFound
	}
	return w, nil
}

// WriteByID finds an issued write by its write_id, with its credit's and
// order's state.
// Errors: ErrNotFound.
func (s *Store) WriteByID(ctx context.Context, writeID string) (WrittenPurchase, error) {
	var w WrittenPurchase
	res := s.db.WithContext(ctx).Raw(`
		SELECT w.*, c.status AS credit_status, o.order_no, o.status AS order_status
		FROM card_writes w JOIN credits c ON c.id = w.credit_id JOIN orders o ON o.id = c.order_id
		WHERE w.write_id = ?`, writeID).Scan(&w)
	if res.Error != nil {
		return w, res.Error
	}
	if res.RowsAffected == 0 {
		return w, ErrNotFound
	}
	return w, nil
}
