package parquetio

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/batchscore/batchscore/internal/crashpoint"
)

// FileMode is the mode of every file the writer creates: result rows and
// quarantined rows are people's data, for the table's owner and group.
const FileMode = 0o640

// WrittenFile is one finished result file.
type WrittenFile struct {
	Name   string `json:"name"`
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// Writer writes records, in the order given, to part-NNNNN.parquet files in
// a folder: a new file every fileRows rows, and row groups of whole
// records, as few as make at least RowGroupRows rows (records shorter
// than that are held and written together; a longer one is a row group of
// its own), so that many small chunks do not make a file of tiny row
// groups. The same records give byte-identical files.
type Writer struct {
	dir      string
	schema   *arrow.Schema
	props    *parquet.WriterProperties
	arrProps pqarrow.ArrowWriterProperties
	fileRows int64

	cur   *pqarrow.FileWriter
	out   *os.File
	sink  *stickyWriter // out, remembering its first error
	sum   hash.Hash
	count *countingWriter
	rows  int64
	files []WrittenFile
	// broken is set when arrow's writer panicked: cur must not be used,
	// not even closed.
	broken error

	mem       memory.Allocator
	groupRows int64
	held      []arrow.Record // written as one row group once they reach groupRows
	heldRows  int64
}

// DefaultRowGroupRows is the fewest rows a result row group gets from
// short records (see Writer), unless RowGroupRows says otherwise.
const DefaultRowGroupRows = 1 << 16

var codecs = map[string]compress.Compression{
	"zstd":   compress.Codecs.Zstd,
	"snappy": compress.Codecs.Snappy,
	"gzip":   compress.Codecs.Gzip,
	"none":   compress.Codecs.Uncompressed,
}

// DefaultZstdLevel is the zstd level result files get unless the job
// says otherwise: level 1 costs less CPU than arrow's default (level 3)
// for slightly larger files (BENCHMARKS.md).
const DefaultZstdLevel = 1

// WriterOption tunes NewWriter.
type WriterOption func(*writerConfig)

type writerConfig struct {
	level     int
	groupRows int64
}

// RowGroupRows sets the fewest rows a row group of short records gets;
// 1 writes every record as its own row group.
func RowGroupRows(n int64) WriterOption {
	return func(c *writerConfig) { c.groupRows = n }
}

// CompressionLevel is the codec's level (zstd 1-22, gzip 1-9); 0 keeps the
// default: DefaultZstdLevel for zstd, the codec's own for gzip.
func CompressionLevel(level int) WriterOption {
	return func(c *writerConfig) { c.level = level }
}

// NewWriter prepares a writer; files are created on the first Write.
// Only string columns (the per-run constants, string keys) are dictionary
// encoded: scores and numeric keys rarely repeat, and measured here their
// dictionaries cost write time and made files larger.
func NewWriter(dir string, schema *arrow.Schema, compression string, fileRows int64, mem memory.Allocator, options ...WriterOption) (*Writer, error) {
	codec, ok := codecs[compression]
	if !ok {
		return nil, fmt.Errorf("unknown compression %q", compression)
	}
	if fileRows < 1 {
		return nil, fmt.Errorf("rows per file must be positive, not %d", fileRows)
	}
	cfg := writerConfig{groupRows: DefaultRowGroupRows}
	for _, o := range options {
		o(&cfg)
	}
	if cfg.level == 0 && codec == compress.Codecs.Zstd {
		cfg.level = DefaultZstdLevel
	}
	opts := []parquet.WriterProperty{
		parquet.WithCompression(codec),
		parquet.WithAllocator(mem),
		parquet.WithMaxRowGroupLength(1 << 30),
		parquet.WithStats(true),
	}
	if cfg.level != 0 {
		opts = append(opts, parquet.WithCompressionLevel(cfg.level))
	}
	for _, f := range schema.Fields() {
		if f.Type.ID() != arrow.STRING {
			opts = append(opts, parquet.WithDictionaryFor(f.Name, false))
		}
	}
	return &Writer{
		dir:       dir,
		schema:    schema,
		props:     parquet.NewWriterProperties(opts...),
		arrProps:  pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema(), pqarrow.WithAllocator(mem)),
		fileRows:  fileRows,
		mem:       mem,
		groupRows: max(cfg.groupRows, 1),
	}, nil
}

// Write appends a record: it holds a short one (see Writer) until the
// records held reach the row-group size, then writes them.
func (w *Writer) Write(rec arrow.Record) error {
	if w.broken != nil {
		return w.broken
	}
	if rec.NumRows() == 0 {
		return nil
	}
	if !rec.Schema().Equal(w.schema) {
		if err := sameColumns(rec.Schema(), w.schema); err != nil {
			return err
		}
	}
	// Records join only with records of the same schema (a key may come
	// dictionary-encoded in one chunk and not in the next).
	if len(w.held) > 0 && !rec.Schema().Equal(w.held[0].Schema()) {
		if err := w.flush(); err != nil {
			return err
		}
	}
	rec.Retain()
	w.held = append(w.held, rec)
	w.heldRows += rec.NumRows()
	if w.heldRows >= w.groupRows {
		if err := w.flush(); err != nil {
			return err
		}
	}
	crashpoint.Hit("staged-chunk")
	return nil
}

// flush writes the records held as one row group (more where a file
// fills up).
func (w *Writer) flush() error {
	if len(w.held) == 0 {
		return nil
	}
	held := w.held
	w.held, w.heldRows = nil, 0
	rec, err := concatRecords(held, w.mem)
	for _, r := range held {
		r.Release()
	}
	if err != nil {
		return fmt.Errorf("joining result chunks into a row group: %w", err)
	}
	defer rec.Release()
	return w.write(rec)
}

// concatRecords is recs as one record (recs[0] itself, retained, when
// there is one).
func concatRecords(recs []arrow.Record, mem memory.Allocator) (arrow.Record, error) {
	if len(recs) == 1 {
		recs[0].Retain()
		return recs[0], nil
	}
	cols := make([]arrow.Array, recs[0].NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	parts := make([]arrow.Array, len(recs))
	var rows int64
	for i := range cols {
		for j, r := range recs {
			parts[j] = r.Column(i)
		}
		var err error
		if cols[i], err = array.Concatenate(parts, mem); err != nil {
			return nil, fmt.Errorf("column %q: %w", recs[0].Schema().Field(i).Name, err)
		}
	}
	for _, r := range recs {
		rows += r.NumRows()
	}
	return array.NewRecord(recs[0].Schema(), cols, rows), nil
}

// write writes rec, splitting it where a file fills up.
func (w *Writer) write(rec arrow.Record) error {
	for off := int64(0); off < rec.NumRows(); {
		if w.cur != nil && w.rows >= w.fileRows {
			if err := w.finish(); err != nil {
				return err
			}
		}
		if w.cur == nil {
			if err := w.start(); err != nil {
				return err
			}
		}
		n := min(rec.NumRows()-off, w.fileRows-w.rows)
		part := rec
		if off != 0 || n != rec.NumRows() {
			part = rec.NewSlice(off, off+n)
		}
		err := w.writeRecord(part)
		if part != rec {
			part.Release()
		}
		if err != nil {
			return fmt.Errorf("writing %s: %w", w.out.Name(), err)
		}
		w.rows += n
		off += n
	}
	return nil
}

// writeRecord is arrow's Write, which in v17 can panic after a failed
// write to the file (rowGroupWriter.Close reads a page its flush already
// released): the file's own write error, such as EFBIG or ENOSPC, is then
// the cause to report.
func (w *Writer) writeRecord(rec arrow.Record) error {
	panicked, err := w.guardArrow(func() error { return w.writeRowGroup(rec) })
	if panicked {
		w.broken = fmt.Errorf("writing %s: %w", w.out.Name(), err)
	}
	return err
}

// writeRowGroup writes rec as one row group. A column the record carries
// dictionary-encoded, where the file's schema has the dictionary's value
// type, goes in by its indices: a run's constant strings are not hashed
// row by row.
func (w *Writer) writeRowGroup(rec arrow.Record) error {
	if rec.Schema().Equal(w.schema) {
		return w.cur.Write(rec)
	}
	if err := sameColumns(rec.Schema(), w.schema); err != nil {
		return err
	}
	w.cur.NewRowGroup()
	for _, col := range rec.Columns() {
		if err := w.cur.WriteColumnData(col); err != nil {
			_ = w.cur.Close() // as arrow's Write does: a later Close of the half-written group would crash
			return err
		}
	}
	return nil
}

// sameColumns accepts a record schema that is the file's but for columns
// dictionary-encoded over the file's type.
func sameColumns(rec, file *arrow.Schema) error {
	if rec.NumFields() != file.NumFields() {
		return fmt.Errorf("record has %d columns, the file %d", rec.NumFields(), file.NumFields())
	}
	for i, f := range rec.Fields() {
		want, typ := file.Field(i), f.Type
		if d, ok := typ.(*arrow.DictionaryType); ok && !arrow.TypeEqual(typ, want.Type) {
			typ = d.ValueType // a key read as a dictionary stays one in the file too
		}
		if f.Name != want.Name || !arrow.TypeEqual(typ, want.Type) || f.Nullable != want.Nullable {
			return fmt.Errorf("record column %d is %s %s (nullable %v), the file's %s %s (nullable %v)",
				i, f.Name, f.Type, f.Nullable, want.Name, want.Type, want.Nullable)
		}
	}
	return nil
}

// closeFile is arrow's Close, with the same guard as writeRecord.
func (w *Writer) closeFile() error {
	_, err := w.guardArrow(w.cur.Close)
	return err
}

// guardArrow runs fn, turning a panic into the file's write error.
func (w *Writer) guardArrow(fn func() error) (panicked bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			panicked, err = true, w.sink.err
			if err == nil {
				err = fmt.Errorf("arrow's Parquet writer failed: %v", r)
			}
		}
	}()
	return false, fn()
}

func (w *Writer) start() error {
	name := filepath.Join(w.dir, fmt.Sprintf("part-%05d.parquet", len(w.files)))
	f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, FileMode)
	if err != nil {
		return err
	}
	w.out, w.sum, w.count, w.rows = f, sha256.New(), &countingWriter{}, 0
	w.sink = &stickyWriter{w: f}
	fw, err := pqarrow.NewFileWriter(w.schema, io.MultiWriter(w.sink, w.sum, w.count), w.props, w.arrProps)
	if err != nil {
		f.Close()
		return fmt.Errorf("creating %s: %w", name, err)
	}
	w.cur = fw
	return nil
}

// finish closes the current file and makes it durable.
func (w *Writer) finish() error {
	name := w.out.Name()
	err := w.closeFile()
	if err == nil {
		// arrow v17's file writer drops the error of the footer's write:
		// the file's own record of it is what tells.
		err = w.sink.err
	}
	if err == nil {
		err = w.out.Sync()
	}
	err = errors.Join(err, w.out.Close())
	w.cur = nil
	if err != nil {
		return fmt.Errorf("closing %s: %w", name, err)
	}
	w.files = append(w.files, WrittenFile{
		Name:   filepath.Base(name),
		Rows:   w.rows,
		Bytes:  w.count.n,
		SHA256: hex.EncodeToString(w.sum.Sum(nil)),
	})
	return nil
}

// Close finishes the last file and lists what was written. A version with
// no rows still gets one file, so that readers see its schema.
func (w *Writer) Close() ([]WrittenFile, error) {
	if w.broken != nil {
		w.Abort()
		return nil, w.broken
	}
	if err := w.flush(); err != nil {
		return nil, err
	}
	if w.cur == nil && len(w.files) == 0 {
		if err := w.start(); err != nil {
			return nil, err
		}
	}
	if w.broken != nil {
		return nil, w.broken
	}
	if w.cur != nil {
		if err := w.finish(); err != nil {
			return nil, err
		}
	}
	return w.files, nil
}

// Abort closes an open file without finishing it; the caller removes the folder.
func (w *Writer) Abort() {
	for _, r := range w.held {
		r.Release()
	}
	w.held, w.heldRows = nil, 0
	if w.cur != nil {
		if w.broken == nil {
			_, _ = w.guardArrow(w.cur.Close) // frees its buffers; the file is discarded anyway
		}
		w.out.Close()
		w.cur = nil
	}
}

// stickyWriter remembers the first write error, which a caller above it
// may lose.
type stickyWriter struct {
	w   io.Writer
	err error
}

func (s *stickyWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	if err != nil {
		s.err = err
	}
	return n, err
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
