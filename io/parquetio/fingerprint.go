package parquetio

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime"

	"golang.org/x/sync/errgroup"
)

// WithHashWorkers sets how many files Fingerprint hashes at a time; the
// default is GOMAXPROCS.
func WithHashWorkers(n int) Option {
	return func(o *openOptions) { o.hashWorkers = n }
}

// Fingerprint hashes every file's content (WithHashWorkers at a time) and
// returns sha256:<hex>, one sha256 over the files' names, sizes and
// hashes, so that any change to the snapshot changes it; it also sets each
// File's SHA256. An object is not downloaded: its per-file checksum is
// etag:<ETag> (see objectFiles.checksum). It covers every file, whichever shard
// Read is restricted to, so that every shard has the same fingerprint.
func (s *Source) Fingerprint(ctx context.Context) (string, error) {
	workers := s.opts.hashWorkers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for i := range s.files {
		f := &s.files[i]
		g.Go(func() error {
			sum, err := f.loc.checksum(ctx, f) // location.go
			if err != nil {
				return err
			}
			f.SHA256 = sum
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	h := sha256.New()
	for _, f := range s.files {
		// Partition folders the glob's wildcards matched are in Name; those
		// above them come from the job's template, so the logical date and
		// the job file, both in the run id, fix them. Leaving them out
		// keeps the run ids of tables published before partitions existed.
		fmt.Fprintf(h, "%s\x00%d\x00%s\n", f.Name, f.Size, f.SHA256)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

func hashFile(ctx context.Context, path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, ctxReader{ctx, f})
	if err != nil {
		return "", 0, fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// ctxReader stops a long hash when the run is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
