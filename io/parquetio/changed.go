package parquetio

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/batchscore/batchscore/io/blob"
)

// ErrChanged marks a snapshot file that is no longer the one Open found:
// removed, replaced or rewritten while the run was under way. What was
// read so far no longer matches the fingerprint the run id stands for,
// so the run fails; a retry once the snapshot is settled may succeed.
var ErrChanged = errors.New("snapshot file changed during the run")

// CheckUnchanged compares the file at f.Path now with what Open recorded:
// it must still be there, a regular file, of the size and modification
// time Open saw (the file the fingerprint hashed). Call it just before opening the file to read
// its rows: a file replaced after that point is still read whole from the
// descriptor already open, so what is scored matches what was hashed.
//
// An object (an s3:// Path) must still have the size and ETag Open listed;
// its reads after this point are pinned to that ETag (If-Match) instead.
func (f *File) CheckUnchanged() error {
	if blob.IsURL(f.Path) {
		return f.checkObjectUnchanged() // remote.go
	}
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
