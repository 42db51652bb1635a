package handlers

import (
	"crypto/subtle"
	"log/slog"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// errSandboxPayRefused: the sandbox's provider would not take the payment
// (the order is unknown there, paid, closed or expired); the page shows it.
var errSandboxPayRefused = &apiError{Status: http.StatusConflict, Code: "sandbox_pay_refused",
	Message: "沙箱支付未完成：该订单不存在、已支付、已关闭或已过期。"}

var errNotStaff = &apiError{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "Staff credentials required."}

// staff admits staff by the configured bearer token, compared in constant
// time, until staff accounts exist.
func (h *handler) staff(c *gin.Context) {
	token := bearer(c.GetHeader("Authorization"))
	if h.AdminToken == "" || subtle.ConstantTimeCompare([]byte(token), []byte(h.AdminToken)) != 1 {
		writeError(c, errNotStaff)
		return
	}
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
	c.JSON(http.StatusOK, toOrderResponse(v))
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
	r, err := h.Recharge.RefundOrder(c.Request.Context(), no, req.Reason, "staff")
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusAccepted, refundResponse{RefundNo: r.RefundNo, Status: string(r.Status), AmountFen: r.AmountFen,
		Reason: r.Reason, SucceededAt: r.SucceededAt})
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
	list, err := h.Store.Alerts(c.Request.Context(), c.Query("all") != "1", 100)
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
