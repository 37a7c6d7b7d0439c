package parquetio

import (
	"os"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/batchscore/batchscore/io/parquetio/internal/bufpool"
)

// readPool holds the buffers of fixed-width columns between chunks, for
// every read of the process (bufpool says why). BATCHSCORE_DEBUG_POISON=1
// fills released buffers with 0xff bytes, so that a read after release
// shows as NaN or -1 in results; the end-to-end tests set it.
var readPool = bufpool.New(os.Getenv("BATCHSCORE_DEBUG_POISON") == "1")

// PooledBytes is how much of the read pool is handed out and not yet
// released: zero when every record read has been released.
func PooledBytes() int64 { return readPool.InUse() }

// ReleasePooled gives the read pool's memory back to the kernel if no
// record read is still held, and says whether it did. batchscore serve
// calls it after each run.
func ReleasePooled() bool { return readPool.Release() }

// fileReaders reads a file's fixed-width columns into pooled buffers and
// the rest (strings, binary, dictionaries) with the caller's allocator: a
// string from a column aliases its buffer, and a pooled buffer is reused
// as soon as its record is released, which the Go heap never does.
type fileReaders struct {
	*pqarrow.FileReader // the caller's allocator
	pooled              *pqarrow.FileReader
}

func newFileReaders(pf *file.Reader, props pqarrow.ArrowReadProperties, mem memory.Allocator) (*fileReaders, error) {
	fr, err := pqarrow.NewFileReader(pf, props, mem)
	if err != nil {
		return nil, err
	}
	pooled, err := pqarrow.NewFileReader(pf, props, readPool)
	if err != nil {
		return nil, err
	}
	return &fileReaders{fr, pooled}, nil
}

// forField is the reader for top-level field fi.
func (r *fileReaders) forField(fi int) *pqarrow.FileReader {
	if arrow.IsPrimitive(r.Manifest.Fields[fi].Field.Type.ID()) {
		return r.pooled
	}
	return r.FileReader
}
