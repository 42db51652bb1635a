// Package wxpay is gaspay's WeChat Pay API v3 client: JSAPI and Native
// prepay, query, close, payment code (codepay) and reverse, refunds, the
// trade bill, and payment and refund notifications.
//
// It wraps the official SDK (github.com/wechatpay-apiv3/wechatpay-go) in
// public-key verification mode, so that start-up needs no network, and keeps
// every SDK type inside: callers see plain structs with money in int64 fen.
//
// Errors are of three kinds, and the difference matters for money:
//   - a refusal by WeChat Pay: *APIError (errors.As), with sentinels such as
//     ErrOrderNotFound (errors.Is) for the codes callers branch on;
//   - an unknown outcome: a transport failure, timeout, an answer whose
//     signature does not verify or that cannot be read, or a 5xx. The request
//     may or may not have taken effect; IsUnknown reports it, and the caller
//     must query (or retry with the same out_trade_no / out_refund_no), never
//     guess;
//   - a local failure before anything was sent (ErrInvalidRequest, signing).
package wxpay

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/notify"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/jsapi"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/native"
	"github.com/wechatpay-apiv3/wechatpay-go/services/refunddomestic"
)

// DefaultTimeout bounds each call when Config.HTTPClient is nil. WeChat
// answers in well under a second; a caller stuck longer is better off
// treating the outcome as unknown and querying.
const DefaultTimeout = 10 * time.Second

// Config is the merchant's WeChat Pay API v3 configuration.
type Config struct {
	// MchID is the merchant id (商户号).
	MchID string
	// MerchantSerialNo is the serial of the merchant API certificate whose
	// private key is MerchantKey.
	MerchantSerialNo string
	// MerchantKey signs requests and the front end's paySign.
	MerchantKey *rsa.PrivateKey
	// PlatformPublicKeyID is the WeChat Pay public key id, "PUB_KEY_ID_…".
	PlatformPublicKeyID string
	// PlatformPublicKey verifies responses and notifications.
	PlatformPublicKey *rsa.PublicKey
	// APIv3Key (32 bytes) decrypts notification resources.
	APIv3Key string
	// BaseURL, when set, sends every request meant for WeChat Pay to this
	// scheme and host instead (the sandbox or a test fake). Signatures cover
	// only path and query, so they stay valid. It must not have a path.
	BaseURL string
	// HTTPClient carries the calls; it must have a Timeout. Nil means a
	// client with DefaultTimeout.
	HTTPClient *http.Client
}

// String masks the secrets so that a Config can be logged.
func (c Config) String() string {
	return fmt.Sprintf("wxpay.Config{MchID: %s, MerchantSerialNo: %s, PlatformPublicKeyID: %s, BaseURL: %q, MerchantKey: ***, APIv3Key: ***}",
		c.MchID, c.MerchantSerialNo, c.PlatformPublicKeyID, c.BaseURL)
}

// GoString masks the secrets for %#v as well.
func (c Config) GoString() string { return c.String() }

func (c Config) validate() error {
	switch {
	case c.MchID == "":
		return errors.New("MchID is required")
	case c.MerchantSerialNo == "":
		return errors.New("MerchantSerialNo is required")
	case c.MerchantKey == nil || c.MerchantKey.N == nil:
		return errors.New("MerchantKey is required")
	case c.MerchantKey.N.BitLen() < 2048:
		return errors.New("MerchantKey must be RSA-2048 or larger")
	case c.PlatformPublicKeyID == "":
		return errors.New("PlatformPublicKeyID is required")
	case c.PlatformPublicKey == nil || c.PlatformPublicKey.N == nil:
		return errors.New("PlatformPublicKey is required")
	case len(c.APIv3Key) != 32:
		// aes.NewCipher would silently pick AES-128 or -192 for 16 or 24
		// bytes; WeChat uses AES-256.
		return errors.New("APIv3Key must be 32 bytes")
	case c.HTTPClient != nil && c.HTTPClient.Timeout <= 0:
		return errors.New("HTTPClient must have a Timeout")
	}
	return nil
}

// Client calls WeChat Pay API v3 for one merchant. It is safe for
// concurrent use.
type Client struct {
	mchID    string
	core     *core.Client // verifies every 2xx answer
	download *core.Client // signs but does not verify: bill files are unsigned
	jsapi    jsapi.JsapiApiService
	native   native.NativeApiService
	refunds  refunddomestic.RefundsApiService
	notify   *notify.Handler
}

// New builds a client. It makes no network call.
func New(cfg Config) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("wxpay: config: %w", err)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return nil, errors.New("wxpay: config: BaseURL must be an http(s) scheme and host without a path")
		}
		copied := *hc
		next := copied.Transport
		if next == nil {
			next = http.DefaultTransport
		}
		copied.Transport = &rewriteTransport{scheme: u.Scheme, host: u.Host, next: next}
		hc = &copied
	}
	ctx := context.Background()
	signed, err := core.NewClient(ctx,
		option.WithWechatPayPublicKeyAuthCipher(cfg.MchID, cfg.MerchantSerialNo, cfg.MerchantKey,
			cfg.PlatformPublicKeyID, cfg.PlatformPublicKey),
		option.WithHTTPClient(hc),
	)
	if err != nil {
		return nil, fmt.Errorf("wxpay: sdk client: %w", err)
	}
	download, err := core.NewClient(ctx,
		option.WithMerchantCredential(cfg.MchID, cfg.MerchantSerialNo, cfg.MerchantKey),
		option.WithoutValidator(),
		option.WithHTTPClient(hc),
	)
	if err != nil {
		return nil, fmt.Errorf("wxpay: sdk download client: %w", err)
	}
	// NewRSANotifyHandler, not NewNotifyHandler: the latter swallows a bad
	// key and returns nil.
	handler, err := notify.NewRSANotifyHandler(cfg.APIv3Key,
		verifiers.NewSHA256WithRSAPubkeyVerifier(cfg.PlatformPublicKeyID, *cfg.PlatformPublicKey))
	if err != nil {
		return nil, fmt.Errorf("wxpay: notify handler: %w", err)
	}
	return &Client{
		mchID:    cfg.MchID,
		core:     signed,
		download: download,
		jsapi:    jsapi.JsapiApiService{Client: signed},
		native:   native.NativeApiService{Client: signed},
		refunds:  refunddomestic.RefundsApiService{Client: signed},
		notify:   handler,
	}, nil
}

// isWechatHost reports whether host is one the SDK or a bill download URL
// uses.
func isWechatHost(host string) bool {
	return host == "api.mch.weixin.qq.com" || host == "api2.mch.weixin.qq.com"
}

// rewriteTransport redirects requests for WeChat Pay's hosts to BaseURL.
// The SDK hard-codes its host, and this is the one seam that reaches a fake
// without touching the SDK.
type rewriteTransport struct {
	scheme, host string
	next         http.RoundTripper
}

// RoundTrip sends r to BaseURL if it is for WeChat Pay, unchanged
// otherwise.
func (t *rewriteTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !isWechatHost(r.URL.Host) {
		return t.next.RoundTrip(r)
	}
	r2 := r.Clone(r.Context())
	r2.URL.Scheme, r2.URL.Host, r2.Host = t.scheme, t.host, t.host
	return t.next.RoundTrip(r2)
}

// fail turns an SDK error into ours. The SDK returns a nil result when it
// failed before sending (building or signing the request), a *core.APIError
// for a non-2xx answer, and the result with any other error once a request
// went out: transport failure, unverifiable or unreadable answer. That last
// kind is an unknown outcome.
func fail(op string, result *core.APIResult, err error) error {
	var ae *core.APIError
	switch {
	case errors.As(err, &ae):
		return fmt.Errorf("%s: %w", op, fromCore(ae))
	case result != nil:
		return fmt.Errorf("%s: %w", op, unknown(err))
	default:
		return fmt.Errorf("%s: %w", op, err)
	}
}

// closeResult releases the connection of a finished call. The SDK reads
// verified bodies into memory but leaves closing to the caller.
func closeResult(result *core.APIResult) {
	if result != nil && result.Response != nil && result.Response.Body != nil {
		_ = result.Response.Body.Close()
	}
}

// guard converts a panic inside the SDK (it dereferences answer fields
// without checking) into an unknown outcome.
func guard(op string, err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("%s: %w", op, unknown(fmt.Errorf("sdk panic: %v", p)))
	}
}
