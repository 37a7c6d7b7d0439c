package trees

import (
	"math"
	"math/rand/v2"
	"testing"
)

// lookupTree is a complete tree of the given depth on one feature whose
// leaf k is reached by x = k: a table of 2^depth weights.
func lookupTree(id, feat int64, weights []float32) ttree {
	depth := 0
	for 1<<depth < len(weights) {
		depth++
	}
	inner := 1<<depth - 1
	var nodes []tnode
	var add func(pos, lo, hi int)
	add = func(pos, lo, hi int) {
		if pos >= inner {
			nodes = append(nodes, tnode{id: int64(pos), mode: "LEAF", weight: weights[lo]})
			return
		}
		mid := (lo + hi) / 2
		nodes = append(nodes, tnode{id: int64(pos), mode: "BRANCH_LEQ", feat: feat, thr: float32(mid) - 0.5,
			tru: int64(2*pos + 1), fal: int64(2*pos + 2)})
		add(2*pos+1, lo, mid)
		add(2*pos+2, mid, hi)
	}
	add(0, 0, len(weights))
	return ttree{id: id, nodes: nodes}
}

// TestLogisticMatchesORT: ORT's probabilities are [ComputeLogistic(-s),
// ComputeLogistic(s)] with glibc's expf; this package's must be the same
// floats. Two lookup trees give a million distinct raw scores (dense
// around 0, where p is far from 0 and 1, and out to the float range).
func TestLogisticMatchesORT(t *testing.T) {
	initORT(t)
	r := rand.New(rand.NewPCG(3, 4))
	const k = 1024
	w0, w1 := make([]float32, k), make([]float32, k)
	for i := range k {
		switch {
		case i < 400:
			w0[i] = float32(r.Float64()*40 - 20)
		case i < 800:
			w0[i] = float32(r.NormFloat64())
		case i < 1000:
			w0[i] = float32(r.Float64()*240 - 120) // past expf's overflow and underflow bounds
		default:
			w0[i] = pick(r, specialValues)
		}
		w1[i] = float32(r.NormFloat64() * math.Pow(10, -float64(r.IntN(8))))
	}
	w0[0], w0[1] = 0, float32(math.Copysign(0, -1))
	s := spec{op: Classifier, labels: []int64{0, 1}, post: "LOGISTIC", width: 2,
		trees: []ttree{lookupTree(0, 0, w0), lookupTree(1, 1, w1)}}
	x := make([]float32, 0, 2*k*k)
	for i := range k {
		for j := range k {
			x = append(x, float32(i), float32(j))
		}
	}
	d := compareORT(t, s.model(), x, k*k, 2)
	t.Log(d)
	if !d.zero() {
		t.Error(d)
	}
	// For the record: how often expf rounded from math.Exp, or Go's
	// float64 logistic rounded to float32, would have missed.
	e, _ := Load(s.model())
	score := make([]float32, k*k)
	if err := e.Scores(x, 2, score); err != nil {
		t.Fatal(err)
	}
	viaExp, viaFloat64 := 0, 0
	for _, v := range score {
		want := logisticFrom(v, expfFMA(-abs32(v)))
		if !sameFloat(logisticFrom(v, float32(math.Exp(-float64(abs32(v))))), want) {
			viaExp++
		}
		if !sameFloat(float32(1/(1+math.Exp(-float64(v)))), want) {
			viaFloat64++
		}
	}
	t.Logf("p1 that would differ: with float32(math.Exp) as expf %d, with a float64 logistic %d", viaExp, viaFloat64)
}

// TestExpfSpecialValues pins expf on the values glibc treats apart.
func TestExpfSpecialValues(t *testing.T) {
	inf := float32(math.Inf(1))
	for _, c := range []struct{ x, want float32 }{
		{0, 1}, {float32(math.Inf(-1)), 0}, {inf, inf}, {89, inf}, {-104, 0},
		{-0x1.9fe368p6, math.Float32frombits(1)}, // log(0x1p-149): the smallest subnormal
		{1, math.E},
	} {
		if got := expfFMA(c.x); got != c.want {
			t.Errorf("expf(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	if v := expfFMA(float32(math.NaN())); v == v {
		t.Errorf("expf(NaN) = %v", v)
	}
}
