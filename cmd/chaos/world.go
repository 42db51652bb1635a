package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gaspay/internal/randhex"
	"gaspay/partner"
)

const (
	mysqlRoot  = "root@tcp(127.0.0.1:3307)/"
	mysqlDSN   = "root@tcp(127.0.0.1:3307)/gaspay_chaos?parseTime=true"
	redisURL   = "redis://127.0.0.1:6380/0"
	adminToken = "chaos-admin-token-0123456789abcdef0123"
	partnerID  = "chaospos"
	partnerKey = "chaos-partner-key-0123456789abcdef"
	janitorInt = 2 * time.Second
)

// world is everything the suite runs.
type world struct {
	o         options
	out       io.Writer
	bin       string
	db        *sql.DB
	mariadb   *proc
	redis     *proc
	providers *proc
	info      providersInfo
	replicas  []*proc
	addrs     []string
	up        []atomic.Bool
	proxyURL  string
	proxy     *http.Server

	kills, redisRestarts, mysqlRestarts atomic.Int64

	boxMu sync.Mutex
	boxes []*boxWorker
}

func newWorld(ctx context.Context, o options, out io.Writer) (*world, error) {
	w := &world{o: o, out: out}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			w.close()
		}
	}()
	fmt.Fprintf(out, "building gaspay and starting MariaDB (3307), Redis (6380) and the providers under %s\n", o.dir)
	w.bin = filepath.Join(o.dir, "gaspay")
	if b, err := exec.CommandContext(ctx, "go", "build", "-o", w.bin, "./cmd/gaspay").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %w\n%s", err, b)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	infoFile := filepath.Join(o.dir, "providers.json")
	os.Remove(infoFile)
	w.providers = &proc{name: "providers", log: filepath.Join(o.dir, "providers.log"), args: []string{self, "providers", infoFile}}
	if err := w.providers.start(); err != nil {
		return nil, err
	}
	if w.mariadb, err = mariadb(ctx, o.dir); err != nil {
		return nil, err
	}
	w.redis = redisServer(o.dir)
	if err := w.redis.start(); err != nil {
		return nil, err
	}
	if err := waitMariaDB(mysqlRoot, 60*time.Second); err != nil {
		return nil, err
	}
	if err := waitTCP("127.0.0.1:6380", 10*time.Second); err != nil {
		return nil, err
	}
	root, err := sql.Open("mysql", mysqlRoot)
	if err != nil {
		return nil, err
	}
	_, err = root.Exec("CREATE DATABASE gaspay_chaos CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
	root.Close()
	if err != nil {
		return nil, err
	}
	if w.db, err = sql.Open("mysql", mysqlDSN); err != nil {
		return nil, err
	}
	for i := 0; i < 100; i++ {
		if b, err := os.ReadFile(infoFile); err == nil && json.Unmarshal(b, &w.info) == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if w.info.Control == "" {
		return nil, errors.New("the providers never said where they are")
	}
	// The proxy first: the replicas' public URL is its address.
	if err := w.startProxy(); err != nil {
		return nil, err
	}
	if err := w.tool(ctx, "migrate"); err != nil {
		return nil, err
	}
	csv, err := w.accountsFile()
	if err != nil {
		return nil, err
	}
	if err := w.tool(ctx, "import", "accounts", csv); err != nil {
		return nil, err
	}
	keyFile := filepath.Join(o.dir, "partner.key")
	os.WriteFile(keyFile, []byte(partnerKey), 0o600)
	if err := w.tool(ctx, "partner", "add", "--id", partnerID, "--key-file", keyFile); err != nil {
		return nil, err
	}
	w.up = make([]atomic.Bool, o.replicas)
	for i := 0; i < o.replicas; i++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		w.addrs = append(w.addrs, addr)
		p := &proc{name: fmt.Sprintf("replica-%d", i), log: filepath.Join(o.dir, fmt.Sprintf("replica-%d.log", i)),
			args: []string{w.bin, "serve"}, env: append(w.env(), "GASPAY_ADDR="+addr)}
		w.replicas = append(w.replicas, p)
		if err := w.startReplica(i); err != nil {
			return nil, err
		}
	}
	ok = true
	return w, nil
}

// env is the replicas' configuration.
func (w *world) env() []string {
	m := map[string]string{
		"GASPAY_MYSQL_DSN": mysqlDSN, "GASPAY_REDIS_URL": redisURL, "GASPAY_REDIS_PREFIX": "chaos:",
		"GASPAY_PUBLIC_URL": w.proxyURL, "GASPAY_ADMIN_TOKEN": adminToken, "GASPAY_TRUSTED_PROXIES": "127.0.0.1",
		"GASPAY_JANITOR_INTERVAL": janitorInt.String(), "GASPAY_ORDER_TTL": "2m", "GASPAY_LOG_LEVEL": "warn",
		"GASPAY_BIND_FAIL_LIMIT": "1000", "GASPAY_ORDER_RATE_LIMIT": "100000", "GASPAY_BOX_OPEN_LIMIT": "100000",
		"GASPAY_METER_BIND_DAILY_LIMIT": "1000", "GASPAY_SHUTDOWN_TIMEOUT": "2s",
	}
	for k, v := range w.info.Env {
		m[k] = v
	}
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

// tool runs a one-shot gaspay command on the suite's storage.
func (w *world) tool(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, w.bin, args...)
	cmd.Env = append(os.Environ(), w.env()...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("gaspay %s: %w\n%s", strings.Join(args, " "), err, b)
	}
	return nil
}

// Seeded accounts: ordinary ones (bill credits, delivered at once, so a
// customer buys again and again) and IoT ones (a credit that stays
// pending: one purchase, then staff refund some).
const ordinaryAccounts, iotAccounts = 60, 400

func ordinaryNumber(i int) string { return fmt.Sprintf("0501%05d", i) }
func iotNumber(i int) string      { return fmt.Sprintf("0502%05d", i) }
func iotMeter(i int) string       { return fmt.Sprintf("3099%07d", i) }

func (w *world) accountsFile() (string, error) {
	var b bytes.Buffer
	b.WriteString("user_number,holder_name,address,phone,kind,meter_number,card_serial,card_type,balance_fen\n")
	for i := 0; i < ordinaryAccounts; i++ {
		fmt.Fprintf(&b, "%s,周测试,混沌路%d号,1380000%04d,ordinary,0501%07d,,,0\n", ordinaryNumber(i), i, i, i)
	}
	for i := 0; i < iotAccounts; i++ {
		fmt.Fprintf(&b, "%s,吴测试,混沌路%d号,1390000%04d,iot,%s,,,0\n", iotNumber(i), i, i, iotMeter(i))
	}
	for i := 0; i < cardAccounts; i++ {
		fmt.Fprintf(&b, "%s,郑测试,混沌路%d号,1370000%04d,iccard,,%s,volume,0\n", cardNumber(i), i, i, cardSerial(i))
	}
	f := filepath.Join(w.o.dir, "accounts.csv")
	return f, os.WriteFile(f, b.Bytes(), 0o644)
}

func (w *world) startReplica(i int) error {
	if err := w.replicas[i].start(); err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + w.addrs[i] + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				w.up[i].Store(true)
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("replica %d never ready (see %s)", i, w.replicas[i].log)
}

// startProxy is the round-robin in front of the replicas: customers and
// providers reach gaspay through it, as through a load balancer.
func (w *world) startProxy() error {
	port, err := freePort()
	if err != nil {
		return err
	}
	var next atomic.Uint64
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			addr := w.addrs[0]
			for range w.addrs {
				i := int(next.Add(1)) % len(w.addrs)
				if w.up[i].Load() {
					addr = w.addrs[i]
					break
				}
			}
			r.SetURL(&url.URL{Scheme: "http", Host: addr})
			r.Out.Host = r.In.Host
			r.SetXForwarded()
		},
		ErrorHandler: func(rw http.ResponseWriter, r *http.Request, err error) {
			rw.WriteHeader(http.StatusBadGateway)
			io.WriteString(rw, `{"code":"bad_gateway","message":"replica unreachable"}`)
		},
	}
	w.proxyURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	w.proxy = &http.Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), Handler: rp, ReadHeaderTimeout: 5 * time.Second}
	go w.proxy.ListenAndServe()
	return waitTCP(w.proxy.Addr, 5*time.Second)
}

func (w *world) close() {
	for _, r := range w.replicas {
		r.stop()
	}
	if w.proxy != nil {
		w.proxy.Close()
	}
	if w.db != nil {
		w.db.Close()
	}
	for _, p := range []*proc{w.providers, w.redis, w.mariadb} {
		if p != nil {
			p.stop()
		}
	}
}

// client is one customer (or the partner) talking to gaspay through the
// proxy, retrying what a real client retries: unreachable replicas, 502s
// and 503s, with the same idempotency key.
type client struct {
	w      *world
	http   *http.Client
	token  string
	cookie bool
	// relogin logs in again: sessions live in Redis, and a Redis that
	// lost its data ended them, as a customer would find.
	relogin  func(context.Context) error
	relogins atomic.Int64
}

type answer struct {
	status int
	body   map[string]any
	raw    []byte
}

func (a answer) code() string { c, _ := a.body["code"].(string); return c }

func (c *client) do(ctx context.Context, method, path string, body any, header map[string]string) (answer, error) {
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	var last error
	for attempt := 0; attempt < 60; attempt++ {
		if ctx.Err() != nil {
			return answer{}, ctx.Err()
		}
		req, _ := http.NewRequestWithContext(ctx, method, c.w.proxyURL+path, bytes.NewReader(raw))
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		if c.cookie {
			req.Header.Set("Origin", c.w.proxyURL)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			last = err
			time.Sleep(200 * time.Millisecond)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusServiceUnavailable ||
			resp.StatusCode == http.StatusInternalServerError {
			last = fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
			time.Sleep(300 * time.Millisecond)
			continue
		}
		a := answer{status: resp.StatusCode, raw: b}
		json.Unmarshal(b, &a.body)
		if a.status == http.StatusUnauthorized && a.code() == "session_expired" && c.relogin != nil && path != "/api/mp/login" {
			if err := c.relogin(ctx); err != nil {
				return answer{}, err
			}
			last = errors.New("session expired")
			continue
		}
		return a, nil
	}
	return answer{}, fmt.Errorf("gave up: %w", last)
}

func randN(n int) int {
	v, _ := rand.Int(rand.Reader, big.NewInt(int64(n)))
	return int(v.Int64())
}

// control calls the providers' control API.
func (w *world) control(ctx context.Context, method, path string, out any) error {
	req, _ := http.NewRequestWithContext(ctx, method, w.info.Control+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// partnerPay records a partner payment, retrying the same serial until
// gaspay answers.
func (w *world) partnerPay(ctx context.Context, serial, userNumber string, fen int64) (answer, error) {
	body, _ := json.Marshal(map[string]any{"serial": serial, "user_number": userNumber, "amount_fen": fen})
	for attempt := 0; attempt < 60; attempt++ {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		nonce := randhex.New(12)
		req, _ := http.NewRequestWithContext(ctx, "POST", w.proxyURL+"/partner/v1/pay", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Partner-Id", partnerID)
		req.Header.Set("X-Timestamp", ts)
		req.Header.Set("X-Nonce", nonce)
		req.Header.Set("X-Signature", partner.Sign([]byte(partnerKey), "POST", "/partner/v1/pay", ts, nonce, string(body)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			time.Sleep(300 * time.Millisecond)
			continue
		}
		a := answer{status: resp.StatusCode, raw: b}
		json.Unmarshal(b, &a.body)
		return a, nil
	}
	return answer{}, errors.New("partner pay: gave up")
}

// newCustomer logs a customer in through the mini-program (or, oa, the
// official account's OAuth) and binds its account.
func (w *world) newCustomer(ctx context.Context, name string, oa bool, userNumber, holder string) (*client, error) {
	jar, _ := cookiejar.New(nil)
	c := &client{w: w, http: &http.Client{Jar: jar, Timeout: 15 * time.Second}}
	c.relogin = func(ctx context.Context) error {
		c.relogins.Add(1)
		if oa {
			jar, _ := cookiejar.New(nil)
			c.http.Jar = jar
			return w.oaLogin(ctx, c, name)
		}
		c.token = ""
		a, err := c.do(ctx, "POST", "/api/mp/login", map[string]string{"code": "test:" + name}, nil)
		if err != nil || a.status != http.StatusOK {
			return fmt.Errorf("login %s: %v %s", name, err, a.raw)
		}
		c.token, _ = a.body["token"].(string)
		return nil
	}
	if err := c.relogin(ctx); err != nil {
		return nil, err
	}
	a, err := c.do(ctx, "POST", "/api/bindings", map[string]string{"by": "user_number", "number": userNumber, "holder_name": holder}, nil)
	if err != nil || (a.status != http.StatusCreated && a.status != http.StatusOK) {
		return nil, fmt.Errorf("bind %s: %v %d %s", userNumber, err, a.status, a.raw)
	}
	return c, nil
}

func (w *world) oaLogin(ctx context.Context, c *client, name string) error {
	noRedirect := *c.http
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for attempt := 0; attempt < 30; attempt++ {
		resp, err := noRedirect.Get(w.proxyURL + "/oa/login?next=/h5/")
		if err != nil || resp.StatusCode != http.StatusFound {
			if resp != nil {
				resp.Body.Close()
			}
			time.Sleep(300 * time.Millisecond)
			continue
		}
		resp.Body.Close()
		// WeChat's page, as the fake plays it for a user of our choosing.
		authorize, err := url.Parse(resp.Header.Get("Location"))
		if err != nil {
			return err
		}
		q := authorize.Query()
		q.Set("sandbox_user", name)
		authorize.RawQuery = q.Encode()
		resp, err = noRedirect.Get(authorize.String())
		if err != nil {
			continue
		}
		resp.Body.Close()
		cb := resp.Header.Get("Location")
		resp, err = noRedirect.Get(cb)
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusFound {
			c.cookie = true
			return nil
		}
		time.Sleep(300 * time.Millisecond)
	}
	return errors.New("official-account login never completed")
}

// report counts what the driver did.
type report struct {
	mu        sync.Mutex
	attempted int
	byChannel map[string]int
	outcomes  map[string]int
	errors    []string
}

func (r *report) add(channel, outcome string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byChannel[channel]++
	r.outcomes[outcome]++
}

func (r *report) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errors) < 20 {
		r.errors = append(r.errors, err.Error())
	}
	r.outcomes["driver_error"]++
}
