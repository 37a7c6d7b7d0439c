package validate

import (
	"fmt"
	"math"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/zeebo/xxh3"
)

// mix is the SplitMix64 finaliser: a cheap, well-spread 64-bit mix.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// keyHashes hashes each row's unique key tuple, one column at a time, and
// counts the rows whose key has a null part. Integers hash by value
// whatever their width, so int32 and int64 files of one snapshot agree.
// As in SQL's UNIQUE, a key with a null is equal to no other key: its row
// gets no hash, and a not_null rule on the key decides about it.
func (e *Engine) keyHashes(rec arrow.Record) ([]uint64, int64, error) {
	n := int(rec.NumRows())
	h := make([]uint64, n)
	seed := e.seed
	var part []uint64 // the second and later key columns' parts
	var null []bool   // rows with a null key part; nil while there is none
	for j, k := range e.unique {
		idx := rec.Schema().FieldIndices(k)
		if len(idx) == 0 {
			return nil, 0, fmt.Errorf("%w: unique key column %q is missing from this chunk", ErrSchema, k)
		}
		col := rec.Column(idx[0])
		// The first column's parts go straight into h, which holds the
		// seed for every row before it: h = mix(seed·φ ^ mix(part ^ seed)).
		dst := h
		if j > 0 {
			if part == nil {
				part = make([]uint64, n)
			}
			dst = part
		}
		if err := e.hashColumn(col, dst); err != nil {
			return nil, 0, fmt.Errorf("unique key column %q: %w", k, err)
		}
		if col.NullN() > 0 {
			if null == nil {
				null = make([]bool, n)
			}
			for i := range n {
				if col.IsNull(i) {
					null[i] = true
				}
			}
		}
		if j == 0 {
			first := seed * 0x9e3779b97f4a7c15
			for i, p := range h {
				h[i] = mix(first ^ mix(p^seed))
			}
			continue
		}
		for i, p := range part {
			h[i] = mix(h[i]*0x9e3779b97f4a7c15 ^ mix(p^seed))
		}
	}
	if null == nil {
		return h, 0, nil
	}
	kept := h[:0]
	for i, v := range h {
		if !null[i] {
			kept = append(kept, v)
		}
	}
	return kept, int64(n - len(kept)), nil
}

func hashInts[T ~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64](vals []T, out []uint64) {
	for i, v := range vals {
		out[i] = uint64(v)
	}
}

func hashFloats[T float32 | float64](vals []T, out []uint64) {
	for i, v := range vals {
		f := float64(v)
		if f == 0 {
			f = 0 // -0 and 0 are one key
		}
		out[i] = math.Float64bits(f)
	}
}

// hashColumn writes one part per row into out (before mixing).
func (e *Engine) hashColumn(col arrow.Array, out []uint64) error {
	switch a := col.(type) {
	case *array.Int64:
		hashInts(a.Int64Values(), out)
	case *array.Int32:
		hashInts(a.Int32Values(), out)
	case *array.Int16:
		hashInts(a.Int16Values(), out)
	case *array.Int8:
		hashInts(a.Int8Values(), out)
	case *array.Uint64:
		hashInts(a.Uint64Values(), out)
	case *array.Uint32:
		hashInts(a.Uint32Values(), out)
	case *array.Uint16:
		hashInts(a.Uint16Values(), out)
	case *array.Uint8:
		hashInts(a.Uint8Values(), out)
	case *array.Date32:
		hashInts(a.Date32Values(), out)
	case *array.Date64:
		hashInts(a.Date64Values(), out)
	case *array.Timestamp:
		hashInts(a.TimestampValues(), out)
	case *array.Float64:
		hashFloats(a.Float64Values(), out)
	case *array.Float32:
		hashFloats(a.Float32Values(), out)
	case *array.Boolean:
		for i := range out {
			out[i] = 0
			if a.Value(i) {
				out[i] = 1
			}
		}
	case *array.String:
		for i := range out {
			out[i] = xxh3.HashStringSeed(a.Value(i), e.seed)
		}
	case *array.LargeString:
		for i := range out {
			out[i] = xxh3.HashStringSeed(a.Value(i), e.seed)
		}
	case *array.Dictionary:
		dict := a.Dictionary()
		entry := make([]uint64, dict.Len())
		for k := range entry {
			entry[k] = xxh3.HashStringSeed(dictString(dict, k), e.seed)
		}
		for i := range out {
			if a.IsValid(i) {
				out[i] = entry[a.GetValueIndex(i)]
			}
		}
	default:
		return fmt.Errorf("type %s cannot be a key", col.DataType())
	}
	return nil
}

// maxDate is the newest non-null value of the freshness column among the
// rows not rejected: dates at midnight UTC, zoned timestamps in the
// logical date's location, naive timestamps as UTC wall clocks.
func (e *Engine) maxDate(rec arrow.Record, reject []uint64) (*time.Time, error) {
	idx := rec.Schema().FieldIndices(e.fresh)
	if len(idx) == 0 {
		return nil, fmt.Errorf("%w: freshness column %q is missing from this chunk", ErrSchema, e.fresh)
	}
	col := rec.Column(idx[0])
	best, found := int64(math.MinInt64), false
	take := func(i int, v int64) {
		if col.IsValid(i) && (!found || v > best) && reject[i/64]&(1<<(uint(i)%64)) == 0 {
			best, found = v, true
		}
	}
	var t time.Time
	switch a := col.(type) {
	case *array.Date32:
		for i, v := range a.Date32Values() {
			take(i, int64(v))
		}
		t = time.Unix(best*86400, 0).UTC()
	case *array.Date64:
		for i, v := range a.Date64Values() {
			take(i, int64(v))
		}
		t = time.UnixMilli(best).UTC()
	case *array.Timestamp:
		for i, v := range a.TimestampValues() {
			take(i, int64(v))
		}
		ts := a.DataType().(*arrow.TimestampType)
		t = arrow.Timestamp(best).ToTime(ts.Unit)
		if ts.TimeZone != "" {
			t = t.In(e.logical.Location())
		}
	default:
		return nil, fmt.Errorf("freshness column %q has type %s, not a date or timestamp", e.fresh, col.DataType())
	}
	if !found {
		return nil, nil
	}
	return &t, nil
}
