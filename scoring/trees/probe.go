package trees

import (
	"math"
	"math/rand/v2"
)

// probeSpecials are values where float comparisons and sums go wrong first.
var probeSpecials = []float32{
	0, float32(math.Copysign(0, -1)), 1, -1,
	math.SmallestNonzeroFloat32, -math.MaxFloat32, math.MaxFloat32,
	float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
}

// Probe returns rows×width inputs aimed at the model's own splits: each
// value is one of its feature's thresholds, the float just below or above
// it, or a special value (NaN, ±Inf, ±0, extremes). A caller compares the
// package's outputs on them with ONNX Runtime's before trusting it with a
// model. The same seed gives the same rows.
func (e *Ensemble) Probe(rows, width int, seed uint64) []float32 {
	byFeature := make([][]float32, max(width, e.Features))
	add := func(f int, t float32) {
		if f < len(byFeature) {
			byFeature[f] = append(byFeature[f], t)
		}
	}
	for _, c := range append([]compiled{e.c}, e.parts...) {
		for _, n := range c.nodes {
			add(c.feature(n), n.t)
		}
		for _, n := range c.walk {
			if n.fm&leafFlag == 0 {
				add(int(n.fm&featMask), n.t)
			}
		}
	}
	r := rand.New(rand.NewPCG(seed, uint64(e.Nodes)))
	x := make([]float32, rows*width)
	for i := range x {
		th := byFeature[i%width]
		if len(th) == 0 || r.IntN(8) == 0 {
			x[i] = probeSpecials[r.IntN(len(probeSpecials))]
			continue
		}
		v := th[r.IntN(len(th))]
		switch r.IntN(3) {
		case 1:
			v = math.Nextafter32(v, float32(math.Inf(-1)))
		case 2:
			v = math.Nextafter32(v, float32(math.Inf(1)))
		}
		x[i] = v
	}
	return x
}
