// Command consolebench measures the staff console for BENCHMARKS.md on
// MariaDB: the search box's latency on a million accounts, and a large
// bills import (time, memory) with a payment's latency while it runs.
//
//	go run ./cmd/consolebench -dsn 'root@tcp(127.0.0.1:3306)/' -phase seed -accounts 1000000
//	go run ./cmd/consolebench -dsn 'root@tcp(127.0.0.1:3306)/' -phase search
//	go run ./cmd/consolebench -dsn 'root@tcp(127.0.0.1:3306)/' -phase import -bills 100000
//
// Each phase is its own process, so that the import's peak memory is the
// import's. The database (-db, default gaspay_consolebench) is the
// command's own: seed drops and recreates it.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"gaspay/console"
	"gaspay/customer"
	"gaspay/models"
	"gaspay/recharge"
	"gaspay/staff"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "consolebench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("consolebench", flag.ContinueOnError)
	dsn := fs.String("dsn", "root@tcp(127.0.0.1:3306)/", "MariaDB/MySQL server (the database part is ignored)")
	dbName := fs.String("db", "gaspay_consolebench", "database of the benchmark's own")
	phase := fs.String("phase", "", "seed, search, import or accounts")
	accounts := fs.Int("accounts", 1_000_000, "accounts to seed")
	searches := fs.Int("searches", 1000, "searches of each kind")
	bills := fs.Int("bills", 100_000, "lines of the bills file")
	accountLines := fs.Int("account-lines", 100_000, "lines of the accounts file (phase accounts)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := mysql.ParseDSN(*dsn)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.DBName = ""
	if *phase == "seed" {
		admin, err := models.OpenMySQL(cfg.FormatDSN(), log)
		if err != nil {
			return err
		}
		admin.Exec("DROP DATABASE IF EXISTS " + *dbName)
		if err := admin.Exec("CREATE DATABASE " + *dbName + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin").Error; err != nil {
			return err
		}
		models.Close(admin)
	}
	cfg.DBName = *dbName
	db, err := models.OpenMySQL(cfg.FormatDSN(), log)
	if err != nil {
		return err
	}
	defer models.Close(db)
	if _, err := models.Migrate(ctx, db); err != nil {
		return err
	}
	store := models.NewStore(db)
	beijing := time.FixedZone("CST", 8*3600)
	con := console.NewService(store, nil, console.Config{Location: beijing}, log)
	switch *phase {
	case "seed":
		return seed(ctx, store, *accounts, out)
	case "search":
		return search(ctx, store, con, *searches, out)
	case "import":
		rc := recharge.NewService(store, recharge.Config{PurchaseLimitFen: 150000, OrderTTL: 15 * time.Minute,
			QuoteTTL: 5 * time.Minute, Location: beijing}, nil, log)
		return importBills(ctx, store, con, rc, *bills, out)
	case "accounts":
		rc := recharge.NewService(store, recharge.Config{PurchaseLimitFen: 150000, OrderTTL: 15 * time.Minute,
			QuoteTTL: 5 * time.Minute, Location: beijing}, nil, log)
		return importAccounts(ctx, store, con, rc, *accountLines, out)
	}
	return errors.New("-phase: seed, search, import or accounts")
}

var surnames = []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈")
var given = []rune("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉建国建华志强海燕")

// account i's numbers: the benchmark derives them instead of storing a list.
func userNumber(i int) string  { return fmt.Sprintf("03%08d", i) }
func meterNumber(i int) string { return fmt.Sprintf("7%011d", i) }
func cardSerial(i int) string  { return fmt.Sprintf("%016X", 0xC0000000+i) }
func phone(i int) string       { return fmt.Sprintf("13%09d", (i*7919)%1_000_000_000) }
func kindOf(i int) string {
	switch i % 10 {
	case 0:
		return "iccard"
	case 1, 2, 3:
		return "iot"
	}
	return "ordinary"
}
func name(i int) string {
	r := rand.New(rand.NewPCG(uint64(i), 42))
	n := []rune{surnames[r.IntN(len(surnames))], given[r.IntN(len(given))]}
	if r.IntN(2) == 0 {
		n = append(n, given[r.IntN(len(given))])
	}
	return string(n)
}

func seed(ctx context.Context, store *models.Store, n int, out io.Writer) error {
	db := store.DB().WithContext(ctx)
	start := time.Now()
	const batch = 2000
	now := time.Now().UTC().Format("2006-01-02 15:04:05")
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		var acc, met, crd strings.Builder
		acc.WriteString("INSERT INTO accounts (id, user_number, holder_name, address, phone, kind, tariff_id, balance_fen, status, created_at, updated_at) VALUES ")
		met.WriteString("INSERT INTO meters (account_id, meter_number, created_at, updated_at) VALUES ")
		crd.WriteString("INSERT INTO cards (account_id, card_serial, card_type, status, current_account_id, created_at, updated_at) VALUES ")
		nm, nc := 0, 0
		for i := lo; i < hi; i++ {
			if i > lo {
				acc.WriteByte(',')
			}
			id := i + 1
			fmt.Fprintf(&acc, "(%d,'%s','%s','人民路%d号','%s','%s',1,0,'active','%s','%s')", id, userNumber(i), name(i), i%997, phone(i), kindOf(i), now, now)
			if kindOf(i) == "iccard" {
				if nc > 0 {
					crd.WriteByte(',')
				}
				nc++
				fmt.Fprintf(&crd, "(%d,'%s','volume','current',%d,'%s','%s')", id, cardSerial(i), id, now, now)
				continue
			}
			if nm > 0 {
				met.WriteByte(',')
			}
			nm++
			fmt.Fprintf(&met, "(%d,'%s','%s','%s')", id, meterNumber(i), now, now)
		}
		for _, q := range []string{acc.String(), met.String(), crd.String()} {
			if err := db.Exec(q).Error; err != nil {
				return err
			}
		}
		if hi%100_000 == 0 {
			fmt.Fprintf(out, "seeded %d accounts in %s\n", hi, time.Since(start).Round(time.Second))
		}
	}
	db.Exec("ANALYZE TABLE accounts, meters, cards")
	fmt.Fprintf(out, "seeded %d accounts (with meters or cards) in %s\n", n, time.Since(start).Round(time.Second))
	return nil
}

func pct(lat []time.Duration, q float64) time.Duration {
	slices.Sort(lat)
	return lat[int(q*float64(len(lat)-1))].Round(10 * time.Microsecond)
}

func search(ctx context.Context, store *models.Store, con *console.Service, per int, out io.Writer) error {
	var n int64
	if err := store.DB().Raw("SELECT COUNT(*) FROM accounts").Scan(&n).Error; err != nil || n == 0 {
		return fmt.Errorf("seed first (%d accounts): %v", n, err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	kinds := []struct {
		name string
		q    func() string
	}{
		{"user number", func() string { return userNumber(r.IntN(int(n))) }},
		{"meter number", func() string {
			for {
				if i := r.IntN(int(n)); kindOf(i) != "iccard" {
					return meterNumber(i)
				}
			}
		}},
		{"card serial", func() string { return cardSerial(r.IntN(int(n)/10) * 10) }},
		{"phone", func() string { return phone(r.IntN(int(n))) }},
		{"name prefix", func() string { return string([]rune(name(r.IntN(int(n))))[:2]) }},
		{"surname only", func() string { return string(surnames[r.IntN(len(surnames))]) }},
	}
	var all []time.Duration
	for _, k := range kinds {
		var lat []time.Duration
		misses := 0
		for range per {
			q := k.q()
			t := time.Now()
			hits, err := con.Search(ctx, q)
			lat = append(lat, time.Since(t))
			if err != nil {
				return err
			}
			if len(hits) == 0 {
				misses++
			}
		}
		all = append(all, lat...)
		fmt.Fprintf(out, "search %-12s %d queries: p50 %s p99 %s max %s (%d found nothing)\n", k.name, per, pct(lat, .5), pct(lat, .99), pct(lat, 1), misses)
	}
	fmt.Fprintf(out, "search all %d queries on %d accounts: p50 %s p95 %s p99 %s\n", len(all), n, pct(all, .5), pct(all, .95), pct(all, .99))
	return nil
}

func importBills(ctx context.Context, store *models.Store, con *console.Service, rc *recharge.Service, lines int, out io.Writer) error {
	var n int64
	store.DB().Raw("SELECT COUNT(*) FROM accounts").Scan(&n)
	// Ordinary accounts are i%10 >= 4: lines of them, one bill each, in a
	// period no earlier run used.
	var runs int64
	store.DB().Raw("SELECT COUNT(*) FROM imports").Scan(&runs)
	period := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, int(runs), 0).Format("2006-01")
	var file bytes.Buffer
	file.WriteString(console.BillsHeader + "\n")
	var picked []int
	for i := 0; len(picked) < lines && i < int(n); i++ {
		if kindOf(i) == "ordinary" {
			picked = append(picked, i)
			fmt.Fprintf(&file, "%s,%s,%d,2026-12-15\n", userNumber(i), period, 1000+i%5000)
		}
	}
	if len(picked) < lines {
		return fmt.Errorf("only %d ordinary accounts; seed more", len(picked))
	}
	res, err := whilePaying(ctx, rc, picked, period, func() (console.ImportResult, error) {
		return con.ImportBills(ctx, staff.Actor{Name: "consolebench", Role: staff.Admin, IP: "local"}, "bench.csv", &file)
	}, file.Cap(), out)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "import %d bills (period %s)\n", res.Import.TotalRows, period)
	var sum, arrears int64
	store.DB().Raw("SELECT COALESCE(SUM(amount_due_fen - amount_paid_fen), 0) FROM bills").Scan(&sum)
	store.DB().Raw("SELECT COALESCE(SUM(arrears_fen), 0) FROM accounts").Scan(&arrears)
	fmt.Fprintf(out, "check: open bills %d fen, accounts' arrears %d fen (equal: %v)\n", sum, arrears, sum == arrears)
	return nil
}

// vmHWM is the process's peak resident set (Linux).
func vmHWM() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
		}
	}
	return "unknown"
}

// whilePaying times run (an import) while a payment is made every 20 ms on
// a random account of picked, after the same payments alone for 5 s, and
// reports the import's time and memory and the payments' latency.
func whilePaying(ctx context.Context, rc *recharge.Service, picked []int, period string, run func() (console.ImportResult, error), fileSize int, out io.Writer) (console.ImportResult, error) {
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)

	// Payments on accounts of the file, one after another: first alone,
	// for comparison, then while the import runs.
	var serial atomic.Int64
	payLoop := func(done <-chan struct{}, lat *[]time.Duration, payErr *atomic.Value) {
		r := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			i := picked[r.IntN(len(picked))]
			t := time.Now()
			_, _, err := rc.PartnerPay(ctx, recharge.PartnerPayment{PartnerID: "bench", Serial: fmt.Sprintf("%s-%d", period, serial.Add(1)),
				UserNumber: userNumber(i), AmountFen: 100})
			*lat = append(*lat, time.Since(t))
			if err != nil && payErr.Load() == nil {
				payErr.Store(err)
			}
		}
	}
	var alone []time.Duration
	var aloneErr atomic.Value
	stopAlone := make(chan struct{})
	time.AfterFunc(5*time.Second, func() { close(stopAlone) })
	payLoop(stopAlone, &alone, &aloneErr)
	fmt.Fprintf(out, "payments alone (5 s before the import): %d, latency p50 %s p99 %s max %s\n", len(alone), pct(alone, .5), pct(alone, .99), pct(alone, 1))

	done := make(chan struct{})
	var wg sync.WaitGroup
	var payLat []time.Duration
	var payErr atomic.Value
	wg.Add(2)
	go func() { defer wg.Done(); payLoop(done, &payLat, &payErr) }()
	var peakHeap atomic.Uint64
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peakHeap.Load() {
				peakHeap.Store(m.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	res, err := run()
	elapsed := time.Since(start)
	close(done)
	wg.Wait()
	if err != nil {
		return res, err
	}
	fmt.Fprintf(out, "import %d lines: %s, %.0f lines/s\n", res.Import.TotalRows, elapsed.Round(time.Millisecond),
		float64(res.Import.TotalRows)/elapsed.Seconds())
	fmt.Fprintf(out, "memory: Go heap in use peak %.1f MiB (%.1f MiB before, the file itself %.1f MiB); process peak RSS %s\n",
		float64(peakHeap.Load())/(1<<20), float64(base.HeapInuse)/(1<<20), float64(fileSize)/(1<<20), vmHWM())
	if e := payErr.Load(); e != nil {
		fmt.Fprintf(out, "a payment failed: %v\n", e)
	}
	if len(payLat) > 0 {
		fmt.Fprintf(out, "payments during the import: %d, latency p50 %s p99 %s max %s\n", len(payLat), pct(payLat, .5), pct(payLat, .99), pct(payLat, 1))
	}
	return res, nil
}

// importAccounts imports an accounts file of lines existing accounts
// (ordinary, so that the same bill payments run beside it) with a new
// address each, through the console's ImportAccounts (staging, check,
// switch, batches of 200), while payments are made.
func importAccounts(ctx context.Context, store *models.Store, con *console.Service, rc *recharge.Service, lines int, out io.Writer) error {
	var n, runs int64
	store.DB().Raw("SELECT COUNT(*) FROM accounts").Scan(&n)
	store.DB().Raw("SELECT COUNT(*) FROM imports").Scan(&runs)
	period := fmt.Sprintf("acc%d", runs)
	var file bytes.Buffer
	file.WriteString(customer.ImportHeader + "\n")
	var picked []int
	for i := 0; len(picked) < lines && i < int(n); i++ {
		if kindOf(i) == "ordinary" {
			picked = append(picked, i)
			fmt.Fprintf(&file, "%s,%s,新街%d号%s,%s,ordinary,%s,,,0\n", userNumber(i), name(i), i, period, phone(i), meterNumber(i))
		}
	}
	if len(picked) < lines {
		return fmt.Errorf("only %d ordinary accounts; seed more", len(picked))
	}
	res, err := whilePaying(ctx, rc, picked, period, func() (console.ImportResult, error) {
		return con.ImportAccounts(ctx, staff.Actor{Name: "consolebench", Role: staff.Admin, IP: "local"}, "accounts.csv", &file)
	}, file.Cap(), out)
	if err != nil {
		return err
	}
	var moved int64
	store.DB().Raw("SELECT COUNT(*) FROM accounts WHERE address LIKE ?", "%"+period).Scan(&moved)
	fmt.Fprintf(out, "import %d accounts: %d updated, %d created; %d addresses now from this file\n", res.Import.TotalRows, res.Updated, res.Created, moved)
	return nil
}
