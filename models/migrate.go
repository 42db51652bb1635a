package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"gorm.io/gorm"
)

// A migration is one versioned step of the schema. Its statements are
// written once for both databases; {{id}} and {{table}} expand to each
// dialect's auto-increment key and table options, {{time}} to a timestamp
// with microseconds.
type migration struct {
	version int
	name    string
	stmts   []string
}

// forDialect reports whether a statement runs on d: one that starts with
// {{mysql}} or {{sqlite}} runs on that dialect only (where the two cannot
// share a statement, such as renaming a column).
func forDialect(d Dialect, stmt string) (string, bool) {
	if s, ok := strings.CutPrefix(stmt, "{{mysql}}"); ok {
		return s, d == MySQL
	}
	if s, ok := strings.CutPrefix(stmt, "{{sqlite}}"); ok {
		return s, d == SQLite
	}
	return stmt, true
}

// dialectSQL expands the placeholders of a portable statement.
func dialectSQL(d Dialect, stmt string) string {
	// The SQLite driver recognises times by the declared type DATETIME
	// exactly, without a precision.
	id, table, ts := "INTEGER PRIMARY KEY AUTOINCREMENT", "", "DATETIME"
	if d == MySQL {
		id, ts = "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY", "DATETIME(6)"
		// utf8mb4_bin: names and numbers compare exactly as stored.
		table = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
	}
	return strings.NewReplacer("{{id}}", id, "{{table}}", table, "{{time}}", ts).Replace(stmt)
}

// Migrate brings the schema up to the newest version and reports the
// versions it applied. Several replicas may call it at once: on MySQL a
// named lock serialises them, on SQLite one IMMEDIATE transaction does.
func Migrate(ctx context.Context, db *gorm.DB) ([]int, error) {
	if DialectOf(db) == MySQL {
		return migrateMySQL(ctx, db)
	}
	var applied []int
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		applied, err = apply(ctx, tx, SQLite, math.MaxInt)
		return err
	})
	return applied, err
}

func migrateMySQL(ctx context.Context, db *gorm.DB) ([]int, error) {
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	// GET_LOCK belongs to a connection: hold one for the whole run.
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("models: migrate: %w", err)
	}
	defer conn.Close()
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK('gaspay_migrate', 60)").Scan(&got); err != nil {
		return nil, fmt.Errorf("models: migrate lock: %w", err)
	}
	if got.Int64 != 1 {
		return nil, errors.New("models: migrate: another replica held the migration lock for 60s")
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK('gaspay_migrate')")
	tx := db.Session(&gorm.Session{NewDB: true, Context: ctx})
	tx.Statement.ConnPool = conn
	return apply(ctx, tx, MySQL, math.MaxInt)
}

// apply applies the migrations not yet applied, up to version upTo.
func apply(ctx context.Context, db *gorm.DB, d Dialect, upTo int) ([]int, error) {
	if err := db.Exec(dialectSQL(d, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INT NOT NULL PRIMARY KEY,
		name VARCHAR(100) NOT NULL,
		applied_at {{time}} NOT NULL
	){{table}}`)).Error; err != nil {
		return nil, fmt.Errorf("models: migrate: %w", err)
	}
	var done []int
	if err := db.Raw("SELECT version FROM schema_migrations").Scan(&done).Error; err != nil {
		return nil, fmt.Errorf("models: migrate: %w", err)
	}
	have := make(map[int]bool, len(done))
	for _, v := range done {
		have[v] = true
	}
	var applied []int
	for _, m := range allMigrations() {
		if have[m.version] || m.version > upTo {
			continue
		}
		for i, stmt := range m.stmts {
			stmt, ok := forDialect(d, stmt)
			if !ok {
				continue
			}
			if err := db.Exec(dialectSQL(d, stmt)).Error; err != nil && !alreadyDone(err, stmt) {
				return applied, fmt.Errorf("models: migration %d (%s) statement %d: %w", m.version, m.name, i+1, err)
			}
		}
		if err := db.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
			m.version, m.name, time.Now().UTC()).Error; err != nil {
			return applied, fmt.Errorf("models: migration %d: record: %w", m.version, err)
		}
		applied = append(applied, m.version)
	}
	return applied, nil
}

// alreadyDone recognises the errors of a MySQL statement that an earlier,
// interrupted run already applied (MySQL DDL is not transactional, so a
// crash can leave a migration half done; re-running it must finish it).
func alreadyDone(err error, stmt string) bool {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return false
	}
	// A column rename (ALTER TABLE … CHANGE old new …) whose old column
	// is gone was done by the interrupted run: ALTER TABLE is atomic.
	if me.Number == 1054 && strings.Contains(stmt, " CHANGE ") {
		return true
	}
	switch me.Number {
	case 1050, // table exists
		1060, // duplicate column
		1061, // duplicate key name
		1826: // duplicate foreign key constraint
		return true
	}
	return false
}

// SchemaVersion reports the newest applied migration, or 0.
func SchemaVersion(ctx context.Context, db *gorm.DB) (int, error) {
	var v sql.NullInt64
	err := db.WithContext(ctx).Raw("SELECT MAX(version) FROM schema_migrations").Scan(&v).Error
	return int(v.Int64), err
}

// Versions are the schema's versions in order; there may be gaps (each
// issue works in its own range).
func Versions() []int {
	var out []int
	for _, m := range allMigrations() {
		out = append(out, m.version)
	}
	return out
}

// LatestVersion is the newest migration this binary knows.
func LatestVersion() int {
	all := allMigrations()
	return all[len(all)-1].version
}
