// Package testenv gives tests the same storage the server runs on: an SQLite
// file and an in-process Redis by default, or, when GASPAY_TEST_MYSQL_DSN and
// GASPAY_TEST_REDIS_URL name them, a fresh MySQL/MariaDB database and a
// private key prefix on a real Redis. Every test gets its own, dropped when
// it ends, so packages can run in parallel against one server.
package testenv

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"gaspay/internal/randhex"
	"gaspay/models"
	"gaspay/rediskv"
)

// Environment variables naming the real servers.
const (
	MySQLEnv = "GASPAY_TEST_MYSQL_DSN"
	RedisEnv = "GASPAY_TEST_REDIS_URL"
	// SnapshotEnv=first-statement opens the MySQL databases in
	// models.SnapshotAtFirstStatement mode: TiDB's snapshot timing on
	// MariaDB (.ci/run runs the concurrency tests so).
	SnapshotEnv = "GASPAY_TEST_TX_SNAPSHOT"
)

// openMySQL opens a test MySQL database in the mode SnapshotEnv asks for.
func openMySQL(t testing.TB, dsn string) (*gorm.DB, error) {
	t.Helper()
	switch mode := os.Getenv(SnapshotEnv); mode {
	case "":
		return models.OpenMySQL(dsn, Logger())
	case "first-statement":
		return models.OpenMySQL(dsn, Logger(), models.SnapshotAtFirstStatement())
	default:
		t.Fatalf("%s=%q: the only mode is first-statement", SnapshotEnv, mode)
		return nil, nil
	}
}

// Logger discards, unless GASPAY_TEST_LOG is set.
func Logger() *slog.Logger {
	if os.Getenv("GASPAY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// UsingMySQL reports whether tests run against MySQL.
func UsingMySQL() bool { return os.Getenv(MySQLEnv) != "" }

// DB is a migrated, empty database of the test's own.
func DB(t testing.TB) *gorm.DB {
	t.Helper()
	db := RawDB(t)
	if _, err := models.Migrate(context.Background(), db); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return db
}

// RawDB is an empty, unmigrated database of the test's own.
func RawDB(t testing.TB) *gorm.DB {
	t.Helper()
	if dsn := os.Getenv(MySQLEnv); dsn != "" {
		return mysqlDB(t, dsn)
	}
	db, err := models.OpenSQLite(filepath.Join(t.TempDir(), "test.db"), Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { models.Close(db) })
	return db
}

// Reopen opens a second connection pool on db's database, as another
// replica would: the same MySQL database, or the same SQLite file.
func Reopen(t testing.TB, db *gorm.DB) *gorm.DB {
	t.Helper()
	if models.DialectOf(db) == models.MySQL {
		other, err := openMySQL(t, MySQLDSN(t, db))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { models.Close(other) })
		return other
	}
	var rows []struct {
		Name string
		File string
	}
	if err := db.Raw("PRAGMA database_list").Scan(&rows).Error; err != nil || len(rows) == 0 {
		t.Fatalf("sqlite path: %v", err)
	}
	other, err := models.Open("", rows[0].File, Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	return other.DB()
}

// ReopenRedis opens a second client on c's server and prefix, as another
// replica would.
func ReopenRedis(t testing.TB, c *rediskv.Client) *rediskv.Client {
	t.Helper()
	var other redis.UniversalClient
	switch rc := c.UniversalClient.(type) {
	case *redis.Client:
		o := rc.Options()
		other = redis.NewClient(&redis.Options{Addr: o.Addr, Username: o.Username, Password: o.Password, DB: o.DB})
	case *redis.ClusterClient:
		o := rc.Options()
		other = redis.NewClusterClient(&redis.ClusterOptions{Addrs: o.Addrs, Username: o.Username, Password: o.Password})
	default:
		t.Fatalf("ReopenRedis: a %T", c.UniversalClient)
	}
	t.Cleanup(func() { other.Close() })
	return rediskv.New(other, c.Prefix())
}

var unsafeName = regexp.MustCompile(`[^a-z0-9_]+`)

func mysqlDB(t testing.TB, dsn string) *gorm.DB {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("%s: %v", MySQLEnv, err)
	}
	name := "gaspay_t_" + unsafeName.ReplaceAllString(strings.ToLower(t.Name()), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	name += "_" + randhex.New(4)

	admin, err := models.OpenMySQL(dsn, Logger())
	if err != nil {
		t.Fatal(err)
	}
	defer models.Close(admin)
	if err := admin.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin").Error; err != nil {
		t.Fatalf("create database: %v", err)
	}
	cfg.DBName = name
	db, err := openMySQL(t, cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		models.Close(db)
		admin, err := models.OpenMySQL(dsn, Logger())
		if err != nil {
			t.Errorf("drop database: %v", err)
			return
		}
		defer models.Close(admin)
		if err := admin.Exec("DROP DATABASE IF EXISTS " + name).Error; err != nil {
			t.Errorf("drop database: %v", err)
		}
	})
	return db
}

// MySQLDSN is the DSN of db when it is a test MySQL database, for opening a
// second connection pool on it as another replica would.
func MySQLDSN(t testing.TB, db *gorm.DB) string {
	t.Helper()
	base := os.Getenv(MySQLEnv)
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		t.Fatal(err)
	}
	var name string
	if err := db.Raw("SELECT DATABASE()").Scan(&name).Error; err != nil {
		t.Fatal(err)
	}
	cfg.DBName = name
	return cfg.FormatDSN()
}

// Redis is a Redis of the test's own: a private key prefix on the server
// named by GASPAY_TEST_REDIS_URL, or an in-process Redis. Keys under the
// prefix are deleted when the test ends.
func Redis(t testing.TB) *rediskv.Client {
	t.Helper()
	prefix := "gaspaytest:" + randhex.New(6) + ":"
	url := os.Getenv(RedisEnv)
	if url == "" {
		m := miniredis.NewMiniRedis()
		m.ClockTTL(true)
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
		rc := redis.NewClient(&redis.Options{Addr: m.Addr()})
		t.Cleanup(func() { rc.Close(); m.Close() })
		return rediskv.New(rc, prefix)
	}
	c, closeFn, err := rediskv.Open(context.Background(), url, prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		clean := func(ctx context.Context, node redis.UniversalClient) error {
			iter := node.Scan(ctx, 0, prefix+"*", 1000).Iterator()
			for iter.Next(ctx) {
				node.Del(ctx, iter.Val())
			}
			return iter.Err()
		}
		// A cluster's keys are spread over its masters: scan each.
		if cc, ok := c.UniversalClient.(*redis.ClusterClient); ok {
			cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return clean(ctx, n) })
		} else {
			clean(ctx, c.UniversalClient)
		}
		closeFn()
	})
	return c
}

// Keys lists the keys matching pattern, on every master of a cluster.
func Keys(t testing.TB, c *rediskv.Client, pattern string) []string {
	t.Helper()
	ctx := context.Background()
	var mu sync.Mutex
	var out []string
	scan := func(ctx context.Context, node redis.UniversalClient) error {
		iter := node.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			out = append(out, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	if cc, ok := c.UniversalClient.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return scan(ctx, n) })
	} else {
		err = scan(ctx, c.UniversalClient)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// AtOnce runs fn(0) … fn(n-1) in n goroutines released together (the
// races the concurrency tests stage) and returns each one's error.
func AtOnce(n int, fn func(i int) error) []error {
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}
