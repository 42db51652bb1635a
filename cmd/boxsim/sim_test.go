package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"gaspay/app"
	"gaspay/config"
	"gaspay/internal/testenv"
	"gaspay/models"
)

// sandboxServer is a gaspay server on embedded defaults, as `go run
// ./cmd/gaspay` starts it.
func sandboxServer(t *testing.T) string {
	t.Helper()
	rdb := testenv.Redis(t)
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"GASPAY_DATA_DIR": t.TempDir(), "GASPAY_REDIS_PREFIX": rdb.Prefix(), "GASPAY_PUBLIC_URL": srv.URL,
			"GASPAY_ADMIN_TOKEN": staffToken}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	opts := app.Options{Redis: rdb}
	if testenv.UsingMySQL() {
		opts.Store = models.NewStore(testenv.RawDB(t))
	}
	a, err := app.New(context.Background(), cfg, testenv.Logger(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	h = a.Handler
	return srv.URL
}

// staffToken is the sandbox server's staff token in these tests.
const staffToken = "boxsim-test-staff-token-0123456789abcdef"

func TestSimulatorPurchases(t *testing.T) {
	url := sandboxServer(t)
	state := filepath.Join(t.TempDir(), "boxsim.json")
	steps := []struct {
		name  string
		args  []string
		want  []string
		fails string
	}{
		{"purchase", nil, []string{"4. card read: account 031140086 (秦*), purchase 4", "5. quote: 100.00 m³ for 300.00 yuan, 0.30 from the balance, 299.70 to pay",
			"7. card written: purchase 5", "8. meter loaded purchase 5: 112.50 m³ remaining"}, ""},
		{"answer lost", []string{"-fault", "lose"}, []string{"answer was lost", "the purchase is on the card: delivered once", "8. meter loaded purchase 6: 212.50 m³"}, ""},
		{"card pulled", []string{"-fault", "pull"}, []string{"the write did not complete (no-card)"}, ""},
		{"written free", nil, []string{"a paid purchase waits for this card: writing it, at no charge", "8. meter loaded purchase 7: 312.50 m³"}, ""},
		{"wrong box key", []string{"-fault", "wrong-key"}, nil, "frame_rejected"},
		{"tampered card", []string{"-fault", "tamper"}, nil, "card_invalid"},
		{"after the refusals", []string{"-volume", "5000"}, []string{"purchase 7, loaded", "8. meter loaded purchase 8: 362.50 m³"}, ""},
		// A phone holds the WRITE_CARD back while box A's session lives:
		// no refund, and the late write delivers once.
		{"held write", []string{"-fault", "hold", "-admin-token", staffToken}, []string{"the purchase in doubt: true",
			"staff refund refused", "delivery_in_doubt", "purchase 9 written and delivered, once", "8. meter loaded purchase 9: 462.50 m³"}, ""},
		// Box A reconnects first: its old session is dead, the money goes
		// back, and the held frame reaches nothing.
		{"held write, box reconnected", []string{"-fault", "hold-new-session", "-admin-token", staffToken}, []string{
			"the purchase in doubt: false", "staff refund accepted", "which refuses it", "box_session_replaced",
			"money back, no gas: the card still holds purchase 9"}, ""},
		{"after the refund", nil, []string{"purchase 9, loaded", "8. meter loaded purchase 10: 562.50 m³"}, ""},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), append([]string{"-url", url, "-state", state}, st.args...), &out)
			if st.fails != "" {
				if err == nil || !strings.Contains(err.Error(), st.fails) {
					t.Fatalf("want a refusal %q, got %v\n%s", st.fails, err, out.String())
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			for _, w := range st.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}
