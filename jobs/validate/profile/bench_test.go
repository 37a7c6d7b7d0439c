package profile

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// benchChunk is a run's chunk: 65,536 rows of 30 float64 columns.
func benchChunk(b *testing.B) arrow.Record {
	r := rand.New(rand.NewPCG(1, 2))
	cols := make([][]float64, 30)
	for i := range cols {
		cols[i] = make([]float64, 65536)
		for j := range cols[i] {
			cols[i][j] = r.NormFloat64()*float64(i+1) + float64(i)
		}
	}
	rec := floatRecord(b, memory.DefaultAllocator, cols, nil)
	// floatRecord names columns by one rune: fine for 30 (x0…xM).
	return rec
}

// BenchmarkAdd profiles a 65,536-row × 30-float64-column chunk: without a
// baseline (sketch only), with a baseline's edges (exact histograms too,
// as every run with a baseline does), and with exact counts in the fixed
// fine bins too (what a run keeps of its scores' one column).
func BenchmarkAdd(b *testing.B) {
	rec := benchChunk(b)
	defer rec.Release()
	baseline := NewBuilder(rec.Schema(), nil, nil)
	if err := baseline.Add(rec); err != nil {
		b.Fatal(err)
	}
	base := baseline.Profile()
	var fine []Option // a run's score profile: exact counts in fine bins too
	for _, f := range rec.Schema().Fields() {
		fine = append(fine, WithFineCounts(f.Name))
	}
	for _, tc := range []struct {
		name string
		bins *Profile
		opts []Option
	}{{"sketch", nil, nil}, {"baseline-bins", base, nil}, {"baseline-bins+fine", base, fine}} {
		b.Run(tc.name, func(b *testing.B) {
			bl := NewBuilder(rec.Schema(), nil, tc.bins, tc.opts...)
			for range 20 { // past the exact phase: the steady state of a long run
				if err := bl.Add(rec); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for b.Loop() {
				if err := bl.Add(rec); err != nil {
					b.Fatal(err)
				}
			}
			rows := float64(b.N) * float64(rec.NumRows())
			b.ReportMetric(rows/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/(rows*30), "ns/value")
		})
	}
}

// BenchmarkFirstChunk profiles a run's first chunk into a new builder:
// every value goes into the sketches one by one (the exact phase).
func BenchmarkFirstChunk(b *testing.B) {
	rec := benchChunk(b)
	defer rec.Release()
	for b.Loop() {
		if err := NewBuilder(rec.Schema(), nil, nil).Add(rec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkProfile(b *testing.B) {
	rec := benchChunk(b)
	defer rec.Release()
	bl := NewBuilder(rec.Schema(), nil, nil)
	for range 20 {
		if err := bl.Add(rec); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		_ = bl.Profile()
	}
	_ = fmt.Sprint()
}

// BenchmarkStrings profiles a 65,536-row string column of five
// categories in random order.
func BenchmarkStrings(b *testing.B) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String}}, nil)
	sb := array.NewStringBuilder(memory.DefaultAllocator)
	names := []string{"south", "north", "west", "east", "central"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 65536 {
		sb.Append(names[r.IntN(len(names))])
	}
	arr := sb.NewArray()
	sb.Release()
	rec := array.NewRecord(schema, []arrow.Array{arr}, int64(arr.Len()))
	arr.Release()
	defer rec.Release()
	bl := NewBuilder(schema, nil, nil)
	for b.Loop() {
		if err := bl.Add(rec); err != nil {
			b.Fatal(err)
		}
	}
}
