package browsertest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"gaspay/app"
	"gaspay/config"
	"gaspay/internal/testenv"
	"gaspay/models"
)

// Server is a whole gaspay server for a browser to visit.
type Server struct {
	// URL is the server's origin, also its GASPAY_PUBLIC_URL, so that
	// the pages' same-origin checks hold for the browser.
	URL string
	App *app.App
}

// Sandbox starts a server as `go run ./cmd/gaspay` runs with nothing
// configured: sandbox WeChat (OAuth comes straight back), sandbox WeChat
// Pay and Alipay, the demo accounts; but on the test's own database and
// Redis (testenv: SQLite and miniredis, or MariaDB and Redis when the test
// environment names them). vars override GASPAY_* settings (for instance
// GASPAY_ADMIN_TOKEN). The server stops when the test ends.
func Sandbox(t testing.TB, vars map[string]string) *Server {
	t.Helper()
	db, rdb := testenv.DB(t), testenv.Redis(t)
	env := map[string]string{
		"GASPAY_DATA_DIR":     t.TempDir(),
		"GASPAY_REDIS_PREFIX": rdb.Prefix(),
	}
	for k, v := range vars {
		env[k] = v
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("browsertest: config: %v", err)
	}
	// The public URL is the listener's, known only once it listens.
	h := &lateHandler{}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cfg.PublicURL = srv.URL
	a, err := app.New(context.Background(), cfg, testenv.Logger(), app.Options{Store: models.NewStore(db), Redis: rdb})
	if err != nil {
		t.Fatalf("browsertest: app: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	h.h = a.Handler
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &Server{URL: srv.URL, App: a}
}

type lateHandler struct{ h http.Handler }

func (l *lateHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { l.h.ServeHTTP(w, r) }
