package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gaspay/config"
	"gaspay/customer"
	"gaspay/internal/testenv"
	"gaspay/iot"
	"gaspay/models"
)

// environment gives run its own database: a fresh MySQL database when the
// tests run on MySQL, an SQLite file in a temporary directory otherwise.
func environment(t *testing.T, extra map[string]string) func(string) string {
	vars := map[string]string{"GASPAY_DATA_DIR": t.TempDir()}
	if testenv.UsingMySQL() {
		vars["GASPAY_MYSQL_DSN"] = testenv.MySQLDSN(t, testenv.RawDB(t))
	}
	for k, v := range extra {
		vars[k] = v
	}
	return func(k string) string { return vars[k] }
}

func TestImportAccounts(t *testing.T) {
	getenv := environment(t, nil)
	file := filepath.Join(t.TempDir(), "accounts.csv")
	os.WriteFile(file, []byte("user_number,holder_name,address,phone,kind,meter_number,card_serial,card_type,balance_fen\n"+
		"031140086,秦淮,秦淮人家6号楼3单元501室,13800000001,iccard,,0000000012345678,volume,30\n"+
		"031130001,李娜,天山路99号,,iot,20231100001,,,\n"), 0o600)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"import", "accounts", file}, getenv, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "2 created, 0 updated") {
		t.Fatalf("first import: %s", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"import", "accounts", file}, getenv, &out, &out); err != nil || !strings.Contains(out.String(), "0 created, 2 updated") {
		t.Fatalf("second import: %v %s", err, out.String())
	}

	bad := filepath.Join(t.TempDir(), "bad.csv")
	os.WriteFile(bad, []byte("user_number,holder_name,address,phone,kind,meter_number,card_serial,card_type,balance_fen\n"+
		"031150001,新户,addr,,ordinary,,,,0\n"+
		"031150002,新户,addr,,iot,,,,0\n"), 0o600)
	err := run(context.Background(), []string{"import", "accounts", bad}, getenv, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "line 3") || strings.Contains(err.Error(), "line 2") {
		t.Fatalf("bad file: %v", err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"migrate"}, getenv, &out, &out); err != nil || !strings.Contains(out.String(), "applied 0 migrations") {
		t.Fatalf("migrate: %v %s", err, out.String())
	}
}

func TestUsageErrors(t *testing.T) {
	getenv := environment(t, nil)
	var out bytes.Buffer
	for _, args := range [][]string{{"frobnicate"}, {"import"}, {"import", "invoices", "x.csv"}, {"staff"}} {
		if err := run(context.Background(), args, getenv, &out, &out); err == nil || !strings.Contains(err.Error(), "usage") {
			t.Errorf("%v: %v", args, err)
		}
	}
	if err := run(context.Background(), nil, func(k string) string {
		return map[string]string{"GASPAY_ENV": "production"}[k]
	}, &out, &out); err == nil || !strings.Contains(err.Error(), "production refuses the embedded SQLite database") {
		t.Errorf("production on embedded defaults: %v", err)
	}
}

// The server starts on embedded defaults, answers, and shuts down cleanly
// when told to.
func TestServeAndShutDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	maddr := mln.Addr().String()
	mln.Close()
	getenv := environment(t, map[string]string{"GASPAY_ADDR": addr, "GASPAY_METRICS_ADDR": maddr, "GASPAY_REDIS_PREFIX": "gaspaytest:" + t.Name() + ":"})
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, getenv, &out, &out) }()

	var ready bool
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(fmt.Sprintf("http://%s/readyz", addr))
		if err == nil {
			resp.Body.Close()
			if ready = resp.StatusCode == http.StatusOK; ready {
				break
			}
		}
	}
	if !ready {
		cancel()
		t.Fatalf("server never ready: %v\n%s", <-done, out.String())
	}
	// Prometheus on its own listener, without the staff token.
	resp, err := http.Get("http://" + maddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	scrape, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(scrape), "gaspay_ledger_scrape_ok 1") {
		t.Fatalf("metrics listener: %d %.300s", resp.StatusCode, scrape)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no graceful shutdown")
	}
	if !strings.Contains(out.String(), "gaspay listening on") || !strings.Contains(out.String(), "sandbox WeChat") {
		t.Fatalf("start-up did not say what it runs on:\n%s", out.String())
	}
	// The effective configuration, as JSON, with every variable; and the
	// warning that no proxy is trusted.
	var cfgLine map[string]any
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, `"msg":"configuration"`) {
			if err := json.Unmarshal([]byte(line), &cfgLine); err != nil {
				t.Fatalf("configuration line is not JSON: %s", line)
			}
		}
	}
	if cfgLine["GASPAY_ADDR"] != addr || cfgLine["GASPAY_ORDER_TTL"] != "15m0s (default)" || cfgLine["GASPAY_ADMIN_TOKEN"] != "(unset)" {
		t.Fatalf("configuration line = %v", cfgLine)
	}
	if !strings.Contains(out.String(), "no GASPAY_TRUSTED_PROXIES") {
		t.Fatalf("no warning about trusted proxies:\n%s", out.String())
	}
	// A newcomer is told where the service hall is.
	if !strings.Contains(out.String(), "service hall (服务大厅): http://") || !strings.Contains(out.String(), "/h5/\n") {
		t.Fatalf("start-up did not print the service hall's URL:\n%s", out.String())
	}
}

func TestPartnerCommands(t *testing.T) {
	getenv := environment(t, nil)
	dir := t.TempDir()
	key := filepath.Join(dir, "lakala.key")
	os.WriteFile(key, []byte("  lakala-shared-secret-0123456789 \n"), 0o600)
	var out bytes.Buffer
	ctx := context.Background()
	if err := run(ctx, []string{"partner", "add", "--id", "lakala", "--key-file", key}, getenv, &out, &out); err != nil {
		t.Fatalf("add: %v %s", err, out.String())
	}
	short := filepath.Join(dir, "short.key")
	os.WriteFile(short, []byte("short"), 0o600)
	if err := run(ctx, []string{"partner", "add", "--id", "icbc", "--key-file", short}, getenv, &out, &out); err == nil {
		t.Fatal("a short key accepted")
	}
	if err := run(ctx, []string{"partner", "add", "--id", "bad_id", "--key-file", key}, getenv, &out, &out); err == nil {
		t.Fatal("an id with an underscore accepted")
	}
	file := filepath.Join(dir, "ours.txt")
	if err := run(ctx, []string{"partner", "reconcile", "--id", "lakala", "--date", "2026-11-01", "--out", file}, getenv, &out, &out); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "0|0\n" {
		t.Fatalf("empty day's file: %q", b)
	}
	out.Reset()
	if err := run(ctx, []string{"partner", "check", "--id", "lakala", "--date", "2026-11-01", file}, getenv, &out, &out); err != nil || !strings.Contains(out.String(), "agrees") {
		t.Fatalf("check of our own file: %v %s", err, out.String())
	}
	theirs := filepath.Join(dir, "theirs.txt")
	os.WriteFile(theirs, []byte("1|500\nLKL9|x|031120001|500|2026-11-01T09:00:00+08:00\n"), 0o600)
	out.Reset()
	err := run(ctx, []string{"partner", "check", "--id", "lakala", "--date", "2026-11-01", theirs}, getenv, &out, &out)
	if err == nil || !strings.Contains(out.String(), "LKL9: the partner has 500 fen for 031120001 (line 2); gaspay has no such payment") {
		t.Fatalf("planted difference: %v\n%s", err, out.String())
	}
	if err := run(ctx, []string{"partner", "reconcile", "--id", "nobody", "--date", "2026-11-01"}, getenv, &out, &out); err == nil {
		t.Fatal("an unknown partner reconciled")
	}
}

func TestIoTDeviceCommand(t *testing.T) {
	getenv := environment(t, nil)
	var out bytes.Buffer
	ctx := context.Background()
	if err := run(ctx, []string{"migrate"}, getenv, &out, &out); err != nil {
		t.Fatal(err)
	}
	cfg, _ := config.Load(getenv)
	store, err := models.Open(cfg.MySQLDSN.Reveal(), cfg.SQLitePath(), testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := customer.SeedDemo(ctx, store, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, []string{"iot", "device", "--meter", "20231100001", "--device", "10000577a1b2c3"}, getenv, &out, &out); err != nil {
		t.Fatalf("%v %s", err, out.String())
	}
	var dev string
	store.DB().Raw("SELECT device_id FROM iot_meters WHERE meter_number = ?", "20231100001").Scan(&dev)
	if dev != "10000577a1b2c3" {
		t.Fatalf("device %q", dev)
	}
	if err := run(ctx, []string{"iot", "device", "--meter", "20231100002", "--device", "10000577a1b2c3"}, getenv, &out, &out); !errors.Is(err, iot.ErrDeviceTaken) {
		t.Fatalf("a second meter on the same device: %v", err)
	}
	if err := run(ctx, []string{"iot", "device", "--meter", "0312000101", "--device", "x"}, getenv, &out, &out); !errors.Is(err, iot.ErrUnknownMeter) {
		t.Fatalf("an ordinary meter: %v", err)
	}
}
