package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gaspay/app"
	"gaspay/config"
	"gaspay/internal/testenv"
	"gaspay/models"
)

// sandboxServer is a gaspay server on embedded defaults, as `go run
// ./cmd/gaspay` starts it, with its background work running fast.
func sandboxServer(t *testing.T) string {
	t.Helper()
	rdb := testenv.Redis(t)
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"GASPAY_DATA_DIR": t.TempDir(), "GASPAY_REDIS_PREFIX": rdb.Prefix(), "GASPAY_PUBLIC_URL": srv.URL,
			"GASPAY_IOT_DISPATCH_INTERVAL": "200ms", "GASPAY_MESSAGES_INTERVAL": "200ms"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	opts := app.Options{Redis: rdb}
	if testenv.UsingMySQL() {
		opts.Store = models.NewStore(testenv.RawDB(t))
	}
	a, err := app.New(context.Background(), cfg, testenv.Logger(), opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; a.Close() })
	h = a.Handler
	return srv.URL
}

func TestDemoAndFaults(t *testing.T) {
	url := sandboxServer(t)
	state := filepath.Join(t.TempDir(), "metersim.json")
	runSim := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		all := append([]string{"-url", url, "-state", state, "-wait", "20s"}, args...)
		if err := run(context.Background(), all, func(string) string { return "" }, &out); err != nil {
			t.Fatalf("metersim %v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}
	out := runSim("demo", "20231100001")
	for _, want := range []string{"1. logged in and bound meter 20231100001", "3. paid order", "applied; balance 156.78 yuan",
		"56.78 → 156.78 yuan", "7. WeChat message to"} {
		if !strings.Contains(out, want) {
			t.Fatalf("demo output lacks %q:\n%s", want, out)
		}
	}
	// Nothing waits any more: a press takes nothing.
	if out := runSim("press", "20231100001"); !strings.Contains(out, "no command waiting") {
		t.Fatalf("press:\n%s", out)
	}
	// Drawing gas to zero closes the valve.
	if out := runSim("use", "20231100001", "5300"); !strings.Contains(out, "valve closed (zero balance)") {
		t.Fatalf("use:\n%s", out)
	}
	if out := runSim("report", "20231100001"); !strings.Contains(out, "daily report") {
		t.Fatalf("report:\n%s", out)
	}
	_ = time.Second
}

// Each fault ends with the purchase applied exactly once.
func TestFaults(t *testing.T) {
	url := sandboxServer(t)
	state := filepath.Join(t.TempDir(), "metersim.json")
	runSim := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		all := append([]string{"-url", url, "-state", state, "-wait", "20s"}, args...)
		if err := run(context.Background(), all, func(string) string { return "" }, &out); err != nil {
			t.Fatalf("metersim %v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}
	balance := 5678
	for _, c := range []struct{ fault, want, then string }{
		{"lose-ack", "acknowledgement lost", "already applied"},
		{"twice", "the same command again: already applied", "no command waiting"},
		{"tamper", "does not authenticate", "applied; balance"},
		{"offline", "expired (past not_after)", "applied; balance"},
	} {
		t.Run(c.fault, func(t *testing.T) {
			out := runSim("-fault", c.fault, "demo", "20231100001")
			if !strings.Contains(out, c.want) {
				t.Fatalf("demo -fault %s:\n%s", c.fault, out)
			}
			// The next press settles it: applied exactly once.
			var next string
			for i := 0; i < 50 && !strings.Contains(next, c.then); i++ {
				time.Sleep(100 * time.Millisecond)
				next = runSim("press", "20231100001")
			}
			balance += 10000
			if !strings.Contains(next, c.then) {
				t.Fatalf("after -fault %s, press:\n%s", c.fault, next)
			}
			if out := runSim("report", "20231100001"); !strings.Contains(out, fmt.Sprintf("balance %d.%02d yuan", balance/100, balance%100)) {
				t.Fatalf("after -fault %s the meter holds:\n%s", c.fault, out)
			}
		})
	}
}
