package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/batchscore/batchscore/internal/testkit/pgtest"
	"github.com/batchscore/batchscore/jobs/report"
)

// TestI22ExplainThroughTheBinary: `batchscore covers` counts the
// snapshot's rows through a scikit-learn GBM's nodes; a run with explain:
// publishes _explanations beside the scores for the rows at or above
// score_min, where every row adds up (logistic(bias + Σ shap) is the
// published score) and the reason codes are the largest contributions, in
// order; the manifest records the method, covers hash, rows and error.
// The run also loads a PostgreSQL sink: its explained_explanations_current
// view holds, under the published version, exactly the Parquet rows.
// Covers that do not fit the model fail the run at load (exit 2).
func TestI22ExplainThroughTheBinary(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	model := filepath.Join(root, "testdata", "models", "explain", "sk_gbm.onnx")
	source := familySnapshot(t, filepath.Join(root, "testdata", "models", "families"))
	dir := t.TempDir()
	features := make([]string, 12)
	for i := range features {
		features[i] = fmt.Sprintf("f%d", i)
	}
	covers := filepath.Join(dir, "covers.json")
	data := strings.ReplaceAll(source, "{{ .Date }}", date20)
	res := bs(t, "covers", model, "--data", data, "--inputs", strings.Join(features, ","), "--out", covers)
	if res.code != 0 {
		t.Fatalf("covers: exit %d\n%s", res.code, res)
	}
	b, err := os.ReadFile(covers)
	if err != nil || !strings.HasPrefix(string(b), "[\n{\"tree\":0,\"node\":0,\"cover\":3000}") {
		t.Fatalf("covers file: %.80s %v", b, err)
	}
	sum := sha256.Sum256(b)
	reasons := filepath.Join(dir, "reasons.csv")
	os.WriteFile(reasons, []byte("column,code,text\nf0,R00,first feature\nf1,R01,second\n"), 0o644)
	job := func(name, coversPath string) string {
		p := filepath.Join(dir, name+".yaml")
		yaml := fmt.Sprintf("name: %s\nsource:\n  parquet: %q\nmodel:\n  path: %q\n  inputs:\n    X: [%s]\n  score: {output: probabilities, class: 1}\noutput:\n  table: %q\n  keys: [row_id]\n  sql: {driver: postgres, dsn_env: EXPLAIN_DSN, table: %s}\nscoring:\n  chunk_rows: 1000\nexplain:\n  top: 3\n  where: {score_min: 0.7}\n  covers: %q\n  reasons: %q\n  values: true\n",
			name, source, model, strings.Join(features, ", "), filepath.Join(dir, name), name, coversPath, reasons)
		if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	dsn := pgtest.DSN(t)
	env := append(ortEnv(t), "EXPLAIN_DSN="+dsn)
	res = runWith(t, batchscore, env, "run", job("explained", covers), "--date", date20, "--json")
	if res.code != 0 {
		t.Fatalf("run: exit %d\n%s", res.code, res)
	}
	m := parseManifest(t, []byte(res.stdout))
	x := m.Explain
	if x == nil || x.Method != "tree_shap_path_dependent" || x.Space != "margin" || x.CoversSHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("manifest explain section: %+v", x)
	}
	if x.MaxAdditivityError > 1e-9 || x.Rows == 0 || x.Skipped == 0 || x.Rows+x.Skipped != 3000 || len(x.Importance) != 12 {
		t.Fatalf("explain: rows %d, skipped %d, max additivity error %g, %d importances", x.Rows, x.Skipped, x.MaxAdditivityError, len(x.Importance))
	}
	tbl := checkTreeExplanations(t, m)
	checkSQLExplanations(t, dsn, m.Version, tbl)

	checkLinearExplanations(t, root, dir, source, features)

	// Covers of another model: exit 2 at load, naming tree and node.
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(strings.Replace(string(b), `"cover":3000}`, `"cover":0}`, 1)), 0o644)
	res = runWith(t, batchscore, env, "run", job("badcovers", bad), "--date", date20)
	if res.code != 2 || !strings.Contains(res.stderr, "tree 0 node 0 has cover 0") {
		t.Fatalf("bad covers: exit %d\n%s", res.code, res)
	}
}

// checkTreeExplanations checks the tree run's _explanations table against
// its published scores: the rows with a score of at least 0.7 are the ones
// explained, logistic(bias + Σ shap) is the score, and the reason codes
// are the largest positive contributions in order. It returns the table.
func checkTreeExplanations(t *testing.T, m *report.Manifest) arrow.Table {
	t.Helper()
	x := m.Explain
	scores := map[int64]float64{}
	mainFiles, _ := filepath.Glob(filepath.Join(m.Output.Path, "*.parquet"))
	for _, f := range mainFiles {
		tbl := readParquet(t, f)
		ids, sc := column(t, tbl, "row_id").(*array.Int64), column(t, tbl, "score").(*array.Float64)
		for i := range ids.Len() {
			scores[ids.Value(i)] = sc.Value(i)
		}
	}
	if x.Path != filepath.Join(m.Output.Path, "_explanations") {
		t.Fatalf("explain.path %q", x.Path)
	}
	files, _ := filepath.Glob(filepath.Join(x.Path, "*.parquet"))
	if len(files) != 1 {
		t.Fatalf("explanation files %v", files)
	}
	tbl := readParquet(t, files[0])
	if tbl.NumRows() != x.Rows {
		t.Fatalf("%d rows in the table, manifest %d", tbl.NumRows(), x.Rows)
	}
	ids := column(t, tbl, "row_id").(*array.Int64)
	score, bias := column(t, tbl, "score").(*array.Float64), column(t, tbl, "bias").(*array.Float64)
	shap := make([]*array.Float64, 12)
	for j := range shap {
		shap[j] = column(t, tbl, "shap_f"+fmt.Sprint(j)).(*array.Float64)
	}
	reason := []*array.String{column(t, tbl, "reason_1").(*array.String), column(t, tbl, "reason_2").(*array.String), column(t, tbl, "reason_3").(*array.String)}
	code := func(j int) string {
		return map[int]string{0: "R00", 1: "R01"}[j] + map[bool]string{true: fmt.Sprintf("f%d", j)}[j > 1]
	}
	selected := 0
	for _, s := range scores {
		if s >= 0.7 {
			selected++
		}
	}
	if selected != ids.Len() {
		t.Fatalf("%d scores ≥ 0.7, %d rows explained", selected, ids.Len())
	}
	for i := range ids.Len() {
		s := scores[ids.Value(i)]
		if score.Value(i) != s || s < 0.7 {
			t.Fatalf("row_id %d: score %v in the explanations, %v published", ids.Value(i), score.Value(i), s)
		}
		margin := bias.Value(i)
		order := make([]int, 12)
		for j := range shap {
			margin += shap[j].Value(i)
			order[j] = j
		}
		if p := 1 / (1 + math.Exp(-margin)); math.Abs(p-s) > 1e-6 {
			t.Fatalf("row_id %d: logistic(bias + Σ shap) = %v, score %v", ids.Value(i), p, s)
		}
		sort.SliceStable(order, func(a, b int) bool { return shap[order[a]].Value(i) > shap[order[b]].Value(i) })
		for k, r := range reason {
			if j := order[k]; shap[j].Value(i) > 0 {
				if r.IsNull(i) || r.Value(i) != code(j) {
					t.Fatalf("row_id %d: reason_%d %q, want %q", ids.Value(i), k+1, r.ValueStr(i), code(j))
				}
			} else if !r.IsNull(i) {
				t.Fatalf("row_id %d: reason_%d %q for a contribution of %v", ids.Value(i), k+1, r.Value(i), shap[j].Value(i))
			}
		}
	}
	return tbl
}

// checkLinearExplanations runs a linear model (Scaler + LinearClassifier)
// with E[x] from a baseline the binary profiles, and checks additivity on
// every explained row.
func checkLinearExplanations(t *testing.T, root, dir, source string, features []string) {
	t.Helper()
	data := strings.ReplaceAll(source, "{{ .Date }}", date20)
	linear := filepath.Join(root, "testdata", "models", "explain", "sk_logreg.onnx")
	baseline := filepath.Join(dir, "baseline.json")
	if res := bs(t, "profile", data, "--out", baseline, "--columns", strings.Join(features, ",")); res.code != 0 {
		t.Fatalf("profile: exit %d\n%s", res.code, res)
	}
	lj := filepath.Join(dir, "linear.yaml")
	os.WriteFile(lj, []byte(fmt.Sprintf("name: linear\nsource:\n  parquet: %q\nmodel:\n  path: %q\n  inputs:\n    X: [%s]\n  score: {output: probabilities, class: 1}\noutput:\n  table: %q\n  keys: [row_id]\nvalidation:\n  baseline: %q\n  max_invalid_fraction: 0.5\n  rules:\n    - {column: f0, check: finite}\n    - {column: f3, check: finite}\n    - {column: f7, check: finite}\nexplain:\n  top: 2\n  values: true\n",
		source, linear, strings.Join(features, ", "), filepath.Join(dir, "linear"), baseline)), 0o644)
	res := bs(t, "run", lj, "--date", date20, "--json")
	if res.code != 0 {
		t.Fatalf("linear run: exit %d\n%s", res.code, res)
	}
	m := parseManifest(t, []byte(res.stdout))
	if x := m.Explain; x == nil || x.Method != "linear" || x.Rows != m.Counts.Scored || x.Rows < 2000 || x.MaxAdditivityError > 1e-9 {
		t.Fatalf("linear explain section: %+v (scored %d)", m.Explain, m.Counts.Scored)
	}
	files, _ := filepath.Glob(filepath.Join(m.Explain.Path, "*.parquet"))
	lt := readParquet(t, files[0])
	score, bias := column(t, lt, "score").(*array.Float64), column(t, lt, "bias").(*array.Float64)
	shap := make([]*array.Float64, len(features))
	for j := range shap {
		shap[j] = column(t, lt, "shap_f"+fmt.Sprint(j)).(*array.Float64)
	}
	for i := range score.Len() {
		margin := bias.Value(i)
		for j := range shap {
			margin += shap[j].Value(i)
		}
		if p := 1 / (1 + math.Exp(-margin)); math.Abs(p-score.Value(i)) > 1e-6 {
			t.Fatalf("linear row %d: logistic(bias + Σ shap) = %v, score %v", i, p, score.Value(i))
		}
	}
}

// checkSQLExplanations compares the rows of the SQL sink's
// explained_explanations_current view with the Parquet table's, value for
// value (floats exactly), and their version with the published one.
func checkSQLExplanations(t *testing.T, dsn, version string, tbl arrow.Table) {
	t.Helper()
	cols := []string{"row_id", "score", "bias", "reason_1", "reason_2", "reason_3"}
	for j := range 12 {
		cols = append(cols, fmt.Sprintf("shap_f%d", j))
	}
	want := map[string]bool{}
	for i := range int(tbl.NumRows()) {
		var row []string
		for _, c := range cols {
			a := column(t, tbl, c)
			switch v := a.(type) {
			case *array.Float64:
				row = append(row, strconv.FormatFloat(v.Value(i), 'g', -1, 64))
			default:
				row = append(row, a.ValueStr(i))
			}
		}
		want[strings.Join(row, " ")] = true
	}
	conn := pgtest.Connect(t, dsn)
	rows, err := conn.Query(context.Background(), "SELECT "+strings.Join(cols, ", ")+", version FROM explained_explanations_current WHERE score_date = $1", date20)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		var row []string
		for _, v := range vals[:len(cols)] {
			switch v := v.(type) {
			case float64:
				row = append(row, strconv.FormatFloat(v, 'g', -1, 64))
			case nil:
				row = append(row, array.NullValueStr)
			default:
				row = append(row, fmt.Sprint(v))
			}
		}
		if key := strings.Join(row, " "); !want[key] || vals[len(cols)] != version {
			t.Fatalf("explained_explanations_current: row %s of version %v is not among the Parquet rows of version %s", key, vals[len(cols)], version)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(want) || n != int(tbl.NumRows()) {
		t.Fatalf("explained_explanations_current holds %d rows, the Parquet table %d", n, tbl.NumRows())
	}
}
