package blob

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	gcblob "gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// Upload streams the file at localPath to key, replacing any object
// there. Large files go up in parts (the SDK's transfer manager), never
// whole in memory.
func (b *Bucket) Upload(ctx context.Context, key, localPath string) error {
	f, err := os.Open(localPath)
	if err != nil {
		return fmt.Errorf("uploading to %s: %w", b.URL(key), err)
	}
	defer f.Close()
	// gocloud sniffs no type when streaming: say it is bytes.
	opts := &gcblob.WriterOptions{ContentType: "application/octet-stream"}
	if err := b.b.Upload(ctx, key, f, opts); err != nil {
		return b.wrap(fmt.Sprintf("uploading %s to", localPath), key, err)
	}
	return nil
}

// WriteIfAbsent writes data to key unless an object is there already, in
// one request the store decides (S3's If-None-Match: *): of two writers
// racing, one gets ErrExists and the object is the other's.
//
// A store may refuse a large body before reading it and close the
// connection (MinIO does), so the refusal arrives as a reset: a large
// write asks first whether the key is taken, and a failed write looks at
// what is there. Equal bytes could be this write's own, landed with its
// answer lost: that stays the write's error, for the caller to settle.
func (b *Bucket) WriteIfAbsent(ctx context.Context, key string, data []byte) error {
	exists := fmt.Errorf("writing %s: %w", b.URL(key), ErrExists)
	if len(data) > 1<<20 {
		if taken, err := b.b.Exists(ctx, key); err == nil && taken {
			return exists
		}
	}
	err := b.b.WriteAll(ctx, key, data, &gcblob.WriterOptions{IfNotExist: true})
	if gcerrors.Code(err) == gcerrors.FailedPrecondition {
		return exists
	}
	if err != nil {
		if got, rerr := b.b.ReadAll(ctx, key); rerr == nil && !bytes.Equal(got, data) {
			return exists
		}
		return b.wrap("writing", key, err)
	}
	return nil
}

// WriteIfMatch replaces the object at key with data only while its ETag
// is etag (S3's If-Match on PUT): ErrChanged when another writer replaced
// it since etag was read, ErrNotFound when it is gone.
//
// gocloud's portable WriterOptions has no If-Match (only IfNotExist), so
// this sets it on the S3 request that s3blob exposes through BeforeWrite;
// for another driver it returns ErrUnsupported and writes nothing.
func (b *Bucket) WriteIfMatch(ctx context.Context, key string, data []byte, etag string) error {
	if etag == "" {
		return fmt.Errorf("writing %s: WriteIfMatch needs an ETag", b.URL(key))
	}
	pinned := false
	opts := &gcblob.WriterOptions{BeforeWrite: func(as func(any) bool) error {
		var in *transfermanager.UploadObjectInput
		if !as(&in) {
			return ErrUnsupported
		}
		in.IfMatch = aws.String(etag)
		pinned = true
		return nil
	}}
	err := b.b.WriteAll(ctx, key, data, opts)
	switch {
	case !pinned:
		return fmt.Errorf("writing %s if its ETag is %s: %w", b.URL(key), etag, ErrUnsupported)
	case gcerrors.Code(err) == gcerrors.FailedPrecondition:
		return fmt.Errorf("writing %s: %w: its ETag is no longer %s", b.URL(key), ErrChanged, etag)
	case err != nil:
		return b.wrap("writing", key, err)
	}
	return nil
}

// Download streams the object at key into a new file at localPath (made
// with mode perm), synced; a failed download leaves no file.
func (b *Bucket) Download(ctx context.Context, key, localPath string, perm os.FileMode) (err error) {
	f, err := os.OpenFile(localPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("downloading %s: %w", b.URL(key), err)
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(localPath)
		}
	}()
	if err := b.b.Download(ctx, key, f, nil); err != nil {
		return b.wrap("download", key, err)
	}
	return f.Sync()
}
