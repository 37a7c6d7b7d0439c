package parquetio

// Snapshots in object storage. Open takes an object URL glob:
//
//	s3://bucket/snap/2026-11-20/*.parquet?endpoint=http://127.0.0.1:9000&region=us-east-1&use_path_style=true
//
// The query string goes last, after the glob, as in any URL; it holds
// the bucket's parameters (see io/blob). So the first '?' starts the
// query, and the key pattern has '*' and '[...]' (path.Match, where '*'
// stops at '/'); a '?' wildcard must be written %3F (or use [...] or *).
//
// Open (objectFiles.list) lists the keys under the pattern's literal prefix (the part before
// its first wildcard) and reads each matching object's footer with ranged
// reads: the two ends of the object, no whole-file download. Read checks
// that each object still has the listed size and ETag (CheckUnchanged),
// then reads column chunks through the same ranged reader with every GET
// pinned to that ETag (If-Match), so an object replaced at any point
// fails the run rather than mixing two versions.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/batchscore/batchscore/io/blob"
)

// objectFiles is a snapshot in a bucket, matched by a key pattern.
type objectFiles struct {
	bucketURL, keyPattern string
}

func newObjectFiles(pattern string) (objectFiles, error) {
	bucketURL, keyPattern, err := blob.Split(pattern)
	if err != nil {
		return objectFiles{}, fmt.Errorf("source glob: %w", err)
	}
	if _, err := path.Match(keyPattern, ""); err != nil {
		return objectFiles{}, fmt.Errorf("source glob %s: %w", blob.Redact(pattern), err)
	}
	return objectFiles{bucketURL, keyPattern}, nil
}

func (o objectFiles) list(pattern string) ([]File, error) {
	ctx := context.Background() // Open has no context; the SDK bounds its retries
	b, err := blob.Open(ctx, o.bucketURL)
	if err != nil {
		return nil, fmt.Errorf("source glob %s: %w", blob.Redact(pattern), err)
	}
	defer b.Close()
	objs, err := b.List(ctx, literalPrefix(o.keyPattern))
	if err != nil {
		return nil, fmt.Errorf("source glob %s: %w", blob.Redact(pattern), err)
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].Key < objs[j].Key })
	base := path.Dir(literalPrefix(o.keyPattern) + "x") // the folder before the first wildcard
	var files []File
	for _, obj := range objs {
		if strings.HasSuffix(obj.Key, "/") { // a console's "folder" marker
			continue
		}
		if ok, _ := path.Match(o.keyPattern, obj.Key); !ok {
			continue
		}
		name := obj.Key
		if base != "." {
			name = strings.TrimPrefix(obj.Key, base+"/")
		}
		files = append(files, File{Path: blob.Join(o.bucketURL, obj.Key), Name: name, Size: obj.Size, modTime: obj.ModTime, etag: obj.ETag})
	}
	return files, nil
}

func (objectFiles) partitionBase(marked string) string {
	_, key, err := blob.Split(marked)
	if err != nil {
		return ""
	}
	return path.Dir(literalPrefix(key) + "x")
}

func (objectFiles) relBelow(base, p string) string {
	_, key, err := blob.Split(p)
	if err != nil {
		return ""
	}
	if base == "." || base == "" {
		return key
	}
	if rest, ok := strings.CutPrefix(key, base+"/"); ok {
		return rest
	}
	return ""
}

func (objectFiles) display(p string) string { return blob.Redact(p) }

// literalPrefix is the part of a key pattern before its first wildcard
// (or escape): every key the pattern matches starts with it.
func literalPrefix(pattern string) string {
	if i := strings.IndexAny(pattern, `*?[\`); i >= 0 {
		return pattern[:i]
	}
	return pattern
}

// open reads the object as list saw it: only while its ETag is the one
// listed, and with no request to open it.
func (objectFiles) open(f *File) (fileReader, error) {
	return blob.OpenReaderAt(context.Background(), f.Path, &blob.Object{Size: f.Size, ETag: f.etag})
}

// openNow pins the reads to the object as it is now (one HEAD request).
func (objectFiles) openNow(f *File) (fileReader, error) {
	return blob.OpenReaderAt(context.Background(), f.Path, nil)
}

// readErr: an object replaced since list saw it is ErrChanged; a store
// that fails a request is no fault of the file's and keeps its own error
// (which names the object).
func (objectFiles) readErr(_ *File, err error) error {
	if errors.Is(err, blob.ErrChanged) {
		return fmt.Errorf("%w: %v", ErrChanged, err)
	}
	return err
}

// unchanged: the same size and ETag as list saw (one HEAD request).
func (objectFiles) unchanged(f *File) error {
	ctx := context.Background()
	bucketURL, key, err := blob.Split(f.Path)
	if err != nil {
		return err
	}
	b, err := blob.Open(ctx, bucketURL)
	if err != nil {
		return err
	}
	defer b.Close()
	now, err := b.Attributes(ctx, key)
	switch {
	case errors.Is(err, blob.ErrNotFound):
		return fmt.Errorf("%w: %s: removed since the run started", ErrChanged, b.URL(key))
	case err != nil:
		return fmt.Errorf("checking that %s is unchanged: %w", b.URL(key), err)
	case now.Size != f.Size:
		return fmt.Errorf("%w: %s: %d bytes, %d when the run started", ErrChanged, b.URL(key), now.Size, f.Size)
	case now.ETag != f.etag:
		return fmt.Errorf("%w: %s: ETag %s, %s when the run started", ErrChanged, b.URL(key), now.ETag, f.etag)
	}
	return nil
}

// checksum is the object's ETag, etag:<ETag>, which the store computes
// from the content (the MD5 of a single-part upload, an MD5 of the parts'
// MD5s for a multipart one), so fingerprinting downloads nothing. The
// same bytes uploaded another way may get another ETag: that costs a new
// run id, never a wrong reuse.
func (objectFiles) checksum(_ context.Context, f *File, _ []string) (string, error) {
	etag := strings.Trim(f.etag, `"`)
	if etag == "" {
		return "", fmt.Errorf("%s: the store sent no ETag, and fingerprinting an object without one would download it whole", blob.Redact(f.Path))
	}
	return "etag:" + etag, nil
}

func (objectFiles) perRequest() bool { return true }

// streamBuffer: each fill is a GET, so a column's buffer is larger.
func (objectFiles) streamBuffer(largest int64) int64 { return clampBuffer(largest, objectStreamBuffer) }

// pageWalks runs checkChunks' page walks (checkPages): each at once on a
// local file, where a page-header read is a pread, and concurrentWalks at
// a time at the end on an object, where each read is a GET. Walked one
// after the other, 2M rows of 31 columns cost some 1,000 sequential GETs:
// 1.5 s of a 6.2 s read from MinIO on loopback, far more at S3's latency.
type pageWalks struct {
	f    *File
	r    io.ReaderAt
	todo []pageWalk
}

type pageWalk struct {
	rg         int
	col        string
	start, end int64
}

const concurrentWalks = 8

func (w *pageWalks) add(rg int, col string, start, end int64) error {
	if !w.f.loc.perRequest() {
		return w.f.pageErr(rg, col, checkPages(w.r, start, end))
	}
	w.todo = append(w.todo, pageWalk{rg, col, start, end})
	return nil
}

// wait runs the queued walks and returns the first failure in file order.
func (w *pageWalks) wait() error {
	errs := make([]error, len(w.todo))
	var g errgroup.Group
	g.SetLimit(concurrentWalks)
	for i, pw := range w.todo {
		g.Go(func() error {
			// Not the caller's goroutine: File.read's recover cannot catch this.
			defer func() {
				if r := recover(); r != nil {
					errs[i] = fmt.Errorf("the page walk panicked: %v", r)
				}
			}()
			errs[i] = checkPages(w.r, pw.start, pw.end)
			return nil
		})
	}
	_ = g.Wait()
	for i, err := range errs {
		if err != nil {
			return w.f.pageErr(w.todo[i].rg, w.todo[i].col, err)
		}
	}
	return nil
}

func (f *File) pageErr(rg int, col string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, blob.ErrChanged):
		return fmt.Errorf("%w: %s: row group %d column %q: %v", ErrChanged, f.Path, rg, col, err)
	}
	return fmt.Errorf("%w: %s: row group %d column %q: %v", ErrCorrupt, f.Path, rg, col, err)
}
