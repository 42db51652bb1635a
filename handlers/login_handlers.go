package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

type mpLoginRequest struct {
	Code string `json:"code"`
}

type loginResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// validCode accepts what a WeChat login code (or a sandbox "test:<name>"
// code) can look like: printable ASCII without spaces, at most 128 bytes.
func validCode(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// mpLogin exchanges a mini-program wx.login code for a session token.
func (h *handler) mpLogin(c *gin.Context) {
	var req mpLoginRequest
	if err := decodeJSON(c, &req); err != nil {
		writeError(c, err)
		return
	}
	if !validCode(req.Code) {
		writeError(c, badRequest("invalid_code", "登录凭证无效，请重新登录。"))
		return
	}
	l, err := h.Auth.MiniProgramLogin(c.Request.Context(), req.Code)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, loginResponse{Token: l.Token, ExpiresAt: l.ExpiresAt})
}

// logout ends the caller's session.
func (h *handler) logout(c *gin.Context) {
	if err := h.Auth.Logout(c.Request.Context(), c.GetString(ctxToken)); err != nil {
		writeError(c, err)
		return
	}
	h.setCookie(c, sessionCookie, "", -1, "/")
	c.Status(http.StatusNoContent)
}

// oaStateCookie ties an OAuth state to the browser that started the login.
const oaStateCookie = "gaspay_oa_state"

// oaLogin sends the browser to WeChat's OAuth page (snsapi_base), which
// returns it to oaCallback.
func (h *handler) oaLogin(c *gin.Context) {
	start, err := h.Auth.StartOAuth(c.Request.Context(), c.Query("next"), c.Query("as"))
	if err != nil {
		writeError(c, err)
		return
	}
	h.setCookie(c, oaStateCookie, start.BrowserNonce, 300, "/oa/")
	c.Redirect(http.StatusFound, start.Redirect)
}

// oaCallback finishes the official-account login: it checks the state
// against this browser's cookie, exchanges the code, refuses snapshot-page
// users, sets the session cookie and returns to the page the login started
// from.
func (h *handler) oaCallback(c *gin.Context) {
	nonce, _ := c.Cookie(oaStateCookie)
	h.setCookie(c, oaStateCookie, "", -1, "/oa/")
	l, next, err := h.Auth.FinishOAuth(c.Request.Context(), c.Query("code"), c.Query("state"), nonce)
	if err != nil {
		writeError(c, err)
		return
	}
	h.setCookie(c, sessionCookie, l.Token, int(time.Until(l.ExpiresAt).Seconds()), "/")
	c.Redirect(http.StatusFound, next)
}

// setCookie sets an HttpOnly, SameSite=Lax cookie, Secure in production.
// Lax rather than Strict: the OAuth callback arrives as a top-level
// navigation from WeChat's page, which Strict would strip.
func (h *handler) setCookie(c *gin.Context, name, value string, maxAge int, path string) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: h.Production, SameSite: http.SameSiteLaxMode,
	})
}

// jssdkConfig signs one of our pages for the official account's JS-SDK
// (wx.scanQRCode reads the meter's barcode when binding by meter number).
func (h *handler) jssdkConfig(c *gin.Context) {
	page := c.Query("url")
	u, err := url.Parse(page)
	if err != nil || len(page) > 1024 || u.Scheme+"://"+u.Host != h.PublicURL || !strings.HasPrefix(u.Path, "/") {
		writeError(c, badRequest("invalid_url", "只能为本站页面签名。"))
		return
	}
	if h.OA.AppID == "" {
		writeError(c, errNotConfigured)
		return
	}
	cfg, err := h.WeChat.JSSDKSign(c.Request.Context(), h.OA, page)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, cfg)
}
