package validate

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"time"
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/bitutil"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// replacement is an impute value parsed to its column's type.
type replacement struct {
	i int64 // ints, dates (days for date32, ms for date64), timestamps (in unit)
	u uint64
	f float64
	b bool
	s string
}

func parseReplacement(t arrow.DataType, text string) (replacement, error) {
	var r replacement
	var err error
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64:
		r.i, err = strconv.ParseInt(text, 10, t.(arrow.FixedWidthDataType).BitWidth())
	case arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		r.u, err = strconv.ParseUint(text, 10, t.(arrow.FixedWidthDataType).BitWidth())
	case arrow.FLOAT32:
		r.f, err = strconv.ParseFloat(text, 32)
	case arrow.FLOAT64:
		r.f, err = strconv.ParseFloat(text, 64)
	case arrow.BOOL:
		switch text {
		case "true":
			r.b = true
		case "false":
		default:
			err = fmt.Errorf("not true or false")
		}
	case arrow.STRING, arrow.LARGE_STRING, arrow.DICTIONARY:
		if !isStringType(t) {
			return r, errNotApplicable
		}
		r.s = text
	case arrow.DATE32, arrow.DATE64:
		var d time.Time
		d, err = time.Parse(time.DateOnly, text)
		r.i = floorDiv(d.Unix(), 86400)
		if t.ID() == arrow.DATE64 {
			r.i *= 86400000
		}
	case arrow.TIMESTAMP:
		ts := t.(*arrow.TimestampType)
		loc := time.UTC
		if ts.TimeZone != "" {
			if loc, err = ts.GetZone(); err != nil {
				return r, err
			}
		}
		d, perr := time.ParseInLocation(time.RFC3339Nano, text, loc)
		if perr != nil {
			d, perr = time.ParseInLocation(time.DateOnly, text, loc)
		}
		if perr != nil {
			return r, fmt.Errorf("not an RFC 3339 timestamp or a YYYY-MM-DD date")
		}
		r.i = toUnit(d, ts.Unit)
	default:
		return r, errNotApplicable
	}
	return r, err
}

func toUnit(t time.Time, u arrow.TimeUnit) int64 {
	switch u {
	case arrow.Second:
		return t.Unix()
	case arrow.Millisecond:
		return t.UnixMilli()
	case arrow.Microsecond:
		return t.UnixMicro()
	}
	return t.UnixNano()
}

// modOp is one clip or impute rule's change to a column: the rows in bits.
type modOp struct {
	rule *compiled
	bits []uint64
}

// modify returns col with the clip and impute rules applied in rule
// order, or col itself (retained) when no row changes.
func modify(mem memory.Allocator, col arrow.Array, ops []modOp) (arrow.Array, error) {
	switch a := col.(type) {
	case *array.Float64:
		return rebuildFixed(mem, a, a.Float64Values(), ops), nil
	case *array.Float32:
		return rebuildFixed(mem, a, a.Float32Values(), ops), nil
	case *array.Int64:
		return rebuildFixed(mem, a, a.Int64Values(), ops), nil
	case *array.Int32:
		return rebuildFixed(mem, a, a.Int32Values(), ops), nil
	case *array.Int16:
		return rebuildFixed(mem, a, a.Int16Values(), ops), nil
	case *array.Int8:
		return rebuildFixed(mem, a, a.Int8Values(), ops), nil
	case *array.Uint64:
		return rebuildFixed(mem, a, a.Uint64Values(), ops), nil
	case *array.Uint32:
		return rebuildFixed(mem, a, a.Uint32Values(), ops), nil
	case *array.Uint16:
		return rebuildFixed(mem, a, a.Uint16Values(), ops), nil
	case *array.Uint8:
		return rebuildFixed(mem, a, a.Uint8Values(), ops), nil
	case *array.Date32:
		return rebuildFixed(mem, a, a.Date32Values(), ops), nil
	case *array.Date64:
		return rebuildFixed(mem, a, a.Date64Values(), ops), nil
	case *array.Timestamp:
		return rebuildFixed(mem, a, a.TimestampValues(), ops), nil
	case *array.Boolean:
		return rebuildBool(mem, a, ops), nil
	case *array.String:
		return rebuildStrings(mem, a, ops, array.NewStringBuilder(mem)), nil
	case *array.LargeString:
		return rebuildStrings(mem, a, ops, array.NewLargeStringBuilder(mem)), nil
	case *array.Dictionary:
		return rebuildDictionary(mem, a, ops)
	}
	return nil, fmt.Errorf("cannot impute or clip a column of type %s", col.DataType())
}

// forBits calls fn for every set bit below n.
func forBits(b []uint64, n int, fn func(i int)) {
	for w, word := range b {
		for word != 0 {
			i := w*64 + bits.TrailingZeros64(word)
			if i >= n {
				return
			}
			fn(i)
			word &= word - 1
		}
	}
}

// validityCopy returns a fresh validity bitmap for col's rows.
func validityCopy(mem memory.Allocator, col arrow.Array) *memory.Buffer {
	n := col.Len()
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(int(bitutil.BytesForBits(int64(n))))
	out := buf.Bytes()
	if col.NullN() == 0 {
		bitutil.SetBitsTo(out, 0, int64(n), true)
	} else {
		bitutil.CopyBitmap(col.NullBitmapBytes(), col.Data().Offset(), n, out, 0)
	}
	return buf
}

func fixedFrom[T number](r replacement) T {
	var zero T
	switch any(zero).(type) {
	case float32, float64:
		return T(r.f)
	case uint8, uint16, uint32, uint64:
		return T(r.u)
	}
	return T(r.i) // signed ints, dates and timestamps (defined int types)
}

// clampTo clamps v to [lo, hi], both already inside T's range.
func clampTo[T number](v T, lo, hi float64) T {
	f := float64(v)
	if f < lo {
		return fromFloat[T](lo, true)
	}
	if f > hi {
		return fromFloat[T](hi, false)
	}
	return v
}

// fromFloat converts a bound to T: integers round inward (ceil for a lower
// bound, floor for an upper one) and saturate at T's limits.
func fromFloat[T number](f float64, lower bool) T {
	var zero T
	var lo, hi float64
	switch any(zero).(type) {
	case float32, float64:
		return T(f)
	case int8:
		lo, hi = math.MinInt8, math.MaxInt8
	case int16:
		lo, hi = math.MinInt16, math.MaxInt16
	case int32:
		lo, hi = math.MinInt32, math.MaxInt32
	case int64:
		lo, hi = math.MinInt64, math.MaxInt64
	case uint8:
		lo, hi = 0, math.MaxUint8
	case uint16:
		lo, hi = 0, math.MaxUint16
	case uint32:
		lo, hi = 0, math.MaxUint32
	case uint64:
		lo, hi = 0, math.MaxUint64
	}
	if lower {
		f = math.Ceil(f)
	} else {
		f = math.Floor(f)
	}
	switch {
	case f <= lo:
		var minT T
		if lo != 0 {
			minT = T(int64(lo))
		}
		return minT
	case f >= hi:
		return maxOf[T](hi)
	}
	return T(f)
}

// maxOf is T's largest value (hi is that value as float64).
func maxOf[T number](hi float64) T {
	var zero T
	switch any(zero).(type) {
	case int64:
		m := int64(math.MaxInt64)
		return T(m)
	case uint64:
		m := uint64(math.MaxUint64)
		return T(m)
	}
	return T(hi)
}

func rebuildFixed[T number](mem memory.Allocator, col arrow.Array, vals []T, ops []modOp) arrow.Array {
	n := len(vals)
	if n == 0 {
		col.Retain()
		return col
	}
	size := int(unsafe.Sizeof(vals[0]))
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(n * size)
	out := unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(buf.Bytes()))), n)
	copy(out, vals)
	var valid *memory.Buffer
	imputes := false
	for _, op := range ops {
		imputes = imputes || op.rule.action == actImpute
	}
	if col.NullN() > 0 || imputes {
		valid = validityCopy(mem, col)
	}
	for _, op := range ops {
		r := op.rule
		if r.action == actImpute {
			v, vb := fixedFrom[T](r.fill), valid.Bytes()
			forBits(op.bits, n, func(i int) { out[i] = v; bitutil.SetBit(vb, i) })
			continue
		}
		forBits(op.bits, n, func(i int) { out[i] = clampTo(out[i], r.lo, r.hi) })
	}
	return finish(col.DataType(), n, valid, buf)
}

func finish(t arrow.DataType, n int, valid, values *memory.Buffer) arrow.Array {
	nulls := 0
	if valid != nil {
		nulls = n - bitutil.CountSetBits(valid.Bytes(), 0, n)
	}
	data := array.NewData(t, n, []*memory.Buffer{valid, values}, nil, nulls, 0)
	out := array.MakeFromData(data)
	data.Release()
	if valid != nil {
		valid.Release()
	}
	values.Release()
	return out
}

func rebuildBool(mem memory.Allocator, col *array.Boolean, ops []modOp) arrow.Array {
	n := col.Len()
	values := memory.NewResizableBuffer(mem)
	values.Resize(int(bitutil.BytesForBits(int64(n))))
	vb := values.Bytes()
	bitutil.CopyBitmap(col.Data().Buffers()[1].Bytes(), col.Data().Offset(), n, vb, 0)
	valid := validityCopy(mem, col)
	ok := valid.Bytes()
	for _, op := range ops { // only impute reaches a bool column
		v := op.rule.fill.b
		forBits(op.bits, n, func(i int) { bitutil.SetBitTo(vb, i, v); bitutil.SetBit(ok, i) })
	}
	return finish(col.DataType(), n, valid, values)
}

type stringBuilder interface {
	array.Builder
	Append(string)
}

type stringArray interface {
	arrow.Array
	Value(int) string
}

func rebuildStrings(mem memory.Allocator, col stringArray, ops []modOp, b stringBuilder) arrow.Array {
	defer b.Release()
	n := col.Len()
	// choice[i] is 1 + the index of the last impute op that writes row i.
	choice := make([]uint16, n)
	for k, op := range ops {
		forBits(op.bits, n, func(i int) { choice[i] = uint16(k + 1) })
	}
	b.Reserve(n)
	for i := 0; i < n; i++ {
		switch {
		case choice[i] > 0:
			b.Append(ops[choice[i]-1].rule.fill.s)
		case col.IsNull(i):
			b.AppendNull()
		default:
			b.Append(col.Value(i))
		}
	}
	return b.NewArray()
}

// rebuildDictionary appends the impute values to the dictionary and points
// the imputed rows' indices at them.
func rebuildDictionary(mem memory.Allocator, col *array.Dictionary, ops []modOp) (arrow.Array, error) {
	dt := col.DataType().(*arrow.DictionaryType)
	dict := col.Dictionary()
	extra := array.NewBuilder(mem, dt.ValueType).(stringBuilder)
	defer extra.Release()
	idxOps := make([]modOp, len(ops))
	for k, op := range ops {
		fill := *op.rule
		fill.fill = replacement{i: int64(dict.Len() + k), u: uint64(dict.Len() + k)}
		idxOps[k] = modOp{rule: &fill, bits: op.bits}
		extra.Append(op.rule.fill.s)
	}
	limit := uint64(1)<<(dt.IndexType.(arrow.FixedWidthDataType).BitWidth()-1) - 1
	if uint64(dict.Len()+len(ops)) > limit {
		return nil, fmt.Errorf("dictionary of type %s is full: cannot add the impute value", dt)
	}
	extraArr := extra.NewArray()
	defer extraArr.Release()
	newDict, err := array.Concatenate([]arrow.Array{dict, extraArr}, mem)
	if err != nil {
		return nil, err
	}
	defer newDict.Release()
	indices, err := modify(mem, col.Indices(), idxOps)
	if err != nil {
		return nil, err
	}
	defer indices.Release()
	return array.NewDictionaryArray(dt, indices, newDict), nil
}
