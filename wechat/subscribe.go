package wechat

import (
	"context"
	"errors"
	"net/http"
	"net/url"
)

// SubscribeMessage is a mini-program subscribe message: one may be sent
// per acceptance the user gave for its template.
type SubscribeMessage struct {
	ToUser     string                   `json:"touser"`
	TemplateID string                   `json:"template_id"`
	Page       string                   `json:"page,omitempty"`
	Data       map[string]TemplateValue `json:"data"`
}

// Error codes of message sending.
const (
	// CodeQuotaDaily: the app reached its daily API quota.
	CodeQuotaDaily = 45009
	// CodeTemplateQuota: the template's sending limit is reached.
	CodeTemplateQuota = 45047
	// CodeUserRefused: the user refuses the official account's messages.
	CodeUserRefused = 43004
)

// SendSubscribe sends a mini-program subscribe message. 43101 means the
// user has no acceptance left for the template.
func (c *Client) SendSubscribe(ctx context.Context, app App, msg SubscribeMessage) error {
	if msg.ToUser == "" || msg.TemplateID == "" {
		return errors.New("wechat: subscribe message needs touser and template_id")
	}
	return c.withToken(ctx, app, func(token string) error {
		return c.do(ctx, http.MethodPost, "/cgi-bin/message/subscribe/send",
			url.Values{"access_token": {token}}, msg, nil)
	})
}
