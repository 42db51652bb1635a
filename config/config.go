// Package config loads gaspay's one configuration struct from the
// environment. Every variable is prefixed GASPAY_; a secret may instead be
// read from the file named by the same variable with a _FILE suffix, which is
// how container platforms mount them. Secrets are masked whenever the
// configuration is printed or logged.
//
// An empty configuration is valid: every part that is not configured runs on
// its embedded default (SQLite file, in-process Redis, sandbox providers), so
// that one command shows every flow. Production refuses to start while any
// such part is in use.
package config

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Environments.
const (
	EnvDevelopment = "development"
	EnvProduction  = "production"
)

// Secret is a configuration value that must never be printed. Its String,
// GoString, MarshalText and LogValue all answer "[redacted]"; Reveal gives the
// value to the one place that needs it.
type Secret string

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// IsSet reports whether the secret has a value.
func (s Secret) IsSet() bool { return s != "" }

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return `config.Secret("` + s.String() + `")` }

// MarshalText keeps JSON and other encoders from printing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue keeps slog from printing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// WeChatApp is one WeChat application: the mini-program or the official account.
type WeChatApp struct {
	AppID  string
	Secret Secret
}

// WeChatPay is a WeChat Pay merchant (API v3, public-key verification).
type WeChatPay struct {
	MchID string
	// SerialNo is the serial of the merchant API certificate.
	SerialNo string
	// PrivateKey is the merchant API private key, PEM (apiclient_key.pem).
	PrivateKey Secret
	// PublicKeyID and PublicKey are WeChat Pay's public key ("PUB_KEY_ID_…"
	// and its PEM), which verifies answers and notifications.
	PublicKeyID string
	PublicKey   string
	// APIv3Key decrypts notifications.
	APIv3Key Secret
	// BaseURL replaces https://api.mch.weixin.qq.com (tests).
	BaseURL string
}

// Alipay is an Alipay app (public-key mode).
type Alipay struct {
	AppID string
	// PrivateKey is the app's private key, PEM or bare base64.
	PrivateKey Secret
	// PublicKey is Alipay's public key (not the app's).
	PublicKey string
	// Gateway replaces the production gateway (tests).
	Gateway string
}

// Config is everything the server reads from its environment.
type Config struct {
	// Env is "development" (the default) or "production".
	Env string
	// Addr is the listen address.
	Addr string
	// PublicURL is the origin customers' browsers and providers reach the
	// server at: OAuth redirect URIs and notification URLs are built from it.
	PublicURL string
	// DataDir holds the embedded SQLite file.
	DataDir string
	// MySQLDSN selects MySQL/MariaDB; empty means the embedded SQLite file.
	MySQLDSN Secret
	// RedisURL selects a Redis server; empty means an in-process Redis.
	RedisURL Secret
	// RedisPrefix starts every key the server writes, so that several
	// deployments (or test runs) can share one Redis.
	RedisPrefix string

	// WeChatAPIBase is the api.weixin.qq.com origin; a setting so that a fake
	// can stand in for it.
	WeChatAPIBase string
	// WeChatOAuthURL is the official account's authorize page.
	WeChatOAuthURL string
	// WeChatMP and WeChatOA are the mini-program and the official account.
	// With neither configured, WeChat runs as an in-process sandbox.
	WeChatMP WeChatApp
	WeChatOA WeChatApp
	// WeChatTimeout bounds every call to the WeChat API.
	WeChatTimeout time.Duration

	// WeChatPay is the merchant's WeChat Pay API v3 configuration; with
	// no merchant id, WeChat Pay runs as an in-process sandbox.
	WeChatPay WeChatPay

	// Alipay is the Alipay app; with no app id, Alipay runs as an
	// in-process sandbox.
	Alipay Alipay

	// BoxMasterKey is the recharge boxes' master key, 64 hex digits, read
	// only from GASPAY_BOX_MASTER_KEY_FILE; empty means the sandbox key.
	BoxMasterKey Secret
	// BoxSessionTTL is how long an idle box session lives.
	BoxSessionTTL time.Duration

	// OrderTTL is how long an order may be paid.
	OrderTTL time.Duration
	// JanitorInterval is how often unknown outcomes are chased.
	JanitorInterval time.Duration

	// ReconcileAfter is the time of day (Beijing) after which yesterday's
	// bills are reconciled; the providers publish them after 10:00.
	ReconcileAfter time.Duration
	// ReconcileRetry is how long to wait before asking again for a bill
	// that was not ready or failed.
	ReconcileRetry time.Duration
	// DeliveryAlertAge: paid credits undelivered for longer raise an alert.
	DeliveryAlertAge time.Duration
	// AlipayBillAccount is the account Alipay's bills name (the 2088…
	// partner id); empty means the app id.
	AlipayBillAccount string

	// SessionTTL is how long a customer's login lasts.
	SessionTTL time.Duration
	// BindingLimit is how many accounts one WeChat user may bind.
	BindingLimit int
	// BindFailLimit failed binding attempts per BindFailWindow, per user and
	// per IP, are allowed before further attempts are refused.
	BindFailLimit  int
	BindFailWindow time.Duration
	// PurchaseLimitFen is the most one purchase may cost.
	PurchaseLimitFen int64
	// OANextPaths are the path prefixes an official-account login may
	// return to.
	OANextPaths []string
	// UtilityName is the utility's name as customers know it: the service
	// hall's pages and receipts show it.
	UtilityName string

	// TrustedProxies are the CIDRs of reverse proxies whose
	// X-Forwarded-For is believed; none by default, so a client cannot
	// choose the IP its attempts are counted against.
	TrustedProxies []string

	// AdminToken authenticates staff calls until staff accounts exist.
	AdminToken Secret

	// MeterBindDailyLimit is how many accounts one user may bind by meter
	// number alone per day (Beijing time): a meter number is printed on
	// the meter, so it proves little.
	MeterBindDailyLimit int
	// OrderRateLimit orders per OrderRateWindow may one user create.
	OrderRateLimit  int
	OrderRateWindow time.Duration
	// BoxOpenLimit box sessions per BoxOpenWindow may one user, and one
	// box, open.
	BoxOpenLimit  int
	BoxOpenWindow time.Duration

	// MetricsAddr, when set, serves /metrics on its own listener (for the
	// monitoring network only); otherwise /metrics is a staff route.
	MetricsAddr string
	// RefundApprovalFen: a staff refund above it waits for a second member
	// of staff (finance or admin).
	RefundApprovalFen int64
	// StaffIdleTTL ends a console session left idle this long.
	StaffIdleTTL time.Duration
	// StaffFailLimit failed console logins per StaffFailWindow, per name
	// and per IP, are allowed before further attempts are refused.
	StaffFailLimit  int
	StaffFailWindow time.Duration

	// LogLevel is debug, info, warn or error.
	LogLevel slog.Level
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration

	// Settings are the variables as read, secrets masked, for the start-up
	// log: what the server actually runs with.
	Settings []Setting
}

// Setting is one variable of the effective configuration. Value is masked
// for secrets; Default says the variable was not set.
type Setting struct {
	Name    string
	Value   string
	Default bool
}

// Getenv reads one environment variable, like os.Getenv.
type Getenv func(string) string

// Load reads the configuration from getenv, applying defaults, and validates
// it. Every problem is reported, not just the first.
func Load(getenv Getenv) (Config, error) {
	l := loader{getenv: getenv}
	c := Config{
		Env:            l.str("GASPAY_ENV", EnvDevelopment),
		Addr:           l.str("GASPAY_ADDR", ":8080"),
		PublicURL:      strings.TrimRight(l.str("GASPAY_PUBLIC_URL", ""), "/"),
		DataDir:        l.str("GASPAY_DATA_DIR", "data"),
		MySQLDSN:       l.secret("GASPAY_MYSQL_DSN"),
		RedisURL:       l.secret("GASPAY_REDIS_URL"),
		RedisPrefix:    l.str("GASPAY_REDIS_PREFIX", "gaspay:"),
		WeChatAPIBase:  strings.TrimRight(l.str("GASPAY_WECHAT_API_BASE", "https://api.weixin.qq.com"), "/"),
		WeChatOAuthURL: l.str("GASPAY_WECHAT_OAUTH_URL", "https://open.weixin.qq.com/connect/oauth2/authorize"),
		WeChatMP:       WeChatApp{AppID: l.str("GASPAY_WECHAT_MP_APPID", ""), Secret: l.secret("GASPAY_WECHAT_MP_SECRET")},
		WeChatOA:       WeChatApp{AppID: l.str("GASPAY_WECHAT_OA_APPID", ""), Secret: l.secret("GASPAY_WECHAT_OA_SECRET")},
		WeChatTimeout:  l.duration("GASPAY_WECHAT_TIMEOUT", 5*time.Second),
		WeChatPay: WeChatPay{
			MchID:       l.str("GASPAY_WXPAY_MCHID", ""),
			SerialNo:    l.str("GASPAY_WXPAY_SERIAL_NO", ""),
			PrivateKey:  l.secret("GASPAY_WXPAY_PRIVATE_KEY"),
			PublicKeyID: l.str("GASPAY_WXPAY_PUBLIC_KEY_ID", ""),
			PublicKey:   l.secret("GASPAY_WXPAY_PUBLIC_KEY").Reveal(),
			APIv3Key:    l.secret("GASPAY_WXPAY_APIV3_KEY"),
			BaseURL:     l.str("GASPAY_WXPAY_BASE_URL", ""),
		},
		Alipay: Alipay{
			AppID:      l.str("GASPAY_ALIPAY_APPID", ""),
			PrivateKey: l.secret("GASPAY_ALIPAY_PRIVATE_KEY"),
			PublicKey:  l.secret("GASPAY_ALIPAY_PUBLIC_KEY").Reveal(),
			Gateway:    l.str("GASPAY_ALIPAY_GATEWAY", ""),
		},
		BoxMasterKey:     l.secretFile("GASPAY_BOX_MASTER_KEY_FILE"),
		BoxSessionTTL:    l.duration("GASPAY_BOX_SESSION_TTL", 5*time.Minute),
		OrderTTL:         l.duration("GASPAY_ORDER_TTL", 15*time.Minute),
		JanitorInterval:  l.duration("GASPAY_JANITOR_INTERVAL", 30*time.Second),
		ReconcileAfter:   l.duration("GASPAY_RECONCILE_AFTER", 10*time.Hour),
		ReconcileRetry:   l.duration("GASPAY_RECONCILE_RETRY", 10*time.Minute),
		DeliveryAlertAge: l.duration("GASPAY_DELIVERY_ALERT_AGE", 24*time.Hour),
		SessionTTL:       l.duration("GASPAY_SESSION_TTL", 24*time.Hour),
		BindingLimit:     int(l.integer("GASPAY_BINDING_LIMIT", 5)),
		BindFailLimit:    int(l.integer("GASPAY_BIND_FAIL_LIMIT", 5)),
		BindFailWindow:   l.duration("GASPAY_BIND_FAIL_WINDOW", 10*time.Minute),
		PurchaseLimitFen: l.integer("GASPAY_PURCHASE_LIMIT_FEN", 150000),
		OANextPaths:      l.list("GASPAY_OA_NEXT_PATHS", []string{"/h5/"}),
		UtilityName:      l.str("GASPAY_UTILITY_NAME", "洪通燃气"),
		TrustedProxies:   l.list("GASPAY_TRUSTED_PROXIES", nil),
		AdminToken:       l.secret("GASPAY_ADMIN_TOKEN"),
		LogLevel:         l.level("GASPAY_LOG_LEVEL", slog.LevelInfo),
		ShutdownTimeout:  l.duration("GASPAY_SHUTDOWN_TIMEOUT", 15*time.Second),
	}
	// Limits and operations (issue 14), read apart so that the block
	// above stays as it was.
	c.MeterBindDailyLimit = int(l.integer("GASPAY_METER_BIND_DAILY_LIMIT", 5))
	c.OrderRateLimit = int(l.integer("GASPAY_ORDER_RATE_LIMIT", 10))
	c.OrderRateWindow = l.duration("GASPAY_ORDER_RATE_WINDOW", 10*time.Minute)
	c.BoxOpenLimit = int(l.integer("GASPAY_BOX_OPEN_LIMIT", 30))
	c.BoxOpenWindow = l.duration("GASPAY_BOX_OPEN_WINDOW", 10*time.Minute)
	c.MetricsAddr = l.str("GASPAY_METRICS_ADDR", "")
	c.AlipayBillAccount = l.str("GASPAY_ALIPAY_BILL_ACCOUNT", "")
	// The staff console.
	c.RefundApprovalFen = l.integer("GASPAY_REFUND_APPROVAL_FEN", 50_000)
	c.StaffIdleTTL = l.duration("GASPAY_STAFF_IDLE_TTL", 8*time.Hour)
	c.StaffFailLimit = int(l.integer("GASPAY_STAFF_FAIL_LIMIT", 5))
	c.StaffFailWindow = l.duration("GASPAY_STAFF_FAIL_WINDOW", 15*time.Minute)
	if c.PublicURL == "" {
		c.PublicURL = "http://localhost" + portOf(c.Addr)
	}
	c.Settings = l.settings
	if err := errors.Join(append(l.errs, c.Validate())...); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate checks the combinations that single values cannot.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.Env != EnvDevelopment && c.Env != EnvProduction {
		bad("GASPAY_ENV: want %q or %q, got %q", EnvDevelopment, EnvProduction, c.Env)
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
		bad("GASPAY_PUBLIC_URL: want an origin such as https://pay.example.com, got %q", c.PublicURL)
	}
	for _, a := range []WeChatApp{c.WeChatMP, c.WeChatOA} {
		if (a.AppID == "") != (a.Secret == "") {
			bad("GASPAY_WECHAT_*_APPID and _SECRET must be set together")
		}
	}
	if !c.WeChatSandbox() && (c.WeChatMP.AppID == "" || c.WeChatOA.AppID == "") {
		bad("GASPAY_WECHAT_MP_* and GASPAY_WECHAT_OA_* must both be configured (or neither, for the sandbox)")
	}
	if p := c.WeChatPay; !c.WeChatPaySandbox() {
		if p.SerialNo == "" || !p.PrivateKey.IsSet() || p.PublicKeyID == "" || p.PublicKey == "" || len(p.APIv3Key) != 32 {
			bad("GASPAY_WXPAY_*: a merchant needs SERIAL_NO, PRIVATE_KEY(_FILE), PUBLIC_KEY_ID, PUBLIC_KEY(_FILE) and a 32-byte APIV3_KEY")
		}
		if c.WeChatSandbox() {
			bad("GASPAY_WXPAY_* needs the real WeChat apps (GASPAY_WECHAT_MP_* and _OA_*): payers are their users")
		}
	}
	if a := c.Alipay; a.AppID != "" && (!a.PrivateKey.IsSet() || a.PublicKey == "") {
		bad("GASPAY_ALIPAY_*: an app needs PRIVATE_KEY(_FILE) and Alipay's PUBLIC_KEY(_FILE)")
	}
	if c.OrderTTL < MinOrderTTL || c.OrderTTL > MaxOrderTTL {
		bad("GASPAY_ORDER_TTL: between %s and %s, got %s (WeChat Pay wants time_expire at least 1m ahead when the order reaches it, "+
			"and the expiry is cut to the second and may be sent again in a retry)", MinOrderTTL, MaxOrderTTL, c.OrderTTL)
	}
	if c.BoxSessionTTL < 30*time.Second {
		bad("GASPAY_BOX_SESSION_TTL: at least 30s, got %s", c.BoxSessionTTL)
	}
	if c.ReconcileAfter < 0 || c.ReconcileAfter >= 24*time.Hour {
		bad("GASPAY_RECONCILE_AFTER: a time of day from 0s to 23h59m, got %s", c.ReconcileAfter)
	}
	if c.ReconcileRetry < time.Second {
		bad("GASPAY_RECONCILE_RETRY: at least 1s, got %s", c.ReconcileRetry)
	}
	if c.DeliveryAlertAge < time.Minute {
		bad("GASPAY_DELIVERY_ALERT_AGE: at least 1m, got %s", c.DeliveryAlertAge)
	}
	if c.JanitorInterval < time.Second {
		bad("GASPAY_JANITOR_INTERVAL: at least 1s, got %s", c.JanitorInterval)
	}
	if c.RedisPrefix == "" {
		bad("GASPAY_REDIS_PREFIX must not be empty")
	}
	if c.SessionTTL < time.Minute {
		bad("GASPAY_SESSION_TTL: at least 1m, got %s", c.SessionTTL)
	}
	if c.BindingLimit < 1 || c.BindFailLimit < 1 || c.BindFailWindow < time.Second {
		bad("GASPAY_BINDING_LIMIT, GASPAY_BIND_FAIL_LIMIT and GASPAY_BIND_FAIL_WINDOW must be positive")
	}
	if c.MeterBindDailyLimit < 1 || c.OrderRateLimit < 1 || c.OrderRateWindow < time.Second ||
		c.BoxOpenLimit < 1 || c.BoxOpenWindow < time.Second {
		bad("GASPAY_METER_BIND_DAILY_LIMIT, GASPAY_ORDER_RATE_* and GASPAY_BOX_OPEN_* must be positive")
	}
	if c.PurchaseLimitFen < 1 {
		bad("GASPAY_PURCHASE_LIMIT_FEN must be positive")
	}
	for _, p := range c.OANextPaths {
		if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") {
			bad("GASPAY_OA_NEXT_PATHS: %q is not a local path", p)
		}
	}
	for _, p := range c.TrustedProxies {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			bad("GASPAY_TRUSTED_PROXIES: %q is not an IP or CIDR", p)
		}
	}
	if c.RefundApprovalFen < 1 {
		bad("GASPAY_REFUND_APPROVAL_FEN must be positive")
	}
	if c.StaffIdleTTL < time.Minute || c.StaffFailLimit < 1 || c.StaffFailWindow < time.Second {
		bad("GASPAY_STAFF_IDLE_TTL (at least 1m), GASPAY_STAFF_FAIL_LIMIT and GASPAY_STAFF_FAIL_WINDOW must be positive")
	}
	if c.Env == EnvProduction {
		for _, part := range c.EmbeddedParts() {
			bad("production refuses the %s", part)
		}
		if !strings.HasPrefix(c.PublicURL, "https://") {
			bad("production needs an https GASPAY_PUBLIC_URL")
		}
		if len(c.AdminToken) < 32 {
			bad("production needs a GASPAY_ADMIN_TOKEN of at least 32 characters")
		}
		if PublishedBoxKey(c.BoxMasterKey.Reveal()) {
			bad("GASPAY_BOX_MASTER_KEY_FILE holds a key published in gaspay's documentation or tests; production needs the utility's own secret key")
		}
		for _, u := range []struct{ name, url string }{
			{"GASPAY_WECHAT_API_BASE", c.WeChatAPIBase}, {"GASPAY_WECHAT_OAUTH_URL", c.WeChatOAuthURL},
			{"GASPAY_WXPAY_BASE_URL", c.WeChatPay.BaseURL}, {"GASPAY_ALIPAY_GATEWAY", c.Alipay.Gateway},
		} {
			if u.url != "" && !strings.HasPrefix(u.url, "https://") {
				bad("production needs an https %s, got %q", u.name, u.url)
			}
		}
	}
	return errors.Join(errs...)
}

// WeChatSandbox reports whether WeChat runs as the in-process sandbox: no
// WeChat application is configured.
func (c Config) WeChatSandbox() bool {
	return c.WeChatMP.AppID == "" && c.WeChatOA.AppID == ""
}

// EmbeddedParts names every part running on an embedded default or a sandbox,
// with the setting that replaces it.
func (c Config) EmbeddedParts() []string {
	var parts []string
	if !c.MySQLDSN.IsSet() {
		parts = append(parts, "embedded SQLite database (set GASPAY_MYSQL_DSN)")
	}
	if !c.RedisURL.IsSet() {
		parts = append(parts, "in-process Redis (set GASPAY_REDIS_URL)")
	}
	if c.WeChatSandbox() {
		parts = append(parts, "sandbox WeChat API (set GASPAY_WECHAT_MP_* and GASPAY_WECHAT_OA_*)")
	}
	if c.WeChatPaySandbox() {
		parts = append(parts, "sandbox WeChat Pay (set GASPAY_WXPAY_*)")
	}
	if c.AlipaySandbox() {
		parts = append(parts, "sandbox Alipay (set GASPAY_ALIPAY_*)")
	}
	if !c.BoxMasterKey.IsSet() {
		parts = append(parts, "sandbox box master key (set GASPAY_BOX_MASTER_KEY_FILE)")
	}
	return parts
}

// AlipaySandbox reports whether Alipay runs as the in-process sandbox.
func (c Config) AlipaySandbox() bool { return c.Alipay.AppID == "" }

// WeChatPaySandbox reports whether WeChat Pay runs as the in-process
// sandbox: no merchant is configured.
func (c Config) WeChatPaySandbox() bool { return c.WeChatPay.MchID == "" }

// Production reports whether the server runs in production.
func (c Config) Production() bool { return c.Env == EnvProduction }

// SQLitePath is the embedded database file.
func (c Config) SQLitePath() string { return filepath.Join(c.DataDir, "gaspay.db") }

func portOf(addr string) string {
	if i := strings.LastIndex(addr, ":"); i >= 0 {
		return addr[i:]
	}
	return ""
}

// loader reads typed values, collecting every error.
type loader struct {
	getenv   Getenv
	errs     []error
	settings []Setting
}

// note records a variable for the effective configuration.
func (l *loader) note(key, value string, isDefault bool) {
	l.settings = append(l.settings, Setting{Name: key, Value: value, Default: isDefault})
}

func (l *loader) str(key, def string) string {
	if v := strings.TrimSpace(l.getenv(key)); v != "" {
		l.note(key, v, false)
		return v
	}
	l.note(key, def, true)
	return def
}

// secret reads KEY, or the file named by KEY_FILE with surrounding
// whitespace trimmed. Setting both is an error: which one wins would be a
// guess.
func (l *loader) secret(key string) Secret {
	s := l.readSecret(key)
	l.note(key, s.String(), s == "")
	return s
}

func (l *loader) readSecret(key string) Secret {
	v, file := l.getenv(key), l.getenv(key+"_FILE")
	switch {
	case v != "" && file != "":
		l.errs = append(l.errs, fmt.Errorf("%s and %s_FILE are both set", key, key))
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			// The error names the file, never its contents.
			l.errs = append(l.errs, fmt.Errorf("%s_FILE: %w", key, err))
			return ""
		}
		return Secret(strings.TrimSpace(string(b)))
	}
	return Secret(strings.TrimSpace(v))
}

// secretFile reads a secret only from the file named by key: some keys are
// too dangerous to sit in an environment that gets dumped.
func (l *loader) secretFile(key string) Secret {
	file := l.getenv(key)
	l.note(key, file, file == "")
	if file == "" {
		return ""
	}
	b, err := os.ReadFile(file)
	if err != nil {
		l.errs = append(l.errs, fmt.Errorf("%s: %w", key, err))
		return ""
	}
	return Secret(strings.TrimSpace(string(b)))
}

func (l *loader) duration(key string, def time.Duration) time.Duration {
	v := l.getenv(key)
	if v == "" {
		l.note(key, def.String(), true)
		return def
	}
	l.note(key, v, false)
	d, err := time.ParseDuration(v)
	if err != nil {
		l.errs = append(l.errs, fmt.Errorf("%s: %w", key, err))
	}
	return d
}

func (l *loader) integer(key string, def int64) int64 {
	v := l.getenv(key)
	if v == "" {
		l.note(key, strconv.FormatInt(def, 10), true)
		return def
	}
	l.note(key, v, false)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		l.errs = append(l.errs, fmt.Errorf("%s: not an integer: %q", key, v))
	}
	return n
}

func (l *loader) list(key string, def []string) []string {
	v := l.getenv(key)
	l.note(key, cmp.Or(v, strings.Join(def, ",")), v == "")
	if v == "" {
		return def
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (l *loader) level(key string, def slog.Level) slog.Level {
	v := l.getenv(key)
	l.note(key, cmp.Or(v, strings.ToLower(def.String())), v == "")
	if v == "" {
		return def
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(v)); err != nil {
		l.errs = append(l.errs, fmt.Errorf("%s: %w", key, err))
	}
	return lv
}
