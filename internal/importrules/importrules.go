// Package importrules writes down the import rules of gaspay's layers and
// checks them over the source tree (ardanlabs' "an import rule written
// down and kept absolutely"). The test of this package runs the check on
// the repository; cmd → app → handlers → domain → models is the direction
// imports point (README, "Architecture").
package importrules

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Check walks the module rooted at root and returns every broken rule, one
// line each, sorted:
//
//   - no non-test file of handlers imports gaspay/models: handlers reaches
//     storage only through the domain packages (models stays a transitive
//     dependency, never a direct one);
//   - no file of a package outside models, cmd/… and internal/… imports
//     gorm.io/…: storage and its column names live in models.
func Check(root string) ([]string, error) {
	var out []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		dir := filepath.ToSlash(filepath.Dir(rel))
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		test := strings.HasSuffix(name, "_test.go")
		for _, imp := range f.Imports {
			p, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				return err
			}
			if dir == "handlers" && !test && p == "gaspay/models" {
				out = append(out, fmt.Sprintf("%s imports %s: handlers reaches storage through the domain packages", rel, p))
			}
			if (p == "gorm.io" || strings.HasPrefix(p, "gorm.io/")) && !mayUseGorm(dir) {
				out = append(out, fmt.Sprintf("%s imports %s: only models (and cmd, internal) may use gorm", rel, p))
			}
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

func mayUseGorm(dir string) bool {
	top, _, _ := strings.Cut(dir, "/")
	return top == "models" || top == "cmd" || top == "internal"
}
