package handlers

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"gaspay/recharge"
)

// maxNotification bounds what a provider's callback may carry: a genuine
// one is a couple of kilobytes.
const maxNotification = 64 << 10

// notification is a provider's callback as the provider port takes it: the
// headers and the raw body, read within maxNotification.
func notification(c *gin.Context) (recharge.Notification, error) {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxNotification))
	return recharge.Notification{Header: c.Request.Header, Body: body}, err
}

// parsed reads a callback and has the provider verify and decode it.
func parsed[E any](c *gin.Context, parse func(context.Context, recharge.Notification) (E, error)) (E, error) {
	n, err := notification(c)
	if err != nil {
		var zero E
		return zero, err
	}
	return parse(c.Request.Context(), n)
}

// wechatFail is WeChat Pay's way of saying "not accepted, send again".
func wechatFail(c *gin.Context, status int, message string) {
	c.AbortWithStatusJSON(status, gin.H{"code": "FAIL", "message": message})
}

// wechatPayNotify takes WeChat Pay's payment notifications. The signature,
// the time window and the decryption are checked first; a forged, tampered
// or probing notification (WECHATPAY/SIGNTEST) is refused and logged. A
// genuine one is taken exactly once, however often it comes. A payment
// that does not match its order is flagged for staff and acknowledged:
// sending it again would not make it match.
func (h *handler) wechatPayNotify(c *gin.Context) {
	ctx := c.Request.Context()
	p := h.Recharge.Provider(recharge.ProviderWeChat)
	if p == nil {
		wechatFail(c, http.StatusNotFound, "not configured")
		return
	}
	ev, err := parsed(c, p.ParsePayment)
	if recharge.IsNotAPayment(err) {
		h.verdict(recharge.ProviderWeChat, "not_payment")
		c.Status(http.StatusNoContent)
		return
	}
	if err != nil {
		h.verdict(recharge.ProviderWeChat, "refused")
		logFrom(c).WarnContext(ctx, "wechat notification refused", slog.String("ip", c.ClientIP()), slog.String("err", err.Error()))
		wechatFail(c, http.StatusUnauthorized, "签名验证失败")
		return
	}
	out, err := h.Recharge.MarkPaid(ctx, ev)
	h.verdict(recharge.ProviderWeChat, verdictOf(out, err))
	switch {
	case err == nil, errors.Is(err, recharge.ErrMismatch), errors.Is(err, recharge.ErrUnknownOrder):
		c.Status(http.StatusNoContent)
	default:
		logFrom(c).ErrorContext(ctx, "wechat notification not taken", slog.String("order_no", ev.OrderNo), slog.String("err", err.Error()))
		wechatFail(c, http.StatusInternalServerError, "系统繁忙")
	}
}

// wechatRefundNotify takes WeChat Pay's refund notifications, exactly once.
func (h *handler) wechatRefundNotify(c *gin.Context) {
	ctx := c.Request.Context()
	p := h.Recharge.Provider(recharge.ProviderWeChat)
	if p == nil {
		wechatFail(c, http.StatusNotFound, "not configured")
		return
	}
	ev, err := parsed(c, p.ParseRefund)
	if err != nil {
		logFrom(c).WarnContext(ctx, "wechat refund notification refused", slog.String("ip", c.ClientIP()), slog.String("err", err.Error()))
		wechatFail(c, http.StatusUnauthorized, "签名验证失败")
		return
	}
	err = h.Recharge.HandleRefundEvent(ctx, ev)
	switch {
	case err == nil, errors.Is(err, recharge.ErrNotFound), errors.Is(err, recharge.ErrMismatch):
		c.Status(http.StatusNoContent)
	default:
		logFrom(c).ErrorContext(ctx, "wechat refund notification not taken", slog.String("refund_no", ev.RefundNo), slog.String("err", err.Error()))
		wechatFail(c, http.StatusInternalServerError, "系统繁忙")
	}
}

// alipayNotify takes Alipay's notifications: the signature first (a
// forged or tampered one is refused), then app id, order and amount against
// the order; a payment is taken exactly once. Alipay wants exactly
// "success", or it sends again.
func (h *handler) alipayNotify(c *gin.Context) {
	ctx := c.Request.Context()
	p := h.Recharge.Provider(recharge.ProviderAlipay)
	if p == nil {
		c.String(http.StatusNotFound, "fail")
		return
	}
	ev, err := parsed(c, p.ParsePayment)
	if recharge.IsNotAPayment(err) {
		h.verdict(recharge.ProviderAlipay, "not_payment")
		c.String(http.StatusOK, "success")
		return
	}
	if err != nil {
		h.verdict(recharge.ProviderAlipay, "refused")
		logFrom(c).WarnContext(ctx, "alipay notification refused", slog.String("ip", c.ClientIP()), slog.String("err", err.Error()))
		c.String(http.StatusBadRequest, "fail")
		return
	}
	out, err := h.Recharge.MarkPaid(ctx, ev)
	h.verdict(recharge.ProviderAlipay, verdictOf(out, err))
	switch {
	case err == nil, errors.Is(err, recharge.ErrMismatch), errors.Is(err, recharge.ErrUnknownOrder):
		c.String(http.StatusOK, "success")
	default:
		logFrom(c).ErrorContext(ctx, "alipay notification not taken", slog.String("order_no", ev.OrderNo), slog.String("err", err.Error()))
		c.String(http.StatusInternalServerError, "fail")
	}
}

// verdictOf names what a notification did, for the metrics.
func verdictOf(out recharge.Outcome, err error) string {
	switch {
	case errors.Is(err, recharge.ErrMismatch):
		return "mismatch"
	case errors.Is(err, recharge.ErrUnknownOrder):
		return "unknown_order"
	case err != nil:
		return "failed"
	}
	switch out {
	case recharge.Paid:
		return "taken"
	case recharge.Duplicate:
		return "duplicate"
	case recharge.LateRefund:
		return "late_refund"
	case recharge.ConflictRefund:
		return "conflict_refund"
	case recharge.OtherPayment:
		return "other_payment"
	}
	return "unknown"
}

func (h *handler) verdict(provider, v string) {
	if h.Metrics != nil {
		h.Metrics.Notification(provider, v)
	}
}
