package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gaspay/bleproxy"
	"gaspay/internal/randhex"
	"gaspay/kiosk/kioskclient"
)

// sandboxMaster is the box master key of the sandbox (spec test vectors).
const sandboxMaster = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

// state is what survives between runs: the reader's HELLO counter and the
// card's image.
type state struct {
	HelloCounter uint32            `json:"hello_counter"`
	Cards        map[string]string `json:"cards"` // serial → hex of the 64-byte image
}

// expected is the ending each fault should produce.
type expected struct{ outcome, card string }

var faults = map[string]expected{
	"":         {"paid", "card written"},
	"network":  {"paid", "card written"},
	"syserror": {"paid", "card written"},
	"paper":    {"paid", "card written"},
	"timeout":  {"reversed", "card not written"},
	"pull":     {"paid", "card not written"},
}

// codeFor makes a sandbox payment code whose last two digits choose the
// fake customer: 10 pays at once, 91 after a password, 92 never, 95 paid
// behind a system error.
func codeFor(pay, fault string) (string, error) {
	end := map[string]string{"timeout": "92", "network": "91", "syserror": "95"}[fault]
	if end == "" {
		end = "10"
	}
	n, err := rand.Int(rand.Reader, big.NewInt(1e14))
	if err != nil {
		return "", err
	}
	prefix := "13"
	if pay == "alipay" {
		prefix = "28"
	}
	return fmt.Sprintf("%s%014d%s", prefix, n.Int64(), end), nil
}

type sim struct {
	master bleproxy.MasterKey
	out    io.Writer
	term   *kioskclient.Terminal
	poll   time.Duration
}

func (s *sim) say(format string, args ...any) { fmt.Fprintf(s.out, format+"\n", args...) }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("kiosksim", flag.ContinueOnError)
	base := fs.String("url", "http://localhost:8080", "the gaspay server")
	id := fs.String("id", "K-0001", "the kiosk's id")
	keyFile := fs.String("key-file", "", "file holding the kiosk's HMAC key")
	boxHex := fs.String("box-id", "4B00000000000001", "the box id of the kiosk's card reader")
	serialHex := fs.String("card", "0000000012345679", "the IC card's serial")
	number := fs.String("number", "031140087", "the card's user number")
	cardType := fs.String("card-type", "amount", "the card's type when the state has none: amount or volume")
	masterHex := fs.String("master", sandboxMaster, "the box master key (the sandbox's by default)")
	pay := fs.String("pay", "wechat", "wechat, alipay or none (only read the card, and write a paid purchase waiting for it)")
	amount := fs.Int64("amount-fen", 0, "amount to buy, fen")
	volume := fs.Int64("volume", 0, "gas to buy, 0.01 m3")
	fault := fs.String("fault", "", "timeout, network, syserror, pull or paper")
	statePath := fs.String("state", filepath.Join("data", "kiosksim.json"), "where the reader and the card are kept")
	poll := fs.Duration("poll", 5*time.Second, "how often the kiosk asks about a payment")
	if err := fs.Parse(args); err != nil {
		return err
	}
	want, ok := faults[*fault]
	switch {
	case !ok:
		return fmt.Errorf("-fault %q: timeout, network, syserror, pull or paper", *fault)
	case *pay != "wechat" && *pay != "alipay" && *pay != "none":
		return errors.New("-pay: wechat, alipay or none")
	case *pay == "none" && *fault != "":
		return errors.New("-pay none takes no fault")
	case *amount > 0 && *volume > 0:
		return errors.New("give one of -amount-fen and -volume")
	case *amount == 0 && *volume == 0:
		*amount = 10000
	}
	if *keyFile == "" {
		return errors.New("-key-file is required (the key given to gaspay kiosk add)")
	}
	kb, err := os.ReadFile(*keyFile)
	if err != nil {
		return err
	}
	master, err := bleproxy.ParseMasterKey(*masterHex)
	if err != nil {
		return err
	}
	serial, err := bleproxy.ParseCardSerial(*serialHex)
	if err != nil {
		return err
	}
	boxID, err := bleproxy.ParseBoxID(*boxHex)
	if err != nil {
		return err
	}
	st, err := loadState(*statePath)
	if err != nil {
		return err
	}
	key := strings.ToUpper(*serialHex)
	if st.Cards[key] == "" {
		ct := bleproxy.CardAmount
		if *cardType == "volume" {
			ct = bleproxy.CardVolume
		}
		img := bleproxy.CardImage{CardType: ct, UserNumber: *number, Serial: serial, Seq: 4, State: bleproxy.CardLoaded,
			MeterRemaining: 1250, MeterUsage: 123456, WriteBackTime: uint32(time.Now().Unix())}
		raw, err := img.Seal(bleproxy.DeriveCardKey(master, serial))
		if err != nil {
			return err
		}
		st.Cards[key] = hex.EncodeToString(raw[:])
	}
	box := bleproxy.NewBox(boxID, bleproxy.DeriveBoxKey(master, boxID), bleproxy.BoxConfig{Firmware: 0x0201, HelloCounter: st.HelloCounter})
	card := &bleproxy.Card{}
	raw, _ := hex.DecodeString(st.Cards[key])
	copy(card.Image[:], raw)
	box.InsertCard(card)
	s := &sim{master: master, out: stdout, poll: *poll, term: &kioskclient.Terminal{Box: box, Client: &kioskclient.Client{URL: strings.TrimRight(*base, "/"),
		ID: *id, Key: []byte(strings.TrimSpace(string(kb))), HTTP: &http.Client{Timeout: 15 * time.Second}}}}
	var pulled *bleproxy.Card
	defer func() {
		st.HelloCounter = box.HelloCounter()
		c := box.Card()
		if c == nil {
			c = pulled
		}
		if c != nil {
			st.Cards[key] = hex.EncodeToString(c.Image[:])
		}
		saveState(*statePath, st)
	}()

	s.say("1. 读卡 / reading the card in reader %s", box.ID())
	v, err := s.term.Connect(ctx)
	if err != nil {
		return err
	}
	s.screen(v)
	if v.Refusal != nil {
		return fmt.Errorf("card refused: %s", v.Refusal.Code)
	}
	if v.Pending != nil {
		// A paid purchase waits for this card: written first, free.
		s.say("   a paid purchase %s waits for this card: writing it at no charge", v.Pending.OrderNo)
		written, err := s.write(ctx, v.Pending.OrderNo, "")
		if err != nil {
			return err
		}
		return s.last(ctx, v.Pending.OrderNo, written, expected{"paid", "card written"})
	}
	if *pay == "none" {
		s.say("card %s: nothing waiting", key)
		return nil
	}
	if !v.PurchaseAllowed {
		return fmt.Errorf("no purchase allowed: %s", v.Screen)
	}

	purchase := kioskclient.Purchase{}
	if *volume > 0 {
		purchase.VolumeCentiM3 = volume
	} else {
		purchase.AmountFen = amount
	}
	purchase.SessionID = s.term.Session
	q, err := s.term.Do(ctx, "POST", "/kiosk/v1/quotes", purchase, "")
	if err != nil || q.Status != http.StatusOK {
		return fmt.Errorf("quote: %v %d %s", err, q.Status, q.Body)
	}
	var quote struct {
		GrossFen     int64 `json:"gross_fen"`
		DeductionFen int64 `json:"deduction_fen"`
		PayableFen   int64 `json:"payable_fen"`
		Volume       int64 `json:"volume_centi_m3"`
	}
	json.Unmarshal(q.Body, &quote)
	s.say("2. 确认金额 / confirm: %s m3, %s yuan, 账户余额抵扣 %s, 应付 %s", dec(quote.Volume), dec(quote.GrossFen), dec(quote.DeductionFen), dec(quote.PayableFen))

	code, err := codeFor(*pay, *fault)
	if err != nil {
		return err
	}
	purchase.AuthCode = code
	s.say("3. 刷码支付 / scanning a %s payment code %s…%s", *pay, code[:4], code[len(code)-2:])
	idem := "kiosksim-" + randhex.New(8)
	o, a, err := s.term.PlaceOrder(ctx, purchase, idem)
	if *fault == "network" {
		s.say("   the network drops: the answer is lost; the kiosk asks again with the same request")
		o, a, err = s.term.PlaceOrder(ctx, purchase, idem)
	}
	if err != nil {
		return fmt.Errorf("order: %d %s: %w", a.Status, a.Body, err)
	}
	no := o.Order.OrderNo
	s.say("   order %s: %s", no, o.Screen)
	for o.Outcome == "paying" {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(s.poll):
		}
		if o, err = s.term.GetOrder(ctx, no); err != nil {
			return err
		}
		s.say("   %s (%s)", o.Screen, o.CodeState)
	}
	if o.Outcome != "paid" {
		return s.last(ctx, no, false, want)
	}

	s.say("4. 写卡 / writing the card")
	written, err := s.write(ctx, no, *fault)
	if err != nil {
		return err
	}
	if *fault == "pull" {
		pulled = box.RemoveCard()
		if pulled == nil {
			pulled = card
		}
	}
	if written {
		s.say("5. 打印收据 / printing the receipt")
		if *fault == "paper" {
			s.say("   打印机缺纸 / the printer is out of paper; paper refilled, reprinting order %s", no)
		}
		r, err := s.term.GetReceipt(ctx, no, *fault == "paper")
		if err != nil {
			return err
		}
		fmt.Fprint(s.out, r.Text)
	}
	return s.last(ctx, no, written, want)
}

// write writes a paid order to the card; pull takes the card out mid-write.
func (s *sim) write(ctx context.Context, no, fault string) (bool, error) {
	if fault == "pull" {
		s.term.Box.InjectFault(bleproxy.FaultPull)
	}
	v, err := s.term.Write(ctx, no)
	if err != nil {
		return false, err
	}
	if v != nil {
		s.screen(v)
	}
	if v == nil || v.Delivered == nil {
		return false, nil
	}
	// The customer takes the card home and inserts it into the meter: the
	// next purchase may then go.
	if c := s.term.Box.Card(); c != nil {
		img, kcard, err := bleproxy.OpenCardImage(s.master, c.Image)
		if err != nil {
			return true, err
		}
		m := &bleproxy.Meter{Serial: img.Serial, LastSeq: img.Seq - 1, Remaining: img.MeterRemaining, Usage: img.MeterUsage}
		after, err := m.Insert(kcard, c.Image)
		if err != nil {
			return true, fmt.Errorf("the meter refused the card: %w", err)
		}
		s.term.Box.InsertCard(&bleproxy.Card{Image: after})
		s.say("   the customer inserts the card into the meter: purchase %d loaded", m.LastSeq)
	}
	return true, nil
}

func (s *sim) screen(v *kioskclient.View) {
	if v == nil {
		return
	}
	if v.UserNumber != "" {
		bal := "?"
		if v.BalanceFen != nil {
			bal = dec(*v.BalanceFen)
		}
		s.say("   用户号 %s 户名 %s 地址 %s 账户余额 %s 元", v.UserNumber, v.Holder, v.Address, bal)
	}
	s.say("   屏幕: %s", v.Screen)
}

// last prints the contract's last line and says whether it was expected.
func (s *sim) last(ctx context.Context, no string, written bool, want expected) error {
	o, err := s.term.GetOrder(ctx, no)
	if err != nil {
		return err
	}
	card := "card not written"
	if written {
		card = "card written"
	}
	fmt.Fprintf(s.out, "order %s: %s, %s\n", no, o.Outcome, card)
	if o.Outcome != want.outcome || card != want.card {
		return fmt.Errorf("expected %s, %s", want.outcome, want.card)
	}
	return nil
}

func dec(n int64) string { return fmt.Sprintf("%d.%02d", n/100, n%100) }

func loadState(path string) (state, error) {
	st := state{Cards: map[string]string{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		st.HelloCounter = uint32(time.Now().Unix())
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, err
	}
	if st.Cards == nil {
		st.Cards = map[string]string{}
	}
	return st, nil
}

func saveState(path string, st state) {
	b, _ := json.MarshalIndent(st, "", "  ")
	os.MkdirAll(filepath.Dir(path), 0o750)
	os.WriteFile(path, b, 0o600)
}
