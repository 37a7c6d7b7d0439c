package profile

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/io/parquetio"
)

const samples = "../../../testdata/customers/snapshot_date=2026-11-20/*.parquet"

func TestFromParquet(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	p, err := FromParquet(context.Background(), samples, nil, 300, mem)
	if err != nil {
		t.Fatal(err)
	}
	if p.Rows != 2000 || len(p.Columns) != 36 {
		t.Fatalf("rows %d, %d columns", p.Rows, len(p.Columns))
	}

	// The same numbers computed another way: whole columns, by hand.
	src, err := parquetio.Open(samples)
	if err != nil {
		t.Fatal(err)
	}
	cols := []string{"age", "monthly_charges", "num_products", "is_senior", "region", "snapshot_date"}
	sums := map[string]float64{}
	mins := map[string]float64{}
	trues := int64(0)
	regions := map[string]int64{}
	var rows int64
	err = src.Read(context.Background(), cols, 512, mem, func(rec arrow.Record, _ string, _ int64) error {
		defer rec.Release()
		rows += rec.NumRows()
		for i := 0; i < int(rec.NumRows()); i++ {
			vals := map[string]float64{
				"age":             float64(rec.Column(0).(*array.Int32).Value(i)),
				"monthly_charges": rec.Column(1).(*array.Float64).Value(i),
				"num_products":    float64(rec.Column(2).(*array.Int64).Value(i)),
				"snapshot_date":   float64(rec.Column(5).(*array.Date32).Value(i)),
			}
			for k, v := range vals {
				sums[k] += v
				if m, ok := mins[k]; !ok || v < m {
					mins[k] = v
				}
			}
			if rec.Column(3).(*array.Boolean).Value(i) {
				trues++
			}
			regions[rec.Column(4).(*array.String).Value(i)]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"age", "monthly_charges", "num_products", "snapshot_date"} {
		c := p.Column(name)
		if c.Count != rows || c.Nulls != 0 || c.NaN != 0 {
			t.Errorf("%s: count %d nulls %d nan %d, want %d", name, c.Count, c.Nulls, c.NaN, rows)
		}
		if relDiff(*c.Mean, sums[name]/float64(rows)) > 1e-12 || *c.Min != mins[name] {
			t.Errorf("%s: mean %v min %v, want %v %v", name, *c.Mean, *c.Min, sums[name]/float64(rows), mins[name])
		}
		h := c.Histogram
		var n int64
		for _, k := range h.Counts {
			n += k
		}
		if h.Estimated || n != rows || h.Below+h.Above != 0 {
			t.Errorf("%s: histogram estimated %v holds %d of %d", name, h.Estimated, n, rows)
		}
	}
	if c := p.Column("snapshot_date"); c.Type != TypeDate || *c.Min != *c.Max {
		t.Errorf("snapshot_date: %s %v..%v", c.Type, *c.Min, *c.Max)
	}
	for _, cat := range p.Column("region").Top {
		if regions[cat.Value] != cat.Count {
			t.Errorf("region %s: %d, want %d", cat.Value, cat.Count, regions[cat.Value])
		}
	}
	if len(p.Column("region").Top) != len(regions) || p.Column("region").Other != 0 {
		t.Errorf("region top %v", p.Column("region").Top)
	}
	for _, cat := range p.Column("is_senior").Top {
		if cat.Value == "true" && cat.Count != trues {
			t.Errorf("is_senior true: %d, want %d", cat.Count, trues)
		}
	}

	// A snapshot is stable against itself, and a saved baseline loads.
	path := filepath.Join(t.TempDir(), "baseline.json")
	if err := p.Save(path); err != nil {
		t.Fatal(err)
	}
	base, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range Compare(base, p) {
		if d.PSI > 1e-9 || d.OutOfRange != 0 || d.Estimated {
			t.Errorf("%s against itself: PSI %v out of range %v estimated %v", d.Column, d.PSI, d.OutOfRange, d.Estimated)
		}
	}
	if m, ok := base.Median("age"); !ok || math.Abs(m-45) > 5 {
		t.Errorf("median age %v", m)
	}
	if m, ok := base.Mode("contract_type"); !ok || m == "" {
		t.Errorf("mode contract_type %q", m)
	}
}

func TestFromParquetErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := FromParquet(ctx, filepath.Join(t.TempDir(), "*.parquet"), nil, 100, memory.DefaultAllocator); !errors.Is(err, parquetio.ErrNoFiles) {
		t.Errorf("no files: %v", err)
	}
	if _, err := FromParquet(ctx, samples, []string{"nope"}, 100, memory.DefaultAllocator); !errors.Is(err, parquetio.ErrSchema) {
		t.Errorf("missing column: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	if _, err := FromParquet(cctx, samples, nil, 100, mem); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
