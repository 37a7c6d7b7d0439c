package profile

import (
	"encoding/json"
	"math"
	"slices"
)

// PSI bands.
const (
	BandStable   = "stable"   // PSI < 0.1
	BandModerate = "moderate" // 0.1 <= PSI < 0.25
	BandMajor    = "major"    // PSI >= 0.25
)

// minShare keeps empty bins from making PSI infinite.
const minShare = 1e-4

// ColumnDrift is how one column moved between two profiles.
type ColumnDrift struct {
	Column string  `json:"column"`
	Type   string  `json:"type"`
	PSI    float64 `json:"psi"`
	Band   string  `json:"band"`
	// OutOfRange is the share of today's finite and infinite values
	// outside [baseline min, baseline max]; ±Inf always count as outside.
	// 0 for categorical columns.
	OutOfRange float64    `json:"out_of_range"`
	Bins       []BinShare `json:"bins"`
	// Estimated is set when today's shares come from its sketch because
	// its histogram was not counted on the baseline's edges.
	Estimated bool `json:"estimated,omitempty"`
	// BaselineEstimated is set when the baseline's shares are estimated
	// (a run profile of an older version: a histogram from its sketch).
	BaselineEstimated bool `json:"baseline_estimated,omitempty"`
	// Binning says how the column was binned (Column.Binning).
	Binning string `json:"binning,omitempty"`
	// Edges are the bins' edges when they are not the baseline's
	// histogram's: bin i is [Edges[i], Edges[i+1]), the last closed,
	// values outside in the first or last.
	Edges []float64 `json:"edges,omitempty"`
}

// BinShare is one bin (or category) of a drift chart.
type BinShare struct {
	Label    string  `json:"label"`
	Baseline float64 `json:"baseline"`
	Today    float64 `json:"today"`
}

// PSI is the population stability index Σ (a−e)·ln(a/e) of actual
// shares a against expected shares e, each share clamped to at least
// 1e-4 so that empty bins count without making it infinite.
func PSI(expected, actual []float64) float64 {
	var psi float64
	for i := range expected {
		e, a := max(expected[i], minShare), max(actual[i], minShare)
		psi += (a - e) * math.Log(a/e)
	}
	return psi
}

// Band names the usual PSI band.
func Band(psi float64) string {
	switch {
	case psi < 0.1:
		return BandStable
	case psi < 0.25:
		return BandModerate
	}
	return BandMajor
}

// Compare measures the drift of every column present in both profiles
// with compatible types (numeric with numeric, categorical with
// categorical), in the baseline's order.
func Compare(baseline, today *Profile) []ColumnDrift {
	var out []ColumnDrift
	for _, bc := range baseline.Columns {
		if d, ok := compareColumn(bc, today.Column(bc.Name)); ok {
			out = append(out, d)
		}
	}
	return out
}

// ScoreDrift compares a numeric column (the score) against the previous
// successful run's profile: on exact counts in fixed fine bins when both
// runs kept them (WithFineCounts), merged at the previous run's
// quantiles; else on the previous run's histogram bins, which a run of an
// older version may have estimated from its sketch (BaselineEstimated).
func ScoreDrift(previous, today *Profile, column string) (ColumnDrift, bool) {
	pc, tc := previous.Column(column), today.Column(column)
	if pc == nil || tc == nil || !pc.numeric() || tc.Count-tc.NaN-tc.Inf <= 0 {
		return ColumnDrift{}, false // no score today: nothing to compare
	}
	if d, ok := fineDrift(pc, tc); ok {
		return d, true
	}
	return compareColumn(pc, tc)
}

func compareColumn(base, today *Column) (ColumnDrift, bool) {
	if base == nil || today == nil || base.numeric() != today.numeric() {
		return ColumnDrift{}, false
	}
	compare := compareCategories
	if base.numeric() {
		compare = compareNumeric
	}
	d, ok := compare(base, today)
	d.Binning = base.Binning()
	return d, ok
}

func compareNumeric(base, today *Column) (ColumnDrift, bool) {
	h := base.Histogram
	if h == nil || len(h.Edges) < 2 || len(h.Counts) != len(h.Edges)-1 {
		return ColumnDrift{}, false
	}
	expected := make([]float64, len(h.Counts))
	var total float64
	for i, n := range h.Counts {
		expected[i] = float64(n)
		total += float64(n)
	}
	expected[0] += float64(h.Below)
	expected[len(expected)-1] += float64(h.Above)
	total += float64(h.Below + h.Above)
	if total == 0 {
		return ColumnDrift{}, false
	}
	for i := range expected {
		expected[i] /= total
	}
	d := ColumnDrift{Column: base.Name, Type: today.Type, BaselineEstimated: h.Estimated}
	actual, outside, ok := todayShares(h.Edges, base, today)
	if !ok {
		return ColumnDrift{}, false
	}
	d.Estimated = !exactOn(h.Edges, today)
	d.PSI = PSI(expected, actual)
	d.Band = Band(d.PSI)
	if n := today.Count - today.NaN; n > 0 {
		d.OutOfRange = float64(outside+today.Inf) / float64(n)
	}
	for i := range expected {
		d.Bins = append(d.Bins, BinShare{Label: binLabel(h.Edges, i), Baseline: expected[i], Today: actual[i]})
	}
	return d, true
}

// exactOn: today's histogram was counted on these edges.
func exactOn(edges []float64, today *Column) bool {
	t := today.Histogram
	return t != nil && !t.Estimated && slices.Equal(t.Edges, edges) && len(t.Counts) == len(edges)-1
}

// todayShares puts today's finite values in the baseline's bins (values
// below the first edge in the first bin, above the last in the last) and
// counts those outside the baseline's [min, max]: exactly when today was
// counted on the same edges, otherwise from today's sketch.
func todayShares(edges []float64, base, today *Column) (shares []float64, outside int64, ok bool) {
	shares = make([]float64, len(edges)-1)
	lo, hi := edges[0], edges[len(edges)-1]
	if base.Min != nil && base.Max != nil {
		lo, hi = *base.Min, *base.Max
	}
	finite := today.Count - today.NaN - today.Inf
	exact := exactOn(edges, today)
	needSketch := !exact && finite > 0
	switch {
	case finite == 0 || today.Min == nil || today.Max == nil:
	case *today.Min >= lo && *today.Max <= hi:
	case exact && lo == edges[0] && hi == edges[len(edges)-1]:
		outside = today.Histogram.Below + today.Histogram.Above
	default:
		needSketch = true
	}
	if exact {
		t := today.Histogram
		for i, n := range t.Counts {
			shares[i] = float64(n)
		}
		shares[0] += float64(t.Below)
		shares[len(shares)-1] += float64(t.Above)
		normalize(shares)
	}
	if !needSketch {
		return shares, outside, true
	}
	var sk kll
	if len(today.Sketch) == 0 || json.Unmarshal(today.Sketch, &sk) != nil || sk.n == 0 {
		return nil, 0, false
	}
	v := sk.view()
	if !exact {
		prev := int64(0)
		for i := range shares {
			next := v.total()
			if i < len(shares)-1 {
				next = v.less(edges[i+1])
			}
			shares[i] = float64(next - prev)
			prev = next
		}
		normalize(shares)
	}
	if today.Min != nil && today.Max != nil && (*today.Min < lo || *today.Max > hi) {
		est := v.less(lo) + v.total() - v.atMost(hi)
		// The sketch weighs the finite values; scale to today's count.
		outside = int64(math.Round(float64(est) / float64(v.total()) * float64(finite)))
		outside = max(outside, 1) // the extreme value itself is outside
	}
	return shares, outside, true
}

func normalize(shares []float64) {
	var total float64
	for _, s := range shares {
		total += s
	}
	if total > 0 {
		for i := range shares {
			shares[i] /= total
		}
	}
}

func compareCategories(base, today *Column) (ColumnDrift, bool) {
	if base.Count == 0 {
		return ColumnDrift{}, false
	}
	d := ColumnDrift{Column: base.Name, Type: today.Type}
	counts := make(map[string]int64, len(today.Top))
	for _, c := range today.Top {
		counts[c.Value] = c.Count
	}
	var expected, actual []float64
	var matched int64
	for _, c := range base.Top {
		n := counts[c.Value] // absent from today's Top: 0 (exact when today was built on this baseline)
		matched += n
		expected = append(expected, float64(c.Count)/float64(base.Count))
		actual = append(actual, share(n, today.Count))
		d.Bins = append(d.Bins, BinShare{Label: c.Value, Baseline: expected[len(expected)-1], Today: actual[len(actual)-1]})
	}
	expected = append(expected, float64(base.Other)/float64(base.Count))
	actual = append(actual, share(today.Count-matched, today.Count))
	d.Bins = append(d.Bins, BinShare{Label: "other", Baseline: expected[len(expected)-1], Today: actual[len(actual)-1]})
	d.PSI = PSI(expected, actual)
	d.Band = Band(d.PSI)
	return d, true
}

func share(n, total int64) float64 {
	if total == 0 {
		return 0
	}
	return float64(n) / float64(total)
}
