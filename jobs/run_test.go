package jobs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	"go.uber.org/goleak"

	"github.com/batchscore/batchscore/internal/testkit/onnxtest"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/spec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const jobTemplate = `
name: churn_test
schedule: "0 2 * * *"
source:
  parquet: %s/snapshot_date={{ .Date }}/*.parquet
model:
  path: %s/testdata/models/churn_gbm.onnx
  inputs:
    features: [%s]
  score: {output: probabilities, class: 1}
  label: {output: label}
output:
  table: %s
  keys: [customer_id]
scoring:
  workers: 2
  chunk_rows: %d
`

var features = "tenure_months, age, is_senior, has_partner, num_dependents, monthly_charges, total_charges, num_products, avg_monthly_data_gb, avg_call_minutes, dropped_call_rate, network_quality_score, num_support_calls, tech_support_hours, satisfaction_score, late_payment_ratio, outstanding_balance, discount_pct, price_increase_pct_12m, bill_variability, paperless_billing, has_streaming, app_sessions_per_week, avg_session_minutes, days_since_last_login, email_open_rate, credit_score, household_income_k, distance_to_store_km, months_to_contract_end"

func testJob(t *testing.T, dataDir, tableDir string, chunkRows int) *spec.Job {
	t.Helper()
	root := onnxtest.Root(t)
	text := fmt.Sprintf(jobTemplate, dataDir, root, features, tableDir, chunkRows)
	job, err := spec.Parse([]byte(text), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	job.File = "churn_test.yaml"
	return job
}

func date(t *testing.T, s string) Request {
	d, err := spec.ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return Request{Date: d, Trigger: TriggerManual}
}

// TestRunBalancesAndLeaksNothing runs a whole execution in process with a
// checked allocator: every Arrow buffer allocated along the way is freed.
func TestRunBalancesAndLeaksNothing(t *testing.T) {
	root := onnxtest.Root(t)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	tableDir := filepath.Join(t.TempDir(), "scores")
	r := &Runner{ORTLib: onnxtest.Lib(t), Mem: mem}
	req := date(t, "2026-11-20")
	req.Job = testJob(t, filepath.Join(root, "testdata", "customers"), tableDir, 333)
	res, err := r.Run(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	mem.AssertSize(t, 0)
	m := res.Manifest
	c := m.Counts
	if m.Status != report.StatusSucceeded || c.Read != 2000 || c.Written != 2000 || c.Scored != 2000 || c.Valid != 2000 {
		t.Errorf("status %s, counts %+v", m.Status, c)
	}
	var fileRows int64
	for _, f := range m.Output.Files {
		fileRows += f.Rows
	}
	if fileRows != 2000 {
		t.Errorf("files hold %d rows", fileRows)
	}
	if len(m.Source.Files) != 2 || m.Source.Files[0].SHA256 == "" || m.Model.SHA256 == "" || len(m.RunID) != 16 {
		t.Errorf("fingerprints missing: %+v %+v %q", m.Source, m.Model, m.RunID)
	}
	if _, err := os.Stat(res.ManifestPath); err != nil {
		t.Error(err)
	}
	if len(m.Busy) != 4 || m.Busy[2].Stage != "score" || m.Busy[2].Seconds <= 0 || m.Busy[2].Share <= 0 || m.Busy[2].Share > 1.5 {
		t.Errorf("busy times %+v", m.Busy)
	}
	// Output order is input order: customer ids come out as they went in.
	ids := readColumn(t, filepath.Join(m.Output.Path, "part-00000.parquet"), "customer_id")
	for i := 1; i < len(ids); i++ {
		if ids[i] != ids[i-1]+1 {
			t.Fatalf("row %d: customer %d follows %d", i, ids[i], ids[i-1])
		}
	}
}

func TestRunFailuresLeaveAFailedManifestAndNoLeak(t *testing.T) {
	root := onnxtest.Root(t)
	samples := filepath.Join(root, "testdata", "customers")
	withNull := t.TempDir()
	copyWithNull(t, filepath.Join(samples, "snapshot_date=2026-11-20"), filepath.Join(withNull, "snapshot_date=2026-11-20"), "monthly_charges", 1500)
	tests := []struct {
		name     string
		data     string
		date     string
		cancel   bool
		wantCode int
		wantErr  []string
	}{
		{"null in a feature", withNull, "2026-11-20", false, ExitDataQuality, []string{"part-00001.parquet: row 500", `column "monthly_charges"`, "null value"}},
		{"no snapshot for the date", samples, "2026-01-01", false, ExitFailure, []string{"nothing matches", "snapshot_date=2026-01-01"}},
		{"cancelled", samples, "2026-11-20", true, ExitInterrupted, []string{"context canceled"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			tableDir := filepath.Join(t.TempDir(), "scores")
			req := date(t, tc.date)
			req.Job = testJob(t, tc.data, tableDir, 256)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := &Runner{ORTLib: onnxtest.Lib(t), Mem: mem}
			if tc.cancel {
				r.Progress = func(done, _ int64) { cancel() } // cancel after the first chunk
			}
			res, err := r.Run(ctx, req)
			if err == nil {
				t.Fatal("run succeeded")
			}
			mem.AssertSize(t, 0)
			if got := ExitCode(err); got != tc.wantCode {
				t.Errorf("exit code %d, want %d (%v)", got, tc.wantCode, err)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q, want %q in it", err, w)
				}
			}
			m := res.Manifest
			if m.Status == report.StatusSucceeded || m.ExitCode != tc.wantCode || m.Output.Published || m.Error == "" {
				t.Errorf("manifest: status %s exit %d published %v error %q", m.Status, m.ExitCode, m.Output.Published, m.Error)
			}
			if _, err := os.Stat(res.ManifestPath); err != nil {
				t.Errorf("failed manifest not written: %v", err)
			}
			for _, sub := range []string{"_staging", "versions", "current"} {
				entries, _ := os.ReadDir(filepath.Join(tableDir, sub))
				if len(entries) != 0 {
					t.Errorf("%s/ holds %d entries after a failed run", sub, len(entries))
				}
			}
			if errors.Is(err, context.Canceled) && m.Status != report.StatusInterrupted {
				t.Errorf("status %s, want interrupted", m.Status)
			}
		})
	}
}

func readColumn(t *testing.T, path, col string) []int64 {
	t.Helper()
	tbl := readTable(t, path)
	defer tbl.Release()
	idx := tbl.Schema().FieldIndices(col)[0]
	var out []int64
	for _, ch := range tbl.Column(idx).Data().Chunks() {
		out = append(out, ch.(*array.Int64).Int64Values()...)
	}
	return out
}

func readTable(t *testing.T, path string) arrow.Table {
	t.Helper()
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

// copyWithNull copies a snapshot folder, setting col to null at one row of
// the last file.
func copyWithNull(t *testing.T, from, to, col string, row int) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	names, _ := filepath.Glob(filepath.Join(from, "*.parquet"))
	for i, src := range names {
		dst := filepath.Join(to, filepath.Base(src))
		if i < len(names)-1 {
			data, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		tbl := readTable(t, src)
		rec := tableToRecord(t, tbl)
		tbl.Release()
		idx := rec.Schema().FieldIndices(col)[0]
		vals := rec.Column(idx).(*array.Float64)
		b := array.NewFloat64Builder(memory.DefaultAllocator)
		for r := 0; r < vals.Len(); r++ {
			if r == row-1000 {
				b.AppendNull()
			} else {
				b.Append(vals.Value(r))
			}
		}
		cols := rec.Columns()
		cols[idx] = b.NewArray()
		fields := rec.Schema().Fields()
		fields[idx].Nullable = true
		out := array.NewRecord(arrow.NewSchema(fields, nil), cols, rec.NumRows())
		f, err := os.Create(dst)
		if err != nil {
			t.Fatal(err)
		}
		w, err := pqarrow.NewFileWriter(out.Schema(), f, nil, pqarrow.DefaultWriterProps())
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(out); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func tableToRecord(t *testing.T, tbl arrow.Table) arrow.Record {
	t.Helper()
	tr := array.NewTableReader(tbl, tbl.NumRows())
	defer tr.Release()
	if !tr.Next() {
		t.Fatal("empty table")
	}
	rec := tr.Record()
	rec.Retain()
	return rec
}
