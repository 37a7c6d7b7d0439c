package profile

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestHistogramEdges(t *testing.T) {
	zeros := make([]float64, 100_000)
	for i := range zeros {
		if i%10 == 0 {
			zeros[i] = 1 + float64(i%1000)/10
		}
	}
	ints := make([]float64, 100_000)
	for i := range ints {
		ints[i] = float64([]int{0, 0, 0, 0, 0, 1, 1, 1, 2, 3}[i%10])
	}
	tests := []struct {
		name    string
		vals    []float64
		bins    int
		first   [2]float64 // the first bin's edges
		binning string
	}{
		{name: "90% zeros", vals: zeros, bins: 3, first: [2]float64{0, math.Nextafter(0, 1)}, binning: "tied values 0 (90.0%) in bins of their own"},
		{name: "few integers", vals: ints, bins: 4, first: [2]float64{0, 1}, binning: "tied values 0 (50.0%), 1 (30.0%), 2 (10.0%), 3 (10.0%) in bins of their own"},
		{name: "continuous", vals: uniform(5, 100_000, 0, 100), bins: 10, binning: "10 bins at quantiles"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// As batchscore profile does: edges from a first pass, exact
			// counts from a second.
			p := profileFloats(t, tc.vals, 65536, profileFloats(t, tc.vals, 65536, nil).Profile()).Profile()
			c := p.Columns[0]
			h := c.Histogram
			if len(h.Counts) != tc.bins {
				t.Fatalf("%d bins, want %d: edges %v", len(h.Counts), tc.bins, h.Edges)
			}
			if tc.first != [2]float64{} && (h.Edges[0] != tc.first[0] || h.Edges[1] != tc.first[1]) {
				t.Errorf("first bin [%v, %v), want %v", h.Edges[0], h.Edges[1], tc.first)
			}
			if !slices.IsSorted(h.Edges) || len(slices.Compact(slices.Clone(h.Edges))) != len(h.Edges) {
				t.Errorf("edges %v are not sorted and distinct", h.Edges)
			}
			if b := c.Binning(); !strings.Contains(b, tc.binning) {
				t.Errorf("binning %q does not say %q", b, tc.binning)
			}
			if s := c.BlindSpots(); len(s) != 0 {
				t.Errorf("blind spots %q", s)
			}
			// Against itself on its own bins: exact and 0.
			today := profileFloats(t, tc.vals, 65536, p).Profile()
			if d := Compare(p, today); len(d) != 1 || d[0].PSI != 0 || d[0].Estimated || d[0].BaselineEstimated {
				t.Errorf("drift against itself: %+v", d)
			}
		})
	}
}

// The old decile binning put 90% zeros and the rest in one bin: that
// baseline says so.
func TestBlindSpots(t *testing.T) {
	vals := make([]float64, 50_000)
	for i := range vals {
		if i%10 == 0 {
			vals[i] = float64(i % 7)
		}
	}
	p := profileFloats(t, vals, 65536, nil).Profile()
	c := p.Columns[0]
	c.Histogram = &Histogram{Edges: []float64{0, 6}, Counts: []int64{50_000}}
	if s := strings.Join(c.BlindSpots(), ";"); !strings.Contains(s, "single bin") {
		t.Errorf("single bin: %q", s)
	}
	c.Histogram = &Histogram{Edges: []float64{0, 3, 6}, Counts: []int64{48_000, 2_000}}
	if s := strings.Join(c.BlindSpots(), ";"); !strings.Contains(s, "tied values 0 (") || !strings.Contains(s, "share a bin") {
		t.Errorf("shared tie: %q", s)
	}
	constant := profileFloats(t, make([]float64, 1000), 65536, nil).Profile().Columns[0]
	if s := strings.Join(constant.BlindSpots(), ";"); !strings.Contains(s, "single value 0") {
		t.Errorf("constant: %q", s)
	}
}
