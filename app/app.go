// Package app assembles a gaspay server from its configuration: storage,
// providers (real or sandbox), domain services and the router. cmd/gaspay
// runs it; tests build two of them on one database and one Redis to check
// that nothing that matters lives in a process.
package app

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/utils"
	"gorm.io/gorm"

	"gaspay/alipay"
	"gaspay/alipay/alipayfake"
	"gaspay/auth"
	"gaspay/bleproxy"
	"gaspay/cards"
	"gaspay/config"
	"gaspay/console"
	"gaspay/customer"
	"gaspay/handlers"
	"gaspay/iot"
	"gaspay/iot/ctwing"
	"gaspay/iot/ctwing/ctwingfake"
	"gaspay/kiosk"
	"gaspay/messages"
	"gaspay/metrics"
	"gaspay/models"
	"gaspay/partner"
	"gaspay/recharge"
	"gaspay/reconcile"
	"gaspay/rediskv"
	"gaspay/staff"
	"gaspay/wechat"
	"gaspay/wechat/wxfake"
	"gaspay/wechat/wxpay"
	"gaspay/wechat/wxpay/wxpayfake"
)

// Options replace parts the configuration would otherwise build.
type Options struct {
	// DB and Redis, when set, are used instead of the configured ones and
	// are not closed by App.Close.
	DB    *gorm.DB
	Redis *rediskv.Client
	// Now, when set, is the business clock of the payment services and
	// the sandbox providers (tests move it past expiries).
	Now func() time.Time
	// NoCodeFollow leaves kiosk payment codes to requests and the janitor
	// (load tests that step the loop themselves).
	NoCodeFollow bool
	// WrapSandbox, when set, wraps the sandbox payment providers' handlers
	// (kioskbench times the provider's share of a purchase).
	WrapSandbox func(http.Handler) http.Handler
}

// App is an assembled server.
type App struct {
	Config    config.Config
	Log       *slog.Logger
	DB        *gorm.DB
	Store     *models.Store
	Redis     *rediskv.Client
	WeChat    *wechat.Client
	Auth      *auth.Service
	Customers *customer.Service
	Recharge  *recharge.Service
	Cards     *cards.Desk
	IoT       *iot.Service
	Messages  *messages.Service
	Partners  *partner.Keys
	Metrics   *metrics.Metrics
	Reconcile *reconcile.Service
	Staff     *staff.Service
	Console   *console.Service
	Handler   http.Handler
	// AdminToken is the staff token: configured, or made up for a
	// development server and printed at start.
	AdminToken string

	// WeChatFake and WeChatPayFake are the in-process WeChat and WeChat
	// Pay of the sandbox, nil otherwise.
	WeChatFake    *wxfake.Server
	WeChatPayFake *wxpayfake.Server
	AlipayFake    *alipayfake.Server
	// CTWingFake is the sandbox's meter platform, nil otherwise.
	CTWingFake *ctwingfake.Server
	// sandboxAlipayProvider signs the sandbox's cashier URLs again when
	// the sandbox pays a WAP order nobody opened.
	sandboxAlipayProvider *recharge.Alipay

	// billSources are the providers' bills, for reconciliation.
	billSources []reconcile.Source

	closers []func() error
}

// Sandbox application ids: the in-process WeChat knows them.
const (
	SandboxMPAppID = "wxsandboxminiprog"
	SandboxOAAppID = "wxsandboxofficial"
)

// New assembles a server: it opens storage, applies migrations, starts the
// sandbox parts the configuration leaves unconfigured, and builds the
// router.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, opts Options) (_ *App, err error) {
	a := &App{Config: cfg, Log: log}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if err := a.openStorage(ctx, opts); err != nil {
		return nil, err
	}
	if err := a.wireWeChat(); err != nil {
		return nil, err
	}
	if cfg.WeChatSandbox() {
		if err := customer.SeedDemo(ctx, a.Store, time.Now()); err != nil {
			return nil, err
		}
	}
	if err := a.wireRecharge(opts); err != nil {
		return nil, err
	}
	if err := a.wireCards(opts); err != nil {
		return nil, err
	}
	if err := a.wireIoT(opts); err != nil {
		return nil, err
	}
	a.wireMessages(opts)
	a.wireReconcile(opts)
	a.AdminToken = cfg.AdminToken.Reveal()
	if a.AdminToken == "" && !cfg.Production() {
		a.AdminToken = randomHex(16)
	}
	a.Customers = customer.NewService(a.Store, a.Redis, customer.Config{
		BindingLimit:     cfg.BindingLimit,
		FailLimit:        cfg.BindFailLimit,
		FailWindow:       cfg.BindFailWindow,
		PurchaseLimitFen: cfg.PurchaseLimitFen,
		MeterBinds:       cfg.MeterBindDailyLimit,
		Location:         time.FixedZone("CST", 8*3600),
	}, log)
	a.Partners = partner.NewKeys(a.Store, a.Redis)
	a.Metrics = metrics.New(a.Store, log)
	a.wireConsole()
	h, err := handlers.New(handlers.Deps{
		Log:            log,
		Production:     cfg.Production(),
		PublicURL:      cfg.PublicURL,
		TrustedProxies: cfg.TrustedProxies,
		Store:          a.Store,
		Auth:           a.Auth,
		Customers:      a.Customers,
		Recharge:       a.Recharge,
		Cards:          a.Cards,
		IoT:            a.IoT,
		SandboxCTWing:  a.sandboxCTWing(),
		Messages:       a.Messages,
		SandboxWeChat:  a.sandboxMessages(),
		Reconcile:      a.Reconcile,
		Partners:       a.Partners,
		Kiosks:         kiosk.NewTerminals(a.Store),
		Kiosk:          kiosk.NewService(a.Store, a.Cards, a.Recharge, cfg.PurchaseLimitFen),
		AdminToken:     a.AdminToken,
		Staff:          a.Staff,
		Console:        a.Console,
		SandboxPay:     a.sandboxPay(),
		SandboxAlipay:  a.sandboxAlipay(),
		WeChat:         a.WeChat,
		OA:             a.oaApp(),
		Hall:           handlers.HallInfo{UtilityName: cfg.UtilityName, SandboxLogin: cfg.WeChatSandbox()},
		Ready:          a.Ready,
		Metrics:        a.Metrics,
		OrderLimit:     a.Redis.NewLimit("orders", cfg.OrderRateLimit, cfg.OrderRateWindow),
		BoxOpenLimit:   a.Redis.NewLimit("boxopen", cfg.BoxOpenLimit, cfg.BoxOpenWindow),
		BoxUsers:       a.Redis.NewMembers("boxusers", 90*24*time.Hour),
	})
	if err != nil {
		return nil, err
	}
	a.Handler = h
	return a, nil
}

func (a *App) openStorage(ctx context.Context, opts Options) error {
	a.DB = opts.DB
	if a.DB == nil {
		var err error
		if a.Config.MySQLDSN.IsSet() {
			a.DB, err = models.OpenMySQL(a.Config.MySQLDSN.Reveal(), a.Log)
		} else {
			a.DB, err = models.OpenSQLite(a.Config.SQLitePath(), a.Log)
		}
		if err != nil {
			return err
		}
		db := a.DB
		a.closers = append(a.closers, func() error { return models.Close(db) })
	}
	applied, err := models.Migrate(ctx, a.DB)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		a.Log.InfoContext(ctx, "migrations applied", slog.Any("versions", applied))
	}
	a.Store = models.NewStore(a.DB)

	a.Redis = opts.Redis
	if a.Redis == nil {
		rdb, closeFn, err := rediskv.Open(ctx, a.Config.RedisURL.Reveal(), a.Config.RedisPrefix)
		if err != nil {
			return err
		}
		a.Redis = rdb
		a.closers = append(a.closers, closeFn)
	}
	return nil
}

// wireWeChat builds the WeChat client and the logins, against the real
// WeChat or, in the sandbox, an in-process fake on a loopback port.
func (a *App) wireWeChat() error {
	cfg := a.Config
	base, mp, oa := cfg.WeChatAPIBase, wechatApp(cfg.WeChatMP), wechatApp(cfg.WeChatOA)
	if cfg.WeChatSandbox() {
		mp = wechat.App{AppID: SandboxMPAppID, Secret: randomHex(16)}
		oa = wechat.App{AppID: SandboxOAAppID, Secret: randomHex(16)}
		a.WeChatFake = wxfake.New(map[string]string{mp.AppID: mp.Secret, oa.AppID: oa.Secret})
		url, err := a.serveLoopback(a.WeChatFake)
		if err != nil {
			return fmt.Errorf("app: sandbox wechat: %w", err)
		}
		base = url
	}
	a.WeChat = wechat.NewClient(base, cfg.WeChatTimeout, rediskv.KV{C: a.Redis}, a.Log)
	a.Auth = auth.NewService(auth.Config{
		MP:           mp,
		OA:           oa,
		PublicURL:    cfg.PublicURL,
		AuthorizeURL: cfg.WeChatOAuthURL,
		NextPaths:    cfg.OANextPaths,
		Sandbox:      cfg.WeChatSandbox(),
	}, a.WeChat, a.Store, a.Redis, auth.NewSessions(a.Redis, cfg.SessionTTL), a.Log)
	return nil
}

// oaApp is the official account the JS-SDK signs for: in the sandbox the
// one the in-process WeChat knows, with the secret made up for it (without
// it the fake refuses the access token, and the signature never comes).
func (a *App) oaApp() wechat.App {
	if a.Config.WeChatSandbox() {
		_, oa := a.Auth.Apps()
		return oa
	}
	return wechatApp(a.Config.WeChatOA)
}

func wechatApp(c config.WeChatApp) wechat.App {
	return wechat.App{AppID: c.AppID, Secret: c.Secret.Reveal()}
}

// serveLoopback serves h on a loopback port for the life of the app.
func (a *App) serveLoopback(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := handlers.Server("", h)
	go srv.Serve(ln)
	a.closers = append(a.closers, srv.Close)
	return "http://" + ln.Addr().String(), nil
}

// SandboxMchID is the merchant id of the sandbox WeChat Pay.
const SandboxMchID = "1900000109"

// wireRecharge builds WeChat Pay (real, or the sandbox's in-process fake)
// and the payment service.
func (a *App) wireRecharge(opts Options) error {
	cfg := a.Config
	var wcfg wxpay.Config
	mp, oa := a.Auth.Apps()
	if cfg.WeChatPaySandbox() {
		keys, err := wxpayfake.NewKeys()
		if err != nil {
			return err
		}
		fcfg := keys.Config(SandboxMchID, mp.AppID, oa.AppID)
		fcfg.Now = opts.Now
		// Like WeChat: a notification not acknowledged is sent again,
		// sooner than WeChat's 15s/15s/30s/3m… so that the sandbox shows it.
		fcfg.NotifyRetries = []time.Duration{2 * time.Second, 5 * time.Second, 15 * time.Second, 30 * time.Second}
		fcfg.AutoCompleteRefunds, fcfg.RefundDelay = true, 2*time.Second
		// Today's bill at once, so that reconciliation can be tried.
		fcfg.BillsSameDay = true
		fake, err := wxpayfake.New(fcfg)
		if err != nil {
			return err
		}
		a.closers = append(a.closers, func() error { fake.Close(); return nil })
		url, err := a.serveLoopback(wrapSandbox(opts, fake))
		if err != nil {
			return fmt.Errorf("app: sandbox wechat pay: %w", err)
		}
		a.WeChatPayFake = fake
		wcfg = wxpay.Config{MchID: SandboxMchID, MerchantSerialNo: keys.MerchantSerialNo, MerchantKey: keys.MerchantKey,
			PlatformPublicKeyID: keys.PlatformPublicKeyID, PlatformPublicKey: &keys.PlatformKey.PublicKey,
			APIv3Key: keys.APIv3Key, BaseURL: url}
	} else {
		p := cfg.WeChatPay
		key, err := utils.LoadPrivateKey(p.PrivateKey.Reveal())
		if err != nil {
			return errors.New("app: GASPAY_WXPAY_PRIVATE_KEY is not a PEM private key")
		}
		pub, err := utils.LoadPublicKey(p.PublicKey)
		if err != nil {
			return errors.New("app: GASPAY_WXPAY_PUBLIC_KEY is not a PEM public key")
		}
		wcfg = wxpay.Config{MchID: p.MchID, MerchantSerialNo: p.SerialNo, MerchantKey: key, PlatformPublicKeyID: p.PublicKeyID,
			PlatformPublicKey: pub, APIv3Key: p.APIv3Key.Reveal(), BaseURL: p.BaseURL}
	}
	client, err := wxpay.New(wcfg)
	if err != nil {
		return err
	}
	wechatPay := recharge.NewWeChatPay(client, wcfg.MchID, cfg.PublicURL)
	a.billSources = append(a.billSources, reconcile.WeChatBills{Client: client, MchID: wcfg.MchID})
	ali, err := a.alipay(opts)
	if err != nil {
		return err
	}
	beijing := time.FixedZone("CST", 8*3600)
	a.Recharge = recharge.NewService(a.Store, recharge.Config{
		PurchaseLimitFen: cfg.PurchaseLimitFen,
		OrderTTL:         cfg.OrderTTL,
		QuoteTTL:         5 * time.Minute,
		Location:         beijing,
		Apps:             map[models.Channel]string{models.ChannelWeChatMP: mp.AppID, models.ChannelWeChatOA: oa.AppID},
	}, map[models.Channel]recharge.Provider{
		models.ChannelWeChatMP: wechatPay, models.ChannelWeChatOA: wechatPay,
		models.ChannelAlipayWAP: ali, models.ChannelAlipayMP: ali,
	}, a.Log)
	if opts.Now != nil {
		a.Recharge.SetClock(opts.Now)
	}
	// Kiosks take payment codes under the official account's app id (any
	// app id of the merchant will do for codepay). Each scanned code is
	// followed by its own goroutine unless the clock is a test's.
	a.Recharge.EnableCodes(a.Redis, opts.Now == nil && !opts.NoCodeFollow,
		recharge.NewWeChatCodes(wechatPay, oa.AppID), recharge.NewAlipayCodes(ali))
	return nil
}

func wrapSandbox(opts Options, h http.Handler) http.Handler {
	if opts.WrapSandbox != nil {
		return opts.WrapSandbox(h)
	}
	return h
}

// SandboxAlipayAppID is the app id of the sandbox Alipay.
const SandboxAlipayAppID = "2021000000000000"

// alipay builds Alipay: the configured app, or the sandbox's in-process
// fake gateway.
func (a *App) alipay(opts Options) (*recharge.Alipay, error) {
	c := a.Config.Alipay
	acfg := alipay.Config{AppID: c.AppID, AppPrivateKey: c.PrivateKey.Reveal(), AlipayPublicKey: c.PublicKey, GatewayURL: c.Gateway}
	if a.Config.AlipaySandbox() {
		keys, err := alipayfake.NewKeys()
		if err != nil {
			return nil, err
		}
		fake, err := alipayfake.New(alipayfake.Config{AppID: SandboxAlipayAppID, AppPublicKey: keys.AppPublicKey,
			AlipayPrivateKey: keys.AlipayPrivateKey, Now: opts.Now})
		if err != nil {
			return nil, err
		}
		url, err := a.serveLoopback(wrapSandbox(opts, fake))
		if err != nil {
			return nil, fmt.Errorf("app: sandbox alipay: %w", err)
		}
		a.AlipayFake = fake
		acfg = alipay.Config{AppID: SandboxAlipayAppID, AppPrivateKey: keys.AppPrivateKey, AlipayPublicKey: keys.AlipayPublicKey,
			GatewayURL: url + alipayfake.GatewayPath}
	}
	client, err := alipay.New(acfg)
	if err != nil {
		return nil, err
	}
	a.billSources = append(a.billSources, reconcile.AlipayBills{Client: client, Account: cmp.Or(a.Config.AlipayBillAccount, acfg.AppID)})
	p := recharge.NewAlipay(client, acfg.AppID, a.Config.PublicURL)
	if a.AlipayFake != nil {
		a.sandboxAlipayProvider = p
	}
	return p, nil
}

// sandboxPay lets the sandbox's customers pay: the fake WeChat Pay marks the
// order paid and notifies us, as WeChat does when a customer pays.
func (a *App) sandboxPay() func(context.Context, string) (int, error) {
	if a.WeChatPayFake == nil {
		return nil
	}
	return func(ctx context.Context, orderNo string) (int, error) {
		res, err := a.WeChatPayFake.Pay(ctx, orderNo, "")
		return res.StatusCode, err
	}
}

// SandboxBoxMasterKey is the sandbox's box master key: the one of the
// test vectors in spec/box-protocol.md, public, so that the simulator and
// anyone's box model can talk to a sandbox server. Production refuses it.
const SandboxBoxMasterKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

// wireCards builds the box relay and the card desk.
func (a *App) wireCards(opts Options) error {
	hexKey := a.Config.BoxMasterKey.Reveal()
	if hexKey == "" {
		hexKey = SandboxBoxMasterKey
	}
	master, err := bleproxy.ParseMasterKey(hexKey)
	if err != nil {
		// The error names no digit of the key.
		return fmt.Errorf("app: GASPAY_BOX_MASTER_KEY_FILE: %w", err)
	}
	rec := cards.NewRecorder(a.Store, a.Log)
	a.Cards = cards.NewDesk(master, a.Store, rediskv.KV{C: a.Redis}, rec, a.Config.BoxSessionTTL, a.Log)
	if opts.Now != nil {
		a.Cards.SetClock(opts.Now)
	}
	// A record still in memory is written when the app closes.
	a.closers = append(a.closers, func() error { rec.Flush(context.Background()); return nil })
	return nil
}

// Sandbox CTWing application: the in-process fake knows it.
const (
	sandboxCTWingAppKey    = "sandboxAppKey"
	sandboxCTWingProductID = 10000577
)

// wireIoT builds the meter platform (CTWing, or the sandbox's in-process
// fake, which pushes to our own /notify/ctwing) and the IoT delivery.
func (a *App) wireIoT(opts Options) error {
	c := a.Config.IoT
	hexKey := c.MeterMasterKey.Reveal()
	if hexKey == "" {
		hexKey = config.SandboxMeterMasterKey
	}
	master, err := bleproxy.ParseMasterKey(hexKey)
	if err != nil {
		return fmt.Errorf("app: GASPAY_METER_MASTER_KEY_FILE: %w", err)
	}
	w := c.CTWing
	ccfg := ctwing.Config{BaseURL: w.BaseURL, AppKey: w.AppKey, AppSecret: w.AppSecret.Reveal(), MasterKey: w.MasterKey.Reveal(),
		ProductID: w.ProductID, Now: opts.Now}
	if w.AppKey == "" {
		secret, mk := randomHex(16), randomHex(16)
		fake := ctwingfake.New(ctwingfake.Config{AppKey: sandboxCTWingAppKey, AppSecret: secret, MasterKey: mk,
			ProductID: sandboxCTWingProductID, PushURL: a.Config.PublicURL + "/notify/ctwing", Now: opts.Now})
		url, err := a.serveLoopback(fake)
		if err != nil {
			return fmt.Errorf("app: sandbox ctwing: %w", err)
		}
		a.CTWingFake = fake
		ccfg = ctwing.Config{BaseURL: url, AppKey: sandboxCTWingAppKey, AppSecret: secret, MasterKey: mk,
			ProductID: sandboxCTWingProductID, Now: opts.Now}
	}
	a.IoT = iot.New(a.Store, iot.CTWing{C: ctwing.New(ccfg)}, a.Recharge, iot.Config{Master: master, CommandTTL: c.CommandTTL,
		SilentAfter: c.SilentAfter, UnappliedAlertAfter: c.UnappliedAlertAfter}, a.Log)
	if opts.Now != nil {
		a.IoT.SetClock(opts.Now)
	}
	return nil
}

// wireMessages builds the customers' messages. The sandbox's templates are
// named after their events, so that its message list reads by itself.
func (a *App) wireMessages(opts Options) {
	mc := a.Config.Messages
	mpT, oaT := map[messages.Event]string{}, map[messages.Event]string{}
	for k, v := range mc.MPTemplates {
		mpT[messages.Event(k)] = v
	}
	for k, v := range mc.OATemplates {
		oaT[messages.Event(k)] = v
	}
	if a.Config.WeChatSandbox() && len(mpT) == 0 && len(oaT) == 0 {
		for _, e := range messages.Events {
			mpT[e], oaT[e] = "sandbox-mp-"+string(e), "sandbox-oa-"+string(e)
		}
	}
	mp, oa := a.Auth.Apps()
	a.Messages = messages.New(a.Store, a.WeChat, messages.Config{MP: mp, OA: oa, MPTemplates: mpT, OATemplates: oaT,
		LowBalanceFen: mc.LowBalanceFen, PublicURL: a.Config.PublicURL, Location: time.FixedZone("CST", 8*3600)}, a.Log)
	if opts.Now != nil {
		a.Messages.SetClock(opts.Now)
	}
}

// sandboxMessages lists what the sandbox WeChat received, newest first.
func (a *App) sandboxMessages() func() []handlers.SandboxMessage {
	if a.WeChatFake == nil {
		return nil
	}
	return func() []handlers.SandboxMessage {
		sent := a.WeChatFake.SentMessages()
		out := make([]handlers.SandboxMessage, 0, len(sent))
		for i := len(sent) - 1; i >= 0; i-- {
			var b struct {
				ToUser     string                       `json:"touser"`
				TemplateID string                       `json:"template_id"`
				Data       map[string]map[string]string `json:"data"`
			}
			if json.Unmarshal(sent[i].Body, &b) != nil {
				continue
			}
			data := map[string]string{}
			for k, v := range b.Data {
				data[k] = v["value"]
			}
			kind := "template"
			if strings.Contains(sent[i].Path, "subscribe") {
				kind = "subscribe"
			}
			out = append(out, handlers.SandboxMessage{OpenID: b.ToUser, TemplateID: b.TemplateID, Kind: kind,
				Event: string(a.Messages.EventOf(b.TemplateID)), Data: data})
		}
		return out
	}
}

// sandboxCTWing is the sandbox platform's device side, for cmd/metersim.
func (a *App) sandboxCTWing() http.Handler {
	if a.CTWingFake == nil {
		return nil
	}
	return a.CTWingFake.DeviceHandler()
}

// janitorLastRun is the Redis key of the janitor's last finished pass.
const janitorLastRun = "janitor:last_run"

// wireConsole builds the staff logins and the back office.
func (a *App) wireConsole() {
	cfg := a.Config
	a.Staff = staff.NewService(a.Store, a.Redis, staff.Config{Production: cfg.Production(), IdleTTL: cfg.StaffIdleTTL,
		FailLimit: cfg.StaffFailLimit, FailWindow: cfg.StaffFailWindow}, a.Log)
	a.Console = console.NewService(a.Store, a.Recharge, console.Config{ApprovalFen: cfg.RefundApprovalFen,
		Location: time.FixedZone("CST", 8*3600), JanitorLastRun: func(ctx context.Context) (time.Time, bool) {
			t, err := a.Redis.Get(ctx, a.Redis.Key(janitorLastRun)).Time()
			return t, err == nil
		}, IoT: a.consoleIoT(), Messages: a.Messages}, a.Log)
}

// consoleIoT is the IoT delivery for the console; a nil interface, not a
// nil *iot.Service, when there is none.
func (a *App) consoleIoT() console.IoTDeliveries {
	if a.IoT == nil {
		return nil
	}
	return a.IoT
}

// passClock is the janitor's lock, which also notes when each pass ends
// (the lock is released then), for the console's dashboard.
type passClock struct{ c *rediskv.Client }

func (p passClock) Lock(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	unlock, ok, err := p.c.Lock(ctx, key, ttl)
	if !ok || err != nil {
		return unlock, ok, err
	}
	return func() {
		unlock()
		p.c.Set(context.WithoutCancel(ctx), p.c.Key(janitorLastRun), time.Now().UTC(), 7*24*time.Hour)
	}, true, nil
}

// sandboxAlipay lets the sandbox's buyers pay at its Alipay.
func (a *App) sandboxAlipay() func(context.Context, string, string) (string, error) {
	if a.AlipayFake == nil {
		return nil
	}
	return func(ctx context.Context, orderNo, buyer string) (string, error) {
		if _, ok := a.AlipayFake.Trade(orderNo); !ok {
			if err := a.openSandboxCashier(ctx, orderNo); err != nil {
				return "", err
			}
		}
		res, err := a.AlipayFake.Pay(ctx, orderNo, buyer)
		return res.Body, err
	}
}

// openSandboxCashier plays the buyer opening a WAP order's cashier URL: a
// WAP trade exists at Alipay only from then on. The URL is signed again for
// the order (signing is local and the order's terms are stored), then
// fetched from the sandbox's Alipay as the buyer's browser would.
func (a *App) openSandboxCashier(ctx context.Context, orderNo string) error {
	o, err := a.Store.Order(ctx, orderNo)
	if err != nil || o.Channel != models.ChannelAlipayWAP || o.Status != models.OrderPending {
		// Nothing to open: Pay answers why it cannot pay.
		return nil
	}
	params, err := a.sandboxAlipayProvider.Prepay(ctx, o, "燃气缴费 "+o.OrderNo)
	if err != nil {
		return err
	}
	wap, ok := params.(recharge.AlipayWAP)
	if !ok {
		return fmt.Errorf("app: sandbox alipay: no cashier URL for %s", orderNo)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, wap.PayURL, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("app: sandbox alipay cashier: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("app: sandbox alipay cashier answered %d for %s", resp.StatusCode, orderNo)
	}
	return nil
}

// Run runs the server's background work until ctx ends: the janitor, and
// the flushing of the boxes' record.
func (a *App) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(6)
	go func() { defer wg.Done(); a.Messages.Run(ctx, a.Redis, a.Config.Messages.Interval) }()
	go func() { defer wg.Done(); a.Recharge.RunJanitor(ctx, passClock{a.Redis}, a.Config.JanitorInterval) }()
	go func() { defer wg.Done(); a.Reconcile.RunDaily(ctx, time.Minute) }()
	go func() {
		defer wg.Done()
		a.IoT.Run(ctx, a.Redis, a.Config.IoT.DispatchInterval, a.Config.JanitorInterval)
	}()
	// An import a crash left committed but half applied is finished.
	if err := a.Console.ResumeImports(ctx); err != nil {
		a.Log.ErrorContext(ctx, "resume imports", slog.String("err", err.Error()))
	}
	go func() { defer wg.Done(); a.Cards.Recorder().Run(ctx, 200*time.Millisecond) }()
	go func() { defer wg.Done(); a.forgetNonces(ctx, time.Minute) }()
	wg.Wait()
}

// forgetNonces deletes expired partner nonces every interval. Replicas
// doing it at once only delete the same rows.
func (a *App) forgetNonces(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := a.Partners.DeleteExpiredNonces(ctx); err != nil {
			a.Log.WarnContext(ctx, "partner nonces not deleted", slog.String("err", err.Error()))
		} else if n > 0 {
			a.Log.DebugContext(ctx, "partner nonces deleted", slog.Int64("count", n))
		}
	}
}

// wireReconcile builds reconciliation over the providers' bills.
func (a *App) wireReconcile(opts Options) {
	a.Reconcile = reconcile.NewService(a.Store, a.Recharge, a.billSources, a.Redis, reconcile.Config{
		Location:         a.Recharge.Location(),
		ReadyAfter:       a.Config.ReconcileAfter,
		Retry:            a.Config.ReconcileRetry,
		DeliveryAlertAge: a.Config.DeliveryAlertAge,
	}, a.Log)
	if opts.Now != nil {
		a.Reconcile.SetClock(opts.Now)
	}
}

// Ready reports whether the database and Redis answer.
func (a *App) Ready(ctx context.Context) error {
	if err := models.Ping(ctx, a.DB); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if err := a.Redis.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// Describe says what the app runs on, for the start-up line.
func (a *App) Describe() string {
	var parts []string
	if a.Config.MySQLDSN.IsSet() {
		parts = append(parts, "database MySQL")
	} else {
		parts = append(parts, "database SQLite "+a.Config.SQLitePath())
	}
	if a.Config.RedisURL.IsSet() {
		parts = append(parts, "Redis")
	} else {
		parts = append(parts, "in-process Redis")
	}
	if a.Config.WeChatSandbox() {
		parts = append(parts, "sandbox WeChat")
	} else {
		parts = append(parts, "WeChat at "+a.Config.WeChatAPIBase)
	}
	if a.Config.AlipaySandbox() {
		parts = append(parts, "sandbox Alipay")
	}
	if a.Config.WeChatPaySandbox() {
		parts = append(parts, "sandbox WeChat Pay")
	} else {
		parts = append(parts, "WeChat Pay merchant "+a.Config.WeChatPay.MchID)
	}
	return strings.Join(parts, ", ")
}

// Close releases what New opened, in reverse order.
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("app: crypto/rand: " + err.Error())
	}
	return hex.EncodeToString(b)
}
