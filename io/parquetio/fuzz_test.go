package parquetio

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
)

// fuzzSeedFiles are the small files of the hostile corpus: big seeds only
// slow each run down.
var fuzzSeedFiles = []string{
	"byte_stream_split.parquet", "zero_rows.parquet", "duckdb_empty.parquet", "duplicate_names.parquet",
	"int96_timestamps.parquet", "dotted_name_clash.parquet", "empty_row_group.parquet", "float16.parquet",
	"nested_only.parquet", "invalid_utf8.parquet", "misc_types.parquet", "duckdb_odd_types.parquet",
	"duckdb_v2.parquet", "magic_zero_footer.parquet",
}

// smallSeed writes 20 rows of testSchema with the given writer settings.
func smallSeed(f *testing.F, p ...parquet.WriterProperty) []byte {
	rec := makeRecord(memory.DefaultAllocator, 0, 20)
	defer rec.Release()
	var buf bytes.Buffer
	w, err := pqarrow.NewFileWriter(testSchema, &buf, parquet.NewWriterProperties(append(p, parquet.WithMaxRowGroupLength(8))...), pqarrow.DefaultWriterProps())
	if err != nil {
		f.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		f.Fatal(err)
	}
	if err := w.Close(); err != nil {
		f.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzOpen writes the bytes as a .parquet file and runs Open and Read of
// every column on it: either may fail, naming the file, but neither may
// panic, hang or take the process down. The same bytes go through the
// page-header parser of the page walk, which must not panic either and
// never claims more bytes than it was given.
func FuzzOpen(f *testing.F) {
	for _, name := range fuzzSeedFiles {
		data, err := os.ReadFile(filepath.Join(hostileDir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(smallSeed(f, parquet.WithCompression(compress.Codecs.Snappy)))
	f.Add(smallSeed(f, parquet.WithCompression(compress.Codecs.Zstd), parquet.WithDataPageVersion(parquet.DataPageV2)))
	f.Add(smallSeed(f, parquet.WithDictionaryDefault(false), parquet.WithEncodingFor("id", parquet.Encodings.DeltaBinaryPacked),
		parquet.WithEncodingFor("s", parquet.Encodings.DeltaByteArray)))
	f.Add(smallSeed(f, parquet.WithDictionaryDefault(false), parquet.WithEncodingFor("s", parquet.Encodings.DeltaLengthByteArray),
		parquet.WithDataPageVersion(parquet.DataPageV2)))
	f.Fuzz(func(t *testing.T, data []byte) {
		if h, err := parsePageHeader(data); err == nil && (h.size < 1 || h.size > len(data)) {
			t.Fatalf("page header of %d bytes in %d", h.size, len(data))
		}
		path := filepath.Join(t.TempDir(), "fuzz.parquet")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		const limit = 10 * time.Second
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		defer cancel()
		done := make(chan struct{})
		go func() {
			defer close(done)
			openAndRead(ctx, t, path)
		}()
		select {
		case <-done:
		case <-time.After(limit + 5*time.Second):
			t.Fatalf("Open and Read of %d bytes hung", len(data))
		}
	})
}

func openAndRead(ctx context.Context, t *testing.T, path string) {
	named := func(what string, err error) {
		if err != nil && !strings.Contains(err.Error(), path) && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: error does not name the file: %v", what, err)
		}
	}
	src, err := Open(path)
	if err != nil {
		named("Open", err)
		return
	}
	var cols []string
	for _, f := range src.Schema().Fields() {
		cols = append(cols, f.Name) // nested ones too: they must be refused, not crash
	}
	emit := func(rec arrow.Record, _ string, _ int64) error {
		rec.Release()
		return nil
	}
	named("Read", src.Read(ctx, cols, 64, memory.DefaultAllocator, emit))
	for _, c := range cols {
		named("Read "+c, src.Read(ctx, []string{c}, 64, memory.DefaultAllocator, emit))
	}
}
