// Command relaybench measures the box relay of a whole gaspay server:
// frames relayed per second between phones and the server, with their
// latency, and the protocol crypto's cost per frame measured in the same
// run.
//
// It assembles the server in-process on a loopback listener, with the
// storage GASPAY_MYSQL_DSN and GASPAY_REDIS_URL name (embedded defaults
// otherwise), seeds IC-card accounts and customers who bind them, and plays
// one phone and box per worker: each opens a session, then relays card
// reads, a READ_CARD asked of the server and the box's CARD answer, each a
// relayed frame: session lock and state in Redis, counters, AES-GCM, the
// card's MAC, and the card's account, binding and pending purchase from the
// database.
//
//	GASPAY_MYSQL_DSN='root@tcp(127.0.0.1:3306)/gaspay_bench' \
//	GASPAY_REDIS_URL='redis://127.0.0.1:6379/2' \
//	go run ./cmd/relaybench -c 32 -d 20s
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
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"gaspay/app"
	"gaspay/auth"
	"gaspay/bleproxy"
	"gaspay/config"
	"gaspay/handlers"
	"gaspay/internal/loadtest"
	"gaspay/logging"
	"gaspay/models"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "relaybench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("relaybench", flag.ContinueOnError)
	conc := fs.Int("c", 32, "phones, each with its box and card")
	dur := fs.Duration("d", 20*time.Second, "measured duration")
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
		"GASPAY_DATA_DIR": getenv("GASPAY_DATA_DIR"), "GASPAY_PUBLIC_URL": base, "GASPAY_REDIS_PREFIX": "relaybench:",
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
	bg, stopBG := context.WithCancel(ctx)
	defer stopBG()
	go a.Cards.Recorder().Run(bg, 200*time.Millisecond)
	srv := handlers.Server("", a.Handler)
	go srv.Serve(ln)
	defer srv.Close()
	master, err := bleproxy.ParseMasterKey(app.SandboxBoxMasterKey)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "server: %s; %d CPUs\n", a.Describe(), runtime.NumCPU())

	phones, err := seed(ctx, a, master, *conc)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *conc * 2}, Timeout: 30 * time.Second}
	for _, p := range phones {
		p.base, p.client = base, client
		if err := p.connect(); err != nil {
			return err
		}
	}

	// The relay: every call is one frame through the server.
	work := func(ctx context.Context, w int) error {
		p := phones[w]
		if p.pendingRead {
			p.pendingRead = false
			return p.relayCard()
		}
		p.pendingRead = true
		return p.askRead()
	}
	loadtest.For(ctx, *conc, 2*time.Second, work) // warm-up
	st := loadtest.For(ctx, *conc, *dur, work)
	fmt.Fprintf(stdout, "relayed frames (READ_CARD asked, CARD answered), %d phones: %s\n", *conc, st)
	if st.Errors > 0 {
		return fmt.Errorf("frames failed: %v", st.FirstErr)
	}

	// The crypto one relayed CARD costs the server, timed on one core in
	// this run: open the sealed frame, verify the card's MAC, seal the next
	// READ_CARD.
	perFrame := cryptoCost(master, phones[0])
	cores := float64(runtime.NumCPU())
	fmt.Fprintf(stdout, "crypto per relayed frame pair: %s (open CARD + card MAC + seal READ_CARD) → %.1f%% of the %.0f µs of CPU each frame had on %d cores\n",
		perFrame.Round(10*time.Nanosecond), 100*perFrame.Seconds()/2/(cores/st.Rate()), 1e6*cores/st.Rate(), runtime.NumCPU())
	a.Cards.Recorder().Flush(ctx)
	var events int64
	a.Store.DB().Model(&models.BoxEvent{}).Count(&events)
	fmt.Fprintf(stdout, "box record: %d events written\n", events)
	return nil
}

// phone is one phone with its box and card.
type phone struct {
	base, token, session string
	client               *http.Client
	box                  *bleproxy.Box
	pendingRead          bool
	next                 string // the CARD frame to relay
}

func seed(ctx context.Context, a *app.App, master bleproxy.MasterKey, n int) ([]*phone, error) {
	now := time.Now().UTC()
	stamp := now.UnixNano() % 1_000_000
	var rows []models.ImportRow
	for i := range n {
		rows = append(rows, models.ImportRow{Line: i + 2, UserNumber: fmt.Sprintf("6%05d%05d", stamp%100000, i),
			HolderName: "压测", Address: "benchmark", Kind: models.KindICCard,
			CardSerial: fmt.Sprintf("BE%06X%08X", stamp, i), CardType: models.CardVolume})
	}
	if _, err := a.Store.ImportAccounts(ctx, rows, "residential", now); err != nil {
		return nil, err
	}
	mp, _ := a.Auth.Apps()
	var out []*phone
	for i, r := range rows {
		openID := fmt.Sprintf("relay-%d-%d", stamp, i)
		u, err := a.Store.UpsertUser(ctx, models.AppMiniProgram, mp.AppID, openID, nil, now)
		if err != nil {
			return nil, err
		}
		acc, err := a.Store.AccountByUserNumber(ctx, r.UserNumber)
		if err != nil {
			return nil, err
		}
		if _, _, err := a.Store.Bind(ctx, u.ID, acc.ID, 5, now); err != nil {
			return nil, err
		}
		token, _, err := a.Auth.Sessions().Create(ctx, auth.Session{UserID: u.ID, AppKind: models.AppMiniProgram, AppID: mp.AppID, OpenID: openID}, "")
		if err != nil {
			return nil, err
		}
		serial, err := bleproxy.ParseCardSerial(strings.ToLower(r.CardSerial))
		if err != nil {
			return nil, err
		}
		img := bleproxy.CardImage{CardType: bleproxy.CardVolume, UserNumber: r.UserNumber, Serial: serial, Seq: 1, State: bleproxy.CardLoaded}
		raw, err := img.Seal(bleproxy.DeriveCardKey(master, serial))
		if err != nil {
			return nil, err
		}
		id, err := bleproxy.ParseBoxID(fmt.Sprintf("bb%06x%08x", stamp, i))
		if err != nil {
			return nil, err
		}
		box := bleproxy.NewBox(id, bleproxy.DeriveBoxKey(master, id), bleproxy.BoxConfig{HelloCounter: uint32(now.Unix())})
		box.InsertCard(&bleproxy.Card{Image: raw})
		out = append(out, &phone{token: token, box: box})
	}
	return out, nil
}

type answer struct {
	SessionID string          `json:"session_id"`
	Frames    []string        `json:"frames"`
	View      json.RawMessage `json:"view"`
}

func (p *phone) connect() error {
	hello, err := p.box.Hello()
	if err != nil {
		return err
	}
	var a answer
	if err := p.post("/api/box/sessions", map[string]string{"hello": enc(hello)}, &a, http.StatusCreated); err != nil {
		return err
	}
	p.session = a.SessionID
	f, err := dec(a.Frames[0])
	if err != nil {
		return err
	}
	if err := p.box.HandleSession(f); err != nil {
		return err
	}
	// Answer the first READ_CARD.
	return p.answer(a.Frames[1])
}

func (p *phone) askRead() error {
	var a answer
	if err := p.post("/api/box/sessions/"+p.session+"/read", nil, &a, http.StatusOK); err != nil {
		return err
	}
	if len(a.Frames) != 1 {
		return errors.New("no READ_CARD")
	}
	f, err := dec(a.Frames[0])
	if err != nil {
		return err
	}
	reply, err := p.box.Handle(f)
	if err != nil {
		return err
	}
	p.next = enc(reply)
	return nil
}

func (p *phone) relayCard() error {
	var a answer
	return p.post("/api/box/sessions/"+p.session+"/frames", map[string]string{"frame": p.next}, &a, http.StatusOK)
}

func (p *phone) answer(frame string) error {
	f, err := dec(frame)
	if err != nil {
		return err
	}
	reply, err := p.box.Handle(f)
	if err != nil {
		return err
	}
	var a answer
	return p.post("/api/box/sessions/"+p.session+"/frames", map[string]string{"frame": enc(reply)}, &a, http.StatusOK)
}

func (p *phone) post(path string, body, out any, want int) error {
	var rd io.Reader = http.NoBody
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest("POST", p.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+p.token)
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s: %d %s", path, resp.StatusCode, raw)
	}
	return json.Unmarshal(raw, out)
}

// cryptoCost times the server's crypto for one READ_CARD/CARD pair.
func cryptoCost(master bleproxy.MasterKey, p *phone) time.Duration {
	id := p.box.ID()
	kbox := bleproxy.DeriveBoxKey(master, id)
	var bn, sn bleproxy.Nonce
	bn[0], sn[0] = 1, 2
	boxEnd := bleproxy.Session{BoxID: id, Key: bleproxy.DeriveSessionKey(kbox, bn, sn), Role: bleproxy.RoleBox}
	server := boxEnd
	server.Role = bleproxy.RoleServer
	card := p.box.Card().Image
	body := bleproxy.CardBody{Status: bleproxy.CardPresent, Image: card}
	const n = 20000
	frames := make([]bleproxy.Frame, n)
	for i := range frames {
		frames[i], _ = boxEnd.SealMessage(body)
	}
	start := time.Now()
	for i := range n {
		if _, err := server.OpenMessage(frames[i]); err != nil {
			panic(err)
		}
		if _, _, err := bleproxy.OpenCardImage(master, card); err != nil {
			panic(err)
		}
		if _, err := server.SealMessage(bleproxy.ReadCardBody{}); err != nil {
			panic(err)
		}
	}
	return time.Since(start) / n
}

func enc(f bleproxy.Frame) string { return base64.StdEncoding.EncodeToString(f.Marshal()) }

func dec(s string) (bleproxy.Frame, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return bleproxy.Frame{}, err
	}
	return bleproxy.ParseFrame(b)
}
