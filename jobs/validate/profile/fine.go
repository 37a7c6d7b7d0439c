package profile

import (
	"fmt"
	"math"
	"slices"
)

// FineBits sets the fixed fine bins: the number line of float64 is cut
// into 2^FineBits bins per power of two (bins 0.8% wide, relatively),
// the same for every run whatever its values, so that two runs' exact
// counts can be compared bin for bin.
const FineBits = 7

const fineShift = 52 - FineBits

// Fine is a column's exact counts on the fixed fine bins: bin k holds the
// finite values whose order key (the float's bits, ordered as the
// numbers are) shifted right by 52-Bits is k, that is the values in
// [FineEdge(k), FineEdge(k+1)). Only bins with values are kept.
type Fine struct {
	Bits   int     `json:"bits"`
	Keys   []int64 `json:"keys"` // ascending
	Counts []int64 `json:"counts"`
}

// fineKey is the fine bin of a finite x.
func fineKey(x float64) int64 { return orderKey(x) >> fineShift }

// FineEdge is the lower edge of fine bin k.
func FineEdge(k int64) float64 {
	o := k << fineShift
	return math.Float64frombits(uint64(o ^ int64(uint64(o>>63)>>1))) // orderKey is its own inverse
}

// maxDense bounds the dense window of fine counts (512 KB); values far
// outside it (a score of 1e-300 among probabilities) go to a map.
const maxDense = 1 << 16

// fineCounts counts values in fine bins: a dense window of bins around
// the values seen, plus a map for the rare ones far away.
type fineCounts struct {
	base  int64
	dense []int64
	extra map[int64]int64
}

func (f *fineCounts) add(vals []float64) {
	for _, x := range vals {
		k := fineKey(x)
		if i := uint64(k - f.base); i < uint64(len(f.dense)) {
			f.dense[i]++
			continue
		}
		f.addSlow(k, 1)
	}
}

// addSlow widens the window to hold k when it can, else counts k in the
// map.
func (f *fineCounts) addSlow(k, n int64) {
	if len(f.dense) == 0 {
		f.base, f.dense = k-64, make([]int64, 256)
		f.dense[64] += n
		return
	}
	lo, hi := min(f.base, k), max(f.base+int64(len(f.dense))-1, k)
	if span := hi - lo + 1; span <= maxDense {
		slack := min(span/2, (maxDense-span)/2)
		lo -= slack
		hi += slack
		dense := make([]int64, hi-lo+1)
		copy(dense[f.base-lo:], f.dense)
		f.base, f.dense = lo, dense
		f.dense[k-lo] += n
		return
	}
	if f.extra == nil {
		f.extra = map[int64]int64{}
	}
	f.extra[k] += n
}

func (f *fineCounts) merge(o *fineCounts) {
	for i, n := range o.dense {
		if n != 0 {
			f.addN(o.base+int64(i), n)
		}
	}
	for k, n := range o.extra {
		f.addN(k, n)
	}
}

func (f *fineCounts) addN(k, n int64) {
	if i := uint64(k - f.base); i < uint64(len(f.dense)) {
		f.dense[i] += n
		return
	}
	f.addSlow(k, n)
}

// export lists the bins with values, in key order.
func (f *fineCounts) export() *Fine {
	out := &Fine{Bits: FineBits}
	for i, n := range f.dense {
		if n != 0 {
			out.Keys = append(out.Keys, f.base+int64(i))
			out.Counts = append(out.Counts, n)
		}
	}
	if len(f.extra) > 0 {
		for k, n := range f.extra {
			out.Keys = append(out.Keys, k)
			out.Counts = append(out.Counts, n)
		}
		idx := make([]int, len(out.Keys))
		for i := range idx {
			idx[i] = i
		}
		slices.SortFunc(idx, func(a, b int) int { return cmpInt(out.Keys[a], out.Keys[b]) })
		keys, counts := make([]int64, len(idx)), make([]int64, len(idx))
		for i, j := range idx {
			keys[i], counts[i] = out.Keys[j], out.Counts[j]
		}
		out.Keys, out.Counts = keys, counts
	}
	return out
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func fineFrom(f *Fine) *fineCounts {
	c := &fineCounts{}
	if f != nil {
		for i, k := range f.Keys {
			c.addN(k, f.Counts[i])
		}
	}
	return c
}

// valid checks a loaded Fine.
func (f *Fine) valid() error {
	switch {
	case f.Bits != FineBits:
		return fmt.Errorf("fine bins of %d bits, want %d", f.Bits, FineBits)
	case len(f.Keys) != len(f.Counts):
		return fmt.Errorf("fine bins: %d keys and %d counts", len(f.Keys), len(f.Counts))
	case !slices.IsSorted(f.Keys) || len(slices.Compact(slices.Clone(f.Keys))) != len(f.Keys):
		return fmt.Errorf("fine bins: keys not ascending")
	}
	return nil
}

// coarseStarts merges a fine histogram's bins into about targetBins
// bins, as histogramEdges does: a fine bin holding tieShare or more on
// its own, quantile bins for the rest. It returns the first fine key of
// each coarse bin.
func coarseStarts(f *Fine) []int64 {
	var total, heavy int64
	for _, n := range f.Counts {
		total += n
	}
	isHeavy := func(n int64) bool { return float64(n) >= tieShare*float64(total) }
	for _, n := range f.Counts {
		if isHeavy(n) {
			heavy += n
		}
	}
	rest := total - heavy
	k := int64(math.Round(targetBins * float64(rest) / float64(max(total, 1))))
	if k < 2 && float64(rest) >= 2*tieShare*float64(total) {
		k = 2
	}
	k = max(k, 1)
	var starts []int64
	open := false // a coarse bin of rest values is open
	var run, j int64 = 0, 1
	for i, key := range f.Keys {
		n := f.Counts[i]
		if isHeavy(n) {
			starts = append(starts, key)
			open = false
			continue
		}
		if !open {
			starts = append(starts, key)
			open = true
		}
		run += n
		if j < k && run*k >= j*rest {
			for j < k && run*k >= j*rest {
				j++
			}
			open = false
		}
	}
	return starts
}

// coarseCounts adds fine counts into the coarse bins that start at
// starts; keys below the first go to the first bin.
func coarseCounts(f *Fine, starts []int64) []float64 {
	out := make([]float64, len(starts))
	for i, key := range f.Keys {
		g, found := slices.BinarySearch(starts, key)
		if !found {
			g--
		}
		out[max(g, 0)] += float64(f.Counts[i])
	}
	return out
}

// fineDrift compares two runs' exact fine counts on coarse bins cut at
// the previous run's quantiles: exact counts on both sides.
func fineDrift(prev, today *Column) (ColumnDrift, bool) {
	if prev.Fine == nil || today.Fine == nil || len(prev.Fine.Keys) == 0 || prev.Fine.valid() != nil || today.Fine.valid() != nil {
		return ColumnDrift{}, false
	}
	starts := coarseStarts(prev.Fine)
	expected, actual := coarseCounts(prev.Fine, starts), coarseCounts(today.Fine, starts)
	normalize(expected)
	normalize(actual)
	edges := make([]float64, len(starts)+1)
	edges[0] = FineEdge(starts[0])
	if prev.Min != nil {
		edges[0] = *prev.Min
	}
	for i := 1; i < len(starts); i++ {
		edges[i] = FineEdge(starts[i])
	}
	edges[len(starts)] = FineEdge(prev.Fine.Keys[len(prev.Fine.Keys)-1] + 1)
	if prev.Max != nil {
		edges[len(starts)] = *prev.Max
	}
	d := ColumnDrift{Column: prev.Name, Type: today.Type, Edges: edges}
	d.PSI = PSI(expected, actual)
	d.Band = Band(d.PSI)
	for i := range expected {
		d.Bins = append(d.Bins, BinShare{Label: binLabel(edges, i), Baseline: expected[i], Today: actual[i]})
	}
	d.Binning = fmt.Sprintf("exact counts on fixed fine bins (%d per power of two), merged into %d bins at the previous run's quantiles", 1<<FineBits, len(starts))
	return d, true
}
