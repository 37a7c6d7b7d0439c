package parquetio

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/parquet/compress"

	"github.com/batchscore/batchscore/io/parquetio/internal/bufpool"
)

// TestReadPoolsFixedWidthColumns reads the same snapshot twice, holding
// every record of a read until it ends: the fixed-width columns (id, x)
// come from the pool, the string column does not, the second read reuses
// the first one's buffers (poisoned in between) and reads the same values.
func TestReadPoolsFixedWidthColumns(t *testing.T) {
	saved := readPool
	readPool = bufpool.New(true)
	t.Cleanup(func() { readPool = saved })

	const rows = 200_000
	dir := t.TempDir()
	writeRows(t, filepath.Join(dir, "a.parquet"), 0, rows, fileOpts{rowGroup: 50_000, codec: compress.Codecs.Zstd})
	src, err := Open(filepath.Join(dir, "*.parquet"))
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
		if got := PooledBytes(); got < 16*rows || got > 32*rows {
			t.Errorf("pass %d: %d bytes pooled for %d rows of an int64 and a float64", pass, got, rows)
		}
		for _, rec := range held {
			for i, pooled := range []bool{true, true, false} {
				for _, b := range rec.Column(i).Data().Buffers() {
					if b != nil && b.Len() > 0 && readPool.Owns(b.Bytes()) != pooled {
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
		if got := PooledBytes(); got != 0 {
			t.Fatalf("pass %d: %d bytes still pooled after every record was released", pass, got)
		}
		if !ReleasePooled() {
			t.Fatalf("pass %d: ReleasePooled refused with every record released", pass)
		}
		if pass == 0 {
			mapped = readPool.Mapped()
		} else if readPool.Mapped() != mapped {
			t.Errorf("the second read mapped %d more bytes: the first read's buffers were not reused", readPool.Mapped()-mapped)
		}
	}
}
