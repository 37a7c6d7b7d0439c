package trees

// Forest is the checked trees of an ensemble as its node lists them, for
// code that walks them another way than the evaluator (scoring/explain).
// Index i is the i-th listed node; it is read-only after Load.
type Forest struct {
	TreeIDs, NodeIDs []int64   // nodes_treeids, nodes_nodeids
	Roots            []int     // each tree's first listed node, trees in listing order
	Leaf             []bool    // LEAF nodes
	Feature          []int     // a branch's feature
	Threshold        []float32 // a branch's threshold
	True, False      []int     // a branch's children (indexes)
	// Weights are each leaf's (column, weight) pairs in listing order.
	Weights [][]LeafWeight
	masks   []uint8
}

// LeafWeight is one weight of a leaf: its class or target column and value.
type LeafWeight struct {
	Column int
	Weight float32
}

// GoesTrue says whether x takes node i's true branch, as the evaluator
// decides it: the node's mode, a NaN x under missing-value tracking, a
// NaN threshold.
func (f *Forest) GoesTrue(i int, x float32) bool {
	return f.masks[i]>>outcome(x, f.Threshold[i])&1 == 1
}

// Forest returns the ensemble's trees as listed (shared, read-only).
func (e *Ensemble) Forest() *Forest { return e.forest }

// BaseValues returns the node's base values (nil when it has none).
func (e *Ensemble) BaseValues() []float32 { return e.bases }

// newForest copies the lists' ids and keeps t's checked arrays.
func newForest(l treeLists, t treeSet) *Forest {
	f := &Forest{TreeIDs: l.treeIDs, NodeIDs: l.nodeIDs, Roots: t.roots, Leaf: t.leaf, Threshold: t.thr,
		True: t.trueAt, False: t.falseAt, masks: t.masks}
	f.Feature = make([]int, len(t.feat))
	for i, v := range t.feat {
		f.Feature[i] = int(v)
	}
	f.Weights = make([][]LeafWeight, len(t.weights))
	for i, ws := range t.weights {
		for _, w := range ws {
			f.Weights[i] = append(f.Weights[i], LeafWeight{Column: w.col, Weight: w.w})
		}
	}
	return f
}

// OneSum says whether the node is scored as one sum per row (Scores,
// Classify): a binary classifier with its weights in class 0 and at most
// one base value, or a single-target SUM or AVERAGE regressor.
func (e *Ensemble) OneSum() bool { return !e.general }
