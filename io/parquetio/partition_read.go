package parquetio

// Reading partition columns (partition.go): constants beside the file's
// own columns, and a file's own copy held to its folder's value.

import (
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/arrow/scalar"
)

// partitionRead is how one file's read serves the partition columns among
// the columns asked for: those the file lacks are constants added to each
// batch, those it holds are checked against the folder's value.
type partitionRead struct {
	f        *File
	cols     []string // as asked, in order
	fileCols []string // read from the file
	consts   map[string]*partition
	checks   []*partition
	mem      memory.Allocator
	cache    map[string]arrow.Array // a constant column, sliced per batch
}

// planPartitions splits cols into what the file holds and what its
// folders give; nil when no partition column is asked for.
func (f *File) planPartitions(cols []string, mem memory.Allocator) (*partitionRead, error) {
	var pr *partitionRead
	for i := range f.parts {
		p := &f.parts[i]
		if !slices.Contains(cols, p.name) {
			continue
		}
		if pr == nil {
			pr = &partitionRead{f: f, cols: cols, consts: map[string]*partition{}, mem: mem, cache: map[string]arrow.Array{}}
		}
		if !p.inFile {
			pr.consts[p.name] = p
			continue
		}
		if p.err != nil {
			return nil, fmt.Errorf("%w: %s: column %q is %s inside the file, and its folder's value %q is not one (%v): the folder and the file must agree",
				ErrSchema, f.Path, p.name, f.schema.Field(f.schema.FieldIndices(p.name)[0]).Type, p.raw, p.err)
		}
		pr.checks = append(pr.checks, p)
	}
	if pr != nil {
		for _, c := range cols {
			if pr.consts[c] == nil {
				pr.fileCols = append(pr.fileCols, c)
			}
		}
	}
	return pr, nil
}

func (pr *partitionRead) release() {
	for _, a := range pr.cache {
		a.Release()
	}
}

// complete is rec with the constant columns added, in the order asked for;
// rec may be nil (nothing read from the file) when n gives the row count.
func (pr *partitionRead) complete(rec arrow.Record, n int, offset int64) (arrow.Record, error) {
	for _, p := range pr.checks {
		if err := pr.check(rec, p, offset); err != nil {
			return nil, err
		}
	}
	fields := make([]arrow.Field, 0, len(pr.cols))
	cols := make([]arrow.Array, 0, len(pr.cols))
	for _, c := range pr.cols {
		if p := pr.consts[c]; p != nil {
			a, err := pr.constant(p, n)
			if err != nil {
				return nil, err
			}
			defer a.Release()
			fields = append(fields, arrow.Field{Name: c, Type: a.DataType(), Nullable: true})
			cols = append(cols, a)
			continue
		}
		i := rec.Schema().FieldIndices(c)[0]
		fields = append(fields, rec.Schema().Field(i))
		cols = append(cols, rec.Column(i))
	}
	var md arrow.Metadata
	if rec != nil {
		md = rec.Schema().Metadata()
	}
	return array.NewRecord(arrow.NewSchema(fields, &md), cols, int64(n)), nil
}

// constant is n rows of p's value (the caller releases it).
func (pr *partitionRead) constant(p *partition, n int) (arrow.Array, error) {
	a := pr.cache[p.name]
	if a == nil || a.Len() < n {
		built, err := scalar.MakeArrayFromScalar(p.value, n, pr.mem)
		if err != nil {
			return nil, fmt.Errorf("%s: partition column %q: %w", pr.f.Path, p.name, err)
		}
		if a != nil {
			a.Release()
		}
		pr.cache[p.name], a = built, built
	}
	return array.NewSlice(a, 0, int64(n)), nil
}

// check holds a column the file has to its folder's value: the file's
// value stands only when it equals the folder's in every row.
func (pr *partitionRead) check(rec arrow.Record, p *partition, offset int64) error {
	col := rec.Column(rec.Schema().FieldIndices(p.name)[0])
	want, err := pr.constant(p, col.Len())
	if err != nil {
		return err
	}
	defer want.Release()
	if array.Equal(col, want) {
		return nil
	}
	for i := range col.Len() {
		got, err := scalar.GetScalar(col, i)
		if err != nil || !scalar.Equals(got, p.value) {
			return fmt.Errorf("%w: %s: column %q is %v at row %d inside the file but %s=%s in its folder: the folder and the file must agree",
				ErrSchema, pr.f.Path, p.name, got, offset+int64(i), p.name, p.raw)
		}
	}
	return fmt.Errorf("%w: %s: column %q differs from its folder's value %s=%s", ErrSchema, pr.f.Path, p.name, p.name, p.raw)
}

// readConstants is a read that asks the file for no column, only for its
// folders': the rows are counted from the footer, in the same chunks and
// shard as a read of the file's columns.
func (pr *partitionRead) readConstants(ctx context.Context, c *chunker) error {
	f := pr.f
	if err := f.checkUnchanged(); err != nil {
		return err
	}
	var offset int64
	for rg, rows := range f.groupRows {
		if !f.reads(rg) {
			offset += rows
			continue
		}
		for n := int64(0); n < rows; {
			if err := ctx.Err(); err != nil {
				return err
			}
			size := min(c.room(), rows-n)
			rec, err := pr.complete(nil, int(size), offset+n)
			if err != nil {
				return err
			}
			if err := c.add(rec, f.Path, offset+n); err != nil {
				return err
			}
			n += size
		}
		offset += rows
	}
	return nil
}
