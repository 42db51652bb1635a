package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// AccountByUserNumber finds an account by its user number.
func (s *Store) AccountByUserNumber(ctx context.Context, userNumber string) (Account, error) {
	var a Account
	err := s.db.WithContext(ctx).Where("user_number = ?", userNumber).Take(&a).Error
	return a, one(err)
}

// AccountByMeterNumber finds the account whose meter has this number.
func (s *Store) AccountByMeterNumber(ctx context.Context, meterNumber string) (Account, error) {
	var a Account
	err := s.db.WithContext(ctx).
		Joins("JOIN meters ON meters.account_id = accounts.id").
		Where("meters.meter_number = ?", meterNumber).Take(&a).Error
	return a, one(err)
}

// Account finds an account by id.
func (s *Store) Account(ctx context.Context, id int64) (Account, error) {
	var a Account
	err := s.db.WithContext(ctx).Take(&a, id).Error
	return a, one(err)
}

// Tariff loads a tariff with its tiers in order.
func (s *Store) Tariff(ctx context.Context, id int64) (Tariff, error) {
	var t Tariff
	err := s.db.WithContext(ctx).Preload("Tiers", func(db *gorm.DB) *gorm.DB {
		return db.Order("ordinal")
	}).Take(&t, id).Error
	return t, one(err)
}

// AccountDetail is an account seen by one of its bound users, with its
// meter, current card and arrears.
type AccountDetail struct {
	Account
	BindingID       int64
	IsDefault       bool
	MeterOnly       bool
	MeterNumber     *string
	MeterBalanceFen *int64
	MeterReportedAt *time.Time
	CardSerial      *string
	CardType        *CardType
	CardStatus      *CardStatus
	CardLastSeq     *int
}

// BoundAccount loads account accountID as user userID sees it, in one round
// trip. ErrNotFound when the user has not bound it: an account bound by
// somebody else and one that does not exist look the same.
func (s *Store) BoundAccount(ctx context.Context, userID, accountID int64) (AccountDetail, error) {
	var d AccountDetail
	res := s.db.WithContext(ctx).Raw(`
		SELECT a.*, b.id AS binding_id, b.is_default, b.meter_only,
			m.meter_number, m.last_balance_fen AS meter_balance_fen, m.last_reported_at AS meter_reported_at,
			c.card_serial, c.card_type, c.status AS card_status, c.last_written_seq AS card_last_seq
		FROM bindings b
		JOIN accounts a ON a.id = b.account_id
		LEFT JOIN meters m ON m.account_id = a.id
		LEFT JOIN cards c ON c.current_account_id = a.id
		WHERE b.user_id = ? AND b.account_id = ?`, userID, accountID).Scan(&d)
	if res.Error != nil {
		return d, res.Error
	}
	if res.RowsAffected == 0 {
		return d, ErrNotFound
	}
	return d, nil
}

// UpsertUser records a login of a WeChat identity and returns its user.
func (s *Store) UpsertUser(ctx context.Context, kind AppKind, appID, openID string, unionID *string, at time.Time) (User, error) {
	u := User{AppKind: kind, AppID: appID, OpenID: openID, UnionID: unionID, CreatedAt: at, LastLoginAt: at}
	db := s.db.WithContext(ctx)
	err := db.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "app_id"}, {Name: "open_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"last_login_at"}),
	}).Create(&u).Error
	if err != nil {
		return User{}, fmt.Errorf("models: upsert user: %w", err)
	}
	// On a conflict the driver's insert id is not the row's: read it back.
	err = db.Where("app_id = ? AND open_id = ?", appID, openID).Take(&u).Error
	return u, one(err)
}

// User finds a user by id.
func (s *Store) User(ctx context.Context, id int64) (User, error) {
	var u User
	err := s.db.WithContext(ctx).Take(&u, id).Error
	return u, one(err)
}

// Bind binds account accountID to user userID, keeping the user to at most
// limit bindings. Binding an account twice returns the existing binding with
// created false. The user's first binding becomes their default.
// Errors: ErrLimit when the user already has limit bindings.
func (s *Store) Bind(ctx context.Context, userID, accountID int64, limit int, at time.Time) (b Binding, created bool, err error) {
	return s.BindAs(ctx, userID, accountID, limit, false, at)
}

// BindAs is Bind, saying whether the binding proves the holder's name
// (meterOnly false) or only the meter number. An existing meter-only
// binding that is now proved becomes a full one; a full one stays full.
func (s *Store) BindAs(ctx context.Context, userID, accountID int64, limit int, meterOnly bool, at time.Time) (b Binding, created bool, err error) {
	err = s.Tx(ctx, func(tx *Store) error {
		db := tx.db
		// The user's row serialises their bindings, so that two binds at
		// once cannot both pass the limit.
		var u User
		if err := db.Clauses(forUpdate()).Select("id").Take(&u, userID).Error; err != nil {
			return one(err)
		}
		// Locking reads: they see the bindings the previous holder of the
		// user's lock committed, whenever this transaction's snapshot was
		// taken.
		if err := tx.current(ctx).Where("user_id = ? AND account_id = ?", userID, accountID).Take(&b).Error; err == nil {
			created = false
			if b.MeterOnly && !meterOnly {
				b.MeterOnly = false
				return db.Model(&Binding{}).Where("id = ?", b.ID).Update("meter_only", false).Error
			}
			return nil
		} else if !errors.Is(err, gorm.ErrRecordNotFound) {
			return err
		}
		var n int64
		if err := tx.current(ctx).Model(&Binding{}).Where("user_id = ?", userID).Count(&n).Error; err != nil {
			return err
		}
		if n >= int64(limit) {
			return ErrLimit
		}
		b = Binding{UserID: userID, AccountID: accountID, IsDefault: n == 0, MeterOnly: meterOnly, CreatedAt: at}
		created = true
		return db.Create(&b).Error
	})
	return b, created, err
}

// BindingSummary is one line of a user's binding list.
type BindingSummary struct {
	ID         int64
	AccountID  int64
	IsDefault  bool
	MeterOnly  bool
	CreatedAt  time.Time
	UserNumber string
	Kind       AccountKind
	HolderName string
	Address    string
	// MeterNumber is the account's meter, if it has one.
	MeterNumber *string
}

// Bindings lists a user's bindings, the default first.
func (s *Store) Bindings(ctx context.Context, userID int64) ([]BindingSummary, error) {
	var out []BindingSummary
	err := s.db.WithContext(ctx).Raw(`
		SELECT b.id, b.account_id, b.is_default, b.meter_only, b.created_at, a.user_number, a.kind, a.holder_name, a.address,
			m.meter_number
		FROM bindings b JOIN accounts a ON a.id = b.account_id LEFT JOIN meters m ON m.account_id = a.id
		WHERE b.user_id = ?
		ORDER BY b.is_default DESC, b.id`, userID).Scan(&out).Error
	return out, err
}

// Unbind removes a user's binding. If it was the default, the user's oldest
// remaining binding becomes the default.
// Errors: ErrNotFound when the user has no such binding.
func (s *Store) Unbind(ctx context.Context, userID, bindingID int64) error {
	return s.Tx(ctx, func(tx *Store) error {
		db := tx.db
		// The user's row serialises their bindings (as in Bind): two
		// unbinds at once cannot both pick the other as the next default.
		var u User
		if err := db.Clauses(forUpdate()).Select("id").Take(&u, userID).Error; err != nil {
			return one(err)
		}
		var b Binding
		if err := db.Clauses(forUpdate()).Where("id = ? AND user_id = ?", bindingID, userID).Take(&b).Error; err != nil {
			return one(err)
		}
		if err := db.Delete(&Binding{}, b.ID).Error; err != nil {
			return err
		}
		if !b.IsDefault {
			return nil
		}
		var next Binding
		err := tx.current(ctx).Where("user_id = ?", userID).Order("id").Take(&next).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return db.Model(&Binding{}).Where("id = ?", next.ID).Update("is_default", true).Error
	})
}

// SetDefaultBinding makes one of a user's bindings their default.
// Errors: ErrNotFound when the user has no such binding.
func (s *Store) SetDefaultBinding(ctx context.Context, userID, bindingID int64) error {
	return s.Tx(ctx, func(tx *Store) error {
		db := tx.db
		var u User
		if err := db.Clauses(forUpdate()).Select("id").Take(&u, userID).Error; err != nil {
			return one(err)
		}
		var n int64
		if err := tx.current(ctx).Model(&Binding{}).Where("id = ? AND user_id = ?", bindingID, userID).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		return db.Exec("UPDATE bindings SET is_default = CASE WHEN id = ? THEN TRUE ELSE FALSE END WHERE user_id = ?",
			bindingID, userID).Error
	})
}

// AddBillIfAbsent creates a bill unless the account already has one for
// the period, and adds what it leaves owing to the account's arrears, in
// one transaction.
func (s *Store) AddBillIfAbsent(ctx context.Context, b *Bill) error {
	return s.Tx(ctx, func(tx *Store) error {
		if _, err := tx.LockAccount(ctx, b.AccountID); err != nil {
			return err
		}
		res := tx.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(b)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		return tx.db.WithContext(ctx).Exec("UPDATE accounts SET arrears_fen = arrears_fen + ? WHERE id = ?",
			int64(b.AmountDueFen-b.AmountPaidFen), b.AccountID).Error
	})
}

// RecordMeterReport stores the balance an IoT meter reported, unless a newer
// report is already stored (reports may arrive out of order).
func (s *Store) RecordMeterReport(ctx context.Context, meterNumber string, balanceFen int64, at time.Time) error {
	res := s.db.WithContext(ctx).Model(&Meter{}).
		Where("meter_number = ? AND (last_reported_at IS NULL OR last_reported_at < ?)", meterNumber, at).
		Updates(map[string]any{"last_balance_fen": balanceFen, "last_reported_at": at, "updated_at": time.Now().UTC()})
	return res.Error
}
