package handlers

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"gaspay/auth"
	"gaspay/internal/randhex"
	"gaspay/logging"
)

// Context keys of this package.
const (
	ctxSession = "gaspay.session"
	ctxToken   = "gaspay.token"
	ctxLog     = "gaspay.log"
)

// sessionCookie carries the official account's session; the mini-program
// sends the same token as a Bearer header.
const sessionCookie = "gaspay_session"

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// requestID gives every request an id: the caller's X-Request-Id when it is
// sane (a proxy's), otherwise a new one. It is echoed back and carried by
// the context into every log line.
func (h *handler) requestID(c *gin.Context) {
	id := c.GetHeader("X-Request-Id")
	if !requestIDPattern.MatchString(id) {
		id = randhex.New(8)
	}
	c.Header("X-Request-Id", id)
	c.Request = c.Request.WithContext(logging.WithRequestID(c.Request.Context(), id))
	c.Set(ctxLog, h.Log)
	c.Next()
}

// accessLog writes one line per request. The query string is left out: it
// may carry OAuth codes and states.
func (h *handler) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	attrs := []slog.Attr{
		slog.String("method", c.Request.Method),
		slog.String("path", c.Request.URL.Path),
		slog.Int("status", c.Writer.Status()),
		slog.Float64("ms", float64(time.Since(start).Microseconds())/1000),
		slog.String("ip", c.ClientIP()),
	}
	if s, ok := c.Get(ctxSession); ok {
		attrs = append(attrs, slog.Int64("user_id", s.(auth.Session).UserID))
	}
	h.Log.LogAttrs(c.Request.Context(), slog.LevelInfo, "http", attrs...)
}

// recover turns a panic into a logged "internal" answer. An aborted
// handler (http.ErrAbortHandler) is let through, as net/http expects.
func (h *handler) recover(c *gin.Context) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
			panic(v)
		}
		h.Log.ErrorContext(c.Request.Context(), "panic", slog.String("panic", fmt.Sprint(v)),
			slog.String("stack", string(debug.Stack())))
		if !c.Writer.Written() {
			writeError(c, errInternal)
		} else {
			c.Abort()
		}
	}()
	c.Next()
}

func logFrom(c *gin.Context) *slog.Logger {
	if l, ok := c.Get(ctxLog); ok {
		return l.(*slog.Logger)
	}
	return slog.Default()
}

// authenticate requires a customer session, from a Bearer token (the
// mini-program) or the session cookie (the official account's pages).
//
// A cookie is sent by the browser on its own, so a request carrying only the
// cookie must also prove it comes from our pages: state-changing methods
// need an Origin (or Referer) of our own origin. SameSite=Lax already keeps
// cross-site POSTs from carrying the cookie; this is the second lock.
func (h *handler) authenticate(c *gin.Context) {
	token, fromCookie := bearer(c.GetHeader("Authorization")), false
	if token == "" {
		if v, err := c.Cookie(sessionCookie); err == nil && v != "" {
			token, fromCookie = v, true
		}
	}
	if token == "" {
		writeError(c, errMissingToken)
		return
	}
	if fromCookie && !safeMethod(c.Request.Method) && !h.sameOrigin(c.Request) {
		writeError(c, errBadOrigin)
		return
	}
	s, err := h.Auth.Sessions().Get(c.Request.Context(), token)
	if err != nil {
		writeError(c, err)
		return
	}
	c.Set(ctxSession, s)
	c.Set(ctxToken, token)
	c.Next()
}

func bearer(header string) string {
	if len(header) > 7 && strings.EqualFold(header[:7], "bearer ") {
		return strings.TrimSpace(header[7:])
	}
	return ""
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func (h *handler) sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		ref, err := url.Parse(r.Header.Get("Referer"))
		if err != nil || ref.Host == "" {
			return false
		}
		origin = ref.Scheme + "://" + ref.Host
	}
	return origin == h.PublicURL
}

// session is the request's customer session; only under authenticate.
func session(c *gin.Context) auth.Session {
	return c.MustGet(ctxSession).(auth.Session)
}
