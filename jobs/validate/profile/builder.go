package profile

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
)

// Option tunes a Builder.
type Option func(*Builder)

// WithFixedBins counts column's histogram exactly in n equal-width bins
// over [lo, hi], whatever the baseline says: 20 bins over [0, 1] suit a
// score column, and the next run's drift compares like with like.
func WithFixedBins(column string, lo, hi float64, n int) Option {
	return func(b *Builder) {
		if n < 1 || !(lo < hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
			b.err = fmt.Errorf("profile: fixed bins for %s: need n >= 1 and lo < hi, finite (got %d over [%v, %v])", column, n, lo, hi)
			return
		}
		b.fixed[column] = newEqualBins(lo, hi, n)
	}
}

// WithFineCounts also counts column's values exactly in the fixed fine
// bins (Fine), whatever the data: what a run keeps of its scores, so
// that the next run's score drift compares exact counts with exact
// counts.
func WithFineCounts(column string) Option {
	return func(b *Builder) { b.fine[column] = true }
}

// Builder profiles Arrow records. It is not safe for concurrent use:
// give each goroutine its own Builder (with the same arguments) and Merge
// them at the end.
type Builder struct {
	rows   int64
	cols   []*colState
	fixed  map[string]*binner
	fine   map[string]bool
	sample *rowSample // WithRowSample: the rows that count the histograms
	err    error      // a bad argument to NewBuilder, returned by every Add
}

// NewBuilder profiles the named columns of schema (nil: every column of a
// supported type). When bins is non-nil (a baseline), numeric histograms
// are counted exactly on the baseline's edges and categorical columns
// report the baseline's top values, so that drift compares like with
// like. A named column that is missing or of an unsupported type makes
// every Add fail.
func NewBuilder(schema *arrow.Schema, columns []string, bins *Profile, opts ...Option) *Builder {
	b := &Builder{fixed: map[string]*binner{}, fine: map[string]bool{}}
	for _, o := range opts {
		o(b)
	}
	if columns == nil {
		for _, f := range schema.Fields() {
			if columnType(f.Type) != "" {
				columns = append(columns, f.Name)
			}
		}
	}
	seen := map[string]bool{}
	for i, name := range columns {
		idx := schema.FieldIndices(name)
		switch {
		case seen[name]:
			b.setErr(fmt.Errorf("profile: column %q is named twice", name))
			continue
		case len(idx) == 0:
			b.setErr(fmt.Errorf("profile: column %q is not in the schema", name))
			continue
		}
		seen[name] = true
		f := schema.Field(idx[0])
		typ := columnType(f.Type)
		if typ == "" {
			b.setErr(fmt.Errorf("profile: column %q has type %s, which is not profiled", name, f.Type))
			continue
		}
		c := newColState(name, typ, f.Type, uint64(i+1))
		if bn := b.fixed[name]; bn != nil && c.isNumeric() {
			c.bins = bn
		} else if bc := bins.Column(name); bc != nil && c.isNumeric() && bc.numeric() && bc.Histogram != nil {
			c.bins = newEdgeBins(bc.Histogram.Edges)
		} else if bc != nil && !c.isNumeric() {
			for _, t := range bc.Top {
				c.wantTop = append(c.wantTop, t.Value)
			}
		}
		if c.bins != nil {
			c.hist = make([]int64, c.bins.n())
			c.sampled = b.sample != nil
		}
		if b.fine[name] && c.isNumeric() {
			c.fine = &fineCounts{}
		}
		b.cols = append(b.cols, c)
	}
	return b
}

func (b *Builder) setErr(err error) {
	if b.err == nil {
		b.err = err
	}
}

// columnType maps an Arrow type to a profile type, or "" if unsupported.
func columnType(t arrow.DataType) string {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return TypeInt
	case arrow.FLOAT32, arrow.FLOAT64:
		return TypeFloat
	case arrow.BOOL:
		return TypeBool
	case arrow.STRING, arrow.LARGE_STRING:
		return TypeString
	case arrow.DATE32, arrow.DATE64:
		return TypeDate
	case arrow.TIMESTAMP:
		return TypeTimestamp
	}
	return ""
}

// Add profiles one record. Its columns are found by name and must have
// the types of the schema given to NewBuilder; other columns are ignored.
// Under WithRowSample its rows are located by their order in what the
// Builder was given: AddAt locates them in their files.
func (b *Builder) Add(rec arrow.Record) error { return b.AddAt(rec, "", b.rows) }

// AddAt is Add for a record that holds the rows from row offset of file,
// which decide the row sample of WithRowSample.
func (b *Builder) AddAt(rec arrow.Record, file string, offset int64) error {
	if b.err != nil {
		return b.err
	}
	var rows []int32
	if b.sample != nil {
		rows = b.sample.pick(file, offset, int(rec.NumRows()))
	}
	sc := rec.Schema()
	for _, c := range b.cols {
		idx := sc.FieldIndices(c.name)
		if len(idx) == 0 {
			return fmt.Errorf("profile: record has no column %q", c.name)
		}
		arr := rec.Column(idx[0])
		if !arrow.TypeEqual(arr.DataType(), c.dtype) {
			return fmt.Errorf("profile: column %q is %s, want %s", c.name, arr.DataType(), c.dtype)
		}
		c.add(arr)
		if c.sampled {
			c.addSample(arr, rows)
		}
	}
	b.rows += rec.NumRows()
	return nil
}

// Merge adds o's profile to b's. Both must profile the same columns with
// the same bins. o is unchanged and can be dropped.
func (b *Builder) Merge(o *Builder) error {
	if b.err != nil {
		return b.err
	}
	if o.err != nil {
		return o.err
	}
	if len(o.cols) != len(b.cols) {
		return fmt.Errorf("profile: merging builders of %d and %d columns", len(b.cols), len(o.cols))
	}
	for i, c := range b.cols {
		oc := o.cols[i]
		if oc.name != c.name || !arrow.TypeEqual(oc.dtype, c.dtype) {
			return fmt.Errorf("profile: merging column %q (%s) with %q (%s)", c.name, c.dtype, oc.name, oc.dtype)
		}
		if (c.fine == nil) != (oc.fine == nil) {
			return fmt.Errorf("profile: merging column %q with and without fine counts", c.name)
		}
		if !c.bins.equal(oc.bins) {
			return fmt.Errorf("profile: merging column %q with different histogram bins", c.name)
		}
	}
	for i, c := range b.cols {
		c.merge(o.cols[i])
	}
	b.rows += o.rows
	return nil
}

// Profile summarises what was added so far; the Builder can go on.
func (b *Builder) Profile() *Profile {
	p := &Profile{Version: FormatVersion, Rows: b.rows, Columns: make([]*Column, 0, len(b.cols))}
	for _, c := range b.cols {
		p.Columns = append(p.Columns, c.column())
	}
	return p
}

func (c *colState) column() *Column {
	col := &Column{Name: c.name, Type: c.typ, Count: c.count, Nulls: c.nulls, NaN: c.nan, Inf: c.inf}
	if c.isNumeric() {
		c.numericSummary(col)
	} else {
		c.categorySummary(col)
	}
	return col
}

func ptr(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func (c *colState) numericSummary(col *Column) {
	if c.n > 0 {
		col.Min, col.Max, col.Mean = ptr(c.min), ptr(c.max), ptr(c.mean)
		std := 0.0
		if c.n > 1 {
			std = math.Sqrt(c.m2 / float64(c.n-1))
		}
		col.Std = ptr(std)
		v := c.sk.view()
		for _, p := range QuantileProbs {
			q, _ := v.quantile(p)
			col.Quantiles = append(col.Quantiles, Quantile{P: p, Value: min(max(q, c.min), c.max)})
		}
		if c.bins == nil {
			col.Histogram = estimatedHistogram(v, c.min, c.max)
		}
	}
	switch {
	case c.sampled && c.sampledIn == 0 && c.n-c.below-c.above > 0:
		// No sampled value between the edges that hold some: no
		// histogram, drift estimates from the sketch instead.
	case c.sampled:
		col.Histogram = &Histogram{
			Edges:   c.bins.edgeList(),
			Counts:  c.sampledCounts(),
			Below:   c.below,
			Above:   c.above,
			Sampled: c.sampledIn,
		}
	case c.bins != nil:
		col.Histogram = &Histogram{
			Edges:  c.bins.edgeList(),
			Counts: slices.Clone(c.hist),
			Below:  c.below,
			Above:  c.above,
		}
	}
	if c.fine != nil {
		col.Fine = c.fine.export()
	}
	if data, err := json.Marshal(c.sk); err == nil {
		col.Sketch = data
	}
}

// estimatedHistogram bins on histogramEdges (tied values in bins of
// their own, quantile bins for the rest) with counts from ranks.
func estimatedHistogram(v cdf, lo, hi float64) *Histogram {
	edges := histogramEdges(v, lo, hi)
	h := &Histogram{Edges: edges, Counts: make([]int64, len(edges)-1), Estimated: true}
	total := v.total()
	for i := range h.Counts {
		upper := total
		if i < len(h.Counts)-1 {
			upper = v.less(edges[i+1])
		}
		h.Counts[i] = upper - v.less(edges[i])
	}
	return h
}

func (c *colState) categorySummary(col *Column) {
	type kv struct {
		v string
		n int64
	}
	all := make([]kv, 0, len(c.catIdx))
	for v, i := range c.catIdx {
		all = append(all, kv{v, c.catN[i]})
	}
	if c.typ == TypeBool {
		for v, n := range map[string]int64{"true": c.trues, "false": c.falses} {
			if n > 0 {
				all = append(all, kv{v, n})
			}
		}
	}
	slices.SortFunc(all, func(a, b kv) int {
		if a.n != b.n {
			if a.n > b.n {
				return -1
			}
			return 1
		}
		return strings.Compare(a.v, b.v)
	})
	col.Distinct, col.TopCapped = len(all), c.capped
	if c.capped { // more values than were counted: say "at least"
		col.Distinct, col.DistinctAtLeast = 0, len(all)
	}
	var inTop int64
	for i, e := range all {
		if i < MaxTop || slices.Contains(c.wantTop, e.v) {
			col.Top = append(col.Top, Category{Value: e.v, Count: e.n})
			inTop += e.n
		}
	}
	col.Other = c.count - inTop
}
