// Package rediskv opens gaspay's Redis: a real server (or cluster) through
// go-redis in production, an in-process miniredis when none is configured.
// Every key the server writes starts with one configured prefix, so that
// deployments and test runs can share a Redis without seeing each other.
package rediskv

import (
	"context"
	"errors"
	"fmt"
	"net"
	neturl "net/url"
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

// Open connects to the Redis at url, or, when url is empty, starts an
// in-process Redis. url is redis:// or rediss:// for one server, or
// redis+cluster:// (rediss+cluster://) with the seed nodes separated by
// commas for a Redis Cluster: redis+cluster://:pw@h1:7000,h2:7000,h3:7000.
// The returned close function stops whatever Open started.
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
	var rc redis.UniversalClient
	var where string
	if IsClusterURL(url) {
		opt, err := ParseClusterURL(url)
		if err != nil {
			return nil, nil, err
		}
		opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = 2*time.Second, 2*time.Second, 2*time.Second
		rc, where = redis.NewClusterClient(opt), "cluster "+strings.Join(opt.Addrs, ",")
	} else {
		opt, err := redis.ParseURL(url)
		if err != nil {
			// The URL may hold a password: name the problem, not the value.
			return nil, nil, errors.New("rediskv: GASPAY_REDIS_URL is not a valid redis URL")
		}
		opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = 2*time.Second, 2*time.Second, 2*time.Second
		rc, where = redis.NewClient(opt), opt.Addr
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := rc.Ping(pctx).Err(); err != nil {
		rc.Close()
		return nil, nil, fmt.Errorf("rediskv: ping %s: %w", where, err)
	}
	return New(rc, prefix), rc.Close, nil
}

// IsClusterURL reports whether url names a Redis Cluster.
func IsClusterURL(url string) bool {
	return strings.HasPrefix(url, "redis+cluster://") || strings.HasPrefix(url, "rediss+cluster://")
}

// ParseClusterURL reads redis+cluster://[user:pw@]h1:p,h2:p,…[/][?options]
// (options as in redis://, for example dial_timeout=3s). A cluster has no
// databases: a path other than / or /0 is an error.
func ParseClusterURL(url string) (*redis.ClusterOptions, error) {
	bad := errors.New("rediskv: GASPAY_REDIS_URL is not a valid redis+cluster URL (redis+cluster://[:password@]host:port,host:port,…)")
	scheme, rest, _ := strings.Cut(url, "://")
	scheme = strings.TrimSuffix(scheme, "+cluster")
	userinfo := ""
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		userinfo, rest = rest[:i+1], rest[i+1:]
	}
	hosts, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		hosts, tail = rest[:i], rest[i:]
	}
	path, query, _ := strings.Cut(tail, "?")
	if path != "" && path != "/" && path != "/0" {
		return nil, bad
	}
	addrs := strings.Split(hosts, ",")
	for _, a := range addrs {
		if _, _, err := net.SplitHostPort(a); err != nil || a == "" {
			return nil, bad
		}
	}
	vals, err := neturl.ParseQuery(query)
	if err != nil {
		return nil, bad
	}
	for _, a := range addrs[1:] {
		vals.Add("addr", a)
	}
	opt, err := redis.ParseClusterURL(scheme + "://" + userinfo + addrs[0] + "?" + vals.Encode())
	if err != nil {
		return nil, bad
	}
	return opt, nil
}
