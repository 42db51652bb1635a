package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/gin-gonic/gin"
)

var idempotencyKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)

// abandonedAfter: a key whose first request has not finished after this
// long belongs to a request that died; a repeat may take it over.
const abandonedAfter = time.Minute

var (
	errIdemKeyMissing = badRequest("idempotency_key_required", "请求缺少有效的 Idempotency-Key（8 到 64 位字母、数字、- 或 _）。")
	errIdemKeyReused  = &apiError{Status: http.StatusUnprocessableEntity, Code: "idempotency_key_reused", Message: "该 Idempotency-Key 已用于另一笔请求。"}
	errIdemInProgress = &apiError{Status: http.StatusConflict, Code: "request_in_progress", Message: "相同的请求正在处理中，请稍候。"}
)

// idempotent answers a request at most once per (scope, Idempotency-Key):
// a repeat with the same request gets the stored answer, a repeat with
// another request is refused, and two simultaneous firsts collide on a
// unique index so that one runs and the other waits. req is the decoded
// request; its canonical JSON is what "the same request" means. Refusals
// (4xx) are stored like successes; failures worth retrying (5xx) release
// the key so that the retry runs again.
func (h *handler) idempotent(c *gin.Context, scope string, req any, fn func() (int, any, error)) {
	key := c.GetHeader("Idempotency-Key")
	if !idempotencyKeyPattern.MatchString(key) {
		writeError(c, errIdemKeyMissing)
		return
	}
	canon, err := json.Marshal(req)
	if err != nil {
		writeError(c, err)
		return
	}
	sum := sha256.Sum256(append([]byte(c.Request.Method+" "+c.FullPath()+"\n"), canon...))
	hash := hex.EncodeToString(sum[:])
	ctx := c.Request.Context()
	now := time.Now().UTC()

	k, claimed, err := h.Recharge.ClaimIdempotencyKey(ctx, scope, key, hash, now)
	if err != nil {
		writeError(c, err)
		return
	}
	if !claimed {
		switch {
		case k.RequestHash != hash:
			writeError(c, errIdemKeyReused)
			return
		case k.StatusCode != nil:
			c.Header("Idempotent-Replayed", "true")
			c.Data(*k.StatusCode, "application/json; charset=utf-8", []byte(*k.Response))
			return
		case now.Sub(k.UpdatedAt) < abandonedAfter:
			c.Header("Retry-After", "1")
			writeError(c, errIdemInProgress)
			return
		}
		if ok, err := h.Recharge.TakeOverIdempotencyKey(ctx, k.ID, k.UpdatedAt, now); err != nil || !ok {
			c.Header("Retry-After", "1")
			writeError(c, errors.Join(err, errIdemInProgress))
			return
		}
	}

	status, body, err := fn()
	if err != nil {
		ae := toAPIError(err)
		// A refusal by a rate limit is not the request's answer: the same
		// key may try again once the window has passed.
		var limited *limitedError
		if ae.Status >= 500 || errors.As(err, &limited) {
			if rerr := h.Recharge.ReleaseIdempotencyKey(ctx, k.ID); rerr != nil {
				logFrom(c).WarnContext(ctx, "idempotency release", slog.String("err", rerr.Error()))
			}
			writeError(c, err)
			return
		}
		status, body = ae.Status, ae
	}
	raw, err := json.Marshal(body)
	if err != nil {
		writeError(c, err)
		return
	}
	if err := h.Recharge.FinishIdempotencyKey(ctx, k.ID, status, string(raw), time.Now().UTC()); err != nil {
		// The answer stands; a repeat will find the key unfinished and
		// take it over after abandonedAfter.
		logFrom(c).WarnContext(ctx, "idempotency finish", slog.String("err", err.Error()))
	}
	c.Data(status, "application/json; charset=utf-8", raw)
}
