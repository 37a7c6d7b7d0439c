package scoring

import (
	"math"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// floatChunk is width float64 columns c0.. of n rows; spoil sets some.
func floatChunk(mem memory.Allocator, n, width int, spoil func(col, row int) (float64, bool)) arrow.Record {
	fields := make([]arrow.Field, width)
	cols := make([]arrow.Array, width)
	for j := range width {
		fields[j] = arrow.Field{Name: "c" + string(rune('a'+j%26)) + string(rune('a'+j/26)), Type: arrow.PrimitiveTypes.Float64}
		b := array.NewFloat64Builder(mem)
		for i := range n {
			v := float64(i*width+j) / 7
			if s, ok := spoil(j, i); ok {
				v = s
			}
			b.Append(v)
		}
		cols[j] = b.NewArray()
		b.Release()
	}
	rec := array.NewRecord(arrow.NewSchema(fields, nil), cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return rec
}

func floatBinding(rec arrow.Record, elem string) *Binding {
	var names []string
	for _, f := range rec.Schema().Fields() {
		names = append(names, f.Name)
	}
	return &Binding{Inputs: []InputBinding{{Name: "x", Columns: names, Elem: elem, Rank: 2}}}
}

// Non-finite inputs are scored but counted per column, as the model
// takes them: a double beyond float32's range is +Inf in a float input
// and finite in a double one.
func TestTensorsCountNonFinite(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	n := 3*fillTile + 5
	rec := floatChunk(mem, n, 3, func(col, row int) (float64, bool) {
		switch {
		case col == 0 && row%1000 == 3:
			return math.NaN(), true
		case col == 1 && row == fillTile+1:
			return math.Inf(1), true
		case col == 1 && row == n-1:
			return math.Inf(-1), true
		case col == 2 && row == 7:
			return 1e39, true
		case col == 2 && row == 8:
			return -math.MaxFloat64, true
		}
		return 0, false
	})
	defer rec.Release()
	names := rec.Schema().Fields()
	tests := []struct {
		name string
		elem string
		want map[string]NonFinite
	}{
		{"float", Float, map[string]NonFinite{
			names[0].Name: {NaN: 4}, names[1].Name: {PosInf: 1, NegInf: 1}, names[2].Name: {BeyondFloat32: 2}}},
		{"double", Double, map[string]NonFinite{
			names[0].Name: {NaN: 4}, names[1].Name: {PosInf: 1, NegInf: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Scorer{Binding: floatBinding(rec, tt.elem)}
			var buf Buffers
			for range 2 { // two chunks: the counts add up
				if _, err := s.Binding.tensors(rec, &buf); err != nil {
					t.Fatal(err)
				}
				s.nonFinite.add(buf.nonFinite)
			}
			got := s.NonFinite()
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v (doubled)", got, tt.want)
			}
			for c, w := range tt.want {
				if got[c] != w.Add(w) {
					t.Errorf("%s: %+v, want %+v", c, got[c], w.Add(w))
				}
			}
		})
	}
	// A clean chunk counts nothing and clears the last chunk's tally.
	clean := floatChunk(mem, 10, 3, func(int, int) (float64, bool) { return 0, false })
	defer clean.Release()
	var buf Buffers
	b := floatBinding(rec, Float)
	if _, err := b.tensors(rec, &buf); err != nil {
		t.Fatal(err)
	}
	if _, err := b.tensors(clean, &buf); err != nil || len(buf.nonFinite) != 0 {
		t.Errorf("clean chunk: %v, tally %v", err, buf.nonFinite)
	}
}

// BenchmarkTensors measures the per-row fill: 30 double columns into a
// float [N,30] input, 65,536 rows a chunk, as the churn job's.
func BenchmarkTensors(b *testing.B) {
	for _, name := range []string{"row-major"} {
		b.Run(name, func(b *testing.B) {
			rec := floatChunk(memory.DefaultAllocator, 65536, 30, func(int, int) (float64, bool) { return 0, false })
			defer rec.Release()
			bind := floatBinding(rec, Float)
			var buf Buffers
			// CPU time of this thread, which a busy machine inflates far
			// less than wall time.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ResetTimer()
			start := threadCPU()
			for range b.N {
				if _, err := bind.tensors(rec, &buf); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(threadCPU()-start)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(b.N)*65536/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// threadCPU is the calling thread's CPU time (Linux).
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// A float column's NaN and infinities are counted too, and the boundary
// of float32's range is exact: MaxFloat32 plus just under half its last
// place stays finite, plus half becomes +Inf.
func TestTensorsCountNonFiniteFloat32AndBoundary(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	fb := array.NewFloat32Builder(mem)
	fb.AppendValues([]float32{1, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 2}, nil)
	f32 := fb.NewArray()
	fb.Release()
	defer f32.Release()
	db := array.NewFloat64Builder(mem)
	edge := 0x1p128 - 0x1p103 // rounds to +Inf as a float32
	db.AppendValues([]float64{math.Nextafter(edge, 0), edge, -edge, 0, math.MaxFloat32}, nil)
	f64 := db.NewArray()
	db.Release()
	defer f64.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "f", Type: arrow.PrimitiveTypes.Float32}, {Name: "d", Type: arrow.PrimitiveTypes.Float64}}, nil)
	rec := array.NewRecord(schema, []arrow.Array{f32, f64}, 5)
	defer rec.Release()
	var buf Buffers
	if _, err := floatBinding(rec, Float).tensors(rec, &buf); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.nonFinite["f"], (NonFinite{NaN: 1, PosInf: 1, NegInf: 1}); got != want {
		t.Errorf("float column: %+v, want %+v", got, want)
	}
	if got, want := buf.nonFinite["d"], (NonFinite{BeyondFloat32: 2}); got != want {
		t.Errorf("double column at float32's edge: %+v, want %+v", got, want)
	}
	if float32(math.Nextafter(edge, 0)) != math.MaxFloat32 || !math.IsInf(float64(float32(edge)), 1) {
		t.Fatal("the edge is not where float32 rounding puts it")
	}
}
