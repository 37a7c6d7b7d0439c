package validate

import (
	"encoding/binary"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/bitutil"

	"github.com/batchscore/batchscore/jobs/validate/distinct"
)

// Checks run one pass over a column and set, in a row bitmap (bit i of
// word i/64), the rows that fail. The caller hands them a zeroed bitmap.
// Every check but not_null ignores nulls: a null is not out of range.

type number interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

func words(n int) int { return (n + 63) / 64 }

func evalNotNull(col arrow.Array, bits []uint64) {
	if col.NullN() == 0 {
		return
	}
	validity(col, bits)
	for w := range bits {
		bits[w] = ^bits[w]
	}
	if r := col.Len() % 64; r != 0 {
		bits[len(bits)-1] &= 1<<uint(r) - 1
	}
}

// clearNulls unsets the bits of null rows.
func clearNulls(col arrow.Array, bits []uint64) {
	if col.NullN() == 0 {
		return
	}
	n := col.Len()
	src, off := col.NullBitmapBytes(), col.Data().Offset()
	if off%8 == 0 {
		src = src[off/8:]
		for w := range bits {
			if b := src[w*8:]; len(b) >= 8 {
				bits[w] &= binary.LittleEndian.Uint64(b)
				continue
			}
			validityTail(src[w*8:], bits[w:w+1])
			break
		}
		return
	}
	for w := range bits {
		var buf [8]byte
		bitutil.CopyBitmap(col.NullBitmapBytes(), off+w*64, min(64, n-w*64), buf[:], 0)
		bits[w] &= binary.LittleEndian.Uint64(buf[:])
	}
}

// validityTail ands the last, short word of a validity bitmap.
func validityTail(src []byte, word []uint64) {
	var buf [8]byte
	copy(buf[:], src)
	word[0] &= binary.LittleEndian.Uint64(buf[:])
}

// rangeBits fails values outside [lo, hi], and NaN, which is in no range.
func rangeBits[T number](vals []T, lo, hi float64, bits []uint64) {
	for w := range words(len(vals)) {
		chunk := vals[w*64 : min(w*64+64, len(vals))]
		var word uint64
		for j, v := range chunk {
			f := float64(v)
			if !(f >= lo && f <= hi) { // NaN compares false: it fails
				word |= 1 << uint(j)
			}
		}
		bits[w] = word
	}
}

// rangeBitsNaNPasses is rangeBits for a rule with allow_nan: NaN passes
// (a finite rule can catch it).
func rangeBitsNaNPasses[T float32 | float64](vals []T, lo, hi float64, bits []uint64) {
	for w := range words(len(vals)) {
		chunk := vals[w*64 : min(w*64+64, len(vals))]
		var word uint64
		for j, v := range chunk {
			f := float64(v)
			if f < lo || f > hi {
				word |= 1 << uint(j)
			}
		}
		bits[w] = word
	}
}

func rangeEval(lo, hi float64, allowNaN bool) func(arrow.Array, []uint64) {
	return func(col arrow.Array, bits []uint64) {
		switch a := col.(type) {
		case *array.Float64:
			if allowNaN {
				rangeBitsNaNPasses(a.Float64Values(), lo, hi, bits)
			} else {
				rangeBits(a.Float64Values(), lo, hi, bits)
			}
		case *array.Float32:
			if allowNaN {
				rangeBitsNaNPasses(a.Float32Values(), lo, hi, bits)
			} else {
				rangeBits(a.Float32Values(), lo, hi, bits)
			}
		case *array.Int64:
			rangeBits(a.Int64Values(), lo, hi, bits)
		case *array.Int32:
			rangeBits(a.Int32Values(), lo, hi, bits)
		case *array.Int16:
			rangeBits(a.Int16Values(), lo, hi, bits)
		case *array.Int8:
			rangeBits(a.Int8Values(), lo, hi, bits)
		case *array.Uint64:
			rangeBits(a.Uint64Values(), lo, hi, bits)
		case *array.Uint32:
			rangeBits(a.Uint32Values(), lo, hi, bits)
		case *array.Uint16:
			rangeBits(a.Uint16Values(), lo, hi, bits)
		case *array.Uint8:
			rangeBits(a.Uint8Values(), lo, hi, bits)
		}
		clearNulls(col, bits)
	}
}

func finiteBits[T float32 | float64](vals []T, bits []uint64) {
	for w := range words(len(vals)) {
		chunk := vals[w*64 : min(w*64+64, len(vals))]
		var word uint64
		for j, v := range chunk {
			// NaN and ±Inf: all exponent bits set.
			if math.Float64bits(float64(v))>>52&0x7ff == 0x7ff {
				word |= 1 << uint(j)
			}
		}
		bits[w] = word
	}
}

// nanBits sets the NaN rows among those set in bits: a clip rule cannot
// clamp them, so they are rejected.
func nanBits(col arrow.Array, bits, out []uint64) {
	check := func(i int, nan bool) {
		if nan {
			out[i/64] |= 1 << (uint(i) % 64)
		}
	}
	forBits(bits, col.Len(), func(i int) {
		switch a := col.(type) {
		case *array.Float64:
			check(i, math.IsNaN(a.Value(i)))
		case *array.Float32:
			check(i, math.IsNaN(float64(a.Value(i))))
		}
	})
}

// evalFinite fails NaN and ±Inf; integers are always finite.
func evalFinite(col arrow.Array, bits []uint64) {
	switch a := col.(type) {
	case *array.Float64:
		finiteBits(a.Float64Values(), bits)
	case *array.Float32:
		finiteBits(a.Float32Values(), bits)
	default:
		return
	}
	clearNulls(col, bits)
}

func validUTF8(s string) bool { return utf8.ValidString(s) }

// lengthOK counts characters (runes); invalid UTF-8 fails.
func lengthOK(s string, lo, hi int) bool {
	if !utf8.ValidString(s) {
		return false
	}
	n := utf8.RuneCountInString(s)
	return n >= lo && n <= hi
}

// coders code string chunks for stringEval, which runs on many workers.
var coders = sync.Pool{New: func() any { return new(distinct.Coder) }}

// stringEval runs bad on every non-null string. A dictionary column runs
// it once per dictionary entry, and so does a string chunk of at most
// distinct.Max values: a categorical column is judged per category.
func stringEval(bad func(string) bool) func(arrow.Array, []uint64) {
	return func(col arrow.Array, bits []uint64) {
		switch a := col.(type) {
		case *array.String:
			c := coders.Get().(*distinct.Coder)
			defer coders.Put(c)
			if codes, values, ok := c.Code(a); ok {
				var fails [256]bool // distinct.Null stays false
				for k, v := range values {
					fails[k] = bad(v)
				}
				for i, k := range codes {
					if fails[k] {
						bits[i/64] |= 1 << (uint(i) % 64)
					}
				}
				return
			}
			for i := 0; i < a.Len(); i++ {
				if a.IsValid(i) && bad(a.Value(i)) {
					bits[i/64] |= 1 << (uint(i) % 64)
				}
			}
		case *array.LargeString:
			for i := 0; i < a.Len(); i++ {
				if a.IsValid(i) && bad(a.Value(i)) {
					bits[i/64] |= 1 << (uint(i) % 64)
				}
			}
		case *array.Dictionary:
			dict := a.Dictionary()
			entry := make([]bool, dict.Len())
			for k := range entry {
				entry[k] = dict.IsValid(k) && bad(dictString(dict, k))
			}
			for i := 0; i < a.Len(); i++ {
				if a.IsValid(i) && entry[a.GetValueIndex(i)] {
					bits[i/64] |= 1 << (uint(i) % 64)
				}
			}
		}
	}
}

func dictString(dict arrow.Array, k int) string {
	switch d := dict.(type) {
	case *array.String:
		return d.Value(k)
	case *array.LargeString:
		return d.Value(k)
	}
	return ""
}

// setBits runs bad on every non-null value of a typed slice.
func setBits[T any](col arrow.Array, vals []T, bad func(T) bool, bits []uint64) {
	for i, v := range vals {
		if bad(v) {
			bits[i/64] |= 1 << (uint(i) % 64)
		}
	}
	clearNulls(col, bits)
}

// allowedEval compares each value, formatted as text (strconv for
// numbers, "true"/"false", YYYY-MM-DD for dates), with the allowed values.
// Values are parsed once and kept only when they format back to the same
// text, so the comparison is textual without formatting every row.
func allowedEval(t arrow.DataType, values []string) (func(arrow.Array, []uint64), error) {
	switch {
	case isStringType(t):
		set := make(map[string]struct{}, len(values))
		for _, v := range values {
			set[v] = struct{}{}
		}
		return stringEval(func(s string) bool { _, ok := set[s]; return !ok }), nil
	case t.ID() == arrow.BOOL:
		var okTrue, okFalse bool
		for _, v := range values {
			okTrue = okTrue || v == "true"
			okFalse = okFalse || v == "false"
		}
		return func(col arrow.Array, bits []uint64) {
			a := col.(*array.Boolean)
			for i := 0; i < a.Len(); i++ {
				if a.IsValid(i) {
					if v := a.Value(i); (v && !okTrue) || (!v && !okFalse) {
						bits[i/64] |= 1 << (uint(i) % 64)
					}
				}
			}
		}, nil
	case t.ID() == arrow.FLOAT32 || t.ID() == arrow.FLOAT64:
		size := 64
		if t.ID() == arrow.FLOAT32 {
			size = 32
		}
		set := map[uint64]struct{}{}
		nan := false
		for _, v := range values {
			f, err := strconv.ParseFloat(v, size)
			if err != nil || strconv.FormatFloat(f, 'g', -1, size) != v {
				continue
			}
			if math.IsNaN(f) {
				nan = true
				continue
			}
			set[math.Float64bits(f)] = struct{}{}
		}
		bad := func(f float64) bool {
			if f != f {
				return !nan
			}
			_, ok := set[math.Float64bits(f)]
			return !ok
		}
		return func(col arrow.Array, bits []uint64) {
			switch a := col.(type) {
			case *array.Float64:
				setBits(col, a.Float64Values(), bad, bits)
			case *array.Float32:
				setBits(col, a.Float32Values(), func(v float32) bool { return bad(float64(v)) }, bits)
			}
		}, nil
	case t.ID() == arrow.UINT64:
		set := map[uint64]struct{}{}
		for _, v := range values {
			if u, err := strconv.ParseUint(v, 10, 64); err == nil && strconv.FormatUint(u, 10) == v {
				set[u] = struct{}{}
			}
		}
		return func(col arrow.Array, bits []uint64) {
			setBits(col, col.(*array.Uint64).Uint64Values(), func(v uint64) bool { _, ok := set[v]; return !ok }, bits)
		}, nil
	case isIntType(t):
		set := map[int64]struct{}{}
		for _, v := range values {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && strconv.FormatInt(n, 10) == v {
				set[n] = struct{}{}
			}
		}
		bad := func(v int64) bool { _, ok := set[v]; return !ok }
		return func(col arrow.Array, bits []uint64) {
			switch a := col.(type) {
			case *array.Int64:
				setBits(col, a.Int64Values(), bad, bits)
			case *array.Int32:
				setBits(col, a.Int32Values(), func(v int32) bool { return bad(int64(v)) }, bits)
			case *array.Int16:
				setBits(col, a.Int16Values(), func(v int16) bool { return bad(int64(v)) }, bits)
			case *array.Int8:
				setBits(col, a.Int8Values(), func(v int8) bool { return bad(int64(v)) }, bits)
			case *array.Uint32:
				setBits(col, a.Uint32Values(), func(v uint32) bool { return bad(int64(v)) }, bits)
			case *array.Uint16:
				setBits(col, a.Uint16Values(), func(v uint16) bool { return bad(int64(v)) }, bits)
			case *array.Uint8:
				setBits(col, a.Uint8Values(), func(v uint8) bool { return bad(int64(v)) }, bits)
			}
		}, nil
	case t.ID() == arrow.DATE32 || t.ID() == arrow.DATE64:
		set := map[int64]struct{}{}
		for _, v := range values {
			if d, err := time.Parse(time.DateOnly, v); err == nil && d.Format(time.DateOnly) == v {
				set[floorDiv(d.Unix(), 86400)] = struct{}{}
			}
		}
		bad := func(day int64) bool { _, ok := set[day]; return !ok }
		return func(col arrow.Array, bits []uint64) {
			switch a := col.(type) {
			case *array.Date32:
				setBits(col, a.Date32Values(), func(v arrow.Date32) bool { return bad(int64(v)) }, bits)
			case *array.Date64:
				setBits(col, a.Date64Values(), func(v arrow.Date64) bool { return bad(floorDiv(int64(v), 86400000)) }, bits)
			}
		}, nil
	}
	return nil, errNotApplicable
}

type notApplicable struct{}

func (notApplicable) Error() string { return "not applicable" }

var errNotApplicable error = notApplicable{}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// civilDay is the number of days from 1970-01-01 to t's calendar date in
// its own location.
func civilDay(t time.Time) int64 {
	y, m, d := t.Date()
	return floorDiv(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix(), 86400)
}

// dateRangeEval fails values dated after logical + after days or before
// logical - before days. Dates compare as calendar days; a timestamp with
// a zone compares as the instant against midnights in the logical date's
// location, a timestamp without a zone as a wall clock against midnights
// in UTC.
func dateRangeEval(t arrow.DataType, logical time.Time, before, after *int) func(arrow.Array, []uint64) {
	day := civilDay(logical)
	loDay, hiDay := int64(math.MinInt64/2), int64(math.MaxInt64/2)
	if before != nil {
		loDay = day - int64(*before)
	}
	if after != nil {
		hiDay = day + int64(*after)
	}
	switch t.ID() {
	case arrow.DATE32:
		return func(col arrow.Array, bits []uint64) {
			setBits(col, col.(*array.Date32).Date32Values(), func(v arrow.Date32) bool { return int64(v) < loDay || int64(v) > hiDay }, bits)
		}
	case arrow.DATE64:
		return func(col arrow.Array, bits []uint64) {
			setBits(col, col.(*array.Date64).Date64Values(), func(v arrow.Date64) bool {
				d := floorDiv(int64(v), 86400000)
				return d < loDay || d > hiDay
			}, bits)
		}
	}
	ts := t.(*arrow.TimestampType)
	loc := time.UTC
	if ts.TimeZone != "" {
		loc = logical.Location()
	}
	lo := midnightIn(loDay, loc, ts.Unit)
	hi := midnightIn(hiDay+1, loc, ts.Unit) // exclusive
	return func(col arrow.Array, bits []uint64) {
		vals := col.(*array.Timestamp).TimestampValues()
		for w := range words(len(vals)) {
			chunk := vals[w*64 : min(w*64+64, len(vals))]
			var word uint64
			for j, v := range chunk {
				if int64(v) < lo || int64(v) >= hi {
					word |= 1 << uint(j)
				}
			}
			bits[w] = word
		}
		clearNulls(col, bits)
	}
}

// midnightIn is the start of the given civil day in loc, in unit,
// saturated to the int64 range.
func midnightIn(day int64, loc *time.Location, unit arrow.TimeUnit) int64 {
	const limit = 1 << 40 // days: far beyond any timestamp
	if day <= -limit {
		return math.MinInt64
	}
	if day >= limit {
		return math.MaxInt64
	}
	utc := time.Unix(day*86400, 0).UTC()
	sec := time.Date(utc.Year(), utc.Month(), utc.Day(), 0, 0, 0, 0, loc).Unix()
	mul := int64(1)
	switch unit {
	case arrow.Millisecond:
		mul = 1e3
	case arrow.Microsecond:
		mul = 1e6
	case arrow.Nanosecond:
		mul = 1e9
	}
	if sec > math.MaxInt64/mul {
		return math.MaxInt64
	}
	if sec < math.MinInt64/mul {
		return math.MinInt64
	}
	return sec * mul
}
