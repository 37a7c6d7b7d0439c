// Package parquetio reads snapshots from Parquet files and writes result
// files, through arrow's pqarrow.
package parquetio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
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

	schema *arrow.Schema
}

// Source is the set of Parquet files a glob matched, read in name order.
type Source struct {
	files []File
}

// Open matches the glob and reads every file's footer, so that missing,
// truncated and foreign files fail before any row is scored.
func Open(pattern string) (*Source, error) {
	paths, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("source glob %s: %w", pattern, err)
	}
	sort.Strings(paths)
	base := staticDir(pattern)
	s := &Source{}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if st.IsDir() {
			continue
		}
		name, err := filepath.Rel(base, p)
		if err != nil {
			name = filepath.Base(p)
		}
		f := File{Path: p, Name: filepath.ToSlash(name), Size: st.Size()}
		if err := f.readFooter(); err != nil {
			return nil, err
		}
		s.files = append(s.files, f)
	}
	if len(s.files) == 0 {
		return nil, fmt.Errorf("%w: nothing matches %s", ErrNoFiles, pattern)
	}
	return s, nil
}

func (f *File) readFooter() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v", ErrCorrupt, f.Path, r)
		}
	}()
	pf, err := file.OpenParquetFile(f.Path, false)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, f.Path, err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, f.Path, err)
	}
	f.schema, err = fr.Schema()
	if err != nil {
		return fmt.Errorf("%w: %s: schema: %v", ErrCorrupt, f.Path, err)
	}
	f.Rows = pf.NumRows()
	return nil
}

// staticDir is the folder part of a glob before its first wildcard.
func staticDir(pattern string) string {
	i := strings.IndexAny(pattern, "*?[")
	if i < 0 {
		return filepath.Dir(pattern)
	}
	return filepath.Dir(pattern[:i+1])
}

// Files lists the snapshot's files in read order.
func (s *Source) Files() []File { return s.files }

// Rows is the row count the footers promise.
func (s *Source) Rows() int64 {
	var n int64
	for _, f := range s.files {
		n += f.Rows
	}
	return n
}

// Schema is the first file's schema; CheckColumns holds the others to it.
func (s *Source) Schema() *arrow.Schema { return s.files[0].schema }

// FirstFile names the file Schema comes from, for error messages.
func (s *Source) FirstFile() string { return s.files[0].Path }

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
type Emit func(rec arrow.Record, file string, offset int64) error

// Read streams the named columns of every file, in batches of at most
// batchRows rows, one file after the other. Decoding runs in the caller's
// goroutine so that a panic inside the Parquet decoder on a corrupt file
// is recovered here and named, never left to crash the process.
func (s *Source) Read(ctx context.Context, cols []string, batchRows int, mem memory.Allocator, emit Emit) error {
	for _, f := range s.files {
		if err := f.read(ctx, cols, batchRows, mem, emit); err != nil {
			return err
		}
	}
	return nil
}

func (f *File) read(ctx context.Context, cols []string, batchRows int, mem memory.Allocator, emit Emit) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v", ErrCorrupt, f.Path, r)
		}
	}()
	pf, err := file.OpenParquetFile(f.Path, false)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, f.Path, err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: int64(batchRows)}, mem)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, f.Path, err)
	}
	indices := make([]int, len(cols))
	for i, c := range cols {
		indices[i] = pf.MetaData().Schema.ColumnIndexByName(c)
		if indices[i] < 0 {
			return fmt.Errorf("%w: %s: column %q is missing", ErrSchema, f.Path, c)
		}
	}
	rr, err := fr.GetRecordReader(ctx, indices, nil)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, f.Path, err)
	}
	defer rr.Release()
	var offset int64
	for rr.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec := rr.Record()
		rec.Retain() // the reader releases its own reference on Next
		n := rec.NumRows()
		if err := emit(rec, f.Path, offset); err != nil {
			return err
		}
		offset += n
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %s: row %d: %v", ErrCorrupt, f.Path, offset, err)
	}
	if offset != f.Rows {
		return fmt.Errorf("%w: %s: read %d rows, footer says %d", ErrCorrupt, f.Path, offset, f.Rows)
	}
	return nil
}
