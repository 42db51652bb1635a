package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gaspay/internal/testenv"
)

// Every route the router serves (sandbox routes included) is in
// /openapi.json, and every documented operation is a route.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	r, err := New(Deps{
		Log:           testenv.Logger(),
		SandboxPay:    func(context.Context, string) (int, error) { return 0, nil },
		SandboxAlipay: func(context.Context, string, string) (string, error) { return "", nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	param := regexp.MustCompile(`[:*]([A-Za-z_]+)`)
	routes := map[string]bool{}
	for _, rt := range r.Routes() {
		routes[strings.ToLower(rt.Method)+" "+param.ReplaceAllString(rt.Path, "{$1}")] = true
	}

	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/openapi.json", nil))
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("/openapi.json: %d %s", w.Code, w.Header())
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]struct {
			OperationID string         `json:"operationId"`
			Summary     string         `json:"summary"`
			Responses   map[string]any `json:"responses"`
			Parameters  []struct {
				Name string `json:"name"`
				In   string `json:"in"`
			} `json:"parameters"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi = %q", doc.OpenAPI)
	}
	documented := map[string]bool{}
	ids := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, o := range ops {
			key := method + " " + path
			documented[key] = true
			if o.Summary == "" || len(o.Responses) == 0 || o.OperationID == "" || ids[o.OperationID] {
				t.Errorf("%s: summary, responses and a unique operationId are required", key)
			}
			ids[o.OperationID] = true
			// Every path parameter is declared.
			for _, m := range regexp.MustCompile(`\{(\w+)\}`).FindAllStringSubmatch(path, -1) {
				found := false
				for _, p := range o.Parameters {
					found = found || (p.In == "path" && p.Name == m[1])
				}
				if !found {
					t.Errorf("%s: path parameter %s not declared", key, m[1])
				}
			}
		}
	}
	var missing, extra []string
	for k := range routes {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !routes[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("routes missing from handlers/openapi.json:\n  %s", strings.Join(missing, "\n  "))
	}
	if len(extra) > 0 {
		t.Errorf("documented operations with no route:\n  %s", strings.Join(extra, "\n  "))
	}
	if len(routes) < 30 {
		t.Fatalf("only %d routes: the router was not built whole", len(routes))
	}
}
