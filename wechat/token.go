package wechat

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"gaspay/internal/randhex"
)

// A token is re-fetched this long before WeChat says it expires, so that no
// replica ever uses one in its last minutes.
const tokenMargin = 300 * time.Second

// AccessToken returns the app's access token, from the shared cache or, when
// none is cached, from stable_token. Of all replicas only one fetches at a
// time; the others wait for its result.
func (c *Client) AccessToken(ctx context.Context, app App) (string, error) {
	return c.cached(ctx, app, "token", func(ctx context.Context) (string, int, error) {
		var out struct {
			AccessToken string `json:"access_token"`
			ExpiresIn   int    `json:"expires_in"`
		}
		body := map[string]any{"grant_type": "client_credential", "appid": app.AppID, "secret": app.Secret}
		if err := c.do(ctx, http.MethodPost, "/cgi-bin/stable_token", nil, body, &out); err != nil {
			return "", 0, err
		}
		return out.AccessToken, out.ExpiresIn, nil
	})
}

// JSAPITicket returns the official account's JS-SDK ticket, cached like the
// access token.
func (c *Client) JSAPITicket(ctx context.Context, app App) (string, error) {
	return c.cached(ctx, app, "jsapi_ticket", func(ctx context.Context) (string, int, error) {
		var out struct {
			Ticket    string `json:"ticket"`
			ExpiresIn int    `json:"expires_in"`
		}
		err := c.withToken(ctx, app, func(token string) error {
			return c.do(ctx, http.MethodGet, "/cgi-bin/ticket/getticket",
				url.Values{"access_token": {token}, "type": {"jsapi"}}, nil, &out)
		})
		return out.Ticket, out.ExpiresIn, err
	})
}

func (c *Client) appMutex(key string) *sync.Mutex {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.fetching[key]
	if !ok {
		m = &sync.Mutex{}
		c.fetching[key] = m
	}
	return m
}

func cacheKey(app App, what string) string { return "wechat:" + what + ":" + app.AppID }

// cached implements the shared, single-flight cache of a credential with a
// lifetime: tokens and tickets.
func (c *Client) cached(ctx context.Context, app App, what string, fetch func(context.Context) (string, int, error)) (string, error) {
	key := cacheKey(app, what)
	if v, err := c.cache.Get(ctx, key); err != nil || v != "" {
		return v, err
	}
	m := c.appMutex(key)
	m.Lock()
	defer m.Unlock()
	for wait := 20 * time.Millisecond; ; wait = min(wait*2, 200*time.Millisecond) {
		if v, err := c.cache.Get(ctx, key); err != nil || v != "" {
			return v, err
		}
		unlock, ok, err := c.cache.Lock(ctx, key+":lock", 15*time.Second)
		if err != nil {
			return "", err
		}
		if ok {
			defer unlock()
			// Another replica may have stored it between our Get and Lock.
			if v, err := c.cache.Get(ctx, key); err != nil || v != "" {
				return v, err
			}
			v, expiresIn, err := fetch(ctx)
			if err != nil {
				return "", err
			}
			if v == "" || expiresIn <= 0 {
				return "", fmt.Errorf("wechat: %s: empty answer", what)
			}
			ttl := time.Duration(expiresIn)*time.Second - tokenMargin
			if ttl < time.Minute {
				ttl = time.Minute
			}
			if err := c.cache.Set(ctx, key, v, ttl); err != nil {
				return "", err
			}
			c.log.InfoContext(ctx, "wechat credential fetched", slog.String("what", what),
				slog.String("appid", app.AppID), slog.Duration("ttl", ttl))
			return v, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("wechat: waiting for %s: %w", what, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// withToken calls fn with the app's access token. When WeChat says the token
// is invalid or expired (another party refreshed it, or it aged out early),
// the token is dropped from the cache and fn is retried once with a new one.
func (c *Client) withToken(ctx context.Context, app App, fn func(token string) error) error {
	token, err := c.AccessToken(ctx, app)
	if err != nil {
		return err
	}
	err = fn(token)
	if !IsCode(err, CodeInvalidCredential, CodeTokenExpired) {
		return err
	}
	if err := c.cache.DeleteIf(ctx, cacheKey(app, "token"), token); err != nil {
		return err
	}
	c.log.WarnContext(ctx, "wechat access token rejected, refreshing", slog.String("appid", app.AppID))
	if token, err = c.AccessToken(ctx, app); err != nil {
		return err
	}
	return fn(token)
}

// JSSDKConfig is what a page needs for wx.config.
type JSSDKConfig struct {
	AppID     string `json:"appId"`
	Timestamp int64  `json:"timestamp"`
	NonceStr  string `json:"nonceStr"`
	Signature string `json:"signature"`
}

// JSSDKSign signs pageURL (cut at '#') for the JS-SDK.
func (c *Client) JSSDKSign(ctx context.Context, app App, pageURL string) (JSSDKConfig, error) {
	ticket, err := c.JSAPITicket(ctx, app)
	if err != nil {
		return JSSDKConfig{}, err
	}
	if i := strings.IndexByte(pageURL, '#'); i >= 0 {
		pageURL = pageURL[:i]
	}
	cfg := JSSDKConfig{AppID: app.AppID, Timestamp: c.now().Unix(), NonceStr: randhex.New(8)}
	cfg.Signature = JSSDKSignature(ticket, cfg.NonceStr, cfg.Timestamp, pageURL)
	return cfg, nil
}

// JSSDKSignature is WeChat's SHA-1 signature of a page for wx.config.
func JSSDKSignature(ticket, nonce string, timestamp int64, pageURL string) string {
	s := "jsapi_ticket=" + ticket + "&noncestr=" + nonce + "&timestamp=" + strconv.FormatInt(timestamp, 10) + "&url=" + pageURL
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TemplateMessage is an official-account template message.
type TemplateMessage struct {
	ToUser     string                   `json:"touser"`
	TemplateID string                   `json:"template_id"`
	URL        string                   `json:"url,omitempty"`
	Data       map[string]TemplateValue `json:"data"`
}

// TemplateValue is one field of a template message.
type TemplateValue struct {
	Value string `json:"value"`
}

// SendTemplate sends an official-account template message.
func (c *Client) SendTemplate(ctx context.Context, app App, msg TemplateMessage) error {
	if msg.ToUser == "" || msg.TemplateID == "" {
		return errors.New("wechat: template message needs touser and template_id")
	}
	return c.withToken(ctx, app, func(token string) error {
		return c.do(ctx, http.MethodPost, "/cgi-bin/message/template/send",
			url.Values{"access_token": {token}}, msg, nil)
	})
}
