package parquetio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/batchscore/batchscore/io/blob"
)

// location is where a snapshot's files are kept: a local folder
// (localFiles) or a bucket (objectFiles, remote.go). Open picks one from
// the pattern, once; whatever differs between the two is asked of it, so
// no other code tells them apart by looking at a path.
type location interface {
	// list returns the files pattern matches, in name order, with Path,
	// Name, Size and what later reads are held to (modTime, etag).
	list(pattern string) ([]File, error)
	// partitionBase is the folder or key prefix below which the path
	// segments of marked (a pattern, its partition root marked with a
	// wildcard) are partitions.
	partitionBase(marked string) string
	// relBelow is p's path below base, slash-separated; "" when p is not
	// below it.
	relBelow(base, p string) string
	// display is how errors name p: an object URL without its query.
	display(p string) string
	// open opens f's bytes as list saw them: an object pinned to its
	// ETag, with no request to open it.
	open(f *File) (fileReader, error)
	// openNow opens what f.Path holds now, for the Parquet reader.
	openNow(f *File) (fileReader, error)
	// unchanged fails with ErrChanged when f is no longer what list saw.
	unchanged(f *File) error
	// checksum is f's checksum for the fingerprint, given the columns
	// Read will take (nil: all).
	checksum(ctx context.Context, f *File, cols []string) (string, error)
	// readErr classes a failed read of f's bytes.
	readErr(f *File, err error) error
	// perRequest says each read is a request (an object): page walks then
	// run concurrently, where on a local file each is a pread, done inline.
	perRequest() bool
	// streamBuffer is the read buffer of each column a Read streams, given
	// its file's largest column chunk: what one read (a pread, a GET)
	// fetches of it.
	streamBuffer(largestChunk int64) int64
}

// fileReader is what footers, page headers and rows are read through: an
// *os.File, or a *blob.ReaderAt for an object.
type fileReader interface {
	io.ReaderAt
	io.Seeker
	io.Closer
}

// localFiles is a snapshot in a local folder, matched by filepath.Glob.
type localFiles struct{}

func (localFiles) list(pattern string) ([]File, error) {
	paths, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("source glob %s: %w", pattern, err)
	}
	sort.Strings(paths)
	base := staticDir(pattern)
	var files []File
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if st.IsDir() {
			continue
		}
		name, err := filepath.Rel(base, p)
		if err != nil {
			name = filepath.Base(p)
		}
		files = append(files, File{Path: p, Name: filepath.ToSlash(name), Size: st.Size(), modTime: st.ModTime()})
	}
	return files, nil
}

func (localFiles) partitionBase(marked string) string { return staticDir(marked) }

func (localFiles) relBelow(base, p string) string {
	rel, err := filepath.Rel(base, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return ""
	}
	return filepath.ToSlash(rel)
}

func (localFiles) display(p string) string { return p }

func (l localFiles) open(f *File) (fileReader, error) { return l.openNow(f) }

func (localFiles) openNow(f *File) (fileReader, error) {
	fh, err := os.Open(f.Path)
	if err != nil {
		return nil, err
	}
	return fh, nil
}

// unchanged: the file must still be there, a regular file, of the size
// and modification time list saw (the file the fingerprint hashed).
func (localFiles) unchanged(f *File) error {
	st, err := os.Stat(f.Path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: %s: removed since the run started", ErrChanged, f.Path)
	case err != nil:
		return fmt.Errorf("%w: %s: %v", ErrChanged, f.Path, err)
	case !st.Mode().IsRegular():
		return fmt.Errorf("%w: %s: no longer a regular file (%s)", ErrChanged, f.Path, st.Mode().Type())
	case st.Size() != f.Size:
		return fmt.Errorf("%w: %s: %d bytes, %d when the run started", ErrChanged, f.Path, st.Size(), f.Size)
	case !f.modTime.IsZero() && !st.ModTime().Equal(f.modTime):
		return fmt.Errorf("%w: %s: modified at %s, after the run started", ErrChanged, f.Path, st.ModTime().UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// checksum hashes the file's footer and the chunks of cols (fingerprint.go).
func (localFiles) checksum(ctx context.Context, f *File, cols []string) (string, error) {
	return hashRead(ctx, f.Path, f.Size, cols)
}

// readErr: a local read error is ErrCorrupt, as it always was.
func (localFiles) readErr(f *File, err error) error {
	return fmt.Errorf("%w: %s: %v", ErrCorrupt, f.Path, err)
}

func (localFiles) perRequest() bool { return false }

// streamBuffer: a pread is cheap, so a column's buffer is the smallest
// that holds a page header, whatever the chunk's size. arrow-go reads the
// rest of a page straight into its decompression buffer when that is
// larger than the stream's buffer, so a small buffer costs a pread more
// per page and saves a copy; a buffer sized to the chunk was allocated
// and cleared for every column of every row group.
func (localFiles) streamBuffer(int64) int64 { return minStreamBuffer }

// Read buffers per column: at most these many bytes of each column chunk
// are held at once (plus the page being decoded). An object's is larger
// since each fill is a GET; a chunk smaller than the buffer is read whole
// in one.
const (
	objectStreamBuffer = 4 << 20
	minStreamBuffer    = 16 << 10 // parquet.DefaultBufSize: a page header fits
)

func clampBuffer(largest, most int64) int64 { return max(minStreamBuffer, min(largest, most)) }

// staticDir is the folder part of a glob before its first wildcard.
func staticDir(pattern string) string {
	i := strings.IndexAny(pattern, "*?[")
	if i < 0 {
		return filepath.Dir(pattern)
	}
	return filepath.Dir(pattern[:i+1])
}

// locationOf is where pattern's files are: the one place that looks at
// the pattern to tell.
func locationOf(pattern string) (location, error) {
	if !blob.IsURL(pattern) {
		return localFiles{}, nil
	}
	return newObjectFiles(pattern) // remote.go
}
