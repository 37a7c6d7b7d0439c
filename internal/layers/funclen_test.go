package layers

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// maxFuncLines is the house limit on a function's length, counted from the
// line of `func` to the line of its closing brace.
const maxFuncLines = 120

// TestNoFunctionOver120Lines parses every .go file of the module, tests
// included, and names each function or method longer than maxFuncLines.
func TestNoFunctionOver120Lines(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	long, err := longFunctions(root, maxFuncLines)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range long {
		t.Errorf("%s", l)
	}
}

// TestLongFunctionsAreFound keeps the check above able to fail.
func TestLongFunctionsAreFound(t *testing.T) {
	dir := t.TempDir()
	body := "package p\n\nfunc Long() {\n" + strings.Repeat("\t_ = 1\n", 119) + "}\n\nfunc Short() {}\n"
	if err := os.WriteFile(filepath.Join(dir, "p.go"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	long, err := longFunctions(dir, maxFuncLines)
	if err != nil {
		t.Fatal(err)
	}
	if len(long) != 1 || !strings.Contains(long[0], "p.go: Long is 121 lines") {
		t.Fatalf("want one report of Long at 121 lines, got %q", long)
	}
}

// moduleRoot walks up from the test's folder to the one holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fs.ErrNotExist
		}
		dir = parent
	}
}

// longFunctions lists "file: name is N lines (limit M)" for every function
// under root longer than limit. Folders Go tooling ignores (testdata, hidden,
// underscore-led), vendored code, third_party and nested modules are skipped.
func longFunctions(root string, limit int) ([]string, error) {
	var out []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return skipDir(root, path, d)
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			n := fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1
			if n > limit {
				out = append(out, rel+": "+funcName(fn)+" is "+strconv.Itoa(n)+" lines (limit "+strconv.Itoa(limit)+")")
			}
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

func skipDir(root, path string, d fs.DirEntry) error {
	if path == root {
		return nil
	}
	name := d.Name()
	if name == "testdata" || name == "vendor" || name == "third_party" || name == "node_modules" ||
		strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
		return filepath.SkipDir
	}
	if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
		return filepath.SkipDir
	}
	return nil
}

func funcName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	typ := fn.Recv.List[0].Type
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = star.X
	}
	if idx, ok := typ.(*ast.IndexExpr); ok {
		typ = idx.X
	}
	if id, ok := typ.(*ast.Ident); ok {
		return id.Name + "." + fn.Name.Name
	}
	return fn.Name.Name
}
