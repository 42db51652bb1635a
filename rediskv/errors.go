package rediskv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// ErrUnavailable: Redis did not answer (refused, reset, timed out, down,
// loading, or a cluster without a quorum). Every command error of that kind
// matches it with errors.Is, so that callers answer "try again later"
// instead of "internal".
var ErrUnavailable = errors.New("rediskv: redis unavailable")

// unavailableError keeps go-redis's error and adds ErrUnavailable.
type unavailableError struct{ err error }

func (e unavailableError) Error() string        { return "rediskv: redis unavailable: " + e.err.Error() }
func (e unavailableError) Unwrap() []error      { return []error{ErrUnavailable, e.err} }
func (e unavailableError) Is(target error) bool { return target == ErrUnavailable }

// unreachable reports whether err says Redis itself is out of reach (as
// opposed to a reply: redis.Nil, a script error, a wrong type).
func unreachable(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) || errors.Is(err, context.Canceled) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, redis.ErrClosed) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	msg := err.Error()
	for _, p := range []string{"LOADING ", "CLUSTERDOWN ", "MASTERDOWN ", "TRYAGAIN ", "redis: connection pool timeout"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// availabilityHook marks every command error that means Redis is out of
// reach with ErrUnavailable.
type availabilityHook struct{}

func (availabilityHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (availabilityHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if unreachable(err) {
			err = unavailableError{err}
			cmd.SetErr(err)
		}
		return err
	}
}

func (availabilityHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			if e := cmd.Err(); unreachable(e) {
				cmd.SetErr(unavailableError{e})
			}
		}
		if unreachable(err) {
			err = unavailableError{err}
		}
		return err
	}
}

// slogLogger routes go-redis's own log lines (reconnects, cluster
// changes) to slog, so that stderr stays JSON.
type slogLogger struct{ log *slog.Logger }

func (l slogLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis client", slog.String("msg", strings.TrimSpace(fmt.Sprintf(format, v...))))
}

// RouteLogs sends go-redis's log lines to log. go-redis keeps its logger
// in a package variable, so this is called once, by main.
func RouteLogs(log *slog.Logger) { redis.SetLogger(slogLogger{log}) }
