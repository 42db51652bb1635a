package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"gaspay/app"
	"gaspay/auth"
	"gaspay/config"
	"gaspay/handlers"
	"gaspay/internal/loadtest"
	"gaspay/logging"
	"gaspay/models"
	"gaspay/wechat/wxpay/wxpayfake"
)

const amountFen = 5000

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("paybench", flag.ContinueOnError)
	orders := fs.Int("orders", 4000, "orders to create (one per account)")
	conc := fs.Int("c", 16, "concurrent clients")
	dup := fs.Int("dup", 2, "copies of each notification sent (duplicates must change nothing)")
	profile := fs.String("cpuprofile", "", "write a CPU profile of the measured phases to this file")
	partnerPays := fs.Int("partner", 0, "then this many partner payments (0: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	env := map[string]string{
		"GASPAY_MYSQL_DSN": getenv("GASPAY_MYSQL_DSN"), "GASPAY_REDIS_URL": getenv("GASPAY_REDIS_URL"),
		"GASPAY_DATA_DIR": getenv("GASPAY_DATA_DIR"), "GASPAY_PUBLIC_URL": base,
		"GASPAY_REDIS_PREFIX": "paybench:", "GASPAY_LOG_LEVEL": "error",
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
	srv := handlers.Server("", a.Handler)
	go srv.Serve(ln)
	defer srv.Close()
	fmt.Fprintf(stdout, "server: %s; %d CPUs\n", a.Describe(), runtime.NumCPU())

	t0 := time.Now()
	cust, err := seed(ctx, a, *orders)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	fmt.Fprintf(stdout, "seeded %d accounts and %d customers in %s\n", *orders, len(cust), time.Since(t0).Round(time.Millisecond))

	sign, err := rsaSignTime()
	if err != nil {
		return err
	}
	// Per order: our request signature, the fake's answer signature and the
	// front end's paySign; verifications cost 1/30 of a signature and are
	// left out. Two cores sign in parallel.
	bound := float64(runtime.NumCPU()) / (3 * sign.Seconds())
	fmt.Fprintf(stdout, "RSA-2048 sign: %s → signing bound %.0f orders/s on %d CPUs (3 signatures per order)\n",
		sign.Round(time.Microsecond), bound, runtime.NumCPU())

	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *conc * 2}, Timeout: 30 * time.Second}

	// Orders: every client owns its customers' accounts.
	type job struct {
		token   string
		account int64
	}
	jobs := make(chan job, *orders)
	for _, c := range cust {
		for _, acc := range c.accounts {
			jobs <- job{c.token, acc}
		}
	}
	close(jobs)
	var mu sync.Mutex
	var orderNos []string
	var seq atomic.Int64
	st := loadtest.Drain(*conc, func(int) (bool, error) {
		j, ok := <-jobs
		if !ok {
			return false, nil
		}
		body := fmt.Sprintf(`{"account_id":%d,"amount_fen":%d,"channel":"wechat_mp"}`, j.account, amountFen)
		var out struct {
			Order struct {
				OrderNo string `json:"order_no"`
			} `json:"order"`
		}
		err := call(client, "POST", base+"/api/orders", j.token, []byte(body), map[string]string{
			"Idempotency-Key": fmt.Sprintf("bench-order-%08d", seq.Add(1))}, http.StatusCreated, &out)
		if err == nil {
			mu.Lock()
			orderNos = append(orderNos, out.Order.OrderNo)
			mu.Unlock()
		}
		return true, err
	})
	fmt.Fprintf(stdout, "orders: %s → %.0f%% of the signing bound\n", st, 100*st.Rate()/bound)
	if st.Errors > 0 {
		return fmt.Errorf("orders failed: %v", st.FirstErr)
	}

	// Notifications: the customers pay, WeChat Pay signs each
	// notification (ahead of time), then delivers each dup times.
	t0 = time.Now()
	type note struct {
		body    []byte
		headers map[string]string
	}
	var notes []note
	for _, no := range orderNos {
		if err := a.WeChatPayFake.PayQuietly(no); err != nil {
			return err
		}
		b, h, err := a.WeChatPayFake.PaymentNotification(no, wxpayfake.NotifyOptions{})
		if err != nil {
			return err
		}
		for range *dup {
			notes = append(notes, note{b, h})
		}
	}
	shuffle(notes)
	fmt.Fprintf(stdout, "signed %d notifications ahead of time in %s\n", len(orderNos), time.Since(t0).Round(time.Millisecond))
	queue := make(chan note, len(notes))
	for _, n := range notes {
		queue <- n
	}
	close(queue)
	st = loadtest.Drain(*conc, func(int) (bool, error) {
		n, ok := <-queue
		if !ok {
			return false, nil
		}
		return true, call(client, "POST", base+"/notify/wechat/pay", "", n.body, n.headers, http.StatusNoContent, nil)
	})
	fmt.Fprintf(stdout, "notifications (%d copies of each): %s\n", *dup, st)
	if st.Errors > 0 {
		return fmt.Errorf("notifications failed: %v", st.FirstErr)
	}
	if err := verify(ctx, a, orderNos, stdout); err != nil {
		return err
	}
	if *partnerPays > 0 {
		return partnerPhase(ctx, a, base, client, *partnerPays, *conc, stdout)
	}
	return nil
}

// verify checks the ledgers: every order paid once, credited once.
func verify(ctx context.Context, a *app.App, orderNos []string, stdout io.Writer) error {
	db := a.Store.DB().WithContext(ctx)
	var paid, payments, credits, doubles int64
	var creditSum struct{ N int64 }
	db.Model(&models.Order{}).Where("order_no IN ? AND status = ?", orderNos, models.OrderPaid).Count(&paid)
	db.Raw("SELECT COUNT(*) FROM payments p JOIN orders o ON o.id = p.order_id WHERE o.order_no IN ?", orderNos).Scan(&payments)
	db.Raw("SELECT COUNT(*) FROM credits c JOIN orders o ON o.id = c.order_id WHERE o.order_no IN ?", orderNos).Scan(&credits)
	db.Raw("SELECT COALESCE(SUM(c.amount), 0) AS n FROM credits c JOIN orders o ON o.id = c.order_id WHERE o.order_no IN ?", orderNos).Scan(&creditSum)
	db.Raw(`SELECT COUNT(*) FROM (SELECT c.order_id FROM credits c JOIN orders o ON o.id = c.order_id
		WHERE o.order_no IN ? GROUP BY c.order_id HAVING COUNT(*) > 1) d`, orderNos).Scan(&doubles)
	n := int64(len(orderNos))
	fmt.Fprintf(stdout, "ledgers: %d orders, %d paid, %d payments, %d credits worth %d fen, %d double credits\n",
		n, paid, payments, credits, creditSum.N, doubles)
	if paid != n || payments != n || credits != n || creditSum.N != n*amountFen || doubles != 0 {
		return errors.New("the ledgers do not balance")
	}
	return nil
}

type customer struct {
	token    string
	accounts []int64
}

// seed imports IoT accounts and logs in customers who bind five each.
func seed(ctx context.Context, a *app.App, n int) ([]customer, error) {
	run, err := rand.Int(rand.Reader, big.NewInt(900))
	if err != nil {
		return nil, err
	}
	prefix := fmt.Sprintf("7%03d", run.Int64()+100)
	now := time.Now().UTC()
	for from := 0; from < n; from += 1000 {
		var rows []models.ImportRow
		for i := from; i < min(n, from+1000); i++ {
			rows = append(rows, models.ImportRow{Line: i + 2, UserNumber: fmt.Sprintf("%s%08d", prefix, i),
				HolderName: "压测", Address: "benchmark", Kind: models.KindIoT, MeterNumber: fmt.Sprintf("9%s%08d", prefix, i)})
		}
		if _, err := a.Store.ImportAccounts(ctx, rows, "residential", now); err != nil {
			return nil, err
		}
	}
	mp, _ := a.Auth.Apps()
	var out []customer
	for i := 0; i < n; i += 5 {
		openID := fmt.Sprintf("bench-%s-%d", prefix, i)
		u, err := a.Store.UpsertUser(ctx, models.AppMiniProgram, mp.AppID, openID, nil, now)
		if err != nil {
			return nil, err
		}
		token, _, err := a.Auth.Sessions().Create(ctx, auth.Session{UserID: u.ID, AppKind: models.AppMiniProgram, AppID: mp.AppID, OpenID: openID}, "")
		if err != nil {
			return nil, err
		}
		c := customer{token: token}
		for j := i; j < min(n, i+5); j++ {
			acc, err := a.Store.AccountByUserNumber(ctx, fmt.Sprintf("%s%08d", prefix, j))
			if err != nil {
				return nil, err
			}
			if _, _, err := a.Store.Bind(ctx, u.ID, acc.ID, 5, now); err != nil {
				return nil, err
			}
			c.accounts = append(c.accounts, acc.ID)
		}
		out = append(out, c)
	}
	return out, nil
}

// rsaSignTime is the time of one RSA-2048 SHA-256 signature on one core.
func rsaSignTime() (time.Duration, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return 0, err
	}
	sum := sha256.Sum256([]byte("POST\n/v3/pay/transactions/jsapi\n1700000000\nnonce\n{}\n"))
	const n = 200
	start := time.Now()
	for range n {
		if _, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:]); err != nil {
			return 0, err
		}
	}
	return time.Since(start) / n, nil
}

func call(c *http.Client, method, url, token string, body []byte, headers map[string]string, want int, out any) error {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

func shuffle[T any](s []T) {
	for i := len(s) - 1; i > 0; i-- {
		j, _ := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		s[i], s[j.Int64()] = s[j.Int64()], s[i]
	}
}
