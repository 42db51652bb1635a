package models

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/go-sql-driver/mysql"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"
)

// Dialect names the database a *gorm.DB talks to.
type Dialect string

// Dialects gaspay supports.
const (
	MySQL  Dialect = "mysql"
	SQLite Dialect = "sqlite"
)

// DialectOf reports which database db talks to.
func DialectOf(db *gorm.DB) Dialect {
	if db.Dialector.Name() == "mysql" {
		return MySQL
	}
	return SQLite
}

// MySQLOption changes how OpenMySQL opens a database.
type MySQLOption func(*mysqlOptions)

type mysqlOptions struct{ snapshotAtStart bool }

// SnapshotAtFirstStatement is a test mode (GASPAY_TEST_TX_SNAPSHOT=
// first-statement, set by internal/testenv): transactions run at REPEATABLE
// READ and take their snapshot when they begin, as TiDB's do, instead of at
// their first plain read as MariaDB's and MySQL's do. Under it a plain read
// after a lock misses what the lock's previous holder committed, so the
// tests prove that no decision hangs on when a snapshot is taken (see
// Store). Never for production: READ COMMITTED is.
func SnapshotAtFirstStatement() MySQLOption {
	return func(o *mysqlOptions) { o.snapshotAtStart = true }
}

// OpenMySQL opens a MySQL/MariaDB (or TiDB) database. The DSN is the
// go-sql-driver form; parseTime, UTC and utf8mb4 are forced because the
// models depend on them, and every connection of the pool runs its
// transactions at READ COMMITTED (see Store for why).
func OpenMySQL(dsn string, log *slog.Logger, opts ...MySQLOption) (*gorm.DB, error) {
	var o mysqlOptions
	for _, opt := range opts {
		opt(&o)
	}
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		// The DSN holds a password: name the problem, not the value.
		return nil, errors.New("models: GASPAY_MYSQL_DSN is not a valid DSN")
	}
	mc.ParseTime = true
	mc.Loc = time.UTC
	if mc.Params == nil {
		mc.Params = map[string]string{}
	}
	mc.Params["charset"] = "utf8mb4"
	// Unicode-exact comparison of names and numbers; see migrations.
	mc.Collation = "utf8mb4_bin"
	// One round trip per query instead of prepare, execute and close. The
	// driver escapes values itself, which is safe with utf8mb4 (it refuses
	// to interpolate under charsets where escaping is not).
	mc.InterpolateParams = true
	level := "'READ-COMMITTED'"
	if o.snapshotAtStart {
		level = "'REPEATABLE-READ'"
	}
	// The driver sets every parameter it does not know as a session
	// variable on each new connection: every pooled connection gets it.
	variable, err := isolationVariable(mc)
	if err != nil {
		return nil, fmt.Errorf("models: open mysql: %w", err)
	}
	mc.Params[variable] = level
	dc := gormmysql.Config{DSNConfig: mc}
	if o.snapshotAtStart {
		connector, err := mysql.NewConnector(mc)
		if err != nil {
			return nil, fmt.Errorf("models: open mysql: %w", err)
		}
		dc.Conn = snapshotPool{sql.OpenDB(connector)}
	}
	db, err := gorm.Open(gormmysql.New(dc), gormConfig(log))
	if err != nil {
		return nil, fmt.Errorf("models: open mysql: %w", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	sqlDB.SetMaxOpenConns(64)
	sqlDB.SetMaxIdleConns(64)
	sqlDB.SetConnMaxLifetime(30 * time.Minute)
	return db, nil
}

// isolationVariable names the server's session variable for the
// transaction isolation level: transaction_isolation on MySQL 8, TiDB and
// MariaDB 11.1+, tx_isolation on MariaDB 10.x (MySQL 8 no longer has it).
// It asks the server once, on a connection of its own.
func isolationVariable(mc *mysql.Config) (string, error) {
	connector, err := mysql.NewConnector(mc)
	if err != nil {
		return "", err
	}
	probe := sql.OpenDB(connector)
	defer probe.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := probe.Conn(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_, err = conn.ExecContext(ctx, "SET SESSION transaction_isolation = 'READ-COMMITTED'")
	var me *mysql.MySQLError
	switch {
	case err == nil:
		return "transaction_isolation", nil
	case errors.As(err, &me) && me.Number == 1193: // ER_UNKNOWN_SYSTEM_VARIABLE
		return "tx_isolation", nil
	default:
		return "", err
	}
}

// snapshotPool is the pool of the SnapshotAtFirstStatement mode: it
// begins every transaction WITH CONSISTENT SNAPSHOT. (The START
// TRANSACTION the driver sent first commits, empty, on the same
// connection; the transaction database/sql then commits or rolls back is
// the snapshot one.)
type snapshotPool struct{ *sql.DB }

func (p snapshotPool) BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error) {
	tx, err := p.DB.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT"); err != nil {
		return nil, errors.Join(err, tx.Rollback())
	}
	return tx, nil
}

// GetDBConn lets gorm's DB() find the pool.
func (p snapshotPool) GetDBConn() (*sql.DB, error) { return p.DB, nil }

// OpenSQLite opens (creating if needed) the SQLite file at path.
//
// SQLite allows one writer at a time. One connection per process keeps the
// writers of this process in a queue instead of a busy loop, and IMMEDIATE
// transactions take the write lock at BEGIN, so two processes sharing the
// file never deadlock upgrading a read lock; busy_timeout makes the second
// wait for the first.
func OpenSQLite(path string, log *slog.Logger) (*gorm.DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("models: data dir: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	db, err := gorm.Open(sqlite.Open("file:"+path+"?"+q.Encode()), gormConfig(log))
	if err != nil {
		return nil, fmt.Errorf("models: open sqlite %s: %w", path, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	sqlDB.SetMaxOpenConns(1)
	return db, nil
}

// Open opens the database gaspay runs on: MySQL/MariaDB through dsn when
// dsn is set, otherwise the SQLite file at sqlitePath (the embedded
// default). The server, the commands and the tests all open it here.
func Open(dsn, sqlitePath string, log *slog.Logger) (*Store, error) {
	var db *gorm.DB
	var err error
	if dsn != "" {
		db, err = OpenMySQL(dsn, log)
	} else {
		db, err = OpenSQLite(sqlitePath, log)
	}
	if err != nil {
		return nil, err
	}
	return NewStore(db), nil
}

// Close closes db's connection pool.
func Close(db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Ping checks that the database answers.
func Ping(ctx context.Context, db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

func gormConfig(log *slog.Logger) *gorm.Config {
	return &gorm.Config{
		NowFunc:                func() time.Time { return time.Now().UTC() },
		TranslateError:         true,
		SkipDefaultTransaction: true,
		PrepareStmt:            false,
		Logger:                 &gormLog{log: log, slow: 200 * time.Millisecond},
	}
}

// gormLog sends GORM's errors and slow statements to slog. Statements are
// logged with placeholders, never with their values: those carry names,
// phone numbers and card images.
type gormLog struct {
	log  *slog.Logger
	slow time.Duration
}

func (l *gormLog) LogMode(gormlogger.LogLevel) gormlogger.Interface { return l }
func (l *gormLog) Info(context.Context, string, ...any)             {}
func (l *gormLog) Warn(ctx context.Context, msg string, args ...any) {
	l.log.WarnContext(ctx, "gorm", slog.String("msg", fmt.Sprintf(msg, args...)))
}
func (l *gormLog) Error(ctx context.Context, msg string, args ...any) {
	l.log.ErrorContext(ctx, "gorm", slog.String("msg", fmt.Sprintf(msg, args...)))
}

// ParamsFilter keeps GORM from interpolating values into logged SQL.
func (l *gormLog) ParamsFilter(_ context.Context, sql string, _ ...any) (string, []any) {
	return sql, nil
}

func (l *gormLog) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	elapsed := time.Since(begin)
	switch {
	case err != nil && !errors.Is(err, gorm.ErrRecordNotFound) && !errors.Is(err, gorm.ErrDuplicatedKey) && !errors.Is(err, context.Canceled):
		sql, _ := fc()
		l.log.WarnContext(ctx, "sql error", slog.String("sql", sql), slog.Duration("elapsed", elapsed), slog.String("err", err.Error()))
	case elapsed > l.slow:
		sql, rows := fc()
		l.log.WarnContext(ctx, "slow sql", slog.String("sql", sql), slog.Duration("elapsed", elapsed), slog.Int64("rows", rows))
	}
}

// Unavailable reports whether err says the database is out of reach (a
// refused, reset or broken connection, a network timeout) rather than
// refusing a statement.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}
