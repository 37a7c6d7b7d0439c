package parquetio

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// spyLocation records the largest single read of a file Read makes.
type spyLocation struct {
	location
	largest *atomic.Int64
}

func (s spyLocation) openNow(f *File) (fileReader, error) {
	r, err := s.location.openNow(f)
	return spyReader{r, s.largest}, err
}

type spyReader struct {
	fileReader
	largest *atomic.Int64
}

func (s spyReader) ReadAt(p []byte, off int64) (int, error) {
	for n := int64(len(p)); ; {
		old := s.largest.Load()
		if n <= old || s.largest.CompareAndSwap(old, n) {
			break
		}
	}
	return s.fileReader.ReadAt(p, off)
}

// TestReadStreamsColumnChunks: a row group far larger than chunk_rows is
// read a buffer or a page at a time, not a column chunk at a time (which
// made memory grow with the largest row group); the rows still all come.
func TestReadStreamsColumnChunks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.parquet")
	const rows = 400_000 // one row group: 3.2 MB per numeric column
	writeRows(t, path, 0, rows, fileOpts{rowGroup: rows})
	src, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var largest atomic.Int64
	src.files[0].loc = spyLocation{src.files[0].loc, &largest}
	var got, next int64
	err = src.Read(context.Background(), []string{"id", "x", "s"}, 4096, checkedAlloc(t), func(rec arrow.Record, _ string, off int64) error {
		defer rec.Release()
		if off != next || rec.NumRows() > 4096 {
			t.Fatalf("chunk at %d of %d rows, want at %d and at most 4096", off, rec.NumRows(), next)
		}
		next += rec.NumRows()
		got += rec.NumRows()
		return nil
	})
	if err != nil || got != rows {
		t.Fatalf("read %d rows: %v", got, err)
	}
	// A read is a buffer's fill or one page (arrow-go writes pages of
	// about 1 MiB); a column chunk here is 3.2 MB or more.
	if n := largest.Load(); n > max(minStreamBuffer, 1<<20+64<<10) {
		t.Errorf("largest read %d bytes: column chunks are read whole", n)
	}
}

// TestReadJoinsSmallRowGroups: a file of many small row groups is read in
// chunks of chunkRows rows, not one chunk per group, and each chunk's
// (file, offset) still names its rows exactly; a shard joins only the
// groups it reads, and every shard's chunks together are the file's rows.
func TestReadJoinsSmallRowGroups(t *testing.T) {
	dir := t.TempDir()
	writeRows(t, filepath.Join(dir, "a.parquet"), 0, 5000, fileOpts{rowGroup: 50})       // 100 groups
	writeRows(t, filepath.Join(dir, "b.parquet"), 100_000, 1500, fileOpts{rowGroup: 50}) // 30 groups
	base := map[string]int64{"a.parquet": 0, "b.parquet": 100_000}
	type chunk struct {
		file      string
		off, rows int64
	}
	read := func(t *testing.T, shard, of int) []chunk {
		t.Helper()
		src, err := Open(filepath.Join(dir, "*.parquet"))
		if err != nil {
			t.Fatal(err)
		}
		if of > 1 {
			if _, err := src.Shard(shard, of); err != nil {
				t.Fatal(err)
			}
		}
		var got []chunk
		err = src.Read(context.Background(), []string{"id", "x"}, 512, checkedAlloc(t), func(rec arrow.Record, where string, off int64) error {
			defer rec.Release()
			name := filepath.Base(where)
			ids := rec.Column(0).(*array.Int64).Int64Values()
			for i, id := range ids {
				if want := base[name] + off + int64(i); id != want {
					t.Fatalf("%s row %d holds id %d, want %d", name, off+int64(i), id, want)
				}
			}
			got = append(got, chunk{name, off, rec.NumRows()})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	whole := read(t, 0, 1)
	// 5,000 rows: 9 chunks of 512 and one of 392; 1,500: 2 and one of 476.
	if len(whole) != 13 || whole[9] != (chunk{"a.parquet", 4608, 392}) || whole[12] != (chunk{"b.parquet", 1024, 476}) {
		t.Errorf("chunks %v, want 13 (130 row groups of 50 rows before)", whole)
	}
	var rows int64
	seen := map[chunk]bool{}
	for k := range 2 {
		for _, c := range read(t, k, 2) {
			if seen[c] {
				t.Errorf("shard %d: chunk %v read twice", k, c)
			}
			seen[c] = true
			rows += c.rows
		}
	}
	if rows != 6500 {
		t.Errorf("the two shards read %d rows, want 6,500", rows)
	}
}

// TestOpenKeepsLittlePerFile: once its footer is checked, a file keeps
// its counts and a schema shared with the files before it, not its own
// copy: memory per file of a snapshot of many small files stays small.
func TestOpenKeepsLittlePerFile(t *testing.T) {
	dir := t.TempDir()
	const files = 300
	for i := range files {
		writeRows(t, filepath.Join(dir, fmt.Sprintf("p-%04d.parquet", i)), int64(i)*10, 10, fileOpts{})
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	src, err := Open(filepath.Join(dir, "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	perFile := (int64(ms.HeapAlloc) - int64(before)) / files
	for _, f := range src.Files()[1:] {
		if f.schema != src.Files()[0].schema {
			t.Fatalf("%s has its own copy of the schema", f.Name)
		}
	}
	if perFile > 4<<10 {
		t.Errorf("Open keeps %d bytes per file", perFile)
	}
	runtime.KeepAlive(src)
}
