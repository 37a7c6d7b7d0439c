package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// TestI21TreeFamiliesNative: tree families that used to go to ONNX
// Runtime (XGBoost multi:softprob with NaNs and SOFTMAX, a random forest
// of three classes as skl2onnx writes it, categorical BRANCH_EQ chains, a
// MIN regressor of two targets, an opset-5 TreeEnsemble) run through `batchscore run` with
// scoring.engine native, and publish the same table, bit for bit, as
// with scoring.engine onnxruntime; the manifest says which engine scored.
func TestI21TreeFamiliesNative(t *testing.T) {
	t.Parallel()
	families := filepath.Join(repoRoot(t), "testdata", "models", "families")
	source := familySnapshot(t, families)
	for _, tc := range []struct {
		model, score, label string
		// sigmoid: under onnxruntime a binary LOGISTIC classifier is
		// rewritten to a regressor + Sigmoid (MLAS's approximation), so
		// its probabilities may differ in the last bits; labels may not.
		sigmoid bool
	}{
		{"xgb_multi", "{output: probabilities, class: 2}", "{output: label}", false},
		{"sk_rf_multi", "{output: probabilities, class: 1}", "{output: label}", false},
		{"hand_modes", "{output: probabilities, class: 0}", "{output: label}", false},
		{"hand_eq_chain", "{output: probabilities, class: 1}", "{output: label}", true},
		{"hand_min", "{output: variable, class: 1}", "", false},
		{"v5_xgb_multi", "{output: variable, class: 2}", "", false}, // ai.onnx.ml opset 5
	} {
		t.Run(tc.model, func(t *testing.T) {
			t.Parallel()
			tables := map[string]arrow.Table{}
			for _, engine := range []string{"native", "onnxruntime"} {
				dir := t.TempDir()
				label := ""
				if tc.label != "" {
					label = "  label: " + tc.label + "\n"
				}
				job := filepath.Join(dir, "job.yaml")
				features := make([]string, 12)
				for i := range features {
					features[i] = fmt.Sprintf("f%d", i)
				}
				yaml := fmt.Sprintf("name: %s\nsource:\n  parquet: %q\nmodel:\n  path: %q\n  inputs:\n    X: [%s]\n  score: %s\n%soutput:\n  table: %q\n  keys: [row_id]\nscoring:\n  engine: %s\n  chunk_rows: 1000\n",
					tc.model, source, filepath.Join(families, tc.model+".onnx"), strings.Join(features, ", "), tc.score, label, filepath.Join(dir, "table"), engine)
				if err := os.WriteFile(job, []byte(yaml), 0o644); err != nil {
					t.Fatal(err)
				}
				res := bs(t, "run", job, "--date", date20, "--json")
				if res.code != 0 {
					t.Fatalf("%s: exit %d\n%s", engine, res.code, res)
				}
				m := parseManifest(t, []byte(res.stdout))
				t.Logf("%s: %s", engine, m.Model.Engine)
				if !strings.HasPrefix(m.Model.Engine, engine) || strings.Contains(m.Model.Engine, "declined") || strings.Contains(m.Model.Engine, "differed") {
					t.Errorf("scoring.engine %s: model.engine %q", engine, m.Model.Engine)
				}
				files, _ := filepath.Glob(filepath.Join(dir, "table", "current", date20, "*.parquet"))
				if len(files) != 1 {
					t.Fatalf("%s: published files %v", engine, files)
				}
				tables[engine] = readParquet(t, files[0])
			}
			native, ort := tables["native"], tables["onnxruntime"]
			if native.NumRows() != 3000 || ort.NumRows() != 3000 {
				t.Fatalf("rows: native %d, ONNX Runtime %d", native.NumRows(), ort.NumRows())
			}
			for _, col := range []string{"row_id", "score", "label"} {
				if col == "label" && tc.label == "" {
					continue
				}
				a, b := column(t, native, col), column(t, ort, col)
				if col == "score" && tc.sigmoid {
					if d := maxDiff(a, b); d > 1e-6 {
						t.Errorf("scores differ by up to %g between the engines", d)
					}
					continue
				}
				if !sameArrays(a, b) {
					t.Errorf("column %s differs between the engines", col)
				}
			}
		})
	}
}

// maxDiff is the largest difference between two float64 arrays.
func maxDiff(a, b arrow.Array) float64 {
	x, y := a.(*array.Float64), b.(*array.Float64)
	d := 0.0
	for i := range x.Len() {
		d = max(d, math.Abs(x.Value(i)-y.Value(i)))
	}
	return d
}

// sameArrays compares two arrays value by value, floats by their bits.
func sameArrays(a, b arrow.Array) bool {
	if a.Len() != b.Len() || a.DataType().ID() != b.DataType().ID() {
		return false
	}
	for i := range a.Len() {
		switch x := a.(type) {
		case *array.Float64:
			if math.Float64bits(x.Value(i)) != math.Float64bits(b.(*array.Float64).Value(i)) {
				return false
			}
		case *array.Float32:
			if math.Float32bits(x.Value(i)) != math.Float32bits(b.(*array.Float32).Value(i)) {
				return false
			}
		default:
			if a.ValueStr(i) != b.ValueStr(i) {
				return false
			}
		}
	}
	return true
}

// familySnapshot writes the family models' 3,000 committed input rows
// (NaNs included) as a snapshot for date20: row_id and float64 columns
// f0..f11, in three files of 1,000 rows.
func familySnapshot(t *testing.T, families string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(families, "inputs.f32"))
	if err != nil {
		t.Fatal(err)
	}
	const width, rows, per = 12, 3000, 1000
	if len(raw) != 4*width*rows {
		t.Fatalf("inputs.f32: %d bytes", len(raw))
	}
	fields := []arrow.Field{{Name: "row_id", Type: arrow.PrimitiveTypes.Int64}}
	for f := range width {
		fields = append(fields, arrow.Field{Name: fmt.Sprintf("f%d", f), Type: arrow.PrimitiveTypes.Float64, Nullable: true})
	}
	schema := arrow.NewSchema(fields, nil)
	dir := filepath.Join(t.TempDir(), "snapshot_date="+date20)
	for part := range rows / per {
		b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		for r := part * per; r < (part+1)*per; r++ {
			b.Field(0).(*array.Int64Builder).Append(int64(r))
			for f := range width {
				v := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*(r*width+f):]))
				b.Field(1 + f).(*array.Float64Builder).Append(float64(v))
			}
		}
		rec := b.NewRecord()
		writeParquet(t, filepath.Join(dir, fmt.Sprintf("part-%d.parquet", part)), rec)
		rec.Release()
		b.Release()
	}
	return filepath.Join(filepath.Dir(dir), "snapshot_date={{ .Date }}", "*.parquet")
}
