package trees

// ai.onnx.ml opset 5's TreeEnsemble. ONNX Runtime 1.24 turns its
// attributes into TreeEnsembleRegressor ones (TreeEnsembleAttributesV5::
// convert_to_v3) and runs the regressor's kernel; fromV5 does the same
// conversion, so the rest of the package compiles it as a regressor:
// trees in tree_roots order, numbered 0, 1, ...; each laid out from its
// root, the true branch first, a node shared by two parents copied under
// each; every leaf one weight (leaf_targetids, leaf_weights); a root whose
// two branches are the same leaf is a tree of one leaf whose weight ORT
// reads at the root's own index. ORT's numbering of post_transform is its
// own enum (0 NONE, 1 LOGISTIC, 2 SOFTMAX, 3 SOFTMAX_ZERO, 4 PROBIT), of
// aggregate_function 0 AVERAGE, 1 SUM, 2 MIN, 3 MAX. BRANCH_MEMBER (mode
// 6) is refused; so are double thresholds or weights.

import (
	"errors"
	"fmt"

	"github.com/batchscore/batchscore/scoring/onnxwire"
)

// TreeEnsembleV5 is the opset-5 op.
const TreeEnsembleV5 = "TreeEnsemble"

var v5Known = map[string]bool{
	"aggregate_function": true, "leaf_targetids": true, "leaf_weights": true, "membership_values": true,
	"n_targets": true, "nodes_falseleafs": true, "nodes_falsenodeids": true, "nodes_featureids": true,
	"nodes_hitrates": true, "nodes_missing_value_tracks_true": true, "nodes_modes": true,
	"nodes_splits": true, "nodes_trueleafs": true, "nodes_truenodeids": true, "post_transform": true,
	"tree_roots": true,
}

var (
	v5Modes      = []string{"BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"}
	v5Transforms = []string{"NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT"}
	v5Aggregates = []string{"AVERAGE", "SUM", "MIN", "MAX"}
)

// v5Lists are the opset-5 attributes.
type v5Lists struct {
	roots, feat, tru, fal, truLeaf, falLeaf, tracks, targets []int64
	modes                                                    []uint8
	splits, weights                                          []float32
}

// fromV5 converts a TreeEnsemble node's attributes into
// TreeEnsembleRegressor ones (see above).
func fromV5(attrs []attr) ([]attr, error) {
	s := &attrSet{m: map[string]attr{}}
	for _, a := range attrs {
		if !v5Known[a.name] {
			return nil, fmt.Errorf("%w: attribute %s", ErrUnsupported, a.name)
		}
		s.m[a.name] = a
	}
	if _, ok := s.m["membership_values"]; ok {
		return nil, fmt.Errorf("%w: BRANCH_MEMBER sets (membership_values)", ErrUnsupported)
	}
	var l v5Lists
	l.roots, l.feat = s.ints("tree_roots"), s.ints("nodes_featureids")
	l.tru, l.fal = s.ints("nodes_truenodeids"), s.ints("nodes_falsenodeids")
	l.truLeaf, l.falLeaf = s.ints("nodes_trueleafs"), s.ints("nodes_falseleafs")
	l.tracks, l.targets = s.ints("nodes_missing_value_tracks_true"), s.ints("leaf_targetids")
	agg, post, nt := int64(1), int64(0), int64(0)
	if a, ok := s.want("aggregate_function", onnxwire.AttrInt); ok {
		agg = a.I
	}
	if a, ok := s.want("post_transform", onnxwire.AttrInt); ok {
		post = a.I
	}
	if a, ok := s.want("n_targets", onnxwire.AttrInt); ok {
		nt = a.I
	}
	var err error
	for name, dst := range map[string]*[]float32{"nodes_splits": &l.splits, "leaf_weights": &l.weights} {
		a, ok := s.want(name, onnxwire.AttrTensor)
		if !ok {
			continue
		}
		if *dst, err = onnxwire.TensorFloats(a.Tensor); err != nil {
			return nil, v5Err(name, err)
		}
	}
	if a, ok := s.want("nodes_modes", onnxwire.AttrTensor); ok {
		if l.modes, err = onnxwire.TensorUint8s(a.Tensor); err != nil {
			return nil, v5Err("nodes_modes", err)
		}
	}
	if s.err != nil {
		return nil, s.err
	}
	if agg < 0 || agg >= int64(len(v5Aggregates)) || post < 0 || post >= int64(len(v5Transforms)) {
		return nil, fmt.Errorf("%w: aggregate_function %d or post_transform %d", ErrModel, agg, post)
	}
	out, err := l.v3()
	if err != nil {
		return nil, err
	}
	return append(out,
		attr{name: "n_targets", typ: onnxwire.AttrInt, Values: onnxwire.Values{I: nt}},
		attr{name: "aggregate_function", typ: onnxwire.AttrString, Values: onnxwire.Values{S: v5Aggregates[agg]}},
		attr{name: "post_transform", typ: onnxwire.AttrString, Values: onnxwire.Values{S: v5Transforms[post]}}), nil
}

func v5Err(name string, err error) error {
	if errors.Is(err, onnxwire.ErrUnsupported) {
		return fmt.Errorf("%w: attribute %s: %v", ErrUnsupported, name, err)
	}
	return fmt.Errorf("%w: attribute %s: %v", ErrModel, name, err)
}

// v3 lays the trees out as ORT's transformInputOneTree does.
func (l v5Lists) v3() ([]attr, error) {
	n := len(l.modes)
	for _, c := range [][]int64{l.feat, l.tru, l.fal, l.truLeaf, l.falLeaf} {
		if len(c) != n {
			return nil, fmt.Errorf("%w: node attributes of different lengths", ErrModel)
		}
	}
	if len(l.splits) != n || len(l.tracks) != 0 && len(l.tracks) != n || len(l.targets) != len(l.weights) {
		return nil, fmt.Errorf("%w: node or leaf attributes of different lengths", ErrModel)
	}
	var v threeLists
	const maxNodes = 1 << 24
	for tree, root := range l.roots {
		if root < 0 || root >= int64(n) {
			return nil, fmt.Errorf("%w: tree root %d outside the %d nodes", ErrModel, root, n)
		}
		isLeaf := l.fal[root] == l.tru[root] && l.falLeaf[root] != 0 && l.truLeaf[root] != 0
		next := int64(0)
		var add func(i int64, leaf bool, depth int) (int64, error)
		add = func(i int64, leaf bool, depth int) (int64, error) {
			id := next
			next++
			if depth > 1000 || len(v.tree) > maxNodes {
				return 0, fmt.Errorf("%w: tree %d deeper than 1000 or larger than %d nodes", ErrUnsupported, tree, maxNodes)
			}
			if leaf {
				if i < 0 || i >= int64(len(l.weights)) {
					return 0, fmt.Errorf("%w: leaf %d outside the %d leaves", ErrModel, i, len(l.weights))
				}
				v.node(int64(tree), id, 0, "LEAF", 0, 0, 0, 0)
				v.weigh(int64(tree), id, l.targets[i], l.weights[i])
				return id, nil
			}
			if i < 0 || i >= int64(n) {
				return 0, fmt.Errorf("%w: node %d outside the %d nodes", ErrModel, i, n)
			}
			if int(l.modes[i]) >= len(v5Modes) {
				return 0, fmt.Errorf("%w: node mode %d", ErrUnsupported, l.modes[i])
			}
			tracks := int64(0)
			if len(l.tracks) > 0 {
				tracks = l.tracks[i]
			}
			at := len(v.tree)
			v.node(int64(tree), id, l.feat[i], v5Modes[l.modes[i]], l.splits[i], 0, 0, tracks)
			t, err := add(l.tru[i], l.truLeaf[i] != 0, depth+1)
			if err != nil {
				return 0, err
			}
			f, err := add(l.fal[i], l.falLeaf[i] != 0, depth+1)
			v.tru[at], v.fal[at] = t, f
			return id, err
		}
		if _, err := add(root, isLeaf, 0); err != nil {
			return nil, err
		}
	}
	return v.attrs(), nil
}

// threeLists are TreeEnsembleRegressor's node and target lists.
type threeLists struct {
	tree, id, feat, tru, fal, tracks, wTree, wNode, wID []int64
	modes                                               []string
	values, weights                                     []float32
}

func (v *threeLists) node(tree, id, feat int64, mode string, value float32, tru, fal, tracks int64) {
	v.tree, v.id, v.feat = append(v.tree, tree), append(v.id, id), append(v.feat, feat)
	v.modes, v.values = append(v.modes, mode), append(v.values, value)
	v.tru, v.fal, v.tracks = append(v.tru, tru), append(v.fal, fal), append(v.tracks, tracks)
}

func (v *threeLists) weigh(tree, id, target int64, w float32) {
	v.wTree, v.wNode, v.wID, v.weights = append(v.wTree, tree), append(v.wNode, id), append(v.wID, target), append(v.weights, w)
}

func (v *threeLists) attrs() []attr {
	ints := func(name string, x []int64) attr {
		return attr{name: name, typ: onnxwire.AttrInts, Values: onnxwire.Values{Ints: x}}
	}
	floats := func(name string, x []float32) attr {
		return attr{name: name, typ: onnxwire.AttrFloats, Values: onnxwire.Values{Floats: x}}
	}
	return []attr{
		ints("nodes_treeids", v.tree), ints("nodes_nodeids", v.id), ints("nodes_featureids", v.feat),
		ints("nodes_truenodeids", v.tru), ints("nodes_falsenodeids", v.fal),
		ints("nodes_missing_value_tracks_true", v.tracks),
		{name: "nodes_modes", typ: onnxwire.AttrStrings, Values: onnxwire.Values{Strings: v.modes}},
		floats("nodes_values", v.values),
		ints("target_treeids", v.wTree), ints("target_nodeids", v.wNode), ints("target_ids", v.wID),
		floats("target_weights", v.weights),
	}
}
