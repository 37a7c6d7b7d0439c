package scoring

import (
	"errors"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// InputError names the column and the row, within its chunk, that a model
// input cannot take. The pipeline adds the file and the absolute row.
type InputError struct {
	Column string
	Row    int64
	Reason string
}

func (e *InputError) Error() string {
	return fmt.Sprintf("column %q row %d: %s", e.Column, e.Row, e.Reason)
}

func (e *InputError) Unwrap() error { return ErrBadInput }

// Buffers are one worker's input buffers, reused chunk after chunk.
type Buffers struct {
	f32 [][]float32
	f64 [][]float64
	i64 [][]int64
	i32 [][]int32
	// nonFinite counts the last chunk's non-finite inputs per column.
	nonFinite nonFiniteTally
}

func grow[T any](buf []T, n int) []T {
	if cap(buf) < n {
		return make([]T, n)
	}
	return buf[:n]
}

// Tensors fills the model inputs from a chunk, row-major (feature-major
// where the binding asks), one pass per column. A null in a bound column
// is an InputError.
func (b *Binding) tensors(rec arrow.Record, buf *Buffers) ([]Tensor, error) {
	n := int(rec.NumRows())
	if len(buf.f32) < len(b.Inputs) { // one worker's models share its buffers
		k := len(b.Inputs)
		buf.f32, buf.f64, buf.i64, buf.i32 = make([][]float32, k), make([][]float64, k), make([][]int64, k), make([][]int32, k)
	}
	clear(buf.nonFinite)
	out := make([]Tensor, len(b.Inputs))
	var first *InputError // the bad row nearest the chunk's start, over every input
	for i, in := range b.Inputs {
		width := len(in.Columns)
		t := Tensor{Shape: []int64{int64(n), int64(width)}}
		if in.Rank == 1 {
			t.Shape = t.Shape[:1]
		}
		cols, err := columns(rec, in.Columns)
		if err != nil {
			return nil, err // a missing column: the first error is as good as any
		}
		switch in.Elem {
		case Float:
			buf.f32[i] = grow(buf.f32[i], n*width)
			t.Float32 = buf.f32[i]
			err = fillAll(t.Float32, cols, in.Columns, buf)
		case Double:
			buf.f64[i] = grow(buf.f64[i], n*width)
			t.Float64 = buf.f64[i]
			err = fillAll(t.Float64, cols, in.Columns, buf)
		case Int64:
			buf.i64[i] = grow(buf.i64[i], n*width)
			t.Int64 = buf.i64[i]
			err = fillAll(t.Int64, cols, in.Columns, buf)
		case Int32:
			buf.i32[i] = grow(buf.i32[i], n*width)
			t.Int32 = buf.i32[i]
			err = fillAll(t.Int32, cols, in.Columns, buf)
		default:
			err = fmt.Errorf("%w: input %s has element type %s", ErrSignature, in.Name, in.Elem)
		}
		var ie *InputError
		if errors.As(err, &ie) {
			if first == nil || ie.Row < first.Row {
				first = ie
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		out[i] = t
	}
	if first != nil {
		return nil, first
	}
	return out, nil
}

func columns(rec arrow.Record, names []string) ([]arrow.Array, error) {
	cols := make([]arrow.Array, len(names))
	for i, name := range names {
		idx := rec.Schema().FieldIndices(name)
		if len(idx) == 0 {
			return nil, &InputError{Column: name, Reason: "column is missing from this chunk"}
		}
		cols[i] = rec.Column(idx[0])
	}
	return cols, nil
}

type number interface {
	~float32 | ~float64 | ~int64 | ~int32
}

// fillTile is how many rows are written per column before moving to the
// next: a tile of the row-major matrix stays in cache across all columns,
// where whole-column passes with a stride of F missed it (measured).
const fillTile = 1024

// fillAll writes cols into the row-major matrix dst, after checking that
// none holds a null or a type no input can take, and counts into buf the
// values that are not finite in dst.
func fillAll[T number](dst []T, cols []arrow.Array, names []string, buf *Buffers) error {
	if err := checkAll(cols, names); err != nil {
		return err
	}
	if len(cols) == 0 {
		return nil
	}
	n := cols[0].Len()
	for lo := 0; lo < n; lo += fillTile {
		hi := min(lo+fillTile, n)
		for j, col := range cols {
			if n, bad := fill(dst, col, j, len(cols), lo, hi); bad {
				buf.countNonFinite(names[j], n)
			}
		}
	}
	return nil
}

func (buf *Buffers) countNonFinite(column string, n NonFinite) {
	if buf.nonFinite == nil {
		buf.nonFinite = nonFiniteTally{}
	}
	buf.nonFinite[column] = buf.nonFinite[column].Add(n)
}

// checkAll says which column, if any, holds a null or a type no input can
// take: the first row in the chunk with one, so that the row an error
// names is the first bad one, whichever column comes first.
func checkAll(cols []arrow.Array, names []string) error {
	var first *InputError
	for j, col := range cols {
		if err := checkFillable(col); err != nil && (first == nil || err.Row < first.Row) {
			err.Column = names[j]
			first = err
		}
	}
	if first == nil {
		return nil
	}
	return first
}

func checkFillable(col arrow.Array) *InputError {
	if col.NullN() > 0 {
		for i := 0; i < col.Len(); i++ {
			if col.IsNull(i) {
				return &InputError{Row: int64(i), Reason: "null value in a model input"}
			}
		}
	}
	switch col.(type) {
	case *array.Float64, *array.Float32, *array.Int64, *array.Int32, *array.Int16, *array.Int8,
		*array.Uint64, *array.Uint32, *array.Uint16, *array.Uint8, *array.Boolean:
		return nil
	}
	return &InputError{Reason: fmt.Sprintf("type %s cannot feed a model input", col.DataType())}
}

// fill writes rows [lo,hi) of col into column j of the row-major matrix
// dst, and counts a float column's values that are not finite in dst
// while they are in cache.
func fill[T number](dst []T, col arrow.Array, j, width, lo, hi int) (NonFinite, bool) {
	switch a := col.(type) {
	case *array.Float64:
		src := a.Float64Values()[lo:hi]
		var zero T
		_, toFloat32 := any(zero).(float32)
		limit := float64Inf
		if toFloat32 {
			limit = float32InfFrom64
		}
		if stridedFloat64(dst, src, j, width, lo, limit) {
			return nonFinite64(src, toFloat32)
		}
	case *array.Float32:
		src := a.Float32Values()[lo:hi]
		if stridedFloat32(dst, src, j, width, lo) {
			return nonFinite32(src)
		}
	case *array.Int64:
		strided(dst, a.Int64Values()[lo:hi], j, width, lo)
	case *array.Int32:
		strided(dst, a.Int32Values()[lo:hi], j, width, lo)
	case *array.Int16:
		strided(dst, a.Int16Values()[lo:hi], j, width, lo)
	case *array.Int8:
		strided(dst, a.Int8Values()[lo:hi], j, width, lo)
	case *array.Uint64:
		strided(dst, a.Uint64Values()[lo:hi], j, width, lo)
	case *array.Uint32:
		strided(dst, a.Uint32Values()[lo:hi], j, width, lo)
	case *array.Uint16:
		strided(dst, a.Uint16Values()[lo:hi], j, width, lo)
	case *array.Uint8:
		strided(dst, a.Uint8Values()[lo:hi], j, width, lo)
	case *array.Boolean:
		for i := lo; i < hi; i++ {
			var v T
			if a.Value(i) {
				v = 1
			}
			dst[i*width+j] = v
		}
	}
	return NonFinite{}, false
}

// strided writes src, rows lo.. of a column, into column j of dst.
func strided[T number, S ~float32 | ~float64 | ~int64 | ~int32 | ~int16 | ~int8 | ~uint64 | ~uint32 | ~uint16 | ~uint8](dst []T, src []S, j, width, lo int) {
	d := dst[lo*width : (lo+len(src))*width]
	if width == 1 {
		for i, v := range src {
			d[i] = T(v)
		}
		return
	}
	for i, v := range src {
		d[i*width+j] = T(v)
	}
}
