package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
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
// ./cmd/gaspay` starts it, with kiosk K-0001 registered.
func sandboxServer(t *testing.T, key string) string {
	t.Helper()
	rdb := testenv.Redis(t)
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"GASPAY_DATA_DIR": t.TempDir(), "GASPAY_REDIS_PREFIX": rdb.Prefix(), "GASPAY_PUBLIC_URL": srv.URL}[k]
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
	t.Cleanup(func() { a.Close() })
	now := time.Now().UTC()
	if err := a.Store.SaveKiosk(context.Background(), &models.Kiosk{KioskID: "K-0001", Secret: key, BoxID: "4B00000000000001",
		Active: true, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	h = a.Handler
	return srv.URL
}

// The simulator's faults end as the contract says, and the last line says so.
func TestKioskSimulator(t *testing.T) {
	const key = "kiosksim-test-key-0123456789"
	url := sandboxServer(t, key)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "k.key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"-url", url, "-key-file", keyFile, "-state", filepath.Join(dir, "kiosksim.json"), "-poll", "200ms"}
	for _, tc := range []struct {
		args []string
		last string
	}{
		{nil, ": paid, card written"},
		{[]string{"-pay", "alipay", "-volume", "1000"}, ": paid, card written"},
		{[]string{"-fault", "syserror"}, ": paid, card written"},
		{[]string{"-fault", "network", "-pay", "alipay"}, ": paid, card written"},
		{[]string{"-fault", "pull"}, ": paid, card not written"},
		{[]string{"-pay", "none"}, ": paid, card written"},
		{[]string{"-pay", "none"}, "card 0000000012345679: nothing waiting"},
		{[]string{"-fault", "paper"}, ": paid, card written"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), append(append([]string{}, base...), tc.args...), &out)
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		last := lines[len(lines)-1]
		if err != nil || !strings.HasSuffix(last, tc.last) {
			t.Fatalf("%v: %v; last line %q\n%s", tc.args, err, last, out.String())
		}
		if tc.args != nil && tc.args[len(tc.args)-1] == "paper" && !strings.Contains(out.String(), "（补打）") {
			t.Fatalf("paper: no reprint\n%s", out.String())
		}
	}
}
