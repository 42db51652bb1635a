// Package rediskv opens gaspay's Redis: a real server (or cluster) through
// go-redis in production, an in-process miniredis when none is configured.
// Every key the server writes starts with one configured prefix, so that
// deployments and test runs can share a Redis without seeing each other.
package rediskv

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Client is a go-redis client with gaspay's key prefix.
type Client struct {
	redis.UniversalClient
	prefix string
}

// New wraps an existing go-redis client.
func New(c redis.UniversalClient, prefix string) *Client {
	c.AddHook(availabilityHook{})
	return &Client{UniversalClient: c, prefix: prefix}
}

// Key joins parts under the prefix: Key("sess", h) = "gaspay:sess:<h>".
func (c *Client) Key(parts ...string) string {
	return c.prefix + strings.Join(parts, ":")
}

// Prefix is the prefix every key starts with.
func (c *Client) Prefix() string { return c.prefix }

// Open connects to the Redis at url (redis:// or rediss://), or, when url is
// empty, starts an in-process Redis. The returned close function stops
// whatever Open started.
func Open(ctx context.Context, url, prefix string) (*Client, func() error, error) {
	if url == "" {
		m := miniredis.NewMiniRedis()
		// Expire keys on the wall clock, as a real Redis does; miniredis
		// only does so on request.
		m.ClockTTL(true)
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			return nil, nil, fmt.Errorf("rediskv: embedded redis: %w", err)
		}
		rc := redis.NewClient(&redis.Options{Addr: m.Addr(), PoolSize: 32})
		closeFn := func() error { err := rc.Close(); m.Close(); return err }
		return New(rc, prefix), closeFn, nil
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		// The URL may hold a password: name the problem, not the value.
		return nil, nil, errors.New("rediskv: GASPAY_REDIS_URL is not a valid redis URL")
	}
	opt.DialTimeout = 2 * time.Second
	opt.ReadTimeout = 2 * time.Second
	opt.WriteTimeout = 2 * time.Second
	rc := redis.NewClient(opt)
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := rc.Ping(pctx).Err(); err != nil {
		rc.Close()
		return nil, nil, fmt.Errorf("rediskv: ping %s: %w", opt.Addr, err)
	}
	return New(rc, prefix), rc.Close, nil
}
