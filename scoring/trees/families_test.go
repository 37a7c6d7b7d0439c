package trees

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The tree families users export (testdata/models/build_tree_families.py):
// scikit-learn GBM, RandomForest and ExtraTrees, XGBoost binary, softprob
// and regression models exported as skl2onnx and onnxmltools write them,
// and hand-built ones for the branch modes, BRANCH_EQ chains, MIN and
// MAX. Each must compile, equal ONNX Runtime to the bit on every row of
// the committed inputs, and equal its framework's own predictions within
// float32 rounding.

// familyLayouts is part of the layout each family model compiles to.
var familyLayouts = map[string]string{
	"xgb_binary": "x <= t, NaN tracked", "xgb_multi": "x <= t, NaN tracked", "xgb_reg": "x <= t, NaN tracked",
	"sk_rf_multi": "all columns in one walk", "sk_et_multi": "all columns in one walk",
	"sk_gbm_binary": "x <= t", "sk_gbm_multi": "x <= t", "sk_rf_binary": "x <= t", "sk_rf_reg": "x <= t",
	"hand_min": "node walk", "hand_max": "node walk",
}

type familyMeta struct {
	Rows, Features int
	Models         map[string]struct {
		Kind, Framework, Expected string
		Columns                   int
		Labels                    []int64
	}
}

func readF32(t testing.TB, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

func families(t *testing.T) (string, familyMeta, []float32) {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "testdata", "models", "families")
	b, err := os.ReadFile(filepath.Join(dir, "families.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m familyMeta
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	x := readF32(t, filepath.Join(dir, "inputs.f32"))
	if len(x) != m.Rows*m.Features || len(m.Models) < 15 {
		t.Fatalf("%d inputs for %d rows of %d; %d models", len(x), m.Rows, m.Features, len(m.Models))
	}
	return dir, m, x
}

// frameworkTolerance is how far a native output may be from the
// framework's, relative to max(1, |value|): scikit-learn sums its trees
// in float64 and XGBoost keeps its margin its own way, where ONNX Runtime
// (and this package) add float32 weights in float32. Each of the at most
// 45 additions of a model here, and the logistic or softmax after them,
// may round by half a float32 step (2^-24 relative), so 46 × 2^-24 ≈
// 2.7e-6 bounds the difference (measured: at most 1.3e-6).
const frameworkTolerance = 4e-6

// TestFamiliesMatchORTAndFrameworks: every committed family model
// compiles natively, equals ONNX Runtime bit for bit on all 3,000 rows
// (NaNs included), and equals its framework's predictions within
// frameworkTolerance on the rows the framework scored.
func TestFamiliesMatchORTAndFrameworks(t *testing.T) {
	initORT(t)
	dir, meta, x := families(t)
	names := make([]string, 0, len(meta.Models))
	for n := range meta.Models {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		m := meta.Models[name]
		t.Run(name, func(t *testing.T) {
			model, err := os.ReadFile(filepath.Join(dir, name+".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			e, err := Load(model)
			if err != nil {
				t.Fatalf("not compiled: %v", err)
			}
			if e.Columns() != m.Columns || m.Labels != nil && !slices.Equal(e.ClassLabels, m.Labels) {
				t.Errorf("compiled %v: %d columns, labels %v; want %d, %v", e, e.Columns(), e.ClassLabels, m.Columns, m.Labels)
			}
			t.Log(e)
			// The layouts the speed work chose for them (BenchmarkFamilies).
			if want := familyLayouts[name]; !strings.Contains(e.Layout, want) {
				t.Errorf("layout %q, want %q", e.Layout, want)
			}
			if d := compareORT(t, model, x, meta.Rows, meta.Features); !d.zero() {
				t.Errorf("against ONNX Runtime: %v", d)
			}
			if m.Expected == "" {
				return
			}
			want := readF32(t, filepath.Join(dir, m.Expected))
			got := make([]float32, meta.Rows*m.Columns)
			var label []int64
			if m.Kind == "classifier" {
				label = make([]int64, meta.Rows)
			}
			if err := e.Predict(x, meta.Features, label, got); err != nil {
				t.Fatal(err)
			}
			compared, worst, labels := 0, 0.0, 0
			for r := range meta.Rows {
				w := want[r*m.Columns : (r+1)*m.Columns]
				if w[0] != w[0] {
					continue // the framework could not score this row (NaN input)
				}
				compared++
				for k, v := range got[r*m.Columns : (r+1)*m.Columns] {
					d := math.Abs(float64(v)-float64(w[k])) / max(1, math.Abs(float64(w[k])))
					worst = max(worst, d)
				}
				if label != nil && label[r] != frameworkLabel(w, m.Labels) {
					labels++
				}
			}
			t.Logf("%d rows compared with %s: largest difference %.3g; %d labels differ where the top two are within tolerance", compared, m.Framework, worst, labels)
			if compared < meta.Rows/2 || worst > frameworkTolerance {
				t.Errorf("%d rows compared with %s, largest difference %.3g (tolerance %g)", compared, m.Framework, worst, frameworkTolerance)
			}
		})
	}
}

// frameworkLabel is the framework's label from its probabilities: the
// first highest class, -1 when the top two are within tolerance (either
// may win after rounding).
func frameworkLabel(p []float32, labels []int64) int64 {
	best := 0
	for k := range p {
		if p[k] > p[best] {
			best = k
		}
	}
	for k := range p {
		if k != best && math.Abs(float64(p[k]-p[best])) <= frameworkTolerance {
			return -1
		}
	}
	return labels[best]
}
