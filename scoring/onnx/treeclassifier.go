package onnx

// Binary tree classifiers without the classifier.
//
// A binary gradient-boosted classifier exported the way skl2onnx exports
// scikit-learn's GradientBoostingClassifier is one ai.onnx.ml
// TreeEnsembleClassifier with a single score column (class_ids all 0), two
// class labels, one base value and post_transform LOGISTIC. ONNX Runtime
// runs it through the classifier's two-class path; the same trees in a
// TreeEnsembleRegressor score 14–27 % more rows per CPU-second
// (BENCHMARKS.md, "Tree ensemble rewrite"). Open therefore rewrites such a
// node in the bytes given to ONNX Runtime into
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
// subgraphs. Field numbers are onnx.proto's, as in zipmap.go, plus
//
//	GraphProto:     initializer 5 (TensorProto: name 8), input 11
//	AttributeProto: f 2, i 3, s 4, t 5, floats 7, type 20
//	TensorProto:    dims 1, data_type 2, raw_data 9

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
)

const (
	treeClassifierOp = "TreeEnsembleClassifier"
	treeRegressorOp  = "TreeEnsembleRegressor"
	onnxInt64        = 7 // TensorProto.INT64
)

// treeRewrite is one binary TreeEnsembleClassifier replaced.
type treeRewrite struct {
	Node          string   // the classifier node's name
	Label         string   // its label output, "" if unused
	Probabilities string   // its probabilities output, "" if unused
	Labels        [2]int64 // classlabels_int64s
	Trees         int
}

func (r treeRewrite) String() string {
	return fmt.Sprintf("tree classifier %s (%d trees) -> TreeEnsembleRegressor + Sigmoid: %s float[N,2] = [1-p, p], %s int64[N] = %d if score > 0 else %d",
		r.Node, r.Trees, orNone(r.Probabilities), orNone(r.Label), r.Labels[1], r.Labels[0])
}

func orNone(s string) string {
	if s == "" {
		return "(unused)"
	}
	return s
}

// treeAttrs is what the rewrite reads of a TreeEnsembleClassifier's
// attributes; raw keeps each attribute's encoding, in order.
type treeAttrs struct {
	raw           []wireField
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

func parseTreeAttrs(nodeBytes []byte) (treeAttrs, error) {
	var a treeAttrs
	err := walkFields(nodeBytes, func(f wireField) error {
		if f.num != 5 || f.typ != protowire.BytesType {
			return nil
		}
		a.raw = append(a.raw, f)
		return a.read(f.val)
	})
	return a, err
}

func (a *treeAttrs) read(b []byte) error {
	fs, err := parseFields(b)
	if err != nil {
		return err
	}
	name := ""
	for _, f := range fs {
		if f.num == 1 && f.typ == protowire.BytesType {
			name = string(f.val)
		}
	}
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
	for _, f := range fs {
		switch {
		case f.num == 20 || f.num == 1:
		case name == "post_transform" && f.num == 4 && f.typ == protowire.BytesType:
			a.postTransform = string(f.val)
		case ints != nil && f.num == 8 && f.typ == protowire.VarintType:
			*ints = append(*ints, int64(f.v))
		case ints != nil && f.num == 8 && f.typ == protowire.BytesType: // packed
			for p := f.val; len(p) > 0; {
				v, k := protowire.ConsumeVarint(p)
				if k < 0 {
					return protowire.ParseError(k)
				}
				*ints = append(*ints, int64(v))
				p = p[k:]
			}
		case floats != nil && f.num == 7 && f.typ == protowire.Fixed32Type:
			v, _ := protowire.ConsumeFixed32(f.raw[protowire.SizeTag(7):])
			*floats = append(*floats, math.Float32frombits(v))
		case floats != nil && f.num == 7 && f.typ == protowire.BytesType: // packed
			if len(f.val)%4 != 0 {
				a.unknown = true // not floats: leave it to ONNX Runtime
				return nil
			}
			for p := f.val; len(p) > 0; p = p[4:] {
				*floats = append(*floats, math.Float32frombits(binary.LittleEndian.Uint32(p)))
			}
		case ints != nil || floats != nil || name == "post_transform":
			a.unknown = true // a value in a field the rewrite does not read
		}
	}
	return nil
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

// rewriteTreeClassifiers replaces each binary LOGISTIC TreeEnsembleClassifier
// of the model (see the file comment) with a TreeEnsembleRegressor and
// standard operators that produce the same outputs. It returns data
// itself, byte for byte, when there is nothing to rewrite. Bytes that are
// not a protobuf message give an error wrapping ErrModel.
func rewriteTreeClassifiers(data []byte) ([]byte, []treeRewrite, error) {
	bad := func(err error) ([]byte, []treeRewrite, error) {
		return nil, nil, fmt.Errorf("%w: reading the ONNX protobuf: %v", ErrModel, err)
	}
	model, err := parseFields(data)
	if err != nil {
		return bad(err)
	}
	graphAt, defaultOpset := -1, int64(0)
	for i, f := range model {
		switch {
		case f.num == 7:
			if graphAt >= 0 || f.typ != protowire.BytesType {
				return data, nil, nil // merged or odd graphs: leave to ONNX Runtime
			}
			graphAt = i
		case f.num == 8 && f.typ == protowire.BytesType:
			fs, err := parseFields(f.val)
			if err != nil {
				return bad(err)
			}
			domain, version := "", int64(0)
			for _, d := range fs {
				switch {
				case d.num == 1 && d.typ == protowire.BytesType:
					domain = string(d.val)
				case d.num == 2 && d.typ == protowire.VarintType:
					version = int64(d.v)
				}
			}
			if domain == "" || domain == "ai.onnx" {
				defaultOpset = max(defaultOpset, version)
			}
		}
	}
	if graphAt < 0 {
		return data, nil, nil
	}
	graph, err := parseFields(model[graphAt].val)
	if err != nil {
		return bad(err)
	}
	taken := map[string]bool{} // value and node names in use
	floats := map[string]bool{}
	nodes := map[int]node{}
	for i, f := range graph {
		if f.typ != protowire.BytesType {
			continue
		}
		switch f.num {
		case 1:
			n, err := parseNode(f.val)
			if err != nil {
				return bad(err)
			}
			nodes[i] = n
			taken[n.name] = true
			if n.opType == "Cast" && (n.domain == "" || n.domain == "ai.onnx") && len(n.outputs) == 1 {
				to, err := castTo(f.val)
				if err != nil {
					return bad(err)
				}
				floats[n.outputs[0]] = to == onnxFloat
			}
			for _, v := range append(slices.Clone(n.inputs), n.outputs...) {
				taken[v] = true
			}
		case 5:
			name, err := tensorName(f.val)
			if err != nil {
				return bad(err)
			}
			taken[name] = true
		case 11, 12, 13:
			name, elem, err := valueType(f.val)
			if err != nil {
				return bad(err)
			}
			taken[name] = true
			if f.num != 12 && elem == onnxFloat {
				floats[name] = true
			}
		}
	}
	if defaultOpset < 9 {
		return data, nil, nil
	}
	produced := map[string]bool{}
	for _, n := range nodes {
		if n.subgraph {
			return data, nil, nil
		}
		for _, o := range n.outputs {
			if o != "" && produced[o] {
				return data, nil, nil // not SSA: leave to ONNX Runtime
			}
			produced[o] = true
		}
	}

	names := &freshNames{taken: taken}
	replace := map[int][][]byte{} // graph field index -> NodeProtos replacing it
	var rewrites []treeRewrite
	for i, f := range graph {
		n, ok := nodes[i]
		if !ok || n.opType != treeClassifierOp || n.domain != mlDomain || len(n.inputs) != 1 ||
			!floats[n.inputs[0]] || len(n.outputs) < 1 || len(n.outputs) > 2 {
			continue
		}
		a, err := parseTreeAttrs(f.val)
		if err != nil {
			return bad(err)
		}
		trees, ok := a.binaryLogistic()
		if !ok {
			continue
		}
		r := treeRewrite{Node: n.name, Label: n.outputs[0], Labels: [2]int64{a.labels[0], a.labels[1]}, Trees: trees}
		if len(n.outputs) == 2 {
			r.Probabilities = n.outputs[1]
		}
		if r.Label == "" && r.Probabilities == "" {
			continue
		}
		replace[i] = regressorNodes(n, a, r, names)
		rewrites = append(rewrites, r)
	}
	if len(rewrites) == 0 {
		return data, nil, nil
	}

	var g []byte
	for i, f := range graph {
		if ns, ok := replace[i]; ok {
			for _, n := range ns {
				g = protowire.AppendTag(g, 1, protowire.BytesType)
				g = protowire.AppendBytes(g, n)
			}
			continue
		}
		g = append(g, f.raw...)
	}
	return withGraph(model, graphAt, g), rewrites, nil
}

// regressorNodes are the nodes that replace classifier n, in topological
// order.
func regressorNodes(n node, a treeAttrs, r treeRewrite, names *freshNames) [][]byte {
	base := n.name
	if base == "" {
		base = treeClassifierOp
	}
	value := func(suffix string) string { return names.get(base + "_" + suffix) }
	nodeName := func(suffix string) string { return names.get(base + "/" + suffix) }

	score := value("score")
	var attrs [][]byte
	for _, f := range a.raw {
		name, _ := valueName(f.val) // AttributeProto's name is field 1 too
		if to := treeAttrNames[name]; to != "" {
			attrs = append(attrs, renameAttr(f.val, to))
		}
	}
	attrs = append(attrs, intAttr("n_targets", 1))
	out := [][]byte{nodeProto(nodeName("regressor"), treeRegressorOp, mlDomain, []string{n.inputs[0]}, []string{score}, attrs...)}

	if r.Probabilities != "" {
		p, one, q := value("p"), value("one"), value("q")
		out = append(out,
			nodeProto(nodeName("sigmoid"), "Sigmoid", "", []string{score}, []string{p}),
			constantNode(nodeName("one"), one, tensorProto(onnxFloat, nil, float32Bytes(1))),
			nodeProto(nodeName("one_minus_p"), "Sub", "", []string{one, p}, []string{q}),
			nodeProto(nodeName("probabilities"), "Concat", "", []string{q, p}, []string{r.Probabilities}, intAttr("axis", 1)),
		)
	}
	if r.Label != "" {
		shape, flat, zero, positive, l1, l0 := value("shape"), value("flat"), value("zero"), value("positive"), value("label1"), value("label0")
		out = append(out,
			constantNode(nodeName("shape"), shape, tensorProto(onnxInt64, []int64{1}, int64Bytes(-1))),
			nodeProto(nodeName("flatten"), "Reshape", "", []string{score, shape}, []string{flat}),
			constantNode(nodeName("zero"), zero, tensorProto(onnxFloat, nil, float32Bytes(0))),
			nodeProto(nodeName("positive"), "Greater", "", []string{flat, zero}, []string{positive}),
			constantNode(nodeName("label1"), l1, tensorProto(onnxInt64, nil, int64Bytes(r.Labels[1]))),
			constantNode(nodeName("label0"), l0, tensorProto(onnxInt64, nil, int64Bytes(r.Labels[0]))),
			nodeProto(nodeName("label"), "Where", "", []string{positive, l1, l0}, []string{r.Label}),
		)
	}
	return out
}
