package trees

// From a node's attributes to the compiled layout. The checks mirror what
// ONNX Runtime 1.24's TreeEnsembleCommon::Init accepts, and refuse what it
// accepts but this package does not reproduce.

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/batchscore/batchscore/scoring/onnxwire"
)

// Outcomes of comparing a feature x with a threshold t, as bits of a node's
// truth table (mask): bit k set means "go to the true child" for outcome k.
const (
	outLT  = 0 // x < t
	outEQ  = 1 // x == t
	outGT  = 2 // x > t
	outNaN = 3 // x is NaN
	// A NaN threshold with a non-NaN x gives outcome 0 in the evaluator
	// (no comparison holds); compile sets bits 0-2 alike for such nodes.
)

// modeMasks are the modes' truth tables without missing-value tracking.
var modeMasks = map[string]uint8{
	"BRANCH_LEQ": 1<<outLT | 1<<outEQ,
	"BRANCH_LT":  1 << outLT,
	"BRANCH_GTE": 1<<outEQ | 1<<outGT,
	"BRANCH_GT":  1 << outGT,
	"BRANCH_EQ":  1 << outEQ,
	"BRANCH_NEQ": 1<<outLT | 1<<outGT | 1<<outNaN, // NaN != t holds
}

const maskLEQ = 1<<outLT | 1<<outEQ

// nodeMask is a branch node's truth table: mode, missing-value tracking
// (NaN x goes true) and a NaN threshold (x CMP NaN is false but for NEQ).
func nodeMask(mode string, tracks bool, thr float32) uint8 {
	m := modeMasks[mode]
	if thr != thr {
		// x CMP NaN is false for every x; x != NaN true for every x.
		m = 0
		if mode == "BRANCH_NEQ" {
			m = 0b1111
		}
	}
	if tracks {
		m |= 1 << outNaN
	}
	return m
}

// attributes each op may carry, and whether the package reads them.
var knownAttrs = map[string]map[string]bool{
	Classifier: {
		"base_values": true, "base_values_as_tensor": true,
		"class_ids": true, "class_nodeids": true, "class_treeids": true,
		"class_weights": true, "class_weights_as_tensor": true,
		"classlabels_int64s": true, "classlabels_strings": true,
		"nodes_falsenodeids": true, "nodes_featureids": true,
		"nodes_hitrates": false, "nodes_hitrates_as_tensor": false, // unused by ORT at inference
		"nodes_missing_value_tracks_true": true, "nodes_modes": true,
		"nodes_nodeids": true, "nodes_treeids": true, "nodes_truenodeids": true,
		"nodes_values": true, "nodes_values_as_tensor": true,
		"post_transform": true,
	},
	Regressor: {
		"aggregate_function": true,
		"base_values":        true, "base_values_as_tensor": true,
		"n_targets":  true,
		"target_ids": true, "target_nodeids": true, "target_treeids": true,
		"target_weights": true, "target_weights_as_tensor": true,
		"nodes_falsenodeids": true, "nodes_featureids": true,
		"nodes_hitrates": false, "nodes_hitrates_as_tensor": false,
		"nodes_missing_value_tracks_true": true, "nodes_modes": true,
		"nodes_nodeids": true, "nodes_treeids": true, "nodes_truenodeids": true,
		"nodes_values": true, "nodes_values_as_tensor": true,
		"post_transform": true,
	},
}

// attrSet is a node's attributes by name, with typed getters that record
// the first error.
type attrSet struct {
	m   map[string]attr
	err error
}

func (s *attrSet) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

func (s *attrSet) want(name string, typ uint64) (attr, bool) {
	a, ok := s.m[name]
	if ok && a.typ != typ {
		s.fail(fmt.Errorf("%w: attribute %s has type %d, want %d", ErrModel, name, a.typ, typ))
		return a, false
	}
	return a, ok
}

func (s *attrSet) ints(name string) []int64 {
	a, _ := s.want(name, onnxwire.AttrInts)
	return a.Ints
}

func (s *attrSet) str(name, def string) string {
	if a, ok := s.want(name, onnxwire.AttrString); ok {
		return a.S
	}
	return def
}

// floats reads name or name_as_tensor (a float tensor); both is an error,
// as in ORT.
func (s *attrSet) floats(name string) ([]float32, bool) {
	a, ok := s.want(name, onnxwire.AttrFloats)
	t, tok := s.want(name+"_as_tensor", onnxwire.AttrTensor)
	switch {
	case ok && tok:
		s.fail(fmt.Errorf("%w: both %s and %s_as_tensor", ErrModel, name, name))
	case tok:
		v, err := onnxwire.TensorFloats(t.Tensor)
		if err != nil {
			if errors.Is(err, onnxwire.ErrUnsupported) {
				s.fail(fmt.Errorf("%w: attribute %s_as_tensor: %v", ErrUnsupported, name, err))
			} else {
				s.fail(fmt.Errorf("%w: attribute %s_as_tensor: %v", ErrModel, name, err))
			}
		}
		return v, true
	}
	return a.Floats, ok
}

// compile checks the attributes and builds e's trees.
func (e *Ensemble) compile(attrs []attr) error {
	known := knownAttrs[e.Op]
	s := &attrSet{m: map[string]attr{}}
	for _, a := range attrs {
		if _, ok := known[a.name]; !ok {
			return fmt.Errorf("%w: attribute %s", ErrUnsupported, a.name)
		}
		if _, dup := s.m[a.name]; dup {
			return fmt.Errorf("%w: attribute %s given twice", ErrModel, a.name)
		}
		s.m[a.name] = a
	}
	prefix := "class_"
	if e.Op == Regressor {
		prefix = "target_"
	}
	treeIDs := s.ints("nodes_treeids")
	nodeIDs := s.ints("nodes_nodeids")
	featIDs := s.ints("nodes_featureids")
	trueIDs := s.ints("nodes_truenodeids")
	falseIDs := s.ints("nodes_falsenodeids")
	tracks := s.ints("nodes_missing_value_tracks_true")
	modesAttr, _ := s.want("nodes_modes", onnxwire.AttrStrings)
	modes := modesAttr.Strings
	values, _ := s.floats("nodes_values")
	wTrees := s.ints(prefix + "treeids")
	wNodes := s.ints(prefix + "nodeids")
	wIDs := s.ints(prefix + "ids")
	weights, _ := s.floats(prefix + "weights")
	base, _ := s.floats("base_values")
	e.PostTransform = s.str("post_transform", "NONE")
	if e.Op == Regressor {
		e.Aggregate = s.str("aggregate_function", "SUM")
		nt, ok := s.want("n_targets", onnxwire.AttrInt)
		if !ok || nt.I != 1 {
			return fmt.Errorf("%w: n_targets %d (only 1 is compiled)", ErrUnsupported, nt.I)
		}
	}
	if s.err != nil {
		return s.err
	}

	// The node's kind of output.
	switch e.Op {
	case Classifier:
		if _, ok := s.m["classlabels_strings"]; ok {
			return fmt.Errorf("%w: string class labels", ErrUnsupported)
		}
		labels := s.ints("classlabels_int64s")
		if len(labels) != 2 {
			return fmt.Errorf("%w: %d class labels (only binary classifiers are compiled)", ErrUnsupported, len(labels))
		}
		e.Labels = [2]int64{labels[0], labels[1]}
		if e.PostTransform != "NONE" && e.PostTransform != "LOGISTIC" {
			return fmt.Errorf("%w: post_transform %s on a classifier (NONE and LOGISTIC are compiled)", ErrUnsupported, e.PostTransform)
		}
	case Regressor:
		if e.Aggregate != "SUM" && e.Aggregate != "AVERAGE" {
			return fmt.Errorf("%w: aggregate_function %s (SUM and AVERAGE are compiled)", ErrUnsupported, e.Aggregate)
		}
		if e.PostTransform != "NONE" {
			return fmt.Errorf("%w: post_transform %s on a regressor (NONE is compiled)", ErrUnsupported, e.PostTransform)
		}
	}
	switch len(base) {
	case 0:
	case 1:
		e.Base, e.hasBase = base[0], true
	default:
		return fmt.Errorf("%w: %d base values (0 or 1 are compiled)", ErrUnsupported, len(base))
	}

	// Node arrays: ORT enforces equal lengths.
	n := len(treeIDs)
	if n == 0 {
		return fmt.Errorf("%w: no nodes", ErrUnsupported)
	}
	for name, l := range map[string]int{"nodes_nodeids": len(nodeIDs), "nodes_featureids": len(featIDs),
		"nodes_truenodeids": len(trueIDs), "nodes_falsenodeids": len(falseIDs), "nodes_modes": len(modes),
		"nodes_values": len(values)} {
		if l != n {
			return fmt.Errorf("%w: %s has %d values for %d nodes", ErrModel, name, l, n)
		}
	}
	if len(tracks) != 0 && len(tracks) != n {
		// ORT reads a shorter list as 0 for the rest; not needed here.
		return fmt.Errorf("%w: nodes_missing_value_tracks_true has %d values for %d nodes", ErrUnsupported, len(tracks), n)
	}
	if len(wNodes) != len(wTrees) || len(wIDs) != len(wTrees) || len(weights) != len(wTrees) {
		return fmt.Errorf("%w: %streeids, nodeids, ids and weights have %d, %d, %d and %d values",
			ErrModel, prefix, len(wTrees), len(wNodes), len(wIDs), len(weights))
	}
	type key struct{ tree, node int64 }
	index := make(map[key]int, n)
	leaf := make([]bool, n)
	masks := make([]uint8, n)
	for i := range n {
		for _, v := range []int64{treeIDs[i], nodeIDs[i]} {
			if v < 0 || v > math.MaxInt32 {
				return fmt.Errorf("%w: tree or node id %d out of range", ErrUnsupported, v)
			}
		}
		k := key{treeIDs[i], nodeIDs[i]}
		if _, dup := index[k]; dup {
			return fmt.Errorf("%w: node %d of tree %d listed twice", ErrModel, k.node, k.tree)
		}
		index[k] = i
		if tracks != nil && tracks[i] != 0 && tracks[i] != 1 {
			return fmt.Errorf("%w: nodes_missing_value_tracks_true %d", ErrUnsupported, tracks[i])
		}
		if featIDs[i] >= 1<<24 {
			return fmt.Errorf("%w: feature %d", ErrUnsupported, featIDs[i])
		}
		e.Features = max(e.Features, int(featIDs[i])+1) // ORT's max_feature_id_ counts every node
		switch mode := modes[i]; {
		case mode == "LEAF":
			leaf[i] = true
		case modeMasks[mode] != 0:
			if featIDs[i] < 0 {
				return fmt.Errorf("%w: node %d of tree %d reads feature %d", ErrModel, k.node, k.tree, featIDs[i])
			}
			masks[i] = nodeMask(mode, tracks != nil && tracks[i] == 1, values[i])
		default:
			return fmt.Errorf("%w: node mode %q", ErrUnsupported, mode)
		}
	}
	e.Features = max(e.Features, 1)
	e.Nodes = n

	// Children, in the node's tree; ORT also wants ids below the node count.
	trueAt, falseAt := make([]int, n), make([]int, n)
	for i := range n {
		if leaf[i] {
			continue
		}
		for c, ids := range [2][]int64{trueIDs, falseIDs} {
			id := ids[i]
			j, ok := index[key{treeIDs[i], id}]
			if !ok || id >= int64(n) {
				return fmt.Errorf("%w: node %d of tree %d points to node %d, which is not in the tree", ErrModel, nodeIDs[i], treeIDs[i], id)
			}
			if j == i {
				return fmt.Errorf("%w: node %d of tree %d points to itself", ErrModel, nodeIDs[i], treeIDs[i])
			}
			if c == 0 {
				trueAt[i] = j
			} else {
				falseAt[i] = j
			}
		}
	}

	// Leaf weights: one per leaf, in class or target 0.
	weight := make([]float32, n)
	weighted := make([]bool, n)
	for w := range wTrees {
		i, ok := index[key{wTrees[w], wNodes[w]}]
		switch {
		case !ok:
			return fmt.Errorf("%w: a weight for node %d of tree %d, which is not listed", ErrModel, wNodes[w], wTrees[w])
		case !leaf[i]:
			// ORT ignores these (old onnxmltools wrote them).
			return fmt.Errorf("%w: a weight on branch node %d of tree %d", ErrUnsupported, wNodes[w], wTrees[w])
		case wIDs[w] != 0:
			return fmt.Errorf("%w: %sids %d (only one score column, id 0, is compiled)", ErrUnsupported, prefix, wIDs[w])
		case weighted[i]:
			return fmt.Errorf("%w: node %d of tree %d weighted twice", ErrUnsupported, wNodes[w], wTrees[w])
		}
		weighted[i], weight[i] = true, weights[w]
	}
	e.Positive = !slices.ContainsFunc(weights, func(w float32) bool { return w < 0 })
	for i := range n {
		if leaf[i] && !weighted[i] {
			return fmt.Errorf("%w: leaf %d of tree %d has no weight", ErrModel, nodeIDs[i], treeIDs[i])
		}
	}

	// Trees: ORT starts a tree at each change of nodes_treeids and walks
	// from the node listed first.
	var roots []int
	seen := map[int64]bool{}
	for i := range n {
		if i > 0 && treeIDs[i] == treeIDs[i-1] {
			continue
		}
		if seen[treeIDs[i]] {
			return fmt.Errorf("%w: the nodes of tree %d are not listed together", ErrUnsupported, treeIDs[i])
		}
		seen[treeIDs[i]] = true
		roots = append(roots, i)
	}
	e.Trees = len(roots)

	// Depth, and each tree a proper tree: every node of its run reached
	// once from the node listed first. ORT 1.24 builds its own node order
	// from the first node of each run; how it reads runs with other nodes
	// (unreachable ones, a node shared by two parents, a cycle) is not
	// something to guess at.
	const maxDepth = 1000
	visited := make([]bool, n)
	var walk func(i, d int) (int, error)
	walk = func(i, d int) (int, error) {
		switch {
		case d > maxDepth:
			return 0, fmt.Errorf("%w: a tree deeper than %d", ErrUnsupported, maxDepth)
		case visited[i]:
			return 0, fmt.Errorf("%w: node %d of tree %d is reached twice (shared or in a cycle)", ErrUnsupported, nodeIDs[i], treeIDs[i])
		}
		visited[i] = true
		if leaf[i] {
			return d, nil
		}
		a, err := walk(trueAt[i], d+1)
		if err != nil {
			return 0, err
		}
		b, err := walk(falseAt[i], d+1)
		return max(a, b), err
	}
	for _, r := range roots {
		d, err := walk(r, 0)
		if err != nil {
			return err
		}
		e.Depth = max(e.Depth, d)
	}
	for i := range n {
		if !visited[i] {
			return fmt.Errorf("%w: node %d of tree %d is not reached from the tree's first listed node %d",
				ErrUnsupported, nodeIDs[i], treeIDs[i], nodeIDs[roots[slices.Index(treeIDs, treeIDs[i])]])
		}
	}

	t := treeSet{roots: roots, leaf: leaf, masks: masks, feat: featIDs, thr: values,
		weight: weight, trueAt: trueAt, falseAt: falseAt, depth: e.Depth}
	if captureTrees != nil {
		captureTrees(t)
	}
	e.c = t.build()
	e.Layout = e.c.describe()
	return nil
}

// captureTrees, when set (tests), receives each compiled treeSet.
var captureTrees func(treeSet)

// treeSet is the checked trees, in the attributes' order.
type treeSet struct {
	roots           []int
	leaf            []bool
	masks           []uint8
	feat            []int64
	thr             []float32
	weight          []float32
	trueAt, falseAt []int
	depth           int
	tablesOnly      bool // tests: compile x <= t splits as truth tables too
}

// Complete layouts pad every tree to the deepest one's depth; past these
// limits the trees are walked node by node instead.
const (
	maxCompleteDepth = 10
	maxPadding       = 8 // padded nodes per listed node
	// The x <= t kernel copies each block of rows up to the last feature
	// it reads: past this many columns (512 KiB a call) the truth-table
	// kernel is used instead.
	maxLEQFeatures = 1024
)

func (t treeSet) build() compiled {
	// x <= t gives every node's answer when each is BRANCH_LEQ without
	// missing-value tracking, or has a NaN threshold and no tracking
	// (false for every x, as x <= NaN is).
	allLEQ := !t.tablesOnly
	for i, m := range t.masks {
		if !t.leaf[i] && (m != maskLEQ && m != 0 || t.feat[i] >= maxLEQFeatures) {
			allLEQ = false
		}
	}
	padded := len(t.roots) << (t.depth + 1)
	if t.depth > maxCompleteDepth || padded > maxPadding*len(t.leaf)+64 {
		return t.buildWalk()
	}
	c := compiled{layout: layoutMask, trees: len(t.roots), depth: t.depth, inner: 1<<t.depth - 1}
	if allLEQ {
		c.layout = layoutLEQ
	}
	c.nodes = make([]cnode, c.trees*c.inner)
	c.leaves = make([]float32, c.trees*(c.inner+1), c.trees*(c.inner+1)+8) // leqAVX2 reads 8 past the last tree's
	for k, r := range t.roots {
		nodes := c.nodes[k*c.inner : (k+1)*c.inner]
		leaves := c.leaves[k*(c.inner+1) : (k+1)*(c.inner+1)]
		var place func(i, pos, d int)
		place = func(i, pos, d int) {
			if d == t.depth {
				leaves[pos-c.inner] = t.weight[i] // a leaf, since depth is the deepest
				return
			}
			if t.leaf[i] {
				// Pad: a split whose two children are this leaf. It reads
				// feature 0, which always exists; either way ends here.
				nodes[pos] = cnode{fm: uint32(maskLEQ) << 24}
				place(i, 2*pos+1, d+1)
				place(i, 2*pos+2, d+1)
				return
			}
			nodes[pos] = cnode{fm: uint32(t.feat[i]) | uint32(t.masks[i])<<24, t: t.thr[i]}
			place(t.trueAt[i], 2*pos+1, d+1)
			place(t.falseAt[i], 2*pos+2, d+1)
		}
		place(r, 0, 0)
	}
	if allLEQ {
		for i := range c.nodes {
			f := c.nodes[i].fm & featMask
			c.feats = max(c.feats, int(f)+1)
			c.nodes[i].fm = f * 4 * block
		}
	}
	return c
}

func (t treeSet) buildWalk() compiled {
	c := compiled{layout: layoutWalk, trees: len(t.roots), depth: t.depth}
	c.walk = make([]wnode, len(t.leaf))
	for i := range t.leaf {
		if t.leaf[i] {
			c.walk[i] = wnode{fm: leafFlag, t: t.weight[i]}
			continue
		}
		c.walk[i] = wnode{fm: uint32(t.feat[i]) | uint32(t.masks[i])<<24, t: t.thr[i],
			tru: int32(t.trueAt[i]), fal: int32(t.falseAt[i])}
	}
	for _, r := range t.roots {
		c.roots = append(c.roots, int32(r))
	}
	return c
}
