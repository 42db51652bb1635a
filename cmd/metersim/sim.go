package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gaspay/bleproxy"
	"gaspay/config"
	"gaspay/iot/meterproto"
)

type meterState struct {
	ReportCounter     uint32 `json:"report_counter"`
	LastAppliedSeq    uint32 `json:"last_applied_seq"`
	Balance           int32  `json:"balance_fen"`
	CumulativeCentiM3 uint32 `json:"cumulative_centi_m3"`
	Valve             byte   `json:"valve"`
}

// demoBalances are the demo meters' balances as the demo data says they
// last reported.
var demoBalances = map[string]int32{"20231100001": 5678, "20231100002": 1203}

type sim struct {
	base    string
	http    *http.Client
	out     io.Writer
	master  bleproxy.MasterKey
	file    string
	state   map[string]*meterState
	fault   string
	timeout time.Duration
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("metersim", flag.ContinueOnError)
	fs.SetOutput(stdout)
	url := fs.String("url", "http://127.0.0.1:8080", "the gaspay server (sandbox)")
	file := fs.String("state", filepath.Join("data", "metersim.json"), "where the meters' state is kept")
	fault := fs.String("fault", "", "lose-ack, twice, offline, tamper or reject (with press)")
	keyFile := fs.String("master-key-file", "", "the meter master key (64 hex digits); default the sandbox key")
	timeout := fs.Duration("wait", 30*time.Second, "how long demo waits for the server")
	if err := fs.Parse(args); err != nil {
		return err
	}
	hexKey := config.SandboxMeterMasterKey
	if *keyFile != "" {
		b, err := os.ReadFile(*keyFile)
		if err != nil {
			return err
		}
		hexKey = string(b)
	}
	master, err := bleproxy.ParseMasterKey(hexKey)
	if err != nil {
		return err
	}
	switch *fault {
	case "", "lose-ack", "twice", "offline", "tamper", "reject":
	default:
		return fmt.Errorf("unknown fault %q", *fault)
	}
	s := &sim{base: strings.TrimRight(*url, "/"), http: &http.Client{Timeout: 15 * time.Second}, out: stdout, master: master,
		file: *file, state: map[string]*meterState{}, fault: *fault, timeout: *timeout}
	if b, err := os.ReadFile(*file); err == nil {
		if err := json.Unmarshal(b, &s.state); err != nil {
			return fmt.Errorf("state file %s: %w", *file, err)
		}
	}
	rest := fs.Args()
	if len(rest) < 2 {
		return errors.New("usage: metersim [flags] demo|press|report|use METER_NUMBER [CENTI_M3]")
	}
	cmd, number := rest[0], rest[1]
	if !meterproto.ValidMeterNumber(number) {
		return fmt.Errorf("%q is not a meter number", number)
	}
	switch cmd {
	case "press":
		err = s.press(ctx, number, meterproto.ReasonButton)
	case "report":
		err = s.press(ctx, number, meterproto.ReasonScheduled)
	case "use":
		if len(rest) < 3 {
			return errors.New("use METER_NUMBER CENTI_M3")
		}
		v, perr := strconv.ParseUint(rest[2], 10, 32)
		if perr != nil {
			return fmt.Errorf("volume %q", rest[2])
		}
		m := s.meter(number)
		m.Use(uint32(v), int32(v*3)) // 3.00 yuan per m3: 3 fen per 0.01 m3
		s.keep(m)
		fmt.Fprintf(s.out, "meter %s drew %s m³; balance %s yuan, valve %s\n", number, centi(int64(v)), centi(int64(m.Balance)), valve(m.Valve))
	case "demo":
		err = s.demo(ctx, number)
	default:
		return fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		return err
	}
	return s.save()
}

func (s *sim) meter(number string) *meterproto.Meter {
	st := s.state[number]
	if st == nil {
		st = &meterState{ReportCounter: uint32(time.Now().Unix()), Balance: demoBalances[number], CumulativeCentiM3: 123456}
		s.state[number] = st
	}
	return &meterproto.Meter{Number: number, Key: meterproto.MeterKey(s.master, number), ReportCounter: st.ReportCounter,
		LastAppliedSeq: st.LastAppliedSeq, Unit: meterproto.UnitFen, Balance: st.Balance, CumulativeCentiM3: st.CumulativeCentiM3,
		Valve: st.Valve, BatteryMV: 3580, SignalDBm: -97}
}

func (s *sim) keep(m *meterproto.Meter) {
	s.state[m.Number] = &meterState{ReportCounter: m.ReportCounter, LastAppliedSeq: m.LastAppliedSeq, Balance: m.Balance,
		CumulativeCentiM3: m.CumulativeCentiM3, Valve: m.Valve}
}

func (s *sim) save() error {
	b, _ := json.MarshalIndent(s.state, "", "  ")
	if err := os.MkdirAll(filepath.Dir(s.file), 0o755); err != nil {
		return err
	}
	return os.WriteFile(s.file, b, 0o600)
}

func centi(v int64) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

func valve(v byte) string {
	return map[byte]string{meterproto.ValveOpen: "open", meterproto.ValveClosedZero: "closed (zero balance)", meterproto.ValveClosed: "closed"}[v]
}

var resultText = map[meterproto.Result]string{
	meterproto.ResultApplied: "applied", meterproto.ResultAlreadyApplied: "already applied: nothing changed",
	meterproto.ResultOutOfSequence: "out of sequence: nothing changed", meterproto.ResultExpired: "expired (past not_after): nothing changed",
	meterproto.ResultRefused: "refused (balance ceiling): nothing changed",
}

func (s *sim) post(ctx context.Context, path string, body any, out any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return s.do(req, out)
}

func (s *sim) do(req *http.Request, out any) error {
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		if resp.StatusCode == http.StatusNotFound && strings.Contains(req.URL.Path, "/sandbox/") {
			return fmt.Errorf("%s: not found: is the server running in the sandbox (no GASPAY_CTWING_*, no GASPAY_WECHAT_*)?", req.URL.Path)
		}
		return fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

type uplinkAnswer struct {
	PushError string `json:"push_error"`
	Command   *struct {
		CommandID string `json:"command_id"`
		Payload   string `json:"payload"`
	} `json:"command"`
}

// uplink sends a message as the meter; the platform pushes it to the
// server and hands the meter its next command.
func (s *sim) uplink(ctx context.Context, number string, b []byte) (string, []byte, error) {
	var a uplinkAnswer
	if err := s.post(ctx, "/sandbox/ctwing/device/uplink", map[string]string{"device_id": number, "payload": hex.EncodeToString(b)}, &a); err != nil {
		return "", nil, err
	}
	if a.PushError != "" {
		fmt.Fprintf(s.out, "  (the platform's push to the server failed: %s)\n", a.PushError)
	}
	if a.Command == nil {
		return "", nil, nil
	}
	p, err := hex.DecodeString(a.Command.Payload)
	return a.Command.CommandID, p, err
}

// press makes the meter report and take its cached commands, one at a time.
func (s *sim) press(ctx context.Context, number string, reason meterproto.Reason) error {
	m := s.meter(number)
	defer s.keep(m)
	clock := uint32(time.Now().Unix())
	if s.fault == "offline" {
		clock += 11 * 24 * 3600 // past any command's not_after
		fmt.Fprintln(s.out, "meter was offline for 11 days; its clock is past every cached command's validity")
	}
	if s.fault == "reject" {
		m.MaxBalance = m.Balance + 1
	}
	b, err := m.Report(reason, clock)
	if err != nil {
		return err
	}
	what := map[meterproto.Reason]string{meterproto.ReasonButton: "button held 5 s", meterproto.ReasonScheduled: "daily report"}[reason]
	fmt.Fprintf(s.out, "meter %s: %s; reports balance %s yuan, purchase %d applied, valve %s\n", number, what, centi(int64(m.Balance)), m.LastAppliedSeq, valve(m.Valve))
	id, cmd, err := s.uplink(ctx, number, b)
	if err != nil {
		return err
	}
	if id == "" {
		fmt.Fprintln(s.out, "  no command waiting at the platform")
	}
	for id != "" {
		if s.fault == "tamper" {
			cmd = bytes.Clone(cmd)
			cmd[len(cmd)-1] ^= 0x01
		}
		res, rc, ans, err := m.Apply(cmd, clock)
		if err != nil {
			fmt.Fprintf(s.out, "  command %s refused: it does not authenticate (%v); not acknowledged\n", id, err)
			return nil
		}
		fmt.Fprintf(s.out, "  command %s: purchase %d, %s yuan: %s; balance %s yuan, valve %s\n", id, rc.Seq, centi(int64(rc.Credit)),
			resultText[res], centi(int64(m.Balance)), valve(m.Valve))
		if s.fault == "twice" {
			res2, _, _, _ := m.Apply(cmd, clock)
			fmt.Fprintf(s.out, "  the same command again: %s; balance %s yuan\n", resultText[res2], centi(int64(m.Balance)))
		}
		if s.fault == "lose-ack" {
			fmt.Fprintln(s.out, "  acknowledgement lost: the platform will hand the command again")
		} else if err := s.post(ctx, "/sandbox/ctwing/device/ack", map[string]string{"device_id": number, "command_id": id}, nil); err != nil {
			return err
		}
		id, cmd, err = s.uplink(ctx, number, ans)
		if err != nil {
			return err
		}
		if s.fault == "lose-ack" {
			break
		}
	}
	return nil
}
