package handlers_test

import (
	"net/http"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"gaspay/internal/apptest"
	"gaspay/rediskv"
)

// With Redis down, every authenticated route answers 503
// service_unavailable with Retry-After, never 500 internal, and /readyz
// fails; when Redis is back, so is the service.
func TestRedisDownIsServiceUnavailable(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	addr := m.Addr()
	rc := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: 1})
	t.Cleanup(func() { rc.Close(); m.Close() })
	env.Redis = rediskv.New(rc, "down:")
	srv := env.Start()
	token := srv.Login("alice")
	if r := srv.Do(apptest.Request{Method: "GET", Path: "/readyz"}); r.Status != http.StatusOK {
		t.Fatalf("readyz with Redis: %d", r.Status)
	}

	m.Close()
	for _, req := range []apptest.Request{
		{Method: "GET", Path: "/api/bindings", Token: token},
		{Method: "POST", Path: "/api/bindings", Token: token, Body: map[string]string{"by": "user_number", "number": "031120001", "holder_name": "王洪"}},
		{Method: "POST", Path: "/api/mp/login", Body: map[string]string{"code": "test:bob"}},
	} {
		r := srv.Do(req)
		if r.Status != http.StatusServiceUnavailable || r.Code(t) != "service_unavailable" || r.Header.Get("Retry-After") != "5" {
			t.Errorf("%s %s with Redis down: %d %s %v", req.Method, req.Path, r.Status, r.Body, r.Header)
		}
	}
	if r := srv.Do(apptest.Request{Method: "GET", Path: "/readyz"}); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("readyz with Redis down: %d", r.Status)
	}
	if r := srv.Do(apptest.Request{Method: "GET", Path: "/healthz"}); r.Status != http.StatusOK {
		t.Fatalf("healthz: %d", r.Status)
	}

	// Back on the same address (its data lost, as after a restart).
	m2 := miniredis.NewMiniRedis()
	if err := m2.StartAddr(addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m2.Close)
	if r := srv.Do(apptest.Request{Method: "GET", Path: "/readyz"}); r.Status != http.StatusOK {
		t.Fatalf("readyz after Redis is back: %d", r.Status)
	}
	if r := srv.Do(apptest.Request{Method: "GET", Path: "/api/bindings", Token: srv.Login("alice")}); r.Status != http.StatusOK {
		t.Fatalf("after Redis is back: %d %s", r.Status, r.Body)
	}
}
