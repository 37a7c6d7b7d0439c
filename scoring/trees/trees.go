// Package trees scores ONNX tree ensembles in Go, compiled, with the
// results ONNX Runtime 1.24 gives to the bit.
//
// It reads the one ai.onnx.ml TreeEnsembleClassifier, TreeEnsembleRegressor
// or (opset 5) TreeEnsemble node of a model (Load), checks that it is a case the
// package reproduces exactly, and compiles its trees into flat arrays. The
// evaluator then follows ORT's CPU kernel (tree_ensemble_common.h,
// tree_ensemble_aggregator.h, ml_common.h) operation for operation:
//
//   - each split compares the float32 feature with the float32 threshold
//     under the node's mode (BRANCH_LEQ, _LT, _GTE, _GT, _EQ, _NEQ); a NaN
//     feature compares false (true for _NEQ), unless the node's
//     nodes_missing_value_tracks_true is 1, which sends NaN to the true
//     child. A node may be the true child of several (LightGBM's
//     categorical BRANCH_EQ chains), as ORT lays trees out;
//   - a column's score (the class or target a weight names) is 0, plus
//     each tree's leaf weight for that column in float32, trees in the
//     order their first node is listed; the base values, AVERAGE's
//     division by the number of trees, MIN and MAX follow each
//     aggregator's FinalizeScores;
//   - a binary classifier (two int64 labels, every weight in class 0) with
//     a negative weight somewhere labels a row classlabels[1] when the
//     score is > 0 and writes probabilities [ComputeLogistic(-s),
//     ComputeLogistic(s)] under LOGISTIC, [-s, s] under NONE; with no
//     negative weight ORT labels by score > 0.5 and writes [1-s, s] under
//     either (ml_common.h, write_scores). ComputeLogistic is reproduced
//     with glibc's expf (logistic.go). These forms, and single-target SUM
//     and AVERAGE regressors, are summed as one score per row (Scores,
//     Classify);
//   - the other forms (general.go) are summed one column at a time:
//     classifiers of three or more classes (label of the first highest
//     score, base values, NONE, LOGISTIC, SOFTMAX or SOFTMAX_ZERO over the
//     scores), binary classifiers with weights in class 1 or in both
//     classes (random forests) or two base values (ORT's binary case as it
//     is, quirks included), multi-target regressors, MIN and MAX.
//     Predict writes any form's outputs.
//
// These equal ORT's with one intra-op thread (batchscore's setting). With
// more threads ORT splits the trees between threads for calls of more than
// 50 rows (and for single rows of more than 80 trees) and adds the partial
// sums afterwards, which can round differently in the last bit.
//
// What is refused (ErrUnsupported) rather than approximated: string-label
// classifiers; PROBIT (ORT's own erf inverse); a class or target weighted
// on some leaves of a tree only, unless another tree weighs it on every
// leaf (whether ORT counts it as scored would depend on the row); a leaf
// weighted twice in one column; a weight id outside the node's columns;
// more base values than columns (a multi-target regressor: other than 0
// or n_targets); weights on a branch node; trees whose nodes are not
// listed together, not all reached from the tree's first listed node, or
// with a cycle; missing-value lists of another length than the nodes';
// double or external tensors; an input that is not a float [N,F] graph
// input; more than one tree node; the opset-5 TreeEnsemble's
// BRANCH_MEMBER sets (an opset-5 TreeEnsemble is otherwise read as ORT
// reads it, as a regressor: v5.go); other ai.onnx.ml opsets; attributes
// the package does not know. Malformed
// models, which ORT refuses too (a leaf without a weight, a child outside
// its tree, a node listed twice, a node reached again through a false
// branch, attribute lists of different lengths), give ErrModel.
package trees

import (
	"errors"
	"fmt"
	"math"

	"github.com/batchscore/batchscore/scoring/onnxwire"
)

var (
	// ErrUnsupported marks a valid model this package does not reproduce
	// exactly: score it with ONNX Runtime.
	ErrUnsupported = errors.New("tree ensemble not supported")
	// ErrModel marks bytes that are not a well-formed ONNX tree model.
	ErrModel = errors.New("not a readable ONNX tree model")
	// ErrInput marks an input or output buffer of the wrong size.
	ErrInput = errors.New("bad input")
)

// Kinds of ensemble.
const (
	Classifier = "TreeEnsembleClassifier"
	Regressor  = "TreeEnsembleRegressor"
)

const mlDomain = onnxwire.MLDomain

// Ensemble is a compiled tree node. It is read-only after Load, and its
// methods may be called from many goroutines at once.
type Ensemble struct {
	Op      string   // Classifier or Regressor
	Node    string   // the node's name
	Input   string   // the graph input the node reads
	Outputs []string // the node's outputs: label, probabilities (classifier) or Y
	// Width is the input's second dimension as the graph declares it,
	// -1 if it does not say.
	Width int
	// Features is the number of input columns the node needs: ORT's
	// highest nodes_featureids (of any node, leaves included) plus one.
	Features int
	Trees    int
	Nodes    int // nodes listed
	Depth    int // deepest leaf reachable, root at depth 0
	// PostTransform is NONE or LOGISTIC; Aggregate is SUM or AVERAGE
	// (regressor; a classifier sums).
	PostTransform string
	Aggregate     string
	Base          float32 // the base value when there is one, else 0
	hasBase       bool
	bases         []float32 // every base value
	Labels        [2]int64  // the first two classlabels_int64s (classifier)
	ClassLabels   []int64   // classlabels_int64s (classifier)
	Targets       int       // n_targets (regressor)
	// Positive is true when no class weight is negative: ORT then labels
	// a binary classifier by score > 0.5 and writes [1-s, s] whatever
	// PostTransform says.
	Positive   bool
	binaryCase bool // two classes, weights in one of them (ORT's binary_case_)
	// general is set for the forms scored one column at a time
	// (general.go): parts[k] sums column k, has[k] is ORT's has_score.
	general bool
	parts   []compiled
	has     []bool
	shared  bool // every part has the same nodes (sumsColumns)
	// OtherOps lists the graph's other nodes (op types), which this
	// package does not evaluate: a ZipMap or Cast after the classifier,
	// say. The caller decides whether the node's outputs are enough.
	OtherOps []string
	// Layout says how the trees were compiled (see compile.go).
	Layout string

	c      compiled
	forest *Forest // the trees as listed (Forest)
}

// Load reads a model's tree node and compiles it. A model this package
// does not reproduce exactly gives an error wrapping ErrUnsupported;
// malformed bytes an error wrapping ErrModel.
func Load(model []byte) (*Ensemble, error) {
	g, mlOpset, err := readGraph(model)
	if err != nil {
		return nil, err
	}
	var tree *onnxwire.Node
	var others []string
	for i := range g.Nodes {
		n := &g.Nodes[i]
		switch {
		case n.Domain == mlDomain && (n.Op == Classifier || n.Op == Regressor):
			if tree != nil {
				return nil, fmt.Errorf("%w: more than one tree ensemble node (%q and %q)", ErrUnsupported, tree.Name, n.Name)
			}
			tree = n
		case n.Domain == mlDomain && n.Op == TreeEnsembleV5:
			if tree != nil {
				return nil, fmt.Errorf("%w: more than one tree ensemble node (%q and %q)", ErrUnsupported, tree.Name, n.Name)
			}
			tree = n
		default:
			others = append(others, n.Op)
		}
	}
	if tree == nil {
		return nil, fmt.Errorf("%w: no TreeEnsembleClassifier or TreeEnsembleRegressor node", ErrUnsupported)
	}
	v5 := tree.Op == TreeEnsembleV5
	switch {
	case v5 && mlOpset != 5:
		return nil, fmt.Errorf("%w: TreeEnsemble under ai.onnx.ml opset %d (the package knows it at 5)", ErrUnsupported, mlOpset)
	case !v5 && (mlOpset < 1 || mlOpset > 4):
		return nil, fmt.Errorf("%w: %s under ai.onnx.ml opset %d (the package knows 1 to 4)", ErrUnsupported, tree.Op, mlOpset)
	}
	attrs, err := decodeAttrs(*tree)
	if err != nil {
		return nil, err
	}
	op := tree.Op
	if v5 {
		if attrs, err = fromV5(attrs); err != nil {
			return nil, fmt.Errorf("node %q: %w", tree.Name, err)
		}
		op = Regressor
	}
	if len(tree.Inputs) != 1 {
		return nil, fmt.Errorf("%w: node %q has %d inputs", ErrModel, tree.Name, len(tree.Inputs))
	}
	in, ok := g.inputs[tree.Inputs[0]]
	switch {
	case !ok || g.Initializers[tree.Inputs[0]]:
		return nil, fmt.Errorf("%w: node %q reads %q, which is not a graph input (another node computes it)",
			ErrUnsupported, tree.Name, tree.Inputs[0])
	case in.Elem != onnxwire.Float:
		return nil, fmt.Errorf("%w: input %q has element type %d; only float (1) is compiled", ErrUnsupported, in.Name, in.Elem)
	case in.HasShape && len(in.Shape) != 2:
		return nil, fmt.Errorf("%w: input %q has rank %d; only [N,F] is compiled", ErrUnsupported, in.Name, len(in.Shape))
	}
	e := &Ensemble{Op: op, Node: tree.Name, Input: in.Name, Outputs: tree.Outputs, Width: -1, OtherOps: others}
	if in.HasShape {
		e.Width = int(in.Shape[1])
	}
	if err := e.compile(attrs); err != nil {
		return nil, fmt.Errorf("node %q: %w", tree.Name, err)
	}
	if e.Width >= 0 && e.Width < e.Features {
		return nil, fmt.Errorf("%w: node %q uses feature %d but input %q has %d columns", ErrModel, e.Node, e.Features-1, e.Input, e.Width)
	}
	return e, nil
}

func (e *Ensemble) String() string {
	s := fmt.Sprintf("%s %q: %d trees, %d nodes, depth %d, %d features, %s", e.Op, e.Node, e.Trees, e.Nodes, e.Depth, e.Features, e.PostTransform)
	switch {
	case e.Op == Regressor:
		s += fmt.Sprintf(", %s of %d target(s)", e.Aggregate, e.Targets)
	case e.general:
		s += fmt.Sprintf(", %d classes %v", len(e.ClassLabels), e.ClassLabels)
	default:
		rule := "score > 0"
		if e.Positive {
			rule = "score > 0.5"
		}
		s += fmt.Sprintf(", labels %d/%d by %s", e.Labels[0], e.Labels[1], rule)
	}
	return s + ", " + e.Layout
}

// check validates a call's buffers: x is rows×width, row-major.
func (e *Ensemble) check(x []float32, width, rows int) error {
	switch {
	case width < e.Features:
		return fmt.Errorf("%w: %d columns, the trees read column %d", ErrInput, width, e.Features-1)
	case e.Width >= 0 && width != e.Width:
		return fmt.Errorf("%w: %d columns, the model's input has %d", ErrInput, width, e.Width)
	case len(x) != rows*width:
		return fmt.Errorf("%w: %d values for %d rows of %d", ErrInput, len(x), rows, width)
	}
	return nil
}

// Scores writes each row's score to out (one per row, len(x)/width rows):
// for a regressor its output Y, for a classifier its raw score (the
// weights' sum plus the base value) before any post_transform.
func (e *Ensemble) Scores(x []float32, width int, out []float32) error {
	if e.general {
		return fmt.Errorf("%w: %s has %d output columns: use Predict", ErrInput, e.Node, e.Columns())
	}
	if err := e.check(x, width, len(out)); err != nil {
		return err
	}
	e.c.sums(x, width, out)
	if e.Op == Regressor {
		// ORT's FinalizeScores1: AVERAGE divides by n_trees_ (a size_t,
		// converted to float), then both add origin_ (the base value, or
		// 0 without one).
		if e.Aggregate == "AVERAGE" {
			n := float32(e.Trees)
			for i := range out {
				out[i] /= n
			}
		}
		for i := range out {
			out[i] += e.Base
		}
		return nil
	}
	e.addBase(out)
	return nil
}

// addBase adds a classifier's base value as ORT's FinalizeScores does:
// only when the node has one (adding 0 would turn -0 into +0).
func (e *Ensemble) addBase(score []float32) {
	if !e.hasBase {
		return
	}
	for i := range score {
		score[i] += e.Base
	}
}

// Classify writes a binary classifier's outputs as ORT does: label[i] and
// prob[2i], prob[2i+1] for row i. score receives the raw scores and must
// hold one float per row; label or prob may be nil when not wanted.
func (e *Ensemble) Classify(x []float32, width int, score []float32, label []int64, prob []float32) error {
	if e.Op != Classifier || e.general {
		return fmt.Errorf("%w: %s is not a binary classifier scored as one sum: use Predict", ErrInput, e.Node)
	}
	n := len(score)
	if err := e.check(x, width, n); err != nil {
		return err
	}
	if label != nil && len(label) != n || prob != nil && len(prob) != 2*n {
		return fmt.Errorf("%w: %d rows, %d labels, %d probabilities", ErrInput, n, len(label), len(prob))
	}
	e.c.sums(x, width, score)
	e.addBase(score)
	e.finish(score, label, prob)
	return nil
}

// finish derives labels and probabilities from raw scores.
func (e *Ensemble) finish(score []float32, label []int64, prob []float32) {
	l0, l1 := e.Labels[0], e.Labels[1]
	if e.Positive {
		// write_scores cases 0 and 1: [1-s, s], label by s > 0.5.
		for i, s := range score {
			if label != nil {
				label[i] = l0
				if s > 0.5 {
					label[i] = l1
				}
			}
			if prob != nil {
				prob[2*i], prob[2*i+1] = 1-s, s
			}
		}
		return
	}
	logistic := e.PostTransform == "LOGISTIC"
	for i, s := range score {
		if label != nil {
			label[i] = l0
			if s > 0 {
				label[i] = l1
			}
		}
		if prob == nil {
			continue
		}
		if logistic {
			// [ComputeLogistic(-s), ComputeLogistic(s)]: both take
			// expf(-|s|).
			ex := expfFMA(-abs32(s))
			prob[2*i], prob[2*i+1] = logisticFrom(-s, ex), logisticFrom(s, ex)
		} else {
			prob[2*i], prob[2*i+1] = -s, s
		}
	}
}

// abs32 is fabsf: the sign bit cleared.
func abs32(x float32) float32 {
	return math.Float32frombits(math.Float32bits(x) &^ (1 << 31))
}
