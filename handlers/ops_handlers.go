package handlers

import (
	_ "embed"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// ctxErrorCode is where writeError leaves the code it answered, for the
// metrics.
const ctxErrorCode = "gaspay.error_code"

// observe times every request by its route pattern, and counts the box
// routes' refusals by their code.
func (h *handler) observe(c *gin.Context) {
	if h.Metrics == nil {
		c.Next()
		return
	}
	start := time.Now()
	c.Next()
	route, status := c.FullPath(), c.Writer.Status()
	h.Metrics.Request(route, c.Request.Method, status, time.Since(start))
	if strings.HasPrefix(route, "/api/box/") && status >= 400 {
		code, _ := c.Get(ctxErrorCode)
		reason, _ := code.(string)
		if reason == "" {
			reason = "unknown"
		}
		h.Metrics.BoxRefused(reason)
	}
}

// metrics serves Prometheus's scrape.
func (h *handler) metrics(c *gin.Context) {
	if h.Metrics == nil {
		writeError(c, errNoRoute)
		return
	}
	h.Metrics.Handler().ServeHTTP(c.Writer, c.Request)
}

// openAPI serves the API's OpenAPI 3 description.
func (h *handler) openAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/json; charset=utf-8", openAPIDocument)
}

// openAPIDocument describes every route (a test holds the router and the
// document to each other).
//
//go:embed openapi.json
var openAPIDocument []byte
