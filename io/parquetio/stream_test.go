package parquetio

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
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
	if n := largest.Load(); n > max(localStreamBuffer, 1<<20+64<<10) {
		t.Errorf("largest read %d bytes: column chunks are read whole", n)
	}
}
