package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/jobs/report"
)

// spoilCharges copies the 2026-11-20 samples and sets monthly_charges to
// -5 (outside the job's range rule, so rejected) in the first bad rows of
// part-00001.parquet (its rows 0..bad-1).
func spoilCharges(t *testing.T, root string, bad int) {
	t.Helper()
	dir := copySamples(t, root, date20)
	rewriteSnapshot(t, dir, func(name string, rec arrow.Record) arrow.Record {
		if name != "part-00001.parquet" {
			return nil
		}
		col := float64Column(t, rec, "monthly_charges")
		arr := mapFloat64(t, col, array.NewFloat64Builder(memory.DefaultAllocator), func(b *array.Float64Builder, i int, v float64) {
			if i < bad {
				v = -5
			}
			b.Append(v)
		})
		return replaceColumn(t, rec, "monthly_charges", arr, arrow.PrimitiveTypes.Float64)
	})
}

func readReport(t *testing.T, m *report.Manifest) *report.Report {
	t.Helper()
	if m.Validation.Report == "" || m.Validation.ReportHTML == "" {
		t.Fatalf("manifest names no report: %+v", m.Validation)
	}
	data, err := os.ReadFile(m.Validation.Report)
	if err != nil {
		t.Fatal(err)
	}
	var r report.Report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	html, err := os.ReadFile(m.Validation.ReportHTML)
	if err != nil || !strings.Contains(string(html), "range:monthly_charges") {
		t.Errorf("HTML report %s does not show the rule (%v)", m.Validation.ReportHTML, err)
	}
	return &r
}

// 0.5% bad rows are quarantined and the rest published; 20% bad rows fail
// the gate: exit 3, nothing published, the report and manifest say why.
func TestQuarantineAndQualityGate(t *testing.T) {
	tmp := t.TempDir()
	table := filepath.Join(tmp, "scores")

	few := filepath.Join(tmp, "few")
	spoilCharges(t, few, 10)
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, source: filepath.Join(few, "snapshot_date={{ .Date }}", "*.parquet")})
	res := bs(t, "run", job, "--date", date20, "--json")
	if res.code != 0 {
		t.Fatalf("0.5%% bad rows: %s", res)
	}
	m := parseManifest(t, []byte(res.stdout))
	if c := m.Counts; c.Read != 2000 || c.Quarantined != 10 || c.Valid != 1990 || c.Scored != 1990 || c.Written != 1990 {
		t.Errorf("counts %+v, want 2000 read, 10 quarantined, 1990 scored", c)
	}
	rows := readResults(t, m.Output.Path)
	if len(rows.ids) != 1990 {
		t.Errorf("published %d rows, want 1990", len(rows.ids))
	}
	// The quarantine is published with the version, original values and all.
	q := readParquet(t, filepath.Join(table, "current", date20, "_quarantine", "part-00000.parquet"))
	if q.NumRows() != 10 {
		t.Fatalf("quarantine holds %d rows, want 10", q.NumRows())
	}
	charges := column(t, q, "monthly_charges").(*array.Float64)
	reasons := column(t, q, "_reasons").(*array.String)
	files := column(t, q, "_source_file").(*array.String)
	srcRows := column(t, q, "_source_row").(*array.Int64)
	for i := 0; i < int(q.NumRows()); i++ {
		if charges.Value(i) != -5 || !strings.Contains(reasons.Value(i), "range:monthly_charges") ||
			!strings.HasSuffix(files.Value(i), "part-00001.parquet") || srcRows.Value(i) != int64(i) {
			t.Errorf("quarantine row %d: charges %v, reasons %q, file %q, row %d", i, charges.Value(i), reasons.Value(i), files.Value(i), srcRows.Value(i))
		}
	}
	if len(m.Output.QuarantineFiles) != 1 || m.Output.QuarantineFiles[0].Rows != 10 {
		t.Errorf("manifest quarantine files %+v", m.Output.QuarantineFiles)
	}
	r := readReport(t, m)
	if !r.Gate.Passed || r.Books.Quarantined != 10 {
		t.Errorf("report gate %+v, books %+v", r.Gate, r.Books)
	}
	// The README's reads: the scores glob leaves the quarantine out, and
	// the quarantine reads on its own.
	current := filepath.Join(table, "current")
	scores := duckdb(t, "SELECT count(*) AS n FROM read_parquet("+sqlPath(filepath.Join(current, "*", "*.parquet"))+")")
	rejected := duckdb(t, "SELECT count(*) AS n, min(_reasons) AS r FROM read_parquet("+sqlPath(filepath.Join(current, date20, "_quarantine", "*.parquet"))+")")
	if asInt(t, scores[0]["n"]) != 1990 || asInt(t, rejected[0]["n"]) != 10 || rejected[0]["r"] != "range:monthly_charges" {
		t.Errorf("DuckDB reads %v scores and %v quarantined rows", scores, rejected)
	}
	published := snapshotTable(t, table, date20)

	many := filepath.Join(tmp, "many")
	spoilCharges(t, many, 400)
	job = writeJob(t, "churn_nightly.yaml", jobOpts{table: table, source: filepath.Join(many, "snapshot_date={{ .Date }}", "*.parquet")})
	res = bs(t, "run", job, "--date", date20, "--json")
	if res.code != 3 {
		t.Fatalf("20%% bad rows: exit %d, want 3\n%s", res.code, res)
	}
	published.unchanged(t, table, date20)
	m = parseManifest(t, []byte(res.stdout))
	if m.Status != report.StatusFailed || m.ExitCode != 3 || m.Output.Published || !strings.Contains(m.Error, "quality gate") ||
		!strings.Contains(m.Error, "400 of 2000 rows rejected") {
		t.Errorf("manifest: status %s exit %d published %v error %q", m.Status, m.ExitCode, m.Output.Published, m.Error)
	}
	r = readReport(t, m)
	if r.Gate.Passed || len(r.Gate.Breaches) == 0 || r.Books.Quarantined != 400 {
		t.Errorf("report gate %+v, books %+v", r.Gate, r.Books)
	}
	// What the gate stopped on stays next to the manifest for on-call.
	if len(m.Output.Files) != 0 || m.Output.QuarantinePath == "" {
		t.Errorf("manifest output: files %v, quarantine path %q", m.Output.Files, m.Output.QuarantinePath)
	} else if kept := readParquet(t, filepath.Join(m.Output.QuarantinePath, "part-00000.parquet")); kept.NumRows() != 400 {
		t.Errorf("kept quarantine holds %d rows, want 400", kept.NumRows())
	}
	if entries, _ := os.ReadDir(filepath.Join(table, "_staging")); len(entries) != 0 {
		t.Errorf("_staging holds %d entries after a gated run", len(entries))
	}
}

// validate checks without the model: no ONNX Runtime needed, nothing published.
func TestValidateCommand(t *testing.T) {
	tmp := t.TempDir()
	table := filepath.Join(tmp, "scores")
	many := filepath.Join(tmp, "many")
	spoilCharges(t, many, 400)
	for _, tc := range []struct {
		name   string
		source string
		code   int
	}{
		{"clean samples", filepath.Join(samples(t), "snapshot_date={{ .Date }}", "*.parquet"), 0},
		{"20% bad rows", filepath.Join(many, "snapshot_date={{ .Date }}", "*.parquet"), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, source: tc.source})
			res := runWith(t, batchscore, baseEnv(), "validate", job, "--date", date20, "--json")
			if res.code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", res.code, tc.code, res)
			}
			m := parseManifest(t, []byte(res.stdout))
			if m.Trigger != "validate" || m.Output.Published || m.Counts.Read != 2000 || m.Counts.Scored != 0 {
				t.Errorf("manifest: trigger %s published %v counts %+v", m.Trigger, m.Output.Published, m.Counts)
			}
			r := readReport(t, m)
			if r.Scores != nil || len(r.Columns) == 0 || r.Columns[0].Drift == nil {
				t.Errorf("report: scores %v, %d columns, drift of the first %v", r.Scores, len(r.Columns), r.Columns)
			}
			if versions := listDir(t, filepath.Join(table, "versions")); len(versions) != 0 {
				t.Errorf("validate published %v", versions)
			}
		})
	}
}

func TestProfileCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "baseline.json")
	glob := filepath.Join(samples(t), "snapshot_date="+date20, "*.parquet")
	res := runWith(t, batchscore, baseEnv(), "profile", glob, "--columns", "monthly_charges,contract_type", "--out", out)
	if res.code != 0 {
		t.Fatal(res)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Rows    int64 `json:"rows"`
		Columns []struct {
			Name      string `json:"name"`
			Count     int64  `json:"count"`
			Quantiles []any  `json:"quantiles"`
			Top       []any  `json:"top"`
		} `json:"columns"`
	}
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	if p.Rows != 2000 || len(p.Columns) != 2 || p.Columns[0].Count != 2000 || len(p.Columns[0].Quantiles) == 0 || len(p.Columns[1].Top) != 3 {
		t.Errorf("profile: %s", data[:min(len(data), 600)])
	}
	if res := runWith(t, batchscore, baseEnv(), "profile", glob); res.code != 2 {
		t.Errorf("profile without --out: exit %d, want 2", res.code)
	}
}

// An imputed row is scored, counted and flagged in the published table.
func TestImputedRowsAreScoredAndFlagged(t *testing.T) {
	tmp := t.TempDir()
	table := filepath.Join(tmp, "scores")
	dir := copySamples(t, filepath.Join(tmp, "src"), date20)
	rewriteSnapshot(t, dir, func(name string, rec arrow.Record) arrow.Record {
		if name != "part-00000.parquet" {
			return nil
		}
		return nullAt(t, rec, "satisfaction_score", 7)
	})
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, source: filepath.Join(tmp, "src", "snapshot_date={{ .Date }}", "*.parquet")})
	res := bs(t, "run", job, "--date", date20, "--json")
	if res.code != 0 {
		t.Fatal(res)
	}
	m := parseManifest(t, []byte(res.stdout))
	if m.Counts.Imputed != 1 || m.Counts.Written != 2000 || m.Counts.Quarantined != 0 {
		t.Errorf("counts %+v, want 1 imputed of 2000 written", m.Counts)
	}
	tbl := readParquet(t, filepath.Join(m.Output.Path, "part-00000.parquet"))
	flags := column(t, tbl, "flags").(*array.String)
	for i := 0; i < flags.Len(); i++ {
		want := ""
		if i == 7 {
			want = "not_null:satisfaction_score"
		}
		if flags.Value(i) != want {
			t.Errorf("row %d flagged %q, want %q", i, flags.Value(i), want)
		}
	}
}

// A fail rule stops the run at its first row: exit 3, nothing published,
// and the report says what the checks had seen; a PII column shows no values.
func TestFailRuleAndPII(t *testing.T) {
	tmp := t.TempDir()
	table := filepath.Join(tmp, "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: func(s string) string {
		s = insertAfter(t, s, "  rules:", "    - {name: tenure_sane, column: tenure_months, check: range, max: 50, action: fail}")
		return insertAfter(t, s, "    monthly_charges: {type: float}", "    household_income_k: {type: float, pii: true}")
	}})
	res := bs(t, "run", job, "--date", date20, "--json")
	if res.code != 3 {
		t.Fatalf("exit %d, want 3\n%s", res.code, res)
	}
	m := parseManifest(t, []byte(res.stdout))
	if !strings.Contains(m.Error, "tenure_sane") || !strings.Contains(m.Error, "part-00000.parquet row") || m.Output.Published {
		t.Errorf("manifest error %q, published %v", m.Error, m.Output.Published)
	}
	if c := m.Counts; c.Read == 0 || c.Read != c.Valid+c.Quarantined || c.Written != 0 {
		t.Errorf("counts %+v: the chunk the rule fired in was read and checked, and nothing written", m.Counts)
	}
	r := readReport(t, m)
	if r.Gate.Passed || len(r.Notes) == 0 || !strings.Contains(strings.Join(r.Notes, " "), "stopped") {
		t.Errorf("report gate %+v, notes %v", r.Gate, r.Notes)
	}
	for _, c := range r.Columns {
		if c.Name == "household_income_k" && (c.Min != nil || c.Max != nil || len(c.Quantiles) != 0) {
			t.Errorf("PII column shows min %v, max %v, quantiles %v", c.Min, c.Max, c.Quantiles)
		}
	}
}
