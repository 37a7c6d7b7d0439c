package scoring

import (
	"fmt"
	"math"
	"slices"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// LabelType is the Arrow type of the label column for a label output.
func (b *Binding) LabelType() arrow.DataType {
	if b.Label == nil {
		return nil
	}
	switch b.Label.Port.Elem {
	case String:
		return arrow.BinaryTypes.String
	case Float, Double:
		return arrow.PrimitiveTypes.Float64
	default:
		return arrow.PrimitiveTypes.Int64
	}
}

// decode turns the session's outputs for n rows into the score column and,
// when bound, the label column. A NaN or infinite score is an InputError
// unless allowNaN (a fallback replaces it): a silently wrong score is
// worse than none.
func (b *Binding) decode(outs []Output, n int, allowNaN bool, mem memory.Allocator) (*array.Float64, arrow.Array, error) {
	score, err := b.scoreColumn(outs[b.Score.Index], n, allowNaN, mem)
	if err != nil {
		return nil, nil, err
	}
	if b.Label == nil {
		return score, nil, nil
	}
	label, err := b.labelColumn(outs[b.Label.Index], n, mem)
	if err != nil {
		score.Release()
		return nil, nil, err
	}
	return score, label, nil
}

func (b *Binding) scoreColumn(out Output, n int, allowNaN bool, mem memory.Allocator) (*array.Float64, error) {
	name := b.Score.Port.Name
	width, col, err := outputColumn(out, b.Score.Class, n, name)
	if err != nil {
		return nil, err
	}
	bld := array.NewFloat64Builder(mem)
	defer bld.Release()
	bld.Resize(n)
	if out.Float32 != nil {
		appendColumn(bld, out.Float32, width, col, n)
	} else {
		appendColumn(bld, out.Float64, width, col, n)
	}
	score := bld.NewFloat64Array()
	if allowNaN {
		return score, nil
	}
	for i, v := range score.Float64Values() {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			score.Release()
			return nil, &InputError{Column: "model output " + name, Row: int64(i), Reason: fmt.Sprintf("the score is %v", v)}
		}
	}
	return score, nil
}

// confidence is each row's top-class probability: the largest value of
// the score output's row, or max(p, 1-p) for a single probability.
func (b *Binding) confidence(outs []Output, n int, mem memory.Allocator) *array.Float64 {
	out := outs[b.Score.Index]
	values := out.Float64
	if out.Float32 != nil {
		values = make([]float64, len(out.Float32))
		for i, v := range out.Float32 {
			values[i] = float64(v)
		}
	}
	bld := array.NewFloat64Builder(mem)
	defer bld.Release()
	bld.Resize(n)
	if len(values) < n {
		return nil // not a probability output: no confidence to give
	}
	width := 1
	if n > 0 {
		width = len(values) / n
	}
	for i := 0; i < n; i++ {
		row := values[i*width : (i+1)*width]
		top := row[0]
		if width == 1 {
			top = max(top, 1-top)
		}
		for _, v := range row[1:] {
			top = max(top, v)
		}
		bld.UnsafeAppend(top)
	}
	return bld.NewFloat64Array()
}

// appendColumn appends column col of a row-major [n,width] matrix.
func appendColumn[T float32 | float64](bld *array.Float64Builder, values []T, width, col, n int) {
	for i := 0; i < n; i++ {
		bld.UnsafeAppend(float64(values[i*width+col]))
	}
}

// outputColumn finds the width of an output and the column to read.
func outputColumn(out Output, class *int64, n int, name string) (width, col int, err error) {
	size := max(len(out.Float32), len(out.Float64), len(out.Int64), len(out.Strings))
	if n == 0 {
		return 1, 0, nil
	}
	if size%n != 0 || size == 0 {
		return 0, 0, fmt.Errorf("output %s has %d values for %d rows", name, size, n)
	}
	width = size / n
	if class == nil {
		if width != 1 {
			return 0, 0, fmt.Errorf("%w: output %s has %d values per row: set class", ErrSignature, name, width)
		}
		return 1, 0, nil
	}
	col = int(*class)
	if out.ClassKeys != nil {
		col = slices.Index(out.ClassKeys, *class)
		if col < 0 {
			return 0, 0, fmt.Errorf("%w: output %s has no class %d; its classes are %v", ErrSignature, name, *class, out.ClassKeys)
		}
	}
	if col >= width {
		return 0, 0, fmt.Errorf("%w: output %s has %d columns; class %d is outside it", ErrSignature, name, width, col)
	}
	return width, col, nil
}

func (b *Binding) labelColumn(out Output, n int, mem memory.Allocator) (arrow.Array, error) {
	width, col, err := outputColumn(out, b.Label.Class, n, b.Label.Port.Name)
	if err != nil {
		return nil, err
	}
	switch {
	case out.Int64 != nil:
		bld := array.NewInt64Builder(mem)
		defer bld.Release()
		bld.Resize(n)
		for i := 0; i < n; i++ {
			bld.UnsafeAppend(out.Int64[i*width+col])
		}
		return bld.NewArray(), nil
	case out.Strings != nil:
		bld := array.NewStringBuilder(mem)
		defer bld.Release()
		for i := 0; i < n; i++ {
			bld.Append(out.Strings[i*width+col])
		}
		return bld.NewArray(), nil
	case out.Float32 != nil:
		bld := array.NewFloat64Builder(mem)
		defer bld.Release()
		bld.Resize(n)
		appendColumn(bld, out.Float32, width, col, n)
		return bld.NewArray(), nil
	case out.Float64 != nil:
		bld := array.NewFloat64Builder(mem)
		defer bld.Release()
		bld.Resize(n)
		appendColumn(bld, out.Float64, width, col, n)
		return bld.NewArray(), nil
	case n == 0:
		return array.MakeArrayOfNull(mem, b.LabelType(), 0), nil
	}
	return nil, fmt.Errorf("output %s: unsupported element type for a label", b.Label.Port.Name)
}
