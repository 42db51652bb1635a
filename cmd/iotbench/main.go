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
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
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
	conc := fs.Int("c", 32, "concurrent report pushes (a closed loop: each pushes its next report once answered)")
	rate := fs.Float64("rate", 0, "if set, reports arrive at this rate whatever the answers (an open loop, as from the platform), at most 1,024 at once")
	senders := fs.Int("senders", 8, "concurrent dispatch batches (the server's IoT workers)")
	perBatch := fs.Int("batch", iot.SendBatchSize, "deliveries sealed in one transaction (the dispatcher's batch)")
	pass := fs.Bool("pass", false, "dispatch with the server's own DispatchPass (its workers, its pages) instead: throughput only")
	cpuprofile := fs.String("cpuprofile", "", "write each phase's CPU profile to this path + .dispatch, .reports")
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
	// at the platform (signed CreateCommand over loopback HTTP), in
	// batches as DispatchPass sends them.
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
	appliedBefore, err := a.Store.IoTDeliveriesIn(ctx, string(iot.Applied))
	if err != nil {
		return err
	}
	stopProfile, err := profile(*cpuprofile, ".dispatch")
	if err != nil {
		return err
	}
	cpu := startCPU()
	if *pass {
		t0 = time.Now()
		sent := svc.DispatchPass(ctx)
		elapsed := time.Since(t0)
		fmt.Fprintf(stdout, "dispatch (one DispatchPass): %d of %d accepted in %s, %.0f/s\n", sent, len(due),
			elapsed.Round(time.Millisecond), float64(sent)/elapsed.Seconds())
		fmt.Fprintf(stdout, "  %s\n", cpu.per(len(due)))
		due = nil
	}
	var next atomic.Int64
	t0 = time.Now()
	stats := loadtest.Drain(*senders, func(int) (bool, error) {
		from := int(next.Add(int64(*perBatch))) - *perBatch
		if from >= len(due) {
			return false, nil
		}
		ds := due[from:min(from+*perBatch, len(due))]
		n, err := svc.SendBatch(ctx, ds)
		if err == nil && n != len(ds) {
			err = fmt.Errorf("%d of %d accepted", n, len(ds))
		}
		return true, err
	})
	elapsed := time.Since(t0)
	if !*pass {
		fmt.Fprintf(stdout, "dispatch (%d batches of up to %d, %d at once): %s\n", stats.N, *perBatch, *senders, stats)
		fmt.Fprintf(stdout, "  deliveries: %d in %s, %.0f/s; a delivery waits for its batch (latency above)\n", len(due),
			elapsed.Round(time.Millisecond), float64(len(due))/elapsed.Seconds())
		fmt.Fprintf(stdout, "  %s\n", cpu.per(len(due)))
	}
	stopProfile()
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
	stopProfile, err = profile(*cpuprofile, ".reports")
	if err != nil {
		return err
	}
	cpu = startCPU()
	commits0, taken0 := svc.IngestStats()
	push := func(body []byte) error {
		req := httptest.NewRequest(http.MethodPost, "/notify/ctwing", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"taken"`)) {
			return fmt.Errorf("report: %d %s", rec.Code, rec.Body.String())
		}
		return nil
	}
	mode := fmt.Sprintf("c=%d", *conc)
	if *rate > 0 {
		// Every meter's first report, the one that shows its purchase
		// applied, first (closed loop); then the others, as nearly every
		// report is (a meter reports daily and takes a credit a few times
		// a month), arriving at rate: report k is meter k mod M's report
		// 1 + k div M, so a meter's next report comes M/rate seconds
		// after its last.
		var next atomic.Int64
		first := loadtest.Drain(*conc, func(int) (bool, error) {
			i := int(next.Add(1)) - 1
			if i >= len(numbers) {
				return false, nil
			}
			return true, push(bodies[i][0])
		})
		fmt.Fprintf(stdout, "reports applying a credit (c=%d): %s\n", *conc, first)
		mode = fmt.Sprintf("the rest, arriving at %.0f/s", *rate)
		cpu = startCPU()
		stats = loadtest.Paced(ctx, len(numbers)*(*reports-1), *rate, 1024, func(k int) error {
			return push(bodies[k%len(numbers)][1+k/len(numbers)])
		})
	} else {
		stats = loadtest.Drain(*conc, func(w int) (bool, error) {
			// Worker w plays meters w, w+conc, w+2·conc, … report by report.
			k := cursor[w]
			meter := w + (k%ceilDiv(len(numbers)-w, *conc))*(*conc)
			round := k / ceilDiv(len(numbers)-w, *conc)
			if w >= len(numbers) || round >= *reports {
				return false, nil
			}
			cursor[w]++
			return true, push(bodies[meter][round])
		})
	}
	fmt.Fprintf(stdout, "reports ingested (%s): %s\n", mode, stats)
	fmt.Fprintf(stdout, "  %s\n", cpu.per(stats.N))
	stopProfile()
	if commits, taken := svc.IngestStats(); commits > commits0 {
		fmt.Fprintf(stdout, "  group commit: %d reports in %d commits (%.1f a commit)\n", taken-taken0, commits-commits0,
			float64(taken-taken0)/float64(commits-commits0))
	}
	if stats.FirstErr != nil {
		fmt.Fprintf(stdout, "  first error: %v\n", stats.FirstErr)
	}
	applied, err := a.Store.IoTDeliveriesIn(ctx, string(iot.Applied))
	if err != nil {
		return err
	}
	var delivered int64
	a.Store.DB().Raw(`SELECT COUNT(*) FROM credits c JOIN meters m ON m.account_id = c.account_id
		WHERE c.kind = ? AND c.status = ? AND m.meter_number LIKE ?`, models.CreditIoT, models.CreditDelivered, numbers[0][:5]+"%").Scan(&delivered)
	fmt.Fprintf(stdout, "this run: deliveries applied %d, IoT credits delivered %d (want %d each)\n", applied-appliedBefore, delivered, len(numbers))
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

// cpuMark is where the CPU clocks of this process and of the MariaDB
// server (when it runs on this host and /proc shows it) stood.
type cpuMark struct{ self, db time.Duration }

func startCPU() cpuMark { return cpuMark{self: procCPU("self"), db: procCPU(mariadbPID())} }

// per is the CPU each operation cost since the mark: what bounds the rate
// on an idle machine (cores / CPU per operation), whatever else runs. The
// server's figure includes every other client it served meanwhile.
func (m cpuMark) per(n int) string {
	if n == 0 {
		return ""
	}
	self := (procCPU("self") - m.self) / time.Duration(n)
	out := fmt.Sprintf("CPU per operation: this process %s", self.Round(time.Microsecond))
	if pid := mariadbPID(); pid != "" {
		db := (procCPU(pid) - m.db) / time.Duration(n)
		out += fmt.Sprintf(", MariaDB server %s (with its other clients)", db.Round(time.Microsecond))
	}
	return out
}

// procCPU reads a process's user+system CPU time from /proc (Linux).
func procCPU(pid string) time.Duration {
	if pid == "" {
		return 0
	}
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which ends with the last ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

func mariadbPID() string {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if b, err := os.ReadFile("/proc/" + e.Name() + "/comm"); err == nil {
			if c := strings.TrimSpace(string(b)); c == "mariadbd" || c == "mysqld" {
				return e.Name()
			}
		}
	}
	return ""
}

// profile starts a CPU profile written to path+suffix, if path is set.
func profile(path, suffix string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path + suffix)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
