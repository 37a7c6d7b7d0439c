package profile

import (
	"math"
	"slices"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// floatRecord is a record of float64 columns x0, x1, …; math.NaN() with
// null set marks nulls.
func floatRecord(t testing.TB, mem memory.Allocator, cols [][]float64, nulls [][]bool) arrow.Record {
	t.Helper()
	fields := make([]arrow.Field, len(cols))
	for i := range cols {
		fields[i] = arrow.Field{Name: "x" + string(rune('0'+i)), Type: arrow.PrimitiveTypes.Float64, Nullable: true}
	}
	b := array.NewRecordBuilder(mem, arrow.NewSchema(fields, nil))
	defer b.Release()
	for i, vs := range cols {
		fb := b.Field(i).(*array.Float64Builder)
		var valid []bool
		if nulls != nil && nulls[i] != nil {
			valid = make([]bool, len(vs))
			for j := range vs {
				valid[j] = !nulls[i][j]
			}
		}
		fb.AppendValues(vs, valid)
	}
	return b.NewRecord()
}

// profileFloats profiles one float column x0 in chunks of chunk rows.
func profileFloats(t testing.TB, vals []float64, chunk int, bins *Profile, opts ...Option) *Builder {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{{Name: "x0", Type: arrow.PrimitiveTypes.Float64, Nullable: true}}, nil)
	b := NewBuilder(schema, nil, bins, opts...)
	for lo := 0; lo < len(vals); lo += chunk {
		rec := floatRecord(t, memory.DefaultAllocator, [][]float64{vals[lo:min(lo+chunk, len(vals))]}, nil)
		if err := b.Add(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	return b
}

// rankError is |true rank of q − p| for sorted data.
func rankError(sorted []float64, p, q float64) float64 {
	lo, _ := slices.BinarySearch(sorted, q)
	hi := lo
	for hi < len(sorted) && sorted[hi] == q {
		hi++
	}
	n := float64(len(sorted))
	// any rank in [lo, hi] is right for q
	target := p * n
	switch {
	case target < float64(lo):
		return (float64(lo) - target) / n
	case target > float64(hi):
		return (target - float64(hi)) / n
	}
	return 0
}

func relDiff(a, b float64) float64 {
	if a == b {
		return 0
	}
	return math.Abs(a-b) / max(math.Abs(a), math.Abs(b))
}
