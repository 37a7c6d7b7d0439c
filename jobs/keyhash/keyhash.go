// Package keyhash hashes each row's key tuple to 64 bits, one key column
// at a time: h starts at the seed and, for each column in the key's
// order, h = Mix(h·φ ^ Mix(part ^ seed)), where part is the row's value
// as 64 bits (Column). Integers hash by value whatever their width (an
// int32 key and an int64 one agree), floats by their bits with -0 as 0,
// booleans as 0 or 1, strings (and dictionaries of strings) by xxh3 of
// their bytes with the seed. jobs/validate counts duplicate keys with it
// and jobs/outcomes joins labels to scores by it.
package keyhash

import (
	"fmt"
	"math"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/zeebo/xxh3"
)

// phi is 2^64 divided by the golden ratio.
const phi = 0x9e3779b97f4a7c15

// Mix is the SplitMix64 finaliser: a cheap, well-spread 64-bit mix.
func Mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Hasher hashes key tuples. Its methods may be called from many
// goroutines at once.
type Hasher struct {
	Seed uint64
	// Instants hashes a date64 as its day and a timestamp as its instant
	// (Unix nanoseconds), so that a date64 key agrees with a date32 one
	// and timestamps of different units agree; otherwise both hash by the
	// integer they store.
	Instants bool
}

// TypeError is a key column of a type that cannot be a key; Column is
// its index among the columns hashed.
type TypeError struct {
	Column int
	Type   arrow.DataType
}

func (e *TypeError) Error() string { return fmt.Sprintf("type %s cannot be a key", e.Type) }

// Rows hashes the key tuple of each row of cols (the key columns in the
// key's order, len(h) rows each) into h. null[i] says row i has a null
// key part (its h[i] means nothing); null is nil when no row has one.
// A column of another type is a *TypeError.
func (k Hasher) Rows(cols []arrow.Array, h []uint64) (null []bool, err error) {
	n := len(h)
	var part []uint64 // the second and later key columns' parts
	for j, col := range cols {
		// The first column's parts go straight into h, which holds the
		// seed for every row before it: h = Mix(seed·φ ^ Mix(part ^ seed)).
		dst := h
		if j > 0 {
			if part == nil {
				part = make([]uint64, n)
			}
			dst = part
		}
		if err := k.Column(col, dst); err != nil {
			return nil, &TypeError{Column: j, Type: col.DataType()}
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
			first := k.Seed * phi
			for i, p := range h {
				h[i] = Mix(first ^ Mix(p^k.Seed))
			}
			continue
		}
		for i, p := range part {
			h[i] = Mix(h[i]*phi ^ Mix(p^k.Seed))
		}
	}
	return null, nil
}

func ints[T ~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64](vals []T, out []uint64) {
	for i, v := range vals {
		out[i] = uint64(v)
	}
}

func floats[T float32 | float64](vals []T, out []uint64) {
	for i, v := range vals {
		f := float64(v)
		if f == 0 {
			f = 0 // -0 and 0 are one key
		}
		out[i] = math.Float64bits(f)
	}
}

// Column writes one part per row of col into out (before mixing); a null
// row's part means nothing. A column of another type is a *TypeError.
func (k Hasher) Column(col arrow.Array, out []uint64) error {
	switch a := col.(type) {
	case *array.Int64:
		ints(a.Int64Values(), out)
	case *array.Int32:
		ints(a.Int32Values(), out)
	case *array.Int16:
		ints(a.Int16Values(), out)
	case *array.Int8:
		ints(a.Int8Values(), out)
	case *array.Uint64:
		ints(a.Uint64Values(), out)
	case *array.Uint32:
		ints(a.Uint32Values(), out)
	case *array.Uint16:
		ints(a.Uint16Values(), out)
	case *array.Uint8:
		ints(a.Uint8Values(), out)
	case *array.Date32:
		ints(a.Date32Values(), out)
	case *array.Date64:
		if !k.Instants {
			ints(a.Date64Values(), out)
			break
		}
		for i, v := range a.Date64Values() {
			out[i] = uint64(int64(v) / 86_400_000)
		}
	case *array.Timestamp:
		if !k.Instants {
			ints(a.TimestampValues(), out)
			break
		}
		unit := a.DataType().(*arrow.TimestampType).Unit
		for i, v := range a.TimestampValues() {
			out[i] = uint64(v.ToTime(unit).UnixNano())
		}
	case *array.Float64:
		floats(a.Float64Values(), out)
	case *array.Float32:
		floats(a.Float32Values(), out)
	case *array.Boolean:
		for i := range out {
			out[i] = 0
			if a.Value(i) {
				out[i] = 1
			}
		}
	case *array.String:
		for i := range out {
			out[i] = xxh3.HashStringSeed(a.Value(i), k.Seed)
		}
	case *array.LargeString:
		for i := range out {
			out[i] = xxh3.HashStringSeed(a.Value(i), k.Seed)
		}
	case *array.Dictionary:
		return k.dictionary(a, out)
	default:
		return &TypeError{Type: col.DataType()}
	}
	return nil
}

// dictionary hashes each entry of a dictionary of strings once.
func (k Hasher) dictionary(a *array.Dictionary, out []uint64) error {
	var value func(int) string
	switch d := a.Dictionary().(type) {
	case *array.String:
		value = d.Value
	case *array.LargeString:
		value = d.Value
	default:
		return &TypeError{Type: a.DataType()}
	}
	entry := make([]uint64, a.Dictionary().Len())
	for e := range entry {
		entry[e] = xxh3.HashStringSeed(value(e), k.Seed)
	}
	for i := range out {
		if a.IsValid(i) {
			out[i] = entry[a.GetValueIndex(i)]
		}
	}
	return nil
}
