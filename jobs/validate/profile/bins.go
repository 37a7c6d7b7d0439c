package profile

import (
	"math"
	"slices"
)

// binner puts finite values into histogram bins: either equal-width bins
// (an index by arithmetic) or given edges (a branch-free binary search
// over the edges padded to a power of two).
type binner struct {
	edges []float64 // sorted, distinct; bin i is [edges[i], edges[i+1]), the last closed

	// equal width
	equalWidth bool
	lo, hi     float64
	nb         int
	perBinInv  float64

	padded []float64 // edges padded with +Inf to a power of two
}

func newEqualBins(lo, hi float64, n int) *binner {
	b := &binner{equalWidth: true, lo: lo, hi: hi, nb: n, perBinInv: float64(n) / (hi - lo)}
	b.edges = make([]float64, n+1)
	for i := range b.edges {
		b.edges[i] = lo + (hi-lo)*float64(i)/float64(n)
	}
	b.edges[n] = hi
	return b
}

// newEdgeBins uses a baseline's edges; repeated or unsorted edges are
// cleaned so that the search stays correct.
func newEdgeBins(edges []float64) *binner {
	e := slices.Clone(edges)
	slices.Sort(e)
	e = slices.Compact(e)
	if len(e) == 1 {
		e = append(e, e[0]) // a constant baseline: one closed bin [v, v]
	}
	b := &binner{edges: e, nb: len(e) - 1}
	size := 1
	for size < len(e) {
		size *= 2
	}
	b.padded = make([]float64, size)
	copy(b.padded, e)
	for i := len(e); i < size; i++ {
		b.padded[i] = math.Inf(1)
	}
	return b
}

func (b *binner) n() int { return b.nb }

func (b *binner) edgeList() []float64 { return slices.Clone(b.edges) }

func (b *binner) equal(o *binner) bool {
	if b == nil || o == nil {
		return b == o
	}
	return b.equalWidth == o.equalWidth && slices.Equal(b.edges, o.edges)
}

// count adds finite vals to counts and returns the new below and above.
func (b *binner) count(vals []float64, counts []int64, below, above int64) (int64, int64) {
	if b.equalWidth {
		last := b.nb - 1
		for _, x := range vals {
			switch {
			case x < b.lo:
				below++
			case x > b.hi:
				above++
			default:
				counts[min(int((x-b.lo)*b.perBinInv), last)]++
			}
		}
		return below, above
	}
	if len(b.edges) <= 15 {
		return b.count16(vals, counts, below, above)
	}
	e := b.padded
	first, lastEdge := b.edges[0], b.edges[len(b.edges)-1]
	last := b.nb - 1
	for _, x := range vals {
		if x < first || x > lastEdge {
			if x < first {
				below++
			} else {
				above++
			}
			continue
		}
		// i: the number of edges <= x, at least 1 here.
		i := 0
		for step := len(e) / 2; step > 0; step /= 2 {
			if e[i+step-1] <= x {
				i += step
			}
		}
		if e[len(e)-1] <= x {
			i = len(e)
		}
		counts[min(i-1, last)]++
	}
	return below, above
}

// orderKey maps a float64 to an int64 with the same order (for non-NaN
// values; -0 and +0 alike), so that comparisons compile to conditional moves.
func orderKey(x float64) int64 {
	k := int64(math.Float64bits(x + 0)) // + 0 turns -0 into +0, which it equals
	return k ^ int64(uint64(k>>63)>>1)
}

// count16 is count for at most 15 edges: a four-step binary search over
// the edges' order keys padded to 16, with integer comparisons the
// compiler turns into conditional moves (random data would mispredict
// branches half the time).
func (b *binner) count16(vals []float64, counts []int64, below, above int64) (int64, int64) {
	var e [16]int64
	for i := range e {
		e[i] = math.MaxInt64
		if i < len(b.edges) {
			e[i] = orderKey(b.edges[i])
		}
	}
	first, lastEdge := b.edges[0], b.edges[len(b.edges)-1]
	last := b.nb - 1
	var c [16]int64 // c[i]: values with i edges <= x
	for _, x := range vals {
		if x < first || x > lastEdge {
			if x < first {
				below++
			} else {
				above++
			}
			continue
		}
		k := orderKey(x)
		i := 8 * b2i(e[7] <= k)
		i += 4 * b2i(e[(i+3)&15] <= k)
		i += 2 * b2i(e[(i+1)&15] <= k)
		i += b2i(e[i&15] <= k)
		c[i&15]++
	}
	for i := 1; i < 16; i++ {
		counts[min(i-1, last)] += c[i]
	}
	return below, above
}

// b2i compiles to SETcc, not a branch.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
