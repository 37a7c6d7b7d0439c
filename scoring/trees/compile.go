package trees

// From a node's attributes to the compiled layout. The checks mirror what
// ONNX Runtime 1.24's TreeEnsembleCommon::Init accepts, and refuse what it
// accepts but this package does not reproduce.

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

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

// compile checks the attributes and builds e's trees, phase by phase:
// the attributes read (readAttrs), the node lists checked (checkLengths),
// each node indexed (indexNodes), children linked (link), leaves weighted
// (weighLeaves), the trees found and walked (findTrees), then laid out
// (treeSet.build).
func (e *Ensemble) compile(attrs []attr) error {
	l, err := e.readAttrs(attrs)
	if err != nil {
		return err
	}
	if err := l.checkLengths(); err != nil {
		return err
	}
	t := treeSet{feat: l.featIDs, thr: l.values}
	index, err := e.indexNodes(l, &t)
	if err != nil {
		return err
	}
	if err := l.link(index, &t); err != nil {
		return err
	}
	if err := e.weighLeaves(l, index, &t); err != nil {
		return err
	}
	if err := e.findTrees(l, &t); err != nil {
		return err
	}
	if captureTrees != nil {
		captureTrees(t)
	}
	e.forest = newForest(l, t)
	if e.general {
		return e.compileGeneral(t)
	}
	e.c = t.build()
	e.Layout = e.c.describe()
	return nil
}

// treeLists are the tree node's per-node and per-weight attributes.
type treeLists struct {
	prefix                                               string // class_ or target_
	treeIDs, nodeIDs, featIDs, trueIDs, falseIDs, tracks []int64
	modes                                                []string
	values                                               []float32
	wTrees, wNodes, wIDs                                 []int64
	weights                                              []float32
}

// nodeKey is a node's tree and node id.
type nodeKey struct{ tree, node int64 }

// readAttrs checks the attributes' names and types, sets e's settings
// (post_transform, aggregate_function, labels, base value) and returns
// the lists.
func (e *Ensemble) readAttrs(attrs []attr) (treeLists, error) {
	var l treeLists
	known := knownAttrs[e.Op]
	s := &attrSet{m: map[string]attr{}}
	for _, a := range attrs {
		if _, ok := known[a.name]; !ok {
			return l, fmt.Errorf("%w: attribute %s", ErrUnsupported, a.name)
		}
		if _, dup := s.m[a.name]; dup {
			return l, fmt.Errorf("%w: attribute %s given twice", ErrModel, a.name)
		}
		s.m[a.name] = a
	}
	l.prefix = "class_"
	if e.Op == Regressor {
		l.prefix = "target_"
	}
	l.treeIDs = s.ints("nodes_treeids")
	l.nodeIDs = s.ints("nodes_nodeids")
	l.featIDs = s.ints("nodes_featureids")
	l.trueIDs = s.ints("nodes_truenodeids")
	l.falseIDs = s.ints("nodes_falsenodeids")
	l.tracks = s.ints("nodes_missing_value_tracks_true")
	modesAttr, _ := s.want("nodes_modes", onnxwire.AttrStrings)
	l.modes = modesAttr.Strings
	l.values, _ = s.floats("nodes_values")
	l.wTrees = s.ints(l.prefix + "treeids")
	l.wNodes = s.ints(l.prefix + "nodeids")
	l.wIDs = s.ints(l.prefix + "ids")
	l.weights, _ = s.floats(l.prefix + "weights")
	base, _ := s.floats("base_values")
	e.PostTransform = s.str("post_transform", "NONE")
	if e.Op == Regressor {
		e.Aggregate = s.str("aggregate_function", "SUM")
		nt, ok := s.want("n_targets", onnxwire.AttrInt)
		if !ok || nt.I < 1 || nt.I > maxColumns {
			return l, fmt.Errorf("%w: n_targets %d (1 to %d are compiled)", ErrUnsupported, nt.I, maxColumns)
		}
		e.Targets = int(nt.I)
	}
	if s.err != nil {
		return l, s.err
	}
	if err := e.checkKind(s); err != nil {
		return l, err
	}
	e.bases = base
	if len(base) == 1 {
		e.Base, e.hasBase = base[0], true
	}
	return l, nil
}

// maxColumns bounds the classes or targets of a compiled node.
const maxColumns = 1 << 12

// checkKind checks the node's kind of output: a classifier's labels,
// and the settings each kind compiles.
func (e *Ensemble) checkKind(s *attrSet) error {
	switch e.Op {
	case Classifier:
		if _, ok := s.m["classlabels_strings"]; ok {
			return fmt.Errorf("%w: string class labels", ErrUnsupported)
		}
		labels := s.ints("classlabels_int64s")
		if len(labels) < 2 || len(labels) > maxColumns {
			return fmt.Errorf("%w: %d class labels (2 to %d are compiled)", ErrUnsupported, len(labels), maxColumns)
		}
		e.ClassLabels = labels
		e.Labels = [2]int64{labels[0], labels[1]}
	case Regressor:
		switch e.Aggregate {
		case "SUM", "AVERAGE", "MIN", "MAX":
		default:
			return fmt.Errorf("%w: aggregate_function %s", ErrUnsupported, e.Aggregate)
		}
	}
	switch e.PostTransform {
	case "NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO":
	default:
		// PROBIT takes ORT's own erf inverse (logf, sqrtf): not reproduced.
		return fmt.Errorf("%w: post_transform %s (NONE, LOGISTIC, SOFTMAX and SOFTMAX_ZERO are compiled)", ErrUnsupported, e.PostTransform)
	}
	return nil
}

// checkLengths checks the lists' lengths: ORT enforces equal ones.
func (l treeLists) checkLengths() error {
	n := len(l.treeIDs)
	if n == 0 {
		return fmt.Errorf("%w: no nodes", ErrUnsupported)
	}
	for name, c := range map[string]int{"nodes_nodeids": len(l.nodeIDs), "nodes_featureids": len(l.featIDs),
		"nodes_truenodeids": len(l.trueIDs), "nodes_falsenodeids": len(l.falseIDs), "nodes_modes": len(l.modes),
		"nodes_values": len(l.values)} {
		if c != n {
			return fmt.Errorf("%w: %s has %d values for %d nodes", ErrModel, name, c, n)
		}
	}
	if len(l.tracks) != 0 && len(l.tracks) != n {
		// ORT reads a shorter list as 0 for the rest; not needed here.
		return fmt.Errorf("%w: nodes_missing_value_tracks_true has %d values for %d nodes", ErrUnsupported, len(l.tracks), n)
	}
	if len(l.wNodes) != len(l.wTrees) || len(l.wIDs) != len(l.wTrees) || len(l.weights) != len(l.wTrees) {
		return fmt.Errorf("%w: %streeids, nodeids, ids and weights have %d, %d, %d and %d values",
			ErrModel, l.prefix, len(l.wTrees), len(l.wNodes), len(l.wIDs), len(l.weights))
	}
	return nil
}

// indexNodes checks each node's ids, feature and mode, sets t's leaves and
// truth tables, and returns where each (tree, node) is listed.
func (e *Ensemble) indexNodes(l treeLists, t *treeSet) (map[nodeKey]int, error) {
	n := len(l.treeIDs)
	index := make(map[nodeKey]int, n)
	t.leaf = make([]bool, n)
	t.masks = make([]uint8, n)
	for i := range n {
		for _, v := range []int64{l.treeIDs[i], l.nodeIDs[i]} {
			if v < 0 || v > math.MaxInt32 {
				return nil, fmt.Errorf("%w: tree or node id %d out of range", ErrUnsupported, v)
			}
		}
		k := nodeKey{l.treeIDs[i], l.nodeIDs[i]}
		if _, dup := index[k]; dup {
			return nil, fmt.Errorf("%w: node %d of tree %d listed twice", ErrModel, k.node, k.tree)
		}
		index[k] = i
		if l.tracks != nil && l.tracks[i] != 0 && l.tracks[i] != 1 {
			return nil, fmt.Errorf("%w: nodes_missing_value_tracks_true %d", ErrUnsupported, l.tracks[i])
		}
		if l.featIDs[i] >= 1<<24 {
			return nil, fmt.Errorf("%w: feature %d", ErrUnsupported, l.featIDs[i])
		}
		e.Features = max(e.Features, int(l.featIDs[i])+1) // ORT's max_feature_id_ counts every node
		switch mode := l.modes[i]; {
		case mode == "LEAF":
			t.leaf[i] = true
		case modeMasks[mode] != 0:
			if l.featIDs[i] < 0 {
				return nil, fmt.Errorf("%w: node %d of tree %d reads feature %d", ErrModel, k.node, k.tree, l.featIDs[i])
			}
			t.masks[i] = nodeMask(mode, l.tracks != nil && l.tracks[i] == 1, l.values[i])
		default:
			return nil, fmt.Errorf("%w: node mode %q", ErrUnsupported, mode)
		}
	}
	e.Features = max(e.Features, 1)
	e.Nodes = n
	return index, nil
}

// link sets t's children, in the node's tree; ORT also wants ids below
// the node count.
func (l treeLists) link(index map[nodeKey]int, t *treeSet) error {
	n := len(l.treeIDs)
	t.trueAt, t.falseAt = make([]int, n), make([]int, n)
	for i := range n {
		if t.leaf[i] {
			continue
		}
		for c, ids := range [2][]int64{l.trueIDs, l.falseIDs} {
			id := ids[i]
			j, ok := index[nodeKey{l.treeIDs[i], id}]
			if !ok || id >= int64(n) {
				return fmt.Errorf("%w: node %d of tree %d points to node %d, which is not in the tree", ErrModel, l.nodeIDs[i], l.treeIDs[i], id)
			}
			if j == i {
				return fmt.Errorf("%w: node %d of tree %d points to itself", ErrModel, l.nodeIDs[i], l.treeIDs[i])
			}
			if c == 0 {
				t.trueAt[i] = j
			} else {
				t.falseAt[i] = j
			}
		}
	}
	return nil
}

// weighLeaves reads the leaf weights into t: each leaf's (class or
// target, weight) pairs in listing order, which is the order ORT adds
// them (it sorts the weights by tree and node id, stably by position).
func (e *Ensemble) weighLeaves(l treeLists, index map[nodeKey]int, t *treeSet) error {
	n := len(l.treeIDs)
	t.weights = make([][]leafWeight, n)
	cols := e.Columns()
	for w := range l.wTrees {
		i, ok := index[nodeKey{l.wTrees[w], l.wNodes[w]}]
		switch {
		case !ok:
			return fmt.Errorf("%w: a weight for node %d of tree %d, which is not listed", ErrModel, l.wNodes[w], l.wTrees[w])
		case !t.leaf[i]:
			// ORT ignores these (old onnxmltools wrote them).
			return fmt.Errorf("%w: a weight on branch node %d of tree %d", ErrUnsupported, l.wNodes[w], l.wTrees[w])
		case l.wIDs[w] < 0 || l.wIDs[w] >= int64(cols):
			// ORT fails on these, or reads a single target's first weight whatever its id.
			return fmt.Errorf("%w: %sids %d outside the node's %d columns", ErrUnsupported, l.prefix, l.wIDs[w], cols)
		}
		for _, p := range t.weights[i] {
			if p.col == int(l.wIDs[w]) {
				// ORT adds both, in turn: not reproduced.
				return fmt.Errorf("%w: node %d of tree %d weighted twice in %s %d", ErrUnsupported, l.wNodes[w], l.wTrees[w], strings.TrimSuffix(l.prefix, "_"), l.wIDs[w])
			}
		}
		t.weights[i] = append(t.weights[i], leafWeight{col: int(l.wIDs[w]), w: l.weights[w]})
	}
	e.Positive = !slices.ContainsFunc(l.weights, func(w float32) bool { return w < 0 })
	ids := map[int64]bool{}
	for _, id := range l.wIDs {
		ids[id] = true
	}
	e.binaryCase = e.Op == Classifier && len(e.ClassLabels) == 2 && len(ids) == 1
	t.weight = make([]float32, n)
	for i := range n {
		switch {
		case t.leaf[i] && len(t.weights[i]) == 0:
			return fmt.Errorf("%w: leaf %d of tree %d has no weight", ErrModel, l.nodeIDs[i], l.treeIDs[i])
		case t.leaf[i]:
			t.weight[i] = t.weights[i][0].w
		}
	}
	e.general = !e.single(ids)
	return nil
}

// single says whether the node is one of the forms scored as one sum
// per row (Scores, Classify): a binary classifier with every weight in
// class 0 and at most one base value, or a single-target SUM or AVERAGE
// regressor with at most one base value.
func (e *Ensemble) single(ids map[int64]bool) bool {
	if len(ids) > 1 || len(e.bases) > 1 || len(ids) == 1 && !ids[0] {
		return false
	}
	if e.Op == Classifier {
		return len(e.ClassLabels) == 2 && (e.PostTransform == "NONE" || e.PostTransform == "LOGISTIC")
	}
	// ORT ignores a single target's post_transform but PROBIT.
	return e.Targets == 1 && (e.Aggregate == "SUM" || e.Aggregate == "AVERAGE")
}

// findTrees sets t's roots and depths. ORT starts a tree at each change
// of nodes_treeids and lays it out from the node listed first, depth
// first, the false child before the true one (TreeEnsembleCommon::
// AddNodes). A node reached a second time through a true branch is
// shared (LightGBM's categorical BRANCH_EQ chains point their true
// branches at one child); through a false branch ORT refuses the model.
// A cycle is refused, and so is a node not reached from its tree's first
// node (ORT counts the nodes laid out and refuses such a model too).
func (e *Ensemble) findTrees(l treeLists, t *treeSet) error {
	n := len(l.treeIDs)
	seen := map[int64]bool{}
	for i := range n {
		if i > 0 && l.treeIDs[i] == l.treeIDs[i-1] {
			continue
		}
		if seen[l.treeIDs[i]] {
			return fmt.Errorf("%w: the nodes of tree %d are not listed together", ErrUnsupported, l.treeIDs[i])
		}
		seen[l.treeIDs[i]] = true
		t.roots = append(t.roots, i)
	}
	e.Trees = len(t.roots)

	const maxDepth = 1000
	const (
		unseen = iota
		onPath
		done
	)
	state := make([]uint8, n)
	height := make([]int, n)
	where := func(i int) string { return fmt.Sprintf("node %d of tree %d", l.nodeIDs[i], l.treeIDs[i]) }
	var add func(i, d int) error
	add = func(i, d int) error {
		if d > maxDepth {
			return fmt.Errorf("%w: a tree deeper than %d", ErrUnsupported, maxDepth)
		}
		state[i] = onPath
		if !t.leaf[i] {
			f, tr := t.falseAt[i], t.trueAt[i]
			if state[f] != unseen {
				return fmt.Errorf("%w: %s: its false branch leads to %s, reached before (ORT refuses this)", ErrModel, where(i), where(f))
			}
			if err := add(f, d+1); err != nil {
				return err
			}
			switch state[tr] {
			case onPath:
				return fmt.Errorf("%w: %s: its true branch leads back to %s (a cycle)", ErrUnsupported, where(i), where(tr))
			case unseen:
				if err := add(tr, d+1); err != nil {
					return err
				}
			}
			height[i] = 1 + max(height[f], height[tr])
		}
		state[i] = done
		return nil
	}
	t.rootDepth = make([]int, len(t.roots))
	for k, r := range t.roots {
		if err := add(r, 0); err != nil {
			return err
		}
		t.rootDepth[k] = height[r]
		e.Depth = max(e.Depth, height[r])
	}
	for i := range n {
		if state[i] == unseen {
			return fmt.Errorf("%w: node %d of tree %d is not reached from the tree's first listed node %d",
				ErrUnsupported, l.nodeIDs[i], l.treeIDs[i], l.nodeIDs[t.roots[slices.Index(l.treeIDs, l.treeIDs[i])]])
		}
	}
	t.depth = e.Depth
	return nil
}

// leafWeight is one weight of a leaf: its class or target and value.
type leafWeight struct {
	col int
	w   float32
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
	weight          []float32      // a leaf's first weight (single-sum forms)
	weights         [][]leafWeight // every weight of each leaf
	trueAt, falseAt []int
	depth           int
	rootDepth       []int // each tree's depth
	tablesOnly      bool  // tests: compile x <= t splits as truth tables too
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

// leqForm says whether x <= t2 gives a split's answer for every non-NaN
// x, and which t2: BRANCH_LEQ with t itself; BRANCH_LT with the float
// below t (x < t iff x <= nextafter(t, -Inf); nothing is below -Inf,
// which takes t2 = NaN: false for every x); a NaN threshold with NaN
// (false). tracks is the node's missing-value tracking: the x <= t
// kernel reads a tracked node's feature from a copy of the block in
// which NaN is -Inf (true for every t2 but NaN, hence !ok then), an
// untracked node's from the block as it is (NaN <= t2 is false).
func leqForm(mask uint8, t float32) (t2 float32, tracks, ok bool) {
	tracks = mask>>outNaN&1 == 1
	nan := float32(math.NaN())
	switch mask &^ (1 << outNaN) {
	case maskLEQ:
		t2 = t
	case 1 << outLT:
		t2 = math.Nextafter32(t, float32(math.Inf(-1)))
		if t == float32(math.Inf(-1)) {
			t2 = nan
		}
	case 0:
		t2 = nan
	default:
		return 0, false, false
	}
	return t2, tracks, !tracks || t2 == t2
}

func (t treeSet) build() compiled {
	// x <= t2 gives every node's answer when each is BRANCH_LEQ or _LT,
	// with or without missing-value tracking (see leqForm).
	allLEQ := !t.tablesOnly
	copies := 1
	for i, m := range t.masks {
		if t.leaf[i] {
			continue
		}
		_, tracks, ok := leqForm(m, t.thr[i])
		if !ok || t.feat[i] >= maxLEQFeatures {
			allLEQ = false
		}
		if tracks {
			copies = 2
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
		c.copies = copies
		for i := range c.nodes {
			c.feats = max(c.feats, int(c.nodes[i].fm&featMask)+1)
		}
		for i := range c.nodes {
			n := &c.nodes[i]
			t2, tracks, _ := leqForm(uint8(n.fm>>24), n.t)
			f := n.fm & featMask
			if tracks {
				f += uint32(c.feats)
			}
			n.fm, n.t = f*4*block, t2
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
