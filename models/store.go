package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Errors the store returns. Callers test them with errors.Is.
var (
	// ErrNotFound: no row matches.
	ErrNotFound = errors.New("models: not found")
	// ErrLimit: the change would exceed a configured limit.
	ErrLimit = errors.New("models: limit reached")
)

// Store is gaspay's storage. A Store made by Tx runs every call inside that
// transaction.
type Store struct {
	db *gorm.DB
	// inTx: every call already runs inside a transaction of Tx.
	inTx bool
}

// NewStore wraps db.
func NewStore(db *gorm.DB) *Store { return &Store{db: db} }

// DB is the underlying handle, for the storage tests and the tools.
func (s *Store) DB() *gorm.DB { return s.db }

// Dialect reports which database the store talks to.
func (s *Store) Dialect() Dialect { return DialectOf(s.db) }

// Tx runs fn in a transaction, retrying it from the start when the database
// chose it as a deadlock victim. fn must therefore have no effects outside
// the transaction. The commit's error is always returned.
func (s *Store) Tx(ctx context.Context, fn func(tx *Store) error) error {
	const attempts = 5
	var err error
	for i := range attempts {
		err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			return fn(&Store{db: tx, inTx: true})
		})
		if !retryable(err) {
			return err
		}
		// A short, growing pause lets the winner of the deadlock finish.
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(time.Duration(i+1) * 5 * time.Millisecond):
		}
	}
	return fmt.Errorf("models: transaction gave up after %d deadlocks: %w", attempts, err)
}

// within runs fn in the store's transaction, or in a new one (with Tx's
// deadlock retries) when the store is not in one.
func (s *Store) within(ctx context.Context, fn func(tx *Store) error) error {
	if s.inTx {
		return fn(s)
	}
	return s.Tx(ctx, fn)
}

// retryable recognises a transaction the database rolled back to break a
// deadlock: running it again is safe and usually succeeds.
func retryable(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205)
}

// forUpdate locks the selected rows until the transaction ends. SQLite has
// no row locks: there the IMMEDIATE transaction already holds the write lock.
func forUpdate() clause.Expression { return clause.Locking{Strength: clause.LockingStrengthUpdate} }

// one turns GORM's record-not-found into ErrNotFound.
func one(err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ErrNotFound
	}
	return err
}
