package handlers

import (
	"github.com/gin-gonic/gin"
)

// h5 serves the service hall's pages. They load nothing from elsewhere, so
// the content security policy allows this origin only, and no other site
// may frame them.
func (h *handler) h5(c *gin.Context) {
	c.Header("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Referrer-Policy", "same-origin")
	h.pages.ServeHTTP(c.Writer, c.Request)
}
