package parquetio

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

func TestFingerprint(t *testing.T) {
	dir := t.TempDir()
	snap := filepath.Join(dir, "date=2026-11-20")
	for i, name := range []string{"a.parquet", "b.parquet", "c/d.parquet"} {
		writeRows(t, filepath.Join(snap, name), int64(i)*100, 50, fileOpts{})
	}
	pattern := filepath.Join(dir, "date=*", "*.parquet")
	fingerprint := func(t *testing.T, workers int) (string, *Source) {
		t.Helper()
		src, err := Open(pattern, WithHashWorkers(workers))
		if err != nil {
			t.Fatal(err)
		}
		fp, err := src.Fingerprint(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return fp, src
	}

	fp, src := fingerprint(t, 4)
	if hexPart, ok := strings.CutPrefix(fp, FingerprintVersion+"sha256:"); !ok || len(hexPart) != 64 {
		t.Fatalf("fingerprint %q is not sha256 hex", fp)
	}
	t.Run("per file checksums and names", func(t *testing.T) {
		want := []string{"date=2026-11-20/a.parquet", "date=2026-11-20/b.parquet"}
		files := src.Files()
		if len(files) != len(want) {
			t.Fatalf("%d files, want %d", len(files), len(want))
		}
		for i, f := range files {
			if f.Name != want[i] {
				t.Errorf("Name = %q, want %q", f.Name, want[i])
			}
			if hexPart, ok := strings.CutPrefix(f.SHA256, "read:"); !ok || len(hexPart) != 64 {
				t.Errorf("%s: checksum %q is not read:<hex>", f.Name, f.SHA256)
			}
		}
	})
	t.Run("stable", func(t *testing.T) {
		for _, workers := range []int{0, 1, 2, 16} {
			if got, _ := fingerprint(t, workers); got != fp {
				t.Errorf("workers=%d: fingerprint %s, want %s", workers, got, fp)
			}
		}
		if again, err := src.Fingerprint(context.Background()); err != nil || again != fp {
			t.Errorf("second call on one Source: %s, %v", again, err)
		}
	})
	t.Run("one byte changed, same size", func(t *testing.T) {
		p := filepath.Join(snap, "b.parquet")
		orig, _ := os.ReadFile(p)
		t.Cleanup(func() { os.WriteFile(p, orig, 0o644) })
		changed := append([]byte(nil), orig...)
		changed[len(changed)/2] ^= 1
		os.WriteFile(p, changed, 0o644)
		if got, _ := fingerprint(t, 2); got == fp {
			t.Error("content changed, fingerprint did not")
		}
	})
	t.Run("file renamed", func(t *testing.T) {
		from, to := filepath.Join(snap, "b.parquet"), filepath.Join(snap, "b2.parquet")
		os.Rename(from, to)
		t.Cleanup(func() { os.Rename(to, from) })
		if got, _ := fingerprint(t, 2); got == fp {
			t.Error("file renamed, fingerprint did not change")
		}
	})
	t.Run("file grew after Open", func(t *testing.T) {
		src, err := Open(pattern)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(snap, "a.parquet")
		orig, _ := os.ReadFile(p)
		t.Cleanup(func() { os.WriteFile(p, orig, 0o644) })
		os.WriteFile(p, append(append([]byte(nil), orig...), 0), 0o644)
		if _, err := src.Fingerprint(context.Background()); err == nil {
			t.Error("size changed between Open and Fingerprint: no error")
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		src, err := Open(pattern)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := src.Fingerprint(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Fingerprint = %v, want context.Canceled", err)
		}
	})
}

// TestFingerprintCoversWhatIsRead: the fingerprint changes with any byte
// Read decodes (a value of a column read) and with the footer (its
// key-value metadata), and not with the bytes of a column the job does not
// read; it hashes no more than the footer and the chunks read.
func TestFingerprintCoversWhatIsRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.parquet")
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "x", Type: arrow.PrimitiveTypes.Float64},
		{Name: "wide", Type: arrow.BinaryTypes.String},
	}, nil)
	write := func(t *testing.T, x func(int) float64, wide func(int) string, meta string) {
		t.Helper()
		b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		defer b.Release()
		for i := range 20_000 {
			b.Field(0).(*array.Int64Builder).Append(int64(i))
			b.Field(1).(*array.Float64Builder).Append(x(i))
			b.Field(2).(*array.StringBuilder).Append(wide(i))
		}
		rec := b.NewRecord()
		defer rec.Release()
		writeParquet(t, path, fileOpts{schema: withMeta(schema, meta), rowGroup: 5000}, rec)
	}
	x := func(i int) float64 { return float64(i) / 3 }
	wide := func(i int) string { return strings.Repeat("w", 40) + string(rune('a'+i%26)) }
	fp := func(t *testing.T, cols []string) (string, int64) {
		t.Helper()
		src, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		src.FingerprintColumns(cols)
		sum, err := src.Fingerprint(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ranges, ok := readRanges(mustOpen(t, path), src.Files()[0].Size, cols)
		if !ok {
			t.Fatal("the footer was not mapped to byte ranges")
		}
		var n int64
		for _, r := range ranges {
			n += r.size
		}
		return sum, n
	}
	read := []string{"id", "x"}
	write(t, x, wide, "one")
	base, hashed := fp(t, read)
	all, hashedAll := fp(t, nil)
	if base == all {
		t.Error("the fingerprint of two columns equals that of all three")
	}
	st, _ := os.Stat(path)
	// The wide column is most of the file: hashing two columns reads
	// less than half of it, and every column all but the magic and the
	// 4 bytes before the first chunk.
	if hashed > st.Size()/2 || hashedAll < st.Size()-8 {
		t.Errorf("hashed %d bytes of two columns, %d of all, of a %d-byte file", hashed, hashedAll, st.Size())
	}

	write(t, x, func(i int) string { return wide(i + 1) }, "one")
	if got, _ := fp(t, read); got != base {
		t.Error("a column the job does not read changed the fingerprint")
	}
	if got, _ := fp(t, nil); got == all {
		t.Error("every column fingerprinted: a changed column did not change it")
	}
	write(t, func(i int) float64 {
		if i == 12_345 {
			return 0.5
		}
		return x(i)
	}, wide, "one")
	if got, _ := fp(t, read); got == base {
		t.Error("one value of a column read changed, the fingerprint did not")
	}
	write(t, x, wide, "two")
	if got, _ := fp(t, read); got == base {
		t.Error("the footer's key-value metadata changed, the fingerprint did not")
	}
	write(t, x, wide, "one")
	if got, _ := fp(t, read); got != base {
		t.Error("the same file written again: another fingerprint")
	}

	// A byte flipped inside the chunk of x: the fingerprint changes even
	// though the footer does not.
	ranges, _ := readRanges(mustOpen(t, path), st.Size(), []string{"x"})
	data, _ := os.ReadFile(path)
	data[ranges[1].start+ranges[1].size-1] ^= 1
	os.WriteFile(path, data, 0o644)
	if got, _ := fp(t, read); got == base {
		t.Error("a byte of a chunk read flipped, the fingerprint did not change")
	}

	t.Run("Read takes only fingerprinted columns", func(t *testing.T) {
		src, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		src.FingerprintColumns([]string{"id"})
		if _, err := src.Fingerprint(context.Background()); err != nil {
			t.Fatal(err)
		}
		err = src.Read(context.Background(), []string{"id", "x"}, 100, checkedAlloc(t), func(rec arrow.Record, _ string, _ int64) error {
			rec.Release()
			return nil
		})
		if err == nil || !strings.Contains(err.Error(), `"x"`) {
			t.Errorf("Read of a column not fingerprinted: %v", err)
		}
	})
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func withMeta(s *arrow.Schema, v string) *arrow.Schema {
	md := arrow.NewMetadata([]string{"k"}, []string{v})
	return arrow.NewSchema(s.Fields(), &md)
}
