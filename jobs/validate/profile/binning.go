package profile

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Binning of a column without given edges (a baseline's first pass, a
// run's own histogram): values that hold at least tieShare of the column
// get a bin of their own, and the rest is cut into quantile bins of about
// a tenth of the column each. Deciles alone would merge a value held by
// 90% of the rows into one bin with everything else, and PSI could then
// never move.
const (
	tieShare   = 0.05
	targetBins = 10
)

// tie is a value that holds a share of the column worth a bin of its own.
type tie struct {
	v float64
	w int64
}

// ties lists the sketch's values of weight at least tieShare, in order,
// and the weight of the others.
func ties(v cdf) (out []tie, rest int64) {
	total := float64(v.total())
	prev := int64(0)
	for i := 0; i < len(v.vals); {
		j := i
		for j+1 < len(v.vals) && v.vals[j+1] == v.vals[i] {
			j++
		}
		w := v.cum[j] - prev
		prev = v.cum[j]
		if float64(w) >= tieShare*total {
			out = append(out, tie{v.vals[i], w})
		} else {
			rest += w
		}
		i = j + 1
	}
	return out, rest
}

// histogramEdges chooses bin edges for values in [lo, hi] from a sketch:
// a bin per tied value ([v, next float after v), or [float before hi, hi]
// for the maximum) and quantile bins for the other values.
func histogramEdges(v cdf, lo, hi float64) []float64 {
	if v.total() == 0 || !(lo < hi) {
		return []float64{lo, hi}
	}
	tied, rest := ties(v)
	isTied := func(x float64) bool {
		_, found := slices.BinarySearchFunc(tied, x, func(t tie, x float64) int {
			switch {
			case t.v < x:
				return -1
			case t.v > x:
				return 1
			}
			return 0
		})
		return found
	}
	edges := []float64{lo, hi}
	var ups []float64 // edges that only close a tie's bin
	for _, t := range tied {
		if t.v == hi {
			edges = append(edges, math.Nextafter(hi, math.Inf(-1)))
			continue
		}
		up := math.Nextafter(t.v, math.Inf(1))
		edges = append(edges, t.v, up)
		ups = append(ups, up)
	}
	// Quantile cuts of the untied values: the smallest untied value whose
	// untied rank reaches j/k of them (the deciles when nothing is tied).
	k := int(math.Round(targetBins * float64(rest) / float64(v.total())))
	if k < 2 && rest > 0 && float64(rest) >= 2*tieShare*float64(v.total()) {
		k = 2
	}
	if k > 1 {
		var run int64
		prev, j := int64(0), 1
		for i, x := range v.vals {
			w := v.cum[i] - prev
			prev = v.cum[i]
			if isTied(x) {
				continue
			}
			run += w
			for j < k && float64(run) >= math.Ceil(float64(j)/float64(k)*float64(rest)) {
				edges = append(edges, x)
				j++
			}
		}
	}
	slices.Sort(edges)
	edges = slices.Compact(edges)
	// A tie's closing edge with no value between it and the next edge
	// (integers: nothing lies between 3 and 4) is dropped, so that the
	// tie's bin reads [3, 4) rather than [3, 3⁺) and an empty bin.
	out := edges[:1]
	for i := 1; i < len(edges)-1; i++ {
		if e := edges[i]; slices.Contains(ups, e) && v.less(edges[i+1]) == v.less(e) {
			continue
		}
		out = append(out, edges[i])
	}
	return append(out, edges[len(edges)-1])
}

// binLabel names bin i of a histogram: "[lo, hi)", the last "[lo, hi]",
// and a bin that can hold one value only (a tied value's) "= v".
func binLabel(edges []float64, i int) string {
	lo, hi := edges[i], edges[i+1]
	last := i == len(edges)-2
	open := "["
	if i > 0 && lo == math.Nextafter(edges[i-1], math.Inf(1)) {
		open, lo = "(", edges[i-1] // after a tied value's bin
	}
	switch {
	case !last && hi == math.Nextafter(lo, math.Inf(1)) && open == "[":
		return fmt.Sprintf("= %.4g", lo)
	case last && (lo == hi || lo == math.Nextafter(hi, math.Inf(-1))):
		return fmt.Sprintf("= %.4g", hi)
	case last:
		return fmt.Sprintf("%s%.4g, %.4g]", open, lo, hi)
	}
	return fmt.Sprintf("%s%.4g, %.4g)", open, lo, hi)
}

// tiedBins finds, for a numeric baseline column with a histogram and a
// sketch, its tied values: those in a bin of their own (with their exact
// share, the bin's) and those that share a bin with other values (a
// change between them is hidden; their share estimated by the sketch).
func (c *Column) tiedBins() (own, shared []tiedValue, ok bool) {
	h := c.Histogram
	if h == nil || len(h.Edges) < 2 || len(h.Counts) != len(h.Edges)-1 || len(c.Sketch) == 0 {
		return nil, nil, false
	}
	var sk kll
	if sk.UnmarshalJSON(c.Sketch) != nil || sk.n == 0 {
		return nil, nil, false
	}
	v := sk.view()
	tied, _ := ties(v)
	total := h.Below + h.Above
	for _, n := range h.Counts {
		total += n
	}
	for _, t := range tied {
		i := binOf(h.Edges, t.v)
		lo, hi := h.Edges[i], h.Edges[i+1]
		in := v.less(hi) - v.less(lo)
		if i == len(h.Edges)-2 {
			in = v.atMost(hi) - v.less(lo)
		}
		if in <= t.w && total > 0 {
			own = append(own, tiedValue{t.v, float64(h.Counts[i]) / float64(total)})
		} else {
			shared = append(shared, tiedValue{t.v, float64(t.w) / float64(v.total())})
		}
	}
	return own, shared, true
}

// tiedValue is a tied value and its share of the column.
type tiedValue struct {
	v, share float64
}

// binOf is the bin of edges that holds x (the first or last for values
// outside).
func binOf(edges []float64, x float64) int {
	i, _ := slices.BinarySearch(edges, x) // first edge >= x
	if i < len(edges) && edges[i] == x {
		i++ // x opens bin i
	}
	return min(max(i-1, 0), len(edges)-2)
}

// Binning says how drift bins a baseline column, for the report: the
// number of bins and which tied values have bins of their own.
func (c *Column) Binning() string {
	if !c.numeric() {
		return fmt.Sprintf("%d categories and other", len(c.Top))
	}
	h := c.Histogram
	if h == nil || len(h.Counts) == 0 {
		return ""
	}
	n := len(slices.Compact(slices.Clone(h.Edges))) - 1
	if n < 2 {
		return "1 bin: its PSI is always 0"
	}
	text := fmt.Sprintf("%d bins", n)
	own, shared, ok := c.tiedBins()
	if !ok {
		return text
	}
	if len(own) > 0 {
		text += fmt.Sprintf("; tied values %s in bins of their own", tieList(own))
	}
	if len(shared) > 0 {
		text += fmt.Sprintf("; tied values %s share a bin with other values", tieList(shared))
	}
	if len(own)+len(shared) > 0 {
		text += "; quantile bins for the rest"
	} else {
		text += " at quantiles"
	}
	return text
}

// blindShare: a tied value holding this share of a column (two deciles)
// hides a change of consequence when it shares its bin with other values.
const blindShare = 0.2

// BlindSpots says what PSI cannot see on a baseline column's bins: a
// single bin (PSI is always 0), or a tied value holding blindShare or more
// that shares its bin with other values (a change in its share can hide).
// Empty when none.
func (c *Column) BlindSpots() []string {
	if c == nil || !c.numeric() || c.Histogram == nil || len(c.Histogram.Edges) < 2 {
		return nil
	}
	if len(slices.Compact(slices.Clone(c.Histogram.Edges))) < 3 {
		if c.Min != nil && c.Max != nil && *c.Min == *c.Max {
			return []string{fmt.Sprintf("the baseline's %q holds the single value %.6g: its PSI is always 0 (the out_of_range share measures its change)", c.Name, *c.Min)}
		}
		return []string{fmt.Sprintf("the baseline's histogram of %q has a single bin: its PSI is always 0; profile the training data again with this version, which gives tied values bins of their own", c.Name)}
	}
	_, shared, _ := c.tiedBins()
	shared = slices.DeleteFunc(shared, func(t tiedValue) bool { return t.share < blindShare })
	if len(shared) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("in the baseline's histogram of %q, tied values %s share a bin with other values: a change in their share can hide from its PSI; profile the training data again with this version, which gives them bins of their own",
		c.Name, tieList(shared))}
}

func tieList(ts []tiedValue) string {
	var parts []string
	for _, t := range ts {
		parts = append(parts, fmt.Sprintf("%.6g (%.1f%%)", t.v, 100*t.share))
	}
	return strings.Join(parts, ", ")
}
