package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"gorm.io/gorm"

	"gaspay/internal/beijing"
	"gaspay/models"
	"gaspay/recharge"
	"gaspay/reconcile"
	"gaspay/rediskv"
	"gaspay/wechat/wxpay"
	"gaspay/wechat/wxpay/wxpayfake"
)

const (
	mchID = "1900000109"
	appID = "wxbenchminiprog00"
)

var cst = beijing.Location()

// keyFile carries the fake merchant's keys from the parent to the child.
type keyFile struct {
	MerchantSerialNo    string
	MerchantKeyPEM      string
	PlatformPublicKeyID string
	PlatformPublicPEM   string
	APIv3Key            string
}

// report is what the child measured.
type report struct {
	Elapsed     time.Duration
	Download    time.Duration // of Elapsed: asking for the bill and downloading it
	Matched     int
	Differences int
	BillLines   int
	PeakRSSKB   int64
}

func run(ctx context.Context, args []string, getenv func(string) string) error {
	fs := flag.NewFlagSet("reconbench", flag.ContinueOnError)
	lines := fs.Int("lines", 200000, "payments in the bill")
	child := fs.Bool("child", false, "internal: reconcile and report")
	keys := fs.String("keys", "", "internal: the keys file")
	url := fs.String("url", "", "internal: the fake's URL")
	date := fs.String("date", "", "internal: the bill's day")
	dbPath := fs.String("sqlite", "", "internal: the SQLite file")
	verbose := fs.Bool("v", false, "log the phases of the run")
	omit := fs.Bool("omit", false, "leave one payment out of the bill, so that gaspay's side is searched line by line too")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if *verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if *child {
		return reconcileAndReport(ctx, getenv, log, *keys, *url, *date, *dbPath)
	}
	return parent(ctx, getenv, log, *lines, *verbose, *omit)
}

func parent(ctx context.Context, getenv func(string) string, log *slog.Logger, n int, verbose, omit bool) error {
	dir, err := os.MkdirTemp("", "reconbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sqlitePath := filepath.Join(dir, "bench.db")
	store, err := models.Open(getenv("GASPAY_MYSQL_DSN"), sqlitePath, log)
	if err != nil {
		return err
	}
	defer store.Close()
	db := store.DB()
	if _, err := models.Migrate(ctx, db); err != nil {
		return err
	}
	var existing int64
	if err := db.Raw("SELECT COUNT(*) FROM orders").Scan(&existing).Error; err != nil {
		return err
	}
	if existing != 0 {
		return errors.New("the database must be empty: create a fresh one")
	}

	k, err := wxpayfake.NewKeys()
	if err != nil {
		return err
	}
	fcfg := k.Config(mchID, appID)
	fake, err := wxpayfake.New(fcfg)
	if err != nil {
		return err
	}
	defer fake.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	y := time.Now().In(cst).AddDate(0, 0, -1)
	day := time.Date(y.Year(), y.Month(), y.Day(), 0, 0, 0, 0, cst)
	start := time.Now()
	if err := seed(ctx, db, fake, day, n, omit); err != nil {
		return err
	}
	fmt.Printf("seeded %d paid orders and the fake's bill in %s\n", n, time.Since(start).Round(time.Millisecond))

	der, err := x509.MarshalPKCS8PrivateKey(k.MerchantKey)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PlatformKey.PublicKey)
	if err != nil {
		return err
	}
	kf := keyFile{MerchantSerialNo: k.MerchantSerialNo, PlatformPublicKeyID: k.PlatformPublicKeyID, APIv3Key: k.APIv3Key,
		MerchantKeyPEM:    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		PlatformPublicPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))}
	raw, _ := json.Marshal(kf)
	keysPath := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(keysPath, raw, 0o600); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, self, "-child", "-keys", keysPath, "-url", "http://"+ln.Addr().String(),
		"-date", day.Format(time.DateOnly), "-sqlite", sqlitePath, fmt.Sprintf("-v=%v", verbose))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("child: %w", err)
	}
	var rep report
	if err := json.Unmarshal(out, &rep); err != nil {
		return fmt.Errorf("child said %q: %w", out, err)
	}
	fmt.Printf("reconciled %d bill lines: %d matched, %d differences, in %s (of which the bill's request and download %s); peak RSS %.1f MB\n",
		rep.BillLines, rep.Matched, rep.Differences, rep.Elapsed.Round(time.Millisecond), rep.Download.Round(time.Millisecond),
		float64(rep.PeakRSSKB)/1024)
	wantMatched, wantDiffs := n-3, 3
	if omit {
		wantMatched, wantDiffs = n-4, 4
	}
	if rep.Matched != wantMatched || rep.Differences != wantDiffs {
		return fmt.Errorf("expected %d matched and %d differences", wantMatched, wantDiffs)
	}
	return nil
}

// seed writes n paid orders of day to the database, in multi-row inserts,
// and gives the fake the same payments; three show another amount in the
// bill; with omit, one more is left out of the bill.
func seed(ctx context.Context, db *gorm.DB, fake *wxpayfake.Server, day time.Time, n int, omit bool) error {
	now := time.Now().UTC()
	if err := db.WithContext(ctx).Exec(`INSERT INTO accounts (user_number, holder_name, address, phone, kind, tariff_id,
		balance_fen, status, created_at, updated_at) VALUES ('099000001', '压测', '压测路1号', '', 'ordinary', 1, 0, 'active', ?, ?)`, now, now).Error; err != nil {
		return err
	}
	var accountID int64
	if err := db.WithContext(ctx).Raw("SELECT id FROM accounts WHERE user_number = '099000001'").Scan(&accountID).Error; err != nil {
		return err
	}
	const batch = 1000
	for first := 0; first < n; first += batch {
		var orders, payments strings.Builder
		var oargs, pargs []any
		for i := first; i < min(first+batch, n); i++ {
			no := fmt.Sprintf("B%s%010d", day.Format("20060102"), i)
			fen := int64(1000 + i%50000)
			at := day.Add(time.Duration(i) * (24 * time.Hour / time.Duration(n)))
			o := fake.RecordPaid(appID, no, fen, at)
			if i%(n/3+1) == 7 {
				fake.PlantBillDifference(wxpayfake.BillPlant{Kind: wxpayfake.PlantAmount, OutTradeNo: no, Fen: fen + 1})
			}
			if omit && i == n/2 {
				fake.PlantBillDifference(wxpayfake.BillPlant{Kind: wxpayfake.PlantOmit, OutTradeNo: no})
			}
			if orders.Len() > 0 {
				orders.WriteString(",")
				payments.WriteString(",")
			}
			orders.WriteString("(?, ?, 'wechat_mp', ?, '', 'bill', 0, ?, 0, 0, ?, 'fen', ?, '{}', 'paid', ?, ?, ?, ?)")
			oargs = append(oargs, no, accountID, appID, fen, fen, fen, at.Add(15*time.Minute).UTC(), at.UTC(), at.UTC(), at.UTC())
			payments.WriteString("((SELECT id FROM orders WHERE order_no = ?), 'wechat', ?, ?, 'bench', 'notify', ?, ?)")
			pargs = append(pargs, no, o.TransactionID, fen, at.UTC(), at.UTC())
		}
		if err := db.WithContext(ctx).Exec(`INSERT INTO orders (order_no, account_id, channel, app_id, payer_open_id, purpose,
			volume_centi_m3, gross_fen, deduction_fen, leftover_fen, payable_fen, credit_unit, credit_amount, quote_json, status,
			expires_at, paid_at, created_at, updated_at) VALUES `+orders.String(), oargs...).Error; err != nil {
			return err
		}
		if err := db.WithContext(ctx).Exec(`INSERT INTO payments (order_id, provider, provider_txn_id, amount_fen, payer, source,
			paid_at, created_at) VALUES `+payments.String(), pargs...).Error; err != nil {
			return err
		}
	}
	return nil
}

func reconcileAndReport(ctx context.Context, getenv func(string) string, log *slog.Logger, keysPath, url, date, sqlitePath string) error {
	raw, err := os.ReadFile(keysPath)
	if err != nil {
		return err
	}
	var kf keyFile
	if err := json.Unmarshal(raw, &kf); err != nil {
		return err
	}
	mk, err := parsePrivate(kf.MerchantKeyPEM)
	if err != nil {
		return err
	}
	pk, err := parsePublic(kf.PlatformPublicPEM)
	if err != nil {
		return err
	}
	client, err := wxpay.New(wxpay.Config{MchID: mchID, MerchantSerialNo: kf.MerchantSerialNo, MerchantKey: mk,
		PlatformPublicKeyID: kf.PlatformPublicKeyID, PlatformPublicKey: pk, APIv3Key: kf.APIv3Key, BaseURL: url,
		HTTPClient: &http.Client{Timeout: time.Minute}})
	if err != nil {
		return err
	}
	store, err := models.Open(getenv("GASPAY_MYSQL_DSN"), sqlitePath, log)
	if err != nil {
		return err
	}
	defer store.Close()
	rdb, closeRedis, err := rediskv.Open(ctx, "", "reconbench:")
	if err != nil {
		return err
	}
	defer closeRedis()
	pay := recharge.NewService(store, recharge.Config{Location: cst, OrderTTL: 15 * time.Minute, QuoteTTL: 5 * time.Minute,
		PurchaseLimitFen: 150000, Apps: map[models.Channel]string{models.ChannelWeChatMP: appID}},
		map[models.Channel]recharge.Provider{models.ChannelWeChatMP: recharge.NewWeChatPay(client, mchID, "http://localhost")}, log)
	src := &timedSource{Source: reconcile.WeChatBills{Client: client, MchID: mchID}}
	svc := reconcile.NewService(store, pay, []reconcile.Source{src}, rdb,
		reconcile.Config{Location: cst, ReadyAfter: 10 * time.Hour, Retry: 10 * time.Minute, DeliveryAlertAge: 24 * time.Hour}, log)
	start := time.Now()
	res, err := svc.Run(ctx, recharge.ProviderWeChat, date)
	if err != nil {
		return err
	}
	rep := report{Elapsed: time.Since(start), Download: src.took, Matched: res.Run.Matched, Differences: res.Run.Differences,
		BillLines: res.Run.BillPayments + res.Run.BillRefunds, PeakRSSKB: peakRSS()}
	return json.NewEncoder(os.Stdout).Encode(rep)
}

// peakRSS reads the process's peak resident set (VmHWM) in kB.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
			return kb
		}
	}
	return -1
}

// timedSource measures how long opening the bill takes: asking WeChat Pay
// for it and downloading it (here the fake also builds it, which WeChat
// does ahead of time).
type timedSource struct {
	reconcile.Source
	took time.Duration
}

func (t *timedSource) Open(ctx context.Context, day time.Time) (reconcile.Bill, error) {
	start := time.Now()
	b, err := t.Source.Open(ctx, day)
	t.took = time.Since(start)
	return b, err
}
