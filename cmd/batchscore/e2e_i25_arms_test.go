package main

// End-to-end test of A/B arms: three models, each publishing its scores
// for a stable share of the keys, from Parquet and from PostgreSQL.

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/internal/testkit/pgtest"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/route"
)

const armsSalt = "churn-ab-2026-12"

var (
	armNames  = []string{"control", "zipmap", "logreg"}
	armShares = []float64{0.5, 0.2, 0.3}
)

// armOf is the assignment rule as the README states it, written here
// again: u from the salted key hash, the first arm whose cumulative share
// is above u.
func armOf(id int64) string {
	b := array.NewInt64Builder(memory.DefaultAllocator)
	b.Append(id)
	col := b.NewArray()
	defer col.Release()
	h, _ := route.KeyHash(armsSalt, []arrow.Array{col}, 0)
	u, cum := float64(h>>11)/(1<<53), 0.0
	for i, s := range armShares[:len(armShares)-1] {
		if cum += s; u < cum {
			return armNames[i]
		}
	}
	return armNames[len(armNames)-1]
}

// armsJob writes a job with three arms: control (churn_gbm by path),
// zipmap (churn_gbm_zipmap) and logreg (churn_logreg), the last two by
// path or, with reg set, from the registry. source is a parquet: or sql:
// line; sink adds a PostgreSQL sink; limit is max_fallback_fraction.
func armsJob(t *testing.T, table, source, reg string, sink bool, limit float64) string {
	t.Helper()
	arm := func(name, share, model, regName, config string, edit func(string) string) string {
		where := "      path: " + strconv.Quote(modelPath(t, model)) + "\n      version: " + name + "-path\n"
		if reg != "" && regName != "" {
			where = "      registry: " + strconv.Quote(reg) + "\n      name: " + regName + "\n      alias: prod\n"
		}
		return "    - arm: " + name + "\n      share: " + share + "\n" + where + edit(inputsBlock(t, config, "      ")) + "\n"
	}
	zipmap := func(s string) string {
		s = strings.Replace(s, "features:", "float_input:", 1)
		return strings.Replace(s, "{output: probabilities, class: 1}", "{output: output_probability, class: 1}", 1) + "\n      label: {output: output_label}"
	}
	label := func(s string) string { return s + "\n      label: {output: label}" }
	text := "name: churn_ab\nsource:\n  " + source + "\noutput:\n  table: " + strconv.Quote(table) + "\n  keys: [customer_id]\n"
	if sink {
		text += "  sql: {driver: postgres, dsn_env: SINK_DSN, table: churn_ab}\n"
	}
	text += "scoring: {chunk_rows: 500}\nfallback: {kind: constant, value: 0.5, max_fallback_fraction: " + strconv.FormatFloat(limit, 'g', -1, 64) + "}\n" +
		"arms:\n  salt: " + armsSalt + "\n  models:\n" +
		arm("control", "0.5", "churn_gbm.onnx", "", "churn_nightly.yaml", label) +
		arm("zipmap", "0.2", "churn_gbm_zipmap.onnx", "churn_zipmap", "churn_nightly.yaml", zipmap) +
		arm("logreg", "0.3", "churn_logreg.onnx", "churn_logreg", "churn_logreg.yaml", label)
	path := filepath.Join(t.TempDir(), "churn_ab.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

type armRow struct {
	arm, version, source string
	score                float64
	label                int64
}

func readArmRows(t *testing.T, dir string) map[int64]armRow {
	t.Helper()
	tbl := readParquet(t, filepath.Join(dir, "part-00000.parquet"))
	defer tbl.Release()
	ids := column(t, tbl, "customer_id").(*array.Int64)
	scores := float64s(t, column(t, tbl, "score"))
	labels := column(t, tbl, "label").(*array.Int64)
	arms, versions, sources := column(t, tbl, "arm"), column(t, tbl, "model_version"), column(t, tbl, "score_source")
	out := map[int64]armRow{}
	for i := 0; i < ids.Len(); i++ {
		out[ids.Value(i)] = armRow{arm: stringAt(t, arms, i), version: stringAt(t, versions, i), source: stringAt(t, sources, i),
			score: scores[i], label: labels.Value(i)}
	}
	return out
}

// armsReference scores the snapshot with churn_gbm as the champion and
// churn_logreg in its shadow, in the same chunks: each model alone.
func armsReference(t *testing.T) (gbm, logreg map[int64]float64) {
	t.Helper()
	table := filepath.Join(t.TempDir(), "ref")
	challenger := "challenger:\n  path: " + strconv.Quote(modelPath(t, "churn_logreg.onnx")) + "\n" + inputsBlock(t, "churn_logreg.yaml", "  ")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, chunkRows: 500, edit: appendSection(challenger)})
	if res := bs(t, "run", job, "--date", date20); res.code != 0 {
		t.Fatalf("reference run: %s", res)
	}
	shadow := readParquet(t, filepath.Join(table, "current", date20, "_shadow", "part-00000.parquet"))
	defer shadow.Release()
	ids := column(t, shadow, "customer_id").(*array.Int64)
	champ, chall := float64s(t, column(t, shadow, "champion_score")), float64s(t, column(t, shadow, "challenger_score"))
	gbm, logreg = map[int64]float64{}, map[int64]float64{}
	for i := 0; i < ids.Len(); i++ {
		gbm[ids.Value(i)], logreg[ids.Value(i)] = champ[i], chall[i]
	}
	return gbm, logreg
}

func TestArmsPublishEachKeysArmModel(t *testing.T) {
	dsn := pgtest.DSN(t)
	loadCustomers(t, dsn, date20)
	env := append(ortEnv(t), "CHURN_DSN="+dsn, "SINK_DSN="+dsn)
	gbm, logreg := armsReference(t)
	ref := readReference(t, date20)
	alone := map[string]map[int64]float64{"control": gbm, "zipmap": gbm, "logreg": logreg}

	// Plain paths, a Parquet source, the Parquet and PostgreSQL sinks.
	tableA := filepath.Join(t.TempDir(), "ab")
	jobA := armsJob(t, tableA, "parquet: "+strconv.Quote(filepath.Join(samples(t), "snapshot_date={{ .Date }}", "*.parquet")), "", true, 0.1)
	metrics := filepath.Join(t.TempDir(), "batchscore.prom")
	if res := runWith(t, batchscore, env, "run", jobA, "--date", date20, "--metrics-file", metrics); res.code != 0 {
		t.Fatalf("arms run: %s", res)
	}
	mA := onlyManifest(t, tableA, date20)
	booksBalance(t, mA)
	rowsA := readArmRows(t, mA.Output.Path)
	counts := map[string]int64{}
	for id, r := range rowsA {
		want := armOf(id)
		counts[want]++
		if r.arm != want || r.version != want+"-path" || r.source != "model" || r.score != alone[want][id] {
			t.Fatalf("key %d: %+v; want arm %s, score %v", id, r, want, alone[want][id])
		}
		if p1 := map[string]float64{"control": ref[id].gbmP1, "zipmap": ref[id].gbmP1, "logreg": ref[id].logregP1}[want]; r.score-p1 > 1e-5 || p1-r.score > 1e-5 {
			t.Fatalf("key %d (%s): score %v, scikit-learn %v", id, want, r.score, p1)
		}
		if (r.label == 1) != (r.score > 0.5) {
			t.Fatalf("key %d (%s): label %d with score %v", id, r.arm, r.label, r.score)
		}
	}
	checkArmCounts(t, mA, counts, nil)
	checkArmsSink(t, dsn, rowsA)
	prom, _ := os.ReadFile(metrics)
	page, _ := os.ReadFile(mA.Validation.ReportHTML)
	if want := `batchscore_rollout_rows{batchscore_job="churn_ab",kind="arms",arm="logreg",outcome="published"} ` + strconv.FormatInt(counts["logreg"], 10); !strings.Contains(string(prom), want) {
		t.Errorf("metrics lack %s:\n%s", want, prom)
	}
	if !strings.Contains(string(page), `id="rollout"`) || !strings.Contains(string(page), "logreg-path") {
		t.Error("the report has no rollout table")
	}
	if res := bs(t, "show", jobA, mA.Version); res.code != 0 || !strings.Contains(res.stdout, "arm logreg") || !strings.Contains(res.stdout, `salt "`+armsSalt) {
		t.Errorf("show: %s", res)
	}
	if res := bs(t, "runs", jobA); res.code != 0 || !strings.Contains(res.stdout, "control="+strconv.FormatInt(counts["control"], 10)+",zipmap=") {
		t.Errorf("runs: %s", res)
	}
	armsFromSQL(t, dsn, env, rowsA, gbm)
}

// checkArmCounts holds the manifest's arms section to the rows assigned
// to each arm and those that fell back to control.
func checkArmCounts(t *testing.T, m *report.Manifest, assigned, fell map[string]int64) {
	t.Helper()
	a := m.Arms
	if a == nil || a.Salt != armsSalt || a.Default != "control" || len(a.Arms) != 3 {
		t.Fatalf("arms: %+v", a)
	}
	var fellAll int64
	for _, n := range fell {
		fellAll += n
	}
	for i, arm := range a.Arms {
		want := assigned[arm.Name] - fell[arm.Name]
		if arm.Name == "control" {
			want += fellAll
		}
		if arm.Name != armNames[i] || arm.Share != armShares[i] || arm.Assigned != assigned[arm.Name] || arm.FellBack != fell[arm.Name] || arm.Published != want {
			t.Errorf("arm %d: %+v; want assigned %d, fell back %d, published %d", i, arm, assigned[arm.Name], fell[arm.Name], want)
		}
	}
}

// checkArmsSink: the PostgreSQL sink's current view holds the Parquet rows.
func checkArmsSink(t *testing.T, dsn string, want map[int64]armRow) {
	t.Helper()
	conn := pgtest.Connect(t, dsn)
	rows, err := conn.Query(context.Background(), "SELECT customer_id, arm, model_version, score_source, score FROM churn_ab_current")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id int64
		var r armRow
		if err := rows.Scan(&id, &r.arm, &r.version, &r.source, &r.score); err != nil {
			t.Fatal(err)
		}
		r.label = want[id].label
		if r != want[id] {
			t.Fatalf("SQL sink, key %d: %+v; Parquet %+v", id, r, want[id])
		}
		n++
	}
	if rows.Err() != nil || n != len(want) {
		t.Fatalf("SQL sink: %d rows, Parquet %d (%v)", n, len(want), rows.Err())
	}
}

// armsFromSQL runs the arms from the registry on the same rows read from
// PostgreSQL: every key gets the arm it got from Parquet, with the same
// scores; a NaN in the first chunk makes logreg fail there, and its rows
// of that chunk fall back to control, counted, within the limit; above
// it the run fails, exit 3, nothing published.
func armsFromSQL(t *testing.T, dsn string, env []string, rowsA map[int64]armRow, gbm map[int64]float64) {
	t.Helper()
	reg := filepath.Join(t.TempDir(), "registry")
	runModels(t, reg, 0, "add", "churn_zipmap", modelPath(t, "churn_gbm_zipmap.onnx"), "--version", "v1")
	runModels(t, reg, 0, "add", "churn_logreg", modelPath(t, "churn_logreg.onnx"), "--version", "v1")
	runModels(t, reg, 0, "promote", "churn_zipmap", "v1", "--alias", "prod")
	runModels(t, reg, 0, "promote", "churn_logreg", "v1", "--alias", "prod")
	ids := slices.Sorted(func(yield func(int64) bool) {
		for id := range rowsA {
			if !yield(id) {
				return
			}
		}
	})
	nan := int64(-1)
	for _, id := range ids[:500] {
		if rowsA[id].arm == "logreg" {
			nan = id
			break
		}
	}
	if nan < 0 {
		t.Fatal("no key of the first chunk is in the logreg arm")
	}
	conn := pgtest.Connect(t, dsn)
	if _, err := conn.Exec(context.Background(), "UPDATE customers SET monthly_charges = 'NaN' WHERE customer_id = $1", nan); err != nil {
		t.Fatal(err)
	}
	source := `sql: {driver: postgres, dsn_env: CHURN_DSN, query: "SELECT * FROM customers WHERE snapshot_date = :date ORDER BY customer_id"}`
	table := filepath.Join(t.TempDir(), "ab_sql")
	if res := runWith(t, batchscore, env, "run", armsJob(t, table, source, reg, false, 0.1), "--date", date20); res.code != 3 ||
		!strings.Contains(res.stderr, "arm logreg") {
		t.Fatalf("a quarter of logreg's rows fell back, above the limit: want exit 3, got %s", res)
	}
	if res := runWith(t, batchscore, env, "run", armsJob(t, table, source, reg, false, 0.5), "--date", date20); res.code != 0 {
		t.Fatalf("arms from SQL: %s", res)
	}
	m := currentManifest(t, table, date20)
	rows := readArmRows(t, m.Output.Path)
	assigned, fell := map[string]int64{}, map[string]int64{}
	for i, id := range ids {
		r, a := rows[id], rowsA[id]
		assigned[a.arm]++
		want := armRow{arm: a.arm, version: map[string]string{"control": "control-path", "zipmap": "churn_zipmap:v1", "logreg": "churn_logreg:v1"}[a.arm],
			source: "model", score: a.score, label: a.label}
		if a.arm == "logreg" && i < 500 {
			fell["logreg"]++
			want = armRow{arm: "control", version: "control-path", source: "arm_fallback", score: gbm[id], label: r.label}
		}
		if id == nan {
			want.score = r.score // its input changed
		}
		if r != want {
			t.Fatalf("key %d from SQL: %+v; want %+v", id, r, want)
		}
	}
	checkArmCounts(t, m, assigned, fell)
	if l := m.Arms.Arms[2]; l.Status != report.ArmFailed || !strings.Contains(l.Error, "arm logreg") || m.Arms.Limit != 0.5 {
		t.Errorf("logreg arm: %+v", l)
	}
	// Rows that fell back are not the last word: a rerun scores again.
	if res := runWith(t, batchscore, env, "run", armsJob(t, table, source, reg, false, 0.5), "--date", date20); res.code != 0 ||
		currentManifest(t, table, date20).Version == m.Version {
		t.Errorf("a rerun kept the version with fallen-back rows as current: %s", res)
	}
}
