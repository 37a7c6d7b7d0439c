package main

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/jobs/report"
)

// spoiled are the non-finite values put into the first file's rows, in
// columns no rule of the jobs checks.
var spoiled = []struct {
	column string
	row    int
	value  float64
	want   report.NonFinite
}{
	{"avg_call_minutes", 3, math.NaN(), report.NonFinite{NaN: 1}},
	{"dropped_call_rate", 5, math.Inf(1), report.NonFinite{PosInf: 1}},
	{"bill_variability", 7, math.Inf(-1), report.NonFinite{NegInf: 1}},
	{"email_open_rate", 9, 1e39, report.NonFinite{BeyondFloat32: 1}}, // the models take float
}

// spoiledSnapshot is date20's samples with the spoiled values; it returns
// the glob and the spoiled rows' customer ids by column.
func spoiledSnapshot(t *testing.T, withNaN bool) (string, map[string]int64) {
	t.Helper()
	dir := copySamples(t, t.TempDir(), date20)
	ids := map[string]int64{}
	rewriteSnapshot(t, dir, func(name string, rec arrow.Record) arrow.Record {
		if name != "part-00000.parquet" {
			return nil
		}
		idCol := column(t, tableOf(rec), "customer_id").(*array.Int64)
		for _, s := range spoiled {
			if math.IsNaN(s.value) && !withNaN {
				continue
			}
			ids[s.column] = idCol.Value(s.row)
			col := float64Column(t, rec, s.column)
			arr := mapFloat64(t, col, array.NewFloat64Builder(memory.DefaultAllocator), func(b *array.Float64Builder, i int, v float64) {
				if i == s.row {
					v = s.value
				}
				b.Append(v)
			})
			rec = replaceColumn(t, rec, s.column, arr, arrow.PrimitiveTypes.Float64)
		}
		return rec
	})
	return filepath.Join(filepath.Dir(dir), "snapshot_date={{ .Date }}", "*.parquet"), ids
}

// Non-finite model inputs are scored, never refused, and counted per
// column in the manifest and the report; the native tree engine does with
// them what ONNX Runtime does. The logistic model has no native engine:
// its job under auto (ONNX Runtime) must agree with an explicit
// onnxruntime one.
func TestI18NonFiniteInputs(t *testing.T) {
	t.Parallel()
	withNaN, ids := spoiledSnapshot(t, true) // the same rows in both
	noNaN, _ := spoiledSnapshot(t, false)
	for _, tc := range []struct {
		config, source, first string
		nan                   bool
	}{{"churn_nightly.yaml", withNaN, "native", true}, {"churn_logreg.yaml", withNaN, "auto", true}, {"churn_logreg.yaml", noNaN, "auto", false}} {
		config, source, first := tc.config, tc.source, tc.first
		t.Run(fmt.Sprintf("%s, NaN %v", config, tc.nan), func(t *testing.T) {
			results := map[string]result{}
			scores := map[string]map[int64]float64{}
			for _, engine := range []string{first, "onnxruntime"} {
				table := filepath.Join(t.TempDir(), engine)
				job := writeJob(t, config, jobOpts{table: table, source: source, edit: withEngineSet(engine)})
				res := bs(t, "run", job, "--date", date20, "--json")
				results[engine] = res
				m := parseManifest(t, []byte(res.stdout))
				t.Logf("%s on %s: exit %d %s", config, engine, res.code, m.Error)
				want := 0
				for _, s := range spoiled {
					if math.IsNaN(s.value) && !tc.nan {
						continue
					}
					want++
					if got := m.NonFiniteInputs[s.column]; got != s.want {
						t.Errorf("%s: manifest counts %+v for %s, want %+v", engine, got, s.column, s.want)
					}
				}
				if len(m.NonFiniteInputs) != want {
					t.Errorf("%s: counts %v, want the %d spoiled columns only", engine, m.NonFiniteInputs, want)
				}
				if res.code == 0 {
					scores[engine] = scoresOf(t, m.Output.Path)
					html := string(mustRead(t, m.Validation.ReportHTML))
					if !strings.Contains(html, "Non-finite model inputs") || !strings.Contains(html, "email_open_rate") {
						t.Errorf("%s: the HTML report does not list the non-finite inputs", engine)
					}
				}
			}
			if a, b := results[first].code, results["onnxruntime"].code; a != b {
				t.Fatalf("%s engine exit %d, ONNX Runtime exit %d:\n%s\n%s", first, a, b, results[first], results["onnxruntime"])
			}
			if scores[first] == nil {
				return
			}
			for _, s := range spoiled {
				if math.IsNaN(s.value) && !tc.nan {
					continue
				}
				id := ids[s.column]
				a, b := scores[first][id], scores["onnxruntime"][id]
				if math.Abs(a-b) > 1e-6 || math.IsNaN(a) != math.IsNaN(b) {
					t.Errorf("%s = %v (customer %d): %s engine %v, ONNX Runtime %v", s.column, s.value, id, first, a, b)
				}
				t.Logf("%s = %v: %s %v, ONNX Runtime %v", s.column, s.value, first, a, b)
			}
		})
	}
}

// withEngineSet sets scoring.engine whether or not the config has one.
func withEngineSet(engine string) func(string) string {
	return func(s string) string {
		if strings.Contains(s, "  engine: ") {
			return strings.Replace(s, "engine: auto", "engine: "+engine, 1)
		}
		return withEngine(engine)(s)
	}
}
