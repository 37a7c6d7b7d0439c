package profile

import (
	"math"
	"slices"
	"testing"
)

// -0 equals +0: a value of -0 with an edge at 0 is in the bin from 0, as
// +0 is, and counted once.
func TestBinsCountNegativeZero(t *testing.T) {
	negZero := math.Copysign(0, -1)
	for _, edges := range [][]float64{{0, 1}, {-1, 0, 1}, {negZero, 1}} {
		b := newEdgeBins(edges)
		got := make([]int64, b.nb)
		below, above := b.count([]float64{negZero, 0}, got, 0, 0)
		want := make([]int64, b.nb)
		below2, above2 := b.count([]float64{0, 0}, want, 0, 0)
		if below != below2 || above != above2 || !slices.Equal(got, want) {
			t.Errorf("edges %v: -0 and 0 give %v (below %d above %d), two zeros %v (below %d above %d)",
				edges, got, below, above, want, below2, above2)
		}
	}
}
