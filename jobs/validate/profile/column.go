package profile

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/bitutil"

	"github.com/batchscore/batchscore/jobs/validate/distinct"
)

// Sketch sampling: each column's first exactValues finite values go into
// the sketch one by one; after that, one value picked at random from
// each block of sampleStride values goes in with weight sampleStride.
// Sketching every value costs an order of magnitude more than sampling
// one in 64 (BenchmarkAdd/sketch measures it), and sampling adds a rank
// error of about 0.5/sqrt(n/64), inside the sketch's own
// (TestQuantileAccuracy).
const (
	exactValues  = 1 << 16
	sampleLevel  = 6
	sampleStride = 1 << sampleLevel
)

// colState accumulates one column.
type colState struct {
	name, typ string
	dtype     arrow.DataType

	count, nulls, nan, inf int64

	// finite numeric values: count, mean, sum of squared deviations.
	n             int64
	mean, m2      float64
	min, max      float64
	sk            *kll
	exactLeft     int64
	rng           uint64
	bins          *binner
	hist          []int64
	below, above  int64
	fine          *fineCounts // exact counts in fixed fine bins, WithFineCounts
	sampled       bool        // hist counts a row sample (WithRowSample); below and above every row
	sampledIn     int64       // values the sample put between the edges
	scratch, pick []float64
	sampleBuf     []float64 // addSample's

	// categorical values
	catIdx        map[string]int
	catN          []int64
	coder         *distinct.Coder // addStrings'
	many          bool            // a chunk had more than distinct.Max values
	capped        bool
	trues, falses int64
	wantTop       []string
}

func newColState(name, typ string, dt arrow.DataType, seed uint64) *colState {
	c := &colState{name: name, typ: typ, dtype: dt, rng: seed * 0x2545f4914f6cdd1d}
	if c.isNumeric() {
		c.sk = newKLL(seed)
		c.exactLeft = exactValues
	} else if typ == TypeString {
		c.catIdx = map[string]int{}
		c.coder = new(distinct.Coder)
	}
	return c
}

func (c *colState) isNumeric() bool {
	switch c.typ {
	case TypeInt, TypeFloat, TypeDate, TypeTimestamp:
		return true
	}
	return false
}

func (c *colState) add(arr arrow.Array) {
	nulls := int64(arr.NullN())
	c.nulls += nulls
	c.count += int64(arr.Len()) - nulls
	switch a := arr.(type) {
	case *array.Float64:
		vals := a.Float64Values()
		if nulls == 0 {
			sum, lo, hi := sumMinMax(vals)
			if !math.IsNaN(sum) && !math.IsInf(sum, 0) {
				c.addFinite(vals, sum, lo, hi)
				return
			}
		}
		c.addFloats(a, vals)
	case *array.Float32:
		c.addFloats(a, a.Float32Values())
	case *array.Int8:
		c.addInts(a, a.Int8Values(), 1)
	case *array.Int16:
		c.addInts(a, a.Int16Values(), 1)
	case *array.Int32:
		c.addInts(a, a.Int32Values(), 1)
	case *array.Int64:
		c.addInts(a, a.Int64Values(), 1)
	case *array.Uint8:
		c.addInts(a, a.Uint8Values(), 1)
	case *array.Uint16:
		c.addInts(a, a.Uint16Values(), 1)
	case *array.Uint32:
		c.addInts(a, a.Uint32Values(), 1)
	case *array.Uint64:
		c.addInts(a, a.Uint64Values(), 1)
	case *array.Date32:
		c.addInts(a, a.Date32Values(), 1)
	case *array.Date64:
		c.addInts(a, a.Date64Values(), 86_400_000)
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		c.addInts(a, a.TimestampValues(), float64(24*time.Hour)/float64(unit.Multiplier()))
	case *array.Boolean:
		if a.Len() == 0 {
			return
		}
		if nulls == 0 {
			t := int64(bitutil.CountSetBits(a.Data().Buffers()[1].Bytes(), a.Data().Offset(), a.Len()))
			c.trues += t
			c.falses += int64(a.Len()) - t
			return
		}
		for i := 0; i < a.Len(); i++ {
			if a.IsValid(i) {
				if a.Value(i) {
					c.trues++
				} else {
					c.falses++
				}
			}
		}
	case *array.String:
		c.addStrings(a)
	case *array.LargeString:
		for i := 0; i < a.Len(); i++ {
			if a.IsValid(i) {
				c.addCategory(a.Value(i), 1)
			}
		}
	}
}

// addStrings counts a string column's values. Few distinct values is the
// common case: a chunk of at most distinct.Max values is coded and
// counted per code, then each value once (BenchmarkStrings); after a
// chunk of more, the column's values go one by one through the map, the
// first eight met in each chunk compared before it is asked.
func (c *colState) addStrings(a *array.String) {
	if !c.many {
		if codes, values, ok := c.coder.Code(a); ok {
			var counts [256]int64 // counts[distinct.Null] is not read
			for _, k := range codes {
				counts[k]++
			}
			for k, v := range values {
				c.addCategory(v, counts[k])
			}
			return
		}
		c.many = true
	}
	var seen [8]string // point into a's buffer: valid during this call
	var at [8]int
	n, hasNulls := 0, a.NullN() > 0
	for i := range a.Len() {
		if hasNulls && a.IsNull(i) {
			continue
		}
		v := a.Value(i)
		k := 0
		for k < n && seen[k] != v {
			k++
		}
		if k < n {
			c.catN[at[k]]++
			continue
		}
		c.addCategory(v, 1)
		if j, ok := c.catIdx[v]; ok && n < len(seen) {
			seen[n], at[n] = v, j
			n++
		}
	}
}

// addCategory counts n occurrences of v. v may point into an Arrow
// buffer, so it is copied before it becomes a key.
func (c *colState) addCategory(v string, n int64) {
	if i, ok := c.catIdx[v]; ok {
		c.catN[i] += n
		return
	}
	if len(c.catIdx) >= MaxDistinct {
		c.capped = true // counted in Other by categorySummary
		return
	}
	c.catIdx[strings.Clone(v)] = len(c.catN)
	c.catN = append(c.catN, n)
}

// addFloats filters nulls, NaN and Inf out of a float column.
func addFloatsInto[T float32 | float64](c *colState, arr arrow.Array, vals []T) {
	buf := c.scratch[:0]
	hasNulls := arr.NullN() > 0
	for i, v := range vals {
		if hasNulls && arr.IsNull(i) {
			continue
		}
		x := float64(v)
		switch {
		case math.IsNaN(x):
			c.nan++
		case math.IsInf(x, 0):
			c.inf++
		default:
			buf = append(buf, x)
		}
	}
	c.scratch = buf
	sum, lo, hi := sumMinMax(buf)
	c.addFinite(buf, sum, lo, hi)
}

func (c *colState) addFloats(arr arrow.Array, vals any) {
	switch v := vals.(type) {
	case []float64:
		addFloatsInto(c, arr, v)
	case []float32:
		addFloatsInto(c, arr, v)
	}
}

type integer interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

// addInts converts integers (dates and timestamps too, divided by per to
// make days) to float64 and adds the non-null ones.
func addIntsInto[T integer](c *colState, arr arrow.Array, vals []T, per float64) {
	buf := slices.Grow(c.scratch[:0], len(vals))
	if arr.NullN() == 0 {
		buf = buf[:len(vals)]
		for i, v := range vals {
			buf[i] = float64(v)
		}
	} else {
		for i, v := range vals {
			if arr.IsValid(i) {
				buf = append(buf, float64(v))
			}
		}
	}
	if per != 1 {
		for i := range buf {
			buf[i] /= per
		}
	}
	c.scratch = buf
	sum, lo, hi := sumMinMax(buf)
	c.addFinite(buf, sum, lo, hi)
}

func (c *colState) addInts(arr arrow.Array, vals any, per float64) {
	switch v := vals.(type) {
	case []int8:
		addIntsInto(c, arr, v, per)
	case []int16:
		addIntsInto(c, arr, v, per)
	case []int32:
		addIntsInto(c, arr, v, per)
	case []int64:
		addIntsInto(c, arr, v, per)
	case []uint8:
		addIntsInto(c, arr, v, per)
	case []uint16:
		addIntsInto(c, arr, v, per)
	case []uint32:
		addIntsInto(c, arr, v, per)
	case []uint64:
		addIntsInto(c, arr, v, per)
	case []arrow.Date32:
		addIntsInto(c, arr, v, per)
	case []arrow.Date64:
		addIntsInto(c, arr, v, per)
	case []arrow.Timestamp:
		addIntsInto(c, arr, v, per)
	}
}

// sumMinMax is one pass over vals with four accumulators. With a NaN
// in vals the sum is NaN and min/max are meaningless: callers check.
func sumMinMax(vals []float64) (sum, lo, hi float64) {
	if len(vals) == 0 {
		return 0, 0, 0
	}
	l0, l1, h0, h1 := vals[0], vals[0], vals[0], vals[0]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(vals); i += 4 {
		v := vals[i : i+4 : i+4]
		a, b, cc, d := v[0], v[1], v[2], v[3]
		s0 += a
		s1 += b
		s2 += cc
		s3 += d
		if a < l0 {
			l0 = a
		}
		if b < l1 {
			l1 = b
		}
		if cc < l0 {
			l0 = cc
		}
		if d < l1 {
			l1 = d
		}
		if a > h0 {
			h0 = a
		}
		if b > h1 {
			h1 = b
		}
		if cc > h0 {
			h0 = cc
		}
		if d > h1 {
			h1 = d
		}
	}
	for ; i < len(vals); i++ {
		x := vals[i]
		s0 += x
		if x < l0 {
			l0 = x
		}
		if x > h0 {
			h0 = x
		}
	}
	if l1 < l0 {
		l0 = l1
	}
	if h1 > h0 {
		h0 = h1
	}
	return s0 + s1 + s2 + s3, l0, h0
}

// addFinite adds finite values whose sum, min and max are known: moments
// by Chan's update, then the histogram and the sketch.
func (c *colState) addFinite(vals []float64, sum, lo, hi float64) {
	if len(vals) == 0 {
		return
	}
	mb := sum / float64(len(vals))
	var m2 float64
	if c.sampled && (lo < c.bins.edges[0] || hi > c.bins.edges[len(c.bins.edges)-1]) {
		// The sample's rows go to hist in addSample; the values outside
		// the edges are counted over every row, in the moments' pass.
		var below, above int64
		m2, below, above = momentsOutside(vals, mb, c.bins.edges[0], c.bins.edges[len(c.bins.edges)-1])
		c.below += below
		c.above += above
	} else {
		m2 = moments(vals, mb)
	}
	c.mergeMoments(int64(len(vals)), mb, m2, lo, hi)
	if c.bins != nil && !c.sampled {
		c.below, c.above = c.bins.count(vals, c.hist, c.below, c.above)
	}
	if c.fine != nil {
		c.fine.add(vals)
	}
	c.sketch(vals)
}

// moments is the sum of squared deviations of vals from their mean mb.
func moments(vals []float64, mb float64) float64 {
	var m0, m1 float64
	i := 0
	for ; i+2 <= len(vals); i += 2 {
		d0, d1 := vals[i]-mb, vals[i+1]-mb
		m0 += d0 * d0
		m1 += d1 * d1
	}
	if i < len(vals) {
		d := vals[i] - mb
		m0 += d * d
	}
	return m0 + m1
}

// momentsOutside is moments, and counts the values below first and above
// last on the way.
func momentsOutside(vals []float64, mb, first, last float64) (m2 float64, below, above int64) {
	var m0, m1 float64
	var b0, b1, a0, a1 int
	i := 0
	for ; i+2 <= len(vals); i += 2 {
		x0, x1 := vals[i], vals[i+1]
		d0, d1 := x0-mb, x1-mb
		m0 += d0 * d0
		m1 += d1 * d1
		b0 += b2i(x0 < first)
		b1 += b2i(x1 < first)
		a0 += b2i(x0 > last)
		a1 += b2i(x1 > last)
	}
	if i < len(vals) {
		x := vals[i]
		d := x - mb
		m0 += d * d
		b0 += b2i(x < first)
		a0 += b2i(x > last)
	}
	return m0 + m1, int64(b0 + b1), int64(a0 + a1)
}

func (c *colState) mergeMoments(nb int64, mb, m2b, lo, hi float64) {
	if nb == 0 {
		return
	}
	if c.n == 0 {
		c.n, c.mean, c.m2, c.min, c.max = nb, mb, m2b, lo, hi
		return
	}
	na, n := float64(c.n), float64(c.n+nb)
	delta := mb - c.mean
	c.mean += delta * float64(nb) / n
	c.m2 += m2b + delta*delta*na*float64(nb)/n
	c.n += nb
	c.min, c.max = min(c.min, lo), max(c.max, hi)
}

func (c *colState) random() uint64 {
	c.rng ^= c.rng << 13
	c.rng ^= c.rng >> 7
	c.rng ^= c.rng << 17
	return c.rng
}

// sketch feeds finite values to the sketch: the first exactValues as
// they are, then one random value per block of sampleStride.
func (c *colState) sketch(vals []float64) {
	if c.exactLeft > 0 {
		k := min(int64(len(vals)), c.exactLeft)
		c.sk.add(vals[:k])
		c.exactLeft -= k
		vals = vals[k:]
	}
	blocks := len(vals) / sampleStride
	pick := c.pick[:0]
	var r uint64
	for b := range blocks {
		if b%(64/sampleLevel) == 0 { // a draw gives 64/sampleLevel picks
			r = c.random()
		}
		pick = append(pick, vals[b*sampleStride+int(r&(sampleStride-1))])
		r >>= sampleLevel
	}
	if len(pick) > 0 {
		slices.Sort(pick)
		c.sk.addSorted(sampleLevel, pick)
	}
	c.pick = pick
	c.sk.add(vals[blocks*sampleStride:])
}

func (c *colState) merge(o *colState) {
	c.count += o.count
	c.nulls += o.nulls
	c.nan += o.nan
	c.inf += o.inf
	if c.isNumeric() {
		c.mergeMoments(o.n, o.mean, o.m2, o.min, o.max)
		c.sk.merge(o.sk)
		c.exactLeft = min(c.exactLeft, o.exactLeft)
		for i := range c.hist {
			c.hist[i] += o.hist[i]
		}
		c.below += o.below
		c.above += o.above
		c.sampledIn += o.sampledIn
		if c.fine != nil && o.fine != nil {
			c.fine.merge(o.fine)
		}
		return
	}
	c.trues += o.trues
	c.falses += o.falses
	c.capped = c.capped || o.capped
	for v, i := range o.catIdx {
		c.addCategory(v, o.catN[i])
	}
}
