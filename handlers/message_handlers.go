package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"gaspay/customer"
	"gaspay/messages"
)

type subscriptionsRequest struct {
	// Results is wx.requestSubscribeMessage's answer: template id →
	// "accept", "reject" or "ban".
	Results map[string]string `json:"results"`
}

// subscriptions counts the subscribe messages a mini-program user just
// accepted: each acceptance allows one message.
func (h *handler) subscriptions(c *gin.Context) {
	var req subscriptionsRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	s := session(c)
	left, err := h.Messages.Accept(c.Request.Context(), s.UserID, s.AppKind, req.Results)
	if err == messages.ErrInvalid {
		writeError(c, badRequest("invalid_subscriptions", "请在小程序中订阅消息后再提交（最多 20 个模板）。"))
		return
	}
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"acceptances": left})
}

type lowBalanceRequest struct {
	ThresholdFen *int64 `json:"threshold_fen"`
}

// setLowBalance sets when a bound IoT account's meter report warns of a
// low balance.
func (h *handler) setLowBalance(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		writeError(c, err)
		return
	}
	var req lowBalanceRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	v, err := h.Customers.Account(c.Request.Context(), session(c).UserID, id)
	if err != nil {
		writeError(c, err)
		return
	}
	if v.Kind != customer.KindIoT || req.ThresholdFen == nil {
		writeError(c, badRequest("invalid_threshold", "仅物联网表账户可设置余额提醒，金额以分为单位。"))
		return
	}
	if err := h.Messages.SetLowBalance(c.Request.Context(), id, *req.ThresholdFen); err != nil {
		writeError(c, badRequest("invalid_threshold", "提醒金额须在 0 到 100000 元之间。"))
		return
	}
	c.JSON(http.StatusOK, gin.H{"threshold_fen": *req.ThresholdFen})
}

// SandboxMessage is one message the sandbox WeChat received.
type SandboxMessage struct {
	OpenID     string            `json:"openid"`
	TemplateID string            `json:"template_id"`
	Kind       string            `json:"kind"` // subscribe or template
	Event      string            `json:"event"`
	Data       map[string]string `json:"data"`
}

// sandboxMessages lists the messages the sandbox WeChat received, newest
// first (sandbox only).
func (h *handler) sandboxMessages(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"messages": h.SandboxWeChat()})
}
