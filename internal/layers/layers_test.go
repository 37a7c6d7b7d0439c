// Package layers holds the test that keeps imports running downward:
// cmd → jobs → scoring, io → internal. A package lower down that imported
// one higher up would tie the engines and the storage to the orchestration.
package layers

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/batchscore/batchscore/"

// forbidden maps a layer to the layers its packages, tests included, must
// not import, directly or through another package.
var forbidden = map[string][]string{
	"io/":       {"jobs/", "cmd/"},
	"scoring/":  {"jobs/", "cmd/"},
	"internal/": {"jobs/", "cmd/", "io/", "scoring/"},
	"jobs/":     {"cmd/"},
}

type listed struct {
	ImportPath   string
	Deps         []string
	TestImports  []string
	XTestImports []string
}

func TestNoImportRunsUpward(t *testing.T) {
	// -test lists each package's test variant too, so test harnesses count.
	cmd := exec.Command("go", "list", "-deps", "-test", "-json=ImportPath,Deps,TestImports,XTestImports",
		module+"io/...", module+"scoring/...", module+"internal/...", module+"jobs/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for {
		var p listed
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		// Test variants are listed as "pkg [pkg.test]"; judge them as pkg.
		path, _, _ := strings.Cut(p.ImportPath, " ")
		rel, ok := strings.CutPrefix(path, module)
		if !ok || strings.HasSuffix(path, ".test") {
			continue
		}
		if strings.HasPrefix(rel, "internal/layers") {
			continue
		}
		seen++
		for layer, bans := range forbidden {
			if !strings.HasPrefix(rel, layer) {
				continue
			}
			for _, dep := range append(append(p.Deps, p.TestImports...), p.XTestImports...) {
				dep, _, _ = strings.Cut(dep, " ")
				drel, ok := strings.CutPrefix(dep, module)
				if !ok {
					continue
				}
				for _, ban := range bans {
					if strings.HasPrefix(drel, ban) {
						t.Errorf("%s imports %s: %s must not depend on %s", rel, drel, layer, ban)
					}
				}
			}
		}
	}
	if seen < 20 {
		t.Fatalf("go list named only %d packages of the module: the check checked nothing", seen)
	}
}
