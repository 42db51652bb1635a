// Command iotbench measures the IoT delivery for BENCHMARKS.md: queued
// recharges dispatched to the (fake, signature-checking) CTWing platform
// per second, and authenticated meter reports ingested per second through
// the router's /notify/ctwing, each with latency percentiles.
//
//	GASPAY_MYSQL_DSN='root@tcp(127.0.0.1:3306)/gaspay_iotbench' \
//	GASPAY_REDIS_URL='redis://127.0.0.1:6379/3' go run ./cmd/iotbench -meters 4000 -reports 10 -c 32
//
// It assembles a whole server in-process (sandbox WeChat, WeChat Pay and
// meter platform, real database and Redis), seeds IoT accounts, pays one
// credit for each through the partner path, dispatches them all, then
// plays every meter's reports, the first of which shows its purchase
// applied.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"gaspay/app"
	"gaspay/bleproxy"
	"gaspay/config"
	"gaspay/internal/loadtest"
	"gaspay/iot"
	"gaspay/iot/meterproto"
	"gaspay/logging"
	"gaspay/models"
	"gaspay/recharge"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "iotbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("iotbench", flag.ContinueOnError)
	meters := fs.Int("meters", 2000, "IoT accounts, one paid credit each")
	reports := fs.Int("reports", 10, "reports per meter")
	conc := fs.Int("c", 32, "concurrent workers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	env := map[string]string{
		"GASPAY_MYSQL_DSN": getenv("GASPAY_MYSQL_DSN"), "GASPAY_REDIS_URL": getenv("GASPAY_REDIS_URL"),
		"GASPAY_DATA_DIR": getenv("GASPAY_DATA_DIR"), "GASPAY_PUBLIC_URL": "http://127.0.0.1:1",
		"GASPAY_REDIS_PREFIX": "iotbench:", "GASPAY_LOG_LEVEL": "error",
	}
	if env["GASPAY_DATA_DIR"] == "" {
		env["GASPAY_DATA_DIR"] = os.TempDir()
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		return err
	}
	a, err := app.New(ctx, cfg, logging.New(io.Discard, slog.LevelError), app.Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	// The fake platform's pushes are not what is measured: keep them.
	a.CTWingFake.SetPushURL("")
	fmt.Fprintf(stdout, "server: %s; %d CPUs\n", a.Describe(), runtime.NumCPU())

	t0 := time.Now()
	numbers, err := seed(ctx, a, *meters)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	fmt.Fprintf(stdout, "seeded %d IoT accounts, each with a paid partner credit, in %s\n", len(numbers), time.Since(t0).Round(time.Millisecond))

	// Dispatch: every queued credit sealed, counted in doubt and created
	// at the platform (signed CreateCommand over loopback HTTP).
	svc := a.IoT
	for {
		n, err := svc.Enqueue(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	due, err := svc.Due(ctx, len(numbers)+10)
	if err != nil {
		return err
	}
	var next atomic.Int64
	stats := loadtest.Drain(*conc, func(int) (bool, error) {
		i := int(next.Add(1)) - 1
		if i >= len(due) {
			return false, nil
		}
		ok, err := svc.Send(ctx, due[i])
		if err == nil && !ok {
			err = errors.New("not accepted")
		}
		return true, err
	})
	fmt.Fprintf(stdout, "dispatch (c=%d): %s\n", *conc, stats)
	if stats.FirstErr != nil {
		fmt.Fprintf(stdout, "  first error: %v\n", stats.FirstErr)
	}

	// Reports: each worker plays its own meters, in counter order; a
	// meter's first report shows its purchase applied.
	master, _ := bleproxy.ParseMasterKey(config.SandboxMeterMasterKey)
	bodies := make([][][]byte, len(numbers))
	for i, n := range numbers {
		m := &meterproto.Meter{Number: n, Key: meterproto.MeterKey(master, n), Unit: meterproto.UnitFen, Balance: 10000,
			LastAppliedSeq: 1, BatteryMV: 3600, SignalDBm: -90}
		for r := 0; r < *reports; r++ {
			b, _ := m.Report(meterproto.ReasonScheduled, uint32(time.Now().Unix()))
			body, _ := json.Marshal(map[string]any{"messageType": "dataReport", "deviceId": n, "productId": "10000577",
				"timestamp": time.Now().UnixMilli(), "payload": map[string]string{"APPdata": base64.StdEncoding.EncodeToString(b)}})
			bodies[i] = append(bodies[i], body)
		}
	}
	h := a.Handler
	cursor := make([]int, *conc)
	stats = loadtest.Drain(*conc, func(w int) (bool, error) {
		// Worker w plays meters w, w+conc, w+2·conc, … report by report.
		k := cursor[w]
		meter := w + (k%ceilDiv(len(numbers)-w, *conc))*(*conc)
		round := k / ceilDiv(len(numbers)-w, *conc)
		if w >= len(numbers) || round >= *reports {
			return false, nil
		}
		cursor[w]++
		req := httptest.NewRequest(http.MethodPost, "/notify/ctwing", bytes.NewReader(bodies[meter][round]))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"taken"`)) {
			return true, fmt.Errorf("report: %d %s", rec.Code, rec.Body.String())
		}
		return true, nil
	})
	fmt.Fprintf(stdout, "reports ingested (c=%d): %s\n", *conc, stats)
	if stats.FirstErr != nil {
		fmt.Fprintf(stdout, "  first error: %v\n", stats.FirstErr)
	}
	applied, err := a.Store.IoTDeliveriesIn(ctx, string(iot.Applied))
	if err != nil {
		return err
	}
	var delivered int64
	a.DB.Raw("SELECT COUNT(*) FROM credits WHERE kind = ? AND status = ?", models.CreditIoT, models.CreditDelivered).Scan(&delivered)
	fmt.Fprintf(stdout, "deliveries applied %d, IoT credits delivered %d (want %d each)\n", applied, delivered, len(numbers))
	return nil
}

func ceilDiv(a, b int) int {
	if a <= 0 {
		return 1
	}
	return (a + b - 1) / b
}

// seed imports IoT accounts with fresh meter numbers and pays one credit
// for each through a collection partner (the same ledger path as every
// payment).
func seed(ctx context.Context, a *app.App, n int) ([]string, error) {
	prefix := fmt.Sprintf("8%04d", time.Now().UnixNano()%10000)
	now := time.Now().UTC()
	var numbers []string
	for from := 0; from < n; from += 1000 {
		var rows []models.ImportRow
		for i := from; i < min(n, from+1000); i++ {
			number := fmt.Sprintf("%s%08d", prefix, i)
			rows = append(rows, models.ImportRow{Line: i + 2, UserNumber: fmt.Sprintf("%s%07d", prefix[1:], i), HolderName: "压测",
				Address: "benchmark", Kind: models.KindIoT, MeterNumber: number})
			numbers = append(numbers, number)
		}
		if _, err := a.Store.ImportAccounts(ctx, rows, "residential", now); err != nil {
			return nil, err
		}
	}
	var next atomic.Int64
	st := loadtest.Drain(16, func(int) (bool, error) {
		i := int(next.Add(1)) - 1
		if i >= n {
			return false, nil
		}
		_, _, err := a.Recharge.PartnerPay(ctx, recharge.PartnerPayment{PartnerID: "bench", Serial: fmt.Sprintf("%s-%d", prefix, i),
			UserNumber: fmt.Sprintf("%s%07d", prefix[1:], i), AmountFen: 10000})
		return true, err
	})
	if st.FirstErr != nil {
		return nil, st.FirstErr
	}
	return numbers, nil
}
