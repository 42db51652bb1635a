package handlers

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// A provider's callback reaches the port as its headers and raw body, read
// no further than maxNotification.
func TestNotificationReadWithinLimit(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
		ok   bool
	}{
		{"at the limit", maxNotification, true},
		{"over the limit", maxNotification + 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := gin.CreateTestContext(httptest.NewRecorder())
			c.Request = httptest.NewRequest(http.MethodPost, "/notify/wechat/pay", strings.NewReader(strings.Repeat("x", tc.size)))
			c.Request.Header.Set("Wechatpay-Signature", "sig")
			n, err := notification(c)
			var tooLarge *http.MaxBytesError
			switch {
			case tc.ok && (err != nil || len(n.Body) != tc.size || n.Header.Get("Wechatpay-Signature") != "sig"):
				t.Fatalf("got %d bytes, signature %q, err %v", len(n.Body), n.Header.Get("Wechatpay-Signature"), err)
			case !tc.ok && !errors.As(err, &tooLarge):
				t.Fatalf("err = %v, want *http.MaxBytesError", err)
			}
		})
	}
}
