package parquetio

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/parquet/compress"
)

// TestReadPoolsFixedWidthColumns reads the same snapshot twice, holding
// every record of a read until it ends: the fixed-width columns (id, x)
// come from the pool, the string column does not, the second read reuses
// the first one's buffers (poisoned in between) and reads the same values.
func TestReadPoolsFixedWidthColumns(t *testing.T) {
	pool := NewBufferPool(PoisonReleased())
	const rows = 200_000
	dir := t.TempDir()
	writeRows(t, filepath.Join(dir, "a.parquet"), 0, rows, fileOpts{rowGroup: 50_000, codec: compress.Codecs.Zstd})
	src, err := Open(filepath.Join(dir, "*.parquet"), WithBufferPool(pool))
	if err != nil {
		t.Fatal(err)
	}
	var mapped int64
	for pass := range 2 {
		var held []arrow.Record
		err := src.Read(context.Background(), []string{"id", "x", "s"}, 50_000, checkedAlloc(t), func(rec arrow.Record, _ string, _ int64) error {
			held = append(held, rec)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// 16 bytes a row of id and x; arrow reserves a power of two.
		if got := pool.InUse(); got < 16*rows || got > 32*rows {
			t.Errorf("pass %d: %d bytes pooled for %d rows of an int64 and a float64", pass, got, rows)
		}
		for _, rec := range held {
			for i, pooled := range []bool{true, true, false} {
				for _, b := range rec.Column(i).Data().Buffers() {
					if b != nil && b.Len() > 0 && pool.p.Owns(b.Bytes()) != pooled {
						t.Fatalf("column %s: a buffer of %d bytes pooled %v, want %v", rec.ColumnName(i), b.Len(), !pooled, pooled)
					}
				}
			}
		}
		var next int64
		for _, rec := range held {
			ids := rec.Column(0).(*array.Int64).Int64Values()
			xs := rec.Column(1).(*array.Float64).Float64Values()
			ss := rec.Column(2).(*array.String)
			for i := range ids {
				if ids[i] != next || xs[i] != xOf(next) || ss.Value(i) != sOf(next) {
					t.Fatalf("pass %d row %d: %d %v %q", pass, next, ids[i], xs[i], ss.Value(i))
				}
				next++
			}
			rec.Release()
		}
		if next != rows {
			t.Fatalf("pass %d: read %d rows, want %d", pass, next, rows)
		}
		if got := pool.Peak(); got < 16*rows {
			t.Errorf("pass %d: peak %d bytes, below the %d the held records took", pass, got, 16*rows)
		}
		if got := pool.InUse(); got != 0 {
			t.Fatalf("pass %d: %d bytes still pooled after every record was released", pass, got)
		}
		if !pool.Release() {
			t.Fatalf("pass %d: ReleasePooled refused with every record released", pass)
		}
		if pass == 0 {
			mapped = pool.Mapped()
		} else if pool.Mapped() != mapped {
			t.Errorf("the second read mapped %d more bytes: the first read's buffers were not reused", pool.Mapped()-mapped)
		}
	}
}

// TestReadWithoutPoolUsesTheAllocator reads with no pool: every buffer
// comes from the allocator Read is given, which the checked allocator
// counts, and nothing is left in any pool.
func TestReadWithoutPoolUsesTheAllocator(t *testing.T) {
	dir := t.TempDir()
	writeRows(t, filepath.Join(dir, "a.parquet"), 0, 10_000, fileOpts{})
	src, err := Open(filepath.Join(dir, "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	mem := checkedAlloc(t)
	err = src.Read(context.Background(), []string{"id", "x"}, 4096, mem, func(rec arrow.Record, _ string, _ int64) error {
		defer rec.Release()
		if mem.CurrentAlloc() < int(rec.NumRows())*16 {
			t.Errorf("the allocator holds %d bytes for %d rows of an int64 and a float64", mem.CurrentAlloc(), rec.NumRows())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPoolPeak checks that the peak is what records held at most, and
// stays when they are released.
func TestPoolPeak(t *testing.T) {
	pool := NewBufferPool()
	dir := t.TempDir()
	writeRows(t, filepath.Join(dir, "a.parquet"), 0, 50_000, fileOpts{})
	src, err := Open(filepath.Join(dir, "*.parquet"), WithBufferPool(pool))
	if err != nil {
		t.Fatal(err)
	}
	if pool.Peak() != 0 {
		t.Fatalf("peak %d before any read", pool.Peak())
	}
	err = src.Read(context.Background(), []string{"id"}, 50_000, checkedAlloc(t), func(rec arrow.Record, _ string, _ int64) error {
		rec.Release()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// 8 bytes a row; arrow reserves a power of two.
	if pool.Peak() < 8*50_000 || pool.Peak() > 16*50_000 || pool.InUse() != 0 {
		t.Fatalf("peak %d, in use %d after a read of 50000 int64s", pool.Peak(), pool.InUse())
	}
}
