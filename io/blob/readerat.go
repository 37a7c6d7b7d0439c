package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	gcblob "gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// DefaultTailWindow is how much of an object's end a small read there
// fetches. A Parquet reader reads the end three times (magic, footer
// length, footer): one GET instead of three, for about the cost of one
// small GET. Elsewhere a window wastes bytes: a small page-header check
// in the middle of a column chunk would fetch a whole window of it for no
// fewer GETs.
const DefaultTailWindow = 64 << 10

// ReaderAt reads one object with ranged GETs. It is the io.ReaderAt and
// io.Seeker that arrow's file.NewParquetReader needs, and an io.Reader
// and io.Closer.
//
// Each ReadAt is one ranged GET, except near the end: a small read in the
// object's last DefaultTailWindow bytes fetches all of them, and later
// reads there are served from memory. A GET that returns fewer bytes than
// asked is an error naming the object, never a short read.
//
// Opened with an ETag, every GET carries If-Match: once the object is
// replaced, reads fail with ErrChanged instead of mixing bytes of the old
// and the new object. A size different from the one it was opened with is
// ErrChanged too.
//
// ReadAt may be called concurrently (io.ReaderAt's contract); Read and
// Seek share one position and may not. Every read uses the context given
// when it was opened.
type ReaderAt struct {
	ctx       context.Context
	bucket    *Bucket
	ownBucket bool
	obj       Object
	name      string
	tail      int // bytes of the tail window
	opts      *gcblob.ReaderOptions

	mu     sync.Mutex // guards window and pos
	winOff int64
	win    []byte
	pos    int64

	closed      atomic.Bool
	gets, bytes atomic.Int64
}

// ReadOption configures a ReaderAt.
type ReadOption func(*ReaderAt)

// withTailWindow sets the tail window's size; 0 makes every read one GET.
func withTailWindow(n int) ReadOption { return func(r *ReaderAt) { r.tail = max(n, 0) } }

// newReaderAt reads obj (as List or Attributes returned it) through b and
// sends no request now. Closing it leaves b open.
func (b *Bucket) newReaderAt(ctx context.Context, obj Object, opts ...ReadOption) *ReaderAt {
	r := &ReaderAt{ctx: ctx, bucket: b, obj: obj, name: b.URL(obj.Key), tail: DefaultTailWindow}
	for _, o := range opts {
		o(r)
	}
	r.opts = &gcblob.ReaderOptions{BeforeRead: r.pin}
	return r
}

// OpenReaderAt opens the object at objectURL in a bucket of its own, which
// Close closes. With want nil it asks the store for the object's size and
// ETag (one HEAD request); with want given, as List returned it, it sends
// no request and reads only that version of the object.
func OpenReaderAt(ctx context.Context, objectURL string, want *Object, opts ...ReadOption) (*ReaderAt, error) {
	bucketURL, key, err := Split(objectURL)
	if err != nil {
		return nil, err
	}
	b, err := Open(ctx, bucketURL)
	if err != nil {
		return nil, err
	}
	var obj Object
	if want != nil {
		obj = *want
		obj.Key = key
	} else if obj, err = b.Attributes(ctx, key); err != nil {
		return nil, errors.Join(err, b.Close())
	}
	r := b.newReaderAt(ctx, obj, opts...)
	r.ownBucket = true
	return r, nil
}

// pin makes every GET conditional on the ETag the reader was opened with.
// Only s3blob exposes the request; other drivers read unpinned.
func (r *ReaderAt) pin(as func(any) bool) error {
	var in *s3.GetObjectInput
	if r.obj.ETag != "" && as(&in) {
		in.IfMatch = aws.String(r.obj.ETag)
	}
	return nil
}

// Size is the object's size in bytes, as the reader was opened with.
func (r *ReaderAt) Size() int64 { return r.obj.Size }

// fetched counts the GETs sent and the bytes they returned.
func (r *ReaderAt) fetched() (gets, bytes int64) { return r.gets.Load(), r.bytes.Load() }

// ReadAt reads len(p) bytes at off; fewer, with io.EOF, only at the end
// of the object.
func (r *ReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if r.closed.Load() {
		return 0, fmt.Errorf("reading %s: %w", r.name, os.ErrClosed)
	}
	if off < 0 {
		return 0, fmt.Errorf("reading %s: negative offset %d", r.name, off)
	}
	size := r.obj.Size
	if off >= size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), size-off))
	var err error
	switch {
	case r.fromWindow(p[:n], off):
	case n < r.tail && off >= size-int64(r.tail):
		err = r.fillWindow(p[:n], off)
	default:
		err = r.fetch(p[:n], off)
	}
	if err != nil {
		return 0, err
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (r *ReaderAt) fromWindow(p []byte, off int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if off < r.winOff || off+int64(len(p)) > r.winOff+int64(len(r.win)) {
		return false
	}
	copy(p, r.win[off-r.winOff:])
	return true
}

// fillWindow fetches the tail window, which holds [off, off+len(p)), and
// keeps it; the lock is not held during the GET, so concurrent readers
// never wait on each other's requests.
func (r *ReaderAt) fillWindow(p []byte, off int64) error {
	start := max(r.obj.Size-int64(r.tail), 0)
	win := make([]byte, r.obj.Size-start)
	if err := r.fetch(win, start); err != nil {
		return err
	}
	copy(p, win[off-start:])
	r.mu.Lock()
	r.winOff, r.win = start, win
	r.mu.Unlock()
	return nil
}

// fetch is one ranged GET filling all of p.
func (r *ReaderAt) fetch(p []byte, off int64) error {
	r.gets.Add(1)
	rr, err := r.bucket.b.NewRangeReader(r.ctx, r.obj.Key, off, int64(len(p)), r.opts)
	if err != nil {
		return r.readErr(off, len(p), err)
	}
	defer rr.Close()
	if got := rr.Size(); got != r.obj.Size {
		return fmt.Errorf("reading %s: %w since it was opened: %d bytes, %d then", r.name, ErrChanged, got, r.obj.Size)
	}
	got, err := io.ReadFull(rr, p)
	r.bytes.Add(int64(got))
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("reading %s: the ranged read of bytes [%d, +%d) returned %d: %w", r.name, off, len(p), got, io.ErrUnexpectedEOF)
	case err != nil:
		return r.readErr(off, len(p), err)
	}
	return nil
}

func (r *ReaderAt) readErr(off int64, n int, err error) error {
	if gcerrors.Code(err) == gcerrors.FailedPrecondition { // If-Match lost
		return fmt.Errorf("reading %s: %w since it was opened: its ETag is no longer %s", r.name, ErrChanged, r.obj.ETag)
	}
	return r.bucket.wrap(fmt.Sprintf("reading bytes [%d, +%d) of", off, n), r.obj.Key, err)
}

// Read reads from the current position (io.Reader).
func (r *ReaderAt) Read(p []byte) (int, error) {
	r.mu.Lock()
	pos := r.pos
	r.mu.Unlock()
	n, err := r.ReadAt(p, pos)
	r.mu.Lock()
	r.pos = pos + int64(n)
	r.mu.Unlock()
	return n, err
}

// Seek sets the position for Read (io.Seeker); it sends no request.
func (r *ReaderAt) Seek(offset int64, whence int) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.pos
	case io.SeekEnd:
		offset += r.obj.Size
	default:
		return r.pos, fmt.Errorf("seeking %s: bad whence %d", r.name, whence)
	}
	if offset < 0 {
		return r.pos, fmt.Errorf("seeking %s: negative position %d", r.name, offset)
	}
	r.pos = offset
	return offset, nil
}

// Close ends reading; it closes the bucket too when OpenReaderAt opened
// it. A second Close does nothing.
func (r *ReaderAt) Close() error {
	if r.closed.Swap(true) || !r.ownBucket {
		return nil
	}
	return r.bucket.Close()
}
