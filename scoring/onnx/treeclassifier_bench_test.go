package onnx

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/batchscore/batchscore/internal/testkit/onnxtest"
	"github.com/batchscore/batchscore/scoring"
	"github.com/batchscore/batchscore/scoring/onnx/rewrite"
	"github.com/batchscore/batchscore/scoring/onnxwire"
)

// BenchmarkTreeRewrite measures raw ONNX Runtime Run (BenchmarkORT's loop:
// two goroutines sharing a session, one intra-op thread, 65,536-row chunks
// of configs/churn_nightly.yaml's inputs) on churn_gbm.onnx as the file has
// it ("classifier"), as Open rewrites it ("regressor", see
// package rewrite) and with the regressor replaced by ai.onnx.ml opset 5
// TreeEnsemble + Add(base) ("te5", a variant tried and not kept).
// testdata/bench/orttune/tree_rewrite.sh runs it in interleaved rounds.
func BenchmarkTreeRewrite(b *testing.B) {
	cases := []struct {
		name  string
		model func(*Model) (*Model, error)
		opts  func(Options) Options
	}{
		{"classifier", nil, func(o Options) Options { o.keepTrees = true; return o }},
		{"regressor", nil, func(o Options) Options { return o }},
		{"te5", treeEnsembleV5Model, func(o Options) Options { o.keepTrees = true; return o }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			s := setup(b, "configs/churn_nightly.yaml")
			model, err := Load(s.path)
			if err != nil {
				b.Fatal(err)
			}
			if c.model != nil {
				if model, err = c.model(model); err != nil {
					b.Fatal(err)
				}
			}
			runORT(b, s, model, c.opts(Options{IntraOpThreads: s.threads, Optimization: s.optimization}))
		})
	}
}

// TestTreeEnsembleV5Variant checks that the opset 5 variant the benchmark
// measures gives the classifier's labels and probabilities, on 65,536 rows
// (the committed sample repeated).
func TestTreeEnsembleV5Variant(t *testing.T) {
	s := setup(t, "configs/churn_nightly.yaml")
	model, err := Load(s.path)
	if err != nil {
		t.Fatal(err)
	}
	v5, err := treeEnsembleV5Model(model)
	if err != nil {
		t.Fatal(err)
	}
	var outs [2][]scoring.Output
	for i, m := range []*Model{model, v5} {
		sess, err := m.Open(s.binding, Options{IntraOpThreads: 1, keepTrees: true})
		if err != nil {
			t.Fatal(err)
		}
		if outs[i], err = sess.Run(context.Background(), s.tensors); err != nil {
			t.Fatal(err)
		}
		sess.Close()
	}
	worst := 0.0
	for i, p := range outs[0][0].Float32 {
		worst = math.Max(worst, math.Abs(float64(p-outs[1][0].Float32[i])))
	}
	if !slices.Equal(outs[0][1].Int64, outs[1][1].Int64) || worst > 1e-6 {
		t.Errorf("labels equal: %v; max |probability difference| %g", slices.Equal(outs[0][1].Int64, outs[1][1].Int64), worst)
	}
	t.Logf("%d rows: labels identical, max |probability difference| = %.3g", s.rows, worst)
}

// TestDumpTreeVariants writes churn_gbm.onnx as Open rewrites it
// (regressor.onnx) and its opset 5 variant (te5.onnx) into the folder
// $BATCHSCORE_TREE_DUMP, for testdata/bench/orttune; skipped without it.
func TestDumpTreeVariants(t *testing.T) {
	dir := os.Getenv("BATCHSCORE_TREE_DUMP")
	if dir == "" {
		t.Skip("BATCHSCORE_TREE_DUMP is not set")
	}
	model, err := Load(filepath.Join(onnxtest.Root(t), "testdata", "models", "churn_gbm.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	regressor, _, err := rewrite.TreeClassifiers(model.data)
	if err != nil {
		t.Fatal(err)
	}
	te5, err := treeEnsembleV5Model(model)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"regressor.onnx": regressor, "te5.onnx": te5.data} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// treeEnsembleV5Model is model with its classifier rewritten, then the
// TreeEnsembleRegressor turned into an opset 5 TreeEnsemble plus an Add of
// the base value (TreeEnsemble has no base values) and the ai.onnx.ml
// import raised to 5.
func treeEnsembleV5Model(m *Model) (*Model, error) {
	data, rw, err := rewrite.TreeClassifiers(m.data)
	if err != nil || len(rw) != 1 {
		return nil, fmt.Errorf("rewrite: %v %v", rw, err)
	}
	model, err := onnxwire.Fields(data)
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, f := range model {
		switch {
		case f.Num == 7:
			g, err := treeEnsembleV5Graph(f.Val)
			if err != nil {
				return nil, err
			}
			out = protowire.AppendTag(out, 7, protowire.BytesType)
			out = protowire.AppendBytes(out, g)
		case f.Num == 8:
			fs, _ := onnxwire.Fields(f.Val)
			ml := slices.ContainsFunc(fs, func(d onnxwire.Field) bool { return d.Num == 1 && string(d.Val) == onnxwire.MLDomain })
			if !ml {
				out = append(out, f.Raw...)
				continue
			}
			var o []byte
			o = protowire.AppendTag(o, 1, protowire.BytesType)
			o = protowire.AppendString(o, onnxwire.MLDomain)
			o = protowire.AppendTag(o, 2, protowire.VarintType)
			o = protowire.AppendVarint(o, 5)
			out = protowire.AppendTag(out, 8, protowire.BytesType)
			out = protowire.AppendBytes(out, o)
		default:
			out = append(out, f.Raw...)
		}
	}
	return &Model{Path: m.Path + " (te5)", data: out}, nil
}

func treeEnsembleV5Graph(graph []byte) ([]byte, error) {
	fs, err := onnxwire.Fields(graph)
	if err != nil {
		return nil, err
	}
	var g []byte
	for _, f := range fs {
		if f.Num != 1 {
			g = append(g, f.Raw...)
			continue
		}
		n, err := onnxwire.ParseNode(f.Val)
		if err != nil {
			return nil, err
		}
		if n.Op != "TreeEnsembleRegressor" {
			g = append(g, f.Raw...)
			continue
		}
		nodes, err := treeEnsembleV5Nodes(n)
		if err != nil {
			return nil, err
		}
		for _, nb := range nodes {
			g = protowire.AppendTag(g, 1, protowire.BytesType)
			g = protowire.AppendBytes(g, nb)
		}
	}
	return g, nil
}

// attrValues reads the ints, floats and strings of a node's attributes.
func attrValues(n onnxwire.Node) (map[string][]int64, map[string][]float32, map[string][]string, error) {
	ints, floats, strs := map[string][]int64{}, map[string][]float32{}, map[string][]string{}
	for _, a := range n.Attrs {
		v, err := a.Ints()
		if err != nil {
			return nil, nil, nil, err
		}
		ints[a.Name] = append(ints[a.Name], v...)
		f, err := a.Floats()
		if err != nil {
			return nil, nil, nil, err
		}
		floats[a.Name] = append(floats[a.Name], f...)
		strs[a.Name] = append(strs[a.Name], a.Strings()...)
	}
	return ints, floats, strs, nil
}

func intsAttrProto(name string, v []int64) []byte {
	var a []byte
	a = protowire.AppendTag(a, 1, protowire.BytesType)
	a = protowire.AppendString(a, name)
	for _, x := range v {
		a = protowire.AppendTag(a, 8, protowire.VarintType)
		a = protowire.AppendVarint(a, uint64(x))
	}
	a = protowire.AppendTag(a, 20, protowire.VarintType)
	return protowire.AppendVarint(a, 7) // INTS
}

func tensorAttrProto(name string, tensor []byte) []byte {
	var a []byte
	a = protowire.AppendTag(a, 1, protowire.BytesType)
	a = protowire.AppendString(a, name)
	a = protowire.AppendTag(a, 5, protowire.BytesType)
	a = protowire.AppendBytes(a, tensor)
	a = protowire.AppendTag(a, 20, protowire.VarintType)
	return protowire.AppendVarint(a, onnxwire.AttrTensor)
}

func floatsRaw(v []float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

// treeEnsembleV5Nodes turns a TreeEnsembleRegressor (one target, BRANCH_*
// modes) into TreeEnsemble + Add(base value) with the same output.
func treeEnsembleV5Nodes(n onnxwire.Node) ([][]byte, error) {
	ints, floats, strs, err := attrValues(n)
	if err != nil {
		return nil, err
	}
	treeIDs, nodeIDs := ints["nodes_treeids"], ints["nodes_nodeids"]
	modes, values := strs["nodes_modes"], floats["nodes_values"]
	type key struct{ tree, node int64 }
	at := map[key]int{}
	for i := range treeIDs {
		at[key{treeIDs[i], nodeIDs[i]}] = i
	}
	weight := map[key]float32{}
	for i, w := range floats["target_weights"] {
		weight[key{ints["target_treeids"][i], ints["target_nodeids"][i]}] = w
	}
	modeCode := map[string]byte{"BRANCH_LEQ": 0, "BRANCH_LT": 1, "BRANCH_GTE": 2, "BRANCH_GT": 3, "BRANCH_EQ": 4, "BRANCH_NEQ": 5}
	// Interior nodes and leaves get their own ids, tree by tree.
	inner, leaf := map[int]int64{}, map[int]int64{}
	var roots []int64
	var splits, leafWeights []float32
	var featureIDs, trueIDs, falseIDs, trueLeafs, falseLeafs, missing, leafTargets []int64
	var modeBytes []byte
	seen := map[int64]bool{}
	for i := range treeIDs {
		if modes[i] == "LEAF" {
			leaf[i] = int64(len(leafWeights))
			leafWeights = append(leafWeights, weight[key{treeIDs[i], nodeIDs[i]}])
			leafTargets = append(leafTargets, 0)
			continue
		}
		inner[i] = int64(len(splits))
		splits = append(splits, values[i])
		if !seen[treeIDs[i]] {
			seen[treeIDs[i]] = true
			roots = append(roots, inner[i])
			if nodeIDs[i] != 0 {
				return nil, fmt.Errorf("tree %d: first node is %d, not the root", treeIDs[i], nodeIDs[i])
			}
		}
	}
	for i := range treeIDs {
		if modes[i] == "LEAF" {
			continue
		}
		c, ok := modeCode[modes[i]]
		if !ok {
			return nil, fmt.Errorf("mode %s", modes[i])
		}
		modeBytes = append(modeBytes, c)
		featureIDs = append(featureIDs, ints["nodes_featureids"][i])
		missing = append(missing, ints["nodes_missing_value_tracks_true"][i])
		for _, side := range []struct {
			child       int64
			ids, isLeaf *[]int64
		}{{ints["nodes_truenodeids"][i], &trueIDs, &trueLeafs}, {ints["nodes_falsenodeids"][i], &falseIDs, &falseLeafs}} {
			j := at[key{treeIDs[i], side.child}]
			if id, ok := inner[j]; ok {
				*side.ids, *side.isLeaf = append(*side.ids, id), append(*side.isLeaf, 0)
			} else {
				*side.ids, *side.isLeaf = append(*side.ids, leaf[j]), append(*side.isLeaf, 1)
			}
		}
	}
	const onnxUint8 = 2
	raw := n.Name + "_te5"
	base := float32(0)
	if bv := floats["base_values"]; len(bv) == 1 {
		base = bv[0]
	}
	te := onnxwire.NodeProto(raw, "TreeEnsemble", onnxwire.MLDomain, n.Inputs, []string{raw},
		onnxwire.IntAttr("aggregate_function", 1), // SUM
		intsAttrProto("leaf_targetids", leafTargets),
		tensorAttrProto("leaf_weights", onnxwire.TensorProto(onnxwire.Float, []int64{int64(len(leafWeights))}, floatsRaw(leafWeights))),
		onnxwire.IntAttr("n_targets", 1),
		intsAttrProto("nodes_falseleafs", falseLeafs),
		intsAttrProto("nodes_falsenodeids", falseIDs),
		intsAttrProto("nodes_featureids", featureIDs),
		intsAttrProto("nodes_missing_value_tracks_true", missing),
		tensorAttrProto("nodes_modes", onnxwire.TensorProto(onnxUint8, []int64{int64(len(modeBytes))}, modeBytes)),
		tensorAttrProto("nodes_splits", onnxwire.TensorProto(onnxwire.Float, []int64{int64(len(splits))}, floatsRaw(splits))),
		intsAttrProto("nodes_trueleafs", trueLeafs),
		intsAttrProto("nodes_truenodeids", trueIDs),
		onnxwire.IntAttr("post_transform", 0),
		intsAttrProto("tree_roots", roots),
	)
	baseName := raw + "_base"
	return [][]byte{
		te,
		onnxwire.ConstantNode(baseName, baseName, onnxwire.TensorProto(onnxwire.Float, nil, onnxwire.Float32Bytes(base))),
		onnxwire.NodeProto(raw+"_add", "Add", "", []string{raw, baseName}, n.Outputs),
	}, nil
}
