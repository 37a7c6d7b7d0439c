package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/batchscore/batchscore/scoring/linear"
)

// TestNativeCrossCheckEveryChunk: with chunks of 97 rows (21 chunks of the
// 2,000 sample rows, the last one short), every chunk's sample is checked
// against ONNX Runtime, and a correct native engine passes every check:
// both models stay native to the end of the run, and the logistic model's
// table is ONNX Runtime's to the bit. (A native engine that goes wrong on
// a later chunk is scoring/onnx's TestNativeEngineChecksEveryChunk.)
func TestNativeCrossCheckEveryChunk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logreg := map[string]resultRows{}
	for _, c := range []struct{ config, engine, want string }{
		{"churn_nightly.yaml", "auto", "native (batchscore's Go tree evaluator)"},
		{"churn_logreg.yaml", "auto", "native (batchscore's Go linear evaluator)"},
		{"churn_logreg.yaml", "onnxruntime", "onnxruntime 1.24.1"},
	} {
		table := filepath.Join(dir, strings.TrimSuffix(c.config, ".yaml")+"-"+c.engine)
		job := writeJob(t, c.config, jobOpts{table: table, chunkRows: 97, edit: withEngineSet(c.engine)})
		res := bs(t, "run", job, "--date", date20, "--json")
		if res.code != 0 {
			t.Fatalf("%s under %s: run failed\n%s", c.config, c.engine, res)
		}
		m := parseManifest(t, []byte(res.stdout))
		checkSucceededManifest(t, m, table, date20, 2000)
		want := c.want
		if c.config == "churn_logreg.yaml" && !linear.CPUSupported() {
			want = "onnxruntime 1.24.1"
		}
		if !strings.HasPrefix(m.Model.Engine, want) || strings.Contains(m.Model.Engine, "differed") {
			t.Errorf("%s under %s: model.engine %q, want %q…", c.config, c.engine, m.Model.Engine, want)
		}
		if c.config == "churn_logreg.yaml" {
			logreg[c.engine] = readResults(t, filepath.Join(table, "current", date20))
		}
	}
	if a, o := logreg["auto"], logreg["onnxruntime"]; !slices.Equal(a.ids, o.ids) || !slices.Equal(a.labels, o.labels) || !slices.Equal(a.scores, o.scores) {
		t.Errorf("logreg: the native linear engine's table differs from ONNX Runtime's")
	}
}
