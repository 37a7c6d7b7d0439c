package parquetio

import "errors"

// ErrChanged marks a snapshot file that is no longer the one Open found:
// removed, replaced or rewritten while the run was under way. What was
// read so far no longer matches the fingerprint the run id stands for,
// so the run fails; a retry once the snapshot is settled may succeed.
var ErrChanged = errors.New("snapshot file changed during the run")

// checkUnchanged holds the file to what Open saw (location.unchanged): a
// local file must still be there, a regular file, of the size and
// modification time Open saw (the file the fingerprint hashed); an object
// must still have the size and ETag Open listed. Read calls it just
// before opening the file to read its rows: a local file replaced after
// that point is still read whole from the descriptor already open, and an
// object's reads are pinned to its ETag (If-Match), so what is scored
// matches what was hashed.
func (f *File) checkUnchanged() error { return f.loc.unchanged(f) }
