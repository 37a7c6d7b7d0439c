package trees

// The general forms: classifiers of two or more classes with weights in
// any class, multi-target regressors, MIN and MAX. Each output column
// (class or target) is compiled as its own set of trees, those with a
// weight in that column, every leaf carrying that weight (0 when the
// leaf has none). A column's sum then adds, tree after tree, what ORT
// adds: ORT's sum starts at +0 and so is never -0, and x + 0 == x for
// every other x, so the zeros change no bit. ORT's per-column has_score
// flag (did any leaf reached weigh in this column?) must not depend on
// the row: a column is compiled when some tree weighs it on every leaf
// (always set) or no leaf weighs it (never set); otherwise the node is
// refused. The finishing steps follow TreeAggregatorClassifier::
// FinalizeScores, the regressors' FinalizeScores and write_scores
// (tree_ensemble_aggregator.h, ml_common.h) for one row at a time.

import (
	"fmt"
	"math"
	"slices"
)

// Columns is the width of the node's float output: the classes of a
// classifier's probabilities, the targets of a regressor's Y.
func (e *Ensemble) Columns() int {
	if e.Op == Classifier {
		return len(e.ClassLabels)
	}
	return e.Targets
}

// compileGeneral builds one column's trees after another (see above).
func (e *Ensemble) compileGeneral(t treeSet) error {
	cols := e.Columns()
	extreme := e.Op == Regressor && (e.Aggregate == "MIN" || e.Aggregate == "MAX")
	if err := e.checkGeneralBase(); err != nil {
		return err
	}
	e.parts = make([]compiled, cols)
	e.has = make([]bool, cols)
	ends := append(append([]int(nil), t.roots[1:]...), len(t.leaf))
	for k := range cols {
		sub := t
		sub.roots, sub.depth = nil, 0
		sub.weight = make([]float32, len(t.leaf))
		for j, r := range t.roots {
			every, some := true, false
			for i := r; i < ends[j]; i++ { // a tree's nodes are listed together
				if !t.leaf[i] {
					continue
				}
				w, ok := weightIn(t.weights[i], k)
				every, some = every && ok, some || ok
				sub.weight[i] = w
			}
			switch {
			case !some:
				continue
			case extreme && !every:
				return fmt.Errorf("%w: %s %d is weighted on some leaves of tree %d only (%s)", ErrUnsupported, e.columnName(), k, j, e.Aggregate)
			}
			e.has[k] = e.has[k] || every
			sub.roots = append(sub.roots, r)
			sub.depth = max(sub.depth, t.rootDepth[j])
		}
		if len(sub.roots) > 0 && !e.has[k] {
			return fmt.Errorf("%w: %s %d is weighted on some leaves only, so whether ORT counts it depends on the row", ErrUnsupported, e.columnName(), k)
		}
		if len(sub.roots) == 0 {
			continue
		}
		if extreme {
			e.parts[k] = sub.buildWalk()
		} else {
			e.parts[k] = sub.build()
		}
	}
	if e.Op == Classifier && len(e.bases) == 0 && !slicesContains(e.has, true) {
		return fmt.Errorf("%w: no class is weighted on every leaf of some tree", ErrUnsupported)
	}
	if e.Op == Classifier && len(e.ClassLabels) == 2 && len(e.bases) == 1 && !e.has[1] && !e.binaryCase {
		// ORT then writes one probability of the two.
		return fmt.Errorf("%w: two classes, one base value and class 1 never weighted", ErrUnsupported)
	}
	for k := range e.parts {
		if e.parts[k].trees > 0 {
			e.Layout = e.parts[k].describe() + ", one column at a time"
			break
		}
	}
	e.shareTrees()
	return nil
}

// shareTrees sets e.shared when every column is compiled from every tree
// to the x <= t layout (a random forest): the columns' nodes are then the
// same, and sumsColumns walks them once for all columns.
func (e *Ensemble) shareTrees() {
	if e.Aggregate == "MIN" || e.Aggregate == "MAX" || len(e.parts) < 2 {
		return
	}
	p0 := &e.parts[0]
	for k := range e.parts {
		p := &e.parts[k]
		if p.layout != layoutLEQ || p.trees != e.Trees || p.depth != p0.depth || p.copies != p0.copies || !slices.Equal(p.nodes, p0.nodes) {
			return
		}
	}
	e.shared = true
	e.Layout = p0.describe() + ", all columns in one walk"
}

// checkGeneralBase checks the number of base values against what ORT's
// aggregators read.
func (e *Ensemble) checkGeneralBase() error {
	cols, n := e.Columns(), len(e.bases)
	switch {
	case e.Op == Classifier && n > cols:
		return fmt.Errorf("%w: %d base values for %d classes", ErrUnsupported, n, cols)
	case e.Op == Regressor && cols == 1 && n > 1:
		return fmt.Errorf("%w: %d base values for one target", ErrUnsupported, n)
	case e.Op == Regressor && cols > 1 && n != 0 && n != cols:
		// ORT ignores them.
		return fmt.Errorf("%w: %d base values for %d targets", ErrUnsupported, n, cols)
	}
	return nil
}

func slicesContains(v []bool, x bool) bool {
	for _, b := range v {
		if b == x {
			return true
		}
	}
	return false
}

func (e *Ensemble) columnName() string {
	if e.Op == Classifier {
		return "class"
	}
	return "target"
}

func weightIn(ws []leafWeight, k int) (float32, bool) {
	for _, p := range ws {
		if p.col == k {
			return p.w, true
		}
	}
	return 0, false
}

// Predict writes the node's outputs as ORT does, for len(out)/Columns()
// rows: a classifier's label (label may be nil) and probabilities, a
// regressor's Y, row-major (out[r*Columns()+k]).
func (e *Ensemble) Predict(x []float32, width int, label []int64, out []float32) error {
	cols := e.Columns()
	if len(out)%cols != 0 {
		return fmt.Errorf("%w: %d outputs for %d columns", ErrInput, len(out), cols)
	}
	rows := len(out) / cols
	if err := e.check(x, width, rows); err != nil {
		return err
	}
	if label != nil && (e.Op != Classifier || len(label) != rows) {
		return fmt.Errorf("%w: %d rows, %d labels", ErrInput, rows, len(label))
	}
	if !e.general {
		if e.Op == Regressor {
			return e.Scores(x, width, out)
		}
		return e.Classify(x, width, make([]float32, rows), label, out)
	}
	raw := make([]float32, rows*cols) // column-major
	if e.shared {
		leaves, outs := make([][]float32, cols), make([][]float32, cols)
		for k := range e.parts {
			leaves[k], outs[k] = e.parts[k].leaves, raw[k*rows:(k+1)*rows]
		}
		e.parts[0].sumsColumns(x, width, leaves, outs)
	}
	for k := range e.parts {
		if e.shared {
			break
		}
		p := &e.parts[k]
		if p.trees == 0 {
			continue
		}
		col := raw[k*rows : (k+1)*rows]
		if e.Aggregate == "MIN" || e.Aggregate == "MAX" {
			p.extreme(x, width, col, e.Aggregate == "MAX")
		} else {
			p.sums(x, width, col)
		}
	}
	s := make([]float32, cols)
	h := make([]bool, cols)
	for r := range rows {
		for k := range cols {
			s[k] = raw[k*rows+r]
		}
		copy(h, e.has)
		o := out[r*cols : (r+1)*cols]
		switch {
		case e.Op == Regressor:
			e.finishTargets(s, h, o)
		case cols == 2:
			l := e.finishTwo(s, h, o)
			if label != nil {
				label[r] = l
			}
		default:
			l := e.finishClasses(s, h, o)
			if label != nil {
				label[r] = l
			}
		}
	}
	return nil
}

// extreme writes each row's MIN or MAX of its leaves' weights (walk
// layout; every tree weighs every leaf).
func (c *compiled) extreme(x []float32, w int, out []float32, isMax bool) {
	for r := range out {
		xr := x[r*w : r*w+w]
		var s float32
		for j, root := range c.roots {
			i := root
			for {
				nd := &c.walk[i]
				if nd.fm&leafFlag != 0 {
					break
				}
				if nd.fm>>(24+outcome(xr[nd.fm&featMask], nd.t))&1 != 0 {
					i = nd.tru
				} else {
					i = nd.fal
				}
			}
			v := c.walk[i].t
			// (!has_score || v < score) ? v : score
			if j == 0 || (!isMax && v < s) || (isMax && v > s) {
				s = v
			}
		}
		out[r] = s
	}
}

// finishTargets is a regressor's FinalizeScores (FinalizeScores1 for a
// single MIN or MAX target) and write_scores.
func (e *Ensemble) finishTargets(s []float32, h []bool, o []float32) {
	cols := len(s)
	if cols == 1 {
		// score + origin_ (has_score is set: every tree weighs every leaf);
		// ORT ignores a single target's post_transform.
		o[0] = s[0] + e.Base
		return
	}
	useBase := len(e.bases) == cols
	n := float32(e.Trees)
	for k := range s {
		switch e.Aggregate {
		case "SUM":
			if useBase {
				s[k] += e.bases[k]
			}
		case "AVERAGE":
			s[k] /= n
			if useBase {
				s[k] += e.bases[k]
			}
		default: // MIN, MAX: TreeAggregator::FinalizeScores
			var v float32
			if useBase {
				v = e.bases[k]
			}
			if h[k] {
				v += s[k]
			} else {
				v += 0
			}
			s[k] = v
		}
	}
	e.writeScores(s, h, o)
}

// finishClasses is FinalizeScores of a classifier of 3 or more classes:
// base values added (a class without a score takes its base value), the
// label of the first highest scored class, then write_scores.
func (e *Ensemble) finishClasses(s []float32, h []bool, o []float32) int64 {
	for k, b := range e.bases {
		if !h[k] {
			s[k], h[k] = b, true
		} else {
			s[k] += b
		}
	}
	best := -1
	var top float32
	for k := range s {
		if h[k] && (best == -1 || s[k] > top) {
			best, top = k, s[k]
		}
	}
	e.writeScores(s, h, o)
	return e.ClassLabels[best]
}

// finishTwo is FinalizeScores' binary case (two class labels) with
// _set_score_binary and write_scores.
func (e *Ensemble) finishTwo(s []float32, h []bool, o []float32) int64 {
	second := -1 // write_scores' add_second_class
	size := 2
	switch len(e.bases) {
	case 2:
		if h[1] {
			s[1] = e.bases[1] + s[0]
			s[0] = -s[1]
		} else {
			s[1] += e.bases[1]
			s[0] += e.bases[0]
		}
	case 1:
		s[0] += e.bases[0]
		if !h[1] {
			size = 1
		}
	case 0:
		second = 3
		if !h[1] {
			size = 1
		}
	}
	var pos float32
	switch {
	case size == 2 && h[1]:
		pos = s[1]
	case h[0]:
		pos = s[0]
	}
	var label int64
	switch {
	case e.binaryCase && e.Positive:
		second, label = 1, e.ClassLabels[0]
		if pos > 0.5 {
			second, label = 0, e.ClassLabels[1]
		}
	case e.binaryCase:
		second, label = 3, e.ClassLabels[0]
		if pos > 0 {
			second, label = 2, e.ClassLabels[1]
		}
	case pos > 0:
		label = 1 // ORT's positive_label_, not a class label
	}
	if size == 2 {
		e.writeScores(s, h, o)
		return label
	}
	v, neg := float32(0), float32(0) // ScoreValue's float() and unary minus
	if h[0] {
		v, neg = s[0], -s[0]
	}
	switch {
	case second <= 1:
		o[0], o[1] = 1-v, v
	case e.PostTransform == "LOGISTIC":
		o[0], o[1] = computeLogistic(neg), computeLogistic(v)
	default:
		o[0], o[1] = neg, v
	}
	return label
}

// writeScores is write_scores for two or more scores: a score without
// has_score reads as 0.
func (e *Ensemble) writeScores(s []float32, h []bool, o []float32) {
	for k := range s {
		o[k] = 0
		if h[k] {
			o[k] = s[k]
		}
	}
	switch e.PostTransform {
	case "LOGISTIC":
		for k, v := range o {
			o[k] = computeLogistic(v)
		}
	case "SOFTMAX":
		softmax(o)
	case "SOFTMAX_ZERO":
		softmaxZero(o, h)
	}
}

// computeLogistic is ml_common.h's ComputeLogistic.
func computeLogistic(v float32) float32 {
	return logisticFrom(v, expfFMA(-abs32(v)))
}

func maxOf(v []float32) float32 {
	m := float32(-math.MaxFloat32)
	for _, x := range v {
		if x > m {
			m = x
		}
	}
	return m
}

// softmax is ml_common.h's ComputeSoftmax, in place.
func softmax(v []float32) {
	m := maxOf(v)
	var sum float32
	for k, x := range v {
		v[k] = expfFMA(x - m)
		sum += v[k]
	}
	for k := range v {
		v[k] /= sum
	}
}

// softmaxZero is ComputeSoftmaxZero, in place: scores within 1e-7 of 0
// are scaled by exp(-max) instead (0 for a score never set).
func softmaxZero(v []float32, h []bool) {
	m := maxOf(v)
	en := expfFMA(-m)
	var sum float32
	for k, x := range v {
		switch {
		case x > 0.0000001 || x < -0.0000001:
			v[k] = expfFMA(x - m)
			sum += v[k]
		case h[k]:
			v[k] = x * en
		default:
			v[k] = 0
		}
	}
	for k := range v {
		v[k] /= sum
	}
}
