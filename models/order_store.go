package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"gaspay/units"
)

// More errors the store returns.
var (
	// ErrDuplicate: a unique index refused the row; another writer got
	// there first.
	ErrDuplicate = errors.New("models: duplicate")
	// ErrInsufficient: the change would take a balance below zero.
	ErrInsufficient = errors.New("models: insufficient balance")
)

// dup turns a unique-index violation into ErrDuplicate.
func dup(err error) error {
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return fmt.Errorf("%w: %w", ErrDuplicate, err)
	}
	return err
}

// LockAccount reads an account and locks it until the transaction ends.
// Every change to an account's money, orders or credits locks the account
// first, then the order: one order everywhere, so no two such changes can
// deadlock.
func (s *Store) LockAccount(ctx context.Context, id int64) (Account, error) {
	var a Account
	err := s.db.WithContext(ctx).Clauses(forUpdate()).Take(&a, id).Error
	return a, one(err)
}

// AccountState is a locked account with what blocks a new purchase.
type AccountState struct {
	Account
	// PendingCreditID is the account's undelivered credit, if any.
	PendingCreditID *int64
	// InflightOrderNo is the account's pending order, if any.
	InflightOrderNo *string
}

// LockAccountState locks an account, as LockAccount, and reads in the same
// round trip whether it has an undelivered credit or an order in flight.
func (s *Store) LockAccountState(ctx context.Context, id int64) (AccountState, error) {
	return s.accountState(ctx, "a.id = ?", id, forUpdateSQL(s.db))
}

// AccountStateOf reads what LockAccountState reads, without a lock.
func (s *Store) AccountStateOf(ctx context.Context, id int64) (AccountState, error) {
	return s.accountState(ctx, "a.id = ?", id, "")
}

// LockAccountByNumber locks an account found by user number: one row, no
// more, the cheapest lock of the hot paths.
func (s *Store) LockAccountByNumber(ctx context.Context, userNumber string) (Account, error) {
	var a Account
	err := s.db.WithContext(ctx).Clauses(forUpdate()).Where("user_number = ?", userNumber).Take(&a).Error
	return a, one(err)
}

// Blockers reads what keeps a prepaid account from a new purchase: its
// undelivered credit and its order in flight. Lock the account first; in
// a transaction the reads are locking reads (see current).
func (s *Store) Blockers(ctx context.Context, accountID int64) (pendingCreditID *int64, inflightOrderNo *string, err error) {
	var r struct {
		PendingCreditID *int64
		InflightOrderNo *string
	}
	lock := s.currentSQL()
	err = s.db.WithContext(ctx).Raw(`SELECT
		(SELECT c.id FROM credits c WHERE c.pending_account_id = ?`+lock+`) AS pending_credit_id,
		(SELECT o.order_no FROM orders o WHERE o.inflight_account_id = ?`+lock+`) AS inflight_order_no`, accountID, accountID).Scan(&r).Error
	return r.PendingCreditID, r.InflightOrderNo, err
}

// accountState reads an account and its blockers; lock, if not empty,
// makes the three reads locking reads.
func (s *Store) accountState(ctx context.Context, where string, key any, lock string) (AccountState, error) {
	var st AccountState
	res := s.db.WithContext(ctx).Raw(`SELECT a.*,
		(SELECT c.id FROM credits c WHERE c.pending_account_id = a.id`+lock+`) AS pending_credit_id,
		(SELECT o.order_no FROM orders o WHERE o.inflight_account_id = a.id`+lock+`) AS inflight_order_no
		FROM accounts a WHERE `+where+lock, key).Scan(&st)
	if res.Error != nil {
		return st, res.Error
	}
	if res.RowsAffected == 0 {
		return st, ErrNotFound
	}
	return st, nil
}

// forUpdateSQL is the row-lock suffix of a raw SELECT; SQLite has none
// (its IMMEDIATE transaction already holds the write lock).
func forUpdateSQL(db *gorm.DB) string {
	if DialectOf(db) == MySQL {
		return " FOR UPDATE"
	}
	return ""
}

// AdjustBalance adds delta (which may be negative) to an account's balance.
// Errors: ErrInsufficient when the balance would go below zero.
func (s *Store) AdjustBalance(ctx context.Context, accountID int64, delta units.Fen, at time.Time) error {
	if delta == 0 {
		return nil
	}
	res := s.db.WithContext(ctx).Exec(
		"UPDATE accounts SET balance_fen = balance_fen + ?, updated_at = ? WHERE id = ? AND balance_fen + ? >= 0",
		int64(delta), at, accountID, int64(delta))
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrInsufficient
	}
	return nil
}

// AddYearVolume adds volume (negative to take back) to the account's volume
// of year. A year newer than the stored one starts the count afresh; a
// change to a year older than the stored one is ignored (the count it
// belonged to is over). The count never goes below zero.
func (s *Store) AddYearVolume(ctx context.Context, accountID int64, year int, volume units.CentiM3) error {
	return s.db.WithContext(ctx).Exec(`UPDATE accounts SET
		ytd_volume_centi_m3 = CASE
			WHEN ytd_year <> ? THEN ?
			WHEN ytd_volume_centi_m3 + ? < 0 THEN 0
			ELSE ytd_volume_centi_m3 + ? END,
		ytd_year = ?
		WHERE id = ? AND ytd_year <= ?`,
		year, max(volume, 0), volume, volume, year, accountID, year).Error
}

// ApplyPurchase records what a payment does to its account in one
// statement: the purchase sequence it took (nil: unchanged), the balance it
// adds (the leftover of a volume card, or what a bill payment did not
// settle), the bills it settled (off the arrears), and the volume it adds
// to year. The account must be locked.
// Errors: ErrInsufficient when the balance would go below zero.
func (s *Store) ApplyPurchase(ctx context.Context, accountID int64, seq *int, balanceDelta, settled units.Fen, year int, volume units.CentiM3, at time.Time) error {
	res := s.db.WithContext(ctx).Exec(`UPDATE accounts SET
		purchase_seq = COALESCE(?, purchase_seq),
		balance_fen = balance_fen + ?,
		arrears_fen = arrears_fen - ?,
		ytd_volume_centi_m3 = CASE WHEN ytd_year = ? THEN ytd_volume_centi_m3 + ? ELSE ? END,
		ytd_year = ?,
		updated_at = ?
		WHERE id = ? AND balance_fen + ? >= 0 AND ytd_year <= ?`,
		seq, int64(balanceDelta), int64(settled), year, volume, volume, year, at, accountID, int64(balanceDelta), year)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrInsufficient
	}
	return nil
}

// NextPurchaseSeq takes the account's next purchase sequence. The account
// must be locked.
func (s *Store) NextPurchaseSeq(ctx context.Context, accountID int64) (int, error) {
	db := s.db.WithContext(ctx)
	if err := db.Exec("UPDATE accounts SET purchase_seq = purchase_seq + 1 WHERE id = ?", accountID).Error; err != nil {
		return 0, err
	}
	var seq int
	err := db.Raw("SELECT purchase_seq FROM accounts WHERE id = ?", accountID).Scan(&seq).Error
	return seq, err
}

// TakeBackPurchaseSeq gives back the account's latest purchase sequence
// when a credit that was never delivered is cancelled: the meter never saw
// it, and it expects the next one to follow the last it took.
func (s *Store) TakeBackPurchaseSeq(ctx context.Context, accountID int64, seq int) error {
	return s.db.WithContext(ctx).Exec("UPDATE accounts SET purchase_seq = purchase_seq - 1 WHERE id = ? AND purchase_seq = ?",
		accountID, seq).Error
}

// CreateOrder stores a new order.
// Errors: ErrDuplicate when the order number is taken or the account
// already has a pending order.
func (s *Store) CreateOrder(ctx context.Context, o *Order) error {
	return dup(s.db.WithContext(ctx).Create(o).Error)
}

// Order finds an order by number.
func (s *Store) Order(ctx context.Context, no string) (Order, error) {
	var o Order
	err := s.db.WithContext(ctx).Where("order_no = ?", no).Take(&o).Error
	return o, one(err)
}

// LockOrder finds an order by number and locks it; lock its account first.
func (s *Store) LockOrder(ctx context.Context, no string) (Order, error) {
	var o Order
	err := s.db.WithContext(ctx).Clauses(forUpdate()).Where("order_no = ?", no).Take(&o).Error
	return o, one(err)
}

// PendingOrderOf finds the account's pending order, if any.
func (s *Store) PendingOrderOf(ctx context.Context, accountID int64) (Order, error) {
	var o Order
	err := s.db.WithContext(ctx).Where("inflight_account_id = ?", accountID).Take(&o).Error
	return o, one(err)
}

// OrdersOf lists an account's orders, newest first.
func (s *Store) OrdersOf(ctx context.Context, accountID int64, limit int) ([]Order, error) {
	var out []Order
	err := s.db.WithContext(ctx).Where("account_id = ?", accountID).Order("id DESC").Limit(limit).Find(&out).Error
	return out, err
}

// OrdersToCheck lists pending orders the janitor should ask the provider
// about: those expired, and those older than createdBefore not checked since
// checkedBefore (a notification may have been lost).
func (s *Store) OrdersToCheck(ctx context.Context, now, createdBefore, checkedBefore time.Time, limit int) ([]Order, error) {
	var out []Order
	err := s.db.WithContext(ctx).
		Where("status = ? AND (expires_at <= ? OR (created_at <= ? AND (checked_at IS NULL OR checked_at <= ?)))",
			OrderPending, now, createdBefore, checkedBefore).
		Order("expires_at").Limit(limit).Find(&out).Error
	return out, err
}

// MarkChecked records that the janitor asked the provider about an order.
func (s *Store) MarkChecked(ctx context.Context, id int64, at time.Time) error {
	return s.db.WithContext(ctx).Model(&Order{}).Where("id = ?", id).Update("checked_at", at).Error
}

// InsertPayment records money received.
// Errors: ErrDuplicate when the order already has a payment or the
// provider transaction is already recorded.
func (s *Store) InsertPayment(ctx context.Context, p *Payment) error {
	return dup(s.db.WithContext(ctx).Create(p).Error)
}

// PaymentOf finds an order's payment. In a transaction it is a locking
// read (see current): after a duplicate key it finds the winner's row.
func (s *Store) PaymentOf(ctx context.Context, orderID int64) (Payment, error) {
	var p Payment
	err := s.current(ctx).Where("order_id = ?", orderID).Take(&p).Error
	return p, one(err)
}

// InsertCredit records what a paid order delivers.
// Errors: ErrDuplicate when the order already has a credit, the sequence is
// taken, or the account already has an undelivered credit.
func (s *Store) InsertCredit(ctx context.Context, c *Credit) error {
	return dup(s.db.WithContext(ctx).Create(c).Error)
}

// CreditOf finds an order's credit; in a transaction, as it is now (a
// locking read: lock the account first).
func (s *Store) CreditOf(ctx context.Context, orderID int64) (Credit, error) {
	var c Credit
	err := s.current(ctx).Where("order_id = ?", orderID).Take(&c).Error
	return c, one(err)
}

// PendingCreditOf finds the account's undelivered credit, if any; in a
// transaction, as it is now (a locking read: lock the account first).
func (s *Store) PendingCreditOf(ctx context.Context, accountID int64) (Credit, error) {
	var c Credit
	err := s.current(ctx).Where("pending_account_id = ?", accountID).Take(&c).Error
	return c, one(err)
}

// SettleBills pays an account's open bills, oldest first, with up to
// amount fen, and returns how much it used. The account must be locked.
func (s *Store) SettleBills(ctx context.Context, accountID int64, amount units.Fen, at time.Time) (units.Fen, error) {
	db := s.db.WithContext(ctx)
	var bills []Bill
	if err := db.Clauses(forUpdate()).Where("account_id = ? AND amount_paid_fen < amount_due_fen", accountID).
		Order("period").Find(&bills).Error; err != nil {
		return 0, err
	}
	var used units.Fen
	for _, b := range bills {
		if used == amount {
			break
		}
		pay := min(b.AmountDueFen-b.AmountPaidFen, amount-used)
		res := db.Exec("UPDATE bills SET amount_paid_fen = amount_paid_fen + ?, updated_at = ? WHERE id = ? AND amount_paid_fen + ? <= amount_due_fen",
			int64(pay), at, b.ID, int64(pay))
		if res.Error != nil {
			return used, res.Error
		}
		if res.RowsAffected != 1 {
			return used, fmt.Errorf("models: bill %d changed under its lock", b.ID)
		}
		used += pay
	}
	return used, nil
}

// CurrentCard finds the account's current IC card; in a transaction, as it
// is now (a locking read: lock the account first).
func (s *Store) CurrentCard(ctx context.Context, accountID int64) (Card, error) {
	var c Card
	err := s.current(ctx).Where("current_account_id = ?", accountID).Take(&c).Error
	return c, one(err)
}

// InsertRefund records a refund to make.
// Errors: ErrDuplicate when the order already has one.
func (s *Store) InsertRefund(ctx context.Context, r *Refund) error {
	return dup(s.db.WithContext(ctx).Create(r).Error)
}

// RefundByNo finds a refund by its number.
func (s *Store) RefundByNo(ctx context.Context, no string) (Refund, error) {
	var r Refund
	err := s.db.WithContext(ctx).Where("refund_no = ?", no).Take(&r).Error
	return r, one(err)
}

// RefundOf finds an order's refund; in a transaction, as it is now (a
// locking read: lock the account first).
func (s *Store) RefundOf(ctx context.Context, orderID int64) (Refund, error) {
	var r Refund
	err := s.current(ctx).Where("order_id = ?", orderID).Take(&r).Error
	return r, one(err)
}

// RefundsToFollow lists refunds not yet final, oldest first, updated before
// before (so that one just submitted is left alone a moment).
func (s *Store) RefundsToFollow(ctx context.Context, before time.Time, limit int) ([]Refund, error) {
	var out []Refund
	err := s.db.WithContext(ctx).Where("status IN ? AND updated_at <= ?", []RefundStatus{RefundPending, RefundProcessing}, before).
		Order("id").Limit(limit).Find(&out).Error
	return out, err
}

// OrderByID finds an order by id.
func (s *Store) OrderByID(ctx context.Context, id int64) (Order, error) {
	var o Order
	err := s.db.WithContext(ctx).Take(&o, id).Error
	return o, one(err)
}

// AddAlert records something staff must look at.
func (s *Store) AddAlert(ctx context.Context, kind, orderNo, detail string, at time.Time) error {
	a := Alert{Kind: kind, Detail: detail, CreatedAt: at}
	if orderNo != "" {
		a.OrderNo = &orderNo
	}
	return s.db.WithContext(ctx).Create(&a).Error
}

// Alerts lists alerts, newest first; open only those not resolved.
func (s *Store) Alerts(ctx context.Context, open bool, limit int) ([]Alert, error) {
	var out []Alert
	q := s.db.WithContext(ctx).Order("id DESC").Limit(limit)
	if open {
		q = q.Where("resolved_at IS NULL")
	}
	return out, q.Find(&out).Error
}

// CreditsOf finds the credits of orders, by order id.
func (s *Store) CreditsOf(ctx context.Context, orderIDs []int64) (map[int64]Credit, error) {
	return byOrder(ctx, s, orderIDs, func(c Credit) int64 { return c.OrderID })
}

// RefundsOf finds the refunds of orders, by order id.
func (s *Store) RefundsOf(ctx context.Context, orderIDs []int64) (map[int64]Refund, error) {
	return byOrder(ctx, s, orderIDs, func(r Refund) int64 { return r.OrderID })
}

// byOrder loads the rows of a table keyed by order (at most one per order)
// for many orders in one query.
func byOrder[T any](ctx context.Context, s *Store, orderIDs []int64, key func(T) int64) (map[int64]T, error) {
	out := make(map[int64]T, len(orderIDs))
	if len(orderIDs) == 0 {
		return out, nil
	}
	var rows []T
	if err := s.db.WithContext(ctx).Where("order_id IN ?", orderIDs).Find(&rows).Error; err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[key(r)] = r
	}
	return out, nil
}

// IsBound reports whether the user has bound the account.
func (s *Store) IsBound(ctx context.Context, userID, accountID int64) (bool, error) {
	bound, _, err := s.BindingKind(ctx, userID, accountID)
	return bound, err
}

// BindingKind reports whether the user has bound the account and whether
// only by its meter number.
func (s *Store) BindingKind(ctx context.Context, userID, accountID int64) (bound, meterOnly bool, err error) {
	var b Binding
	err = s.db.WithContext(ctx).Select("id", "meter_only").Where("user_id = ? AND account_id = ?", userID, accountID).Take(&b).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	return true, b.MeterOnly, nil
}

// OrdersOfUser lists one user's orders of an account, newest first.
func (s *Store) OrdersOfUser(ctx context.Context, accountID, userID int64, limit int) ([]Order, error) {
	var out []Order
	err := s.db.WithContext(ctx).Where("account_id = ? AND user_id = ?", accountID, userID).Order("id DESC").Limit(limit).Find(&out).Error
	return out, err
}
