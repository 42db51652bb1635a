package rediskv

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"gaspay/internal/randhex"
)

// deleteIf removes KEYS[1] only while it holds ARGV[1]: a lock is released,
// or a stale value dropped, only by whoever saw it.
var deleteIf = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

// Lock takes the lock named key for at most ttl. ok is false when another
// holder has it. unlock releases the lock only if this holder still has it.
func (c *Client) Lock(ctx context.Context, key string, ttl time.Duration) (unlock func(), ok bool, err error) {
	owner := randhex.New(16)
	k := c.Key(key)
	ok, err = c.SetNX(ctx, k, owner, ttl).Result()
	if err != nil || !ok {
		return nil, false, err
	}
	return func() {
		// Release even if the caller's context has ended.
		deleteIf.Run(context.WithoutCancel(ctx), c, []string{k}, owner)
	}, true, nil
}

// KV adapts the client to the small stores the provider packages define:
// wechat.TokenCache (credentials shared by replicas) and bleproxy.KV (box
// sessions under locks). Keys are placed under the prefix, each in a hash
// tag of its own ("gaspay:{box:sess:…}" and "gaspay:{box:sess:…}:lock"),
// so that a value and its lock share a Redis Cluster slot.
type KV struct{ C *Client }

func (t KV) key(k string) string { return t.C.Key("{" + k + "}") }

// KeyOf is the Redis key under which KV keeps k.
func (t KV) KeyOf(k string) string { return t.key(k) }

// Get returns the value or "".
func (t KV) Get(ctx context.Context, key string) (string, error) {
	v, err := t.C.Get(ctx, t.key(key)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return v, err
}

// Set stores value for ttl.
func (t KV) Set(ctx context.Context, key, value string, ttl time.Duration) error {
	return t.C.Set(ctx, t.key(key), value, ttl).Err()
}

// DeleteIf removes key while it still holds value.
func (t KV) DeleteIf(ctx context.Context, key, value string) error {
	return deleteIf.Run(ctx, t.C, []string{t.key(key)}, value).Err()
}

// Lock takes a lock; see Client.Lock.
func (t KV) Lock(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	return t.C.Lock(ctx, "{"+key+"}", ttl)
}

// checkout takes KEYS[2] (the lock) for ARGV[2] ms with owner ARGV[1] and
// returns KEYS[1]'s value, or false when the lock is held.
var checkout = redis.NewScript(`
if redis.call("SET", KEYS[2], ARGV[1], "NX", "PX", ARGV[2]) then
	return {1, redis.call("GET", KEYS[1]) or ""}
end
return {0, ""}`)

// checkin stores ARGV[2] in KEYS[1] for ARGV[3] ms and releases KEYS[2] if
// it is still owned by ARGV[1]; it stores nothing for a lost lock.
var checkin = redis.NewScript(`
if redis.call("GET", KEYS[2]) == ARGV[1] then
	redis.call("SET", KEYS[1], ARGV[2], "PX", ARGV[3])
	redis.call("DEL", KEYS[2])
	return 1
end
return 0`)

// ErrLockLost: a lock expired, or was taken by another holder, before its
// holder was done; what it guarded was not stored.
var ErrLockLost = errors.New("rediskv: lock lost")

// Checkout takes key's lock and reads key in one round trip (see
// bleproxy.KV); keys are placed under the prefix.
func (t KV) Checkout(ctx context.Context, key string, lockTTL time.Duration) (string, string, bool, error) {
	token := randhex.New(16)
	res, err := checkout.Run(ctx, t.C, []string{t.key(key), t.key(key) + ":lock"}, token, lockTTL.Milliseconds()).Slice()
	if err != nil {
		return "", "", false, err
	}
	if len(res) != 2 {
		return "", "", false, errors.New("rediskv: checkout: bad answer")
	}
	ok, _ := res[0].(int64)
	val, _ := res[1].(string)
	return val, token, ok == 1, nil
}

// Checkin stores value and releases the lock in one round trip.
// Errors: ErrLockLost when the lock was no longer token's.
func (t KV) Checkin(ctx context.Context, key, token, value string, ttl time.Duration) error {
	n, err := checkin.Run(ctx, t.C, []string{t.key(key), t.key(key) + ":lock"}, token, value, ttl.Milliseconds()).Int()
	if err != nil {
		return err
	}
	if n != 1 {
		return ErrLockLost
	}
	return nil
}

// Release releases key's lock if it is still token's.
func (t KV) Release(ctx context.Context, key, token string) error {
	return deleteIf.Run(ctx, t.C, []string{t.key(key) + ":lock"}, token).Err()
}
