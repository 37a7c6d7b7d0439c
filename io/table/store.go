package table

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Store is where a table's versions become visible to readers. A Table
// always works in a local folder (Table.Root): it stages there, renames a
// staged version into versions/, writes manifests atomically and keeps the
// locks there. The Store takes each step that makes work durable for
// readers: the folder itself for a local table (folderStore), or a bucket
// the folder mirrors to for a table whose root is an s3:// URL
// (bucketStore, store_s3.go). A reader of a local table follows
// current/<date>; a reader of a table on S3 follows current/<date>.json.
//
// Ownership: Open and Mirror make the Store; the Table owns it and
// Table.Close closes it, once (Close is idempotent). The local folder is
// the Table's: a Store reads what the Table wrote and writes there only
// what it pulls (manifests, current links, the owner record, the shard
// folders PullShards replaces).
//
// Concurrency: every method may be called from several goroutines of one
// Table. Several Tables (processes, machines) may share one store: two
// Commits of one date by different Tables are kept apart by the date lock
// on one machine (LockDate); across machines only the bucket's conditional
// pointer write separates them, and the loser gets ErrConcurrent. The
// folder store has no such condition: the last rename wins.
//
// Errors: ErrConcurrent (the date's pointer changed since this Table read
// it) and ErrOwnerRecord (an owner record that does not parse) are
// permanent: retrying does the same. CreateOwner's fs.ErrExist and
// ReplaceOwner's blob.ErrChanged or blob.ErrNotFound mean another run
// changed the record meanwhile: read it again. Every other error (disk,
// network) may go away on a retry. (ErrLocked is the date lock's, taken
// before the Table is opened: see lock.go.)
//
// Atomicity of Commit: readers see the date's old version or the new one,
// whole, never a mix, because a version's files are complete before the
// one step that names it (a symlink renamed over current/<date>, or the
// pointer object written after every file is uploaded). A crash
//
//   - before Commit (crash point publish-renamed) leaves the new version
//     complete in the local versions/ but not current: readers see the old
//     one; on S3 nothing of it was uploaded, or (publish-uploaded) its
//     objects are there but no pointer names them;
//   - after Commit (publish-swapped) leaves the new version current and
//     its manifest still provisional, which the next run's history settles;
//   - while a manifest or report is written (manifest-temp, report-temp)
//     leaves the previous copy in place and a temporary file in runs/<date>
//     that the next idle Open removes (see stale.go), with _staging.
type Store interface {
	// Name is the table as messages name it: its folder, or its URL
	// without the query.
	Name() string
	// URL is the table's object URL, "" for a folder.
	URL() string
	// Location is the object URL of a path of the table, with the table's
	// query; "" for a folder.
	Location(rel ...string) string
	// Pull brings what other machines published (manifests, current
	// pointers, the owner record) into the local folder.
	Pull(ctx context.Context) error
	// Commit makes version, complete in the local versions/<date>/, the
	// date's current version. committed reports whether readers may now
	// see it, even with an error: with committed false the caller takes
	// the version back.
	Commit(ctx context.Context, date, version string) (committed bool, err error)
	// PutRunFile makes runs/<date>/<name>, written locally, readable.
	PutRunFile(ctx context.Context, date, name string) error
	// DropRunFiles removes runs/<date>/<name> for each name (a file, or a
	// folder and everything under it) from what readers see; names not
	// there are no error. The local files are the Table's.
	DropRunFiles(ctx context.Context, date string, names []string) error
	// ReadOwner returns the owner record as the store has it (nil: none)
	// and a tag for ReplaceOwner.
	ReadOwner(ctx context.Context) (data []byte, tag string, err error)
	// CreateOwner records the first owner; fs.ErrExist when another run did.
	CreateOwner(ctx context.Context, data []byte) error
	// ReplaceOwner records data over the record read with tag.
	ReplaceOwner(ctx context.Context, data []byte, tag string) error
	// ShareShard makes the local shard folder dir (shard k of n) readable
	// by the commit and returns where it is; last is uploaded after the
	// other files, so a shard counts once last is there.
	ShareShard(ctx context.Context, date string, n, k int, dir, last string) (string, error)
	// PullShards replaces the local shard folders of n with the store's.
	PullShards(ctx context.Context, date string, n int, last string) error
	// DropShards removes the shards of n from the store (the local folders
	// are the Table's).
	DropShards(ctx context.Context, date string, n int) error
	// Close lets go of the store's connections.
	Close() error
}

// store is the Table's Store: a Table{Root: ...} literal has none and
// works on its folder.
func (t *Table) store() Store {
	if t.backend == nil {
		return folderStore{t}
	}
	return t.backend
}

// folderStore is a table that is its own folder: the local layout is what
// readers see, and every step is a rename in it.
type folderStore struct{ t *Table }

func (s folderStore) Name() string                  { return s.t.Root }
func (s folderStore) URL() string                   { return "" }
func (s folderStore) Location(rel ...string) string { return "" }
func (s folderStore) Pull(context.Context) error    { return nil }
func (s folderStore) Close() error                  { return nil }

func (s folderStore) Commit(_ context.Context, date, version string) (bool, error) {
	err := s.t.point(date, version)
	return err == nil, err
}

func (s folderStore) PutRunFile(context.Context, string, string) error { return nil }

func (s folderStore) DropRunFiles(context.Context, string, []string) error { return nil }

func (s folderStore) ReadOwner(context.Context) ([]byte, string, error) {
	data, err := os.ReadFile(filepath.Join(s.t.Root, ownerFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", nil
	}
	return data, "", err
}

// CreateOwner writes the record whole under a temporary name, then links
// it into place: a link fails where the name exists, so of two first runs
// one wins and no reader sees half a file.
func (s folderStore) CreateOwner(_ context.Context, data []byte) error {
	t := s.t
	staging, err := t.dir(true, "_staging")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(staging, "owner-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(FileMode)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if err = errors.Join(err, tmp.Close()); err == nil {
		err = os.Link(tmp.Name(), filepath.Join(t.Root, ownerFile))
	}
	if err != nil {
		return err
	}
	return syncDir(t.Root)
}

// ReplaceOwner needs no condition: Own runs under no lock, but the
// record's last writer is the owner either way.
func (s folderStore) ReplaceOwner(_ context.Context, data []byte, _ string) error {
	return writeFileAtomic(filepath.Join(s.t.Root, ownerFile), data, "")
}

func (s folderStore) ShareShard(_ context.Context, _ string, _, _ int, dir, _ string) (string, error) {
	return dir, nil
}

func (s folderStore) PullShards(context.Context, string, int, string) error { return nil }
func (s folderStore) DropShards(context.Context, string, int) error         { return nil }

// ownerError names the table in an error of its store about the owner.
func (t *Table) ownerError(what string, err error) error {
	if err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	return fmt.Errorf("result table %s: %s its owner: %w", t.Name(), what, err)
}
