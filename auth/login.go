package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"gaspay/internal/randhex"
	"gaspay/models"
	"gaspay/rediskv"
	"gaspay/wechat"
)

// Errors of the login flows; test them with errors.Is.
var (
	// ErrInvalidCode: WeChat does not know the code (expired, used, forged).
	ErrInvalidCode = errors.New("auth: invalid login code")
	// ErrSnapshotUser: the official-account page was opened in snapshot
	// mode; its openid is not the user's.
	ErrSnapshotUser = errors.New("auth: snapshot page user")
	// ErrBadState: the OAuth state is unknown, used, expired, or belongs
	// to another browser.
	ErrBadState = errors.New("auth: invalid oauth state")
	// ErrBadNext: the page to return to is not an allowed local path.
	ErrBadNext = errors.New("auth: next is not an allowed page")
	// ErrNotConfigured: the WeChat application is not configured.
	ErrNotConfigured = errors.New("auth: wechat app not configured")
)

// Config configures the login flows.
type Config struct {
	MP, OA wechat.App
	// PublicURL is the origin WeChat returns the browser to.
	PublicURL string
	// AuthorizeURL is WeChat's OAuth page.
	AuthorizeURL string
	// NextPaths are the path prefixes a login may return to; the first is
	// the default.
	NextPaths []string
	// Sandbox makes the OAuth redirect come straight back to the callback
	// with a sandbox code, without visiting WeChat.
	Sandbox bool
}

// Service runs the login flows.
type Service struct {
	cfg      Config
	wx       *wechat.Client
	store    *models.Store
	rdb      *rediskv.Client
	sessions *Sessions
	log      *slog.Logger
	now      func() time.Time
}

// NewService makes a login service.
func NewService(cfg Config, wx *wechat.Client, store *models.Store, rdb *rediskv.Client, sessions *Sessions, log *slog.Logger) *Service {
	return &Service{cfg: cfg, wx: wx, store: store, rdb: rdb, sessions: sessions, log: log, now: time.Now}
}

// Apps are the mini-program and the official account logins go through.
func (s *Service) Apps() (mp, oa wechat.App) { return s.cfg.MP, s.cfg.OA }

// Sessions is the service's session store.
func (s *Service) Sessions() *Sessions { return s.sessions }

// Login is a started session.
type Login struct {
	Token     string
	ExpiresAt time.Time
	UserID    int64
}

// MiniProgramLogin exchanges a wx.login code for a session.
// Errors: ErrInvalidCode, ErrNotConfigured; others mean WeChat or storage
// failed.
func (s *Service) MiniProgramLogin(ctx context.Context, code string) (Login, error) {
	if s.cfg.MP.AppID == "" {
		return Login{}, ErrNotConfigured
	}
	ws, err := s.wx.Code2Session(ctx, s.cfg.MP, code)
	if errors.Is(err, wechat.ErrInvalidCode) {
		return Login{}, ErrInvalidCode
	}
	if err != nil {
		return Login{}, fmt.Errorf("auth: mini-program login: %w", err)
	}
	return s.start(ctx, models.AppMiniProgram, s.cfg.MP.AppID, ws.OpenID, ws.UnionID, ws.SessionKey)
}

func (s *Service) start(ctx context.Context, kind models.AppKind, appID, openID, unionID, sessionKey string) (Login, error) {
	var uid *string
	if unionID != "" {
		uid = &unionID
	}
	u, err := s.store.UpsertUser(ctx, kind, appID, openID, uid, s.now().UTC())
	if err != nil {
		return Login{}, fmt.Errorf("auth: login: %w", err)
	}
	sess := Session{UserID: u.ID, AppKind: kind, AppID: appID, OpenID: openID}
	token, expires, err := s.sessions.Create(ctx, sess, sessionKey)
	if err != nil {
		return Login{}, err
	}
	s.log.InfoContext(ctx, "login", slog.String("app", string(kind)), slog.Int64("user_id", u.ID))
	return Login{Token: token, ExpiresAt: expires, UserID: u.ID}, nil
}

// oauthState is what Redis keeps for a started official-account login.
type oauthState struct {
	BrowserHash string `json:"b"`
	Next        string `json:"n"`
}

// OAuthStart is a started official-account login: send the browser to
// Redirect with BrowserNonce in a cookie.
type OAuthStart struct {
	Redirect     string
	BrowserNonce string
}

// stateTTL is how long a started login may take; WeChat's codes live 5 min.
const stateTTL = 5 * time.Minute

var sandboxName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// StartOAuth starts an official-account login that returns to next. In the
// sandbox, sandboxUser names the customer to log in as (default "demo").
// Errors: ErrBadNext, ErrNotConfigured.
func (s *Service) StartOAuth(ctx context.Context, next, sandboxUser string) (OAuthStart, error) {
	if s.cfg.OA.AppID == "" {
		return OAuthStart{}, ErrNotConfigured
	}
	next, err := s.CheckNext(next)
	if err != nil {
		return OAuthStart{}, err
	}
	state, nonce := randhex.New(16), randhex.New(16)
	raw, _ := json.Marshal(oauthState{BrowserHash: hashHex(nonce), Next: next})
	if err := s.rdb.Set(ctx, s.rdb.Key("oastate", state), raw, stateTTL).Err(); err != nil {
		return OAuthStart{}, fmt.Errorf("auth: oauth state: %w", err)
	}
	var redirect string
	if s.cfg.Sandbox {
		if sandboxUser == "" {
			sandboxUser = "demo"
		}
		if !sandboxName.MatchString(sandboxUser) {
			return OAuthStart{}, ErrBadNext
		}
		redirect = "/oa/callback?" + url.Values{"code": {"test:" + sandboxUser}, "state": {state}}.Encode()
	} else {
		redirect = wechat.AuthorizeURL(s.cfg.AuthorizeURL, s.cfg.OA.AppID, s.cfg.PublicURL+"/oa/callback", state)
	}
	return OAuthStart{Redirect: redirect, BrowserNonce: nonce}, nil
}

// FinishOAuth completes an official-account login: the state must be one
// this browser started (browserNonce from its cookie) and is used up.
// Errors: ErrBadState, ErrInvalidCode, ErrSnapshotUser.
func (s *Service) FinishOAuth(ctx context.Context, code, state, browserNonce string) (Login, string, error) {
	if !validState(state) || browserNonce == "" || code == "" || len(code) > 128 {
		return Login{}, "", ErrBadState
	}
	raw, err := s.rdb.GetDel(ctx, s.rdb.Key("oastate", state)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Login{}, "", ErrBadState
	}
	if err != nil {
		return Login{}, "", fmt.Errorf("auth: oauth state: %w", err)
	}
	var st oauthState
	if err := json.Unmarshal(raw, &st); err != nil {
		return Login{}, "", fmt.Errorf("auth: oauth state: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(st.BrowserHash), []byte(hashHex(browserNonce))) != 1 {
		return Login{}, "", ErrBadState
	}
	u, err := s.wx.OAuthExchange(ctx, s.cfg.OA, code)
	if errors.Is(err, wechat.ErrInvalidCode) {
		return Login{}, "", ErrInvalidCode
	}
	if err != nil {
		return Login{}, "", fmt.Errorf("auth: oauth exchange: %w", err)
	}
	if u.Snapshot {
		return Login{}, "", ErrSnapshotUser
	}
	l, err := s.start(ctx, models.AppOfficialAccount, s.cfg.OA.AppID, u.OpenID, u.UnionID, "")
	return l, st.Next, err
}

// CheckNext accepts a local path under one of the allowed prefixes and
// returns it cleaned; "" means the first allowed prefix. Anything that could
// leave the site (a scheme, a host, //, a backslash) is refused.
func (s *Service) CheckNext(next string) (string, error) {
	if next == "" {
		return s.cfg.NextPaths[0], nil
	}
	if len(next) > 512 || strings.ContainsAny(next, "\\\r\n\t") || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return "", ErrBadNext
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "", ErrBadNext
	}
	clean := path.Clean(u.Path)
	if strings.HasSuffix(u.Path, "/") && clean != "/" {
		clean += "/"
	}
	for _, p := range s.cfg.NextPaths {
		if clean == strings.TrimSuffix(p, "/") || strings.HasPrefix(clean, p) {
			out := &url.URL{Path: clean, RawQuery: u.RawQuery}
			return out.String(), nil
		}
	}
	return "", ErrBadNext
}

// Logout ends the session of token.
func (s *Service) Logout(ctx context.Context, token string) error {
	return s.sessions.Revoke(ctx, token)
}

func validState(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9') && !(r >= 'a' && r <= 'z') && !(r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
