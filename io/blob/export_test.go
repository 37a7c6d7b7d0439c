package blob

import "context"

// Handles on unexported parts for the tests of package blob_test, which
// read a bucket the way other packages do.

func (b *Bucket) NewReaderAt(ctx context.Context, obj Object, opts ...ReadOption) *ReaderAt {
	return b.newReaderAt(ctx, obj, opts...)
}

func WithTailWindow(n int) ReadOption { return withTailWindow(n) }

func (r *ReaderAt) Fetched() (gets, bytes int64) { return r.fetched() }

func (r *ReaderAt) ETag() string { return r.obj.ETag }
