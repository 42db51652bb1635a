package rediskv

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// take counts one event against KEYS[1] in a window of ARGV[2] ms that
// starts with its first event; an event over the limit ARGV[1] is not
// counted (so that a refused caller does not extend its own wait) and the
// answer is {0, ms until the window ends}.
var take = redis.NewScript(`
local n = tonumber(redis.call("GET", KEYS[1]) or "0")
if n >= tonumber(ARGV[1]) then
	local ttl = redis.call("PTTL", KEYS[1])
	if ttl < 0 then
		redis.call("PEXPIRE", KEYS[1], ARGV[2])
		ttl = tonumber(ARGV[2])
	end
	return {0, ttl}
end
n = redis.call("INCR", KEYS[1])
if n == 1 then redis.call("PEXPIRE", KEYS[1], ARGV[2]) end
return {1, redis.call("PTTL", KEYS[1])}`)

// giveBack returns an event that did not happen after all, if its window
// is still open (a DECR on a missing key would create one without expiry).
var giveBack = redis.NewScript(`
if tonumber(redis.call("GET", KEYS[1]) or "0") > 0 then redis.call("DECR", KEYS[1]) end
return 0`)

// Limit is a fixed-window rate limit: at most N events per window per
// subject, counted in Redis so that every replica shares it.
type Limit struct {
	c      *Client
	name   string
	n      int
	window time.Duration
}

// NewLimit makes a limit of n events per window; name separates its keys
// from other limits'.
func (c *Client) NewLimit(name string, n int, window time.Duration) *Limit {
	return &Limit{c: c, name: name, n: n, window: window}
}

// Take counts one event of subject. ok is false when the subject has used
// its window; wait is then the time until the window ends.
func (l *Limit) Take(ctx context.Context, subject string) (ok bool, wait time.Duration, err error) {
	res, err := take.Run(ctx, l.c, []string{l.key(subject)}, l.n, l.window.Milliseconds()).Int64Slice()
	if err != nil {
		return false, 0, fmt.Errorf("rediskv: limit %s: %w", l.name, err)
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("rediskv: limit %s: bad answer", l.name)
	}
	return res[0] == 1, time.Duration(res[1]) * time.Millisecond, nil
}

// GiveBack returns one event of subject's current window.
func (l *Limit) GiveBack(ctx context.Context, subject string) error {
	return giveBack.Run(ctx, l.c, []string{l.key(subject)}).Err()
}

func (l *Limit) key(subject string) string { return l.c.Key("limit", l.name, subject) }

// Members is a named family of sets (one per key), each kept for ttl after
// its last addition: "the users who opened a session with this box".
type Members struct {
	c    *Client
	name string
	ttl  time.Duration
}

// NewMembers makes a family of sets.
func (c *Client) NewMembers(name string, ttl time.Duration) *Members {
	return &Members{c: c, name: name, ttl: ttl}
}

// Has reports whether member is in key's set.
func (m *Members) Has(ctx context.Context, key, member string) (bool, error) {
	ok, err := m.c.SIsMember(ctx, m.c.Key(m.name, key), member).Result()
	if err != nil {
		return false, fmt.Errorf("rediskv: members %s: %w", m.name, err)
	}
	return ok, nil
}

// Add puts member in key's set and keeps the set for ttl more.
func (m *Members) Add(ctx context.Context, key, member string) error {
	k := m.c.Key(m.name, key)
	_, err := m.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, k, member)
		p.PExpire(ctx, k, m.ttl)
		return nil
	})
	if err != nil {
		return fmt.Errorf("rediskv: members %s: %w", m.name, err)
	}
	return nil
}
