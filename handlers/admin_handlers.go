package handlers

import (
	"crypto/subtle"
	"log/slog"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"gaspay/console"
	"gaspay/recharge"
	"gaspay/staff"
)

// errSandboxPayRefused: the sandbox's provider would not take the payment
// (the order is unknown there, paid, closed or expired); the page shows it.
var errSandboxPayRefused = &apiError{Status: http.StatusConflict, Code: "sandbox_pay_refused",
	Message: "沙箱支付未完成：该订单不存在、已支付、已关闭或已过期。"}

var errNotStaff = &apiError{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "请先登录。"}

// staff admits staff: a console session cookie (whose state-changing
// requests must carry the session's X-CSRF-Token), or the automation
// token GASPAY_ADMIN_TOKEN as a Bearer header, compared in constant time,
// which acts with the admin role and whose every use is audited. What the
// staff member may do is checked per route by need.
func (h *handler) staff(c *gin.Context) {
	ip, rid := c.ClientIP(), c.Writer.Header().Get("X-Request-Id")
	if token := bearer(c.GetHeader("Authorization")); token != "" {
		if h.AdminToken == "" || subtle.ConstantTimeCompare([]byte(token), []byte(h.AdminToken)) != 1 {
			writeError(c, errNotStaff)
			return
		}
		actor := staff.Actor{Name: staff.TokenActor, Role: staff.Admin, IP: ip, RequestID: rid}
		if err := h.auditTokenUse(c, actor); err != nil {
			writeError(c, err)
			return
		}
		c.Set(ctxStaff, actor)
		c.Next()
		return
	}
	cookie, err := c.Cookie(staffCookie)
	if err != nil || cookie == "" || h.Staff == nil {
		writeError(c, errNotStaff)
		return
	}
	se, err := h.Staff.Session(c.Request.Context(), cookie)
	if err != nil {
		writeError(c, err)
		return
	}
	if !safeMethod(c.Request.Method) {
		if err := se.CheckCSRF(c.GetHeader("X-CSRF-Token")); err != nil {
			writeError(c, err)
			return
		}
	}
	c.Set(ctxStaff, se.Actor(ip, rid))
	c.Set(ctxStaffToken, cookie)
	c.Next()
}

// adminGetOrder shows any order.
func (h *handler) adminGetOrder(c *gin.Context) {
	no := c.Param("no")
	if !validOrderNo(no) {
		writeError(c, errInvalidOrderNo)
		return
	}
	v, err := h.Recharge.OrderByNo(c.Request.Context(), no)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toAdminOrders([]recharge.OrderView{v}, nil)[0])
}

type refundRequest struct {
	Reason string `json:"reason"`
}

// adminRefund refunds a paid order whose credit has not been delivered.
func (h *handler) adminRefund(c *gin.Context) {
	no := c.Param("no")
	if !validOrderNo(no) {
		writeError(c, errInvalidOrderNo)
		return
	}
	var req refundRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	if n := utf8.RuneCountInString(req.Reason); n == 0 || n > 60 {
		writeError(c, badRequest("invalid_reason", "reason must say why, in at most 60 characters."))
		return
	}
	out, err := h.Console.RequestRefund(c.Request.Context(), actor(c), no, req.Reason)
	if err != nil {
		writeError(c, err)
		return
	}
	h.writeRefundOutcome(c, out)
}

// writeRefundOutcome answers what a refund request or an approval did: a
// refund started, an approval to wait for, or an IoT credit being
// cancelled (refunded once a meter report proves it unapplied).
func (h *handler) writeRefundOutcome(c *gin.Context, out console.RefundOutcome) {
	switch {
	case out.Cancel != nil:
		rr := out.Cancel
		c.JSON(http.StatusAccepted, gin.H{"status": "cancel_requested", "order_no": rr.OrderNo, "delivery_state": rr.State,
			"valid_until": rr.ValidUntil, "message": "The recharge was sent to the meter: it is being cancelled, and the refund completes once a meter report proves it was not applied."})
	case out.Approval != nil:
		a := out.Approval
		c.JSON(http.StatusAccepted, gin.H{"status": "awaiting_approval", "approval_id": a.ID, "amount_fen": a.AmountFen,
			"threshold_fen": h.Console.ApprovalFen()})
	default:
		r := out.Refund
		c.JSON(http.StatusAccepted, refundResponse{RefundNo: r.RefundNo, Status: string(r.Status), AmountFen: int64(r.AmountFen),
			Reason: r.Reason, SucceededAt: r.SucceededAt})
	}
}

type alertResponse struct {
	ID         int64      `json:"id"`
	Kind       string     `json:"kind"`
	OrderNo    *string    `json:"order_no,omitempty"`
	Detail     string     `json:"detail"`
	CreatedAt  time.Time  `json:"created_at"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
}

// adminAlerts lists what staff must look at, open ones unless all=1.
func (h *handler) adminAlerts(c *gin.Context) {
	list, err := h.Console.Alerts(c.Request.Context(), c.Query("all") != "1", 100)
	if err != nil {
		writeError(c, err)
		return
	}
	out := make([]alertResponse, len(list))
	for i, a := range list {
		out[i] = alertResponse{ID: a.ID, Kind: a.Kind, OrderNo: a.OrderNo, Detail: a.Detail, CreatedAt: a.CreatedAt, ResolvedAt: a.ResolvedAt}
	}
	c.JSON(http.StatusOK, gin.H{"alerts": out})
}

// sandboxWeChatPay makes the sandbox's WeChat Pay pay an order, as the
// customer would in WeChat, which then notifies us.
func (h *handler) sandboxWeChatPay(c *gin.Context) {
	no := c.Param("no")
	if !validOrderNo(no) {
		writeError(c, errInvalidOrderNo)
		return
	}
	status, err := h.SandboxPay(c.Request.Context(), no)
	if err != nil {
		logFrom(c).InfoContext(c.Request.Context(), "sandbox payment refused", slog.String("order_no", no), slog.String("err", err.Error()))
		writeError(c, errSandboxPayRefused)
		return
	}
	c.JSON(http.StatusOK, gin.H{"paid": true, "notification_status": status})
}

// sandboxAlipayPay makes the sandbox's Alipay pay an order, as the buyer
// would at the cashier, which then notifies us.
func (h *handler) sandboxAlipayPay(c *gin.Context) {
	no := c.Param("no")
	if !validOrderNo(no) {
		writeError(c, errInvalidOrderNo)
		return
	}
	answer, err := h.SandboxAlipay(c.Request.Context(), no, "")
	if err != nil {
		logFrom(c).InfoContext(c.Request.Context(), "sandbox payment refused", slog.String("order_no", no), slog.String("err", err.Error()))
		writeError(c, errSandboxPayRefused)
		return
	}
	c.JSON(http.StatusOK, gin.H{"paid": true, "notification_answer": answer})
}
