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
//
// On MySQL, MariaDB and TiDB every connection runs its transactions at READ
// COMMITTED (OpenMySQL sets it on each pooled connection), and every read
// inside a transaction that decides something after a lock is a locking
// read as well (current). Correctness must not hang on when a
// transaction's snapshot is taken: TiDB takes it at the first statement,
// MariaDB and MySQL at REPEATABLE READ at the first plain read, and in
// gaspay a lock comes first. Under REPEATABLE READ with an early snapshot,
// a plain read after the lock misses what the lock's previous holder
// committed: twenty binds at once all passed a limit of five, and a
// payment's duplicate key was followed by a read that found no payment.
// READ COMMITTED alone fixes both, since each plain read sees the latest
// commit; the locking reads keep them fixed on a server or a pool where
// the level did not apply. The test mode models.SnapshotAtFirstStatement
// (GASPAY_TEST_TX_SNAPSHOT=first-statement) runs the concurrency tests with
// TiDB's timing on MariaDB to prove it.
type Store struct {
	db *gorm.DB
	// inTx: every call already runs inside a transaction of Tx.
	inTx bool
}

// NewStore wraps db.
func NewStore(db *gorm.DB) *Store { return &Store{db: db} }

// DB is the underlying handle, for the storage tests and the tools.
func (s *Store) DB() *gorm.DB { return s.db }

// Close closes the store's connection pool.
func (s *Store) Close() error { return Close(s.db) }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return Ping(ctx, s.db) }

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

// current is the handle for a read whose answer decides something after a
// lock (a limit, a duplicate's winner, a credit's state): inside a
// transaction it is a locking read, which sees the latest committed row
// whatever the transaction's snapshot (see Store); outside one, a plain
// read, a snapshot of its own. Lock the rows' owner (the account, the
// user) first, as every transaction does.
func (s *Store) current(ctx context.Context) *gorm.DB {
	db := s.db.WithContext(ctx)
	if s.inTx {
		db = db.Clauses(forUpdate())
	}
	return db
}

// currentSQL is current's suffix for a raw SELECT, for each SELECT of it:
// on MySQL a locking clause in the outer query does not lock the rows its
// subqueries read, nor make them read the latest commit.
func (s *Store) currentSQL() string {
	if s.inTx {
		return forUpdateSQL(s.db)
	}
	return ""
}

// one turns GORM's record-not-found into ErrNotFound.
func one(err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ErrNotFound
	}
	return err
}
