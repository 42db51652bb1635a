package rediskv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
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
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, false, err
	}
	owner := hex.EncodeToString(b)
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

// TokenCache adapts the client to the credential caches of the provider
// packages (wechat.TokenCache); keys are placed under the prefix.
type TokenCache struct{ C *Client }

// Get returns the value or "".
func (t TokenCache) Get(ctx context.Context, key string) (string, error) {
	v, err := t.C.Get(ctx, t.C.Key(key)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return v, err
}

// Set stores value for ttl.
func (t TokenCache) Set(ctx context.Context, key, value string, ttl time.Duration) error {
	return t.C.Set(ctx, t.C.Key(key), value, ttl).Err()
}

// DeleteIf removes key while it still holds value.
func (t TokenCache) DeleteIf(ctx context.Context, key, value string) error {
	return deleteIf.Run(ctx, t.C, []string{t.C.Key(key)}, value).Err()
}

// Lock takes a lock; see Client.Lock.
func (t TokenCache) Lock(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	return t.C.Lock(ctx, key, ttl)
}
