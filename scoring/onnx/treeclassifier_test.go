package onnx_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/batchscore/batchscore/internal/testkit/onnxtest"
	"github.com/batchscore/batchscore/io/parquetio"
	"github.com/batchscore/batchscore/scoring"
	"github.com/batchscore/batchscore/scoring/onnx"
	"github.com/batchscore/batchscore/scoring/onnx/rewrite"
	"github.com/batchscore/batchscore/scoring/onnxwire"
)

// TestTreeRewriteScoresTheSame scores the 6,000 committed sample rows with
// the GBM models twice, through ONNX Runtime's TreeEnsembleClassifier and
// through the rewritten graph: labels must be identical on every row and
// both probability columns within 1e-6.
func TestTreeRewriteScoresTheSame(t *testing.T) {
	root := onnxtest.Root(t)
	if err := onnx.Init(onnxtest.Lib(t)); err != nil {
		t.Fatal(err)
	}
	models := filepath.Join(root, "testdata", "models")
	tree := "tree classifier TreeEnsembleClassifier (200 trees) -> TreeEnsembleRegressor + Sigmoid: " +
		"probabilities float[N,2] = [1-p, p], label int64[N] = 1 if score > 0 else 0"
	cases := []struct {
		model, input  string
		score, label  string
		keep          onnx.Options // the session scoring the file as it is
		want, wantOld []string     // Rewrites() of the rewritten and of the kept session
	}{
		{"churn_gbm.onnx", "features", "probabilities", "label",
			onnx.KeepTrees(onnx.Options{IntraOpThreads: 1}), []string{tree}, nil},
		{"churn_gbm_zipmap.onnx", "float_input", "output_probability", "output_label",
			onnx.KeepTrees(onnx.Options{IntraOpThreads: 1}),
			[]string{"zipmap output_probability -> tensor float[N,2] (from probabilities)", tree},
			[]string{"zipmap output_probability -> tensor float[N,2] (from probabilities)"}},
	}
	for _, tc := range cases {
		t.Run(tc.model, func(t *testing.T) {
			model, err := onnx.Load(filepath.Join(models, tc.model))
			if err != nil {
				t.Fatal(err)
			}
			sig, md, err := model.Inspect()
			if err != nil {
				t.Fatal(err)
			}
			features := strings.Split(md.Custom["features"], ",")
			binding, err := scoring.Bind(sig, scoring.Wiring{
				Inputs: map[string][]string{tc.input: features},
				Score:  scoring.OutputRef{Output: tc.score, Class: class(1)},
				Label:  &scoring.OutputRef{Output: tc.label},
			})
			if err != nil {
				t.Fatal(err)
			}
			old, err := model.Open(binding, tc.keep)
			if err != nil {
				t.Fatal(err)
			}
			defer old.Close()
			rewritten, err := model.Open(binding, onnx.Options{IntraOpThreads: 1, Optimization: "all"})
			if err != nil {
				t.Fatal(err)
			}
			defer rewritten.Close()
			if r := old.Rewrites(); !slices.Equal(r, tc.wantOld) {
				t.Errorf("kept session rewrites %q, want %q", r, tc.wantOld)
			}
			if r := rewritten.Rewrites(); !slices.Equal(r, tc.want) {
				t.Errorf("rewrites %q,\nwant %q", r, tc.want)
			}
			rows, worst, positives := 0, 0.0, 0
			for _, date := range []string{"2026-11-18", "2026-11-19", "2026-11-20"} {
				in := sampleTensor(t, filepath.Join(root, "testdata", "customers", "snapshot_date="+date, "*.parquet"), features)
				n := int(in.Shape[0])
				a, err := old.Run(context.Background(), []scoring.Tensor{in})
				if err != nil {
					t.Fatal(err)
				}
				b, err := rewritten.Run(context.Background(), []scoring.Tensor{in})
				if err != nil {
					t.Fatal(err)
				}
				// binding.Outputs are score then label.
				pa, pb, la, lb := a[0].Float32, b[0].Float32, a[1].Int64, b[1].Int64
				if len(pa) != 2*n || len(pb) != 2*n || len(la) != n || len(lb) != n {
					t.Fatalf("%s: %d rows: probabilities %d and %d values, labels %d and %d", date, n, len(pa), len(pb), len(la), len(lb))
				}
				if !slices.Equal(a[0].ClassKeys, b[0].ClassKeys) {
					t.Errorf("%s: class keys %v, rewritten %v", date, a[0].ClassKeys, b[0].ClassKeys)
				}
				for i := range n {
					if la[i] != lb[i] {
						t.Errorf("%s row %d: label %d, rewritten %d (p1 %v, %v)", date, i, la[i], lb[i], pa[2*i+1], pb[2*i+1])
					}
					positives += int(lb[i])
				}
				for i := range pa {
					worst = math.Max(worst, math.Abs(float64(pa[i])-float64(pb[i])))
				}
				rows += n
			}
			if rows != 6000 {
				t.Errorf("scored %d rows, want 6000", rows)
			}
			if worst > 1e-6 {
				t.Errorf("max |rewritten - classifier| = %g > 1e-6", worst)
			}
			t.Logf("%d rows (%d labelled 1): labels identical, max |probability difference| = %.3g", rows, positives, worst)
		})
	}
}

// sampleTensor reads every row of a snapshot into a float32 [N,F] tensor
// of the columns, row-major, as the scoring pool fills a chunk.
func sampleTensor(t *testing.T, glob string, cols []string) scoring.Tensor {
	t.Helper()
	src, err := parquetio.Open(glob)
	if err != nil {
		t.Fatal(err)
	}
	var vals []float32
	err = src.Read(context.Background(), cols, 1<<16, memory.NewGoAllocator(), func(rec arrow.Record, _ string, _ int64) error {
		defer rec.Release()
		n, w := int(rec.NumRows()), len(cols)
		base := len(vals)
		vals = append(vals, make([]float32, n*w)...)
		for j := range cols {
			for i := range n {
				var v float32
				switch a := rec.Column(j).(type) {
				case *array.Float64:
					v = float32(a.Value(i))
				case *array.Int64:
					v = float32(a.Value(i))
				case *array.Int32:
					v = float32(a.Value(i))
				case *array.Boolean:
					if a.Value(i) {
						v = 1
					}
				default:
					t.Fatalf("column %s: type %s", cols[j], a.DataType())
				}
				vals[base+i*w+j] = v
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return scoring.Tensor{Shape: []int64{int64(len(vals) / len(cols)), int64(len(cols))}, Float32: vals}
}

// treeSpec describes a small hand-made TreeEnsembleClassifier model:
// X float[N,2], two stumps (feature 0 <= 0.5, feature 1 <= 0.25), leaf
// weights given per tree as [true leaf, false leaf].
type treeSpec struct {
	labels        []int64
	stringLabels  bool
	post          string
	classIDs      []int64 // one per leaf, 4 leaves
	weights       []float32
	base          []float32
	input         uint64 // elem type of X
	defaultOpset  uint64
	duplicateLeaf bool // weight leaf 1 of tree 0 twice
	extraAttr     bool // an attribute the rewrite does not know
	castInput     bool // X is double and Cast to float before the trees
	castLabel     bool // a graph output label_f: the label Cast to float
}

func binaryTree() treeSpec {
	return treeSpec{labels: []int64{3, 7}, post: "LOGISTIC", classIDs: []int64{0, 0, 0, 0},
		weights: []float32{-0.75, 0.5, 0.25, -0.5}, base: []float32{0.25}, input: 1, defaultOpset: 15}
}

func pbStr(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func pbMsg(b []byte, num protowire.Number, m []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

func pbVarint(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func intsAttr(name string, v ...int64) []byte {
	a := pbStr(nil, 1, name)
	for _, x := range v {
		a = pbVarint(a, 8, uint64(x))
	}
	return pbVarint(a, 20, 7)
}

func floatsAttr(name string, v ...float32) []byte {
	a := pbStr(nil, 1, name)
	var packed []byte
	for _, x := range v {
		packed = binary.LittleEndian.AppendUint32(packed, math.Float32bits(x))
	}
	a = pbMsg(a, 7, packed)
	return pbVarint(a, 20, 6)
}

func stringsAttr(name string, v ...string) []byte {
	a := pbStr(nil, 1, name)
	for _, s := range v {
		a = pbStr(a, 9, s)
	}
	return pbVarint(a, 20, 8)
}

func stringAttr(name, v string) []byte {
	return pbVarint(pbStr(pbStr(nil, 1, name), 4, v), 20, 3)
}

func tensorType(elem uint64, dims ...int64) []byte {
	var shape []byte
	for _, d := range dims {
		if d < 0 {
			shape = pbMsg(shape, 1, pbStr(nil, 2, "N"))
		} else {
			shape = pbMsg(shape, 1, pbVarint(nil, 1, uint64(d)))
		}
	}
	return pbMsg(nil, 1, pbMsg(pbVarint(nil, 1, elem), 2, shape))
}

func (s treeSpec) model() []byte {
	var attrs [][]byte
	// Tree 0: node 0 splits on feature 0, leaves 1 and 2; tree 1 the same on feature 1.
	attrs = append(attrs,
		intsAttr("nodes_treeids", 0, 0, 0, 1, 1, 1),
		intsAttr("nodes_nodeids", 0, 1, 2, 0, 1, 2),
		intsAttr("nodes_featureids", 0, 0, 0, 1, 0, 0),
		stringsAttr("nodes_modes", "BRANCH_LEQ", "LEAF", "LEAF", "BRANCH_LEQ", "LEAF", "LEAF"),
		floatsAttr("nodes_values", 0.5, 0, 0, 0.25, 0, 0),
		intsAttr("nodes_truenodeids", 1, 0, 0, 1, 0, 0),
		intsAttr("nodes_falsenodeids", 2, 0, 0, 2, 0, 0),
		intsAttr("nodes_missing_value_tracks_true", 0, 0, 0, 1, 0, 0),
	)
	trees, nodes, ids, weights := []int64{0, 0, 1, 1}, []int64{1, 2, 1, 2}, s.classIDs, s.weights
	if s.duplicateLeaf {
		trees, nodes = append(trees, 0), append(nodes, 1)
		ids, weights = append(slices.Clone(ids), 0), append(slices.Clone(weights), 0.125)
	}
	attrs = append(attrs,
		intsAttr("class_treeids", trees...),
		intsAttr("class_nodeids", nodes...),
		intsAttr("class_ids", ids...),
		floatsAttr("class_weights", weights...),
		stringAttr("post_transform", s.post),
	)
	if s.stringLabels {
		attrs = append(attrs, stringsAttr("classlabels_strings", "no", "yes"))
	} else {
		attrs = append(attrs, intsAttr("classlabels_int64s", s.labels...))
	}
	if s.base != nil {
		attrs = append(attrs, floatsAttr("base_values", s.base...))
	}
	if s.extraAttr {
		attrs = append(attrs, intsAttr("nodes_something_new", 1))
	}
	x := "X"
	var graph []byte
	if s.castInput {
		x = "X_float"
		cast := pbStr(pbStr(pbStr(pbStr(nil, 1, "X"), 2, x), 3, "cast"), 4, "Cast")
		cast = pbMsg(cast, 5, pbVarint(pbVarint(pbStr(nil, 1, "to"), 3, 1), 20, 2))
		graph = pbMsg(graph, 1, cast)
	}
	node := pbStr(pbStr(pbStr(nil, 1, x), 2, "label"), 2, "probabilities")
	node = pbStr(pbStr(node, 3, "trees"), 4, "TreeEnsembleClassifier")
	for _, a := range attrs {
		node = pbMsg(node, 5, a)
	}
	node = pbStr(node, 7, "ai.onnx.ml")
	graph = pbMsg(graph, 1, node)
	if s.castLabel {
		cast := pbStr(pbStr(pbStr(pbStr(nil, 1, "label"), 2, "label_f"), 3, "cast_label"), 4, "Cast")
		cast = pbMsg(cast, 5, pbVarint(pbVarint(pbStr(nil, 1, "to"), 3, 1), 20, 2))
		graph = pbMsg(graph, 1, cast)
	}
	graph = pbStr(graph, 2, "trees_only")
	graph = pbMsg(graph, 11, pbMsg(pbStr(nil, 1, "X"), 2, tensorType(s.input, -1, 2)))
	labelType := uint64(7)
	if s.stringLabels {
		labelType = 8
	}
	graph = pbMsg(graph, 12, pbMsg(pbStr(nil, 1, "label"), 2, tensorType(labelType, -1)))
	graph = pbMsg(graph, 12, pbMsg(pbStr(nil, 1, "probabilities"), 2, tensorType(1, -1, 2)))
	if s.castLabel {
		graph = pbMsg(graph, 12, pbMsg(pbStr(nil, 1, "label_f"), 2, tensorType(1, -1)))
	}

	var model []byte
	model = pbVarint(model, 1, 8) // ir_version
	model = pbMsg(model, 8, pbVarint(pbStr(nil, 1, ""), 2, s.defaultOpset))
	model = pbMsg(model, 8, pbVarint(pbStr(nil, 1, "ai.onnx.ml"), 2, 3))
	model = pbStr(model, 2, "batchscore test")
	return pbMsg(model, 7, graph)
}

// TestTreeRewriteHandMade runs a small binary classifier with labels 3 and
// 7 both ways on rows that land on every leaf, on the thresholds, on NaN
// (tracked as missing in one tree) and on a raw score of exactly 0.
func TestTreeRewriteHandMade(t *testing.T) {
	if err := onnx.Init(onnxtest.Lib(t)); err != nil {
		t.Fatal(err)
	}
	nan := float32(math.NaN())
	// Scores: base 0.25 + tree 0 (x0 <= 0.5: -0.75, else 0.5) + tree 1 (x1 <= 0.25 or NaN: 0.25, else -0.5).
	in := scoring.Tensor{Shape: []int64{7, 2}, Float32: []float32{
		0, 0, // -0.25
		0.5, 0.25, // on both thresholds: -0.25
		0.6, 0, // 1.0
		0.6, 1, // 0.25
		0, 1, // -1.0
		nan, nan, // x0 NaN goes false (0.5), x1 NaN true (0.25): 1.0
		0.6, 0.3, // 0.25 + 0.5 - 0.5 = 0.25
	}}
	wantLabels := []int64{3, 3, 7, 7, 3, 7, 7}
	spec0 := binaryTree()
	zero := binaryTree() // a raw score of exactly 0 must give the negative label
	zero.base = []float32{0.5}
	zeroIn := scoring.Tensor{Shape: []int64{1, 2}, Float32: []float32{0, 0}} // 0.5 - 0.75 + 0.25 = 0
	// Without a base value the classifier adds nothing; rows 3 and 6 of in
	// then score exactly 0.
	noBase := binaryTree()
	noBase.base = nil
	cast := binaryTree()
	cast.castInput, cast.input = true, 11
	for _, tc := range []struct {
		name   string
		spec   treeSpec
		in     scoring.Tensor
		labels []int64
	}{
		{"labels 3 and 7", spec0, in, wantLabels},
		{"score exactly 0", zero, zeroIn, []int64{3}},
		{"no base value", noBase, in, []int64{3, 3, 7, 3, 3, 7, 3}},
		{"input cast from double", cast, scoring.Tensor{Shape: in.Shape, Float64: widen(in.Float32)}, wantLabels},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.spec.model()
			out, nodes, _, err := rewriteTrees(data)
			if err != nil || !slices.Equal(nodes, []string{"trees"}) {
				t.Fatalf("rewrite: %v %v", nodes, err)
			}
			if again, nodes, _, err := rewriteTrees(out); err != nil || nodes != nil || !bytes.Equal(again, out) {
				t.Errorf("rewriting twice: %v %v", nodes, err)
			}
			model := onnx.ModelFromBytes(data)
			sig, _, err := model.Inspect()
			if err != nil {
				t.Fatal(err)
			}
			b, err := scoring.Bind(sig, scoring.Wiring{Inputs: map[string][]string{"X": {"a", "b"}},
				Score: scoring.OutputRef{Output: "probabilities", Class: class(1)}, Label: &scoring.OutputRef{Output: "label"}})
			if err != nil {
				t.Fatal(err)
			}
			var outs [2][]scoring.Output
			for i, opts := range []onnx.Options{onnx.KeepTrees(onnx.Options{IntraOpThreads: 1}), {IntraOpThreads: 1}} {
				s, err := model.Open(b, opts)
				if err != nil {
					t.Fatal(err)
				}
				if got := len(s.Rewrites()); got != i {
					t.Errorf("session %d: rewrites %q", i, s.Rewrites())
				}
				o, err := s.Run(context.Background(), []scoring.Tensor{tc.in})
				s.Close()
				if err != nil {
					t.Fatal(err)
				}
				outs[i] = o
			}
			if !slices.Equal(outs[0][1].Int64, tc.labels) || !slices.Equal(outs[1][1].Int64, tc.labels) {
				t.Errorf("labels: classifier %v, rewritten %v, want %v", outs[0][1].Int64, outs[1][1].Int64, tc.labels)
			}
			for i, p := range outs[0][0].Float32 {
				if q := outs[1][0].Float32[i]; math.Abs(float64(p-q)) > 1e-6 {
					t.Errorf("probability %d: classifier %v, rewritten %v", i, p, q)
				}
			}
		})
	}
}

func widen(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// TestTreeRewriteLeavesOthersAlone: classifiers whose ONNX Runtime
// semantics the rewrite does not reproduce, and models without one, come
// back byte for byte.
func TestTreeRewriteLeavesOthersAlone(t *testing.T) {
	models := filepath.Join(onnxtest.Root(t), "testdata", "models")
	with := func(change func(*treeSpec)) []byte {
		s := binaryTree()
		change(&s)
		return s.model()
	}
	cases := []struct {
		name string
		data []byte
	}{
		{"churn_logreg.onnx", read(t, filepath.Join(models, "churn_logreg.onnx"))},
		{"ltv_linear.onnx", read(t, filepath.Join(models, "ltv_linear.onnx"))},
		{"ZipMap only", zipMapModel([]int64{0, 1}, false, true)},
		{"three classes", with(func(s *treeSpec) { s.labels = []int64{0, 1, 2} })},
		{"one class", with(func(s *treeSpec) { s.labels = []int64{1} })},
		{"string labels", with(func(s *treeSpec) { s.stringLabels = true })},
		{"post_transform NONE", with(func(s *treeSpec) { s.post = "NONE" })},
		{"post_transform SOFTMAX", with(func(s *treeSpec) { s.post = "SOFTMAX" })},
		{"post_transform PROBIT", with(func(s *treeSpec) { s.post = "PROBIT" })},
		{"weights in class 1", with(func(s *treeSpec) { s.classIDs = []int64{1, 1, 1, 1} })},
		{"weights in both classes", with(func(s *treeSpec) { s.classIDs = []int64{0, 1, 0, 1} })},
		{"weights all positive", with(func(s *treeSpec) { s.weights = []float32{0.75, 0.5, 0.25, 0} })},
		{"two base values", with(func(s *treeSpec) { s.base = []float32{-0.25, 0.25} })},
		{"double input", with(func(s *treeSpec) { s.input = 11 })},
		{"default opset 8", with(func(s *treeSpec) { s.defaultOpset = 8 })},
		{"a leaf weighted twice", with(func(s *treeSpec) { s.duplicateLeaf = true })},
		{"an unknown attribute", with(func(s *treeSpec) { s.extraAttr = true })},
		{"empty", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			orig := bytes.Clone(tc.data)
			out, nodes, _, err := rewriteTrees(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if nodes != nil || !bytes.Equal(out, orig) || !bytes.Equal(tc.data, orig) {
				t.Errorf("rewrote %v: %d bytes in, %d out", nodes, len(orig), len(out))
			}
		})
	}
	// No base value at all is the classifier's 0: rewritten.
	s := binaryTree()
	s.base = nil
	if _, nodes, _, err := rewriteTrees(s.model()); err != nil || len(nodes) != 1 {
		t.Errorf("no base value: rewrote %v, %v", nodes, err)
	}
}

func TestTreeRewriteMalformed(t *testing.T) {
	gbm := read(t, filepath.Join(onnxtest.Root(t), "testdata", "models", "churn_gbm.onnx"))
	for name, data := range map[string][]byte{
		"truncated":  gbm[:len(gbm)/2],
		"one byte":   {0x0a},
		"bad varint": {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"text":       []byte("this is not a model\n"),
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, _, err := rewriteTrees(data); !errors.Is(err, onnxwire.ErrMalformed) {
				t.Errorf("error %v, want ErrMalformed", err)
			}
		})
	}
}

// FuzzTreeRewrite: any bytes give ErrMalformed, the same bytes, or a rewrite
// with nothing left to rewrite.
func FuzzTreeRewrite(f *testing.F) {
	f.Add(binaryTree().model())
	s := binaryTree()
	s.castInput, s.input = true, 11
	f.Add(s.model())
	f.Add(zipMapModel([]int64{7, 3}, false, true))
	f.Fuzz(func(t *testing.T, data []byte) {
		orig := bytes.Clone(data)
		out, nodes, _, err := rewriteTrees(data)
		if !bytes.Equal(data, orig) {
			t.Fatal("rewrite changed its input")
		}
		if err != nil {
			if !errors.Is(err, onnxwire.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if nodes == nil {
			if !bytes.Equal(out, data) {
				t.Fatal("nothing rewritten but the bytes changed")
			}
			return
		}
		again, nodes2, _, err := rewriteTrees(out)
		if err != nil || nodes2 != nil || !bytes.Equal(again, out) {
			t.Fatalf("rewritten bytes rewritten again: %v %v", nodes2, err)
		}
	})
}

// rewriteTrees runs the rewrite; nodes are the names of the classifiers
// replaced, descriptions their Rewrites lines.
func rewriteTrees(data []byte) (out []byte, nodes, descriptions []string, err error) {
	out, rw, err := rewrite.TreeClassifiers(data)
	for _, r := range rw {
		nodes = append(nodes, r.Node)
		descriptions = append(descriptions, r.String())
	}
	return out, nodes, descriptions, err
}
