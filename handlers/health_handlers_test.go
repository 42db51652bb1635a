package handlers_test

import (
	"net/http"
	"testing"

	"gaspay/internal/apptest"
)

func TestHealthAndReadiness(t *testing.T) {
	env := apptest.New(t, nil)
	srv := env.Start()
	if r := srv.Do(apptest.Request{Method: "GET", Path: "/healthz"}); r.Status != http.StatusOK {
		t.Fatalf("healthz: %d", r.Status)
	}
	if r := srv.Do(apptest.Request{Method: "GET", Path: "/readyz"}); r.Status != http.StatusOK {
		t.Fatalf("readyz: %d %s", r.Status, r.Body)
	}
	// Redis goes away: not ready, but still alive, and nothing internal
	// reaches the answer.
	srv.App.Redis.Close()
	r := srv.Do(apptest.Request{Method: "GET", Path: "/readyz"})
	if r.Status != http.StatusServiceUnavailable || r.Code(t) != "not_ready" || len(r.Body) > 200 {
		t.Fatalf("readyz without redis: %d %s", r.Status, r.Body)
	}
	if r := srv.Do(apptest.Request{Method: "GET", Path: "/healthz"}); r.Status != http.StatusOK {
		t.Fatalf("healthz without redis: %d", r.Status)
	}
	// A customer request now fails as unavailable, to retry later, with
	// no cause.
	r = srv.Do(apptest.Request{Method: "GET", Path: "/api/bindings", Token: "gps_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})
	if r.Status != http.StatusServiceUnavailable || r.Code(t) != "service_unavailable" || r.Header.Get("Retry-After") == "" || len(r.Body) > 120 {
		t.Fatalf("request without redis: %d %s", r.Status, r.Body)
	}
}

func TestRoutingErrorsAndRequestIDs(t *testing.T) {
	env := apptest.New(t, nil)
	srv := env.Start()
	if r := srv.Do(apptest.Request{Method: "GET", Path: "/nowhere"}); r.Status != 404 || r.Code(t) != "not_found" {
		t.Errorf("unknown path: %d %s", r.Status, r.Body)
	}
	if r := srv.Do(apptest.Request{Method: "PATCH", Path: "/healthz"}); r.Status != 405 || r.Code(t) != "method_not_allowed" {
		t.Errorf("wrong method: %d %s", r.Status, r.Body)
	}
	// The sandbox's pay route exists only in the sandbox.
	if r := srv.Do(apptest.Request{Method: "POST", Path: "/sandbox/wechat/pay/GP20261122000000000001"}); r.Status != 404 {
		t.Errorf("sandbox route outside the sandbox: %d %s", r.Status, r.Body)
	}
	r := srv.Do(apptest.Request{Method: "GET", Path: "/healthz", Header: map[string]string{"X-Request-Id": "lb-1234"}})
	if r.Header.Get("X-Request-Id") != "lb-1234" {
		t.Errorf("request id not echoed: %q", r.Header.Get("X-Request-Id"))
	}
	r = srv.Do(apptest.Request{Method: "GET", Path: "/healthz", Header: map[string]string{"X-Request-Id": "bad id\"<script>"}})
	if id := r.Header.Get("X-Request-Id"); len(id) != 16 {
		t.Errorf("insane request id kept: %q", id)
	}
}
