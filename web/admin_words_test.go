package web

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every alert kind the server raises has a Chinese name on the console
// (admin/app.js's words): staff must not meet a bare code there.
func TestConsoleNamesEveryAlertKind(t *testing.T) {
	js, err := os.ReadFile("admin/app.js")
	if err != nil {
		t.Fatal(err)
	}
	raised := regexp.MustCompile(`(?:alert|AddAlert)\(ctx, (?:tx, |s\.store, )?"([a-z_]+)"|Alert[A-Za-z]*\s*=\s*"([a-z_]+)"`)
	kinds := map[string]string{}
	err = filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || strings.Contains(path, "/cmd/") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range raised.FindAllStringSubmatch(string(b), -1) {
			kinds[m[1]+m[2]] = path
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(kinds) < 15 {
		t.Fatalf("found only %d alert kinds (%v): the pattern no longer matches how alerts are raised", len(kinds), kinds)
	}
	for k, where := range kinds {
		if !regexp.MustCompile(`\b` + k + `: "`).Match(js) {
			t.Errorf("alert kind %q (raised in %s) has no Chinese name in admin/app.js", k, where)
		}
	}
}
