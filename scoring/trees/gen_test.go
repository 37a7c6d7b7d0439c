package trees

// Random tree models and rows aimed at the corners: every mode, NaN
// tracked or not, thresholds and features drawn from the same pool of
// special values (so rows land exactly on thresholds and one float step
// beside them), NaN and infinite thresholds, -0, subnormals, huge values.

import (
	"math"
	"math/rand/v2"
)

var specialValues = []float32{
	0, float32(math.Copysign(0, -1)), 1, -1, 0.5, -0.5, 1.5, 2, 3, 100,
	math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, 1e-38, 1.1754944e-38, // subnormal, normal edge
	1e-30, -1e-30, 1e30, -1e30, math.MaxFloat32, -math.MaxFloat32,
	float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
	0.1, 1.0 / 3, 16777216, 16777217, 1e7,
}

var branchModes = []string{"BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"}

// genOptions steer genSpec.
type genOptions struct {
	maxDepth int // deepest tree; > maxCompleteDepth forces the node walk
	maxTrees int
}

func pick[T any](r *rand.Rand, v []T) T { return v[r.IntN(len(v))] }

func randFloat(r *rand.Rand, pool []float32) float32 {
	switch r.IntN(4) {
	case 0:
		return pick(r, pool)
	case 1: // a step beside a pool value
		v := pick(r, pool)
		if r.IntN(2) == 0 {
			return math.Nextafter32(v, float32(math.Inf(1)))
		}
		return math.Nextafter32(v, float32(math.Inf(-1)))
	case 2:
		return float32(r.NormFloat64() * 3)
	}
	return math.Float32frombits(r.Uint32()) // anything, NaNs of all payloads included
}

// genSpec draws a model this package compiles.
func genSpec(r *rand.Rand, o genOptions) spec {
	s := spec{op: Classifier, width: 1 + r.IntN(6), post: pick(r, []string{"", "NONE", "LOGISTIC", "LOGISTIC"})}
	if r.IntN(4) == 0 {
		s.op, s.post = Regressor, pick(r, []string{"", "NONE"})
		s.aggregate = pick(r, []string{"", "SUM", "AVERAGE"})
	} else {
		s.labels = []int64{r.Int64N(5) - 2, r.Int64N(5) + 3}
	}
	switch r.IntN(3) {
	case 0:
	default:
		s.base = []float32{float32(r.NormFloat64())}
	}
	s.asTensors = r.IntN(5) == 0
	// Modes: all x <= t (the fast kernel), one other mode, or mixed.
	modeOf := func() string { return "BRANCH_LEQ" }
	switch r.IntN(3) {
	case 1:
		m := pick(r, branchModes)
		modeOf = func() string { return m }
	case 2:
		modeOf = func() string { return pick(r, branchModes) }
	}
	tracking := pick(r, []float64{0, 0, 0.3, 1})
	positive := r.IntN(5) == 0
	thresholds := append([]float32(nil), specialValues...)
	for range 4 {
		thresholds = append(thresholds, float32(r.NormFloat64()*2))
	}
	nTrees := 1 + r.IntN(o.maxTrees)
	for k := range nTrees {
		var nodes []tnode
		var grow func(d int) int // returns the node's position in nodes
		depth := r.IntN(o.maxDepth + 1)
		grow = func(d int) int {
			at := len(nodes)
			nodes = append(nodes, tnode{})
			if d >= depth || (d > 1 && r.IntN(4) == 0) {
				w := float32(r.NormFloat64())
				if r.IntN(10) == 0 {
					w = pick(r, specialValues[:20])
				}
				if positive {
					w = float32(math.Abs(float64(w)))
				}
				nodes[at] = tnode{mode: "LEAF", weight: w}
				return at
			}
			tru := grow(d + 1)
			fal := grow(d + 1)
			thr := pick(r, thresholds)
			if r.IntN(20) == 0 {
				thr = float32(math.NaN())
			}
			nodes[at] = tnode{mode: modeOf(), feat: int64(r.IntN(s.width)), thr: thr,
				tru: int64(tru), fal: int64(fal), tracks: r.Float64() < tracking}
			return at
		}
		grow(0)
		// Ids: a permutation of positions; listing: root first, the rest
		// shuffled.
		ids := r.Perm(len(nodes))
		for i := range nodes {
			nodes[i].id = int64(ids[i])
			if nodes[i].mode != "LEAF" {
				nodes[i].tru, nodes[i].fal = int64(ids[nodes[i].tru]), int64(ids[nodes[i].fal])
			}
		}
		order := r.Perm(len(nodes))
		for i, p := range order {
			if p == 0 {
				order[0], order[i] = order[i], order[0]
			}
		}
		listed := make([]tnode, len(nodes))
		for i, p := range order {
			listed[i] = nodes[p]
		}
		s.trees = append(s.trees, ttree{id: int64(k*3 + r.IntN(3)), nodes: listed})
	}
	return s
}

// genRows draws rows for s: features from its thresholds, beside them, and
// anywhere.
func genRows(r *rand.Rand, s spec, rows int) []float32 {
	var pool []float32
	for _, t := range s.trees {
		for _, n := range t.nodes {
			if n.mode != "LEAF" {
				pool = append(pool, n.thr)
			}
		}
	}
	pool = append(pool, specialValues...)
	x := make([]float32, rows*s.width)
	for i := range x {
		x[i] = randFloat(r, pool)
	}
	return x
}

// genGeneral draws a model of the general forms (general.go): a
// classifier of 2 to 5 classes or a regressor of 1 to 4 targets, its
// leaves weighted per column the ways exporters do it (every column on
// every leaf, as skl2onnx writes random forests; one column per tree, as
// gradient boosting exports do; a few columns per tree), any
// post_transform ORT's write_scores applies, base values or not, and
// SUM, AVERAGE, MIN or MAX for a regressor.
func genGeneral(r *rand.Rand, o genOptions) spec {
	s := genSpec(r, o)
	cols := 2 + r.IntN(4)
	if r.IntN(3) == 0 {
		s.op = Regressor
		cols = 1 + r.IntN(4)
		s.targets = int64(cols)
		s.aggregate = pick(r, []string{"SUM", "AVERAGE", "MIN", "MAX"})
		s.labels = nil
	} else {
		s.op, s.aggregate = Classifier, ""
		s.labels = nil
		for k := range cols {
			s.labels = append(s.labels, int64(10*k+r.IntN(10)-3))
		}
	}
	s.post = pick(r, []string{"NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO"})
	switch r.IntN(3) {
	case 0:
		s.base = nil
	case 1:
		s.base = make([]float32, cols)
		for k := range s.base {
			s.base[k] = float32(r.NormFloat64())
		}
	default:
		n := 1 + r.IntN(cols)
		if s.op == Regressor {
			n = cols
		}
		s.base = make([]float32, n)
		for k := range s.base {
			s.base[k] = pick(r, []float32{0, 0.5, -1, float32(r.NormFloat64())})
		}
	}
	pattern := r.IntN(3)
	if s.op == Classifier && cols == 2 && r.IntN(3) == 0 {
		pattern = 3 // binary, every weight in class 1
	}
	zeros := r.IntN(3) == 0 // weights near 0 for SOFTMAX_ZERO
	for ti := range s.trees {
		var tc []int64
		switch pattern {
		case 0: // every column
			for k := range cols {
				tc = append(tc, int64(k))
			}
		case 1: // one column per tree
			tc = []int64{int64(ti % cols)}
		case 2: // a random non-empty subset
			for k := range cols {
				if r.IntN(2) == 0 {
					tc = append(tc, int64(k))
				}
			}
			if len(tc) == 0 {
				tc = []int64{int64(r.IntN(cols))}
			}
			r.Shuffle(len(tc), func(i, j int) { tc[i], tc[j] = tc[j], tc[i] })
		case 3:
			tc = []int64{1}
		}
		for ni := range s.trees[ti].nodes {
			n := &s.trees[ti].nodes[ni]
			if n.mode != "LEAF" {
				continue
			}
			n.cols = tc
			n.ws = make([]float32, len(tc))
			for j := range tc {
				w := float32(r.NormFloat64())
				switch {
				case zeros && r.IntN(2) == 0:
					w = pick(r, []float32{0, float32(math.Copysign(0, -1)), 1e-8, -1e-8, 1e-7, 2e-7})
				case r.IntN(12) == 0:
					w = pick(r, specialValues[:20])
				}
				n.ws[j] = w
			}
		}
	}
	return s
}
