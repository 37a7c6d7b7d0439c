package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/batchscore/batchscore/internal/testkit/pgtest"
	"github.com/batchscore/batchscore/jobs/report"
)

// TestI22ExplainShards: two shards of a job with explain: and a
// PostgreSQL sink, then `batchscore commit`, publish the same
// _explanations rows (as a set: every column, floats to the bit) as one
// unsharded run of the same job, under versions/<date>/<version>/
// _explanations/; the commit's manifest section agrees with the unsharded
// run's (rows, skipped, fallback rows, largest additivity error, reason
// counts; importance to rounding, as the row-weighted mean of the shards'),
// and the sink's <table>_explanations_current view shows the commit's
// explained rows under its version.
func TestI22ExplainShards(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	model := filepath.Join(root, "testdata", "models", "explain", "sk_gbm.onnx")
	covers := filepath.Join(root, "testdata", "models", "explain", "sk_gbm.covers.json")
	source := familySnapshot(t, filepath.Join(root, "testdata", "models", "families"))
	dir := t.TempDir()
	features := make([]string, 12)
	for i := range features {
		features[i] = fmt.Sprintf("f%d", i)
	}
	job := func(name string) string {
		p := filepath.Join(dir, name+".yaml")
		yaml := fmt.Sprintf("name: %s\nsource:\n  parquet: %q\nmodel:\n  path: %q\n  inputs:\n    X: [%s]\n  score: {output: probabilities, class: 1}\noutput:\n  table: %q\n  keys: [row_id]\n  sql: {driver: postgres, dsn_env: EXPLAIN_DSN, table: %s}\nscoring:\n  chunk_rows: 500\nexplain:\n  top: 3\n  where: {score_min: 0.4}\n  covers: %q\n  values: true\n",
			name, source, model, strings.Join(features, ", "), filepath.Join(dir, name), name, covers)
		if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	dsn := pgtest.DSN(t)
	env := append(ortEnv(t), "EXPLAIN_DSN="+dsn)
	// One job file for both, so that the rows' run_id agree: the shards
	// run with --force over the unsharded run's version.
	jf := job("explained")
	res := runWith(t, batchscore, env, "run", jf, "--date", date20, "--json")
	if res.code != 0 {
		t.Fatalf("single run: exit %d\n%s", res.code, res)
	}
	single := parseManifest(t, []byte(res.stdout))
	for k, res := range runShards(t, jf, 2, []int{0, 1}, map[int][]string{0: {"EXPLAIN_DSN=" + dsn}, 1: {"EXPLAIN_DSN=" + dsn}}, "--force") {
		if res.code != 0 {
			t.Fatalf("shard %d: exit %d\n%s", k, res.code, res)
		}
	}
	if vs, _ := filepath.Glob(filepath.Join(dir, "explained", "versions", date20, "*")); len(vs) != 1 {
		t.Fatalf("versions before the commit: %v", vs)
	}
	res = runWith(t, batchscore, env, "commit", jf, "--date", date20, "--shards", "2", "--json")
	if res.code != 0 {
		t.Fatalf("commit: exit %d\n%s", res.code, res)
	}
	m := parseManifest(t, []byte(res.stdout))
	for _, s := range m.Shards {
		if s.Rows == 0 || s.Rows == single.Counts.Read {
			t.Fatalf("shard %d read %d of %d rows", s.Index, s.Rows, single.Counts.Read)
		}
	}
	checkMergedExplain(t, single.Explain, m.Explain)
	if m.RunID != single.RunID || m.Version == single.Version {
		t.Fatalf("commit: run id %s version %s; single run %s %s", m.RunID, m.Version, single.RunID, single.Version)
	}
	if m.Explain.Path != filepath.Join(m.Output.Path, "_explanations") || len(m.Explain.Files) < 2 {
		t.Fatalf("commit explain path %q, %d files", m.Explain.Path, len(m.Explain.Files))
	}
	_, want := versionRows(t, single.Explain.Path)
	_, got := versionRows(t, m.Explain.Path)
	slices.Sort(want)
	slices.Sort(got)
	if int64(len(got)) != m.Explain.Rows || !slices.Equal(got, want) {
		t.Fatalf("the commit's explanations (%d rows) differ from the single run's (%d)", len(got), len(want))
	}

	var n int64
	var version string
	q := "SELECT count(*), min(version) FROM explained_explanations_current WHERE score_date = $1"
	if err := pgtest.Connect(t, dsn).QueryRow(context.Background(), q, date20).Scan(&n, &version); err != nil {
		t.Fatal(err)
	}
	if n != m.Explain.Rows || version != m.Version {
		t.Fatalf("explained_explanations_current: %d rows of version %s; the commit explained %d under %s", n, version, m.Explain.Rows, m.Version)
	}
}

// checkMergedExplain compares a commit's explain section with an
// unsharded run's over the same rows.
func checkMergedExplain(t *testing.T, single, m *report.Explanation) {
	t.Helper()
	if m == nil || single == nil {
		t.Fatalf("explain sections: commit %v, single run %v", m, single)
	}
	if m.Method != single.Method || m.Space != single.Space || m.CoversSHA256 != single.CoversSHA256 ||
		m.Rows != single.Rows || m.Skipped != single.Skipped || m.FallbackRows != single.FallbackRows ||
		m.MaxAdditivityError != single.MaxAdditivityError || m.Rows == 0 || m.Skipped == 0 {
		t.Fatalf("commit explain %+v\nsingle run %+v", *m, *single)
	}
	if fmt.Sprint(m.Reasons) != fmt.Sprint(single.Reasons) {
		t.Fatalf("reason counts: commit %v, single run %v", m.Reasons, single.Reasons)
	}
	imp := map[string]float64{}
	for _, i := range single.Importance {
		imp[i.Column] = i.MeanAbs
	}
	if len(m.Importance) != len(imp) {
		t.Fatalf("importance: commit %v, single run %v", m.Importance, single.Importance)
	}
	for _, i := range m.Importance {
		if w, ok := imp[i.Column]; !ok || math.Abs(i.MeanAbs-w) > 1e-12*(1+w) {
			t.Fatalf("importance of %s: commit %v, single run %v", i.Column, i.MeanAbs, w)
		}
	}
}
