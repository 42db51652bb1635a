// Package wxpayfake is a fake WeChat Pay API v3 server for tests and for the
// server's sandbox mode.
//
// It speaks the real wire protocol, so the real SDK (and package wxpay on top
// of it) works against it unchanged: it verifies the merchant's
// WECHATPAY2-SHA256-RSA2048 request signatures, signs its responses in
// public-key mode, encrypts notification resources with AES-256-GCM under the
// APIv3 key and signs the notifications. Tests run it with httptest.NewServer;
// the sandbox mounts it on a loopback listener and lets customers "pay" by
// calling Server.Pay.
//
// Routes: JSAPI and Native prepay, query and close by out_trade_no, payment
// code (codepay) and reverse, domestic refunds and their query, the trade bill
// and its download. Everything else answers 404.
//
// What a test controls:
//   - customer actions: Pay, PayQuietly (the notification is lost), and the
//     outcome of a payment code through its last two digits (see AuthCode);
//   - notifications: SendPaymentNotification and SendRefundNotification with
//     NotifyOptions forge tampered, stale, mis-signed or mis-encrypted
//     variants; FinishRefund completes a refund and notifies;
//   - failures: InjectFault / FailNext per Route, SetLatency;
//   - observation: Order, Refund, Requests, AuthFailures.
//
// Protocol timestamps (request check, response and notification signatures)
// use the wall clock, because the SDK on the other side checks them against
// time.Now and cannot be given another clock. Business time (expiry, success
// times, bill dates, refund limits) uses Config.Now.
package wxpayfake

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config configures a fake merchant account.
type Config struct {
	// MchID is the merchant id every request must carry.
	MchID string
	// AppIDs are the app ids bound to the merchant (official account,
	// mini-program, kiosk app). Empty: any app id is accepted.
	AppIDs []string
	// MerchantPublicKey verifies request signatures.
	MerchantPublicKey *rsa.PublicKey
	// MerchantSerialNo is the serial_no requests must name.
	MerchantSerialNo string
	// PlatformKey signs responses and notifications.
	PlatformKey *rsa.PrivateKey
	// PlatformPublicKeyID is sent as Wechatpay-Serial.
	PlatformPublicKeyID string
	// APIv3Key (32 bytes) encrypts notification resources.
	APIv3Key string

	// Now is the business clock; nil means time.Now.
	Now func() time.Time
	// HTTPClient sends notifications; nil means a client with the 5 s
	// timeout WeChat Pay itself allows the merchant.
	HTTPClient *http.Client
	// NotifyRetries, when set, makes Pay, FinishRefund and automatic refunds
	// re-send an unacknowledged notification after each of these delays, like
	// WeChat's 15s/15s/30s/3m… schedule but as short as a test or sandbox
	// wants. Nil: one attempt only; tests re-send explicitly.
	NotifyRetries []time.Duration
	// AutoCompleteRefunds completes every refund (SUCCESS, with its
	// notification) RefundDelay after it is accepted, as the real service
	// does within minutes. Otherwise refunds stay PROCESSING until
	// FinishRefund.
	AutoCompleteRefunds bool
	// RefundDelay is the delay for AutoCompleteRefunds.
	RefundDelay time.Duration
	// BillsSameDay serves today's bill at once, built from what was paid so
	// far (the sandbox), where WeChat serves a day's bill after 10:00 the
	// next day.
	BillsSameDay bool
	// CodePayPolls is how many queries a payment code that is waiting for
	// the customer's password answers USERPAYING before it settles (see
	// AuthCode); 0 means 2.
	CodePayPolls int
	// CodePayDelay is when a CodePayAfterDelay customer pays, after the
	// scan; 0 means 20 s.
	CodePayDelay time.Duration
}

// Route names one API of the fake, for counters and fault injection. The
// value is the request pattern.
type Route string

// The routes the fake serves.
const (
	RouteJSAPI       Route = "POST /v3/pay/transactions/jsapi"
	RouteNative      Route = "POST /v3/pay/transactions/native"
	RouteCodePay     Route = "POST /v3/pay/transactions/codepay"
	RouteQuery       Route = "GET /v3/pay/transactions/out-trade-no/{out_trade_no}"
	RouteClose       Route = "POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close"
	RouteReverse     Route = "POST /v3/pay/transactions/out-trade-no/{out_trade_no}/reverse"
	RouteRefund      Route = "POST /v3/refund/domestic/refunds"
	RouteQueryRefund Route = "GET /v3/refund/domestic/refunds/{out_refund_no}"
	RouteTradeBill   Route = "GET /v3/bill/tradebill"
	RouteDownload    Route = "GET /v3/billdownload/file"
)

// Fault describes how the next requests on a route misbehave. Zero fields do
// nothing, so Fault{Status: 500, Code: "SYSTEM_ERROR"} is a plain error and
// Fault{BadSignature: true} a normal answer with a broken signature.
type Fault struct {
	// Status, Code and Message replace the answer with an API error.
	Status  int    // HTTP status, 4xx or 5xx
	Code    string // e.g. SYSTEM_ERROR
	Message string // free text
	// AfterApply performs the request before failing: the order is created,
	// paid or refunded although the merchant sees an error or nothing. This
	// is the case that makes "outcome unknown" necessary.
	AfterApply bool
	// Drop closes the connection without an answer (a transport error).
	Drop bool
	// BadSignature answers with a Wechatpay-Signature that does not verify.
	BadSignature bool
	// Corrupt alters the body after it was signed (or hashed, for the bill
	// download).
	Corrupt bool
	// Skew shifts the Wechatpay-Timestamp of the answer (negative: stale).
	Skew time.Duration
	// Delay holds the answer back, e.g. past the client's timeout.
	Delay time.Duration
}

type queuedFault struct {
	fault Fault
	times int
}

// Server is the fake. It is an http.Handler and safe for concurrent use.
type Server struct {
	cfg    Config
	mux    *http.ServeMux
	client *http.Client

	ctx    context.Context // canceled by Close; ends background retries
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu           sync.Mutex
	orders       map[string]*order   // by out_trade_no
	byTxID       map[string]*order   // by transaction_id
	refunds      map[string]*refund  // by out_refund_no
	authCodes    map[string]string   // payment code -> out_trade_no: codes are single use
	bills        map[string]billFile // download token -> file
	plants       []BillPlant
	users        map[string]map[string]bool
	counts       map[Route]int
	faults       map[Route][]*queuedFault
	latency      time.Duration
	authFailures int
}

// New checks cfg and returns a fake. Call Close when done if NotifyRetries or
// AutoCompleteRefunds are used, to stop their goroutines.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.MchID == "":
		return nil, errors.New("wxpayfake: MchID is required")
	case cfg.MerchantPublicKey == nil || cfg.MerchantSerialNo == "":
		return nil, errors.New("wxpayfake: MerchantPublicKey and MerchantSerialNo are required")
	case cfg.PlatformKey == nil || cfg.PlatformPublicKeyID == "":
		return nil, errors.New("wxpayfake: PlatformKey and PlatformPublicKeyID are required")
	case len(cfg.APIv3Key) != 32:
		return nil, errors.New("wxpayfake: APIv3Key must be 32 bytes")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CodePayPolls <= 0 {
		cfg.CodePayPolls = 2
	}
	if cfg.CodePayDelay <= 0 {
		cfg.CodePayDelay = 20 * time.Second
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:       cfg,
		client:    client,
		ctx:       ctx,
		cancel:    cancel,
		orders:    map[string]*order{},
		byTxID:    map[string]*order{},
		refunds:   map[string]*refund{},
		authCodes: map[string]string{},
		bills:     map[string]billFile{},
		users:     map[string]map[string]bool{},
		counts:    map[Route]int{},
		faults:    map[Route][]*queuedFault{},
	}
	mux := http.NewServeMux()
	mux.Handle(string(RouteJSAPI), s.route(RouteJSAPI, s.handleJSAPI))
	mux.Handle(string(RouteNative), s.route(RouteNative, s.handleNative))
	mux.Handle(string(RouteCodePay), s.route(RouteCodePay, s.handleCodePay))
	mux.Handle(string(RouteQuery), s.route(RouteQuery, s.handleQuery))
	mux.Handle(string(RouteClose), s.route(RouteClose, s.handleClose))
	mux.Handle(string(RouteReverse), s.route(RouteReverse, s.handleReverse))
	mux.Handle(string(RouteRefund), s.route(RouteRefund, s.handleRefund))
	mux.Handle(string(RouteQueryRefund), s.route(RouteQueryRefund, s.handleQueryRefund))
	mux.Handle(string(RouteTradeBill), s.route(RouteTradeBill, s.handleTradeBill))
	mux.Handle(string(RouteDownload), s.route(RouteDownload, s.handleDownload))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writePlain(w, errorReply(http.StatusNotFound, "NOT_FOUND", "no such API: "+r.Method+" "+r.URL.Path))
	})
	s.mux = mux
	return s, nil
}

// ServeHTTP serves the WeChat Pay API v3 routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close stops notification retries and automatic refund completion and
// waits for them.
func (s *Server) Close() {
	s.mu.Lock()
	s.cancel()
	s.mu.Unlock()
	s.wg.Wait()
}

// AddUser registers openID as a user of appID. Once an app id has users, a
// JSAPI prepay for it with any other openid is refused as WeChat refuses an
// openid of another app (official account versus mini-program).
func (s *Server) AddUser(appID, openID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users[appID] == nil {
		s.users[appID] = map[string]bool{}
	}
	s.users[appID][openID] = true
}

// Requests reports how many requests reached route, authenticated or not.
func (s *Server) Requests(route Route) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[route]
}

// AuthFailures reports how many requests were refused with SIGN_ERROR.
func (s *Server) AuthFailures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authFailures
}

// InjectFault makes the next times authenticated requests on route
// misbehave as f describes. Faults queue up in order.
func (s *Server) InjectFault(route Route, f Fault, times int) {
	if times <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[route] = append(s.faults[route], &queuedFault{fault: f, times: times})
}

// FailNext makes the next times requests on route answer the API error
// {code, message} with httpStatus, without performing them.
func (s *Server) FailNext(route Route, httpStatus int, code, message string, times int) {
	s.InjectFault(route, Fault{Status: httpStatus, Code: code, Message: message}, times)
}

// SetLatency delays every answer by d, to exercise timeouts and to measure.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

func (s *Server) popFault(route Route) Fault {
	q := s.faults[route]
	if len(q) == 0 {
		return Fault{}
	}
	f := q[0].fault
	q[0].times--
	if q[0].times == 0 {
		s.faults[route] = q[1:]
	}
	return f
}

// reply is what a handler answers before signing.
type reply struct {
	status      int
	body        []byte // nil for 204
	contentType string
	unsigned    bool // the bill file, like the real one, is not signed
}

func jsonReply(status int, v any) reply {
	b, err := json.Marshal(v)
	if err != nil {
		return errorReply(http.StatusInternalServerError, "SYSTEM_ERROR", "marshal: "+err.Error())
	}
	return reply{status: status, body: b, contentType: "application/json"}
}

func errorReply(status int, code, message string) reply {
	b, _ := json.Marshal(map[string]string{"code": code, "message": message})
	return reply{status: status, body: b, contentType: "application/json"}
}

func noContent() reply { return reply{status: http.StatusNoContent} }

type handler func(r *http.Request, body []byte) reply

// route wraps a handler with what every API shares: counting, merchant
// authentication, latency, faults and response signing.
func (s *Server) route(rt Route, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		s.mu.Lock()
		s.counts[rt]++
		s.mu.Unlock()
		if err != nil {
			writePlain(w, errorReply(http.StatusBadRequest, "PARAM_ERROR", "read body: "+err.Error()))
			return
		}
		if err := s.authenticate(r, body); err != nil {
			s.mu.Lock()
			s.authFailures++
			s.mu.Unlock()
			// Unsigned on purpose: a request that fails authentication gets
			// nothing a forger could use.
			writePlain(w, errorReply(http.StatusUnauthorized, "SIGN_ERROR", err.Error()))
			return
		}
		s.mu.Lock()
		f := s.popFault(rt)
		wait := s.latency + f.Delay
		s.mu.Unlock()
		if wait > 0 {
			select {
			case <-time.After(wait):
			case <-r.Context().Done():
				return
			}
		}
		var rep reply
		switch {
		case f.AfterApply:
			rep = h(r, body)
			if f.Status != 0 {
				rep = errorReply(f.Status, f.Code, f.Message)
			}
		case f.Status != 0:
			rep = errorReply(f.Status, f.Code, f.Message)
		case !f.Drop:
			rep = h(r, body)
		}
		if f.Drop {
			// The standard way to make net/http close the connection
			// without writing a response.
			panic(http.ErrAbortHandler)
		}
		s.write(w, rep, f)
	})
}

func writePlain(w http.ResponseWriter, rep reply) {
	w.Header().Set("Request-ID", randString(lowerHex, 32))
	if rep.contentType != "" {
		w.Header().Set("Content-Type", rep.contentType)
	}
	w.WriteHeader(rep.status)
	_, _ = w.Write(rep.body)
}

// write signs and sends a reply. Every answer to an authenticated request is
// signed, errors included; the SDK only checks 2xx ones.
func (s *Server) write(w http.ResponseWriter, rep reply, f Fault) {
	if rep.unsigned {
		if f.Corrupt && len(rep.body) > 0 {
			rep.body = corrupt(rep.body)
		}
		writePlain(w, rep)
		return
	}
	ts := time.Now().Add(f.Skew).Unix()
	nonce := randString(alphanumeric, 32)
	sig, err := s.sign(fmt.Sprintf("%d\n%s\n%s\n", ts, nonce, rep.body))
	if err != nil {
		writePlain(w, errorReply(http.StatusInternalServerError, "SYSTEM_ERROR", "sign: "+err.Error()))
		return
	}
	if f.BadSignature {
		sig = breakSignature(sig)
	}
	if f.Corrupt {
		if len(rep.body) > 0 {
			rep.body = corrupt(rep.body)
		} else {
			sig = breakSignature(sig)
		}
	}
	h := w.Header()
	h.Set("Wechatpay-Timestamp", strconv.FormatInt(ts, 10))
	h.Set("Wechatpay-Nonce", nonce)
	h.Set("Wechatpay-Serial", s.cfg.PlatformPublicKeyID)
	h.Set("Wechatpay-Signature", sig)
	h.Set("Wechatpay-Signature-Type", signatureType)
	writePlain(w, rep)
}

const signatureType = "WECHATPAY2-SHA256-RSA2048"

func (s *Server) sign(message string) (string, error) {
	sum := sha256.Sum256([]byte(message))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.cfg.PlatformKey, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// breakSignature returns a well-formed signature that does not verify.
func breakSignature(sig string) string {
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(raw) == 0 {
		return base64.StdEncoding.EncodeToString([]byte("broken"))
	}
	raw[len(raw)/2] ^= 0x01
	return base64.StdEncoding.EncodeToString(raw)
}

func corrupt(body []byte) []byte {
	out := append([]byte(nil), body...)
	i := len(out) / 2
	if out[i] == '0' {
		out[i] = '1'
	} else {
		out[i] = '0'
	}
	return out
}

// authParams are the fields of a WECHATPAY2-SHA256-RSA2048 Authorization
// header.
type authParams struct {
	MchID, Nonce, Timestamp, SerialNo, Signature string
}

// parseAuthorization decodes `WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",
// timestamp="…",serial_no="…",signature="…"`. It accepts the pairs in any
// order but each exactly once.
func parseAuthorization(h string) (authParams, error) {
	var p authParams
	scheme, rest, ok := strings.Cut(h, " ")
	if !ok || scheme != signatureType {
		return p, errors.New("authorization scheme must be " + signatureType)
	}
	seen := map[string]bool{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
			return p, fmt.Errorf("malformed authorization field %q", part)
		}
		if seen[k] {
			return p, fmt.Errorf("duplicate authorization field %q", k)
		}
		seen[k] = true
		v = v[1 : len(v)-1]
		switch k {
		case "mchid":
			p.MchID = v
		case "nonce_str":
			p.Nonce = v
		case "timestamp":
			p.Timestamp = v
		case "serial_no":
			p.SerialNo = v
		case "signature":
			p.Signature = v
		default:
			return p, fmt.Errorf("unknown authorization field %q", k)
		}
	}
	if p.MchID == "" || p.Nonce == "" || p.Timestamp == "" || p.SerialNo == "" || p.Signature == "" {
		return p, errors.New("authorization needs mchid, nonce_str, timestamp, serial_no and signature")
	}
	return p, nil
}

// authenticate checks the merchant's request signature the way WeChat Pay
// does: RSA-SHA256 over METHOD\nURI\ntimestamp\nnonce\nbody\n, URI as sent
// (path and query, still escaped), within five minutes.
func (s *Server) authenticate(r *http.Request, body []byte) error {
	p, err := parseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return err
	}
	if p.MchID != s.cfg.MchID {
		return errors.New("mchid in authorization is not this merchant")
	}
	if !strings.EqualFold(p.SerialNo, s.cfg.MerchantSerialNo) {
		return errors.New("serial_no is not the merchant certificate serial")
	}
	ts, err := strconv.ParseInt(p.Timestamp, 10, 64)
	if err != nil {
		return errors.New("timestamp is not a number")
	}
	if d := time.Now().Unix() - ts; d >= 300 || d <= -300 {
		return errors.New("timestamp is more than 5 minutes away")
	}
	sig, err := base64.StdEncoding.DecodeString(p.Signature)
	if err != nil {
		return errors.New("signature is not base64")
	}
	uri := r.RequestURI
	if !strings.HasPrefix(uri, "/") { // absolute form through a proxy
		u, err := url.Parse(uri)
		if err != nil {
			return errors.New("bad request URI")
		}
		uri = u.EscapedPath()
		if u.RawQuery != "" {
			uri += "?" + u.RawQuery
		}
	}
	msg := r.Method + "\n" + uri + "\n" + p.Timestamp + "\n" + p.Nonce + "\n" + string(body) + "\n"
	sum := sha256.Sum256([]byte(msg))
	if err := rsa.VerifyPKCS1v15(s.cfg.MerchantPublicKey, crypto.SHA256, sum[:], sig); err != nil {
		return errors.New("signature does not verify")
	}
	return nil
}

// Character sets for generated identifiers.
const (
	digits       = "0123456789"
	lowerHex     = "0123456789abcdef"
	upperHex     = "0123456789ABCDEF"
	alphanumeric = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	openIDChars  = alphanumeric + "_-"
)

func randString(alphabet string, n int) string {
	b := make([]byte, n)
	// crypto/rand does not fail on supported platforms (Go 1.24+ crashes the
	// program instead). The modulo bias is irrelevant for fake identifiers.
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
