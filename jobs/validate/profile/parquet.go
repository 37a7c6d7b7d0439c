package profile

import (
	"context"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/io/parquetio"
)

// FromParquet profiles the named columns (nil: every supported column)
// of the Parquet files a glob matches, reading chunkRows rows at a time.
//
// It reads the files twice: once for the profile, once to count each
// numeric histogram exactly on the deciles found by the first pass, so
// that a baseline's bins are exact rather than estimated from the sketch.
func FromParquet(ctx context.Context, glob string, columns []string, chunkRows int, mem memory.Allocator) (*Profile, error) {
	src, err := parquetio.Open(glob)
	if err != nil {
		return nil, err
	}
	schema := src.Schema()
	if columns == nil {
		for _, f := range schema.Fields() {
			if columnType(f.Type) != "" {
				columns = append(columns, f.Name)
			}
		}
	}
	if err := src.CheckColumns(columns); err != nil {
		return nil, err
	}
	first, err := profileSource(ctx, src, schema, columns, chunkRows, mem, nil)
	if err != nil {
		return nil, err
	}
	second, err := profileSource(ctx, src, schema, columns, chunkRows, mem, first)
	if err != nil {
		return nil, err
	}
	for _, c := range first.Columns {
		if c.Histogram != nil {
			c.Histogram = second.Column(c.Name).Histogram
		}
	}
	return first, nil
}

func profileSource(ctx context.Context, src *parquetio.Source, schema *arrow.Schema, columns []string, chunkRows int, mem memory.Allocator, bins *Profile) (*Profile, error) {
	b := NewBuilder(schema, columns, bins)
	err := src.Read(ctx, columns, chunkRows, mem, func(rec arrow.Record, file string, offset int64) error {
		defer rec.Release()
		if err := b.Add(rec); err != nil {
			return fmt.Errorf("profiling %s at row %d: %w", file, offset, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b.Profile(), nil
}
