package outcomes

import (
	"fmt"
	"math"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/zeebo/xxh3"
)

// keySeed seeds the key hashes; any constant works, both sides use it.
const keySeed = 0x6f7574636f6d6573

// mix is the SplitMix64 finaliser.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// keyKind is what a key column's values are, whatever their width:
// int32 labels join int64 scores, a string never joins an integer.
func keyKind(t arrow.DataType) string {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return "integer"
	case arrow.FLOAT32, arrow.FLOAT64:
		return "float"
	case arrow.STRING, arrow.LARGE_STRING:
		return "string"
	case arrow.DICTIONARY:
		if keyKind(t.(*arrow.DictionaryType).ValueType) == "string" {
			return "string"
		}
	case arrow.BOOL:
		return "boolean"
	case arrow.DATE32, arrow.DATE64:
		return "date"
	case arrow.TIMESTAMP:
		return "timestamp"
	}
	return ""
}

// hashKeys hashes each row's key tuple into h (len = rows). A row with a
// null key part gets null[i] = true.
func hashKeys(rec arrow.Record, keys []string, h []uint64, null []bool) error {
	n := int(rec.NumRows())
	part := make([]uint64, n)
	seed := uint64(keySeed)
	first := seed * 0x9e3779b97f4a7c15
	for j, k := range keys {
		idx := rec.Schema().FieldIndices(k)
		if len(idx) == 0 {
			return fmt.Errorf("key column %q is missing", k)
		}
		col := rec.Column(idx[0])
		if err := hashColumn(col, part); err != nil {
			return fmt.Errorf("key column %q: %w", k, err)
		}
		for i := range n {
			if col.IsNull(i) {
				null[i] = true
			}
			if j == 0 {
				h[i] = mix(first ^ mix(part[i]^keySeed))
			} else {
				h[i] = mix(h[i]*0x9e3779b97f4a7c15 ^ mix(part[i]^keySeed))
			}
		}
	}
	return nil
}

func hashColumn(col arrow.Array, out []uint64) error {
	switch a := col.(type) {
	case *array.Int64:
		for i, v := range a.Int64Values() {
			out[i] = uint64(v)
		}
	case *array.Int32:
		for i, v := range a.Int32Values() {
			out[i] = uint64(int64(v))
		}
	case *array.Int16:
		for i, v := range a.Int16Values() {
			out[i] = uint64(int64(v))
		}
	case *array.Int8:
		for i, v := range a.Int8Values() {
			out[i] = uint64(int64(v))
		}
	case *array.Uint64:
		for i, v := range a.Uint64Values() {
			out[i] = v
		}
	case *array.Uint32:
		for i, v := range a.Uint32Values() {
			out[i] = uint64(v)
		}
	case *array.Uint16:
		for i, v := range a.Uint16Values() {
			out[i] = uint64(v)
		}
	case *array.Uint8:
		for i, v := range a.Uint8Values() {
			out[i] = uint64(v)
		}
	case *array.Float64:
		for i, v := range a.Float64Values() {
			out[i] = math.Float64bits(v + 0) // -0 and 0 are one key
		}
	case *array.Float32:
		for i, v := range a.Float32Values() {
			out[i] = math.Float64bits(float64(v) + 0)
		}
	case *array.Boolean:
		for i := range out {
			out[i] = 0
			if a.Value(i) {
				out[i] = 1
			}
		}
	case *array.Date32:
		for i, v := range a.Date32Values() {
			out[i] = uint64(int64(v))
		}
	case *array.Date64:
		for i, v := range a.Date64Values() {
			out[i] = uint64(int64(v) / 86_400_000)
		}
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		for i, v := range a.TimestampValues() {
			out[i] = uint64(v.ToTime(unit).UnixNano())
		}
	case *array.String:
		for i := range out {
			out[i] = xxh3.HashStringSeed(a.Value(i), keySeed)
		}
	case *array.LargeString:
		for i := range out {
			out[i] = xxh3.HashStringSeed(a.Value(i), keySeed)
		}
	case *array.Dictionary:
		dict := a.Dictionary()
		entry := make([]uint64, dict.Len())
		for k := range entry {
			entry[k] = xxh3.HashStringSeed(valueString(dict, k), keySeed)
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

// valueString renders one value for messages and segment names.
func valueString(col arrow.Array, i int) string {
	if col.IsNull(i) {
		return "(null)"
	}
	switch a := col.(type) {
	case *array.String:
		return a.Value(i)
	case *array.LargeString:
		return a.Value(i)
	case *array.Dictionary:
		return valueString(a.Dictionary(), a.GetValueIndex(i))
	}
	return col.ValueStr(i)
}
