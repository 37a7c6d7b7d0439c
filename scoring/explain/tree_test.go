package explain

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/batchscore/batchscore/scoring/trees"
)

const dir = "../../testdata/models/explain"

const features = 12

func readF32(t *testing.T, name string) []float32 { return readF32In(t, dir, name) }

func readF32In(t *testing.T, dir, name string) []float32 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

func loadTree(t *testing.T, name string, class int) (*trees.Ensemble, *Tree) {
	return loadTreeIn(t, dir, name, class)
}

func loadTreeIn(t *testing.T, dir, name string, class int) (*trees.Ensemble, *Tree) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name+".onnx"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := trees.Load(b)
	if err != nil {
		t.Fatal(err)
	}
	covers, _, err := ReadCovers(filepath.Join(dir, name+".covers.json"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ClassMargin(e, class)
	if err != nil {
		t.Fatal(err)
	}
	x, err := NewTree(e, m, covers)
	if err != nil {
		t.Fatal(err)
	}
	return e, x
}

// TestTreeSHAPAgainstXGBoost compares every contribution and the bias with
// XGBoost 1.7's pred_contribs on 200 fresh rows (NaNs included), as
// testdata/models/build_explain.py recorded them.
func TestTreeSHAPAgainstXGBoost(t *testing.T) { compareXGBoost(t, dir) }

// TestTreeSHAPAgainstXGBoostNow trains the models again with the machine's
// XGBoost (Debian's python3-xgboost) into a temporary folder and compares
// with what it answers now, so that the recorded values cannot go stale.
func TestTreeSHAPAgainstXGBoostNow(t *testing.T) {
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import xgboost, sklearn, onnx").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s cannot import xgboost, sklearn and onnx (apt-get install python3-xgboost python3-sklearn python3-onnx): %v", py, err)
		}
		t.Skip("no XGBoost for /usr/bin/python3")
	}
	out := t.TempDir()
	if b, err := exec.Command(py, filepath.Join(dir, "..", "build_explain.py"), out).CombinedOutput(); err != nil {
		t.Fatalf("build_explain.py: %v\n%s", err, b)
	}
	compareXGBoost(t, out)
}

func compareXGBoost(t *testing.T, dir string) {
	x := readF32In(t, dir, "inputs.f32")
	rows := len(x) / features
	for _, tc := range []struct {
		name  string
		class int
	}{{"xgb_bin", 1}, {"xgb_multi", 1}, {"xgb_reg", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			e, ex := loadTreeIn(t, dir, tc.name, tc.class)
			want := readF32In(t, dir, tc.name+".contribs.f32")
			if len(want) != rows*(features+1) {
				t.Fatalf("%d expected values for %d rows", len(want), rows)
			}
			var s Scratch
			phi := make([]float64, ex.Inputs())
			worst, nan := 0.0, 0
			for r := range rows {
				row := x[r*features : (r+1)*features]
				if math.IsNaN(float64(row[0])) || math.IsNaN(float64(row[3])) || math.IsNaN(float64(row[7])) {
					nan++
				}
				bias, margin := ex.Explain(row, &s, phi)
				w := want[r*(features+1) : (r+1)*(features+1)]
				for j := range features {
					if d := math.Abs(phi[j] - float64(w[j])); d > 1e-5 {
						t.Fatalf("row %d feature %d: %v, XGBoost %v", r, j, phi[j], w[j])
					}
					worst = max(worst, math.Abs(phi[j]-float64(w[j])))
				}
				if d := math.Abs(bias - float64(w[features])); d > 1e-5 {
					t.Fatalf("row %d: bias %v, XGBoost %v", r, bias, w[features])
				}
				if a := Additivity(bias, phi, margin); a > 1e-9 {
					t.Fatalf("row %d: additivity error %g", r, a)
				}
				checkMargin(t, e, tc.class, row, margin)
			}
			if nan < 20 {
				t.Fatalf("only %d rows with a NaN", nan)
			}
			t.Logf("%d rows, %d with NaN, largest difference %.2g", rows, nan, worst)
		})
	}
}

// checkMargin compares the explainer's float64 margin with the engine's
// float32 raw score.
func checkMargin(t *testing.T, e *trees.Ensemble, class int, row []float32, margin float64) {
	t.Helper()
	cols := e.Columns()
	out := make([]float32, cols)
	var got float32
	if e.OneSum() {
		if err := e.Scores(row, len(row), out[:1]); err != nil {
			t.Fatal(err)
		}
		got = out[0]
	} else {
		got = rawColumns(e, row)[class]
	}
	if d := math.Abs(float64(got) - margin); d > 1e-5*(1+math.Abs(margin)) {
		t.Fatalf("margin %v, engine %v", margin, got)
	}
}

// rawColumns recomputes a general ensemble's per-column sums from its
// Forest (the engine's Predict writes post-transformed values).
func rawColumns(e *trees.Ensemble, row []float32) []float32 {
	f := e.Forest()
	out := make([]float32, e.Columns())
	for k, b := range e.BaseValues() {
		out[k] = b
	}
	for _, r := range f.Roots {
		i := r
		for !f.Leaf[i] {
			if f.GoesTrue(i, row[f.Feature[i]]) {
				i = f.True[i]
			} else {
				i = f.False[i]
			}
		}
		for _, w := range f.Weights[i] {
			out[w.Column] += w.Weight
		}
	}
	return out
}

// TestTreeSHAPBruteForce checks the scikit-learn GBM (covers from
// weighted_n_node_samples) against Shapley values computed by brute force
// over every subset with the path-dependent value function.
func TestTreeSHAPBruteForce(t *testing.T) {
	e, ex := loadTree(t, "sk_gbm", 1)
	if e.Depth != 3 {
		t.Fatalf("depth %d", e.Depth)
	}
	x := readF32(t, "inputs.f32")
	var s Scratch
	phi := make([]float64, ex.Inputs())
	for _, r := range []int{0, 1, 2, 5, 8} {
		row := append([]float32(nil), x[r*features:(r+1)*features]...)
		for j := range row {
			if row[j] != row[j] {
				row[j] = 0 // the model was trained on imputed rows
			}
		}
		bias, margin := ex.Explain(row, &s, phi)
		want := bruteShapley(ex, row)
		for j := range features {
			if math.Abs(phi[j]-want[j]) > 1e-9 {
				t.Fatalf("row %d feature %d: %v, brute force %v", r, j, phi[j], want[j])
			}
		}
		if a := Additivity(bias, phi, margin); a > 1e-9 {
			t.Fatalf("row %d: additivity %g", r, a)
		}
		checkMargin(t, e, 1, row, margin)
	}
}

// condExpect is the path-dependent value function: the tree's expected
// value given the features in S, others averaged by cover.
func condExpect(ex *Tree, i int, row []float32, in func(int32) bool) float64 {
	if ex.leaf[i] {
		return ex.val[i]
	}
	if in(ex.feat[i]) {
		if ex.goesTrue(i, row) {
			return condExpect(ex, int(ex.tru[i]), row, in)
		}
		return condExpect(ex, int(ex.fal[i]), row, in)
	}
	return ex.zt[i]*condExpect(ex, int(ex.tru[i]), row, in) + ex.zf[i]*condExpect(ex, int(ex.fal[i]), row, in)
}

func bruteShapley(ex *Tree, row []float32) []float64 {
	return shapley(features, func(set int) float64 {
		s := ex.offset
		for _, r := range ex.roots {
			s += condExpect(ex, int(r), row, func(f int32) bool { return set>>f&1 == 1 })
		}
		return s
	})
}

// shapley is the Shapley value of each of m features by brute force over
// every subset, for a value function v of a subset (a bit set).
func shapley(m int, v func(set int) float64) []float64 {
	vals := make([]float64, 1<<m)
	for set := range vals {
		vals[set] = v(set)
	}
	fact := func(n int) float64 {
		p := 1.0
		for k := 2; k <= n; k++ {
			p *= float64(k)
		}
		return p
	}
	phi := make([]float64, m)
	for j := range m {
		for set := range vals {
			if set>>j&1 == 1 {
				continue
			}
			size := 0
			for k := range m {
				size += set >> k & 1
			}
			w := fact(size) * fact(m-size-1) / fact(m)
			phi[j] += w * (vals[set|1<<j] - vals[set])
		}
	}
	return phi
}

// TestCoversRejected: covers that do not fit the model name tree and node.
func TestCoversRejected(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(dir, "sk_gbm.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := trees.Load(b)
	if err != nil {
		t.Fatal(err)
	}
	good, _, err := ReadCovers(filepath.Join(dir, "sk_gbm.covers.json"))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := ClassMargin(e, 1)
	edit := func(f func([]Cover) []Cover) []Cover { return f(append([]Cover(nil), good...)) }
	for _, tc := range []struct {
		name   string
		covers []Cover
		want   string
	}{
		{"missing", edit(func(c []Cover) []Cover { return c[1:] }), "tree 0 node 0 has no cover"},
		{"zero", edit(func(c []Cover) []Cover { c[3].Cover = 0; return c }), "tree 0 node 3 has cover 0"},
		{"negative", edit(func(c []Cover) []Cover { c[2].Cover = -1; return c }), "tree 0 node 2 has cover -1"},
		{"children", edit(func(c []Cover) []Cover { c[1].Cover *= 1.01; return c }), "tree 0 node 0: its children's covers sum"},
		{"extra", edit(func(c []Cover) []Cover { return append(c, Cover{Tree: 99, Node: 0, Cover: 1}) }), "tree 99 node 0 is not in the model"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewTree(e, m, tc.covers)
			if !errors.Is(err, ErrCovers) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrCovers with %q", err, tc.want)
			}
		})
	}
	if _, err := NewTree(e, m, good); err != nil {
		t.Fatal(err)
	}
	// Rounding within the slack passes.
	if _, err := NewTree(e, m, edit(func(c []Cover) []Cover { c[1].Cover *= 1 + 1e-7; return c })); err != nil {
		t.Fatal(err)
	}
}

// TestFastEqualsAlgorithm2: Fast TreeSHAP v2's precomputed leaves give
// Algorithm 2's contributions on every row of every model.
func TestFastEqualsAlgorithm2(t *testing.T) {
	x := readF32(t, "inputs.f32")
	for _, tc := range []struct {
		name  string
		class int
	}{{"xgb_bin", 1}, {"xgb_multi", 2}, {"xgb_reg", 0}, {"sk_gbm", 0}} {
		_, ex := loadTree(t, tc.name, tc.class)
		if ex.fast == nil {
			t.Fatalf("%s: no fast table", tc.name)
		}
		var s Scratch
		fast, slow := make([]float64, ex.Inputs()), make([]float64, ex.Inputs())
		for r := range len(x) / features {
			row := x[r*features : (r+1)*features]
			_, m1 := ex.Explain(row, &s, fast)
			_, m2 := ex.explainRecursive(row, &s, slow)
			if m1 != m2 {
				t.Fatalf("%s row %d: margin %v, Algorithm 2 %v", tc.name, r, m1, m2)
			}
			for j := range fast {
				if math.Abs(fast[j]-slow[j]) > 1e-12*(1+math.Abs(slow[j])) {
					t.Fatalf("%s row %d feature %d: %v, Algorithm 2 %v", tc.name, r, j, fast[j], slow[j])
				}
			}
		}
	}
}
