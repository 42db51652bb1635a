package rediskv_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"gaspay/internal/testenv"
	"gaspay/rediskv"
)

// These run on an in-process Redis, and on the real one (or cluster) that
// GASPAY_TEST_REDIS_URL names, under a private prefix (testenv.Redis).
// Expiry is on the wall clock on both, so the TTLs are short and real.

func TestKeysUnderThePrefix(t *testing.T) {
	c := testenv.Redis(t)
	ctx := context.Background()
	if got := c.Key("sess", "abc"); got != c.Prefix()+"sess:abc" {
		t.Fatalf("Key = %q", got)
	}
	kv := rediskv.KV{C: c}
	// A value and its lock share a hash tag, hence a cluster slot.
	if got := kv.KeyOf("box:sess:1"); got != c.Prefix()+"{box:sess:1}" {
		t.Fatalf("KeyOf = %q", got)
	}
	if err := kv.Set(ctx, "box:sess:1", "v", time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get(ctx, kv.KeyOf("box:sess:1")).Result(); v != "v" || err != nil {
		t.Fatalf("stored under %s: %q %v", kv.KeyOf("box:sess:1"), v, err)
	}
	for _, k := range testenv.Keys(t, c, c.Prefix()+"*") {
		if !strings.HasPrefix(k, c.Prefix()) {
			t.Fatalf("key %q outside the prefix", k)
		}
	}
}

func TestKVGetSetDeleteIf(t *testing.T) {
	kv := rediskv.KV{C: testenv.Redis(t)}
	ctx := context.Background()
	if v, err := kv.Get(ctx, "missing"); v != "" || err != nil {
		t.Fatalf("missing: %q %v", v, err)
	}
	if err := kv.Set(ctx, "k", "one", time.Minute); err != nil {
		t.Fatal(err)
	}
	// Only the value seen is deleted: a newer one stays.
	if err := kv.DeleteIf(ctx, "k", "other"); err != nil {
		t.Fatal(err)
	}
	if v, _ := kv.Get(ctx, "k"); v != "one" {
		t.Fatalf("DeleteIf of another value deleted %q", v)
	}
	if err := kv.DeleteIf(ctx, "k", "one"); err != nil {
		t.Fatal(err)
	}
	if v, _ := kv.Get(ctx, "k"); v != "" {
		t.Fatalf("DeleteIf left %q", v)
	}
	// A value lives for its ttl.
	if err := kv.Set(ctx, "short", "x", 150*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	if v, _ := kv.Get(ctx, "short"); v != "" {
		t.Fatalf("kept past its ttl: %q", v)
	}
}

// Of ten callers at once, one takes a lock; only its own unlock releases
// it, and an expired lock can be taken again.
func TestLock(t *testing.T) {
	c := testenv.Redis(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var unlocks []func()
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, ok, err := c.Lock(ctx, "job", time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				mu.Lock()
				unlocks = append(unlocks, unlock)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(unlocks) != 1 {
		t.Fatalf("%d holders of one lock", len(unlocks))
	}
	unlocks[0]()
	second, ok, err := c.Lock(ctx, "job", 150*time.Millisecond)
	if !ok || err != nil {
		t.Fatalf("after unlock: %v %v", ok, err)
	}
	time.Sleep(400 * time.Millisecond)
	// The first holder's lock expired and a third took it: the late
	// unlock of the second must not release the third's.
	_, ok, err = c.Lock(ctx, "job", time.Minute)
	if !ok || err != nil {
		t.Fatalf("after expiry: %v %v", ok, err)
	}
	second()
	if _, ok, _ := c.Lock(ctx, "job", time.Minute); ok {
		t.Fatal("a stale holder's unlock released another holder's lock")
	}
}

// Checkout takes the lock and reads the value in one step; Checkin stores
// and releases only for the token's holder, and stores nothing for a lock
// lost meanwhile.
func TestCheckoutCheckin(t *testing.T) {
	kv := rediskv.KV{C: testenv.Redis(t)}
	ctx := context.Background()
	if err := kv.Set(ctx, "s", "v1", time.Minute); err != nil {
		t.Fatal(err)
	}
	val, token, ok, err := kv.Checkout(ctx, "s", time.Minute)
	if val != "v1" || token == "" || !ok || err != nil {
		t.Fatalf("checkout: %q %q %v %v", val, token, ok, err)
	}
	if _, _, ok, err := kv.Checkout(ctx, "s", time.Minute); ok || err != nil {
		t.Fatalf("second checkout while held: %v %v", ok, err)
	}
	if err := kv.Checkin(ctx, "s", "not-the-token", "forged", time.Minute); !errors.Is(err, rediskv.ErrLockLost) {
		t.Fatalf("checkin with another token: %v", err)
	}
	if err := kv.Checkin(ctx, "s", token, "v2", time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, _ := kv.Get(ctx, "s"); v != "v2" {
		t.Fatalf("after checkin: %q", v)
	}
	// Released by the checkin: the next checkout sees v2.
	val, token, ok, err = kv.Checkout(ctx, "s", 150*time.Millisecond)
	if val != "v2" || !ok || err != nil {
		t.Fatalf("checkout after checkin: %q %v %v", val, ok, err)
	}
	// The lock expires; another takes it; the first's checkin stores
	// nothing and says so.
	time.Sleep(400 * time.Millisecond)
	_, other, ok, err := kv.Checkout(ctx, "s", time.Minute)
	if !ok || err != nil {
		t.Fatalf("checkout after expiry: %v %v", ok, err)
	}
	if err := kv.Checkin(ctx, "s", token, "late", time.Minute); !errors.Is(err, rediskv.ErrLockLost) {
		t.Fatalf("late checkin: %v", err)
	}
	if v, _ := kv.Get(ctx, "s"); v != "v2" {
		t.Fatalf("a lost lock's checkin stored %q", v)
	}
	// Release frees it only for its holder.
	if err := kv.Release(ctx, "s", token); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, _ := kv.Checkout(ctx, "s", time.Minute); ok {
		t.Fatal("a stale token released the lock")
	}
	if err := kv.Release(ctx, "s", other); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, _ := kv.Checkout(ctx, "s", time.Minute); !ok {
		t.Fatal("the holder's release did not free the lock")
	}
}

// The limit and the member sets on the configured server as well (the
// miniredis-only tests above in rediskv_test.go fast-forward its clock).
func TestLimitAndMembersOnServer(t *testing.T) {
	c := testenv.Redis(t)
	ctx := context.Background()
	l := c.NewLimit("t", 3, 300*time.Millisecond)
	for i := range 3 {
		if ok, _, err := l.Take(ctx, "u"); !ok || err != nil {
			t.Fatalf("take %d: %v %v", i, ok, err)
		}
	}
	ok, wait, err := l.Take(ctx, "u")
	if ok || err != nil || wait <= 0 || wait > 300*time.Millisecond {
		t.Fatalf("fourth take: %v %s %v", ok, wait, err)
	}
	time.Sleep(wait + 100*time.Millisecond)
	if ok, _, err := l.Take(ctx, "u"); !ok || err != nil {
		t.Fatalf("after the window: %v %v", ok, err)
	}
	m := c.NewMembers("m", 200*time.Millisecond)
	if err := m.Add(ctx, "k", "a"); err != nil {
		t.Fatal(err)
	}
	if ok, err := m.Has(ctx, "k", "a"); !ok || err != nil {
		t.Fatalf("has: %v %v", ok, err)
	}
	if ttl := c.PTTL(ctx, c.Key("m", "k")).Val(); ttl <= 0 || ttl > 200*time.Millisecond {
		t.Fatalf("set kept for %s", ttl)
	}
	time.Sleep(400 * time.Millisecond)
	if ok, _ := m.Has(ctx, "k", "a"); ok {
		t.Fatal("kept past its ttl")
	}
}

// Open with no URL starts an in-process Redis; with a bad URL it names
// the problem without echoing the URL (which may hold a password).
func TestOpen(t *testing.T) {
	ctx := context.Background()
	c, closeFn, err := rediskv.Open(ctx, "", "p:")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, c.Key("x"), "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Get(ctx, "p:x").Result(); v != "1" {
		t.Fatalf("embedded redis: %q", v)
	}
	if err := closeFn(); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, "p:x").Err(); err == nil || errors.Is(err, redis.Nil) {
		t.Fatalf("after close: %v", err)
	}
	for _, url := range []string{"redis://:s3cret@[::1", "redis+cluster://:s3cret@h1,h2:7000"} {
		_, _, err := rediskv.Open(ctx, url, "p:")
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Fatalf("Open(%q): %v", url, err)
		}
	}
}
