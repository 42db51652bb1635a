package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"gaspay/internal/apptest"
)

func TestServiceHallPages(t *testing.T) {
	env := apptest.New(t, nil)
	srv := env.Start()
	r := srv.Do(apptest.Request{Method: "GET", Path: "/h5/"})
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "燃气服务大厅") ||
		!strings.Contains(r.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Fatalf("/h5/: %d %v", r.Status, r.Header)
	}
	if r := srv.Do(apptest.Request{Method: "GET", Path: "/h5/app.js"}); r.Status != http.StatusOK || !strings.Contains(string(r.Body), "/api/bindings") {
		t.Fatalf("/h5/app.js: %d", r.Status)
	}
	if r := srv.Do(apptest.Request{Method: "GET", Path: "/h5/../config/config.go"}); r.Status == http.StatusOK {
		t.Fatalf("path escape served: %s", r.Body)
	}
}
