package rewrite

// Binary tree classifiers without the classifier.
//
// A binary gradient-boosted classifier exported the way skl2onnx exports
// scikit-learn's GradientBoostingClassifier is one ai.onnx.ml
// TreeEnsembleClassifier with a single score column (class_ids all 0), two
// class labels, one base value and post_transform LOGISTIC. ONNX Runtime
// runs it through the classifier's two-class path, which is slower than the
// same trees in a TreeEnsembleRegressor (BENCHMARKS.md, "Tree ensemble
// rewrite"). The session therefore rewrites such a node in the bytes given
// to ONNX Runtime into
//
//	score         = TreeEnsembleRegressor(X)   the same trees and base value, one target
//	p             = Sigmoid(score)             [N,1]
//	probabilities = Concat(1 - p, p)           float [N,2]
//	label         = Where(Reshape(score, [-1]) > 0, classlabels[1], classlabels[0])   int64 [N]
//
// under the classifier's own output names, so graph outputs, the nodes
// reading them (a ZipMap, a Cast) and the job's binding do not change.
//
// It is the classifier's arithmetic (ONNX Runtime 1.24,
// onnxruntime/core/providers/cpu/ml/tree_ensemble_common.h and
// tree_ensemble_aggregator.h): both kernels share TreeEnsembleCommon, which
// sums each row's leaf weights in float, tree by tree from 0, then adds the
// base value, so the regressor's score is the classifier's bit for bit. With
// one weight class and a negative weight somewhere, the classifier's label
// is classlabels[1] when that score is > 0 and classlabels[0] otherwise,
// a NaN score included, which Greater reproduces exactly. Its probabilities are
// [1-p, p] with p = ComputeLogistic(score) (std::exp); Sigmoid computes p
// with MLAS's approximation instead, so probabilities may differ by float
// rounding (see TestTreeRewriteScoresTheSame for the measured bound).
//
// Anything else is left alone: string labels, other than two labels,
// another post_transform, weights in another class column or all
// non-negative (ONNX Runtime then takes other paths: score > 0.5, no
// logistic), a leaf weighted twice, more than one base value, weights or
// base values as tensors, an input not known to be float (a graph input,
// value_info or Cast to float says so), attributes this
// file does not know, a default opset below 9 (Where) and graphs with
// subgraphs.

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/batchscore/batchscore/scoring/onnxwire"
)

const (
	treeClassifierOp = "TreeEnsembleClassifier"
	treeRegressorOp  = "TreeEnsembleRegressor"
)

// TreeClassifier is one binary TreeEnsembleClassifier replaced.
type TreeClassifier struct {
	Node          string   // the classifier node's name
	Label         string   // its label output, "" if unused
	Probabilities string   // its probabilities output, "" if unused
	Labels        [2]int64 // classlabels_int64s
	Trees         int
}

func (r TreeClassifier) String() string {
	return fmt.Sprintf("tree classifier %s (%d trees) -> TreeEnsembleRegressor + Sigmoid: %s float[N,2] = [1-p, p], %s int64[N] = %d if score > 0 else %d",
		r.Node, r.Trees, orNone(r.Probabilities), orNone(r.Label), r.Labels[1], r.Labels[0])
}

// treeAttrs is what the rewrite reads of a TreeEnsembleClassifier's
// attributes.
type treeAttrs struct {
	attrs         []onnxwire.Attribute
	names         []string
	labels        []int64
	postTransform string
	classIDs      []int64
	classTrees    []int64
	classNodes    []int64
	weights       []float32
	baseValues    []float32
	unknown       bool // an attribute the rewrite does not know, or a tensor form it does not handle
}

// treeAttrNames are the classifier's attributes the regressor takes as
// they are (nodes_*) or renamed (class_* -> target_*); the others are read
// and dropped.
var treeAttrNames = map[string]string{
	"nodes_falsenodeids":              "nodes_falsenodeids",
	"nodes_featureids":                "nodes_featureids",
	"nodes_hitrates":                  "nodes_hitrates",
	"nodes_hitrates_as_tensor":        "nodes_hitrates_as_tensor",
	"nodes_missing_value_tracks_true": "nodes_missing_value_tracks_true",
	"nodes_modes":                     "nodes_modes",
	"nodes_nodeids":                   "nodes_nodeids",
	"nodes_treeids":                   "nodes_treeids",
	"nodes_truenodeids":               "nodes_truenodeids",
	"nodes_values":                    "nodes_values",
	"nodes_values_as_tensor":          "nodes_values_as_tensor",
	"class_ids":                       "target_ids",
	"class_nodeids":                   "target_nodeids",
	"class_treeids":                   "target_treeids",
	"class_weights":                   "target_weights",
	"base_values":                     "base_values",
	"classlabels_int64s":              "",
	"post_transform":                  "",
}

func readTreeAttrs(n onnxwire.Node) (treeAttrs, error) {
	a := treeAttrs{attrs: n.Attrs}
	for _, at := range n.Attrs {
		if err := a.read(at); err != nil {
			return a, err
		}
	}
	return a, nil
}

// errLeave stops reading an attribute the rewrite leaves to ONNX Runtime.
var errLeave = errors.New("leave to ONNX Runtime")

func (a *treeAttrs) read(at onnxwire.Attribute) error {
	name := at.Name
	a.names = append(a.names, name)
	if _, ok := treeAttrNames[name]; !ok {
		a.unknown = true // classlabels_strings, *_as_tensor of weights, anything newer
		return nil
	}
	var ints *[]int64
	var floats *[]float32
	switch name {
	case "classlabels_int64s":
		ints = &a.labels
	case "class_ids":
		ints = &a.classIDs
	case "class_treeids":
		ints = &a.classTrees
	case "class_nodeids":
		ints = &a.classNodes
	case "class_weights":
		floats = &a.weights
	case "base_values":
		floats = &a.baseValues
	}
	err := onnxwire.Walk(at.Raw, func(f onnxwire.Field) error {
		var err error
		switch {
		case f.Num == 20 || f.Num == 1:
		case name == "post_transform" && f.Num == 4 && f.Typ == protowire.BytesType:
			a.postTransform = string(f.Val)
		case ints != nil && f.Num == 8 && (f.Typ == protowire.VarintType || f.Typ == protowire.BytesType):
			*ints, err = onnxwire.AppendInt64s(*ints, f)
		case floats != nil && f.Num == 7 && f.Typ == protowire.Fixed32Type:
			*floats = append(*floats, math.Float32frombits(uint32(f.V)))
		case floats != nil && f.Num == 7 && f.Typ == protowire.BytesType: // packed
			if *floats, err = onnxwire.AppendFloats(*floats, f); err != nil {
				a.unknown = true // not floats: leave it to ONNX Runtime
				return errLeave
			}
		case ints != nil || floats != nil || name == "post_transform":
			a.unknown = true // a value in a field the rewrite does not read
		}
		return err
	})
	if errors.Is(err, errLeave) {
		return nil
	}
	return err
}

// binaryLogistic reports whether the attributes are those of the binary
// case the rewrite reproduces (see the file comment), and the number of
// trees with a weighted leaf.
func (a treeAttrs) binaryLogistic() (int, bool) {
	if a.unknown || len(a.labels) != 2 || a.postTransform != "LOGISTIC" ||
		len(a.baseValues) > 1 || len(a.classIDs) == 0 ||
		len(a.weights) != len(a.classIDs) || len(a.classTrees) != len(a.classIDs) || len(a.classNodes) != len(a.classIDs) {
		return 0, false
	}
	seen := map[string]bool{}
	for _, name := range a.names {
		if seen[name] {
			return 0, false // an attribute twice: which one ORT reads is not ours to guess
		}
		seen[name] = true
	}
	negative := false
	type leaf struct{ tree, node int64 }
	leaves := make(map[leaf]bool, len(a.classIDs))
	trees := map[int64]bool{}
	for i, id := range a.classIDs {
		if id != 0 {
			return 0, false
		}
		if a.weights[i] < 0 {
			negative = true
		}
		l := leaf{a.classTrees[i], a.classNodes[i]}
		if leaves[l] {
			return 0, false
		}
		leaves[l] = true
		trees[l.tree] = true
	}
	return len(trees), negative
}

// TreeClassifiers replaces each binary LOGISTIC TreeEnsembleClassifier
// of the model (see the file comment) with a TreeEnsembleRegressor and
// standard operators that produce the same outputs.
func TreeClassifiers(data []byte) ([]byte, []TreeClassifier, error) {
	model, err := onnxwire.ReadModel(data)
	if err != nil {
		return nil, nil, err
	}
	if model.Graph < 0 {
		return data, nil, nil // merged or odd graphs: leave to ONNX Runtime
	}
	graph, err := onnxwire.ReadGraph(model.GraphBytes())
	if err != nil {
		return nil, nil, err
	}
	if model.Opset("") < 9 || !treeRewritable(graph) {
		return data, nil, nil
	}
	taken, floats := graphValues(graph)
	names := &freshNames{taken: taken}
	replace := map[int][][]byte{} // graph field index -> NodeProtos replacing it
	var rewrites []TreeClassifier
	for _, n := range graph.Nodes {
		if n.Op != treeClassifierOp || n.Domain != onnxwire.MLDomain || len(n.Inputs) != 1 ||
			!floats[n.Inputs[0]] || len(n.Outputs) < 1 || len(n.Outputs) > 2 {
			continue
		}
		a, err := readTreeAttrs(n)
		if err != nil {
			return nil, nil, err
		}
		trees, ok := a.binaryLogistic()
		if !ok {
			continue
		}
		r := TreeClassifier{Node: n.Name, Label: n.Outputs[0], Labels: [2]int64{a.labels[0], a.labels[1]}, Trees: trees}
		if len(n.Outputs) == 2 {
			r.Probabilities = n.Outputs[1]
		}
		if r.Label == "" && r.Probabilities == "" {
			continue
		}
		replace[n.At] = regressorNodes(n, a, r, names)
		rewrites = append(rewrites, r)
	}
	if len(rewrites) == 0 {
		return data, nil, nil
	}
	var g []byte
	for i, f := range graph.Fields {
		if ns, ok := replace[i]; ok {
			for _, n := range ns {
				g = onnxwire.AppendMessage(g, 1, n)
			}
			continue
		}
		g = append(g, f.Raw...)
	}
	return model.WithGraph(g), rewrites, nil
}

// treeRewritable says whether the graph is in SSA form without subgraphs:
// otherwise the rewrite cannot see every reader of a value.
func treeRewritable(graph onnxwire.Graph) bool {
	produced := map[string]bool{}
	for _, n := range graph.Nodes {
		if n.Subgraph() {
			return false
		}
		for _, o := range n.Outputs {
			if o != "" && produced[o] {
				return false
			}
			produced[o] = true
		}
	}
	return true
}

// graphValues are the value and node names in use, and which values are
// known to be float: a graph input or value_info says so, or a Cast to
// float makes them (the last of these in graph order decides).
func graphValues(graph onnxwire.Graph) (taken, floats map[string]bool) {
	taken, floats = map[string]bool{}, map[string]bool{}
	for name := range graph.Initializers {
		taken[name] = true
	}
	nodeAt := map[int]onnxwire.Node{}
	for _, n := range graph.Nodes {
		nodeAt[n.At] = n
		taken[n.Name] = true
		for _, v := range append(slices.Clone(n.Inputs), n.Outputs...) {
			taken[v] = true
		}
	}
	valueAt := map[int]onnxwire.ValueInfo{}
	for _, vs := range [][]onnxwire.ValueInfo{graph.Inputs, graph.Outputs, graph.ValueInfo} {
		for _, v := range vs {
			valueAt[v.At] = v
			taken[v.Name] = true
		}
	}
	for i, f := range graph.Fields {
		if n, ok := nodeAt[i]; ok && n.Is("", "Cast") && len(n.Outputs) == 1 {
			floats[n.Outputs[0]] = n.CastTo() == onnxwire.Float
		}
		if v, ok := valueAt[i]; ok && f.Num != 12 && v.Elem == onnxwire.Float {
			floats[v.Name] = true
		}
	}
	return taken, floats
}

// regressorNodes are the nodes that replace classifier n, in topological
// order.
func regressorNodes(n onnxwire.Node, a treeAttrs, r TreeClassifier, names *freshNames) [][]byte {
	base := n.Name
	if base == "" {
		base = treeClassifierOp
	}
	value := func(suffix string) string { return names.get(base + "_" + suffix) }
	nodeName := func(suffix string) string { return names.get(base + "/" + suffix) }

	score := value("score")
	var attrs [][]byte
	for _, at := range a.attrs {
		if to := treeAttrNames[at.Name]; to != "" {
			attrs = append(attrs, at.Renamed(to))
		}
	}
	attrs = append(attrs, onnxwire.IntAttr("n_targets", 1))
	out := [][]byte{onnxwire.NodeProto(nodeName("regressor"), treeRegressorOp, onnxwire.MLDomain, []string{n.Inputs[0]}, []string{score}, attrs...)}

	if r.Probabilities != "" {
		p, one, q := value("p"), value("one"), value("q")
		out = append(out,
			onnxwire.NodeProto(nodeName("sigmoid"), "Sigmoid", "", []string{score}, []string{p}),
			onnxwire.ConstantNode(nodeName("one"), one, onnxwire.TensorProto(onnxwire.Float, nil, onnxwire.Float32Bytes(1))),
			onnxwire.NodeProto(nodeName("one_minus_p"), "Sub", "", []string{one, p}, []string{q}),
			onnxwire.NodeProto(nodeName("probabilities"), "Concat", "", []string{q, p}, []string{r.Probabilities}, onnxwire.IntAttr("axis", 1)),
		)
	}
	if r.Label != "" {
		shape, flat, zero, positive, l1, l0 := value("shape"), value("flat"), value("zero"), value("positive"), value("label1"), value("label0")
		out = append(out,
			onnxwire.ConstantNode(nodeName("shape"), shape, onnxwire.TensorProto(onnxwire.Int64, []int64{1}, onnxwire.Int64Bytes(-1))),
			onnxwire.NodeProto(nodeName("flatten"), "Reshape", "", []string{score, shape}, []string{flat}),
			onnxwire.ConstantNode(nodeName("zero"), zero, onnxwire.TensorProto(onnxwire.Float, nil, onnxwire.Float32Bytes(0))),
			onnxwire.NodeProto(nodeName("positive"), "Greater", "", []string{flat, zero}, []string{positive}),
			onnxwire.ConstantNode(nodeName("label1"), l1, onnxwire.TensorProto(onnxwire.Int64, nil, onnxwire.Int64Bytes(r.Labels[1]))),
			onnxwire.ConstantNode(nodeName("label0"), l0, onnxwire.TensorProto(onnxwire.Int64, nil, onnxwire.Int64Bytes(r.Labels[0]))),
			onnxwire.NodeProto(nodeName("label"), "Where", "", []string{positive, l1, l0}, []string{r.Label}),
		)
	}
	return out
}
