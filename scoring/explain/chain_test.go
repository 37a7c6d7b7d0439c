package explain

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/batchscore/batchscore/internal/testkit/onnxtest"
	"github.com/batchscore/batchscore/scoring/trees"
)

// The categorical-chain model of testdata/models/build_chain.py: 6
// features, LightGBM's set splits as onnxmltools unrolls them into chains
// of BRANCH_EQ nodes sharing their true child.
const chainFeatures = 6

// setNode is a node of build_chain.py's trees of set splits, the chains'
// model written as plain trees (no node shared).
type setNode struct {
	Kind        string    `json:"kind"`
	Feature     int       `json:"feature"`
	Values      []float64 `json:"values"`
	Threshold   float64   `json:"threshold"`
	NaN         bool      `json:"nan"`
	True, False int
	Value       float64 `json:"value"`
	Cover       float64 `json:"cover"`
}

type setForest struct {
	Base    float64     `json:"base"`
	Trees   [][]setNode `json:"trees"`
	Predict []float64   `json:"predict"`
}

func (n setNode) goesTrue(row []float32) bool {
	v := row[n.Feature]
	switch {
	case v != v:
		return n.NaN
	case n.Kind == "set":
		for _, c := range n.Values {
			if float32(c) == v {
				return true
			}
		}
		return false
	case n.Kind == "leq":
		return v <= float32(n.Threshold)
	}
	return v < float32(n.Threshold)
}

// expect is the path-dependent value function on a tree of set splits:
// the features in the set follow the row, the others are averaged by
// cover.
func (sf setForest) expect(tree []setNode, i int, row []float32, set int) float64 {
	n := tree[i]
	switch {
	case n.Kind == "leaf":
		return n.Value
	case set>>n.Feature&1 == 1 && n.goesTrue(row):
		return sf.expect(tree, n.True, row, set)
	case set>>n.Feature&1 == 1:
		return sf.expect(tree, n.False, row, set)
	}
	return (tree[n.True].Cover*sf.expect(tree, n.True, row, set) + tree[n.False].Cover*sf.expect(tree, n.False, row, set)) / n.Cover
}

func loadChain(t *testing.T) (*Tree, setForest, []float32) {
	t.Helper()
	_, ex := loadTree(t, "chain", 0)
	var sf setForest
	b, err := os.ReadFile(filepath.Join(dir, "chain.settree.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sf); err != nil {
		t.Fatal(err)
	}
	return ex, sf, readF32(t, "chain_inputs.f32")
}

// TestChainExplained: a model whose categorical splits are BRANCH_EQ
// chains sharing their true child is explained exactly. On every fresh row
// (NaN in the categorical features included, and categories the training
// data never had): the margin is ONNX Runtime's output to float32
// precision, bias + Σ contributions is the margin, and every contribution
// and the bias equal the Shapley values computed by brute force with the
// path-dependent value function on the same trees written as plain trees
// of set splits (build_chain.py's, covers counted on the training rows).
// Fast TreeSHAP and Algorithm 2 agree.
func TestChainExplained(t *testing.T) {
	ex, sf, x := loadChain(t)
	if ex.fast == nil {
		t.Fatal("no fast table")
	}
	rows := len(x) / chainFeatures
	y := ortRegressor(t, filepath.Join(dir, "chain.onnx"), x, rows, chainFeatures)
	var s Scratch
	phi, slow := make([]float64, ex.Inputs()), make([]float64, ex.Inputs())
	nan := 0
	for r := range rows {
		row := x[r*chainFeatures : (r+1)*chainFeatures]
		if row[0] != row[0] || row[3] != row[3] {
			nan++
		}
		bias, margin := ex.Explain(row, &s, phi)
		if d := math.Abs(margin - float64(y[r])); d > 1e-6*(1+math.Abs(margin)) {
			t.Fatalf("row %d %v: margin %v, ONNX Runtime %v", r, row, margin, y[r])
		}
		if math.Abs(sf.Predict[r]-float64(y[r])) > 1e-6 {
			t.Fatalf("row %d: build_chain.py's trees give %v, ONNX Runtime %v", r, sf.Predict[r], y[r])
		}
		if a := Additivity(bias, phi, margin); a > 1e-12 {
			t.Fatalf("row %d: additivity error %g", r, a)
		}
		want := shapley(chainFeatures, func(set int) float64 {
			v := sf.Base
			for _, tree := range sf.Trees {
				v += sf.expect(tree, 0, row, set)
			}
			return v
		})
		for j := range want {
			if math.Abs(phi[j]-want[j]) > 1e-12 {
				t.Fatalf("row %d %v feature %d: %v, brute force %v", r, row, j, phi[j], want[j])
			}
		}
		if r == 0 {
			if v0 := sf.Base + sumExpect(sf, row); math.Abs(bias-v0) > 1e-12 {
				t.Fatalf("bias %v, the value of no feature %v", bias, v0)
			}
		}
		if _, m2 := ex.explainRecursive(row, &s, slow); m2 != margin {
			t.Fatalf("row %d: margin %v, Algorithm 2 %v", r, margin, m2)
		}
		for j := range slow {
			if math.Abs(phi[j]-slow[j]) > 1e-12 {
				t.Fatalf("row %d feature %d: %v, Algorithm 2 %v", r, j, phi[j], slow[j])
			}
		}
	}
	if nan < 40 {
		t.Fatalf("only %d rows with a NaN category", nan)
	}
}

func sumExpect(sf setForest, row []float32) float64 {
	v := 0.0
	for _, tree := range sf.Trees {
		v += sf.expect(tree, 0, row, 0)
	}
	return v
}

// TestChainCovers: `batchscore covers`' counter, run over the training
// rows, gives the chain model exactly the covers build_chain.py counted on
// its plain trees (a chain's head the split's rows, its true child the
// rows of every node of the chain), and none for the chains' other nodes.
func TestChainCovers(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(dir, "chain.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := trees.Load(b)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCoverCounter(e)
	if err != nil {
		t.Fatal(err)
	}
	x := readF32(t, "chain_train.f32")
	for r := range len(x) / chainFeatures {
		c.Add(x[r*chainFeatures : (r+1)*chainFeatures])
	}
	got, unreached := c.Covers()
	want, _, err := ReadCovers(filepath.Join(dir, "chain.covers.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(unreached) > 0 || len(got) != len(want) || len(got) >= len(e.Forest().Leaf) {
		t.Fatalf("%d covers (%d unreached) of %d nodes, build_chain.py %d", len(got), len(unreached), len(e.Forest().Leaf), len(want))
	}
	for k := range got {
		if got[k] != want[k] {
			t.Fatalf("cover %+v, build_chain.py %+v", got[k], want[k])
		}
	}
}

// TestChainRefused: a node shared by splits on two features is no chain:
// the explainer and the covers counter refuse it naming tree and node;
// covers of a chain's head are checked against its true child's and the
// chain's false child's.
func TestChainRefused(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(dir, "chain_bad.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := trees.Load(b)
	if err != nil {
		t.Fatal(err)
	}
	const want = "node 1 of tree 0 is the true child of node 0 of tree 0 (feature 0) and node 2 of tree 0 (feature 1)"
	if _, err := NewTree(e, Margin{Sign: 1}, nil); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), want) {
		t.Fatalf("NewTree: %v", err)
	}
	if _, err := NewCoverCounter(e); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), want) {
		t.Fatalf("NewCoverCounter: %v", err)
	}

	ce, _ := loadTree(t, "chain", 0)
	good, _, err := ReadCovers(filepath.Join(dir, "chain.covers.json"))
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]Cover(nil), good...)
	for k := range bad {
		if bad[k].Tree == 0 && bad[k].Node == 6 { // the false child of tree 0's first chain
			bad[k].Cover += 10
		}
	}
	if _, err := NewTree(ce, Margin{Sign: 1}, bad); !errors.Is(err, ErrCovers) || !strings.Contains(err.Error(), "tree 0 node 0: its children's covers sum to 1010") {
		t.Fatalf("NewTree with covers over the chain's: %v", err)
	}
}

var (
	ortOnce sync.Once
	ortErr  error
)

// ortRegressor runs a one-output float model through ONNX Runtime (one
// thread, as batchscore runs it) and returns its output.
func ortRegressor(t *testing.T, path string, x []float32, rows, width int) []float32 {
	t.Helper()
	lib := onnxtest.Lib(t)
	ortOnce.Do(func() {
		ort.SetSharedLibraryPath(lib)
		ortErr = ort.InitializeEnvironment(ort.WithLogLevelError())
	})
	if ortErr != nil {
		t.Fatalf("ONNX Runtime %s: %v", lib, ortErr)
	}
	model, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer so.Destroy()
	if err := so.SetIntraOpNumThreads(1); err != nil {
		t.Fatal(err)
	}
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(model, []string{"X"}, []string{"variable"}, so)
	if err != nil {
		t.Fatalf("ONNX Runtime: %v", err)
	}
	defer s.Destroy()
	in, err := ort.NewTensor(ort.NewShape(int64(rows), int64(width)), x)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Destroy()
	out := []ort.Value{nil}
	if err := s.Run([]ort.Value{in}, out); err != nil {
		t.Fatalf("ONNX Runtime run: %v", err)
	}
	defer out[0].Destroy()
	return append([]float32(nil), out[0].(*ort.Tensor[float32]).GetData()...)
}
