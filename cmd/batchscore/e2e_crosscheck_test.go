package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestNativeCrossCheckEveryChunk: with chunks of 97 rows (21 chunks of the
// 2,000 sample rows, the last one short), every chunk's sample is checked
// against ONNX Runtime, and a correct native engine passes every check:
// the GBM stays native to the end of the run. (A native engine that goes
// wrong on a later chunk is scoring/onnx's TestNativeEngineChecksEveryChunk.)
func TestNativeCrossCheckEveryChunk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, c := range []struct{ config, engine, want string }{
		{"churn_nightly.yaml", "auto", "native (batchscore's Go tree evaluator)"},
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
		if !strings.HasPrefix(m.Model.Engine, want) || strings.Contains(m.Model.Engine, "differed") {
			t.Errorf("%s under %s: model.engine %q, want %q…", c.config, c.engine, m.Model.Engine, want)
		}
	}
}
