package profile

import (
	"fmt"
	"maps"
	"math"
	"slices"
)

// State is a Builder's accumulated state, for a shard to write and the
// commit to Merge back: the same columns and bins on both sides.
type State struct {
	Rows    int64     `json:"rows"`
	Columns []colJSON `json:"columns"`
}

// colJSON is a colState in JSON. Floats travel as their bits: a sum of
// squares may overflow to Inf, which JSON numbers cannot hold.
type colJSON struct {
	Name       string           `json:"name"`
	Count      int64            `json:"count"`
	Nulls      int64            `json:"nulls"`
	NaN        int64            `json:"nan"`
	Inf        int64            `json:"inf"`
	N          int64            `json:"n"`
	Moments    [4]uint64        `json:"moments"` // mean, m2, min, max
	Sketch     *kll             `json:"sketch,omitempty"`
	ExactLeft  int64            `json:"exact_left"`
	Hist       []int64          `json:"hist,omitempty"`
	Below      int64            `json:"below"`
	Above      int64            `json:"above"`
	SampledIn  int64            `json:"sampled_in,omitempty"`
	Fine       *Fine            `json:"fine,omitempty"`
	Categories map[string]int64 `json:"categories,omitempty"`
	Capped     bool             `json:"capped"`
	Trues      int64            `json:"trues"`
	Falses     int64            `json:"falses"`
}

// State returns what the Builder has added so far.
func (b *Builder) State() (*State, error) {
	if b.err != nil {
		return nil, b.err
	}
	st := &State{Rows: b.rows}
	for _, c := range b.cols {
		j := colJSON{Name: c.name, Count: c.count, Nulls: c.nulls, NaN: c.nan, Inf: c.inf, N: c.n,
			Moments:   [4]uint64{math.Float64bits(c.mean), math.Float64bits(c.m2), math.Float64bits(c.min), math.Float64bits(c.max)},
			ExactLeft: c.exactLeft, Hist: c.hist, Below: c.below, Above: c.above, SampledIn: c.sampledIn,
			Capped: c.capped, Trues: c.trues, Falses: c.falses}
		if c.isNumeric() {
			j.Sketch = c.sk
		}
		if c.fine != nil {
			j.Fine = c.fine.export()
		}
		if c.catIdx != nil {
			j.Categories = make(map[string]int64, len(c.catIdx))
			for v, i := range c.catIdx {
				j.Categories[v] = c.catN[i]
			}
		}
		st.Columns = append(st.Columns, j)
	}
	return st, nil
}

// MergeState adds a State that a Builder of the same columns and bins
// wrote.
func (b *Builder) MergeState(st *State) error {
	if b.err != nil {
		return b.err
	}
	if len(st.Columns) != len(b.cols) {
		return fmt.Errorf("profile: merging a state of %d columns into %d", len(st.Columns), len(b.cols))
	}
	for i, c := range b.cols {
		j := st.Columns[i]
		if j.Name != c.name || len(j.Hist) != len(c.hist) || c.isNumeric() != (j.Sketch != nil) || (c.fine != nil) != (j.Fine != nil) {
			return fmt.Errorf("profile: merging column %q into %q (%d bins into %d)", j.Name, c.name, len(j.Hist), len(c.hist))
		}
	}
	for i, c := range b.cols {
		j := st.Columns[i]
		o := &colState{name: c.name, typ: c.typ, dtype: c.dtype, bins: c.bins,
			count: j.Count, nulls: j.Nulls, nan: j.NaN, inf: j.Inf, n: j.N,
			mean: math.Float64frombits(j.Moments[0]), m2: math.Float64frombits(j.Moments[1]),
			min: math.Float64frombits(j.Moments[2]), max: math.Float64frombits(j.Moments[3]),
			sk: j.Sketch, exactLeft: j.ExactLeft, hist: j.Hist, below: j.Below, above: j.Above, sampledIn: j.SampledIn,
			capped: j.Capped, trues: j.Trues, falses: j.Falses}
		if j.Categories != nil {
			o.catIdx = map[string]int{}
			for _, v := range slices.Sorted(maps.Keys(j.Categories)) {
				o.catIdx[v] = len(o.catN)
				o.catN = append(o.catN, j.Categories[v])
			}
		}
		if j.Fine != nil {
			if err := j.Fine.valid(); err != nil {
				return fmt.Errorf("profile: merging column %q: %w", c.name, err)
			}
			o.fine = fineFrom(j.Fine)
		}
		if o.hist == nil && c.hist != nil {
			o.hist = make([]int64, len(c.hist))
		}
		c.merge(o)
	}
	b.rows += st.Rows
	return nil
}
