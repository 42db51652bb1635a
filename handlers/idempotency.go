package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"regexp"

	"github.com/gin-gonic/gin"

	"gaspay/recharge"
)

var idempotencyKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)

var errIdemKeyMissing = badRequest("idempotency_key_required", "请求缺少有效的 Idempotency-Key（8 到 64 位字母、数字、- 或 _）。")

// idemKey reads a request's Idempotency-Key and hashes the request: req is
// the decoded request, and its canonical JSON, with the method and route,
// is what "the same request" means. The domain stores both with the order
// the request makes, in the same transaction (recharge/idempotency.go): a
// repeat answers that order, a repeat with another request is refused
// (recharge.ErrKeyReused), and a storage error is a storage error, never a
// conflict.
func idemKey(c *gin.Context, scope string, req any) (*recharge.IdemKey, error) {
	key := c.GetHeader("Idempotency-Key")
	if !idempotencyKeyPattern.MatchString(key) {
		return nil, errIdemKeyMissing
	}
	canon, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append([]byte(c.Request.Method+" "+c.FullPath()+"\n"), canon...))
	return &recharge.IdemKey{Scope: scope, Key: key, Hash: hex.EncodeToString(sum[:])}, nil
}

// answerIdempotent writes a created resource, marked as a replay when it
// answers a repeat.
func answerIdempotent(c *gin.Context, replayed bool, body any) {
	if replayed {
		c.Header("Idempotent-Replayed", "true")
	}
	c.JSON(http.StatusCreated, body)
}
