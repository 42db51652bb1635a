package main

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	_ "github.com/go-sql-driver/mysql"
)

// proc is a child process the suite starts, kills and starts again.
type proc struct {
	name string
	args []string
	env  []string
	log  string

	mu  sync.Mutex
	cmd *exec.Cmd
}

func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.args[0], p.args[1:]...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = f, f
	// Its own process group: a kill of the suite's driver does not leave
	// it behind half-killed, and our kill reaches only it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", p.name, err)
	}
	p.cmd = cmd
	go func() { cmd.Wait(); f.Close() }()
	return nil
}

// kill sends SIGKILL: no shutdown, no flush, as a crash.
func (p *proc) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		for i := 0; i < 100 && p.cmd.ProcessState == nil; i++ {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// stop asks politely, then kills.
func (p *proc) stop() {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	for i := 0; i < 100 && cmd.ProcessState == nil; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	p.kill()
}

func waitTCP(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not open within %s", addr, d)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// mariadb is the suite's own MariaDB on 3307, its datadir under dir.
func mariadb(ctx context.Context, dir string) (*proc, error) {
	data := filepath.Join(dir, "mariadb")
	os.RemoveAll(data)
	install := exec.CommandContext(ctx, "mariadb-install-db", "--no-defaults", "--datadir="+data, "--user=root",
		"--auth-root-authentication-method=normal", "--skip-test-db")
	if out, err := install.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mariadb-install-db: %w\n%s", err, out)
	}
	p := &proc{name: "mariadb", log: filepath.Join(dir, "mariadb.log"), args: []string{"/usr/sbin/mariadbd", "--no-defaults",
		"--datadir=" + data, "--port=3307", "--bind-address=127.0.0.1", "--socket=" + filepath.Join(dir, "mariadb.sock"),
		"--pid-file=" + filepath.Join(dir, "mariadb.pid"), "--user=root", "--skip-name-resolve",
		"--innodb-buffer-pool-size=64M", "--max-connections=500"}}
	return p, p.start()
}

// waitMariaDB waits until the server takes queries.
func waitMariaDB(dsn string, d time.Duration) error {
	deadline := time.Now().Add(d)
	var err error
	for time.Now().Before(deadline) {
		var db *sql.DB
		if db, err = sql.Open("mysql", dsn); err == nil {
			err = db.Ping()
			db.Close()
			if err == nil {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("mariadb not up: %w", err)
}

// redisServer is the suite's own Redis on 6380: no persistence, so a
// restart loses everything, the hard case.
func redisServer(dir string) *proc {
	return &proc{name: "redis", log: filepath.Join(dir, "redis.log"), args: []string{"redis-server", "--port", "6380",
		"--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir}}
}
