package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gaspay/bleproxy"
	"gaspay/units"
)

// sandboxMaster is the sandbox server's box master key (the spec's vector).
const sandboxMaster = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

// state is what survives between runs: a box remembers its HELLO counter,
// a card its image, a meter what it loaded.
type state struct {
	HelloCounter uint32 `json:"hello_counter"`
	OtherHello   uint32 `json:"other_hello_counter,omitempty"` // the second box of the hold faults
	Card         string `json:"card"`                          // hex of the 64-byte image
	MeterSeq     uint16 `json:"meter_seq"`
	MeterRemain  uint32 `json:"meter_remaining"`
	MeterUsage   uint32 `json:"meter_usage"`
}

type sim struct {
	base   string
	out    io.Writer
	client *http.Client
	token  string
	box    *bleproxy.Box
	sess   string
	serial bleproxy.CardSerial
	// admin is the staff token, for the refund the hold faults ask for.
	admin string
	// other is a second box, for the hold faults' read elsewhere.
	other *bleproxy.Box
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("boxsim", flag.ContinueOnError)
	base := fs.String("url", "http://localhost:8080", "the gaspay server")
	user := fs.String("user", "boxsim", "sandbox customer name (logs in with the code test:<name>)")
	number := fs.String("number", "031140086", "the card account's user number")
	holder := fs.String("holder", "秦淮", "the account's holder name")
	serialHex := fs.String("card", "0000000012345678", "the card serial")
	boxHex := fs.String("box", "4742000000000001", "the box id")
	volume := fs.Int64("volume", 10000, "gas to buy, 0.01 m3")
	fault := fs.String("fault", "", "none, pull, lose, hold, hold-new-session, wrong-key or tamper")
	admin := fs.String("admin-token", "", "the staff token the server printed (the hold faults ask for a refund)")
	masterHex := fs.String("master", sandboxMaster, "the box master key (the sandbox's by default)")
	statePath := fs.String("state", filepath.Join("data", "boxsim.json"), "where the box, card and meter are kept")
	if err := fs.Parse(args); err != nil {
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
	kcard := bleproxy.DeriveCardKey(master, serial)
	st, err := loadState(*statePath, *number, serial, kcard)
	if err != nil {
		return err
	}
	kbox := bleproxy.DeriveBoxKey(master, boxID)
	if *fault == "wrong-key" {
		// A box provisioned under another master key: genuine hardware of
		// somebody else, or a forgery.
		other, err := bleproxy.ParseMasterKey("f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f")
		if err != nil {
			return err
		}
		kbox = bleproxy.DeriveBoxKey(other, boxID)
	}
	if strings.HasPrefix(*fault, "hold") && *admin == "" {
		return errors.New("-fault " + *fault + " needs -admin-token: it asks staff for a refund")
	}
	s := &sim{base: *base, out: stdout, client: &http.Client{Timeout: 15 * time.Second}, serial: serial, admin: *admin}
	s.box = bleproxy.NewBox(boxID, kbox, bleproxy.BoxConfig{Firmware: 0x0102, HelloCounter: st.HelloCounter})
	otherID := boxID
	otherID[len(otherID)-1] ^= 0x80
	if st.OtherHello == 0 {
		st.OtherHello = st.HelloCounter
	}
	s.other = bleproxy.NewBox(otherID, bleproxy.DeriveBoxKey(master, otherID), bleproxy.BoxConfig{Firmware: 0x0102, HelloCounter: st.OtherHello})
	card := &bleproxy.Card{}
	raw, _ := hex.DecodeString(st.Card)
	copy(card.Image[:], raw)
	if *fault == "tamper" {
		card.Image[29] ^= 0x40 // the credit, changed without the card key
	}
	s.box.InsertCard(card)
	defer func() {
		st.HelloCounter, st.OtherHello = s.box.HelloCounter(), s.other.HelloCounter()
		if c := s.box.Card(); c != nil && *fault != "tamper" {
			st.Card = hex.EncodeToString(c.Image[:])
		}
		saveState(*statePath, st)
	}()

	if err := s.login(*user); err != nil {
		return err
	}
	s.say("1. logged in as %q through the sandbox", *user)
	var bound struct {
		AccountID int64  `json:"account_id"`
		Holder    string `json:"holder"`
	}
	if err := s.call("POST", "/api/bindings", map[string]string{"by": "user_number", "number": *number, "holder_name": *holder}, &bound, 200, 201); err != nil {
		return err
	}
	s.say("2. bound account %s (%s)", *number, bound.Holder)

	view, err := s.connect()
	if err != nil {
		return err
	}
	if err := s.showCard(view); err != nil {
		return err
	}
	if view.Pending != nil && view.Pending.WriteAvailable {
		s.say("   a paid purchase waits for this card: writing it, at no charge")
		return s.writeAndLoad(view.Pending.OrderNo, *fault, master, &st, kcard)
	}
	if !view.PurchaseAllowed {
		return fmt.Errorf("no purchase now: %s", view.Reason.Message)
	}

	var q struct {
		Volume       units.CentiM3 `json:"volume_centi_m3"`
		GrossFen     int64         `json:"gross_fen"`
		DeductionFen int64         `json:"deduction_fen"`
		PayableFen   int64         `json:"payable_fen"`
	}
	if err := s.call("POST", "/api/quotes", map[string]any{"account_id": view.AccountID, "volume_centi_m3": *volume}, &q, 200); err != nil {
		return err
	}
	s.say("5. quote: %s for %s yuan, %s from the balance, %s to pay", m3(int64(q.Volume)), yuan(q.GrossFen), yuan(q.DeductionFen), yuan(q.PayableFen))
	var created struct {
		Order struct {
			OrderNo string `json:"order_no"`
		} `json:"order"`
	}
	key := fmt.Sprintf("boxsim-%d", time.Now().UnixNano())
	if err := s.callWith("POST", "/api/orders", map[string]any{"account_id": view.AccountID, "volume_centi_m3": *volume, "channel": "wechat_mp"},
		map[string]string{"Idempotency-Key": key}, &created, 201); err != nil {
		return err
	}
	no := created.Order.OrderNo
	if err := s.call("POST", "/sandbox/wechat/pay/"+no, nil, nil, 200); err != nil {
		return err
	}
	s.say("6. order %s paid (sandbox WeChat Pay)", no)
	if _, err := s.read(); err != nil {
		return err
	}
	return s.writeAndLoad(no, *fault, master, &st, kcard)
}

// writeAndLoad writes a paid purchase to the card and inserts the card into
// the meter.
func (s *sim) writeAndLoad(no, fault string, master bleproxy.MasterKey, st *state, kcard bleproxy.Key) error {
	var ans answer
	if err := s.call("POST", "/api/box/sessions/"+s.sess+"/write", map[string]string{"order_no": no}, &ans, 200); err != nil {
		return err
	}
	switch fault {
	case "pull":
		s.box.InjectFault(bleproxy.FaultPull)
	case "lose":
		s.box.InjectFault(bleproxy.FaultLoseReply)
	case "hold", "hold-new-session":
		loaded, err := s.hold(no, ans.Frames, fault == "hold-new-session")
		if err != nil || !loaded {
			return err
		}
		return s.load(st, kcard)
	}
	view, err := s.deliver(ans.Frames)
	if errors.Is(err, bleproxy.ErrReplyLost) {
		s.say("7. the box wrote the card, but its answer was lost on the way")
		s.say("   reconnecting: a new session reads the card")
		if view, err = s.connect(); err != nil {
			return err
		}
		if view.Delivered == nil {
			return fmt.Errorf("the purchase was not found on the card: %+v", view)
		}
		s.say("   the purchase is on the card: delivered once, at order %s", view.Delivered.OrderNo)
	} else if err != nil {
		return err
	} else if view.Delivered == nil {
		s.say("7. the write did not complete (%s): %s", view.WriteStatus, view.Reason.Message)
		if fault == "pull" {
			s.box.InsertCard(s.box.Card())
			s.say("   the card is back in the box; run boxsim again to write it, at no charge")
		}
		return nil
	} else {
		s.say("7. card written: purchase %d, delivered — insert the card into the meter", view.Delivered.Seq)
	}
	return s.load(st, kcard)
}

// hold plays a phone that keeps the WRITE_CARD back (spec/box-protocol.md,
// "Session lifetime"): the card goes to another box and is read there,
// staff are asked for a refund, and the held frame is handed to the first
// box at last. While the first box's session lives the purchase is in
// doubt: no refund, and the late write delivers. With newSession the first
// box reconnects first: its old session is dead, the refund goes through,
// and the held frame reaches nothing. It reports whether the card was
// written.
func (s *sim) hold(no string, held []string, newSession bool) (bool, error) {
	s.say("7. the phone keeps the WRITE_CARD back")
	old := s.sess
	card := s.box.RemoveCard()
	if newSession {
		if _, err := s.connect(); err != nil {
			return false, err
		}
		s.say("   box %s opened a new session: the one carrying the held write is dead", s.box.ID())
	}
	b := &sim{base: s.base, out: s.out, client: s.client, token: s.token, box: s.other}
	b.box.InsertCard(card)
	v, err := b.connect()
	if err != nil {
		return false, err
	}
	inDoubt := v.Pending != nil && v.Pending.InDoubt
	s.say("   box %s reads the card: purchase %d; the purchase in doubt: %v", b.box.ID(), v.Seq, inDoubt)
	var refund struct{ Status string }
	err = s.callWith("POST", "/api/admin/orders/"+no+"/refund", map[string]string{"reason": "boxsim: held write"},
		map[string]string{"Authorization": "Bearer " + s.admin}, &refund, 202)
	if err != nil {
		s.say("   staff refund refused: %v", err)
	} else {
		s.say("   staff refund accepted: %s", refund.Status)
	}
	s.box.InsertCard(b.box.RemoveCard())
	f, err := dec(held[0])
	if err != nil {
		return false, err
	}
	reply, err := s.box.Handle(f)
	if err != nil {
		s.say("   the held frame reaches box %s, which refuses it: %v", s.box.ID(), err)
		if err := s.call("POST", "/api/box/sessions/"+old+"/read", nil, nil, 200); err != nil {
			s.say("   the server refuses the old session too: %v", err)
		}
		s.say("   money back, no gas: the card still holds purchase %d", v.Seq)
		return false, nil
	}
	var ans answer
	if err := s.call("POST", "/api/box/sessions/"+old+"/frames", map[string]string{"frame": enc(reply)}, &ans, 200); err != nil {
		return false, err
	}
	var view cardView
	if err := json.Unmarshal(ans.View, &view); err != nil {
		return false, err
	}
	if view.Delivered == nil {
		return true, fmt.Errorf("the held write landed but was not delivered: %s", ans.View)
	}
	s.say("   the held frame reaches box %s: purchase %d written and delivered, once", s.box.ID(), view.Delivered.Seq)
	return true, nil
}

// load inserts the card into the meter.
func (s *sim) load(st *state, kcard bleproxy.Key) error {
	meter := &bleproxy.Meter{Serial: s.serial, LastSeq: st.MeterSeq, Remaining: st.MeterRemain, Usage: st.MeterUsage}
	after, err := meter.Insert(kcard, s.box.Card().Image)
	if err != nil {
		return fmt.Errorf("the meter refused the card: %w", err)
	}
	st.MeterSeq, st.MeterRemain, st.MeterUsage = meter.LastSeq, meter.Remaining, meter.Usage
	s.box.InsertCard(&bleproxy.Card{Image: after})
	s.say("8. meter loaded purchase %d: %s remaining", meter.LastSeq, m3(int64(meter.Remaining)))
	return nil
}

type cardView struct {
	Event           string `json:"event"`
	Card            string `json:"card"`
	AccountID       int64  `json:"account_id"`
	UserNumber      string `json:"user_number"`
	Holder          string `json:"holder"`
	Seq             int    `json:"seq"`
	CreditState     string `json:"credit_state"`
	MeterRemaining  *int64 `json:"meter_remaining"`
	PurchaseAllowed bool   `json:"purchase_allowed"`
	WriteStatus     string `json:"write_status"`
	Reason          *struct {
		Code, Message string
	} `json:"reason"`
	Refusal *struct {
		Code, Message string
	} `json:"refusal"`
	Pending *struct {
		OrderNo        string `json:"order_no"`
		WriteAvailable bool   `json:"write_available"`
		InDoubt        bool   `json:"in_doubt"`
	} `json:"pending"`
	Delivered *struct {
		OrderNo string `json:"order_no"`
		Seq     int    `json:"seq"`
	} `json:"delivered"`
}

func (s *sim) showCard(v cardView) error {
	if v.Refusal != nil {
		return fmt.Errorf("card refused (%s): %s", v.Refusal.Code, v.Refusal.Message)
	}
	if v.Card != "present" {
		return fmt.Errorf("no card: %s", v.Reason.Message)
	}
	rem := "unknown"
	if v.MeterRemaining != nil {
		rem = m3(*v.MeterRemaining)
	}
	s.say("4. card read: account %s (%s), purchase %d, %s; meter had %s at its last insertion", v.UserNumber, v.Holder, v.Seq, v.CreditState, rem)
	return nil
}

type answer struct {
	SessionID string          `json:"session_id"`
	Frames    []string        `json:"frames"`
	View      json.RawMessage `json:"view"`
}

// connect opens a box session and reads the card.
func (s *sim) connect() (cardView, error) {
	hello, err := s.box.Hello()
	if err != nil {
		return cardView{}, err
	}
	var ans answer
	if err := s.call("POST", "/api/box/sessions", map[string]string{"hello": enc(hello)}, &ans, 201); err != nil {
		return cardView{}, err
	}
	s.sess = ans.SessionID
	f, err := dec(ans.Frames[0])
	if err != nil {
		return cardView{}, err
	}
	if err := s.box.HandleSession(f); err != nil {
		return cardView{}, fmt.Errorf("the box refused the server's SESSION: %w", err)
	}
	s.say("3. box %s connected: session %s", s.box.ID(), s.sess)
	return s.deliver(ans.Frames[1:])
}

func (s *sim) read() (cardView, error) {
	var ans answer
	if err := s.call("POST", "/api/box/sessions/"+s.sess+"/read", nil, &ans, 200); err != nil {
		return cardView{}, err
	}
	return s.deliver(ans.Frames)
}

// deliver gives the server's frames to the box and relays its replies.
func (s *sim) deliver(frames []string) (cardView, error) {
	var view cardView
	for _, b64 := range frames {
		f, err := dec(b64)
		if err != nil {
			return view, err
		}
		reply, err := s.box.Handle(f)
		if err != nil {
			return view, err
		}
		var ans answer
		if err := s.call("POST", "/api/box/sessions/"+s.sess+"/frames", map[string]string{"frame": enc(reply)}, &ans, 200); err != nil {
			return view, err
		}
		view = cardView{}
		if err := json.Unmarshal(ans.View, &view); err != nil {
			return view, err
		}
	}
	return view, nil
}

func (s *sim) login(user string) error {
	var out struct {
		Token string `json:"token"`
	}
	if err := s.call("POST", "/api/mp/login", map[string]string{"code": "test:" + user}, &out, 200); err != nil {
		return err
	}
	s.token = out.Token
	return nil
}

func (s *sim) call(method, path string, body, out any, want ...int) error {
	return s.callWith(method, path, body, nil, out, want...)
}

func (s *sim) callWith(method, path string, body any, headers map[string]string, out any, want ...int) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("is the server running at %s? %w", s.base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	for _, w := range want {
		if resp.StatusCode == w {
			if out != nil {
				return json.Unmarshal(raw, out)
			}
			return nil
		}
	}
	var e struct{ Code, Message string }
	json.Unmarshal(raw, &e)
	return fmt.Errorf("%s %s: %d %s: %s", method, path, resp.StatusCode, e.Code, e.Message)
}

func (s *sim) say(format string, args ...any) { fmt.Fprintf(s.out, format+"\n", args...) }

func enc(f bleproxy.Frame) string { return base64.StdEncoding.EncodeToString(f.Marshal()) }

func dec(s string) (bleproxy.Frame, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return bleproxy.Frame{}, err
	}
	return bleproxy.ParseFrame(b)
}

func m3(v int64) string     { return units.CentiM3(v).M3() + " m³" }
func yuan(fen int64) string { return units.Fen(fen).Yuan() }

// loadState reads the state file, or starts the card of the spec's test
// vector: purchase 4 loaded, 12.50 m3 remaining; and a HELLO counter from
// the clock, so that a fresh simulator never replays an old box's HELLO.
func loadState(path, number string, serial bleproxy.CardSerial, kcard bleproxy.Key) (state, error) {
	var st state
	b, err := os.ReadFile(path)
	if err == nil {
		return st, json.Unmarshal(b, &st)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return st, err
	}
	img := bleproxy.CardImage{CardType: bleproxy.CardVolume, UserNumber: number, Serial: serial, Seq: 4,
		State: bleproxy.CardLoaded, MeterRemaining: 1250, MeterUsage: 123456, WriteBackTime: 1700000000}
	raw, err := img.Seal(kcard)
	if err != nil {
		return st, err
	}
	return state{HelloCounter: uint32(time.Now().Unix()), Card: hex.EncodeToString(raw[:]), MeterSeq: 4, MeterRemain: 1250, MeterUsage: 123456}, nil
}

func saveState(path string, st state) {
	b, _ := json.MarshalIndent(st, "", "  ")
	os.MkdirAll(filepath.Dir(path), 0o750)
	os.WriteFile(path, b, 0o600)
}
