package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

// Limiter counts events of a subject against a rate limit shared by every
// replica (rediskv.Limit).
type Limiter interface {
	// Take counts one event; ok false means the subject is over its limit
	// for wait more.
	Take(ctx context.Context, subject string) (ok bool, wait time.Duration, err error)
}

// BoxUsers remembers which users opened a genuine session with which box
// (rediskv.Members).
type BoxUsers interface {
	Has(ctx context.Context, box, user string) (bool, error)
	Add(ctx context.Context, box, user string) error
}

// limitedError is a refusal by a rate limit: its answer, and when to retry.
type limitedError struct {
	api     *apiError
	wait    time.Duration
	subject string
}

func (e *limitedError) Error() string                     { return e.api.Error() }
func (e *limitedError) Unwrap() error                     { return e.api }
func (e *limitedError) RetryAfterDuration() time.Duration { return e.wait }

var (
	errOrderRate = &apiError{Status: http.StatusTooManyRequests, Code: "too_many_orders",
		Message: "下单太频繁，请稍后再试。"}
	errBoxOpenRate = &apiError{Status: http.StatusTooManyRequests, Code: "too_many_box_sessions",
		Message: "连接充值宝太频繁，请稍后再试。"}
)

// limit takes one event of each subject from l; the first over its limit
// is refused with answer, and the refusal counted (kind, subject) in the
// day's aggregate record rather than a row per request.
func (h *handler) limit(c *gin.Context, l Limiter, kind string, answer *apiError, subjects ...string) error {
	err := take(c.Request.Context(), l, answer, subjects...)
	h.countRefusal(c, kind, err)
	return err
}

// take is limit without the count: it writes nothing but the limiter's
// own counter, so it may run inside a business transaction (the order's:
// a repeat of a request, known only there, is not counted). countRefusal
// then records a refusal once the transaction is over.
func take(ctx context.Context, l Limiter, answer *apiError, subjects ...string) error {
	if l == nil {
		return nil
	}
	for _, s := range subjects {
		ok, wait, err := l.Take(ctx, s)
		if err != nil {
			return err
		}
		if !ok {
			return &limitedError{api: answer, wait: wait, subject: s}
		}
	}
	return nil
}

// countRefusal records err in the day's refusals if it is a rate limit's.
func (h *handler) countRefusal(c *gin.Context, kind string, err error) {
	var limited *limitedError
	if !errors.As(err, &limited) {
		return
	}
	ctx := c.Request.Context()
	if err := h.Store.CountRefusal(ctx, kind, limited.subject, time.Now()); err != nil {
		logFrom(c).WarnContext(ctx, "refusal not counted", slog.String("kind", kind), slog.String("err", err.Error()))
	}
}

func userSubject(id int64) string { return "user:" + strconv.FormatInt(id, 10) }

type refusalResponse struct {
	Day     string    `json:"day"`
	Kind    string    `json:"kind"`
	Subject string    `json:"subject"`
	Times   int64     `json:"times"`
	FirstAt time.Time `json:"first_at"`
	LastAt  time.Time `json:"last_at"`
}

// adminRefusals lists a day's requests refused by rate limits (box
// sessions, orders), aggregated per kind and subject, the largest first.
func (h *handler) adminRefusals(c *gin.Context) {
	day := c.DefaultQuery("day", time.Now().UTC().Format(time.DateOnly))
	if _, err := time.Parse(time.DateOnly, day); err != nil {
		writeError(c, badRequest("invalid_day", "day must be YYYY-MM-DD (UTC)."))
		return
	}
	rows, err := h.Store.RefusalCounts(c.Request.Context(), day, 500)
	if err != nil {
		writeError(c, err)
		return
	}
	out := make([]refusalResponse, len(rows))
	for i, r := range rows {
		out[i] = refusalResponse{Day: r.Day, Kind: r.Kind, Subject: r.Subject, Times: r.Times, FirstAt: r.FirstAt, LastAt: r.LastAt}
	}
	c.JSON(http.StatusOK, gin.H{"refusals": out})
}
