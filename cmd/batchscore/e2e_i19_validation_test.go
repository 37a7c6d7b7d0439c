package main

// The validation numbers, recomputed by an implementation we did not
// write (NumPy) where it makes sense: PSI on tied values, score PSI on
// exact counts, NaN in range rules, impute from a mode, freshness and the
// books of a run stopped by a fail rule.

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/validate/profile"
)

// setFloats rewrites a float64 column of every file of a snapshot folder
// (copied from the 2026-11-20 samples) with f(row in file, old value),
// and returns the new values in file order.
func setFloats(t *testing.T, dir, column string, f func(i int, old float64) float64) []float64 {
	t.Helper()
	var all []float64
	rewriteSnapshot(t, dir, func(name string, rec arrow.Record) arrow.Record {
		old := rec.Column(rec.Schema().FieldIndices(column)[0]).(*array.Float64)
		b := array.NewFloat64Builder(memory.DefaultAllocator)
		defer b.Release()
		for i := 0; i < old.Len(); i++ {
			v := f(i, old.Value(i))
			b.Append(v)
			all = append(all, v)
		}
		arr := b.NewArray()
		t.Cleanup(arr.Release)
		return replaceColumn(t, rec, column, arr, arrow.PrimitiveTypes.Float64)
	})
	return all
}

// writeFloatsCSV writes values, one a line under a header, for NumPy.
func writeFloatsCSV(t *testing.T, path string, values []float64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(f)
	w.Write([]string{"x"})
	for _, v := range values {
		w.Write([]string{strconv.FormatFloat(v, 'g', -1, 64)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// numpyPSI computes, with NumPy, the PSI of today's values against the
// baseline's on the given edges, as the README defines it: bin i is
// [e_i, e_i+1), the last closed; values outside go to the first or last
// bin; shares clamped to at least 1e-4.
func numpyPSI(t *testing.T, edges []float64, baselineCSV, todayCSV string) float64 {
	t.Helper()
	python := "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		skipUnlessCI(t, "no /usr/bin/python3 to check against (apt-get install python3-numpy python3-pandas)")
	}
	edgesJSON, err := json.Marshal(edges)
	if err != nil {
		t.Fatal(err)
	}
	const script = `
import json, sys
import numpy as np
import pandas as pd
edges = np.array(json.loads(sys.argv[1]), dtype=np.float64)
def shares(path):
    x = pd.read_csv(path)["x"].to_numpy(dtype=np.float64)
    i = np.searchsorted(edges, x, side="right") - 1     # [e_i, e_i+1)
    i = np.clip(i, 0, len(edges) - 2)                    # outside: first or last bin; the last is closed
    c = np.bincount(i, minlength=len(edges) - 1).astype(np.float64)
    return c / c.sum()
e, a = np.maximum(shares(sys.argv[2]), 1e-4), np.maximum(shares(sys.argv[3]), 1e-4)
print(repr(float(np.sum((a - e) * np.log(a / e)))))
`
	out, err := exec.Command(python, "-c", script, string(edgesJSON), baselineCSV, todayCSV).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "No module named") {
			skipUnlessCI(t, "NumPy or pandas missing (apt-get install python3-numpy python3-pandas): "+string(out))
		}
		t.Fatalf("numpy: %v\n%s", err, out)
	}
	psi, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatalf("numpy printed %q", out)
	}
	return psi
}

// A feature whose training values are 90% equal used to get a single
// histogram bin: its PSI was always 0 and the drift gate could never fire.
// Now the tied value has a bin of its own, the gate fires when its share
// moves, the PSI agrees with NumPy on the same bins, and the report says
// how the feature was binned.
func TestI19ValidationTiedValuesGetTheirOwnBin(t *testing.T) {
	tmp := t.TempDir()
	const col = "discount_pct"
	train := copySamples(t, filepath.Join(tmp, "train"), date20)
	trainValues := setFloats(t, train, col, func(i int, old float64) float64 {
		if i%10 != 0 {
			return 0
		}
		return 1 + old
	})
	baseline := filepath.Join(tmp, "baseline.json")
	if res := runWith(t, batchscore, baseEnv(), "profile", filepath.Join(train, "*.parquet"), "--out", baseline); res.code != 0 {
		t.Fatal(res)
	}
	p, err := profile.Load(baseline)
	if err != nil {
		t.Fatal(err)
	}
	zeros := 0
	for _, v := range trainValues {
		if v == 0 {
			zeros++
		}
	}
	h := p.Column(col).Histogram
	if len(h.Counts) < 3 || h.Edges[0] != 0 || h.Counts[0] != int64(zeros) {
		t.Fatalf("baseline histogram of %s: edges %v counts %v, want the %d zeros in a bin of their own", col, h.Edges, h.Counts, zeros)
	}

	src := copySamples(t, filepath.Join(tmp, "src"), date20)
	todayValues := setFloats(t, src, col, func(i int, old float64) float64 {
		if i%2 == 0 {
			return 0
		}
		return 1 + old
	})
	table := filepath.Join(tmp, "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: withBaseline(baseline),
		source: filepath.Join(tmp, "src", "snapshot_date={{ .Date }}", "*.parquet")})
	res := bs(t, "run", job, "--date", date20, "--json")
	if res.code != 3 {
		t.Fatalf("exit %d, want 3 (the PSI gate on %s)\n%s", res.code, col, res)
	}
	m := parseManifest(t, []byte(res.stdout))
	if !strings.Contains(m.Error, "PSI of "+col+" is ") || !strings.Contains(m.Error, "above the gate 0.25") {
		t.Errorf("error %q does not name the PSI gate on %s", m.Error, col)
	}
	r := readReport(t, m)
	var got *float64
	for _, c := range r.Columns {
		if c.Name == col && c.Drift != nil {
			got = &c.Drift.PSI
			if b := c.Drift.Binning; !strings.Contains(b, "tied values 0 (90.0%)") || !strings.Contains(b, "in bins of their own") {
				t.Errorf("report binning of %s: %q", col, b)
			}
		}
	}
	if got == nil {
		t.Fatalf("report has no drift of %s", col)
	}
	baseCSV, todayCSV := filepath.Join(tmp, "train.csv"), filepath.Join(tmp, "today.csv")
	writeFloatsCSV(t, baseCSV, trainValues)
	writeFloatsCSV(t, todayCSV, todayValues)
	want := numpyPSI(t, h.Edges, baseCSV, todayCSV)
	if math.Abs(*got-want) > 1e-9*max(1, want) {
		t.Errorf("PSI of %s: batchscore %v, NumPy %v", col, *got, want)
	}
	if want <= 0.25 {
		t.Errorf("NumPy's PSI %v is not above the gate: the test data does not drift enough", want)
	}
}

// A baseline made before tied values got bins of their own, with a gated
// feature in a single bin, is run with a warning at load saying that its
// PSI is always 0.
func TestI19ValidationSingleBinBaselineWarns(t *testing.T) {
	tmp := t.TempDir()
	base, err := profile.Load(filepath.Join(repoRoot(t), "testdata", "baseline", "churn_training.json"))
	if err != nil {
		t.Fatal(err)
	}
	c := base.Column("discount_pct")
	var n int64
	for _, k := range c.Histogram.Counts {
		n += k
	}
	c.Histogram = &profile.Histogram{Edges: []float64{*c.Min, *c.Max}, Counts: []int64{n}}
	path := filepath.Join(tmp, "old.json")
	if err := base.Save(path); err != nil {
		t.Fatal(err)
	}
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: filepath.Join(tmp, "scores"), edit: withBaseline(path)})
	res := bs(t, "run", job, "--date", date20, "--json")
	if res.code != 0 {
		t.Fatal(res)
	}
	m := parseManifest(t, []byte(res.stdout))
	want := `histogram of "discount_pct" has a single bin: its PSI is always 0`
	if w := strings.Join(m.Validation.Warnings, "\n"); !strings.Contains(w, want) || !strings.Contains(w, "feature_psi.gate 0.25") {
		t.Errorf("manifest warnings %q do not say %s", w, want)
	}
	if !strings.Contains(res.stderr, "has a single bin") {
		t.Errorf("the log does not warn:\n%s", res.stderr)
	}
}

// publishedScores reads the score column of the version current for date.
func publishedScores(t *testing.T, table, date string) []float64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(table, "current", date, "*.parquet"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no published files for %s (%v)", date, err)
	}
	var out []float64
	for _, f := range files {
		scores := column(t, readParquet(t, f), "score").(*array.Float64)
		out = append(out, scores.Float64Values()...)
	}
	return out
}

// The score PSI compares exact counts with exact counts: each run keeps
// its scores' counts on fixed fine bins, and the next run's PSI equals
// NumPy's on the published scores of both runs, on the edges the report
// gives. A previous run that kept only an estimated histogram (an older
// version's) is still compared, and the report says the PSI is an
// estimate.
func TestI19ValidationScorePSIIsExact(t *testing.T) {
	tmp := t.TempDir()
	table := filepath.Join(tmp, "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table})
	if res := bs(t, "run", job, "--date", date19, "--json"); res.code != 0 {
		t.Fatal(res)
	}
	res := bs(t, "run", job, "--date", date20, "--json")
	if res.code != 0 {
		t.Fatal(res)
	}
	m := parseManifest(t, []byte(res.stdout))
	s := readReport(t, m).Scores
	if s == nil || s.PSI == nil || s.Estimated || !strings.Contains(s.Comparison, "exact counts on both sides") || len(s.Edges) != len(s.Bins)+1 {
		t.Fatalf("score report: %+v", s)
	}
	prevCSV, todayCSV := filepath.Join(tmp, "prev.csv"), filepath.Join(tmp, "today.csv")
	writeFloatsCSV(t, prevCSV, publishedScores(t, table, date19))
	writeFloatsCSV(t, todayCSV, publishedScores(t, table, date20))
	want := numpyPSI(t, s.Edges, prevCSV, todayCSV)
	if math.Abs(*s.PSI-want) > 1e-9*max(want, 1e-3) {
		t.Errorf("score PSI: batchscore %v, NumPy %v on the same edges", *s.PSI, want)
	}
	exact := *s.PSI

	// The previous run as an older version left it: no fine counts.
	profiles, err := filepath.Glob(filepath.Join(table, "runs", date19, "*.profile.json"))
	if err != nil || len(profiles) != 1 {
		t.Fatalf("profiles of %s: %v %v", date19, profiles, err)
	}
	data, err := os.ReadFile(profiles[0])
	if err != nil {
		t.Fatal(err)
	}
	var old map[string]map[string]any
	if err := json.Unmarshal(data, &old); err != nil {
		t.Fatal(err)
	}
	for _, c := range old["scores"]["columns"].([]any) {
		delete(c.(map[string]any), "fine")
	}
	if data, err = json.Marshal(old); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(profiles[0], data, 0o640); err != nil {
		t.Fatal(err)
	}
	res = bs(t, "run", job, "--date", date20, "--force", "--json")
	if res.code != 0 {
		t.Fatal(res)
	}
	s = readReport(t, parseManifest(t, []byte(res.stdout))).Scores
	if s == nil || s.PSI == nil || !s.Estimated || !strings.Contains(s.Comparison, "estimated histogram") {
		t.Fatalf("against an older run's estimate: %+v", s)
	}
	t.Logf("score PSI on exact counts %.6g (NumPy %.6g); against the older run's estimated histogram %.6g", exact, want, *s.PSI)
	html, err := os.ReadFile(parseManifest(t, []byte(res.stdout)).Validation.ReportHTML)
	if err != nil || !strings.Contains(string(html), "the PSI is an estimate") {
		t.Errorf("the HTML report does not say the PSI is an estimate (%v)", err)
	}
}

// nanSnapshot copies the 2026-11-20 samples with total_charges NaN in
// rows 2, 5 and 7 of each file, and returns the source glob and the
// number of NaN rows.
func nanSnapshot(t *testing.T, tmp string) (string, int64) {
	t.Helper()
	dir := copySamples(t, filepath.Join(tmp, "src"), date20)
	var nans int64
	setFloats(t, dir, "total_charges", func(i int, old float64) float64 {
		if i == 2 || i == 5 || i == 7 {
			nans++
			return math.NaN()
		}
		return old
	})
	return filepath.Join(tmp, "src", "snapshot_date={{ .Date }}", "*.parquet"), nans
}

// quarantineReasons reads the _reasons of the current version's
// quarantine, and its total_charges.
func quarantineReasons(t *testing.T, table string) (reasons []string, charges []float64) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(table, "current", date20, "_quarantine", "*.parquet"))
	for _, f := range files {
		q := readParquet(t, f)
		r := column(t, q, "_reasons").(*array.String)
		c := column(t, q, "total_charges").(*array.Float64)
		for i := 0; i < r.Len(); i++ {
			reasons = append(reasons, r.Value(i))
			charges = append(charges, c.Value(i))
		}
	}
	return reasons, charges
}

// NaN is in no range: it fails a range rule (quarantined under reject,
// and under clip too, since it cannot be clamped) unless the rule says
// allow_nan: true.
func TestI19ValidationNaNFailsRange(t *testing.T) {
	tmp := t.TempDir()
	source, nans := nanSnapshot(t, tmp)
	rule := func(r string) func(string) string {
		return func(s string) string { return insertAfter(t, s, "  rules:", "    - "+r) }
	}
	for _, tc := range []struct {
		name, rule  string
		quarantined bool
	}{
		{"reject", "{name: charges_range, column: total_charges, check: range, min: 0, max: 100000}", true},
		{"clip", "{name: charges_range, column: total_charges, check: range, min: 0, max: 100000, action: clip}", true},
		{"allow_nan", "{name: charges_range, column: total_charges, check: range, min: 0, max: 100000, allow_nan: true}", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			table := filepath.Join(tmp, tc.name)
			job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, source: source, edit: rule(tc.rule)})
			res := bs(t, "run", job, "--date", date20, "--json")
			if res.code != 0 {
				t.Fatal(res)
			}
			m := parseManifest(t, []byte(res.stdout))
			var failed int64 = -1
			for _, r := range readReport(t, m).Rules {
				if r.Name == "charges_range" {
					failed = r.Failed
				}
			}
			reasons, charges := quarantineReasons(t, table)
			if !tc.quarantined {
				if failed != 0 || m.Counts.Quarantined != 0 {
					t.Errorf("allow_nan: rule failed %d rows, %d quarantined; want NaN to pass", failed, m.Counts.Quarantined)
				}
				return
			}
			if failed != nans || m.Counts.Quarantined != nans || int64(len(reasons)) != nans || m.Counts.Clipped != 0 {
				t.Errorf("rule failed %d, quarantined %d (%d in the files), clipped %d; want the %d NaN rows quarantined", failed, m.Counts.Quarantined, len(reasons), m.Counts.Clipped, nans)
			}
			for i, r := range reasons {
				if r != "charges_range" || !math.IsNaN(charges[i]) {
					t.Errorf("quarantined row %d: reasons %q, total_charges %v", i, r, charges[i])
				}
			}
		})
	}
	t.Run("allow_nan on another check", func(t *testing.T) {
		table := filepath.Join(tmp, "bad")
		job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, source: source,
			edit: rule("{column: total_charges, check: not_null, allow_nan: true}")})
		res := bs(t, "run", job, "--date", date20)
		if res.code != 2 || !strings.Contains(res.messages(), "allow_nan applies to range checks only") || !strings.Contains(res.messages(), "line ") {
			t.Errorf("allow_nan on not_null: %s", res)
		}
	})
}

// impute.from: mode on a column declared float is the job file's error,
// found at load (exit 2, naming the file, the line and the key), as is a
// median of a column declared string.
func TestI19ValidationImputeFromMismatchAtLoad(t *testing.T) {
	table := filepath.Join(t.TempDir(), "scores")
	for _, tc := range []struct{ name, from, declare, want string }{
		{"mode of a float", "mode", "    satisfaction_score: {type: float}", "impute.from: mode takes the baseline's most frequent value"},
		{"median of a string", "median", "    satisfaction_score: {type: string}", "impute.from: median applies to numeric columns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: edits(
				replaceText(t, "impute: {from: median}", "impute: {from: "+tc.from+"}"),
				func(s string) string { return insertAfter(t, s, "    monthly_charges: {type: float}", tc.declare) },
			)})
			for _, cmd := range []string{"run", "validate"} {
				res := bs(t, cmd, job, "--date", date20)
				msg := res.messages()
				if res.code != 2 || !strings.Contains(msg, job) || !strings.Contains(msg, "validation.rules[5].impute.from") ||
					!strings.Contains(msg, "line ") || !strings.Contains(msg, tc.want) {
					t.Errorf("%s: %s", cmd, res)
				}
			}
			if v := listDir(t, filepath.Join(table, "versions")); len(v) != 0 {
				t.Errorf("published %v", v)
			}
		})
	}
}

// datedSnapshot copies the 2026-11-20 samples with snapshot_date set to
// day(i) and monthly_charges to -5 (which the range rule rejects) where
// reject(i), i the row in its file; it returns the source glob.
func datedSnapshot(t *testing.T, tmp string, day func(i int) string, reject func(i int) bool) string {
	t.Helper()
	dir := copySamples(t, filepath.Join(tmp, "src"), date20)
	rewriteSnapshot(t, dir, func(name string, rec arrow.Record) arrow.Record {
		n := int(rec.NumRows())
		db := array.NewDate32Builder(memory.DefaultAllocator)
		defer db.Release()
		charges := rec.Column(rec.Schema().FieldIndices("monthly_charges")[0]).(*array.Float64)
		cb := array.NewFloat64Builder(memory.DefaultAllocator)
		defer cb.Release()
		for i := range n {
			d, err := time.Parse(time.DateOnly, day(i))
			if err != nil {
				t.Fatal(err)
			}
			db.Append(arrow.Date32FromTime(d))
			if reject(i) {
				cb.Append(-5)
			} else {
				cb.Append(charges.Value(i))
			}
		}
		dates, chargesArr := db.NewArray(), cb.NewArray()
		t.Cleanup(dates.Release)
		t.Cleanup(chargesArr.Release)
		rec = replaceColumn(t, rec, "snapshot_date", dates, arrow.FixedWidthTypes.Date32)
		return replaceColumn(t, rec, "monthly_charges", chargesArr, arrow.PrimitiveTypes.Float64)
	})
	// Out of the snapshot_date=... folder: that folder would be the column
	// (Hive partitions) and refuse rows dated otherwise.
	if err := os.Rename(dir, filepath.Join(tmp, "src", "day-"+date20)); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(tmp, "src", "day-{{ .Date }}", "*.parquet")
}

// freshnessDetail is the report's detail of the freshness check.
func freshnessDetail(t *testing.T, m *report.Manifest) string {
	t.Helper()
	for _, tr := range readReport(t, m).Table {
		if tr.Name == "freshness:snapshot_date" {
			return tr.Detail
		}
	}
	t.Fatalf("no freshness check in the report")
	return ""
}

// freshness judges the rows that passed the rules (quarantined rows do
// not make a stale snapshot fresh), and says (or, with max_days_ahead,
// gates on) a newest date after the logical date.
func TestI19ValidationFreshnessValidRowsAndFuture(t *testing.T) {
	noDateRule := replaceText(t, "    - {column: snapshot_date, check: date_range, max_days_before: 0, max_days_after: 0}\n", "")
	few := func(i int) bool { return i == 3 || i == 8 }
	t.Run("quarantined rows do not count", func(t *testing.T) {
		tmp := t.TempDir()
		source := datedSnapshot(t, tmp, func(i int) string {
			if few(i) {
				return date20
			}
			return "2026-11-15"
		}, few)
		job := writeJob(t, "churn_nightly.yaml", jobOpts{table: filepath.Join(tmp, "scores"), source: source, edit: noDateRule})
		res := bs(t, "run", job, "--date", date20, "--json")
		if res.code != 3 {
			t.Fatalf("exit %d, want 3: the rows that passed are 5 days old\n%s", res.code, res)
		}
		m := parseManifest(t, []byte(res.stdout))
		want := "newest snapshot_date is 2026-11-15, 5 days before the logical date 2026-11-20 (at most 1)"
		if !strings.Contains(m.Error, want) || !strings.Contains(freshnessDetail(t, m), want) {
			t.Errorf("error %q, want %q", m.Error, want)
		}
	})
	future := func(i int) string {
		if few(i) {
			return "2026-11-23"
		}
		return date20
	}
	never := func(int) bool { return false }
	t.Run("a future date is a warning", func(t *testing.T) {
		tmp := t.TempDir()
		job := writeJob(t, "churn_nightly.yaml", jobOpts{table: filepath.Join(tmp, "scores"), source: datedSnapshot(t, tmp, future, never), edit: noDateRule})
		res := bs(t, "run", job, "--date", date20, "--json")
		if res.code != 0 {
			t.Fatal(res)
		}
		m := parseManifest(t, []byte(res.stdout))
		want := "is 3 days after the logical date 2026-11-20"
		if w := strings.Join(m.Validation.Warnings, "\n"); !strings.Contains(w, want) || !strings.Contains(w, "max_days_ahead") {
			t.Errorf("manifest warnings %q do not say %q", w, want)
		}
		if d := freshnessDetail(t, m); !strings.Contains(d, "3 days after the logical date") {
			t.Errorf("report detail %q", d)
		}
	})
	t.Run("max_days_ahead gates", func(t *testing.T) {
		tmp := t.TempDir()
		job := writeJob(t, "churn_nightly.yaml", jobOpts{table: filepath.Join(tmp, "scores"), source: datedSnapshot(t, tmp, future, never),
			edit: edits(noDateRule, replaceText(t, "max_age_days: 1}", "max_age_days: 1, max_days_ahead: 1}"))})
		res := bs(t, "run", job, "--date", date20, "--json")
		if res.code != 3 {
			t.Fatalf("exit %d, want 3\n%s", res.code, res)
		}
		m := parseManifest(t, []byte(res.stdout))
		if want := "newest snapshot_date is 2026-11-23, 3 days after the logical date 2026-11-20 (at most 1 ahead)"; !strings.Contains(m.Error, want) {
			t.Errorf("error %q, want %q", m.Error, want)
		}
	})
}

// A run stopped by a fail rule reports the rows it read, the chunk the
// rule fired in included, with books that balance, and no table rule
// judged on the rows before the stop (no "0 rows, at least 100 required").
func TestI19ValidationFailRuleReportsWhatItRead(t *testing.T) {
	tmp := t.TempDir()
	tenure := column(t, readParquet(t, filepath.Join(samples(t), "snapshot_date="+date20, "part-00000.parquet")), "tenure_months")
	firstBad := -1
	for i := 0; i < tenure.Len(); i++ {
		if v, _ := strconv.Atoi(tenure.ValueStr(i)); v > 50 {
			firstBad = i
			break
		}
	}
	const chunk = 500
	if firstBad < 0 || firstBad >= chunk {
		t.Fatalf("the first tenure above 50 is at row %d: the test needs one in the first chunk", firstBad)
	}
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: filepath.Join(tmp, "scores"), chunkRows: chunk, edit: func(s string) string {
		return insertAfter(t, s, "  rules:", "    - {name: tenure_sane, column: tenure_months, check: range, max: 50, action: fail}")
	}})
	for _, cmd := range []string{"run", "validate"} {
		res := bs(t, cmd, job, "--date", date20, "--json")
		if res.code != 3 {
			t.Fatalf("%s: exit %d, want 3\n%s", cmd, res.code, res)
		}
		m := parseManifest(t, []byte(res.stdout))
		c := m.Counts
		if c.Read != chunk || c.Read != c.Valid+c.Quarantined {
			t.Errorf("%s: counts %+v, want the %d rows of the chunk the rule fired in, balanced", cmd, c, chunk)
		}
		if want := "tenure_sane: " + filepath.Join(samples(t), "snapshot_date="+date20, "part-00000.parquet") + " row " + strconv.Itoa(firstBad); !strings.Contains(m.Error, want) {
			t.Errorf("%s: error %q does not say %q", cmd, m.Error, want)
		}
		all := m.Error + strings.Join(m.Validation.Breaches, ";")
		if strings.Contains(all, "min_rows") || strings.Contains(all, "required") || len(m.Validation.Breaches) != 0 {
			t.Errorf("%s: breaches %q judged on a stopped run (error %q)", cmd, m.Validation.Breaches, m.Error)
		}
		r := readReport(t, m)
		if len(r.Table) != 0 || r.Books.Read != chunk {
			t.Errorf("%s: report books %+v, table checks %+v", cmd, r.Books, r.Table)
		}
	}
}

// A string column with more distinct values than the profile counts says
// "at least", not a made-up exact count.
func TestI19ValidationDistinctSaturates(t *testing.T) {
	tmp := t.TempDir()
	const distinct = 20_000
	b := array.NewStringBuilder(memory.DefaultAllocator)
	defer b.Release()
	for i := range 2 * distinct {
		b.Append(fmt.Sprintf("key-%05d", i%distinct))
	}
	arr := b.NewArray()
	defer arr.Release()
	rec := array.NewRecord(arrow.NewSchema([]arrow.Field{{Name: "key", Type: arrow.BinaryTypes.String}}, nil), []arrow.Array{arr}, int64(arr.Len()))
	defer rec.Release()
	data := filepath.Join(tmp, "keys.parquet")
	writeParquet(t, data, rec)
	out := filepath.Join(tmp, "baseline.json")
	res := runWith(t, batchscore, baseEnv(), "profile", data, "--out", out)
	if res.code != 0 {
		t.Fatal(res)
	}
	if !strings.Contains(res.stdout, "key (≥ 10,000 distinct values") {
		t.Errorf("profile output does not say ≥ 10,000:\n%s", res.stdout)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Columns []map[string]any `json:"columns"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	c := p.Columns[0]
	if _, exact := c["distinct"]; exact || c["distinct_at_least"] != float64(10_000) || c["top_capped"] != true {
		t.Errorf("profile of %d distinct keys: distinct %v, distinct_at_least %v, top_capped %v", distinct, c["distinct"], c["distinct_at_least"], c["top_capped"])
	}
}

// skipUnlessCI skips a comparison with a peer that is not installed, except
// in CI (.ci/run installs it), where a skipped check would count as passed.
func skipUnlessCI(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s, and CI must not skip this check", why)
	}
	t.Skip(why)
}
