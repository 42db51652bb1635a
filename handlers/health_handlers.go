package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// healthz answers while the process is up.
func (h *handler) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyz answers 200 only while the database and Redis answer, so that a
// load balancer sends no customer to a replica that cannot serve them.
func (h *handler) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := h.Ready(ctx); err != nil {
		logFrom(c).WarnContext(ctx, "not ready", slog.String("err", err.Error()))
		c.AbortWithStatusJSON(errNotReady.Status, errNotReady)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}
