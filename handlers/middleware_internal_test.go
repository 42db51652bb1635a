package handlers

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"gaspay/logging"
)

// A panicking handler answers "internal" and logs the panic with the
// request id; the server goes on.
func TestRecoverFromPanic(t *testing.T) {
	var logs bytes.Buffer
	h := &handler{Deps: Deps{Log: logging.New(&logs, slog.LevelInfo)}}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(h.requestID, h.accessLog, h.recover)
	r.GET("/boom", func(c *gin.Context) { panic("card image was nil") })
	r.GET("/ok", func(c *gin.Context) { c.Status(http.StatusNoContent) })

	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/boom", nil))
	if w.Code != 500 || !strings.Contains(w.Body.String(), `"code":"internal"`) || strings.Contains(w.Body.String(), "card image") {
		t.Fatalf("panic answer: %d %s", w.Code, w.Body)
	}
	if !strings.Contains(logs.String(), "card image was nil") || !strings.Contains(logs.String(), `"request_id"`) {
		t.Fatalf("panic not logged with its request id: %s", logs.String())
	}
	w = httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/ok", nil))
	if w.Code != http.StatusNoContent {
		t.Fatalf("after a panic: %d", w.Code)
	}
}
