package trees

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/batchscore/batchscore/scoring/onnxwire"
)

// stumps is a small valid binary classifier: two stumps on X float[N,2].
func stumps() spec {
	return spec{op: Classifier, labels: []int64{0, 1}, post: "LOGISTIC", base: []float32{0.25}, width: 2,
		trees: []ttree{
			{id: 0, nodes: []tnode{
				{id: 0, mode: "BRANCH_LEQ", feat: 0, thr: 0.5, tru: 1, fal: 2},
				{id: 1, mode: "LEAF", weight: -0.75}, {id: 2, mode: "LEAF", weight: 0.5}}},
			{id: 1, nodes: []tnode{
				{id: 0, mode: "BRANCH_LEQ", feat: 1, thr: 0.25, tru: 1, fal: 2},
				{id: 1, mode: "LEAF", weight: 0.25}, {id: 2, mode: "LEAF", weight: -0.5}}},
		}}
}

func with(change func(*spec)) []byte {
	s := stumps()
	change(&s)
	return s.model()
}

// editGraph rewrites each field of the model's graph with edit, which
// returns the field's new encoding (tag included).
func editGraph(t *testing.T, model []byte, edit func(field) []byte) []byte {
	t.Helper()
	top, err := fields(model)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, f := range top {
		if f.Num != 7 {
			out = appendField(out, f)
			continue
		}
		gfs, err := fields(f.Val)
		if err != nil {
			t.Fatal(err)
		}
		var g []byte
		for _, gf := range gfs {
			g = append(g, edit(gf)...)
		}
		out = pbMsg(out, 7, g)
	}
	return out
}

// editTreeOp renames the tree node's op_type.
func editTreeOp(t *testing.T, model []byte, op string) []byte {
	return editGraph(t, model, func(f field) []byte {
		if f.Num != 1 {
			return appendField(nil, f)
		}
		nfs, _ := fields(f.Val)
		var b []byte
		for _, nf := range nfs {
			if nf.Num == 4 {
				b = pbStr(b, 4, op)
				continue
			}
			b = appendField(b, nf)
		}
		return pbMsg(nil, 1, b)
	})
}

// addNode appends a NodeProto to the model's graph.
func addNode(t *testing.T, model, node []byte) []byte {
	t.Helper()
	top, err := fields(model)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, f := range top {
		if f.Num == 7 {
			out = pbMsg(out, 7, pbMsg(f.Val, 1, node))
			continue
		}
		out = appendField(out, f)
	}
	return out
}

func TestRefusals(t *testing.T) {
	tree := func(m []byte) []byte { // the tree node of a model
		g, _, _ := readGraph(m)
		return g.Nodes[0].Raw
	}
	unsupported := map[string][]byte{
		"string labels":       editTreeAttr(t, stumps().model(), "classlabels_int64s", stringsAttr("classlabels_strings", "no", "yes")),
		"two weight columns":  editTreeAttr(t, stumps().model(), "class_ids", intsAttr("class_ids", 0, 1, 0, 1)),
		"PROBIT":              with(func(s *spec) { s.post = "PROBIT" }),
		"regressor 2 targets": editTreeAttr(t, with(func(s *spec) { s.op = Regressor }), "n_targets", intAttr("n_targets", 2)),
		"unknown attribute":   with(func(s *spec) { s.extraAttrs = [][]byte{intsAttr("nodes_something_new", 1)} }),
		"ai.onnx.ml opset 5":  with(func(s *spec) { s.mlOpset = 5 }),
		"leaf weighted twice": editTreeAttr(t, editTreeAttr(t, editTreeAttr(t, editTreeAttr(t, stumps().model(), "class_treeids", intsAttr("class_treeids", 0, 0, 1, 1, 0)), "class_nodeids", intsAttr("class_nodeids", 1, 2, 1, 2, 1)), "class_ids", intsAttr("class_ids", 0, 0, 0, 0, 0)), "class_weights", floatsAttr("class_weights", 1, 2, 3, 4, 5)),
		"weight on a branch":  editTreeAttr(t, editTreeAttr(t, editTreeAttr(t, editTreeAttr(t, stumps().model(), "class_treeids", intsAttr("class_treeids", 0, 0, 1, 1, 0)), "class_nodeids", intsAttr("class_nodeids", 1, 2, 1, 2, 0)), "class_ids", intsAttr("class_ids", 0, 0, 0, 0, 0)), "class_weights", floatsAttr("class_weights", 1, 2, 3, 4, 5)),
		"tree split in two": with(func(s *spec) {
			rest := ttree{id: 0, nodes: s.trees[0].nodes[1:]}
			s.trees[0].nodes = s.trees[0].nodes[:1]
			s.trees = append(s.trees, rest)
		}),
		"root not listed first": with(func(s *spec) {
			n := s.trees[0].nodes
			n[0], n[1] = n[1], n[0]
		}),
		"cycle through a true branch": with(func(s *spec) {
			s.trees[0].nodes = append(s.trees[0].nodes, tnode{id: 3, mode: "BRANCH_LEQ", feat: 1, thr: 2, tru: 0, fal: 2})
			s.trees[0].nodes[0].fal = 3
		}),
		"class weighted on some leaves": editTreeAttr(t, stumps().model(), "class_ids", intsAttr("class_ids", 0, 0, 0, 1)),
		"MIN, a target on some leaves": editTreeAttr(t, editTreeAttr(t, with(func(s *spec) { s.op, s.post, s.aggregate = Regressor, "", "MIN" }),
			"n_targets", intAttr("n_targets", 2)), "target_ids", intsAttr("target_ids", 0, 0, 0, 1)),
		"weight id past the classes": editTreeAttr(t, stumps().model(), "class_ids", intsAttr("class_ids", 0, 0, 2, 2)),
		"regressor PROBIT":           with(func(s *spec) { s.op, s.post = Regressor, "PROBIT" }),
		"3 base values, 2 targets": editTreeAttr(t, with(func(s *spec) { s.op, s.post, s.base = Regressor, "", []float32{1, 2, 3} }),
			"n_targets", intAttr("n_targets", 2)),
		"4 base values, 3 classes": with(func(s *spec) { s.labels, s.base = []int64{0, 1, 2}, []float32{1, 2, 3, 4} }),
		"double input": editGraph(t, stumps().model(), func(f field) []byte {
			if f.Num == 11 {
				return pbMsg(nil, 11, pbMsg(pbStr(nil, 1, "X"), 2, tensorType(tensorDouble, -1, 2)))
			}
			return appendField(nil, f)
		}),
		"input from a Cast": func() []byte {
			s := stumps()
			m := s.model()
			// The trees read X2, which a Cast computes from X.
			m = editGraph(t, m, func(f field) []byte {
				if f.Num == 1 {
					n, _ := onnxwire.ParseNode(f.Val)
					nfs, _ := fields(f.Val)
					var b []byte
					for _, nf := range nfs {
						if nf.Num == 1 {
							b = pbStr(b, 1, "X2")
							continue
						}
						b = appendField(b, nf)
					}
					_ = n
					return pbMsg(nil, 1, b)
				}
				return appendField(nil, f)
			})
			cast := pbStr(pbStr(pbStr(pbStr(nil, 1, "X"), 2, "X2"), 3, "cast"), 4, "Cast")
			cast = pbMsg(cast, 5, pbVarint(pbVarint(pbStr(nil, 1, "to"), 3, 1), 20, attrInt))
			return addNode(t, m, cast)
		}(),
		"two tree nodes":          addNode(t, stumps().model(), tree(stumps().model())),
		"TreeEnsemble at opset 3": editTreeOp(t, stumps().model(), "TreeEnsemble"),
		"no tree node":            editTreeOp(t, stumps().model(), "TreeEnsembleSomething"),
		"thresholds as double tensor": editTreeAttr(t, stumps().model(), "nodes_values",
			pbVarint(pbMsg(pbStr(nil, 1, "nodes_values_as_tensor"), 5,
				pbMsg(pbVarint(pbVarint(nil, 1, 6), 2, tensorDouble), 9, make([]byte, 48))), 20, attrTensor)),
	}
	for name, m := range unsupported {
		t.Run(name, func(t *testing.T) {
			_, err := Load(m)
			if !errors.Is(err, ErrUnsupported) {
				t.Errorf("error %v, want ErrUnsupported", err)
			}
			t.Log(err)
		})
	}
	malformed := map[string][]byte{
		"empty":               nil,
		"text":                []byte("not a model\n"),
		"truncated":           stumps().model()[:40],
		"leaf without weight": editTreeAttr(t, editTreeAttr(t, editTreeAttr(t, editTreeAttr(t, stumps().model(), "class_treeids", intsAttr("class_treeids", 0, 0, 1)), "class_nodeids", intsAttr("class_nodeids", 1, 2, 1)), "class_ids", intsAttr("class_ids", 0, 0, 0)), "class_weights", floatsAttr("class_weights", 1, 2, 3)),
		"child not in tree":   with(func(s *spec) { s.trees[0].nodes[0].fal = 5 }),
		"points to itself":    with(func(s *spec) { s.trees[0].nodes[0].fal = 0 }),
		"lengths differ":      editTreeAttr(t, stumps().model(), "nodes_featureids", intsAttr("nodes_featureids", 0, 0)),
		"feature past width":  with(func(s *spec) { s.trees[1].nodes[0].feat = 2 }),
		"duplicate node":      with(func(s *spec) { s.trees[0].nodes[2].id = 1 }),
		"false branch shared": with(func(s *spec) {
			s.trees[0].nodes = append(s.trees[0].nodes[:1], s.trees[0].nodes[1])
			// The root's false branch is leaf 1, and so is node 2's.
			s.trees[0].nodes = append(s.trees[0].nodes, tnode{id: 2, mode: "BRANCH_LEQ", feat: 1, thr: 2, tru: 3, fal: 1}, tnode{id: 3, mode: "LEAF", weight: 1})
			s.trees[0].nodes[0].tru, s.trees[0].nodes[0].fal = 2, 1
		}),
	}
	for name, m := range malformed {
		t.Run(name, func(t *testing.T) {
			_, err := Load(m)
			if !errors.Is(err, ErrModel) {
				t.Errorf("error %v, want ErrModel", err)
			}
			t.Log(err)
		})
	}
}

// TestAcceptedVariants: what the package compiles besides the GBM's form,
// each compared with ORT on a few rows here (and in random variety in
// TestGeneratedModelsMatchORT and TestGeneralModelsMatchORT).
func TestAcceptedVariants(t *testing.T) {
	initORT(t)
	nan := float32(math.NaN())
	for name, m := range map[string][]byte{
		"no base value":        with(func(s *spec) { s.base = nil }),
		"post_transform NONE":  with(func(s *spec) { s.post = "NONE" }),
		"weights all positive": with(func(s *spec) { s.trees[0].nodes[1].weight, s.trees[1].nodes[2].weight = 0.75, 0.5 }),
		"as tensors":           with(func(s *spec) { s.asTensors = true }),
		"regressor SUM":        with(func(s *spec) { s.op, s.post = Regressor, "" }),
		"regressor AVERAGE":    with(func(s *spec) { s.op, s.post, s.aggregate = Regressor, "", "AVERAGE" }),
		"ai.onnx.ml opset 1":   with(func(s *spec) { s.mlOpset = 1 }),
		"hit rates (unused)":   with(func(s *spec) { s.extraAttrs = [][]byte{floatsAttr("nodes_hitrates", 1, 1, 1, 1, 1, 1)} }),
		"three classes":        with(func(s *spec) { s.labels = []int64{0, 1, 2} }),
		"weights in class 1":   editTreeAttr(t, stumps().model(), "class_ids", intsAttr("class_ids", 1, 1, 1, 1)),
		"SOFTMAX":              with(func(s *spec) { s.post = "SOFTMAX" }),
		"SOFTMAX_ZERO":         with(func(s *spec) { s.post = "SOFTMAX_ZERO" }),
		"two base values":      with(func(s *spec) { s.base = []float32{0.25, -0.25} }),
		"regressor MAX":        with(func(s *spec) { s.op, s.aggregate = Regressor, "MAX" }),
		"regressor MIN":        with(func(s *spec) { s.op, s.aggregate = Regressor, "MIN" }),
		"regressor LOGISTIC":   with(func(s *spec) { s.op, s.post = Regressor, "LOGISTIC" }),
		"shared child": with(func(s *spec) {
			s.trees[0].nodes = append(s.trees[0].nodes[:1], s.trees[0].nodes[1])
			s.trees[0].nodes[0].fal = 1
		}),
	} {
		e, err := Load(m)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		t.Logf("%s: %v", name, e)
		x := []float32{0, 0, 0.5, 0.25, 1, 1, -1, 2, nan, 0, 0.5, nan}
		if d := compareORT(t, m, x, len(x)/2, 2); !d.zero() {
			t.Errorf("%s: %v", name, d)
		}
	}
	// The committed models other than the GBM are not tree models.
	for _, f := range []string{"churn_logreg.onnx", "ltv_linear.onnx"} {
		b, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "models", f))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Load(b); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: %v, want ErrUnsupported", f, err)
		}
	}
}

// TestV5Refusals: an opset-5 TreeEnsemble with BRANCH_MEMBER sets, or
// under another ai.onnx.ml opset, is refused; the committed ones compile.
func TestV5Refusals(t *testing.T) {
	model, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "models", "families", "v5_xgb_reg.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(model); err != nil {
		t.Fatalf("v5_xgb_reg: %v", err)
	}
	g, _, err := readGraph(model)
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := decodeAttrs(g.Nodes[0])
	if err != nil {
		t.Fatal(err)
	}
	member := attr{name: "membership_values", typ: attrTensor}
	if _, err := fromV5(append(attrs, member)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("membership_values: %v, want ErrUnsupported", err)
	}
	if _, err := fromV5(append(attrs, attr{name: "nodes_something", typ: attrInts})); !errors.Is(err, ErrUnsupported) {
		t.Errorf("unknown attribute: %v, want ErrUnsupported", err)
	}
}
