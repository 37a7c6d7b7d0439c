package parquetio

import (
	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/batchscore/batchscore/io/parquetio/internal/bufpool"
)

// BufferPool keeps the buffers of fixed-width columns between chunks, in
// memory mapped outside the Go heap (bufpool says why). It is an Arrow
// allocator of its own, beside the one Read is given: the caller creates
// one, passes it to every Open that should use it (WithBufferPool), reads
// its figures for the run's record and calls Release when no read is
// running. Without one, Read allocates everything with its allocator.
// A BufferPool is safe for concurrent use.
type BufferPool struct{ p *bufpool.Pool }

// BufferPoolOption changes a new BufferPool.
type BufferPoolOption func(*bufferPoolOptions)

type bufferPoolOptions struct{ poison bool }

// PoisonReleased makes the pool overwrite a released buffer with 0xff
// bytes until it is reused, so that a read after release shows as NaN or
// -1 in results instead of passing unnoticed. For tests; it costs a write
// of every released byte.
func PoisonReleased() BufferPoolOption {
	return func(o *bufferPoolOptions) { o.poison = true }
}

// NewBufferPool returns an empty pool; it maps memory on first use.
func NewBufferPool(opts ...BufferPoolOption) *BufferPool {
	var o bufferPoolOptions
	for _, opt := range opts {
		opt(&o)
	}
	return &BufferPool{bufpool.New(o.poison)}
}

// WithBufferPool makes Read take the buffers of fixed-width columns from
// p. Strings, binary values and dictionaries always come from Read's
// allocator: a Go string made from a column aliases its buffer, and a
// pooled buffer is reused as soon as its record is released.
// A nil pool, and a nil *BufferPool's methods, mean no pool.
func WithBufferPool(p *BufferPool) Option {
	return func(o *openOptions) { o.pool = p }
}

// InUse is how many bytes records read hold now: zero once every record
// read through the pool has been released.
func (p *BufferPool) InUse() int64 {
	if p == nil {
		return 0
	}
	return p.p.InUse()
}

// Peak is the most bytes records held at one time since the pool was
// made: for a process that runs one job, what its read cost in pooled
// memory; in a daemon, the most its overlapping runs held together.
func (p *BufferPool) Peak() int64 {
	if p == nil {
		return 0
	}
	return p.p.Peak()
}

// Mapped is the address space the pool has mapped, its high-water mark
// over its life; after Release the kernel holds none of it.
func (p *BufferPool) Mapped() int64 {
	if p == nil {
		return 0
	}
	return p.p.Mapped()
}

// Release gives the pool's memory back to the kernel if no record read
// through it is still held, and says whether it did. A daemon calls it
// between runs, so that it does not hold one run's peak until the next.
func (p *BufferPool) Release() bool {
	if p == nil {
		return true
	}
	return p.p.Release()
}

// fileReaders reads a file's fixed-width columns into pooled buffers and
// the rest (strings, binary, dictionaries) with the caller's allocator: a
// string from a column aliases its buffer, and a pooled buffer is reused
// as soon as its record is released, which the Go heap never does.
type fileReaders struct {
	*pqarrow.FileReader // the caller's allocator
	pooled              *pqarrow.FileReader
}

func newFileReaders(pf *file.Reader, props pqarrow.ArrowReadProperties, mem memory.Allocator, pool *BufferPool) (*fileReaders, error) {
	fr, err := pqarrow.NewFileReader(pf, props, mem)
	if err != nil {
		return nil, err
	}
	if pool == nil {
		return &fileReaders{fr, fr}, nil
	}
	pooled, err := pqarrow.NewFileReader(pf, props, pool.p)
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
