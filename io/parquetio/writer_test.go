package parquetio

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/metadata"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
)

// writeAll writes records of the given sizes (ids counting up from 0)
// and closes the writer.
func writeAll(t *testing.T, dir, compression string, fileRows int64, mem memory.Allocator, sizes ...int64) []WrittenFile {
	t.Helper()
	return writeAllGroups(t, dir, compression, fileRows, 1, mem, sizes...)
}

// writeAllGroups is writeAll with row groups of at least groupRows rows.
func writeAllGroups(t *testing.T, dir, compression string, fileRows, groupRows int64, mem memory.Allocator, sizes ...int64) []WrittenFile {
	t.Helper()
	w, err := NewWriter(dir, testSchema, compression, fileRows, mem, RowGroupRows(groupRows))
	if err != nil {
		t.Fatal(err)
	}
	var start int64
	for _, n := range sizes {
		rec := makeRecord(mem, start, n)
		err := w.Write(rec)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
		start += n
	}
	files, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestWriterSplitsFiles(t *testing.T) {
	tests := []struct {
		name       string
		fileRows   int64
		sizes      []int64
		wantRows   []int64
		wantGroups []int // row groups per file
	}{
		{name: "25 rows in records of 7, split mid record", fileRows: 10, sizes: []int64{7, 7, 7, 4},
			wantRows: []int64{10, 10, 5}, wantGroups: []int{2, 2, 2}},
		{name: "one record over three files", fileRows: 10, sizes: []int64{25},
			wantRows: []int64{10, 10, 5}, wantGroups: []int{1, 1, 1}},
		{name: "exact multiple, no empty tail file", fileRows: 10, sizes: []int64{10, 10},
			wantRows: []int64{10, 10}, wantGroups: []int{1, 1}},
		{name: "empty records ignored", fileRows: 10, sizes: []int64{0, 3, 0, 3},
			wantRows: []int64{6}, wantGroups: []int{2}},
		{name: "one row per file", fileRows: 1, sizes: []int64{3},
			wantRows: []int64{1, 1, 1}, wantGroups: []int{1, 1, 1}},
		{name: "under the cap", fileRows: 4_000_000, sizes: []int64{100, 100},
			wantRows: []int64{200}, wantGroups: []int{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := checkedAlloc(t)
			dir := t.TempDir()
			files := writeAll(t, dir, "zstd", tt.fileRows, mem, tt.sizes...)

			var names []string
			var rows []int64
			for i, f := range files {
				names = append(names, f.Name)
				rows = append(rows, f.Rows)
				data, err := os.ReadFile(filepath.Join(dir, f.Name))
				if err != nil {
					t.Fatal(err)
				}
				sum := sha256.Sum256(data)
				if f.SHA256 != hex.EncodeToString(sum[:]) || f.Bytes != int64(len(data)) {
					t.Errorf("%s: WrittenFile says %d bytes %s; disk has %d bytes %x", f.Name, f.Bytes, f.SHA256, len(data), sum)
				}
				pf, err := file.OpenParquetFile(filepath.Join(dir, f.Name), false)
				if err != nil {
					t.Fatal(err)
				}
				if pf.NumRows() != f.Rows {
					t.Errorf("%s: footer %d rows, WrittenFile %d", f.Name, pf.NumRows(), f.Rows)
				}
				if g := pf.NumRowGroups(); i < len(tt.wantGroups) && g != tt.wantGroups[i] {
					t.Errorf("%s: %d row groups, want %d", f.Name, g, tt.wantGroups[i])
				}
				pf.Close()
			}
			wantNames := []string{}
			for i := range tt.wantRows {
				wantNames = append(wantNames, []string{"part-00000.parquet", "part-00001.parquet", "part-00002.parquet"}[i])
			}
			if !slices.Equal(names, wantNames) || !slices.Equal(rows, tt.wantRows) {
				t.Errorf("files %q rows %v, want %q %v", names, rows, wantNames, tt.wantRows)
			}
			onDisk, _ := filepath.Glob(filepath.Join(dir, "*"))
			if len(onDisk) != len(files) {
				t.Errorf("%d files on disk, %d listed: %q", len(onDisk), len(files), onDisk)
			}

			// Read back: the ids count up across the files, values intact.
			src, err := Open(filepath.Join(dir, "*.parquet"))
			if err != nil {
				t.Fatal(err)
			}
			var got []batch
			if err := src.Read(context.Background(), []string{"id", "x", "s"}, 1000, mem, collect(&got)); err != nil {
				t.Fatal(err)
			}
			var next int64
			for _, b := range got {
				for j, id := range b.ids {
					if id != next || b.xs[j] != xOf(id) || b.ss[j] != sOf(id) {
						t.Fatalf("row %d: id %d x %v s %q", next, id, b.xs[j], b.ss[j])
					}
					next++
				}
			}
			var total int64
			for _, n := range tt.sizes {
				total += n
			}
			if next != total {
				t.Errorf("read back %d rows, wrote %d", next, total)
			}
		})
	}
}

func TestWriterDeterministic(t *testing.T) {
	for _, compression := range []string{"zstd", "snappy", "gzip", "none"} {
		t.Run(compression, func(t *testing.T) {
			mem := checkedAlloc(t)
			a, b := t.TempDir(), t.TempDir()
			fa := writeAll(t, a, compression, 10, mem, 7, 7, 7, 4)
			fb := writeAll(t, b, compression, 10, mem, 7, 7, 7, 4)
			if len(fa) != 3 || !slices.Equal(fa, fb) {
				t.Fatalf("WrittenFiles differ:\n%+v\n%+v", fa, fb)
			}
			for _, f := range fa {
				da, _ := os.ReadFile(filepath.Join(a, f.Name))
				db, _ := os.ReadFile(filepath.Join(b, f.Name))
				if !bytes.Equal(da, db) {
					t.Errorf("%s differs between two writes of the same records", f.Name)
				}
			}
		})
	}
}

func TestWriterCompressions(t *testing.T) {
	tests := []struct {
		name    string
		wantErr bool
	}{
		{name: "zstd"}, {name: "snappy"}, {name: "gzip"}, {name: "none"},
		{name: "lz4", wantErr: true}, {name: "ZSTD", wantErr: true}, {name: "", wantErr: true}, {name: "uncompressed", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := checkedAlloc(t)
			dir := t.TempDir()
			w, err := NewWriter(dir, testSchema, tt.name, 100, mem)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), `"`+tt.name+`"`) {
					t.Fatalf("NewWriter(%q) = %v, want an error naming it", tt.name, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rec := makeRecord(mem, 0, 50)
			defer rec.Release()
			if err := w.Write(rec); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if src, err := Open(filepath.Join(dir, "*.parquet")); err != nil || src.Rows() != 50 {
				t.Fatalf("reading back: %v", err)
			}
		})
	}
}

func TestWriterEmptyClose(t *testing.T) {
	mem := checkedAlloc(t)
	dir := t.TempDir()
	w, err := NewWriter(dir, testSchema, "zstd", 10, mem, RowGroupRows(1))
	if err != nil {
		t.Fatal(err)
	}
	files, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Name != "part-00000.parquet" || files[0].Rows != 0 || files[0].Bytes == 0 {
		t.Fatalf("files = %+v, want one part-00000.parquet with 0 rows", files)
	}
	src, err := Open(filepath.Join(dir, "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if src.Rows() != 0 || fieldsOf(src.Schema()) != fieldsOf(testSchema) {
		t.Errorf("rows %d schema %s; want 0 rows and %s", src.Rows(), fieldsOf(src.Schema()), fieldsOf(testSchema))
	}
	if err := src.Read(context.Background(), []string{"id"}, 10, mem, func(rec arrow.Record, _ string, _ int64) error {
		defer rec.Release()
		if rec.NumRows() != 0 {
			t.Errorf("a %d-row batch from an empty file", rec.NumRows())
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestWriterAbort(t *testing.T) {
	tests := []struct {
		name  string
		sizes []int64
	}{
		{name: "nothing written", sizes: nil},
		{name: "mid first file", sizes: []int64{5}},
		{name: "after a finished file", sizes: []int64{15}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := checkedAlloc(t)
			w, err := NewWriter(t.TempDir(), testSchema, "zstd", 10, mem, RowGroupRows(1))
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range tt.sizes {
				rec := makeRecord(mem, 0, n)
				if err := w.Write(rec); err != nil {
					t.Fatal(err)
				}
				rec.Release()
			}
			w.Abort()
			w.Abort() // twice is harmless
		})
	}
}

// A writer into a folder that is gone fails on the first Write, naming the file.
func TestWriterMissingDir(t *testing.T) {
	mem := checkedAlloc(t)
	dir := filepath.Join(t.TempDir(), "gone")
	w, err := NewWriter(dir, testSchema, "zstd", 10, mem, RowGroupRows(1))
	if err != nil {
		t.Fatal(err)
	}
	rec := makeRecord(mem, 0, 3)
	defer rec.Release()
	if err := w.Write(rec); err == nil || !strings.Contains(err.Error(), "part-00000.parquet") {
		t.Fatalf("Write = %v, want an error naming the file", err)
	}
	w.Abort()
}

func TestNewWriterFileRows(t *testing.T) {
	for _, n := range []int64{0, -1} {
		if _, err := NewWriter(t.TempDir(), testSchema, "zstd", n, memory.DefaultAllocator); err == nil {
			t.Errorf("NewWriter(fileRows=%d) accepted", n)
		}
	}
}

// TestWriterDictionaryColumns: a string column the records carry
// dictionary-encoded (a run's constants) is written by its indices. The
// file says string, reads back as the same values as a plain column, is
// dictionary-encoded, and has its statistics; a record whose columns are
// not the file's is refused.
func TestWriterDictionaryColumns(t *testing.T) {
	mem := checkedAlloc(t)
	fields := append(testSchema.Fields(), arrow.Field{Name: "c", Type: arrow.BinaryTypes.String})
	schema := arrow.NewSchema(fields, nil)
	dictType := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	recFields := append(testSchema.Fields(), arrow.Field{Name: "c", Type: dictType})
	recSchema := arrow.NewSchema(recFields, nil)

	values := array.NewStringBuilder(mem)
	values.Append("run-1")
	dict := values.NewArray()
	values.Release()
	defer dict.Release()
	indices := array.NewInt32Builder(mem)
	indices.AppendValues(make([]int32, 7), nil)
	idx := indices.NewArray()
	indices.Release()
	defer idx.Release()
	constant := array.NewDictionaryArray(dictType, idx, dict)
	defer constant.Release()

	dir := t.TempDir()
	w, err := NewWriter(dir, schema, "zstd", 10, mem, RowGroupRows(1))
	if err != nil {
		t.Fatal(err)
	}
	var start int64
	for _, n := range []int64{7, 7, 7, 4} {
		base := makeRecord(mem, start, n)
		c := array.NewSlice(constant, 0, n)
		rec := array.NewRecord(recSchema, append(base.Columns(), c), n)
		err := w.Write(rec)
		rec.Release()
		c.Release()
		base.Release()
		if err != nil {
			t.Fatal(err)
		}
		start += n
	}
	base := makeRecord(mem, 0, 1)
	c := array.NewSlice(constant, 0, 1)
	wrong := array.NewRecord(arrow.NewSchema(append(testSchema.Fields(), arrow.Field{Name: "d", Type: dictType}), nil),
		append(base.Columns(), c), 1)
	if err := w.Write(wrong); err == nil || !strings.Contains(err.Error(), "record column 3 is d") {
		t.Errorf("a record with another column: %v", err)
	}
	wrong.Release()
	c.Release()
	base.Release()
	files, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	var rows int64
	for _, f := range files {
		path := filepath.Join(dir, f.Name)
		pf, err := file.OpenParquetFile(path, false)
		if err != nil {
			t.Fatal(err)
		}
		for rg := range pf.NumRowGroups() {
			chunk, err := pf.MetaData().RowGroup(rg).ColumnChunk(3)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(chunk.Encodings(), parquet.Encodings.RLEDict) {
				t.Errorf("%s row group %d: column c encodings %v, want dictionary", f.Name, rg, chunk.Encodings())
			}
			stats, err := chunk.Statistics()
			if err != nil || stats == nil || !stats.HasMinMax() {
				t.Errorf("%s row group %d: column c has no min/max (%v)", f.Name, rg, err)
			} else if mn := string(stats.(*metadata.ByteArrayStatistics).Min()); mn != "run-1" {
				t.Errorf("%s row group %d: column c min %q", f.Name, rg, mn)
			}
		}
		fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, mem)
		if err != nil {
			t.Fatal(err)
		}
		tbl, err := fr.ReadTable(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got := tbl.Schema().Field(3).Type; !arrow.TypeEqual(got, arrow.BinaryTypes.String) {
			t.Errorf("%s: column c reads back as %s", f.Name, got)
		}
		for _, ch := range tbl.Column(3).Data().Chunks() {
			s := ch.(*array.String)
			for i := range s.Len() {
				if s.Value(i) != "run-1" {
					t.Fatalf("%s: column c row %d is %q", f.Name, i, s.Value(i))
				}
			}
		}
		ids := tbl.Column(0).Data().Chunks()
		for _, ch := range ids {
			for _, id := range ch.(*array.Int64).Int64Values() {
				if id != rows {
					t.Fatalf("%s: id %d at row %d", f.Name, id, rows)
				}
				rows++
			}
		}
		tbl.Release()
		pf.Close()
	}
	if rows != 25 {
		t.Errorf("read %d rows, wrote 25", rows)
	}
}

// TestWriterDictionaryKey: a key column read as a dictionary (a pandas
// categorical) is a dictionary in the file too; records carrying it, and
// a constant dictionary column over a string one, are written.
func TestWriterDictionaryKey(t *testing.T) {
	mem := checkedAlloc(t)
	dictType := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	file := arrow.NewSchema([]arrow.Field{{Name: "k", Type: dictType}, {Name: "c", Type: arrow.BinaryTypes.String}}, nil)
	rec := arrow.NewSchema([]arrow.Field{{Name: "k", Type: dictType}, {Name: "c", Type: dictType}}, nil)
	dictOf := func(values []string, idx []int32) arrow.Array {
		vb := array.NewStringBuilder(mem)
		defer vb.Release()
		vb.AppendValues(values, nil)
		d := vb.NewArray()
		defer d.Release()
		ib := array.NewInt32Builder(mem)
		defer ib.Release()
		ib.AppendValues(idx, nil)
		i := ib.NewArray()
		defer i.Release()
		return array.NewDictionaryArray(dictType, i, d)
	}
	k := dictOf([]string{"a", "b", "c"}, []int32{0, 1, 2, 1})
	defer k.Release()
	c := dictOf([]string{"run-1"}, []int32{0, 0, 0, 0})
	defer c.Release()
	r := array.NewRecord(rec, []arrow.Array{k, c}, 4)
	defer r.Release()
	dir := t.TempDir()
	w, err := NewWriter(dir, file, "zstd", 100, mem, RowGroupRows(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(r); err != nil {
		t.Fatalf("a record with a dictionary key: %v", err)
	}
	files, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Rows != 4 {
		t.Fatalf("files %+v", files)
	}
}

// TestWriterCompressionLevel: zstd without a level is DefaultZstdLevel,
// byte for byte; another level writes other bytes that read back the same.
func TestWriterCompressionLevel(t *testing.T) {
	mem := checkedAlloc(t)
	write := func(level int) []byte {
		dir := t.TempDir()
		w, err := NewWriter(dir, testSchema, "zstd", 1000, mem, CompressionLevel(level))
		if err != nil {
			t.Fatal(err)
		}
		rec := makeRecord(mem, 0, 500)
		defer rec.Release()
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		files, err := w.Close()
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(dir, files[0].Name))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	def, one, high := write(0), write(DefaultZstdLevel), write(19)
	if !bytes.Equal(def, one) {
		t.Error("zstd without a level is not level DefaultZstdLevel")
	}
	if bytes.Equal(def, high) {
		t.Error("zstd level 19 wrote the same bytes as level 1")
	}
	path := filepath.Join(t.TempDir(), "high.parquet")
	if err := os.WriteFile(path, high, 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows int64
	err = src.Read(context.Background(), []string{"id", "x", "s"}, 100, mem, func(rec arrow.Record, _ string, _ int64) error {
		for i, id := range rec.Column(0).(*array.Int64).Int64Values() {
			if id != rows+int64(i) || rec.Column(1).(*array.Float64).Value(i) != xOf(id) {
				t.Fatalf("row %d reads back as id %d", rows+int64(i), id)
			}
		}
		rows += rec.NumRows()
		rec.Release()
		return nil
	})
	if err != nil || rows != 500 {
		t.Fatalf("read %d rows: %v", rows, err)
	}
}

// TestWriterJoinsShortRecords: records shorter than the row-group size are
// written together (many small chunks no longer make a file of tiny row
// groups), a file still holds fileRows rows, and every row is there, in
// order.
func TestWriterJoinsShortRecords(t *testing.T) {
	mem := checkedAlloc(t)
	dir := t.TempDir()
	sizes := make([]int64, 300)
	for i := range sizes {
		sizes[i] = 100 // 30,000 rows in chunks of 100
	}
	files := writeAllGroups(t, dir, "zstd", 20_000, 4096, mem, sizes...)
	if len(files) != 2 || files[0].Rows != 20_000 || files[1].Rows != 10_000 {
		t.Fatalf("files %+v, want 20,000 and 10,000 rows", files)
	}
	var next int64
	groups := 0
	for _, f := range files {
		pf, err := file.OpenParquetFile(filepath.Join(dir, f.Name), false)
		if err != nil {
			t.Fatal(err)
		}
		for rg := range pf.NumRowGroups() {
			n := pf.MetaData().RowGroup(rg).NumRows()
			groups++
			// 4,096 rows is 40.96 chunks: 41 of them, but where a file
			// fills up (its last group, the next file's first).
			if n < 4096 && rg != 0 && rg != pf.NumRowGroups()-1 {
				t.Errorf("%s: row group %d has %d rows, fewer than 4,096", f.Name, rg, n)
			}
		}
		pf.Close()
		src, err := Open(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		err = src.Read(context.Background(), []string{"id"}, 5000, memory.NewGoAllocator(), func(rec arrow.Record, _ string, _ int64) error {
			defer rec.Release()
			for _, id := range rec.Column(0).(*array.Int64).Int64Values() {
				if id != next {
					t.Fatalf("id %d where %d was due", id, next)
				}
				next++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if next != 30_000 || groups > 9 {
		t.Errorf("%d rows in %d row groups; want 30,000 in at most 9 (300 before)", next, groups)
	}
}
