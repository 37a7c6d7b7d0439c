package main

// Validation mistakes that used to give a wrong result with exit 0 or the
// wrong exit code: baselines that cannot serve the job, extra_columns:
// reject on the job's own columns, null keys counted as duplicates, and
// numbers printed too short to tell from their thresholds.

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/validate/profile"
)

// withBaseline points the job at another baseline file.
func withBaseline(path string) func(string) string {
	return func(s string) string {
		return reBase.ReplaceAllString(s, "${1}"+strings.ReplaceAll(strconv.Quote(path), "$", "$$")+"${3}")
	}
}

// edits applies several edits in order.
func edits(fs ...func(string) string) func(string) string {
	return func(s string) string {
		for _, f := range fs {
			s = f(s)
		}
		return s
	}
}

// replaceText replaces a string the job file must hold.
func replaceText(t *testing.T, old, new string) func(string) string {
	return func(s string) string {
		if !strings.Contains(s, old) {
			t.Fatalf("no %q in the job file", old)
		}
		return strings.Replace(s, old, new, 1)
	}
}

// profileColumns writes a baseline of some columns of the 2026-11-20 samples.
func profileColumns(t *testing.T, columns string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "baseline.json")
	glob := filepath.Join(samples(t), "snapshot_date="+date20, "*.parquet")
	if res := runWith(t, batchscore, baseEnv(), "profile", glob, "--columns", columns, "--out", out); res.code != 0 {
		t.Fatal(res)
	}
	return out
}

// failedAtLoad checks a run refused before reading data: exit 2, nothing
// published, the manifest and stderr saying every want.
func failedAtLoad(t *testing.T, res result, table string, want ...string) {
	t.Helper()
	if res.code != 2 {
		t.Fatalf("exit %d, want 2\n%s", res.code, res)
	}
	m := parseManifest(t, []byte(res.stdout))
	if m.Status != report.StatusFailed || m.ExitCode != 2 || m.Output.Published || m.Counts.Read != 0 {
		t.Errorf("manifest: status %s, exit %d, published %v, read %d", m.Status, m.ExitCode, m.Output.Published, m.Counts.Read)
	}
	for _, w := range want {
		if !strings.Contains(m.Error, w) || !strings.Contains(res.messages(), w) {
			t.Errorf("error does not say %q:\nmanifest: %s\nstderr: %s", w, m.Error, res.messages())
		}
	}
	if v := listDir(t, filepath.Join(table, "versions")); len(v) != 0 {
		t.Errorf("published %v", v)
	}
}

// A baseline that lacks what the drift gates, an impute rule or
// review.out_of_range need is the job's error, found before any row is
// read; one that only some warn-only inputs miss is a warning.
func TestI18ValidateBaselineCoverage(t *testing.T) {
	tmp := t.TempDir()
	table := filepath.Join(tmp, "scores")
	other := profileColumns(t, "contract_type,payment_method,region")
	partial := profileColumns(t, "tenure_months,age,satisfaction_score,monthly_charges")
	warnOnly := replaceText(t, "feature_psi: {warn: 0.1, gate: 0.25}", "feature_psi: {warn: 0.1, gate: 0}")
	noImpute := replaceText(t, "    - {column: satisfaction_score, check: not_null, action: impute, impute: {from: median}}\n", "")

	t.Run("no shared column, drift gate and impute rule", func(t *testing.T) {
		job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: withBaseline(other)})
		res := bs(t, "run", job, "--date", date20, "--json")
		failedAtLoad(t, res, table, job, other, "feature_psi.gate 0.25", `"tenure_months"`, `"credit_score"`,
			"not_null:satisfaction_score", "imputes the median")
	})
	t.Run("no shared column, warnings only", func(t *testing.T) {
		job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: edits(withBaseline(other), warnOnly, noImpute)})
		res := runWith(t, batchscore, baseEnv(), "validate", job, "--date", date20, "--json")
		failedAtLoad(t, res, table, job, other, "shares no column with the model inputs")
	})
	t.Run("partial cover, drift gate", func(t *testing.T) {
		job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: withBaseline(partial)})
		res := bs(t, "run", job, "--date", date20, "--json")
		failedAtLoad(t, res, table, job, partial, "feature_psi.gate", `"is_senior"`, `"months_to_contract_end"`)
	})
	t.Run("partial cover, review.out_of_range", func(t *testing.T) {
		job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: edits(withBaseline(partial), warnOnly,
			appendSection("review:\n  out_of_range: true\n"))})
		res := bs(t, "run", job, "--date", date20, "--json")
		failedAtLoad(t, res, table, job, partial, "review.out_of_range", `"is_senior"`)
	})
	t.Run("partial cover, warnings only", func(t *testing.T) {
		job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: edits(withBaseline(partial), warnOnly)})
		res := bs(t, "run", job, "--date", date20, "--json")
		if res.code != 0 {
			t.Fatal(res)
		}
		m := parseManifest(t, []byte(res.stdout))
		want := `has no profile of the model inputs "is_senior"`
		if w := strings.Join(m.Validation.Warnings, "\n"); !strings.Contains(w, want) || !strings.Contains(w, "not measured") {
			t.Errorf("manifest warnings %q do not say %s", w, want)
		}
		if !strings.Contains(res.stderr, "has no profile of the model inputs") || !strings.Contains(res.stderr, "is_senior") {
			t.Errorf("the log does not say %s:\n%s", want, res.stderr)
		}
		r := readReport(t, m)
		if n := strings.Join(r.Notes, "\n"); !strings.Contains(n, want) {
			t.Errorf("report notes %q do not say %s", n, want)
		}
		drifted := 0
		for _, c := range r.Columns {
			if c.Drift != nil {
				drifted++
			}
		}
		if drifted != 4 {
			t.Errorf("%d columns with drift, want the 4 the baseline has", drifted)
		}
	})
}

// An impute rule on a column the baseline lacks is the job file's error
// (exit 2 naming the job file, the rule and the baseline), not the data's.
func TestI18ValidateImputeFromAbsentColumn(t *testing.T) {
	table := filepath.Join(t.TempDir(), "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: func(s string) string {
		return insertAfter(t, s, "  rules:", "    - {name: fill_id, column: customer_id, check: not_null, action: impute, impute: {from: median}}")
	}})
	res := bs(t, "run", job, "--date", date20, "--json")
	failedAtLoad(t, res, table, job, "churn_training.json", "fill_id", `median of "customer_id"`, "no such column", "line ")
}

// extra_columns: reject refuses only the columns nobody declared or uses:
// the model inputs and the keys are used.
func TestI18ValidateExtraColumnsReject(t *testing.T) {
	table := filepath.Join(t.TempDir(), "scores")
	reject := edits(
		replaceText(t, "  columns:\n", "  extra_columns: reject\n  columns:\n"),
		// customer_id is then used by nothing but output.keys.
		replaceText(t, "    customer_id: {type: int}\n", ""),
		replaceText(t, "    unique: [customer_id]\n", ""),
	)
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: reject})
	res := bs(t, "run", job, "--date", date20, "--json")
	if res.code != 3 {
		t.Fatalf("exit %d, want 3\n%s", res.code, res)
	}
	m := parseManifest(t, []byte(res.stdout))
	if !strings.Contains(m.Error, `extra columns ["payment_method" "region" "churned"]`) {
		t.Errorf("error %q, want exactly the three unused columns named", m.Error)
	}
	declared := edits(reject, func(s string) string {
		return insertAfter(t, s, "    monthly_charges: {type: float}",
			"    payment_method: {type: string}\n    region: {type: string}\n    churned: {type: bool}")
	})
	job = writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: declared})
	if res := bs(t, "run", job, "--date", date20); res.code != 0 {
		t.Fatalf("every column declared or used: %s", res)
	}
}

// nullIDs returns rec with customer_id null at rows.
func nullIDs(t *testing.T, rec arrow.Record, rows ...int) arrow.Record {
	t.Helper()
	null := map[int]bool{}
	for _, r := range rows {
		null[r] = true
	}
	ids := rec.Column(rec.Schema().FieldIndices("customer_id")[0]).(*array.Int64)
	b := array.NewInt64Builder(memory.DefaultAllocator)
	defer b.Release()
	for i := 0; i < ids.Len(); i++ {
		if null[i] {
			b.AppendNull()
		} else {
			b.Append(ids.Value(i))
		}
	}
	arr := b.NewArray()
	t.Cleanup(arr.Release)
	return replaceColumn(t, rec, "customer_id", arr, arrow.PrimitiveTypes.Int64)
}

// As in SQL's UNIQUE, null keys are not duplicates of each other: they are
// counted apart, and a not_null rule on the key decides about them.
func TestI18ValidateNullKeysAreNotDuplicates(t *testing.T) {
	tmp := t.TempDir()
	table := filepath.Join(tmp, "scores")
	dir := copySamples(t, filepath.Join(tmp, "src"), date20)
	rewriteSnapshot(t, dir, func(name string, rec arrow.Record) arrow.Record {
		if name != "part-00000.parquet" {
			return nil
		}
		return nullIDs(t, rec, 3, 4, 9)
	})
	source := filepath.Join(tmp, "src", "snapshot_date={{ .Date }}", "*.parquet")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, source: source})
	res := bs(t, "run", job, "--date", date20, "--json")
	if res.code != 0 {
		t.Fatalf("three null keys and no duplicate: %s", res)
	}
	m := parseManifest(t, []byte(res.stdout))
	if n := m.Validation.NullKeys; n == nil || *n != 3 {
		t.Errorf("manifest null_keys %v, want 3", n)
	}
	r := readReport(t, m)
	found := false
	for _, tr := range r.Table {
		if tr.Name == "unique:customer_id" {
			found = true
			if !tr.Passed || tr.NullKeys == nil || *tr.NullKeys != 3 || !strings.HasPrefix(tr.Detail, "0 duplicate keys") ||
				!strings.Contains(tr.Detail, "3 rows with a null key") {
				t.Errorf("report unique check %+v", tr)
			}
		}
	}
	if !found {
		t.Errorf("report has no unique check: %+v", r.Table)
	}

	// A not_null rule on the key decides: here, fail the run.
	job = writeJob(t, "churn_nightly.yaml", jobOpts{table: filepath.Join(tmp, "strict"), source: source, edit: func(s string) string {
		return insertAfter(t, s, "  rules:", "    - {name: id_present, column: customer_id, check: not_null, action: fail}")
	}})
	res = bs(t, "run", job, "--date", date20, "--json")
	if res.code != 3 || !strings.Contains(parseManifest(t, []byte(res.stdout)).Error, "id_present") {
		t.Errorf("not_null fail rule on the key: %s", res)
	}
}

// categoryBaseline returns the repository's baseline with column's
// categories reshaped so that today's snapshot has a PSI of psi against it.
func categoryBaseline(t *testing.T, column string, psi float64) string {
	t.Helper()
	today, err := profile.Load(profileColumns(t, column))
	if err != nil {
		t.Fatal(err)
	}
	tc := today.Column(column)
	if tc == nil || len(tc.Top) < 2 || tc.Other != 0 {
		t.Fatalf("today's %s: %+v", column, tc)
	}
	const n = 1e9
	build := func(shift float64) *profile.Column {
		c := &profile.Column{Name: column, Type: tc.Type}
		for i, cat := range tc.Top {
			share := float64(cat.Count) / float64(tc.Count)
			switch i {
			case 0:
				share -= shift
			case 1:
				share += shift
			}
			k := int64(math.Round(share * n))
			c.Top = append(c.Top, profile.Category{Value: cat.Value, Count: k})
			c.Count += k
		}
		c.Distinct = len(c.Top)
		return c
	}
	// The drift package's own arithmetic: expected shares from the
	// baseline, actual from today, "other" empty in both.
	measure := func(c *profile.Column) float64 {
		var e, a []float64
		for i, cat := range c.Top {
			e = append(e, float64(cat.Count)/float64(c.Count))
			a = append(a, float64(tc.Top[i].Count)/float64(tc.Count))
		}
		return profile.PSI(append(e, 0), append(a, 0))
	}
	lo, hi := 0.0, float64(tc.Top[0].Count)/float64(tc.Count)
	for range 200 {
		mid := (lo + hi) / 2
		if measure(build(mid)) < psi {
			lo = mid
		} else {
			hi = mid
		}
	}
	col := build(hi)
	if got := measure(col); math.Abs(got-psi) > 1e-7 {
		t.Fatalf("could not shape a PSI of %v: %v", psi, got)
	}
	base, err := profile.Load(filepath.Join(repoRoot(t), "testdata", "baseline", "churn_training.json"))
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range base.Columns {
		if c.Name == column {
			base.Columns[i] = col
		}
	}
	out := filepath.Join(t.TempDir(), "shaped.json")
	data, err := json.Marshal(base)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// A PSI of 0.1004 against a warning level of 0.1 reads 0.1004, not 0.1.
func TestI18ValidateDigitsTellValueFromThreshold(t *testing.T) {
	table := filepath.Join(t.TempDir(), "scores")
	baseline := categoryBaseline(t, "contract_type", 0.1004)
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: withBaseline(baseline)})
	res := bs(t, "run", job, "--date", date20, "--json")
	if res.code != 0 {
		t.Fatal(res)
	}
	m := parseManifest(t, []byte(res.stdout))
	want := "PSI of contract_type is 0.1004, above the warning level 0.1"
	if w := strings.Join(m.Validation.Warnings, "\n"); !strings.Contains(w, want) {
		t.Errorf("manifest warnings %q, want %q", w, want)
	}
	if !strings.Contains(res.stderr, want) {
		t.Errorf("the log does not say %q", want)
	}
	html, err := os.ReadFile(m.Validation.ReportHTML)
	if err != nil {
		t.Fatal(err)
	}
	// The drift table's PSI cell, next to the band it is placed in.
	if !regexp.MustCompile(`contract_type</td><td class="n">0\.1004</td><td><span class="pill moderate">`).Match(html) {
		t.Errorf("the report's drift table does not show contract_type's PSI as 0.1004")
	}
}
