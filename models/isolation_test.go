package models_test

import (
	"context"
	"os"
	"sync"
	"testing"

	"gaspay/internal/testenv"
	"gaspay/models"
)

// snapshotMode reports whether the tests run in TiDB's snapshot timing
// (testenv.SnapshotEnv).
func snapshotMode() bool { return os.Getenv(testenv.SnapshotEnv) == "first-statement" }

// isolation reads the session's isolation level through tx, under
// whichever name the server gives it.
func isolation(t *testing.T, tx *models.Store) string {
	t.Helper()
	var level string
	if err := tx.DB().Raw("SELECT @@SESSION.transaction_isolation").Scan(&level).Error; err == nil {
		return level
	}
	// A failed statement inside a transaction leaves it usable on MySQL
	// and MariaDB; MariaDB 10.x knows only the old name.
	if err := tx.DB().Raw("SELECT @@SESSION.tx_isolation").Scan(&level).Error; err != nil {
		t.Fatal(err)
	}
	return level
}

// Every pooled connection runs its transactions at READ COMMITTED (or, in
// the snapshot test mode, at REPEATABLE READ).
func TestMySQLIsolationOnEveryConnection(t *testing.T) {
	if !testenv.UsingMySQL() {
		t.Skip("isolation levels are MySQL's; SQLite serialises its writers")
	}
	s := models.NewStore(testenv.DB(t))
	want := "READ-COMMITTED"
	if snapshotMode() {
		want = "REPEATABLE-READ"
	}
	// Eight transactions open at once hold eight connections of the pool.
	const n = 8
	var wg sync.WaitGroup
	var ready sync.WaitGroup
	ready.Add(n)
	levels := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Tx(context.Background(), func(tx *models.Store) error {
				levels[i] = isolation(t, tx)
				ready.Done()
				ready.Wait()
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i, l := range levels {
		if l != want {
			t.Errorf("connection %d runs at %q, want %q", i, l, want)
		}
	}
}

// What another connection commits while a transaction runs is seen by the
// transaction's next plain read at READ COMMITTED; in the snapshot test
// mode it is not, even by the transaction's first read: the snapshot was
// taken when it began, as on TiDB.
func TestMySQLSnapshotTiming(t *testing.T) {
	if !testenv.UsingMySQL() {
		t.Skip("snapshots are MySQL's; SQLite serialises its writers")
	}
	ctx := context.Background()
	s := models.NewStore(testenv.DB(t))
	var seen int
	err := s.Tx(ctx, func(tx *models.Store) error {
		// Committed on another connection after this transaction began.
		if err := s.AddAlert(ctx, "test", "", "committed meanwhile", now); err != nil {
			return err
		}
		list, err := tx.Alerts(ctx, false, 10)
		seen = len(list)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := 1
	if snapshotMode() {
		want = 0
	}
	if seen != want {
		t.Fatalf("the transaction's first read saw %d alerts committed after it began, want %d", seen, want)
	}
}
