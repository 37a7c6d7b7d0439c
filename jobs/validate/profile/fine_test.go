package profile

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestFineEdges(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	xs := []float64{0, math.Copysign(0, -1), 1, -1, 0.5, math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64, math.MaxFloat64, -math.MaxFloat64}
	for range 10_000 {
		xs = append(xs, (r.Float64()-0.5)*math.Pow(10, float64(r.IntN(40)-20)))
	}
	for _, x := range xs {
		k := fineKey(x)
		lo, hi := FineEdge(k), FineEdge(k+1)
		if !(lo <= x && x < hi) {
			t.Fatalf("%v in bin %d = [%v, %v)", x, k, lo, hi)
		}
		if x >= 0x1p-1022 && !math.IsInf(hi, 0) && (hi-lo)/lo > 1.0/(1<<FineBits)+1e-12 {
			t.Fatalf("bin of %v is [%v, %v): wider than 2^-%d", x, lo, hi, FineBits)
		}
	}
}

// betaLike is a skewed score-like sample in (0, 1).
func betaLike(seed uint64, n int, power float64) []float64 {
	r := rand.New(rand.NewPCG(seed, 3))
	v := make([]float64, n)
	for i := range v {
		v[i] = math.Pow(r.Float64(), power)
	}
	return v
}

// psiOn is the PSI of today against prev on edges, brute force.
func psiOn(edges, prev, today []float64) float64 {
	shares := func(vals []float64) []float64 {
		s := make([]float64, len(edges)-1)
		for _, x := range vals {
			i, found := slices.BinarySearch(edges, x)
			if found {
				for i+1 < len(edges) && edges[i+1] == x {
					i++
				}
				i++
			}
			s[min(max(i-1, 0), len(s)-1)]++
		}
		for i := range s {
			s[i] /= float64(len(vals))
		}
		return s
	}
	return PSI(shares(prev), shares(today))
}

func TestScoreDriftExactOnFineBins(t *testing.T) {
	prevVals, todayVals := betaLike(1, 150_000, 3), betaLike(2, 120_000, 2.6)
	// Ties: 8% of exact zeros in both.
	for i := 0; i < len(prevVals); i += 12 {
		prevVals[i] = 0
	}
	for i := 0; i < len(todayVals); i += 12 {
		todayVals[i] = 0
	}
	prev := profileFloats(t, prevVals, 65536, nil, WithFineCounts("x0")).Profile()
	// As a run does: today counted on the previous run's edges, with its
	// own fine counts; through a shard's state and JSON.
	b := profileFloats(t, todayVals[:50_000], 65536, prev, WithFineCounts("x0"))
	st, err := profileFloats(t, todayVals[50_000:], 65536, prev, WithFineCounts("x0")).State()
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(st)
	var back State
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if err := b.MergeState(&back); err != nil {
		t.Fatal(err)
	}
	today := b.Profile()
	d, ok := ScoreDrift(prev, today, "x0")
	if !ok || d.Estimated || d.BaselineEstimated || len(d.Edges) != len(d.Bins)+1 {
		t.Fatalf("drift %+v", d)
	}
	if zeros := float64((len(prevVals)+11)/12) / float64(len(prevVals)); d.Edges[0] != 0 || d.Bins[0].Baseline != zeros {
		t.Errorf("first bin %v %+v: the zeros (%v) are not in a bin of their own", d.Edges[:2], d.Bins[0], zeros)
	}
	if want := psiOn(d.Edges, prevVals, todayVals); math.Abs(d.PSI-want) > 1e-12 {
		t.Errorf("PSI %v, brute force on the same edges %v", d.PSI, want)
	}
	if d.PSI < 1e-3 {
		t.Errorf("PSI %v: the samples differ", d.PSI)
	}

	// A previous run of an older version: no fine counts, an estimated
	// histogram. Still compared, and said to be an estimate.
	old := profileFloats(t, prevVals, 65536, nil).Profile()
	d, ok = ScoreDrift(old, today, "x0")
	if !ok || !d.BaselineEstimated {
		t.Errorf("against an estimated histogram: %+v", d)
	}
}

// No score today (a snapshot of no rows): no drift, rather than the PSI
// of an empty distribution.
func TestScoreDriftOfNothing(t *testing.T) {
	prev := profileFloats(t, betaLike(1, 1000, 2), 65536, nil, WithFineCounts("x0")).Profile()
	today := profileFloats(t, nil, 65536, prev, WithFineCounts("x0")).Profile()
	if d, ok := ScoreDrift(prev, today, "x0"); ok {
		t.Errorf("drift of no scores: %+v", d)
	}
}
