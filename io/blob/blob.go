// Package blob reads and writes objects in S3-compatible object storage.
//
// It is a thin layer over gocloud.dev/blob, chosen because it gives one API
// for s3://, gs:// and azblob:// buckets, ranged readers
// (Bucket.NewRangeReader, one ranged GET each) and conditional writes
// (WriterOptions.IfNotExist, S3's If-None-Match: *). Only its s3blob driver
// (AWS SDK v2) is registered here, because an S3 server (MinIO, see
// miniotest) is the only store the tests can run against; another driver is
// one blank import away, and untested until then.
//
// # URLs
//
// An object is named s3://BUCKET/KEY?QUERY. QUERY holds gocloud's bucket
// parameters (gocloud.dev v0.47: gocloud.dev/aws.V2ConfigFromURLParams and
// s3blob.URLOpener), e.g. for MinIO on loopback:
//
//	s3://snapshots/churn/2026-11-20/part-0.parquet?endpoint=http://127.0.0.1:9000&region=us-east-1&use_path_style=true
//
// Other parameters: profile, disable_https, hostname_immutable, fips,
// dualstack, role, anonymous, ssetype, kmskeyid, accelerate. An unknown one
// is an error. KEY is the URL's path without its leading slash, unescaped:
// a key holding '?', '#' or '%' is written %3F, %23, %25.
//
// # Credentials
//
// From the AWS SDK's default chain: AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), else the shared config
// files (AWS_PROFILE, or profile= in the URL), else the instance's role. A
// URL never carries them: one with a user or password is refused. Errors
// name the bucket and key, never a credential.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	gcblob "gocloud.dev/blob"
	_ "gocloud.dev/blob/s3blob" // registers s3://
	"gocloud.dev/gcerrors"
)

var (
	// ErrNotFound marks a key (or bucket) that is not there.
	ErrNotFound = errors.New("object not found")
	// ErrExists marks a conditional write that lost: the key already exists.
	ErrExists = errors.New("object already exists")
	// ErrChanged marks an object whose ETag is no longer the one the caller
	// holds: replaced since it was listed, or a lost WriteIfMatch.
	ErrChanged = errors.New("object changed")
	// ErrUnsupported marks an operation the bucket's driver cannot do.
	ErrUnsupported = errors.New("not supported by this store")
)

// Object is what a store says of one object.
type Object struct {
	Key     string
	Size    int64
	ETag    string // as the store sends it, quotes included; "" when it sends none
	MD5     []byte // nil when the ETag is not a plain MD5 (multipart uploads, SSE-KMS)
	ModTime time.Time
}

// Bucket is one opened bucket. Its methods may be called concurrently.
// Close it when done: that also drops its idle connections.
type Bucket struct {
	b    *gcblob.Bucket
	name string // scheme://bucket, for messages: no query, so no endpoint noise
}

var schemeRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]+://`)

// IsURL tells an object URL (s3://…, gs://…) from a local path. A Windows
// drive letter (C:\) is a path: a scheme has two letters at least.
func IsURL(s string) bool { return schemeRE.MatchString(s) }

// Split parses an object URL into its bucket's URL (scheme, bucket and
// query) and its key.
func Split(rawURL string) (bucketURL, key string, err error) {
	u, err := parse(rawURL)
	if err != nil {
		return "", "", err
	}
	key = strings.TrimPrefix(u.Path, "/")
	u.Path, u.RawPath = "", ""
	return u.String(), key, nil
}

// Join is Split's inverse: the URL of key in the bucket at bucketURL.
func Join(bucketURL, key string) string {
	u, err := url.Parse(bucketURL)
	if err != nil {
		return bucketURL + "/" + key
	}
	u.Path = "/" + key
	u.RawPath = ""
	return u.String()
}

// Redact is rawURL for a message: scheme, bucket and key, without the
// query and never with a user or password.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		return "(an unparsable object URL)"
	}
	return u.Scheme + "://" + u.Host + u.Path
}

func parse(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error quotes the whole URL, a password too: name only its start.
		return nil, fmt.Errorf("object URL %s: not a URL", Redact(rawURL))
	}
	if u.User != nil {
		return nil, fmt.Errorf("object URL %s: credentials do not belong in the URL (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)", Redact(rawURL))
	}
	if u.Host == "" {
		return nil, fmt.Errorf("object URL %s: no bucket (want %s://BUCKET/KEY)", Redact(rawURL), u.Scheme)
	}
	return u, nil
}

// Open opens the bucket at bucketURL (scheme://bucket?query, as Split
// returns it). It sends no request: a wrong endpoint or missing
// credentials show on the first call.
func Open(ctx context.Context, bucketURL string) (*Bucket, error) {
	u, err := parse(bucketURL)
	if err != nil {
		return nil, err
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("bucket URL %s has a key: use Split", Redact(bucketURL))
	}
	name := u.Scheme + "://" + u.Host
	if !gcblob.DefaultURLMux().ValidBucketScheme(u.Scheme) {
		return nil, fmt.Errorf("bucket %s: no driver for %s:// (this build has s3:// only)", name, u.Scheme)
	}
	b, err := gcblob.OpenBucket(ctx, bucketURL)
	if err != nil {
		// gocloud's message names the query parameter at fault; the URL
		// it quotes holds no secret, parse refused any.
		return nil, fmt.Errorf("bucket %s: %w", name, err)
	}
	return &Bucket{b: b, name: name}, nil
}

// Name is scheme://bucket.
func (b *Bucket) Name() string { return b.name }

// URL names key for a message: scheme://bucket/key, without the query.
func (b *Bucket) URL(key string) string { return b.name + "/" + key }

// Close releases the bucket and its idle connections (the SDK's HTTP
// client keeps them, and goroutines with them, until told).
func (b *Bucket) Close() error {
	var c *s3.Client
	if b.b.As(&c) {
		if h, ok := c.Options().HTTPClient.(interface{ CloseIdleConnections() }); ok {
			h.CloseIdleConnections()
		}
	}
	return b.b.Close()
}

// wrap names the object in err and puts ErrNotFound in its chain when
// the store says so; the store's own error stays in it too.
func (b *Bucket) wrap(op, key string, err error) error {
	if gcerrors.Code(err) == gcerrors.NotFound {
		return fmt.Errorf("%s %s: %w", op, b.URL(key), ErrNotFound)
	}
	return fmt.Errorf("%s %s: %w", op, b.URL(key), err)
}

// Attributes asks for one object's size, ETag and modification time.
func (b *Bucket) Attributes(ctx context.Context, key string) (Object, error) {
	a, err := b.b.Attributes(ctx, key)
	if err != nil {
		return Object{}, b.wrap("stat", key, err)
	}
	return Object{Key: key, Size: a.Size, ETag: a.ETag, MD5: a.MD5, ModTime: a.ModTime}, nil
}

// List returns every object whose key starts with prefix, in key order,
// all pages of it.
func (b *Bucket) List(ctx context.Context, prefix string) ([]Object, error) {
	it := b.b.List(&gcblob.ListOptions{Prefix: prefix})
	var out []Object
	for {
		o, err := it.Next(ctx)
		if errors.Is(err, io.EOF) { // the end of the listing
			return out, nil
		}
		if gcerrors.Code(err) == gcerrors.NotFound { // for a listing, only the bucket can be missing
			return nil, fmt.Errorf("list %s: %w: there is no bucket %s", b.URL(prefix+"*"), ErrNotFound, b.name)
		}
		if err != nil {
			return nil, b.wrap("list", prefix+"*", err)
		}
		if o.IsDir {
			continue
		}
		obj := Object{Key: o.Key, Size: o.Size, MD5: o.MD5, ModTime: o.ModTime}
		var s3obj types.Object
		if o.As(&s3obj) && s3obj.ETag != nil {
			obj.ETag = *s3obj.ETag
		}
		out = append(out, obj)
	}
}

// ReadAll reads one whole object; for small ones (manifests, markers).
func (b *Bucket) ReadAll(ctx context.Context, key string) ([]byte, error) {
	data, err := b.b.ReadAll(ctx, key)
	if err != nil {
		return nil, b.wrap("read", key, err)
	}
	return data, nil
}

// Delete removes one object; ErrNotFound when it is not there.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := b.b.Delete(ctx, key); err != nil {
		return b.wrap("delete", key, err)
	}
	return nil
}
