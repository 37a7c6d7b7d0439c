package parquetio

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/metadata"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/batchscore/batchscore/io/blob"
)

// rowGroupReaders opens one reader per column over one row group, in the
// caller's goroutine. pqarrow's GetRecordReader opens them in errgroup
// goroutines, where a panic on a lying footer cannot be recovered and
// kills the process. One row group at a time because arrow-go drops some
// page errors and carries on with the column's next row group: confined
// to one, such a column comes up short, where it used to shift against
// the others.
func (f *File) rowGroupReaders(ctx context.Context, fr *pqarrow.FileReader, fields, leaves []int, rg int) ([]*pqarrow.ColumnReader, *arrow.Schema, error) {
	readers := make([]*pqarrow.ColumnReader, 0, len(fields))
	out := make([]arrow.Field, 0, len(fields))
	for i, fi := range fields {
		rdr, err := fr.GetFieldReader(ctx, fi, map[int]bool{leaves[i]: true}, []int{rg})
		if err != nil {
			releaseReaders(readers)
			if errors.Is(err, blob.ErrChanged) { // an object replaced mid-read: its GETs are pinned (remote.go)
				return nil, nil, fmt.Errorf("%w: %s: row group %d: %v", ErrChanged, f.Path, rg, err)
			}
			return nil, nil, fmt.Errorf("%w: %s: row group %d column %q: %v", ErrCorrupt, f.Path, rg, fr.Manifest.Fields[fi].Field.Name, err)
		}
		readers = append(readers, rdr)
		out = append(out, *rdr.Field())
	}
	return readers, arrow.NewSchema(out, fr.Manifest.SchemaMeta), nil
}

func releaseReaders(readers []*pqarrow.ColumnReader) {
	for _, r := range readers {
		r.Release()
	}
}

// resolve finds each column among the file's top-level fields by its arrow
// name, as CheckColumns does. Looking leaves up by their dotted Parquet
// path instead picked a struct's child a.b for a flat column named "a.b",
// and reported nested columns as missing.
func (f *File) resolve(m *pqarrow.SchemaManifest, cols []string) (fields, leaves []int, err error) {
	byName := make(map[string][]int, len(m.Fields))
	for i := range m.Fields {
		byName[m.Fields[i].Field.Name] = append(byName[m.Fields[i].Field.Name], i)
	}
	for _, c := range cols {
		found := byName[c]
		switch {
		case len(found) == 0:
			return nil, nil, fmt.Errorf("%w: %s: column %q is missing", ErrSchema, f.Path, c)
		case len(found) > 1:
			return nil, nil, fmt.Errorf("%w: %s: column %q appears %d times", ErrSchema, f.Path, c, len(found))
		}
		sf := m.Fields[found[0]]
		if len(sf.Children) > 0 || !sf.IsLeaf() {
			return nil, nil, fmt.Errorf("%w: %s: column %q is %s, a nested type: only flat columns can be read",
				ErrSchema, f.Path, c, sf.Field.Type)
		}
		fields, leaves = append(fields, found[0]), append(leaves, sf.ColIndex)
	}
	return fields, leaves, nil
}

// byteStreamSplit is parquet.thrift's Encoding 9. arrow-go v17 reads such
// a page as no rows at all, without an error.
const byteStreamSplit = parquet.Encoding(9)

// checkChunks holds the footer's column chunk ranges to the file, and
// their pages to their chunks (checkPages): arrow allocates a chunk's
// stated size before reading it, and a lying size of a terabyte is a fatal
// out-of-memory, which no recover catches.
//
// It returns the size of the largest column chunk it checked.
func (f *File) checkChunks(pf *file.Reader, leaves []int) (largest int64, err error) {
	r, err := f.loc.open(f) // pinned to the object Open listed
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %v", ErrCorrupt, f.Path, err)
	}
	defer r.Close()
	md := pf.MetaData()
	// parquet-mr before 1.2.9 left the dictionary page header out of the
	// chunk's size (PARQUET-816); arrow pads for it, the page walk cannot.
	walkPages := !md.WriterVersion().LessThan(metadata.Parquet816FixedVersion)
	walks := &pageWalks{f: f, r: r} // remote.go: an object's walks run concurrently
	for rg := range pf.NumRowGroups() {
		meta := md.RowGroup(rg)
		if meta.NumColumns() != md.Schema.NumColumns() {
			return 0, fmt.Errorf("%w: %s: row group %d has %d columns, the schema %d",
				ErrCorrupt, f.Path, rg, meta.NumColumns(), md.Schema.NumColumns())
		}
		for _, leaf := range leaves {
			cc, err := meta.ColumnChunk(leaf)
			if err != nil {
				return 0, fmt.Errorf("%w: %s: row group %d: %v", ErrCorrupt, f.Path, rg, err)
			}
			col := md.Schema.Column(leaf).Path()
			if slices.Contains(cc.Encodings(), byteStreamSplit) {
				return 0, fmt.Errorf("%w: %s: column %q is BYTE_STREAM_SPLIT encoded, which this reader (arrow-go v17) cannot decode",
					ErrCorrupt, f.Path, col)
			}
			start := cc.DataPageOffset()
			if d := cc.DictionaryPageOffset(); cc.HasDictionaryPage() && d > 0 && d < start {
				start = d
			}
			size := cc.TotalCompressedSize()
			if start < 0 || size < 0 || start > f.Size || size > f.Size-start {
				return 0, fmt.Errorf("%w: %s: row group %d column %q: bytes [%d, +%d) are outside the file's %d",
					ErrCorrupt, f.Path, rg, col, start, size, f.Size)
			}
			largest = max(largest, size)
			// Encrypted headers are opaque; an empty row group's chunk is never read
			// (arrow writes it a data page offset of 0).
			if walkPages && cc.CryptoMetadata() == nil && meta.NumRows() > 0 {
				if err := walks.add(rg, col, start, start+size); err != nil {
					return 0, err
				}
			}
		}
	}
	return largest, walks.wait()
}

// nextRecord reads up to n rows of every column; nil at the end.
func nextRecord(readers []*pqarrow.ColumnReader, schema *arrow.Schema, n int, mem memory.Allocator) (arrow.Record, error) {
	cols := make([]arrow.Array, len(readers))
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, r := range readers {
		var err error
		if cols[i], err = nextBatch(r, n, mem); err != nil {
			return nil, fmt.Errorf("column %q: %w", schema.Field(i).Name, err)
		}
		// Columns that disagree on the row count would make NewRecord panic.
		if got, want := cols[i].Len(), cols[0].Len(); got != want {
			return nil, fmt.Errorf("column %q has %d rows where %q has %d", schema.Field(i).Name, got, schema.Field(0).Name, want)
		}
	}
	if len(cols) == 0 || cols[0].Len() == 0 {
		return nil, nil
	}
	return array.NewRecord(schema, cols, -1), nil
}

// nextBatch is one column's next rows. A panic in the decoder (a corrupt
// page can cause one) becomes an error, so the caller can name the column.
func nextBatch(r *pqarrow.ColumnReader, n int, mem memory.Allocator) (col arrow.Array, err error) {
	defer func() {
		if p := recover(); p != nil {
			col, err = nil, fmt.Errorf("the Parquet reader panicked: %v", p)
		}
	}()
	chunked, err := r.NextBatch(int64(n))
	if err != nil {
		return nil, err
	}
	defer chunked.Release()
	return single(chunked, mem)
}

func single(c *arrow.Chunked, mem memory.Allocator) (arrow.Array, error) {
	switch len(c.Chunks()) {
	case 0:
		return array.MakeArrayOfNull(mem, c.DataType(), 0), nil
	case 1:
		a := c.Chunk(0)
		a.Retain()
		return a, nil
	}
	return array.Concatenate(c.Chunks(), mem)
}
