// Command kioskbench measures scanned-code purchases at kiosks end to end:
// each purchase is a kiosk reading an IC card through its reader (HELLO,
// SESSION, READ_CARD, CARD), a quote, the order with a WeChat (or Alipay)
// payment code charged at the sandbox's fake provider (real RSA signatures
// both ways), and the card write (WRITE_CARD, WRITE_RESULT), every request
// signed by the kiosk and every answer by the server. It reports purchases
// per second, latency percentiles, and the share of the purchase time spent
// inside the provider (timed around the fake provider's handler).
//
// It assembles the server in-process on a loopback listener, with the
// storage GASPAY_MYSQL_DSN and GASPAY_REDIS_URL name (embedded defaults
// otherwise), seeds its own IC-card accounts and kiosks, and drives it over
// HTTP as kiosks would.
//
//	GASPAY_MYSQL_DSN='root@tcp(127.0.0.1:3306)/gaspay_kbench' \
//	GASPAY_REDIS_URL='redis://127.0.0.1:6379/3' \
//	go run ./cmd/kioskbench -n 2000 -c 16
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"gaspay/app"
	"gaspay/bleproxy"
	"gaspay/config"
	"gaspay/handlers"
	"gaspay/internal/loadtest"
	"gaspay/kiosk/kioskclient"
	"gaspay/logging"
	"gaspay/models"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kioskbench:", err)
		os.Exit(1)
	}
}

// providerClock sums the time requests spend inside the fake providers.
type providerClock struct{ ns atomic.Int64 }

func (p *providerClock) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := time.Now()
		h.ServeHTTP(w, r)
		p.ns.Add(int64(time.Since(t)))
	})
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("kioskbench", flag.ContinueOnError)
	n := fs.Int("n", 1000, "purchases (one per card)")
	conc := fs.Int("c", 16, "kiosks buying at once")
	pay := fs.String("pay", "wechat", "wechat or alipay")
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
		"GASPAY_REDIS_PREFIX": "kioskbench:", "GASPAY_LOG_LEVEL": "error",
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		return err
	}
	var prov providerClock
	a, err := app.New(ctx, cfg, logging.New(io.Discard, slog.LevelError), app.Options{WrapSandbox: prov.wrap})
	if err != nil {
		return err
	}
	defer a.Close()
	srv := handlers.Server("", a.Handler)
	go srv.Serve(ln)
	defer srv.Close()
	fmt.Fprintf(stdout, "server: %s; %d CPUs\n", a.Describe(), runtime.NumCPU())

	master, err := bleproxy.ParseMasterKey(app.SandboxBoxMasterKey)
	if err != nil {
		return err
	}
	t0 := time.Now()
	cards, terms, err := seed(ctx, a, master, base, *n, *conc)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	fmt.Fprintf(stdout, "seeded %d IC-card accounts and %d kiosks in %s\n", *n, *conc, time.Since(t0).Round(time.Millisecond))

	jobs := make(chan *bleproxy.Card, len(cards))
	for _, c := range cards {
		jobs <- c
	}
	close(jobs)
	var paid atomic.Int64
	prov.ns.Store(0)
	cpu0 := cpuTime()
	st := loadtest.Drain(*conc, func(w int) (bool, error) {
		c, ok := <-jobs
		if !ok {
			return false, nil
		}
		return true, purchase(ctx, terms[w], c, *pay, &paid)
	})
	fmt.Fprintf(stdout, "scanned-code purchases end to end (read, quote, order+code, write): %s\n", st)
	if st.FirstErr != nil {
		fmt.Fprintf(stdout, "first error: %v\n", st.FirstErr)
	}
	// CPU of this process (server and kiosks alike) per purchase: on a
	// machine others share, a steadier figure than the rate.
	fmt.Fprintf(stdout, "CPU per purchase (server, fakes and kiosks in this process): %.1f ms\n",
		(cpuTime()-cpu0).Seconds()*1000/float64(max(st.N, 1)))
	busy := st.Elapsed.Seconds() * float64(*conc)
	fmt.Fprintf(stdout, "paid and written: %d; time inside the provider: %.1f%% of purchase time (%.2f ms per purchase)\n",
		paid.Load(), 100*float64(prov.ns.Load())/1e9/busy, float64(prov.ns.Load())/1e6/float64(max(st.N, 1)))
	var open int64
	if err := a.Store.DB().Model(&models.CodePayment{}).Where("state IN ?", []string{"paying", "reversing"}).Count(&open).Error; err != nil {
		return err
	}
	if open != 0 || paid.Load() != int64(st.N-st.Errors) {
		return fmt.Errorf("%d code payments left open, %d paid of %d", open, paid.Load(), st.N)
	}
	return nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// purchase is one customer at a kiosk: read, quote, scan, write.
func purchase(ctx context.Context, k *kioskclient.Terminal, c *bleproxy.Card, pay string, paid *atomic.Int64) error {
	k.Box.InsertCard(c)
	defer k.Box.RemoveCard()
	v, err := k.Connect(ctx)
	if err != nil {
		return err
	}
	if !v.PurchaseAllowed {
		return fmt.Errorf("card %s: %s", v.UserNumber, v.Screen)
	}
	amount := int64(5000)
	q, err := k.Do(ctx, "POST", "/kiosk/v1/quotes", kioskclient.Purchase{SessionID: k.Session, AmountFen: &amount}, "")
	if err != nil || q.Status != http.StatusOK {
		return fmt.Errorf("quote: %v %d", err, q.Status)
	}
	code, err := authCode(pay)
	if err != nil {
		return err
	}
	o, a, err := k.PlaceOrder(ctx, kioskclient.Purchase{AmountFen: &amount, AuthCode: code}, "kb-"+code)
	if err != nil {
		return fmt.Errorf("order: %d %s", a.Status, a.Body)
	}
	if o.Outcome != "paid" {
		return fmt.Errorf("order %s: %s", o.Order.OrderNo, o.Outcome)
	}
	w, err := k.Write(ctx, o.Order.OrderNo)
	if err != nil {
		return err
	}
	if w == nil || w.Delivered == nil {
		return errors.New("card not written")
	}
	paid.Add(1)
	return nil
}

func authCode(pay string) (string, error) {
	r, err := rand.Int(rand.Reader, big.NewInt(1e14))
	if err != nil {
		return "", err
	}
	if pay == "alipay" {
		return fmt.Sprintf("28%014d10", r.Int64()), nil
	}
	return fmt.Sprintf("13%014d10", r.Int64()), nil
}

// seed imports n IC-card accounts with their cards and registers conc
// kiosks.
func seed(ctx context.Context, a *app.App, master bleproxy.MasterKey, base string, n, conc int) ([]*bleproxy.Card, []*kioskclient.Terminal, error) {
	r, err := rand.Int(rand.Reader, big.NewInt(900))
	if err != nil {
		return nil, nil, err
	}
	prefix := fmt.Sprintf("6%03d", r.Int64()+100)
	now := time.Now().UTC()
	cards := make([]*bleproxy.Card, n)
	var mu sync.Mutex
	for from := 0; from < n; from += 1000 {
		var rows []models.ImportRow
		for i := from; i < min(n, from+1000); i++ {
			number := fmt.Sprintf("%s%08d", prefix, i)
			serialHex := fmt.Sprintf("%s%012X", prefix, i)
			rows = append(rows, models.ImportRow{Line: i + 2, UserNumber: number, HolderName: "压测", Address: "benchmark",
				Kind: models.KindICCard, CardSerial: serialHex, CardType: models.CardVolume})
			serial, err := bleproxy.ParseCardSerial(serialHex)
			if err != nil {
				return nil, nil, err
			}
			raw, err := bleproxy.CardImage{CardType: bleproxy.CardVolume, UserNumber: number, Serial: serial, Seq: 1,
				State: bleproxy.CardLoaded}.Seal(bleproxy.DeriveCardKey(master, serial))
			if err != nil {
				return nil, nil, err
			}
			mu.Lock()
			cards[i] = &bleproxy.Card{Image: raw}
			mu.Unlock()
		}
		if _, err := a.Store.ImportAccounts(ctx, rows, "residential", now); err != nil {
			return nil, nil, err
		}
	}
	terms := make([]*kioskclient.Terminal, conc)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc * 2}, Timeout: 30 * time.Second}
	for i := range conc {
		id := fmt.Sprintf("KB-%s-%03d", prefix, i)
		boxHex := fmt.Sprintf("4B%s%010X", prefix, i)
		key := fmt.Sprintf("kioskbench-key-%s-%03d", prefix, i)
		if err := a.Store.SaveKiosk(ctx, &models.Kiosk{KioskID: id, Secret: key, BoxID: boxHex, Active: true, CreatedAt: now, UpdatedAt: now}); err != nil {
			return nil, nil, err
		}
		boxID, err := bleproxy.ParseBoxID(boxHex)
		if err != nil {
			return nil, nil, err
		}
		box := bleproxy.NewBox(boxID, bleproxy.DeriveBoxKey(master, boxID), bleproxy.BoxConfig{Firmware: 0x0201, HelloCounter: uint32(now.Unix())})
		terms[i] = &kioskclient.Terminal{Client: &kioskclient.Client{URL: base, ID: id, Key: []byte(key), HTTP: client}, Box: box}
	}
	return cards, terms, nil
}
