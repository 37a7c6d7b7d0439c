package validate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/jobs/spec"
)

// BenchmarkApply: a 65,536-row chunk of 30 float64 columns with range,
// finite and not_null on every column; about 0.1% of values are bad (NaN,
// out of range or null), so Valid and Quarantine are both built.
func BenchmarkApply(b *testing.B) {
	const rows, width = 65536, 30
	mem := memory.NewGoAllocator()
	r := rand.New(rand.NewPCG(1, 2))
	fields := make([]arrow.Field, width)
	cols := make([]arrow.Array, width)
	var rules []spec.Rule
	for c := range width {
		name := fmt.Sprintf("f%02d", c)
		fb := array.NewFloat64Builder(mem)
		for range rows {
			switch r.IntN(3000) {
			case 0:
				fb.AppendNull()
			case 1:
				fb.Append(math.NaN())
			case 2:
				fb.Append(1e9)
			default:
				fb.Append(r.NormFloat64())
			}
		}
		cols[c] = fb.NewArray()
		fb.Release()
		fields[c] = arrow.Field{Name: name, Type: arrow.PrimitiveTypes.Float64, Nullable: true}
		rules = append(rules,
			spec.Rule{Column: name, Check: "range", Min: ptr(-100.0), Max: ptr(100.0)},
			spec.Rule{Column: name, Check: "finite"},
			spec.Rule{Column: name, Check: "not_null", Action: "warn"},
		)
	}
	rec := array.NewRecord(arrow.NewSchema(fields, nil), cols, rows)
	for _, c := range cols {
		c.Release()
	}
	defer rec.Release()
	e, err := New(spec.Validation{ExtraColumns: "ignore", SampleRows: 20, Rules: rules}, rec.Schema(), logical, nil, mem)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var rejected int64
	for b.Loop() {
		got, err := e.Apply(rec, "f", 0)
		if err != nil {
			b.Fatal(err)
		}
		rejected = got.Stats.Rejected
		got.Release()
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(rejected), "rejected/chunk")
}

// BenchmarkKeySet keeps the key hashes of 2,000,000 rows in 65,536-row
// chunks, spilling past DefaultSpillKeys as a run does, and counts the
// duplicates.
func BenchmarkKeySet(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	chunk := make([]uint64, 65536)
	dir := b.TempDir()
	for b.Loop() {
		k := newKeySet(dir, DefaultSpillKeys)
		for done := 0; done < 2_000_000; done += len(chunk) {
			for i := range chunk {
				chunk[i] = r.Uint64()
			}
			if err := k.add(chunk); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := k.duplicates(); err != nil {
			b.Fatal(err)
		}
		k.close()
	}
}
