// Package parquetio reads snapshots from Parquet files and writes result
// files, through arrow's pqarrow.
package parquetio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/batchscore/batchscore/io/blob"
	"github.com/batchscore/batchscore/io/source"
)

var (
	// ErrNoFiles marks a glob that matched nothing: the snapshot is not there (yet).
	ErrNoFiles = errors.New("no snapshot files")
	// ErrCorrupt marks a file that is not readable Parquet.
	ErrCorrupt = errors.New("unreadable Parquet file")
	// ErrSchema marks files of one snapshot whose columns disagree.
	ErrSchema = errors.New("snapshot schema mismatch")
)

// File is one file of a snapshot.
type File struct {
	Path   string `json:"-"`
	Name   string `json:"name"` // relative to the glob's fixed folder
	Size   int64  `json:"size"`
	Rows   int64  `json:"rows"`
	SHA256 string `json:"sha256,omitempty"`
	// Partition holds the key=value folders of the file's path, as
	// written (see partition.go); they are columns of its rows.
	Partition map[string]string `json:"partition,omitempty"`

	loc     location  // where it is kept (location.go)
	modTime time.Time // as Open saw it: a same-size replacement changes it
	etag    string    // an object's, as Open listed it: reads are pinned to it
	schema  *arrow.Schema
	// groupRows are the row groups' row counts, from the footer; groups,
	// when not nil, are the ones a shard reads (see Shard).
	groupRows []int64
	groups    []int
	parts     []partition
}

// Source is the set of Parquet files a glob matched, read in name order:
// a source.Source, whose contract it keeps. It holds no open file between
// calls (each Read opens its files), so Close has nothing to end, and it
// may be read again.
type Source struct {
	files []File
	opts  openOptions
	// hashCols are the columns Fingerprint hashed (nil: all); once hashed,
	// Read takes no other.
	hashCols []string
	hashed   bool
}

var _ source.Source = (*Source)(nil)

// Open matches the glob and reads every file's footer, so that missing,
// truncated and foreign files fail before any row is scored. The
// key=value folders of the files' paths are columns (partition.go).
func Open(pattern string, opts ...Option) (*Source, error) {
	var o openOptions
	for _, opt := range opts {
		opt(&o)
	}
	loc, err := locationOf(pattern) // location.go
	if err != nil {
		return nil, err
	}
	files, err := loc.list(pattern)
	if err != nil {
		return nil, err
	}
	partBase := partitionBase(loc, pattern, o)
	s := &Source{opts: o}
	for _, f := range files {
		f.loc = loc
		if err := f.readFooter(); err != nil {
			return nil, err
		}
		// Files of one snapshot share a schema: one copy, not one per file.
		if n := len(s.files); n > 0 && sameSchema(f.schema, s.files[n-1].schema) {
			f.schema = s.files[n-1].schema
		}
		if f.parts, err = parsePartitions(loc.display(f.Path), loc.relBelow(partBase, f.Path)); err != nil {
			return nil, err
		}
		s.files = append(s.files, f)
	}
	if len(s.files) == 0 {
		return nil, fmt.Errorf("%w: nothing matches %s", ErrNoFiles, loc.display(pattern))
	}
	if err := s.typePartitions(o.types); err != nil {
		return nil, err
	}
	return s, nil
}

func (f *File) readFooter() (err error) {
	// One reader for the magic and the footer: for an object, the GET of
	// the tail's magic fetches the footer too (blob.DefaultTailWindow).
	fh, err := f.loc.open(f)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, f.Path, err)
	}
	defer fh.Close()
	if err := f.checkMagic(fh); err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: the Parquet reader panicked on the footer: %v", ErrCorrupt, f.Path, r)
		}
	}()
	pf, err := file.NewParquetReader(fh) // not pf.Close: that would close fh, which the deferred Close does
	if errors.Is(err, blob.ErrChanged) { // an object replaced since it was listed
		return f.loc.readErr(f, err)
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, f.Path, err)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, f.Path, err)
	}
	f.schema, err = fr.Schema()
	if err != nil {
		return fmt.Errorf("%w: %s: schema: %v", ErrCorrupt, f.Path, err)
	}
	f.Rows = pf.NumRows()
	for rg := range pf.NumRowGroups() {
		f.groupRows = append(f.groupRows, pf.MetaData().RowGroup(rg).NumRows())
	}
	return nil
}

// checkMagic names a foreign or cut file as such: for a CSV, a gzipped or a
// truncated copy arrow says "file is smaller than indicated metadata size".
func (f *File) checkMagic(r fileReader) error {
	if f.Size < 12 {
		return fmt.Errorf("%w: %s: %d bytes is too small for a Parquet file", ErrCorrupt, f.Path, f.Size)
	}
	head, tail := make([]byte, 4), make([]byte, 4)
	if _, err := r.ReadAt(head, 0); err != nil {
		return f.loc.readErr(f, err)
	}
	if _, err := r.ReadAt(tail, f.Size-4); err != nil {
		return f.loc.readErr(f, err)
	}
	isMagic := func(b []byte) bool { return string(b) == "PAR1" || string(b) == "PARE" } // PARE: encrypted footer
	if !isMagic(head) || !isMagic(tail) {
		return fmt.Errorf("%w: %s: not a Parquet file: no PAR1 at its start and end (truncated, or another format)", ErrCorrupt, f.Path)
	}
	return nil
}

// openParquet is file.OpenParquetFile without its descriptor leak: that
// leaves the file open when the footer does not parse (or panics), one
// descriptor per corrupt file until a long-running serve has none left.
//
// The reader streams each column chunk through a buffer of props'
// BufferSize (see streamProps) instead of holding it whole.
func openParquet(f *File, props *parquet.ReaderProperties) (*file.Reader, *readErrs, error) {
	fh, err := f.loc.openNow(f)
	if err != nil {
		return nil, nil, err
	}
	opened := false
	defer func() { // on a panic too
		if !opened {
			fh.Close()
		}
	}()
	rec := &readErrs{fileReader: fh}
	pf, err := file.NewParquetReader(rec, file.WithReadProps(props))
	if err != nil {
		return nil, nil, err
	}
	opened = true
	return pf, rec, nil
}

// readErrs keeps the first failed read of a file: arrow-go drops some
// errors of a streamed column chunk and reports only a column that comes
// up short, which would hide an object replaced mid-read (ErrChanged).
type readErrs struct {
	fileReader
	first atomic.Pointer[error]
}

func (r *readErrs) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.fileReader.ReadAt(p, off)
	if err != nil && !errors.Is(err, io.EOF) {
		r.first.CompareAndSwap(nil, &err)
	}
	return n, err
}

// explain puts the failed read, if there was one, in place of err.
func (r *readErrs) explain(f *File, err error) error {
	if p := r.first.Load(); p != nil && err != nil {
		return f.loc.readErr(f, fmt.Errorf("%s: %w", f.Path, *p))
	}
	return err
}

// Files lists the snapshot's files in read order.
func (s *Source) Files() []File { return s.files }

// Rows is the row count the footers promise for what Read reads: every
// row, or a shard's.
func (s *Source) Rows() int64 {
	var n int64
	for _, f := range s.files {
		n += f.readRows()
	}
	return n
}

// Schema is the first file's schema; CheckColumns holds the others to it.
func (s *Source) Schema() *arrow.Schema { return s.files[0].schema }

// Where names the file Schema comes from, for error messages.
func (s *Source) Where() string { return s.files[0].Path }

// Close has nothing to release: Read closes every file it opens. It is
// there for the source.Source contract.
func (s *Source) Close() error { return nil }

// CheckColumns makes sure every file has the columns with the first
// file's types; other columns may differ since they are never read.
func (s *Source) CheckColumns(cols []string) error {
	first := s.files[0]
	for _, c := range cols {
		idx := first.schema.FieldIndices(c)
		if len(idx) == 0 {
			return fmt.Errorf("%w: %s: column %q is missing", ErrSchema, first.Path, c)
		}
		want := first.schema.Field(idx[0]).Type
		for _, f := range s.files[1:] {
			idx := f.schema.FieldIndices(c)
			if len(idx) == 0 {
				return fmt.Errorf("%w: %s: column %q is missing (it is in %s)", ErrSchema, f.Path, c, first.Path)
			}
			if got := f.schema.Field(idx[0]).Type; !arrow.TypeEqual(got, want) {
				return fmt.Errorf("%w: %s: column %q is %s but %s in %s", ErrSchema, f.Path, c, got, want, first.Path)
			}
		}
	}
	return nil
}

// Emit receives each record batch with the file it came from and the row
// offset of its first row in that file. It owns rec and must release it.
type Emit = source.Emit

// Read streams the named columns of every file, in batches of at most
// batchRows rows, one file after the other: a chunk holds rows of one
// file. Decoding runs in the caller's goroutine so that a panic inside
// the Parquet decoder on a corrupt file is recovered here and named,
// never left to crash the process.
func (s *Source) Read(ctx context.Context, cols []string, batchRows int, mem memory.Allocator, emit Emit) error {
	return s.read(ctx, cols, batchRows, mem, false, func(rec arrow.Record, spans []source.Span) error {
		return emit(rec, spans[0].Where, spans[0].Offset)
	})
}

// ReadJoined is Read whose chunks join small files too (source.Joiner):
// every chunk but the last holds chunkRows rows, whatever the files' and
// row groups' sizes, and its spans name the file and row of each row.
func (s *Source) ReadJoined(ctx context.Context, cols []string, chunkRows int, mem memory.Allocator, emit source.EmitSpans) error {
	return s.read(ctx, cols, chunkRows, mem, true, emit)
}

var _ source.Joiner = (*Source)(nil)

func (s *Source) read(ctx context.Context, cols []string, chunkRows int, mem memory.Allocator, join bool, emit source.EmitSpans) error {
	if err := s.checkFingerprinted(cols); err != nil {
		return err
	}
	chunks := &chunker{chunkRows: int64(chunkRows), mem: mem, emit: emit}
	defer chunks.release()
	for i := range s.files {
		f := &s.files[i]
		if f.groups != nil && len(f.groups) == 0 {
			continue // another shard's file
		}
		if err := f.read(ctx, cols, chunks); err != nil {
			return err
		}
		if !join {
			if err := chunks.flush(); err != nil {
				return err
			}
		}
	}
	return chunks.flush()
}

// fileChunks adds one file's batches to the chunker, each completed with
// the file's partition columns first (pr, when some are asked for).
type fileChunks struct {
	*chunker
	path string
	pr   *partitionRead
}

func (a fileChunks) add(rec arrow.Record, offset int64) error {
	if a.pr != nil {
		out, err := a.pr.complete(rec, int(rec.NumRows()), offset)
		rec.Release()
		if err != nil {
			return err
		}
		rec = out
	}
	return a.chunker.add(rec, a.path, offset)
}

func (f *File) read(ctx context.Context, cols []string, c *chunker) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: the Parquet reader panicked: %v", ErrCorrupt, f.Path, r)
		}
	}()
	pr, err := f.planPartitions(cols, c.mem) // partition.go
	if err != nil {
		return err
	}
	chunks := fileChunks{chunker: c, path: f.Path, pr: pr}
	if pr != nil {
		defer pr.release()
		if len(pr.fileCols) == 0 {
			return pr.readConstants(ctx, c)
		}
		cols = pr.fileCols
	}
	if len(cols) == 0 {
		return fmt.Errorf("%w: %s: no columns to read", ErrSchema, f.Path)
	}
	if err := f.checkUnchanged(); err != nil {
		return err
	}
	props := streamProps()
	pf, reads, err := openParquet(f, props)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, f.Path, err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: c.chunkRows}, c.mem)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, f.Path, err)
	}
	fields, leaves, err := f.resolve(fr.Manifest, cols)
	if err != nil {
		return err
	}
	largest, err := f.checkChunks(pf, leaves)
	if err != nil {
		return err
	}
	props.BufferSize = f.loc.streamBuffer(largest) // read by each column reader as it opens
	if pf.NumRowGroups() != len(f.groupRows) {
		return fmt.Errorf("%w: %s: %d row groups, %d when the run started", ErrChanged, f.Path, pf.NumRowGroups(), len(f.groupRows))
	}
	// offset counts every row before a group, read or not: quarantined
	// rows name their row in the file, whichever shard read them.
	var offset, read int64
	for rg := range pf.NumRowGroups() {
		if !f.reads(rg) {
			offset += f.groupRows[rg]
			continue
		}
		n, err := f.readRowGroup(ctx, fr, fields, leaves, rg, chunks, offset)
		if err != nil {
			return reads.explain(f, err)
		}
		offset += n
		read += n
	}
	if read != f.readRows() {
		return fmt.Errorf("%w: %s: read %d rows, footer says %d", ErrCorrupt, f.Path, read, f.readRows())
	}
	return nil
}

// readRowGroup passes one row group's rows to chunks in batches that
// fill its chunks, and checks their count. It asks for no more rows than
// the footer promises: a read past the end costs every column a
// batch-sized buffer, for nothing.
func (f *File) readRowGroup(ctx context.Context, fr *pqarrow.FileReader, fields, leaves []int, rg int,
	chunks fileChunks, offset int64) (int64, error) {
	readers, schema, err := f.rowGroupReaders(ctx, fr, fields, leaves, rg)
	if err != nil {
		return 0, err
	}
	defer releaseReaders(readers)
	want := fr.ParquetReader().MetaData().RowGroup(rg).NumRows()
	var n int64
	for n < want {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		rec, err := nextRecord(readers, schema, int(min(chunks.room(), want-n)), chunks.mem)
		if err != nil {
			return n, fmt.Errorf("%w: %s: row %d: %v", ErrCorrupt, f.Path, offset+n, err)
		}
		if rec == nil {
			break
		}
		rows := rec.NumRows()
		if err := chunks.add(rec, offset+n); err != nil {
			return n, err
		}
		n += rows
	}
	if n != want {
		return n, fmt.Errorf("%w: %s: row group %d: read %d rows, footer says %d", ErrCorrupt, f.Path, rg, n, want)
	}
	return n, nil
}

// streamProps make the Parquet reader stream column chunks: arrow-go's
// default reads a whole column chunk into memory, twice over, before its
// first value, so memory grew with the largest row group whatever
// chunk_rows said. Streamed, a column holds its buffer and its current
// page; Read sets BufferSize once the footer has told the chunks' sizes.
//
// Pages are decoded into memory.DefaultAllocator's buffers, as they were:
// arrow-go leaks some of a data page v2's, which a caller's checked
// allocator would count.
func streamProps() *parquet.ReaderProperties {
	props := parquet.NewReaderProperties(memory.DefaultAllocator)
	props.BufferedStreamEnabled = true
	return props
}

func sameSchema(a, b *arrow.Schema) bool {
	return a.Equal(b) && a.Metadata().Equal(b.Metadata())
}
