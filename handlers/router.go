package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"gaspay/auth"
	"gaspay/cards"
	"gaspay/console"
	"gaspay/customer"
	"gaspay/iot"
	"gaspay/kiosk"
	"gaspay/messages"
	"gaspay/metrics"
	"gaspay/models"
	"gaspay/partner"
	"gaspay/recharge"
	"gaspay/reconcile"
	"gaspay/staff"
	"gaspay/web"
	"gaspay/wechat"
)

// Deps are what the routes need; cmd builds them.
type Deps struct {
	Log *slog.Logger
	// Production sets the Secure flag on cookies.
	Production bool
	// PublicURL is the origin the server is reached at.
	PublicURL string
	// TrustedProxies may set X-Forwarded-For.
	TrustedProxies []string

	Store     *models.Store
	Auth      *auth.Service
	Customers *customer.Service
	Recharge  *recharge.Service
	Cards     *cards.Desk
	Reconcile *reconcile.Service
	Partners  *partner.Keys
	// IoT delivers IoT credits through the meter platform.
	IoT *iot.Service
	// Messages tells customers what happened.
	Messages *messages.Service
	// Kiosks authenticates self-service kiosks; Kiosk is their flow.
	Kiosks *kiosk.Terminals
	Kiosk  *kiosk.Service
	// AdminToken is the automation token: it acts with the admin role,
	// and every use is audited.
	AdminToken string
	WeChat     *wechat.Client
	// OA is the official account, for JS-SDK signatures.
	OA wechat.App
	// OrderLimit limits the orders each user creates; BoxOpenLimit the box
	// sessions each user, and each box, opens. Nil: no limit.
	OrderLimit   Limiter
	BoxOpenLimit Limiter
	// BoxUsers are the users each box opened a session for: the box's
	// limit binds only the others, so that strangers sending HELLOs with
	// a box's id cannot lock its owner out.
	BoxUsers BoxUsers
	// Metrics, when set, counts requests and verdicts and serves
	// /metrics to staff.
	Metrics *metrics.Metrics
	// Ready reports whether the database and Redis answer.
	Ready func(context.Context) error
	// SandboxPay, set only in the sandbox, makes the fake WeChat Pay pay
	// an order as a customer would, and reports what our notification
	// endpoint answered.
	SandboxPay func(ctx context.Context, orderNo string) (int, error)
	// SandboxAlipay, likewise, pays through the sandbox's Alipay; it
	// reports what our notification endpoint answered.
	SandboxAlipay func(ctx context.Context, orderNo, buyer string) (string, error)
	// SandboxCTWing, set only in the sandbox, is the fake meter platform's
	// device side, for cmd/metersim.
	SandboxCTWing http.Handler
	// SandboxWeChat, set only in the sandbox, lists the messages the
	// sandbox WeChat received, newest first.
	SandboxWeChat func() []SandboxMessage
	// Hall is what the service hall's pages are told.
	Hall HallInfo

	// Staff logs staff in; Console is the back office behind /admin/.
	Staff   *staff.Service
	Console *console.Service
}

type handler struct {
	Deps
	pages      http.Handler
	adminPages http.Handler
}

// New builds the router with every route gaspay serves.
func New(d Deps) (*gin.Engine, error) {
	// Gin keeps its mode in an atomic package variable; release mode only
	// stops it printing every route at start-up.
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	if err := r.SetTrustedProxies(d.TrustedProxies); err != nil {
		return nil, err
	}
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	h := &handler{Deps: d}
	h.pages = web.Hall(http.HandlerFunc(h.hallNotFound))
	h.adminPages = web.Admin()

	r.Use(h.requestID, h.observe, h.accessLog, h.recover)
	r.NoRoute(func(c *gin.Context) { writeError(c, errNoRoute) })
	r.NoMethod(func(c *gin.Context) { writeError(c, errNoMethod) })

	r.GET("/healthz", h.healthz)
	r.GET("/readyz", h.readyz)
	// Operations: Prometheus (staff token; GASPAY_METRICS_ADDR also serves
	// it on a listener of its own) and the API's description.
	r.GET("/metrics", h.staff, h.need(staff.Read), h.metrics)
	r.GET("/openapi.json", h.openAPI)

	// Logins.
	r.POST("/api/mp/login", h.mpLogin)
	r.GET("/oa/login", h.oaLogin)
	r.GET("/oa/callback", h.oaCallback)

	// A customer's own things; every route needs a session.
	api := r.Group("/api", h.authenticate)
	api.POST("/logout", h.logout)
	api.GET("/bindings", h.listBindings)
	api.POST("/bindings", h.createBinding)
	api.DELETE("/bindings/:id", h.deleteBinding)
	api.PUT("/bindings/:id/default", h.setDefaultBinding)
	api.GET("/accounts/:id", h.getAccount)
	api.GET("/accounts/:id/meter-reports", h.meterReports)
	api.PUT("/accounts/:id/low-balance", h.setLowBalance)
	api.POST("/subscriptions", h.subscriptions)
	api.GET("/oa/jssdk-config", h.jssdkConfig)
	api.POST("/quotes", h.createQuote)
	api.POST("/orders", h.createOrder)
	api.GET("/orders", h.listOrders)
	api.GET("/orders/:no", h.getOrder)
	api.GET("/orders/:no/receipt", h.orderReceipt)
	api.POST("/box/sessions", h.openBoxSession)
	api.POST("/box/sessions/:id/frames", h.relayBoxFrame)
	api.POST("/box/sessions/:id/read", h.readBoxCard)
	api.POST("/box/sessions/:id/write", h.writeBoxCard)

	// Providers' notifications: authenticated by their signatures.
	r.POST("/notify/wechat/pay", h.wechatPayNotify)
	r.POST("/notify/wechat/refund", h.wechatRefundNotify)
	r.POST("/notify/alipay", h.alipayNotify)
	r.POST("/notify/ctwing", h.ctwingPush)

	// Collection partners: signed requests, signed answers.
	p := r.Group("/partner/v1", h.partnerAuth)
	p.POST("/query", h.partnerQuery)
	p.POST("/pay", h.partnerPay)
	p.POST("/reverse", h.partnerReverse)
	p.POST("/status", h.partnerStatus)
	p.GET("/reconciliation", h.partnerReconciliation)

	// Self-service kiosks: signed like partners, with X-Kiosk-Id.
	k := r.Group("/kiosk/v1", h.kioskAuth)
	k.POST("/sessions", h.openKioskSession)
	k.POST("/sessions/:id/frames", h.relayKioskFrame)
	k.POST("/sessions/:id/read", h.readKioskCard)
	k.POST("/sessions/:id/write", h.writeKioskCard)
	k.POST("/quotes", h.kioskQuote)
	k.POST("/orders", h.kioskCreateOrder)
	k.GET("/orders/:no", h.kioskGetOrder)
	k.GET("/orders/:no/receipt", h.kioskReceipt)

	// Staff. Every route names the permission it needs (staff/roles.go).
	r.POST("/api/admin/login", h.staffLogin)
	admin := r.Group("/api/admin", h.staff)
	read, act := h.need(staff.Read), h.need(staff.Act)
	admin.POST("/logout", read, h.staffLogout)
	admin.GET("/me", read, h.staffMe)
	admin.GET("/dashboard", read, h.adminDashboard)
	admin.GET("/accounts", read, h.adminSearch)
	admin.GET("/accounts/:id", read, h.adminCustomer)
	admin.POST("/accounts/:id/status", act, h.adminAccountStatus)
	admin.POST("/accounts/:id/correction", act, h.adminCorrectAccount)
	admin.POST("/accounts/:id/card-replacement", act, h.adminReplaceCard)
	admin.DELETE("/accounts/:id/bindings/:bid", act, h.adminUnbind)
	admin.GET("/orders", read, h.adminOrders)
	admin.GET("/orders/:no", read, h.adminGetOrder)
	admin.GET("/orders/:no/provider", act, h.adminAskProvider)
	admin.POST("/orders/:no/refund", act, h.adminRefund)
	admin.GET("/orders/:no/delivery", read, h.adminOrderDelivery)
	admin.POST("/orders/:no/resend", act, h.adminResendIoT)
	admin.GET("/approvals", read, h.adminApprovals)
	admin.POST("/approvals/:id/approve", h.need(staff.Approve), h.adminApprove)
	admin.POST("/approvals/:id/reject", h.need(staff.Approve), h.adminReject)
	admin.GET("/alerts", read, h.adminAlerts)
	admin.POST("/alerts/:id/resolve", act, h.adminResolveAlert)
	admin.GET("/box/events", read, h.adminBoxEvents)
	admin.GET("/kiosks", read, h.adminKiosks)
	admin.GET("/audit", h.need(staff.Audit), h.adminAudit)
	admin.GET("/imports", h.need(staff.Manage), h.adminImports)
	admin.POST("/imports/accounts", h.need(staff.Manage), h.adminImport("accounts"))
	admin.POST("/imports/bills", h.need(staff.Manage), h.adminImport("bills"))
	admin.POST("/imports/readings", h.need(staff.Manage), h.adminImport("readings"))
	admin.GET("/reports/daily", h.need(staff.Report), h.adminDailyReport)
	admin.GET("/tariffs", read, h.adminTariffs)
	admin.POST("/tariffs", h.need(staff.Manage), h.adminAddTariff)
	admin.POST("/tariffs/:code/versions", h.need(staff.Manage), h.adminScheduleTariff)
	admin.GET("/partners", h.need(staff.Manage), h.adminPartners)
	admin.POST("/partners", h.need(staff.Manage), h.adminAddPartner)
	admin.POST("/partners/:id/disable", h.need(staff.Manage), h.adminPartnerActive(false))
	admin.POST("/partners/:id/enable", h.need(staff.Manage), h.adminPartnerActive(true))
	admin.POST("/partners/:id/rotate", h.need(staff.Manage), h.adminRotatePartner)
	admin.GET("/staff", h.need(staff.Manage), h.adminStaff)
	admin.POST("/staff", h.need(staff.Manage), h.adminAddStaff)
	admin.POST("/staff/:name/disable", h.need(staff.Manage), h.adminDisableStaff)
	admin.POST("/staff/:name/password", h.need(staff.Manage), h.adminResetPassword)
	admin.GET("/refusals", read, h.adminRefusals)
	admin.GET("/iot/meters/:number/reports", read, h.adminMeterReports)
	// Reconciliation (issue 13): finance's.
	rep := h.need(staff.Report)
	admin.POST("/reconciliation/runs", rep, h.adminRunReconciliation)
	admin.GET("/reconciliation/runs", rep, h.adminReconciliationRuns)
	admin.GET("/reconciliation/runs/:provider/:date", rep, h.adminReconciliationDay)
	admin.GET("/reconciliation/differences", rep, h.adminDifferences)
	admin.POST("/reconciliation/differences/:id/resolve", rep, h.adminResolveDifference)
	admin.GET("/reconciliation/aging", rep, h.adminDeliveryAging)

	// The service hall's pages, and what they are told about the server.
	r.GET("/h5/*file", h.hallPage)
	r.HEAD("/h5/*file", h.hallPage)
	r.GET("/api/hall", h.hallConfig)
	r.GET("/h5", func(c *gin.Context) { c.Redirect(http.StatusMovedPermanently, "/h5/") })
	// The staff console's page.
	r.GET("/admin", func(c *gin.Context) { c.Redirect(http.StatusMovedPermanently, "/admin/") })
	r.GET("/admin/*file", h.adminPage)

	// The sandbox's customer actions; these routes do not exist outside it.
	if d.SandboxPay != nil {
		r.POST("/sandbox/wechat/pay/:no", h.sandboxWeChatPay)
	}
	if d.SandboxAlipay != nil {
		r.POST("/sandbox/alipay/pay/:no", h.sandboxAlipayPay)
	}
	if d.SandboxWeChat != nil {
		r.GET("/sandbox/wechat/messages", h.sandboxMessages)
	}
	if d.SandboxCTWing != nil {
		r.Any("/sandbox/ctwing/*path", gin.WrapH(http.StripPrefix("/sandbox/ctwing", d.SandboxCTWing)))
	}
	return r, nil
}

// Server wraps the router in an http.Server with timeouts: a slow or
// stalled client cannot hold a connection forever.
func Server(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}
