package main

// End-to-end tests of model routing (issue 19): the label of fallback
// rows, a challenger that fails after loading, registry versions in the
// run id, and drift on an empty snapshot.

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/internal/testkit/pgtest"
	"github.com/batchscore/batchscore/jobs/report"
)

// routingNanEvery returns a snapshot root whose 2026-11-19 files are the samples
// and whose 2026-11-20 files have monthly_charges NaN on every nth row:
// the logistic model scores those rows NaN (and labels them 0).
func routingNanEvery(t *testing.T, n int) string {
	t.Helper()
	root := t.TempDir()
	copySamples(t, root, date19)
	dir := copySamples(t, root, date20)
	rewriteSnapshot(t, dir, func(name string, rec arrow.Record) arrow.Record {
		arr := mapFloat64(t, float64Column(t, rec, "monthly_charges"), array.NewFloat64Builder(memory.DefaultAllocator), func(b *array.Float64Builder, i int, v float64) {
			if i%n == 0 {
				v = math.NaN()
			}
			b.Append(v)
		})
		return replaceColumn(t, rec, "monthly_charges", arr, arrow.PrimitiveTypes.Float64)
	})
	return filepath.Join(root, "snapshot_date={{ .Date }}", "*.parquet")
}

// routingSucceeded is the manifest of a date's routingSucceeded execution.
func routingSucceeded(t *testing.T, table, date string) *report.Manifest {
	t.Helper()
	for _, m := range manifests(t, table, date) {
		if m.Status == report.StatusSucceeded {
			return m
		}
	}
	t.Fatalf("no routingSucceeded execution of %s in %s", date, table)
	return nil
}

// TestI19ModelsFallbackRowsHaveANullLabel: a fallback row's label is null for
// every kind of fallback, read back from the published Parquet files; the
// model's rows keep theirs.
func TestI19ModelsFallbackRowsHaveANullLabel(t *testing.T) {
	source := routingNanEvery(t, 7)
	fallbackModel := "\n  model:\n    path: " + strconv.Quote(modelPath(t, "churn_gbm.onnx")) + "\n" + inputsBlock(t, "churn_nightly.yaml", "    ")
	for _, tc := range []struct{ kind, section string }{
		{"carry_forward", "fallback:\n  kind: carry_forward\n  value: 0.5\n  max_fallback_fraction: 1"},
		{"constant", "fallback:\n  kind: constant\n  value: 0.97\n  max_fallback_fraction: 1"},
		{"model", "fallback:\n  kind: model\n  max_fallback_fraction: 1" + fallbackModel},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			table := filepath.Join(t.TempDir(), "scores")
			job := writeJob(t, "churn_logreg.yaml", jobOpts{table: table, source: source, edit: appendSection(tc.section)})
			for _, date := range []string{date19, date20} {
				if res := bs(t, "run", job, "--date", date); res.code != 0 {
					t.Fatalf("run %s: %s", date, res)
				}
			}
			m := routingSucceeded(t, table, date20)
			booksBalance(t, m)
			if m.Counts.Fallback == 0 || m.Fallback.Triggers["nan"] != m.Counts.Fallback {
				t.Fatalf("no NaN fallback rows: counts %+v, fallback %+v", m.Counts, m.Fallback)
			}
			var fellBack, high int64
			for _, f := range m.Output.Files {
				tbl := readParquet(t, filepath.Join(m.Output.Path, f.Name))
				scores := float64s(t, column(t, tbl, "score"))
				sources := column(t, tbl, "score_source").(*array.String)
				labels := column(t, tbl, "label")
				for i, s := range scores {
					switch src := sources.Value(i); src {
					case "model":
						if labels.IsNull(i) {
							t.Fatalf("%s row %d: the model scored it %v but its label is null", f.Name, i, s)
						}
					case "fallback:" + tc.kind:
						fellBack++
						if s > 0.5 {
							high++
						}
						if labels.IsValid(i) {
							t.Fatalf("%s row %d: fallback score %v has label %s, want null", f.Name, i, s, labels.ValueStr(i))
						}
					default:
						t.Fatalf("%s row %d: score_source %q", f.Name, i, src)
					}
				}
			}
			if fellBack != m.Counts.Fallback {
				t.Errorf("%d fallback rows in the files, the manifest counts %d", fellBack, m.Counts.Fallback)
			}
			t.Logf("%d fallback rows, %d of them scored above 0.5", fellBack, high)
		})
	}
}

// TestI19ModelsPromotingAByteIdenticalVersionRepublishes: v3's file is v1's
// bytes; promoting it makes the next run a new version whose rows say
// churn:v3, while a rerun with no promote stays already current.
func TestI19ModelsPromotingAByteIdenticalVersionRepublishes(t *testing.T) {
	reg := filepath.Join(t.TempDir(), "registry")
	gbm := modelPath(t, "churn_gbm.onnx")
	data, err := os.ReadFile(gbm)
	if err != nil {
		t.Fatal(err)
	}
	v2 := filepath.Join(t.TempDir(), "churn_gbm_v2.onnx")
	if err := os.WriteFile(v2, withMetadata(t, data, "retrained", "2026-11-19"), 0o644); err != nil {
		t.Fatal(err)
	}
	runModels(t, reg, 0, "add", "churn", gbm, "--version", "v1")
	runModels(t, reg, 0, "add", "churn", v2, "--version", "v2")
	runModels(t, reg, 0, "add", "churn", gbm, "--version", "v3")
	runModels(t, reg, 0, "promote", "churn", "v1", "--alias", "prod")

	table := filepath.Join(t.TempDir(), "scores")
	job := registryJob(t, table, reg)
	rowsSay := func(want string) {
		t.Helper()
		m := currentManifest(t, table, date20)
		if m.Model.Version != want {
			t.Errorf("the current version's manifest says model %s, want %s", m.Model.Version, want)
		}
		tbl := readParquet(t, filepath.Join(m.Output.Path, "part-00000.parquet"))
		versions := column(t, tbl, "model_version").(*array.String)
		for i := 0; i < versions.Len(); i++ {
			if versions.Value(i) != want {
				t.Fatalf("row %d: model_version %q, want %q", i, versions.Value(i), want)
			}
		}
	}
	run := func(wantCurrent bool) {
		t.Helper()
		before := len(manifests(t, table, date20))
		res := bs(t, "run", job, "--date", date20)
		if res.code != 0 {
			t.Fatalf("run: %s", res)
		}
		after := len(manifests(t, table, date20))
		if current := strings.Contains(res.stdout+res.stderr, "already current"); current != wantCurrent || (after == before) != wantCurrent {
			t.Fatalf("already current: %v, want %v (%d executions before, %d after)\n%s", current, wantCurrent, before, after, res)
		}
	}
	run(false)
	rowsSay("churn:v1")
	run(true) // nothing changed: a no-op

	runModels(t, reg, 0, "promote", "churn", "v3", "--alias", "prod")
	run(false)
	rowsSay("churn:v3")
	run(true)
}

// routingEmptySnapshot returns a source glob whose 2026-11-19 files are the
// samples and whose 2026-11-20 file has their columns and no rows.
func routingEmptySnapshot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	copySamples(t, root, date19)
	rec := sampleRecord(t, date20, "part-00000.parquet")
	empty := rec.NewSlice(0, 0)
	defer empty.Release()
	writeParquet(t, filepath.Join(root, "snapshot_date="+date20, "part-00000.parquet"), empty)
	return filepath.Join(root, "snapshot_date={{ .Date }}", "*.parquet")
}

// routingNoDriftOnNothing fails when a run of no rows computed any drift: in its
// log, or among its manifest's warnings and breaches.
func routingNoDriftOnNothing(t *testing.T, res result, m *report.Manifest) {
	t.Helper()
	said := res.messages() + strings.Join(m.Validation.Warnings, "\n") + strings.Join(m.Validation.Breaches, "\n")
	if strings.Contains(said, "PSI") || strings.Contains(said, "outside the training range") {
		t.Errorf("drift computed on no rows:\n%s", said)
	}
}

// TestI19ModelsNoDriftOnAnEmptyParquetSnapshot: a snapshot of no rows fails
// with exit 3 and computes no drift of scores or features.
func TestI19ModelsNoDriftOnAnEmptyParquetSnapshot(t *testing.T) {
	source := routingEmptySnapshot(t)
	table := filepath.Join(t.TempDir(), "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, source: source})
	if res := bs(t, "run", job, "--date", date19); res.code != 0 {
		t.Fatalf("run %s: %s", date19, res)
	}
	res := bs(t, "run", job, "--date", date20)
	if res.code != 3 {
		t.Fatalf("an empty snapshot: want exit 3, got %s", res)
	}
	routingNoDriftOnNothing(t, res, onlyManifest(t, table, date20))
}

// TestI19ModelsNoDriftOnAnEmptySQLSnapshot: a query that returns no rows fails
// with exit 3 naming it, and logs no PSI of scores that do not exist.
func TestI19ModelsNoDriftOnAnEmptySQLSnapshot(t *testing.T) {
	dsn := pgtest.DSN(t)
	loadCustomers(t, dsn, date19) // 2026-11-20 has no rows
	table := filepath.Join(t.TempDir(), "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: func(s string) string {
		return reSource.ReplaceAllString(s, `  sql: {driver: postgres, dsn_env: CHURN_DSN, query: "SELECT * FROM customers WHERE snapshot_date = :date"}`)
	}})
	env := append(ortEnv(t), "CHURN_DSN="+dsn)
	if res := runWith(t, batchscore, env, "run", job, "--date", date19); res.code != 0 {
		t.Fatalf("run %s: %s", date19, res)
	}
	res := runWith(t, batchscore, env, "run", job, "--date", date20)
	if res.code != 3 || !strings.Contains(res.messages(), "min_rows: 0 rows") {
		t.Fatalf("an empty query result: want exit 3 naming min_rows, got %s", res)
	}
	routingNoDriftOnNothing(t, res, onlyManifest(t, table, date20))
}

// routingChallengerSnapshot returns a source glob whose 2026-11-20 files have two
// more columns: promo_charges, monthly_charges with nulls on the given
// rows of each file, and plan_name, a string.
func routingChallengerSnapshot(t *testing.T, nulls map[string][]int) string {
	t.Helper()
	root := t.TempDir()
	dir := copySamples(t, root, date20)
	rewriteSnapshot(t, dir, func(name string, rec arrow.Record) arrow.Record {
		promo := mapFloat64(t, float64Column(t, rec, "monthly_charges"), array.NewFloat64Builder(memory.DefaultAllocator), func(b *array.Float64Builder, i int, v float64) {
			if slices.Contains(nulls[name], i) {
				b.AppendNull()
			} else {
				b.Append(v)
			}
		})
		plan := mapFloat64(t, float64Column(t, rec, "monthly_charges"), array.NewStringBuilder(memory.DefaultAllocator), func(b *array.StringBuilder, i int, v float64) {
			b.Append(fmt.Sprintf("plan-%d", int(v)/10))
		})
		fields := append(slices.Clone(rec.Schema().Fields()),
			arrow.Field{Name: "promo_charges", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
			arrow.Field{Name: "plan_name", Type: arrow.BinaryTypes.String, Nullable: true})
		out := array.NewRecord(arrow.NewSchema(fields, nil), append(slices.Clone(rec.Columns()), promo, plan), rec.NumRows())
		t.Cleanup(out.Release)
		return out
	})
	return filepath.Join(root, "snapshot_date={{ .Date }}", "*.parquet")
}

// routingChallengerJob is churn_nightly with the logistic model as challenger,
// its monthly_charges input fed from column, and workers and chunk_rows
// set.
func routingChallengerJob(t *testing.T, table, source, column string, workers, chunkRows int) string {
	block := inputsBlock(t, "churn_logreg.yaml", "  ")
	if !strings.Contains(block, "monthly_charges: [monthly_charges]") {
		t.Fatalf("churn_logreg.yaml does not feed monthly_charges as expected:\n%s", block)
	}
	block = strings.Replace(block, "monthly_charges: [monthly_charges]", "monthly_charges: ["+column+"]", 1)
	challenger := "challenger:\n  path: " + strconv.Quote(modelPath(t, "churn_logreg.onnx")) + "\n  version: logreg-promo\n" + block
	return writeJob(t, "churn_nightly.yaml", jobOpts{table: table, source: source, chunkRows: chunkRows, edit: func(s string) string {
		return appendSection(challenger)(routingSetWorkers(t, s, workers))
	}})
}

// routingChallengerFailure runs a job whose challenger fails after loading and
// returns its manifest's challenger error, having checked that the run
// published the champion's scores and logged a warning with the error.
func routingChallengerFailure(t *testing.T, job, table string) string {
	t.Helper()
	res := bs(t, "run", job, "--date", date20, "--force")
	if res.code != 0 {
		t.Fatalf("a failing challenger failed the run: %s", res)
	}
	var m *report.Manifest
	for _, x := range manifests(t, table, date20) {
		if m == nil || x.Version > m.Version {
			m = x
		}
	}
	c := m.Challenger
	if m.Status != report.StatusSucceeded || c == nil || c.Status != report.ChallengerFailed || c.Error == "" {
		t.Fatalf("status %s, challenger %+v", m.Status, c)
	}
	if !m.Output.Published || m.Counts.Written != m.Counts.Valid {
		t.Errorf("the champion's scores were not published: %+v", m.Counts)
	}
	var warned bool
	for _, line := range strings.Split(res.stderr, "\n") {
		if strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, "challenger") && strings.Contains(line, strconv.Quote(c.Error)[1:len(strconv.Quote(c.Error))-1]) {
			warned = true
		}
	}
	if !warned {
		t.Errorf("no warning in the log with the challenger's error %q:\n%s", c.Error, res.stderr)
	}
	return c.Error
}

// TestI19ModelsChallengerFailingAfterLoadWarnsAndNamesItsInputs: a challenger
// fed a string column is dropped with a warning naming challenger.inputs.
func TestI19ModelsChallengerFailingAfterLoadWarnsAndNamesItsInputs(t *testing.T) {
	source := routingChallengerSnapshot(t, nil)
	table := filepath.Join(t.TempDir(), "scores")
	msg := routingChallengerFailure(t, routingChallengerJob(t, table, source, "plan_name", 2, 0), table)
	for _, want := range []string{"challenger.inputs.monthly_charges", `"plan_name"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("challenger error %q does not name %s", msg, want)
		}
	}
	if strings.Contains(msg, "model.inputs") {
		t.Errorf("challenger error %q names the champion's model.inputs", msg)
	}
}

// TestI19ModelsChallengerFirstFailingRowIsTheFirstInSnapshotOrder: with nulls in
// many chunks, the error names the snapshot's first null, whatever the
// number of workers, run after run.
func TestI19ModelsChallengerFirstFailingRowIsTheFirstInSnapshotOrder(t *testing.T) {
	// A null in chunk 8 of 50 rows, and in every chunk after it: a
	// worker that races ahead finds one of the later ones first.
	nulls := map[string][]int{"part-00000.parquet": {438, 437}, "part-00001.parquet": {3, 150, 420}}
	for row := 460; row < 1000; row += 50 {
		nulls["part-00000.parquet"] = append(nulls["part-00000.parquet"], row, row+7)
	}
	source := routingChallengerSnapshot(t, nulls)
	table := filepath.Join(t.TempDir(), "scores")
	var first string
	for _, workers := range []int{1, 8, 8, 4, 8, 2, 8} {
		msg := routingChallengerFailure(t, routingChallengerJob(t, table, source, "promo_charges", workers, 50), table)
		if first == "" {
			first = msg
			for _, want := range []string{"part-00000.parquet", "row 437", `"promo_charges"`, "challenger.inputs.monthly_charges", "null"} {
				if !strings.Contains(msg, want) {
					t.Errorf("challenger error %q does not name %s", msg, want)
				}
			}
			continue
		}
		if msg != first {
			t.Fatalf("with %d workers the challenger error is\n  %s\nwith 1 worker it was\n  %s", workers, msg, first)
		}
	}
}

// TestI19ModelsChampionFirstFailingRowIsTheFirstInSnapshotOrder: the champion's
// bad row, too, is the snapshot's first whatever the number of workers.
func TestI19ModelsChampionFirstFailingRowIsTheFirstInSnapshotOrder(t *testing.T) {
	nulls := map[string][]int{"part-00000.parquet": {438, 437}}
	for row := 460; row < 1000; row += 50 {
		nulls["part-00000.parquet"] = append(nulls["part-00000.parquet"], row, row+7)
	}
	source := routingChallengerSnapshot(t, nulls)
	table := filepath.Join(t.TempDir(), "scores")
	var first string
	for _, workers := range []int{1, 8, 8, 4, 8, 2, 8} {
		job := writeJob(t, "churn_logreg.yaml", jobOpts{table: table, source: source, chunkRows: 50, edit: func(s string) string {
			s = strings.Replace(s, "monthly_charges: [monthly_charges]", "monthly_charges: [promo_charges]", 1)
			return routingSetWorkers(t, s, workers)
		}})
		res := bs(t, "run", job, "--date", date20, "--force")
		if res.code != 3 {
			t.Fatalf("a null in a model input: want exit 3, got %s", res)
		}
		msg := res.stdout
		if first == "" {
			first = msg
			for _, want := range []string{"part-00000.parquet: row 437", `"promo_charges"`, "model.inputs.monthly_charges", "null"} {
				if !strings.Contains(msg, want) {
					t.Errorf("%q does not name %s", msg, want)
				}
			}
			continue
		}
		// The summary names the execution's version folder: compare the rest.
		if strip := func(s string) string { return s[strings.Index(s, "failed"):strings.Index(s, "\n")] }; strip(msg) != strip(first) {
			t.Fatalf("with %d workers:\n  %s\nwith 1 worker:\n  %s", workers, msg, first)
		}
	}
}

var routingReWorkers = regexp.MustCompile(`(?m)^  workers: .*$`)

// routingSetWorkers sets scoring.workers in a job file's text.
func routingSetWorkers(t *testing.T, text string, workers int) string {
	t.Helper()
	if !routingReWorkers.MatchString(text) {
		t.Fatal("no scoring.workers line in the job file")
	}
	return routingReWorkers.ReplaceAllString(text, "  workers: "+strconv.Itoa(workers))
}

// TestI19ModelsFallbackFirstErrorsAreInSnapshotOrder: the manifest's first
// fallback errors are those of the first chunks, whatever the workers.
func TestI19ModelsFallbackFirstErrorsAreInSnapshotOrder(t *testing.T) {
	source := routingNanEvery(t, 7)
	table := filepath.Join(t.TempDir(), "scores")
	var first []string
	for _, workers := range []int{1, 8, 8, 4, 8} {
		job := writeJob(t, "churn_logreg.yaml", jobOpts{table: table, source: source, chunkRows: 50, edit: func(s string) string {
			return appendSection("fallback: {kind: constant, value: 0.5, max_fallback_fraction: 1}")(routingSetWorkers(t, s, workers))
		}})
		if res := bs(t, "run", job, "--date", date20, "--force"); res.code != 0 {
			t.Fatalf("run: %s", res)
		}
		var m *report.Manifest
		for _, x := range manifests(t, table, date20) {
			if m == nil || x.Version > m.Version {
				m = x
			}
		}
		got := m.Fallback.Errors
		if first == nil {
			first = got
			if len(got) != 5 || !strings.Contains(got[0], "part-00000.parquet: 8 rows from row 0 ") || !strings.Contains(got[4], "from row 200 ") {
				t.Fatalf("first errors %q, want those of the first 5 chunks", got)
			}
			continue
		}
		if !slices.Equal(got, first) {
			t.Fatalf("with %d workers the first errors are\n  %q\nwith 1 worker\n  %q", workers, got, first)
		}
	}
}
