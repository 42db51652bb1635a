// Package alipayfake is a fake Alipay open-platform gateway that speaks the
// real wire protocol, so that github.com/smartwalle/alipay/v3 (and package
// alipay over it) run against it unchanged: RSA2 request signatures are
// checked with the app's public key, every response node is signed with
// the fake's "Alipay" key over the exact bytes written, notifications are
// signed form POSTs.
//
// It serves the tests and the server's sandbox mode. Use it as an
// http.Handler on any listener:
//
//	keys, _ := alipayfake.NewKeys()
//	fake, _ := alipayfake.New(alipayfake.Config{AppID: "2021000000000001",
//		AppPublicKey: keys.AppPublicKey, AlipayPrivateKey: keys.AlipayPrivateKey})
//	srv := httptest.NewServer(fake) // or http.Server{Handler: fake} on a loopback listener
//	client, _ := alipay.New(alipay.Config{AppID: "2021000000000001",
//		AppPrivateKey: keys.AppPrivateKey, AlipayPublicKey: keys.AlipayPublicKey,
//		GatewayURL: srv.URL + alipayfake.GatewayPath})
//
// Customers act through methods (Pay, PayQuietly) or, in a browser, through
// the cashier page that a WAP URL or a precreate QR code opens. Tests steer
// the fake with SetCodeBehavior, FailNext, BreakNext, SetLatency and
// SendNotification, and observe it with Trade and Requests. All methods are
// safe for concurrent use; a Server holds all its state, nothing is global.
//
// Simplifications, each deliberate: a trade exists from the moment the
// cashier page is opened (Alipay waits for the buyer's login); trade.pay,
// expiry and refunds send no notification by themselves (SendNotification
// does, on demand); closing a closed trade succeeds; bills are zips of GBK
// CSV in Alipay's column layout, cover trade bills only, today included, and
// show the differences planted with PlantBillDifference.
package alipayfake

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"gaspay/internal/beijing"
)

// GatewayPath is where the fake serves the gateway; append it to the
// listener's URL for alipay.Config.GatewayURL.
const GatewayPath = "/gateway.do"

// Other paths, relative to the gateway's directory.
const (
	cashierPath    = "/cashier"            // GET ?out_trade_no=: the page a QR code opens
	cashierPayPath = "/cashier/pay"        // POST out_trade_no: the page's "pay" button
	billPath       = "/bill/download"      // GET ?token=: a bill file
	timeLayout     = "2006-01-02 15:04:05" // Alipay's, in Beijing time
)

// Trade statuses, as Alipay writes them.
const (
	StatusWaitBuyerPay = "WAIT_BUYER_PAY"
	StatusClosed       = "TRADE_CLOSED"
	StatusSuccess      = "TRADE_SUCCESS"
	StatusFinished     = "TRADE_FINISHED"
)

// Errors of the customer-action methods.
var (
	ErrNoTrade     = errors.New("alipayfake: no such trade")
	ErrNotPayable  = errors.New("alipayfake: trade cannot be paid")
	ErrNoNotifyURL = errors.New("alipayfake: trade has no notify_url")
)

// Config configures a Server.
type Config struct {
	// AppID is the only app the fake accepts.
	AppID string
	// AppPublicKey verifies the app's request signatures (PEM or base64 PKIX).
	AppPublicKey string
	// AlipayPrivateKey signs responses and notifications (PEM or base64,
	// PKCS#1 or PKCS#8). Its public half goes to alipay.Config.
	AlipayPrivateKey string
	// PublicURL is the URL at which clients and browsers reach the
	// gateway's directory (e.g. "https://sandbox.example/alipay"), for bill
	// download URLs and QR codes. "" derives it from each request.
	PublicURL string
	// NotifyClient posts notifications; nil means one with a 10 s timeout.
	NotifyClient *http.Client
	// Now is the fake's clock (trade times, expiry, bill dates, the bill
	// link's 30 s validity); nil means time.Now.
	Now func() time.Time
}

// Trade is a snapshot of a trade held by the fake.
type Trade struct {
	OutTradeNo   string
	TradeNo      string
	Subject      string
	Method       string // the API that created it, e.g. "alipay.trade.create"
	Status       string // StatusWaitBuyerPay, …
	TotalFen     int64
	RefundedFen  int64
	BuyerOpenID  string
	NotifyURL    string
	ReturnURL    string
	CreatedAt    time.Time
	PaidAt       time.Time
	ExpireAt     time.Time // zero: never
	CancelAction string    // "close" or "refund" once cancelled
	Refunds      []Refund
}

// Refund is one refund of a Trade.
type Refund struct {
	OutRequestNo string
	Fen          int64
	At           time.Time
}

// CodeBehavior decides how alipay.trade.pay answers for one payment code.
// The zero value (the default for every code) pays at once.
type CodeBehavior struct {
	// WaitQueries > 0: answer 10003 (buyer confirming), and the trade
	// becomes paid when the WaitQueries-th alipay.trade.query arrives.
	WaitQueries int
	// NeverPay: answer 10003 and never complete on its own; Pay, Cancel or
	// Close end it.
	NeverPay bool
	// FailSubCode: refuse with 40004 and this sub-code (for example
	// ACQ.PAYMENT_AUTH_CODE_INVALID or ACQ.BUYER_BALANCE_NOT_ENOUGH); no
	// trade is created.
	FailSubCode string
	FailSubMsg  string
	// BuyerOpenID is the payer; "" means a default sandbox buyer.
	BuyerOpenID string
	// PayAfter > 0: answer 10003, and the trade is paid once this much
	// time has passed on the fake's clock (seen at the next query).
	PayAfter time.Duration
	// RaceCancel: answer 10003 and wait; the buyer pays just as the first
	// alipay.trade.cancel arrives, which then answers ACQ.SYSTEM_ERROR with
	// retry_flag Y; the next cancel refunds.
	RaceCancel bool
	// SystemErrorPaid: pay, but answer 20000 (unknown): the merchant must
	// query.
	SystemErrorPaid bool
}

// CodeBehaviorOf is the behaviour of a payment code with no behaviour set
// by SetCodeBehavior, chosen by its last two digits as for the WeChat
// fake's codes, so that a simulator can choose it without reaching the
// fake: …91 waits two queries, …92 never pays, …93 cancelled by the buyer
// (never pays), …94 balance too low, …95 paid behind a system error, …96
// pays as the cancel arrives, …97 pays after 20 s. Any other ending pays at
// once.
func CodeBehaviorOf(authCode string) CodeBehavior {
	if len(authCode) < 2 {
		return CodeBehavior{}
	}
	switch authCode[len(authCode)-2:] {
	case "91":
		return CodeBehavior{WaitQueries: 2}
	case "92", "93":
		return CodeBehavior{NeverPay: true}
	case "94":
		return CodeBehavior{FailSubCode: "ACQ.BUYER_BALANCE_NOT_ENOUGH", FailSubMsg: "买家余额不足"}
	case "95":
		return CodeBehavior{SystemErrorPaid: true}
	case "96":
		return CodeBehavior{RaceCancel: true}
	case "97":
		return CodeBehavior{PayAfter: 20 * time.Second}
	}
	return CodeBehavior{}
}

// Break is a way to damage the next answers of one method, after the
// request has taken effect: the outcome the client sees is then unknown.
type Break int

// Kinds of Break.
const (
	// BreakBadSignature signs the node with a key that is not Alipay's.
	BreakBadSignature Break = iota + 1
	// BreakTamperedNode changes the node's bytes after signing (one space,
	// meaning unchanged): the signature covers the exact bytes.
	BreakTamperedNode
	// BreakUnsigned omits the signature.
	BreakUnsigned
	// BreakDropConnection closes the connection without an answer.
	BreakDropConnection
	// BreakBadGateway answers HTTP 502 with an HTML page, as a proxy would.
	BreakBadGateway
)

// Server is the fake gateway. It implements http.Handler.
type Server struct {
	appID        string
	appKey       *rsa.PublicKey
	key          *rsa.PrivateKey
	publicURL    string
	notifyClient *http.Client
	now          func() time.Time
	loc          *time.Location
	pages        *template.Template

	mu        sync.Mutex
	trades    map[string]*trade // by out_trade_no
	byTradeNo map[string]string // trade_no → out_trade_no
	cancelled map[string]bool   // cancelled before Alipay knew them: never payable
	seq       int64
	requests  map[string]int
	failures  map[string][]failure
	breaks    map[string][]Break
	behaviors map[string]CodeBehavior
	bills     map[string]billFile
	plants    []BillPlant
	latency   time.Duration
	otherKey  *rsa.PrivateKey // a key that is not Alipay's, made on first use
}

type trade struct {
	Trade
	buyerLogonID string
	waitQueries  int       // queries left before a waiting code payment completes
	neverPay     bool      // waiting code payment that never completes by itself
	payAt        time.Time // a waiting code payment completes at this time (zero: no)
	raceCancel   bool      // the buyer pays as the first cancel arrives
}

type failure struct {
	code, subCode string
	left          int
}

// New builds a Server from cfg.
func New(cfg Config) (*Server, error) {
	if cfg.AppID == "" {
		return nil, errors.New("alipayfake: AppID is empty")
	}
	appKey, err := parsePublicKey(cfg.AppPublicKey)
	if err != nil {
		return nil, fmt.Errorf("alipayfake: app public key: %w", err)
	}
	key, err := parsePrivateKey(cfg.AlipayPrivateKey)
	if err != nil {
		return nil, fmt.Errorf("alipayfake: alipay private key: %w", err)
	}
	pages, err := template.New("pages").Parse(pageTemplates)
	if err != nil {
		return nil, fmt.Errorf("alipayfake: templates: %w", err)
	}
	s := &Server{
		appID:        cfg.AppID,
		appKey:       appKey,
		key:          key,
		publicURL:    strings.TrimSuffix(cfg.PublicURL, "/"),
		notifyClient: cfg.NotifyClient,
		now:          cfg.Now,
		loc:          beijing.Location(),
		pages:        pages,
		trades:       make(map[string]*trade),
		byTradeNo:    make(map[string]string),
		cancelled:    make(map[string]bool),
		requests:     make(map[string]int),
		failures:     make(map[string][]failure),
		breaks:       make(map[string][]Break),
		behaviors:    make(map[string]CodeBehavior),
		bills:        make(map[string]billFile),
	}
	if s.notifyClient == nil {
		s.notifyClient = &http.Client{Timeout: 10 * time.Second}
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// ServeHTTP routes the gateway, the cashier pages and bill downloads. It
// matches on the end of the path, so the fake can be mounted under any
// prefix, with or without http.StripPrefix.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, GatewayPath):
		s.serveGateway(w, r)
	case strings.HasSuffix(p, cashierPayPath):
		s.serveCashierPay(w, r)
	case strings.HasSuffix(p, cashierPath):
		s.serveCashier(w, r)
	case strings.HasSuffix(p, billPath):
		s.serveBill(w, r)
	default:
		http.NotFound(w, r)
	}
}

// Trade returns a snapshot of the trade, and whether it exists.
func (s *Server) Trade(outTradeNo string) (Trade, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.trades[outTradeNo]
	if !ok {
		return Trade{}, false
	}
	s.expire(t)
	snap := t.Trade
	snap.Refunds = append([]Refund(nil), t.Refunds...)
	return snap, true
}

// Requests returns how many gateway requests named method (e.g.
// "alipay.trade.query") have arrived, valid or not.
func (s *Server) Requests(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[method]
}

// FailNext makes the next times requests of method fail with a signed node
// carrying code and subCode (e.g. "40004", "ACQ.TRADE_HAS_SUCCESS", or
// "20000", "ACQ.SYSTEM_ERROR"), without touching any trade. For
// alipay.trade.cancel a 20000 or ACQ.SYSTEM_ERROR failure carries
// retry_flag Y.
func (s *Server) FailNext(method, code, subCode string, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[method] = append(s.failures[method], failure{code: code, subCode: subCode, left: times})
}

// BreakNext damages the next times answers of method (see Break) after the
// request has taken effect.
func (s *Server) BreakNext(method string, b Break, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range times {
		s.breaks[method] = append(s.breaks[method], b)
	}
}

// SetLatency delays every gateway answer by d, after the request has taken
// effect, so that a client timeout leaves an outcome unknown.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetCodeBehavior decides how alipay.trade.pay treats authCode.
func (s *Server) SetCodeBehavior(authCode string, b CodeBehavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.behaviors[authCode] = b
}

// PayQuietly pays a waiting trade as the default sandbox buyer and sends no
// notification: the one Alipay sent was lost.
func (s *Server) PayQuietly(outTradeNo string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.payLocked(outTradeNo, "")
	return err
}

// Pay is the buyer paying: the trade becomes TRADE_SUCCESS, then the fake
// posts the signed notification to the trade's notify_url and returns what
// the merchant answered. The error concerns the payment only; a failed
// delivery is in NotifyResult.
func (s *Server) Pay(ctx context.Context, outTradeNo, buyerOpenID string) (NotifyResult, error) {
	s.mu.Lock()
	t, err := s.payLocked(outTradeNo, buyerOpenID)
	if err != nil {
		s.mu.Unlock()
		return NotifyResult{}, err
	}
	if t.NotifyURL == "" {
		s.mu.Unlock()
		return NotifyResult{}, nil
	}
	form := s.notificationForm(t)
	target := t.NotifyURL
	s.mu.Unlock()
	return s.deliver(ctx, target, form), nil
}

// payLocked marks the trade paid. s.mu must be held.
func (s *Server) payLocked(outTradeNo, buyerOpenID string) (*trade, error) {
	t, ok := s.trades[outTradeNo]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoTrade, outTradeNo)
	}
	s.expire(t)
	if t.Status != StatusWaitBuyerPay {
		return nil, fmt.Errorf("%w: %s is %s", ErrNotPayable, outTradeNo, t.Status)
	}
	s.markPaid(t, buyerOpenID)
	return t, nil
}

func (s *Server) markPaid(t *trade, buyerOpenID string) {
	if buyerOpenID == "" {
		buyerOpenID = t.BuyerOpenID
	}
	if buyerOpenID == "" {
		buyerOpenID = "sandbox_buyer_open_id"
	}
	t.BuyerOpenID = buyerOpenID
	t.buyerLogonID = "138******00"
	t.Status = StatusSuccess
	t.PaidAt = s.now()
	t.waitQueries, t.neverPay = 0, false
}

// expire closes a waiting trade past its time_expire. s.mu must be held.
func (s *Server) expire(t *trade) {
	if t.Status == StatusWaitBuyerPay && !t.ExpireAt.IsZero() && !s.now().Before(t.ExpireAt) {
		t.Status = StatusClosed
	}
}

// newTrade records a waiting trade. s.mu must be held.
func (s *Server) newTrade(method, outTradeNo, subject string, fen int64) *trade {
	s.seq++
	now := s.now()
	t := &trade{Trade: Trade{
		OutTradeNo: outTradeNo,
		// 28 digits like Alipay's: date, a fixed middle, a sequence.
		TradeNo:   now.In(s.loc).Format("20060102") + "22001" + fmt.Sprintf("%015d", s.seq),
		Subject:   subject,
		Method:    method,
		Status:    StatusWaitBuyerPay,
		TotalFen:  fen,
		CreatedAt: now,
	}}
	s.trades[outTradeNo] = t
	s.byTradeNo[t.TradeNo] = outTradeNo
	return t
}

// lookup finds a trade by out_trade_no or, failing that, trade_no. s.mu
// must be held.
func (s *Server) lookup(outTradeNo, tradeNo string) (*trade, bool) {
	if outTradeNo == "" {
		outTradeNo = s.byTradeNo[tradeNo]
	}
	t, ok := s.trades[outTradeNo]
	if ok {
		s.expire(t)
	}
	return t, ok
}

// wrongKey returns a key that is not Alipay's, for bad signatures.
func (s *Server) wrongKey() (*rsa.PrivateKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.otherKey == nil {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("alipayfake: wrong key: %w", err)
		}
		s.otherKey = k
	}
	return s.otherKey, nil
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
