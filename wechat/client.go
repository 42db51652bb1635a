package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// App is one WeChat application: a mini-program or an official account.
type App struct {
	AppID  string
	Secret string
}

// APIError is an errcode WeChat answered with.
type APIError struct {
	Code int
	Msg  string
}

func (e *APIError) Error() string { return fmt.Sprintf("wechat: errcode %d: %s", e.Code, e.Msg) }

// Error codes the client acts on.
const (
	CodeInvalidCredential = 40001 // access token invalid (e.g. replaced)
	CodeInvalidCode       = 40029 // login code invalid
	CodeCodeUsed          = 40163 // login code already used
	CodeTokenExpired      = 42001 // access token expired
	CodeNoSubscribeCredit = 43101 // the user has not accepted a subscribe message
)

// ErrUnavailable: WeChat could not be reached or answered nonsense; the
// call may be retried.
var ErrUnavailable = errors.New("wechat: unavailable")

// ErrInvalidCode: the login code is unknown, expired or already used. The
// customer should simply log in again.
var ErrInvalidCode = errors.New("wechat: invalid login code")

// IsCode reports whether err is an APIError with one of codes.
func IsCode(err error, codes ...int) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	for _, c := range codes {
		if ae.Code == c {
			return true
		}
	}
	return false
}

// TokenCache keeps access tokens where every replica sees them.
type TokenCache interface {
	// Get returns the cached value, or "" when there is none.
	Get(ctx context.Context, key string) (string, error)
	// Set stores value for ttl.
	Set(ctx context.Context, key, value string, ttl time.Duration) error
	// DeleteIf removes key only while it still holds value, so that a
	// replica dropping a stale token never drops a fresh one another
	// replica just stored.
	DeleteIf(ctx context.Context, key, value string) error
	// Lock takes a lock for at most ttl; ok is false when another holder
	// has it. unlock releases it if still held.
	Lock(ctx context.Context, key string, ttl time.Duration) (unlock func(), ok bool, err error)
}

// Client calls the WeChat API.
type Client struct {
	base  string
	http  *http.Client
	cache TokenCache
	log   *slog.Logger
	now   func() time.Time

	// fetching serialises this process's token fetches per app; Redis
	// serialises the replicas.
	mu       sync.Mutex
	fetching map[string]*sync.Mutex
}

// NewClient makes a client of the API at base (https://api.weixin.qq.com).
// Every call is bounded by timeout.
func NewClient(base string, timeout time.Duration, cache TokenCache, log *slog.Logger) *Client {
	return &Client{
		base:     strings.TrimRight(base, "/"),
		http:     &http.Client{Timeout: timeout},
		cache:    cache,
		log:      log,
		now:      time.Now,
		fetching: map[string]*sync.Mutex{},
	}
}

// do calls the API and decodes its JSON answer into out. WeChat answers
// errors with HTTP 200 and an errcode, which become an *APIError. The query
// may hold the AppSecret or an access token: no error returned here carries
// the URL.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = strings.NewReader(string(b))
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("wechat: %s: bad request", path)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // drop the URL: it may carry the secret
		}
		return fmt.Errorf("wechat: %s: %w: %w", path, ErrUnavailable, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("wechat: %s: read: %w: %w", path, ErrUnavailable, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("wechat: %s: http %d: %w", path, resp.StatusCode, ErrUnavailable)
	}
	var e struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return fmt.Errorf("wechat: %s: bad json: %w", path, ErrUnavailable)
	}
	if e.ErrCode != 0 {
		return &APIError{Code: e.ErrCode, Msg: e.ErrMsg}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("wechat: %s: bad json", path)
		}
	}
	return nil
}

// MPSession is what a mini-program login yields. SessionKey must stay on the
// server.
type MPSession struct {
	OpenID     string
	UnionID    string
	SessionKey string
}

// Code2Session exchanges a mini-program login code (wx.login).
// Errors: ErrInvalidCode for an unknown, expired or used code.
func (c *Client) Code2Session(ctx context.Context, app App, code string) (MPSession, error) {
	var out struct {
		OpenID     string `json:"openid"`
		UnionID    string `json:"unionid"`
		SessionKey string `json:"session_key"`
	}
	q := url.Values{"appid": {app.AppID}, "secret": {app.Secret}, "js_code": {code}, "grant_type": {"authorization_code"}}
	err := c.do(ctx, http.MethodGet, "/sns/jscode2session", q, nil, &out)
	if IsCode(err, CodeInvalidCode, CodeCodeUsed) {
		return MPSession{}, ErrInvalidCode
	}
	if err != nil {
		return MPSession{}, err
	}
	if out.OpenID == "" {
		return MPSession{}, errors.New("wechat: jscode2session: no openid")
	}
	return MPSession{OpenID: out.OpenID, UnionID: out.UnionID, SessionKey: out.SessionKey}, nil
}

// OAuthUser is who an official-account OAuth code belongs to.
type OAuthUser struct {
	OpenID  string
	UnionID string
	// Snapshot is set when the page was opened in WeChat's snapshot mode
	// (is_snapshotuser=1): the openid is not the user's, so it must not
	// bind or pay.
	Snapshot bool
}

// OAuthExchange exchanges an official-account OAuth code (snsapi_base).
// Errors: ErrInvalidCode for an unknown, expired or used code.
func (c *Client) OAuthExchange(ctx context.Context, app App, code string) (OAuthUser, error) {
	var out struct {
		OpenID         string `json:"openid"`
		UnionID        string `json:"unionid"`
		IsSnapshotUser int    `json:"is_snapshotuser"`
	}
	q := url.Values{"appid": {app.AppID}, "secret": {app.Secret}, "code": {code}, "grant_type": {"authorization_code"}}
	err := c.do(ctx, http.MethodGet, "/sns/oauth2/access_token", q, nil, &out)
	if IsCode(err, CodeInvalidCode, CodeCodeUsed) {
		return OAuthUser{}, ErrInvalidCode
	}
	if err != nil {
		return OAuthUser{}, err
	}
	if out.OpenID == "" {
		return OAuthUser{}, errors.New("wechat: oauth2: no openid")
	}
	return OAuthUser{OpenID: out.OpenID, UnionID: out.UnionID, Snapshot: out.IsSnapshotUser == 1}, nil
}

// AuthorizeURL is the official account's OAuth page (snsapi_base) that
// returns to redirectURI with a code and state.
func AuthorizeURL(authorizeBase, appID, redirectURI, state string) string {
	// WeChat wants its parameters in exactly this order, and the fragment.
	return authorizeBase + "?appid=" + url.QueryEscape(appID) +
		"&redirect_uri=" + url.QueryEscape(redirectURI) +
		"&response_type=code&scope=snsapi_base&state=" + url.QueryEscape(state) +
		"#wechat_redirect"
}
