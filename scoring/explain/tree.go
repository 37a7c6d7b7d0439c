package explain

import (
	"fmt"

	"github.com/batchscore/batchscore/scoring/trees"
)

// Tree explains a tree ensemble by exact path-dependent TreeSHAP
// (Lundberg et al. 2018, Algorithm 2; see the package doc) for one
// margin column.
type Tree struct {
	f      *trees.Forest
	inputs int
	input  string // the graph input the trees read
	roots  []int32
	depth  int
	leaf   []bool
	feat   []int32
	tru    []int32
	fal    []int32   // a chain's head: the chain's false child
	next   []int32   // a chain's next node (chain.go); -1: none
	val    []float64 // a leaf's value in the explained margin (scaled, signed)
	zt, zf []float64 // cover of the true / false child over the node's
	offset float64   // what the margin adds to the trees' sum
	bias   float64
	fast   *fastTree // nil: Algorithm 2 (the paths are too long)
}

// Margin says which margin an explanation is in: the ensemble's raw
// output column Column (a class or target), times Sign, plus Offset. A
// binary classifier scored as one sum (trees.Ensemble.OneSum) has its
// score s in column 0: class 1's margin is s, class 0's is −s under
// LOGISTIC (its probability is logistic(−s)) and 1 − s when the node
// writes [1−s, s].
type Margin struct {
	Column int
	Sign   float64
	Offset float64
}

// ClassMargin returns the margin of class index k (the position in the
// class labels, or the target for a regressor) of e, or an error wrapping
// ErrUnsupported naming what is not explained.
func ClassMargin(e *trees.Ensemble, k int) (Margin, error) {
	cols := e.Columns()
	if k < 0 || k >= cols {
		return Margin{}, fmt.Errorf("%w: column %d of %d", ErrUnsupported, k, cols)
	}
	switch {
	case e.Op == trees.Regressor && (e.Aggregate == "MIN" || e.Aggregate == "MAX"):
		return Margin{}, fmt.Errorf("%w: aggregate_function %s (a row's score is one tree's, not a sum)", ErrUnsupported, e.Aggregate)
	case e.Op == trees.Classifier && cols == 2 && !e.OneSum():
		return Margin{}, fmt.Errorf("%w: a binary classifier with weights in class 1 or two base values", ErrUnsupported)
	case e.Op == trees.Classifier && cols == 2:
		switch {
		case k == 1:
			return Margin{Column: 0, Sign: 1}, nil
		case e.Positive:
			return Margin{Column: 0, Sign: -1, Offset: 1}, nil
		default:
			return Margin{Column: 0, Sign: -1}, nil
		}
	}
	if n := len(e.BaseValues()); n > 1 && n != cols {
		return Margin{}, fmt.Errorf("%w: %d base values for %d columns", ErrUnsupported, n, cols)
	}
	return Margin{Column: k, Sign: 1}, nil
}

// NewTree builds the explainer of e's margin m with the given covers
// (checked: errors wrap ErrCovers naming tree and node). A node reached
// from several parents is read with them as one split when they are a
// chain on one feature (LightGBM's categorical splits: chain.go); any
// other shared node is ErrUnsupported, naming tree and node.
func NewTree(e *trees.Ensemble, m Margin, covers []Cover) (*Tree, error) {
	f := e.Forest()
	if f == nil {
		return nil, fmt.Errorf("%w: the ensemble has no trees", ErrUnsupported)
	}
	ch, err := readChains(f)
	if err != nil {
		return nil, err
	}
	cov, err := nodeCovers(f, ch, covers)
	if err != nil {
		return nil, err
	}
	scale := m.Sign
	if e.Op == trees.Regressor && e.Aggregate == "AVERAGE" {
		scale /= float64(e.Trees)
	}
	t := &Tree{f: f, inputs: e.Features, input: e.Input, offset: m.Offset, next: ch.next}
	if e.Width > t.inputs {
		t.inputs = e.Width
	}
	if b := e.BaseValues(); len(b) == 1 {
		t.offset += m.Sign * float64(b[0])
	} else if len(b) > 1 {
		t.offset += m.Sign * float64(b[m.Column])
	}
	n := len(f.Leaf)
	t.leaf, t.feat, t.tru, t.fal = f.Leaf, make([]int32, n), make([]int32, n), make([]int32, n)
	t.val, t.zt, t.zf = make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		if f.Leaf[i] {
			for _, w := range f.Weights[i] {
				if w.Column == m.Column {
					t.val[i] = scale * float64(w.Weight)
				}
			}
			continue
		}
		if ch.interior[i] {
			continue
		}
		t.feat[i], t.tru[i], t.fal[i] = int32(f.Feature[i]), int32(f.True[i]), int32(ch.fal[i])
		t.zt[i], t.zf[i] = cov[f.True[i]]/cov[i], cov[ch.fal[i]]/cov[i]
	}
	t.bias = t.offset
	for _, r := range f.Roots {
		if !t.weighs(r) {
			continue
		}
		t.roots = append(t.roots, int32(r))
		t.bias += t.expected(r)
		t.depth = max(t.depth, t.height(r))
	}
	t.fast = buildFast(t)
	return t, nil
}

// weighs says whether some leaf under node i has a value in the margin.
func (t *Tree) weighs(i int) bool {
	if t.leaf[i] {
		return t.val[i] != 0
	}
	return t.weighs(int(t.tru[i])) || t.weighs(int(t.fal[i]))
}

// expected is the cover-weighted mean of the leaves under node i.
func (t *Tree) expected(i int) float64 {
	if t.leaf[i] {
		return t.val[i]
	}
	return t.zt[i]*t.expected(int(t.tru[i])) + t.zf[i]*t.expected(int(t.fal[i]))
}

func (t *Tree) height(i int) int {
	if t.leaf[i] {
		return 0
	}
	return 1 + max(t.height(int(t.tru[i])), t.height(int(t.fal[i])))
}

// goesTrue says whether row x takes node i's true branch, as the
// evaluator decides it; at a chain's head, whether some node of the
// chain sends x to the chain's true child.
func (t *Tree) goesTrue(i int, x []float32) bool {
	if t.next[i] < 0 {
		return t.f.GoesTrue(i, x[t.feat[i]])
	}
	return t.chainTrue(i, x)
}

// chainTrue is goesTrue at a chain's head: the chain walked as the
// evaluator walks it.
func (t *Tree) chainTrue(i int, x []float32) bool {
	v := x[t.feat[i]]
	for !t.f.GoesTrue(i, v) {
		if i = int(t.next[i]); i < 0 {
			return false
		}
	}
	return true
}

// Inputs implements Explainer.
func (t *Tree) Inputs() int { return t.inputs }

// Method implements Explainer.
func (t *Tree) Method() string { return "tree_shap_path_dependent" }

// Bias is the margin's expected value under the covers.
func (t *Tree) Bias() float64 { return t.bias }

// Explain implements Explainer.
func (t *Tree) Explain(x []float32, s *Scratch, phi []float64) (bias, margin float64) {
	clear(phi)
	if t.fast != nil {
		return t.bias, t.explainFast(x, s, phi)
	}
	return t.explainRecursive(x, s, phi)
}

// explainRecursive is Algorithm 2 itself.
func (t *Tree) explainRecursive(x []float32, s *Scratch, phi []float64) (bias, margin float64) {
	clear(phi)
	maxd := t.depth + 2
	if need := (maxd + 1) * (maxd + 2) / 2; len(s.path) < need {
		s.path = make([]pathElement, need)
	}
	margin = t.offset
	for _, r := range t.roots {
		i := int(r)
		for !t.leaf[i] {
			if t.goesTrue(i, x) {
				i = int(t.tru[i])
			} else {
				i = int(t.fal[i])
			}
		}
		margin += t.val[i]
		t.recurse(x, phi, int(r), s.path, 0, 1, 1, -1)
	}
	return t.bias, margin
}

// pathElement is one feature on the unique path of Algorithm 2.
type pathElement struct {
	feature            int32
	zero, one, pweight float64
}

// recurse is Algorithm 2's RECURSE: node i, the parent's path (its first
// depth elements in use), the fractions of the feature the parent split
// on (feature -1 at the root).
func (t *Tree) recurse(x []float32, phi []float64, i int, parent []pathElement, depth int, pz, po float64, pf int32) {
	path := parent[depth+1:]
	copy(path, parent[:depth+1])
	extend(path, depth, pz, po, pf)
	if t.leaf[i] {
		v := t.val[i]
		for k := 1; k <= depth; k++ {
			w := unwoundSum(path, depth, k)
			el := path[k]
			phi[el.feature] += w * (el.one - el.zero) * v
		}
		return
	}
	f := t.feat[i]
	hot, cold := int(t.tru[i]), int(t.fal[i])
	hz, cz := t.zt[i], t.zf[i]
	if !t.goesTrue(i, x) {
		hot, cold, hz, cz = cold, hot, cz, hz
	}
	iz, io := 1.0, 1.0
	k := 0
	for ; k <= depth; k++ {
		if path[k].feature == f {
			break
		}
	}
	if k != depth+1 {
		iz, io = path[k].zero, path[k].one
		unwind(path, depth, k)
		depth--
	}
	t.recurse(x, phi, hot, path, depth+1, hz*iz, io, f)
	t.recurse(x, phi, cold, path, depth+1, cz*iz, 0, f)
}

// extend is Algorithm 2's EXTEND.
func extend(path []pathElement, d int, zero, one float64, f int32) {
	path[d] = pathElement{feature: f, zero: zero, one: one}
	if d == 0 {
		path[d].pweight = 1
	}
	for i := d - 1; i >= 0; i-- {
		path[i+1].pweight += one * path[i].pweight * float64(i+1) / float64(d+1)
		path[i].pweight = zero * path[i].pweight * float64(d-i) / float64(d+1)
	}
}

// unwind is Algorithm 2's UNWIND of element k.
func unwind(path []pathElement, d, k int) {
	one, zero := path[k].one, path[k].zero
	next := path[d].pweight
	for i := d - 1; i >= 0; i-- {
		if one != 0 {
			tmp := path[i].pweight
			path[i].pweight = next * float64(d+1) / (float64(i+1) * one)
			next = tmp - path[i].pweight*zero*float64(d-i)/float64(d+1)
		} else {
			path[i].pweight = path[i].pweight * float64(d+1) / (zero * float64(d-i))
		}
	}
	for i := k; i < d; i++ {
		path[i].feature, path[i].zero, path[i].one = path[i+1].feature, path[i+1].zero, path[i+1].one
	}
}

// unwoundSum is the sum of the weights of the path with element k unwound.
func unwoundSum(path []pathElement, d, k int) float64 {
	one, zero := path[k].one, path[k].zero
	next := path[d].pweight
	total := 0.0
	for i := d - 1; i >= 0; i-- {
		if one != 0 {
			tmp := next * float64(d+1) / (float64(i+1) * one)
			total += tmp
			next = path[i].pweight - tmp*zero*float64(d-i)/float64(d+1)
		} else if zero != 0 {
			total += path[i].pweight / zero / (float64(d-i) / float64(d+1))
		}
	}
	return total
}

// Features is what each contribution is of: column j of the tree node's
// input.
func (t *Tree) Features() []Feature {
	out := make([]Feature, t.inputs)
	for j := range out {
		out[j] = Feature{Input: t.input, Index: j}
	}
	return out
}
