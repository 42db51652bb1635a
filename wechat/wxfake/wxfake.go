// Package wxfake is a fake of the WeChat API (api.weixin.qq.com and the
// official account's OAuth page) for tests and the sandbox. It speaks the
// real wire protocol: the same paths, parameters, JSON answers and errcodes,
// so gaspay's client is exercised exactly as in production.
//
// Sandbox login contract: the code "test:<name>" is always accepted and logs
// in as a stable openid derived from the app and <name> (see OpenID). Other
// codes are issued with IssueCode and, like WeChat's, work once and for five
// minutes.
package wxfake

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"gaspay/internal/randhex"
)

// Errcodes the fake answers with.
const (
	errInvalidAppSecret = 40125
	errInvalidAppID     = 40013
	errInvalidCode      = 40029
	errCodeUsed         = 40163
	errInvalidToken     = 40001
	errTokenExpired     = 42001
)

type code struct {
	appID    string
	openID   string
	snapshot bool
	expires  time.Time
	used     bool
}

type token struct {
	appID   string
	expires time.Time
}

// Fault is an error the fake answers on a path instead of its normal answer.
type Fault struct {
	ErrCode int
	ErrMsg  string
}

// Sent is a message the fake accepted.
type Sent struct {
	Path string
	Body json.RawMessage
}

// Server is the fake. It is safe for concurrent use.
type Server struct {
	mu      sync.Mutex
	apps    map[string]string // appid → secret
	codes   map[string]*code
	tokens  map[string]token
	stable  map[string]string // appid → its current stable token
	tickets map[string]string // appid → its current ticket
	calls   map[string]int
	faults  map[string][]Fault
	sent    []Sent
	now     func() time.Time
	mux     *http.ServeMux
}

// New makes a fake that knows the given apps (appid → secret).
func New(apps map[string]string) *Server {
	s := &Server{
		apps:    map[string]string{},
		codes:   map[string]*code{},
		tokens:  map[string]token{},
		stable:  map[string]string{},
		tickets: map[string]string{},
		calls:   map[string]int{},
		faults:  map[string][]Fault{},
		now:     time.Now,
		mux:     http.NewServeMux(),
	}
	for k, v := range apps {
		s.apps[k] = v
	}
	s.mux.HandleFunc("GET /sns/jscode2session", s.jscode2session)
	s.mux.HandleFunc("GET /sns/oauth2/access_token", s.oauthToken)
	s.mux.HandleFunc("GET /connect/oauth2/authorize", s.authorize)
	s.mux.HandleFunc("POST /cgi-bin/stable_token", s.stableToken)
	s.mux.HandleFunc("GET /cgi-bin/ticket/getticket", s.getTicket)
	s.mux.HandleFunc("POST /cgi-bin/message/template/send", s.send)
	s.mux.HandleFunc("POST /cgi-bin/message/subscribe/send", s.send)
	return s
}

// SetClock replaces the fake's clock.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls[r.URL.Path]++
	var f *Fault
	if q := s.faults[r.URL.Path]; len(q) > 0 {
		f, s.faults[r.URL.Path] = &q[0], q[1:]
	}
	s.mu.Unlock()
	if f != nil {
		writeJSON(w, map[string]any{"errcode": f.ErrCode, "errmsg": f.ErrMsg})
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Calls counts the requests on path.
func (s *Server) Calls(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[path]
}

// Fail makes the next requests on path answer the given faults, in order.
func (s *Server) Fail(path string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[path] = append(s.faults[path], faults...)
}

// RevokeTokens invalidates every access token, as WeChat does when another
// party forces a refresh: the next call with an old token gets 40001.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = map[string]token{}
	s.stable = map[string]string{}
}

// SentMessages returns the messages the fake accepted.
func (s *Server) SentMessages() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sent(nil), s.sent...)
}

// OpenID is the stable openid the sandbox code "test:<name>" logs in as
// under appID. Different apps give different openids, as in WeChat.
func OpenID(appID, name string) string {
	sum := sha256.Sum256([]byte("wxfake/openid\x00" + appID + "\x00" + name))
	return "o" + base64.RawURLEncoding.EncodeToString(sum[:])[:27]
}

// IssueCode issues a single-use login code for openID under appID, valid
// five minutes. snapshot marks an official-account snapshot-page user.
func (s *Server) IssueCode(appID, openID string, snapshot bool) string {
	c := randhex.New(16)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[c] = &code{appID: appID, openID: openID, snapshot: snapshot, expires: s.now().Add(5 * time.Minute)}
	return c
}

// redeem checks an app's credentials and a code.
func (s *Server) redeem(appID, secret, c string) (*code, *Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	want, ok := s.apps[appID]
	if !ok {
		return nil, &Fault{errInvalidAppID, "invalid appid"}
	}
	if secret != want {
		return nil, &Fault{errInvalidAppSecret, "invalid appsecret"}
	}
	if name, ok := strings.CutPrefix(c, "test:"); ok && name != "" && len(name) <= 64 {
		return &code{appID: appID, openID: OpenID(appID, name)}, nil
	}
	cd, ok := s.codes[c]
	switch {
	case !ok || cd.appID != appID || s.now().After(cd.expires):
		return nil, &Fault{errInvalidCode, "invalid code"}
	case cd.used:
		return nil, &Fault{errCodeUsed, "code been used"}
	}
	cd.used = true
	return cd, nil
}

func (s *Server) jscode2session(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("grant_type") != "authorization_code" {
		writeJSON(w, map[string]any{"errcode": 40002, "errmsg": "invalid grant_type"})
		return
	}
	cd, f := s.redeem(q.Get("appid"), q.Get("secret"), q.Get("js_code"))
	if f != nil {
		writeJSON(w, map[string]any{"errcode": f.ErrCode, "errmsg": f.ErrMsg})
		return
	}
	writeJSON(w, map[string]any{"openid": cd.openID, "session_key": base64.StdEncoding.EncodeToString(randomBytes(16))})
}

func (s *Server) oauthToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("grant_type") != "authorization_code" {
		writeJSON(w, map[string]any{"errcode": 40002, "errmsg": "invalid grant_type"})
		return
	}
	cd, f := s.redeem(q.Get("appid"), q.Get("secret"), q.Get("code"))
	if f != nil {
		writeJSON(w, map[string]any{"errcode": f.ErrCode, "errmsg": f.ErrMsg})
		return
	}
	out := map[string]any{"access_token": randhex.New(16), "expires_in": 7200, "refresh_token": randhex.New(16),
		"openid": cd.openID, "scope": "snsapi_base"}
	if cd.snapshot {
		out["is_snapshotuser"] = 1
	}
	writeJSON(w, out)
}

// authorize plays the official account's OAuth page for the user named by
// the sandbox_user parameter (default "demo"): it returns at once to
// redirect_uri with a fresh code and the state, as WeChat does for
// snsapi_base.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	_, known := s.apps[q.Get("appid")]
	s.mu.Unlock()
	ru, err := url.Parse(q.Get("redirect_uri"))
	if !known || err != nil || !ru.IsAbs() || q.Get("response_type") != "code" || q.Get("scope") != "snsapi_base" {
		http.Error(w, "bad authorize request", http.StatusBadRequest)
		return
	}
	name := q.Get("sandbox_user")
	if name == "" {
		name = "demo"
	}
	c := s.IssueCode(q.Get("appid"), OpenID(q.Get("appid"), name), q.Get("snapshot") == "1")
	rq := ru.Query()
	rq.Set("code", c)
	rq.Set("state", q.Get("state"))
	ru.RawQuery = rq.Encode()
	http.Redirect(w, r, ru.String(), http.StatusFound)
}

func (s *Server) stableToken(w http.ResponseWriter, r *http.Request) {
	var in struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.GrantType != "client_credential" {
		writeJSON(w, map[string]any{"errcode": 40002, "errmsg": "invalid grant_type"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	want, ok := s.apps[in.AppID]
	if !ok {
		writeJSON(w, map[string]any{"errcode": errInvalidAppID, "errmsg": "invalid appid"})
		return
	}
	if in.Secret != want {
		writeJSON(w, map[string]any{"errcode": errInvalidAppSecret, "errmsg": "invalid appsecret"})
		return
	}
	// Normal mode returns the current token while it is valid.
	now := s.now()
	if cur, ok := s.stable[in.AppID]; ok && !in.ForceRefresh {
		if t, ok := s.tokens[cur]; ok && now.Before(t.expires) {
			writeJSON(w, map[string]any{"access_token": cur, "expires_in": int(t.expires.Sub(now).Seconds())})
			return
		}
	}
	tok := randhex.New(32)
	s.tokens[tok] = token{appID: in.AppID, expires: now.Add(7200 * time.Second)}
	s.stable[in.AppID] = tok
	writeJSON(w, map[string]any{"access_token": tok, "expires_in": 7200})
}

// checkToken validates an access token; the lock must be held.
func (s *Server) checkToken(tok string) (string, *Fault) {
	t, ok := s.tokens[tok]
	switch {
	case !ok:
		return "", &Fault{errInvalidToken, "invalid credential, access_token is invalid or not latest"}
	case s.now().After(t.expires):
		return "", &Fault{errTokenExpired, "access_token expired"}
	}
	return t.appID, nil
}

func (s *Server) getTicket(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	appID, f := s.checkToken(r.URL.Query().Get("access_token"))
	if f != nil {
		writeJSON(w, map[string]any{"errcode": f.ErrCode, "errmsg": f.ErrMsg})
		return
	}
	t, ok := s.tickets[appID]
	if !ok {
		t = randhex.New(24)
		s.tickets[appID] = t
	}
	writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "ticket": t, "expires_in": 7200})
}

func (s *Server) send(w http.ResponseWriter, r *http.Request) {
	var body json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeJSON(w, map[string]any{"errcode": 47001, "errmsg": "data format error"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, f := s.checkToken(r.URL.Query().Get("access_token")); f != nil {
		writeJSON(w, map[string]any{"errcode": f.ErrCode, "errmsg": f.ErrMsg})
		return
	}
	s.sent = append(s.sent, Sent{Path: r.URL.Path, Body: body})
	writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "msgid": len(s.sent)})
}

// Ticket is the JS-SDK ticket currently issued to appID, for checking
// signatures in tests.
func (s *Server) Ticket(appID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tickets[appID]
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(v)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("wxfake: crypto/rand: " + err.Error())
	}
	return b
}
