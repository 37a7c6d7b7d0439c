package parquetio

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/file"
)

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string) // writes into dir
		wantErr error
		wantIn  []string // substrings; "$DIR" is replaced by dir
	}{
		{
			name:    "empty glob",
			setup:   func(t *testing.T, dir string) {},
			wantErr: ErrNoFiles,
			wantIn:  []string{"nothing matches $DIR/*.parquet"},
		},
		{
			name: "only a folder matches",
			setup: func(t *testing.T, dir string) {
				os.Mkdir(filepath.Join(dir, "d.parquet"), 0o755)
			},
			wantErr: ErrNoFiles,
			wantIn:  []string{"$DIR/*.parquet"},
		},
		{
			name: "truncated file",
			setup: func(t *testing.T, dir string) {
				writeRows(t, filepath.Join(dir, "a.parquet"), 0, 10, fileOpts{})
				p := filepath.Join(dir, "b.parquet")
				writeRows(t, p, 0, 1000, fileOpts{})
				data, _ := os.ReadFile(p)
				os.WriteFile(p, data[:len(data)/2], 0o644)
			},
			wantErr: ErrCorrupt,
			wantIn:  []string{"$DIR/b.parquet"},
		},
		{
			name: "random bytes",
			setup: func(t *testing.T, dir string) {
				b := make([]byte, 4096)
				rand.Read(b)
				os.WriteFile(filepath.Join(dir, "r.parquet"), b, 0o644)
			},
			wantErr: ErrCorrupt,
			wantIn:  []string{"$DIR/r.parquet"},
		},
		{
			name: "magic at both ends, garbage footer",
			setup: func(t *testing.T, dir string) {
				b := make([]byte, 64)
				rand.Read(b)
				copy(b, "PAR1")
				copy(b[56:], []byte{40, 0, 0, 0})
				copy(b[60:], "PAR1")
				os.WriteFile(filepath.Join(dir, "g.parquet"), b, 0o644)
			},
			wantErr: ErrCorrupt,
			wantIn:  []string{"$DIR/g.parquet"},
		},
		{
			name: "zero bytes",
			setup: func(t *testing.T, dir string) {
				os.WriteFile(filepath.Join(dir, "z.parquet"), nil, 0o644)
			},
			wantErr: ErrCorrupt,
			wantIn:  []string{"$DIR/z.parquet"},
		},
		{
			name: "csv named parquet",
			setup: func(t *testing.T, dir string) {
				os.WriteFile(filepath.Join(dir, "c.parquet"), []byte("id,x\n1,2\n"), 0o644)
			},
			wantErr: ErrCorrupt,
			wantIn:  []string{"$DIR/c.parquet"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			src, err := Open(filepath.Join(dir, "*.parquet"))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Open = %v, %v; want %v", src, err, tt.wantErr)
			}
			for _, w := range tt.wantIn {
				if w = strings.ReplaceAll(w, "$DIR", dir); !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestOpenBadPattern(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "[*.parquet"))
	if err == nil || !strings.Contains(err.Error(), "[*.parquet") {
		t.Fatalf("Open = %v, want an error naming the glob", err)
	}
}

func TestOpenFiles(t *testing.T) {
	dir := t.TempDir()
	snap := filepath.Join(dir, "snapshot_date=2026-11-20")
	for _, f := range []struct {
		name     string
		start, n int64
	}{{"part-2.parquet", 100, 7}, {"part-0.parquet", 0, 30}, {"part-1.parquet", 50, 1}, {"sub/part-9.parquet", 0, 3}} {
		writeRows(t, filepath.Join(snap, f.name), f.start, f.n, fileOpts{rowGroup: 8})
	}
	os.WriteFile(filepath.Join(snap, "_SUCCESS"), nil, 0o644)

	tests := []struct {
		name      string
		pattern   string
		wantNames []string
		wantRows  int64
		partition string // a key=value folder the glob matched, a column
	}{
		{name: "name order", pattern: filepath.Join(snap, "*.parquet"),
			wantNames: []string{"part-0.parquet", "part-1.parquet", "part-2.parquet"}, wantRows: 38},
		{name: "wildcard in the file name", pattern: filepath.Join(snap, "part-[12].parquet"),
			wantNames: []string{"part-1.parquet", "part-2.parquet"}, wantRows: 8},
		{name: "wildcard in a folder", pattern: filepath.Join(dir, "snapshot_date=*", "*.parquet"),
			wantNames: []string{"snapshot_date=2026-11-20/part-0.parquet", "snapshot_date=2026-11-20/part-1.parquet", "snapshot_date=2026-11-20/part-2.parquet"}, wantRows: 38,
			partition: "snapshot_date:date32,"},
		{name: "nested", pattern: filepath.Join(snap, "*", "*.parquet"),
			wantNames: []string{"sub/part-9.parquet"}, wantRows: 3},
		{name: "no wildcard", pattern: filepath.Join(snap, "part-1.parquet"),
			wantNames: []string{"part-1.parquet"}, wantRows: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := Open(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, f := range src.Files() {
				names = append(names, f.Name)
				st, err := os.Stat(f.Path)
				if err != nil || st.Size() != f.Size {
					t.Errorf("%s: Size %d, on disk %v %v", f.Name, f.Size, st.Size(), err)
				}
				if f.SHA256 != "" {
					t.Errorf("%s: SHA256 set before Fingerprint", f.Name)
				}
			}
			if !slices.Equal(names, tt.wantNames) {
				t.Errorf("names = %q, want %q", names, tt.wantNames)
			}
			if got := src.Rows(); got != tt.wantRows {
				t.Errorf("Rows = %d, want %d", got, tt.wantRows)
			}
			if got := fieldsOf(src.Schema()); got != fieldsOf(testSchema)+tt.partition {
				t.Errorf("Schema fields = %s, want %s", got, fieldsOf(testSchema)+tt.partition)
			}
			if src.Where() != src.Files()[0].Path {
				t.Errorf("FirstFile = %s", src.Where())
			}
		})
	}
}

func TestCheckColumns(t *testing.T) {
	int32Schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "x", Type: arrow.PrimitiveTypes.Int32},
	}, nil)
	noX := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: arrow.BinaryTypes.String},
	}, nil)
	withExtra := arrow.NewSchema([]arrow.Field{
		{Name: "extra", Type: arrow.PrimitiveTypes.Int32},
		{Name: "x", Type: arrow.PrimitiveTypes.Float64},
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	tests := []struct {
		name    string
		second  *arrow.Schema
		cols    []string
		wantErr error
		wantIn  []string // "$2" is the second file's path, "$1" the first's
	}{
		{name: "same schema", second: testSchema, cols: []string{"id", "x", "s"}},
		{name: "other columns differ, order too", second: withExtra, cols: []string{"x", "id"}},
		{name: "no columns asked", second: noX, cols: nil},
		{name: "missing in second file", second: noX, cols: []string{"id", "x"}, wantErr: ErrSchema,
			wantIn: []string{"$2", `column "x" is missing`, "(it is in $1)"}},
		{name: "type differs", second: int32Schema, cols: []string{"id", "x"}, wantErr: ErrSchema,
			wantIn: []string{"$2", `column "x" is int32 but float64 in $1`}},
		{name: "missing everywhere", second: testSchema, cols: []string{"nope"}, wantErr: ErrSchema,
			wantIn: []string{"$1", `column "nope" is missing`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			first, second := filepath.Join(dir, "a.parquet"), filepath.Join(dir, "b.parquet")
			writeRows(t, first, 0, 3, fileOpts{})
			writeEmptyWithSchema(t, second, tt.second)
			src, err := Open(filepath.Join(dir, "*.parquet"))
			if err != nil {
				t.Fatal(err)
			}
			err = src.CheckColumns(tt.cols)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("CheckColumns = %v, want %v", err, tt.wantErr)
			}
			for _, w := range tt.wantIn {
				w = strings.NewReplacer("$1", first, "$2", second).Replace(w)
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// writeEmptyWithSchema writes one row of zeros with the given schema.
func writeEmptyWithSchema(t *testing.T, path string, schema *arrow.Schema) {
	t.Helper()
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for _, f := range b.Fields() {
		f.AppendEmptyValue()
	}
	rec := b.NewRecord()
	defer rec.Release()
	writeParquet(t, path, fileOpts{schema: schema}, rec)
}

type batch struct {
	file   string
	offset int64
	rows   int64
	cols   []string
	ids    []int64
	xs     []float64
	ss     []string
}

// collect is an Emit that copies what it sees and releases the record.
func collect(out *[]batch) Emit {
	return func(rec arrow.Record, file string, offset int64) error {
		defer rec.Release()
		b := batch{file: file, offset: offset, rows: rec.NumRows()}
		for i, f := range rec.Schema().Fields() {
			b.cols = append(b.cols, f.Name)
			switch c := rec.Column(i).(type) {
			case *array.Int64:
				b.ids = append(b.ids, c.Int64Values()...)
			case *array.Float64:
				b.xs = append(b.xs, c.Float64Values()...)
			case *array.String:
				for j := 0; j < c.Len(); j++ {
					b.ss = append(b.ss, c.Value(j))
				}
			}
		}
		*out = append(*out, b)
		return nil
	}
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.parquet"), filepath.Join(dir, "b.parquet")
	// a: 25 rows in row groups of 8 (so batches cross row groups); b: 12 rows.
	writeRows(t, a, 0, 25, fileOpts{rowGroup: 8, codec: compress.Codecs.Zstd})
	writeRows(t, b, 1000, 12, fileOpts{codec: compress.Codecs.Snappy})
	src, err := Open(filepath.Join(dir, "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		cols      []string
		batchRows int
	}{
		{name: "batches of 10", cols: []string{"id", "x"}, batchRows: 10},
		{name: "batch of 1", cols: []string{"id"}, batchRows: 1},
		{name: "batch bigger than a file", cols: []string{"id", "s"}, batchRows: 100},
		{name: "batch equals row group", cols: []string{"id", "x", "s"}, batchRows: 8},
		{name: "columns in another order", cols: []string{"s", "id"}, batchRows: 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := checkedAlloc(t)
			var got []batch
			if err := src.Read(context.Background(), tt.cols, tt.batchRows, mem, collect(&got)); err != nil {
				t.Fatal(err)
			}
			want := map[string]struct{ first, rows int64 }{a: {0, 25}, b: {1000, 12}}
			var next = map[string]int64{}
			var total int64
			lastFile := ""
			for i, bt := range got {
				if bt.rows < 1 || bt.rows > int64(tt.batchRows) {
					t.Errorf("batch %d: %d rows, want 1..%d", i, bt.rows, tt.batchRows)
				}
				if bt.file < lastFile {
					t.Errorf("batch %d from %s after %s", i, bt.file, lastFile)
				}
				lastFile = bt.file
				if bt.offset != next[bt.file] {
					t.Errorf("batch %d of %s: offset %d, want %d", i, bt.file, bt.offset, next[bt.file])
				}
				next[bt.file] += bt.rows
				total += bt.rows
				if slices.Sort(bt.cols); !slices.Equal(bt.cols, slices.Sorted(slices.Values(tt.cols))) {
					t.Errorf("batch %d columns %q, want %q", i, bt.cols, tt.cols)
				}
				first := want[bt.file].first + bt.offset
				for j, id := range bt.ids {
					if id != first+int64(j) {
						t.Fatalf("batch %d row %d: id %d, want %d", i, j, id, first+int64(j))
					}
				}
				for j, x := range bt.xs {
					if x != xOf(first+int64(j)) {
						t.Fatalf("batch %d row %d: x %v, want %v", i, j, x, xOf(first+int64(j)))
					}
				}
				for j, s := range bt.ss {
					if s != sOf(first+int64(j)) {
						t.Fatalf("batch %d row %d: s %q, want %q", i, j, s, sOf(first+int64(j)))
					}
				}
			}
			for f, w := range want {
				if next[f] != w.rows {
					t.Errorf("%s: read %d rows, want %d", f, next[f], w.rows)
				}
			}
			if total != src.Rows() {
				t.Errorf("read %d rows, Rows() = %d", total, src.Rows())
			}
		})
	}
}

// Record columns come back in the order asked for, so that callers may
// index them by position.
func TestReadColumnOrder(t *testing.T) {
	dir := t.TempDir()
	writeRows(t, filepath.Join(dir, "a.parquet"), 0, 5, fileOpts{})
	src, err := Open(filepath.Join(dir, "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	mem := checkedAlloc(t)
	err = src.Read(context.Background(), []string{"s", "id"}, 10, mem, func(rec arrow.Record, _ string, _ int64) error {
		defer rec.Release()
		var names []string
		for _, f := range rec.Schema().Fields() {
			names = append(names, f.Name)
		}
		if !slices.Equal(names, []string{"s", "id"}) {
			t.Errorf("record columns %q, want [s id]", names)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestReadStops(t *testing.T) {
	dir := t.TempDir()
	writeRows(t, filepath.Join(dir, "a.parquet"), 0, 50, fileOpts{rowGroup: 10})
	writeRows(t, filepath.Join(dir, "b.parquet"), 50, 50, fileOpts{rowGroup: 10})
	src, err := Open(filepath.Join(dir, "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	errEmit := errors.New("sink is full")
	tests := []struct {
		name      string
		stopAfter int // batches emitted before the stop
		cancel    bool
		preCancel bool
		wantErr   error
	}{
		{name: "cancelled mid file", stopAfter: 2, cancel: true, wantErr: context.Canceled},
		{name: "cancelled at file boundary", stopAfter: 5, cancel: true, wantErr: context.Canceled},
		{name: "cancelled before start", preCancel: true, wantErr: context.Canceled},
		{name: "emit error first batch", stopAfter: 1, wantErr: errEmit},
		{name: "emit error second file", stopAfter: 7, wantErr: errEmit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := checkedAlloc(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.preCancel {
				cancel()
			}
			n, after := 0, 0
			err := src.Read(ctx, []string{"id", "s"}, 10, mem, func(rec arrow.Record, _ string, _ int64) error {
				rec.Release()
				n++
				if n > tt.stopAfter {
					after++
				}
				if n == tt.stopAfter {
					if tt.cancel {
						cancel()
						return nil
					}
					return errEmit
				}
				return nil
			})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Read = %v, want %v", err, tt.wantErr)
			}
			if after > 0 {
				t.Errorf("%d batches emitted after the stop", after)
			}
			if errors.Is(err, ErrCorrupt) {
				t.Errorf("a stop reported as a corrupt file: %v", err)
			}
		})
	}
}

// corruptMiddle flips bytes in the middle of the first column chunk of
// the first row group, keeping the footer intact.
func corruptMiddle(t *testing.T, path string, col int, header bool) {
	t.Helper()
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := pf.MetaData().RowGroup(0).ColumnChunk(col)
	if err != nil {
		t.Fatal(err)
	}
	start, size := cc.DataPageOffset(), cc.TotalCompressedSize()
	pf.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mid := start + size/2
	if header {
		mid = start + 1 // inside the page header's thrift fields
	}
	for i := mid; i < mid+32 && i < start+size; i++ {
		data[i] ^= 0xA5
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadCorruptPage(t *testing.T) {
	tests := []struct {
		name   string
		codec  compress.Compression
		col    int
		cols   []string
		header bool
	}{
		{name: "zstd float column", codec: compress.Codecs.Zstd, col: 1, cols: []string{"id", "x"}},
		{name: "gzip string column", codec: compress.Codecs.Gzip, col: 2, cols: []string{"s"}},
		{name: "zstd int column", codec: compress.Codecs.Zstd, col: 0, cols: []string{"id", "x", "s"}},
		{name: "page header", codec: compress.Codecs.Zstd, col: 1, cols: []string{"x"}, header: true},
		{name: "uncompressed page header", codec: compress.Codecs.Uncompressed, col: 0, cols: []string{"id"}, header: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeRows(t, filepath.Join(dir, "a.parquet"), 0, 100, fileOpts{codec: tt.codec})
			bad := filepath.Join(dir, "b.parquet")
			writeRows(t, bad, 0, 20000, fileOpts{codec: tt.codec})
			corruptMiddle(t, bad, tt.col, tt.header)
			src, err := Open(filepath.Join(dir, "*.parquet"))
			if err != nil {
				t.Fatalf("footer is intact, Open should pass: %v", err)
			}
			mem := checkedAlloc(t)
			var rows int64
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("panic escaped Read: %v", r)
					}
				}()
				err = src.Read(context.Background(), tt.cols, 4096, mem, func(rec arrow.Record, _ string, _ int64) error {
					rows += rec.NumRows()
					rec.Release()
					return nil
				})
			}()
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Read = %v after %d rows, want ErrCorrupt", err, rows)
			}
			if !strings.Contains(err.Error(), bad) {
				t.Errorf("error does not name %s: %v", bad, err)
			}
			t.Log(err)
		})
	}
}

// fieldsOf renders names and types only: the Parquet round trip adds
// field-id metadata.
func fieldsOf(s *arrow.Schema) string {
	var b strings.Builder
	for _, f := range s.Fields() {
		fmt.Fprintf(&b, "%s:%s,", f.Name, f.Type)
	}
	return b.String()
}

// TestReadWideCorruptColumn: a corrupted compressed page, on which the
// zstd decoder panics, fails the read with ErrCorrupt naming the file and
// the column.
func TestReadWideCorruptColumn(t *testing.T) {
	fields := []arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}
	for i := range 10 {
		fields = append(fields, arrow.Field{Name: fmt.Sprintf("x%d", i), Type: arrow.PrimitiveTypes.Float64})
	}
	schema := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	for r := range 20000 {
		b.Field(0).(*array.Int64Builder).Append(int64(r))
		for c := 1; c < len(fields); c++ {
			b.Field(c).(*array.Float64Builder).Append(float64((r * c) % 37))
		}
	}
	rec := b.NewRecord()
	b.Release()
	path := filepath.Join(t.TempDir(), "wide.parquet")
	writeParquet(t, path, fileOpts{schema: schema, codec: compress.Codecs.Zstd}, rec)
	rec.Release()

	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := pf.MetaData().RowGroup(0).ColumnChunk(4) // x3
	if err != nil {
		t.Fatal(err)
	}
	start, size := cc.DataPageOffset(), cc.TotalCompressedSize()
	pf.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := start + size/2; i < start+size-4; i++ {
		data[i] ^= 0x5a
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}

	src, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fields {
		names = append(names, f.Name)
	}
	mem := checkedAlloc(t)
	err = src.Read(context.Background(), names, 4096, mem, func(rec arrow.Record, _ string, _ int64) error {
		rec.Release()
		return nil
	})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `"x3"`) {
		t.Fatalf("read of a corrupted column: %v", err)
	}
	t.Log(err)
}
