package cards

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gaspay/bleproxy"
	"gaspay/models"
)

// One function per delivery path takes a credit out of doubt without
// delivering it (cards.settleNotLanded for card writes, iot.settleUnapplied
// for IoT recharges, each after its own proof), and one function cancels a
// credit (recharge's cancelCredit), which asks recharge.InDoubt first. This
// test reads the module's source and fails if any other function clears a
// credit's attempts (Credit.ClearDoubt) or cancels a credit (Credit.Cancel,
// or the cancelled status written outside models' transitions): a new
// cancellation path (a kiosk, a partner) must go through those, not around
// them.
func TestOnlyOneFunctionTakesACreditOutOfDoubt(t *testing.T) {
	type site struct{ file, fn string }
	var clears, cancels []site
	var cancelAsks bool
	root := ".."
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "data" || d.Name() == "node_modules") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CallExpr:
					if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "ClearDoubt" && !inModels(rel) {
						clears = append(clears, site{rel, fn.Name.Name})
					}

					if id := calleeName(n); id == "InDoubt" && fn.Name.Name == "cancelCredit" {
						cancelAsks = true
					}
				case *ast.FuncLit:
					// func(c *models.Credit) error { return c.Cancel(now) }
					for _, name := range creditParams(n) {
						ast.Inspect(n.Body, func(m ast.Node) bool {
							if call, ok := m.(*ast.CallExpr); ok {
								if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Cancel" {
									if x, ok := sel.X.(*ast.Ident); ok && x.Name == name {
										cancels = append(cancels, site{rel, fn.Name.Name})
									}
								}
							}
							return true
						})
					}
				case *ast.KeyValueExpr:
					if sel, ok := n.Value.(*ast.SelectorExpr); ok && sel.Sel.Name == "CreditCancelled" {
						cancels = append(cancels, site{rel, fn.Name.Name})
					}
				case *ast.AssignStmt:
					// c.Status = models.CreditCancelled outside the
					// transitions of models/ledger.go.
					for _, r := range n.Rhs {
						if sel, ok := r.(*ast.SelectorExpr); ok && sel.Sel.Name == "CreditCancelled" && !inModels(rel) {
							cancels = append(cancels, site{rel, fn.Name.Name})
						}
					}
				case *ast.BasicLit:
					// Raw SQL that clears attempts or cancels a credit
					// outside the store's one method for it.
					v := strings.ToLower(n.Value)
					if n.Kind == token.STRING && strings.Contains(v, "attempts = 0") {
						clears = append(clears, site{rel, fn.Name.Name})
					}
				}
				return true
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []site{{filepath.Join("cards", "ledger.go"), "settleNotLanded"}, {filepath.Join("iot", "ledger.go"), "settleUnapplied"}}
	if len(clears) != len(want) || clears[0] != want[0] || clears[1] != want[1] {
		t.Errorf("credits leave doubt at %v; only %v may take them out", clears, want)
	}
	wantCancel := site{filepath.Join("recharge", "refunds.go"), "cancelCredit"}
	if len(cancels) != 1 || cancels[0] != wantCancel {
		t.Errorf("credits are cancelled at %v; only %v may cancel one", cancels, wantCancel)
	}
	if !cancelAsks {
		t.Error("cancelCredit no longer asks recharge.InDoubt")
	}
}

func inModels(rel string) bool { return strings.HasPrefix(rel, "models"+string(filepath.Separator)) }

// creditParams names a function literal's parameters of type
// *models.Credit.
func creditParams(f *ast.FuncLit) []string {
	var out []string
	for _, p := range f.Type.Params.List {
		star, ok := p.Type.(*ast.StarExpr)
		if !ok {
			continue
		}
		if sel, ok := star.X.(*ast.SelectorExpr); ok && sel.Sel.Name == "Credit" {
			for _, n := range p.Names {
				out = append(out, n.Name)
			}
		}
	}
	return out
}

func calleeName(c *ast.CallExpr) string {
	switch f := c.Fun.(type) {
	case *ast.Ident:
		return f.Name
	case *ast.SelectorExpr:
		return f.Sel.Name
	}
	return ""
}

// The spec's "issuing session is dead" as a table: a newer HELLO of the
// same box, or BOX_SESSION_IDLE + 60 s since the server last sealed or
// accepted a frame of the session.
func TestWriteLive(t *testing.T) {
	active := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	w := func(hello, boxHello int64) models.OpenCardWrite {
		at := active.Add(time.Second) // the newer HELLO, if any, a second after the last activity
		return models.OpenCardWrite{CardWrite: models.CardWrite{HelloCounter: hello, ActiveAt: active}, BoxHello: boxHello, BoxHelloAt: &at}
	}
	cases := []struct {
		name  string
		w     models.OpenCardWrite
		after time.Duration
		live  bool
	}{
		{"just issued", w(7, 7), 0, true},
		{"idle just under the box's timeout", w(7, 7), bleproxy.SessionIdle - time.Second, true},
		{"idle past the box's timeout, within the clocks' margin", w(7, 7), bleproxy.SessionIdle + 59*time.Second, true},
		{"idle past the timeout and the margin", w(7, 7), bleproxy.SessionIdle + 60*time.Second, false},
		{"the box opened a newer session", w(7, 8), time.Second, false},
		{"a read asked for before the box's newer session proves nothing", w(7, 8), 0, true},
		{"the box's counter went back (restored database): still live", w(7, 6), time.Second, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := writeLive(c.w, active.Add(c.after)); got != c.live {
				t.Errorf("writeLive = %v, want %v", got, c.live)
			}
		})
	}
}
