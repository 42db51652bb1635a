// Package alipay is gaspay's Alipay client: trades (mobile web, mini-program,
// payment code, QR), queries, closes, cancels, refunds, bills and the
// asynchronous notifications, over github.com/smartwalle/alipay/v3 in public-key
// mode. Domain code sees only this package's types; amounts are integer fen.
//
// Every call ends in one of three ways, and callers must keep them apart:
//
//   - success (err == nil);
//   - a verified business failure, a *BizError carrying Alipay's code and
//     sub-code (the request was refused, nothing happened);
//   - an unknown outcome, IsUnknown(err): transport error, timeout, a
//     response that could not be verified, or Alipay saying "system busy".
//     The request may have taken effect; query, never guess.
//
// Two SDK behaviours this package exists to contain: the SDK returns a
// signed failure node with err == nil, and its Code.IsSuccess is true for
// 10003 (payment code still waiting for the buyer). Here only code 10000 is
// success and 10003 is ErrPending.
package alipay

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	sdk "github.com/smartwalle/alipay/v3"

	"gaspay/internal/beijing"
)

// ProductionGateway is Alipay's production gateway, used when
// Config.GatewayURL is empty.
const ProductionGateway = "https://openapi.alipay.com/gateway.do"

// DefaultTimeout bounds every call when Config.HTTPClient is nil. The SDK's
// own default is http.DefaultClient, which waits forever.
const DefaultTimeout = 10 * time.Second

// Alipay's time format, always in Beijing time.
const timeLayout = "2006-01-02 15:04:05"

// Product codes Alipay expects for each kind of trade.
const (
	productWap   = "QUICK_WAP_WAY"
	productJSAPI = "JSAPI_PAY"
	productF2F   = "FACE_TO_FACE_PAYMENT"
)

// Limits of Alipay's fields, checked here so that a bad argument is refused
// before it is signed and sent.
const (
	maxAmountFen  = 100_000_000 * 100 // total_amount ≤ 100,000,000.00 yuan
	maxSubjectLen = 256
	maxReasonLen  = 256
)

// Config configures a Client. Secrets are masked when it is printed.
type Config struct {
	AppID string
	// AppPrivateKey is the app's RSA private key: PKCS#1 or PKCS#8, PEM or
	// bare base64 (as Alipay's key tool writes it).
	AppPrivateKey string
	// AlipayPublicKey is Alipay's public key for this app (public-key mode),
	// PEM or bare base64. Not the app's own public key: New refuses that.
	AlipayPublicKey string
	// GatewayURL is "" for production, otherwise the gateway to use (the
	// sandbox fake, for one).
	GatewayURL string
	// HTTPClient must have a Timeout; nil means one with DefaultTimeout.
	HTTPClient *http.Client
}

// String masks the private key so that a Config can be printed or logged.
func (c Config) String() string {
	return fmt.Sprintf("alipay.Config{AppID:%s AppPrivateKey:%s AlipayPublicKey:%s GatewayURL:%s}",
		c.AppID, mask(c.AppPrivateKey), mask(c.AlipayPublicKey), c.GatewayURL)
}

// GoString masks like String, for %#v.
func (c Config) GoString() string { return c.String() }

// LogValue masks like String, for slog.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("app_id", c.AppID),
		slog.String("app_private_key", mask(c.AppPrivateKey)),
		slog.String("alipay_public_key", mask(c.AlipayPublicKey)),
		slog.String("gateway_url", c.GatewayURL),
	)
}

func mask(s string) string {
	if s == "" {
		return ""
	}
	return "***"
}

// Client calls Alipay. It is safe for concurrent use.
type Client struct {
	sdk   *sdk.Client
	appID string
	http  *http.Client
	// loc is Beijing time: Alipay reads and writes every time in it.
	loc *time.Location
}

// New builds a Client. It makes no network call.
func New(cfg Config) (*Client, error) {
	if cfg.AppID == "" {
		return nil, errors.New("alipay: new: AppID is empty")
	}
	gateway := cfg.GatewayURL
	if gateway == "" {
		gateway = ProductionGateway
	}
	if u, err := url.Parse(gateway); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("alipay: new: bad gateway URL %q", gateway)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	} else if hc.Timeout <= 0 {
		return nil, errors.New("alipay: new: HTTPClient has no timeout")
	}
	appKey, err := parsePrivateKey(cfg.AppPrivateKey)
	if err != nil {
		return nil, fmt.Errorf("alipay: new: app private key: %w", err)
	}
	alipayKey, err := parsePublicKey(cfg.AlipayPublicKey)
	if err != nil {
		return nil, fmt.Errorf("alipay: new: alipay public key: %w", err)
	}
	if alipayKey.Equal(appKey.Public()) {
		// The classic mix-up: every response would then fail verification.
		return nil, errors.New("alipay: new: AlipayPublicKey is the app's own public key, not Alipay's")
	}
	loc := beijing.Location()
	// production=false with an explicit gateway, on purpose: in production
	// mode the SDK downloads a certificate from the gateway whenever a
	// response or notification names an alipay_cert_sn it does not know,
	// which a forged notification can trigger at will. Public-key mode never
	// needs that; the flag changes nothing else.
	client, err := sdk.New(cfg.AppID, cfg.AppPrivateKey, false,
		sdk.WithSandboxGateway(gateway),
		sdk.WithHTTPClient(hc),
		sdk.WithTimeLocation(loc),
	)
	if err != nil {
		return nil, fmt.Errorf("alipay: new: %w", err)
	}
	if err := client.LoadAliPayPublicKey(cfg.AlipayPublicKey); err != nil {
		return nil, fmt.Errorf("alipay: new: load alipay public key: %w", err)
	}
	return &Client{sdk: client, appID: cfg.AppID, http: hc, loc: loc}, nil
}

// parsePrivateKey reads the key the way the SDK does (PEM or bare base64,
// PKCS#1 or PKCS#8), so that New can fail early with a clear message and
// compare it with the Alipay public key. Errors never quote the key.
func parsePrivateKey(s string) (*rsa.PrivateKey, error) {
	der, err := keyBytes(s)
	if err != nil {
		return nil, err
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, errors.New("not a PKCS#1 or PKCS#8 private key")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA key")
	}
	return rk, nil
}

func parsePublicKey(s string) (*rsa.PublicKey, error) {
	der, err := keyBytes(s)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, errors.New("not a PKIX public key")
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("not an RSA key")
	}
	return rk, nil
}

func keyBytes(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("empty")
	}
	if strings.HasPrefix(s, "-----") {
		block, _ := pem.Decode([]byte(s))
		if block == nil {
			return nil, errors.New("bad PEM")
		}
		return block.Bytes, nil
	}
	der, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("neither PEM nor base64")
	}
	return der, nil
}

// header is the part common to every response node.
type header struct {
	Code    string `json:"code"`
	Msg     string `json:"msg"`
	SubCode string `json:"sub_code"`
	SubMsg  string `json:"sub_msg"`
}

func (h *header) head() *header { return h }

func (h *header) bizError() *BizError {
	return &BizError{Code: h.Code, Msg: h.Msg, SubCode: h.SubCode, SubMsg: h.SubMsg}
}

// node is a response node type of this package; our own structs rather
// than the SDK's so that only the fields we use are decoded.
type node interface{ head() *header }

// send signs p, posts it and verifies the answer's signature into dst. Any
// error is an unknown outcome; business codes are left to the caller.
func (c *Client) send(ctx context.Context, op string, p sdk.Param, dst node) error {
	err := c.sdk.Request(ctx, p, dst)
	if err == nil {
		if dst.head().Code == "" {
			return unknown(op, errors.New("response node without code"))
		}
		return nil
	}
	// An unsigned node (or a bare error_response) comes back from the SDK
	// as *sdk.Error. Nothing vouches for it, so it cannot prove that the
	// request failed: report it, but as unknown.
	var se *sdk.Error
	if errors.As(err, &se) {
		return unknown(op, fmt.Errorf("unsigned response %s %s", se.Code, se.SubCode))
	}
	return unknown(op, err)
}

// call is send plus the rule that only 10000 is success.
func (c *Client) call(ctx context.Context, op string, p sdk.Param, dst node) error {
	if err := c.send(ctx, op, p, dst); err != nil {
		return err
	}
	if h := dst.head(); h.Code != codeSuccess {
		return fmt.Errorf("alipay: %s: %w", op, h.bizError())
	}
	return nil
}

// formatTime writes t the way Alipay reads it.
func (c *Client) formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(c.loc).Format(timeLayout)
}

// parseTime reads an Alipay time; a missing or malformed one is the zero
// time, because a timestamp must never block a payment that is otherwise
// proven.
func (c *Client) parseTime(s string) time.Time {
	t, err := time.ParseInLocation(timeLayout, s, c.loc)
	if err != nil {
		return time.Time{}
	}
	return t
}

// checkNo applies Alipay's rule for out_trade_no (up to 64 letters, digits
// and underscores) to our numbers, out_request_no included.
func checkNo(what, no string) error {
	ok := len(no) >= 1 && len(no) <= 64
	for i := 0; ok && i < len(no); i++ {
		b := no[i]
		ok = b == '_' || (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z')
	}
	if !ok {
		return fmt.Errorf("%w: %s must be 1-64 letters, digits or _", ErrInvalidRequest, what)
	}
	return nil
}

// checkAuthCode accepts the digits of a payment code (16-24 in practice,
// with slack either side).
func checkAuthCode(code string) error {
	ok := len(code) >= 10 && len(code) <= 32
	for i := 0; ok && i < len(code); i++ {
		ok = code[i] >= '0' && code[i] <= '9'
	}
	if !ok {
		return fmt.Errorf("%w: payment code must be 10-32 digits", ErrInvalidRequest)
	}
	return nil
}

func checkAmount(fen int64) error {
	if fen <= 0 || fen > maxAmountFen {
		return fmt.Errorf("%w: amount %d fen out of range", ErrInvalidRequest, fen)
	}
	return nil
}

func checkSubject(s string) error {
	// Alipay refuses /, = and & in a subject.
	if s == "" || len(s) > maxSubjectLen || strings.ContainsAny(s, "/=&") {
		return fmt.Errorf("%w: subject must be 1-%d bytes without / = &", ErrInvalidRequest, maxSubjectLen)
	}
	return nil
}

// checkURL accepts "" (not wanted) or an absolute http(s) URL. A notify URL
// must carry no query string: Alipay's notification signature then fails.
func checkURL(what, s string, noQuery bool) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%w: %s is not an absolute http(s) URL", ErrInvalidRequest, what)
	}
	if noQuery && (u.RawQuery != "" || u.ForceQuery) {
		return fmt.Errorf("%w: %s must not have a query string", ErrInvalidRequest, what)
	}
	return nil
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("alipay: %s: %w", op, err)
}
