package rediskv_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"gaspay/rediskv"
)

func local(t *testing.T) (*rediskv.Client, *miniredis.Miniredis) {
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1})
	t.Cleanup(func() { rc.Close(); m.Close() })
	return rediskv.New(rc, "t:"), m
}

func TestLimit(t *testing.T) {
	c, m := local(t)
	ctx := context.Background()
	l := c.NewLimit("x", 2, time.Minute)
	for i := 0; i < 2; i++ {
		if ok, _, err := l.Take(ctx, "u1"); !ok || err != nil {
			t.Fatalf("take %d: %v %v", i, ok, err)
		}
	}
	ok, wait, err := l.Take(ctx, "u1")
	if ok || err != nil || wait <= 50*time.Second || wait > time.Minute {
		t.Fatalf("over the limit: %v %s %v", ok, wait, err)
	}
	// A refusal is not counted: one give-back makes room for exactly one.
	if err := l.GiveBack(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := l.Take(ctx, "u1"); !ok {
		t.Fatal("no room after a give-back")
	}
	if ok, _, _ := l.Take(ctx, "u2"); !ok {
		t.Fatal("another subject is limited too")
	}
	m.FastForward(time.Minute + time.Second)
	if ok, _, _ := l.Take(ctx, "u1"); !ok {
		t.Fatal("the window did not end")
	}
}

func TestMembers(t *testing.T) {
	c, m := local(t)
	ctx := context.Background()
	s := c.NewMembers("boxusers", time.Hour)
	if ok, err := s.Has(ctx, "B1", "user:1"); ok || err != nil {
		t.Fatalf("empty: %v %v", ok, err)
	}
	if err := s.Add(ctx, "B1", "user:1"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Has(ctx, "B1", "user:1"); !ok {
		t.Fatal("not added")
	}
	if ok, _ := s.Has(ctx, "B2", "user:1"); ok {
		t.Fatal("another set has it")
	}
	m.FastForward(2 * time.Hour)
	if ok, _ := s.Has(ctx, "B1", "user:1"); ok {
		t.Fatal("kept past its ttl")
	}
}

// A command that cannot reach Redis matches ErrUnavailable; a reply
// (a missing key, a script error) does not.
func TestUnavailable(t *testing.T) {
	c, m := local(t)
	ctx := context.Background()
	if err := c.Get(ctx, "missing").Err(); !errors.Is(err, redis.Nil) || errors.Is(err, rediskv.ErrUnavailable) {
		t.Fatalf("missing key: %v", err)
	}
	if err := c.Eval(ctx, "return redis.error_reply('boom')", nil).Err(); err == nil || errors.Is(err, rediskv.ErrUnavailable) {
		t.Fatalf("script error: %v", err)
	}
	m.Close()
	if err := c.Get(ctx, "k").Err(); !errors.Is(err, rediskv.ErrUnavailable) {
		t.Fatalf("down: %v", err)
	}
	if _, _, err := c.NewLimit("x", 1, time.Minute).Take(ctx, "u"); !errors.Is(err, rediskv.ErrUnavailable) {
		t.Fatalf("script while down: %v", err)
	}
	_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error { p.Set(ctx, "a", 1, 0); return nil })
	if !errors.Is(err, rediskv.ErrUnavailable) {
		t.Fatalf("pipeline while down: %v", err)
	}
}
