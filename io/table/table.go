// Package table owns the on-disk layout of a versioned result table:
// staging where no reader looks, atomic publish, the current pointer of
// each logical date, the run manifests, the date locks and the owner
// record.
//
//	<table>/versions/<date>/<version>/part-00000.parquet   immutable, complete
//	<table>/current/<date> -> ../versions/<date>/<version> one symlink per date
//	<table>/runs/<date>/<version>.json                     one manifest per execution
//	<table>/runs/<date>/<version>.report.{json,html}       its validation report
//	<table>/runs/<date>/<version>.profile.json             the profile of its snapshot and scores
//	<table>/_staging/<version>/                            in progress; never read
//	<table>/_shards/<date>/of-<n>/shard-<k>/               shards waiting for their commit (shards.go)
//	<table>/_locks/staging.lock                            shared by every open Table (stale.go)
//	<table>/_locks/<date>.lock                             one execution of a date at a time (lock.go)
//	<table>/_owner.json                                    the job the table belongs to (owner.go)
//	<table>/_resume/                                       checkpoints, kept by package jobs via Dir
//
// Where readers see a version is the Store's business (store.go): the
// folder itself, or a bucket the folder mirrors (store_s3.go).
//
// Folders are made 0750 and files 0640: result rows, quarantined rows and
// reports are people's data, for the table's owner and group only.
//
// Every folder the table writes into must resolve inside its root: a
// symlink planted in the table (runs -> /elsewhere) makes the write fail
// with errOutside instead of following it. The root itself may be a
// symlink; that is the user's choice (and the way to put a table on
// another disk: _staging and versions must share a file system anyway,
// for the rename that publishes).
package table

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/batchscore/batchscore/internal/atomicfile"
	"github.com/batchscore/batchscore/internal/crashpoint"
	"github.com/batchscore/batchscore/io/blob"
)

// Modes of what the table writes. Result and quarantine files are written
// by io/parquetio with FileMode too.
const (
	DirMode  fs.FileMode = 0o750
	FileMode fs.FileMode = 0o640
)

// Table is a result table rooted at a folder. A Table made by Open holds
// the staging area open until Close (or until it is garbage collected or
// the process ends); a Table{Root: ...} literal can read and write
// manifests but stages nothing.
type Table struct {
	Root string
	// stale lists what Open removed from _staging and runs/: the leftovers
	// of executions that were killed.
	stale []string
	// sweptDates counts the runs/ date folders that sweep listed (tests).
	sweptDates int

	users   *os.File // _locks/staging.lock, held shared while open
	backend Store    // nil: the folder is the store (see store)
}

// Open creates the table's folders if needed, checks that none of them
// leads outside the table, and removes what killed executions left behind
// when no other execution has the table open (see stale.go).
//
// For an object URL (s3://bucket/prefix?...) the Table works in a local
// folder (LocalRoot) and mirrors it to the bucket: see store_s3.go.
func Open(root string) (*Table, error) {
	if IsRemote(root) {
		local, err := LocalRoot(root)
		if err != nil {
			return nil, err
		}
		t, err := Open(local)
		if err != nil {
			return nil, err
		}
		if err := t.attach(root); err != nil {
			t.Close()
			return nil, err
		}
		return t, nil
	}
	t := &Table{Root: root}
	if err := os.MkdirAll(root, DirMode); err != nil {
		return nil, fmt.Errorf("result table %s: %w", root, err)
	}
	for _, d := range []string{"_staging", "versions", "current", "runs", "_locks"} {
		if _, err := t.dir(true, d); err != nil {
			return nil, err
		}
	}
	// A symlink leading outside, at the top (_resume, a folder of
	// another package) or as a date folder, is refused now, before any
	// work, rather than when the run has scored everything.
	for _, d := range []string{".", "versions", "runs"} {
		if err := t.checkEntries(d); err != nil {
			return nil, err
		}
	}
	if err := syncDir(root); err != nil {
		return nil, fmt.Errorf("result table %s: %w", root, err)
	}
	if err := t.open(); err != nil {
		return nil, fmt.Errorf("result table %s: %w", root, err)
	}
	return t, nil
}

// Dir returns the folder <root>/<parts...>, made (0750) if missing, after
// checking that no part of it is a symlink leading outside the table.
// Other packages get the folders they keep in the table from here
// (_locks, _resume) so that a planted symlink cannot redirect them.
func (t *Table) Dir(parts ...string) (string, error) {
	if err := os.MkdirAll(t.Root, DirMode); err != nil {
		return "", fmt.Errorf("result table %s: %w", t.Root, err)
	}
	return t.dir(true, parts...)
}

// URL is the table's object URL, "" for a local table.
func (t *Table) URL() string { return t.store().URL() }

// Name is the table as messages name it: its folder, or its object URL
// without the query.
func (t *Table) Name() string { return t.store().Name() }

// Location is the object URL of a path of the table, with the table's
// query (endpoint, region), as this machine reaches it; "" for a local
// table.
func (t *Table) Location(rel ...string) string { return t.store().Location(rel...) }

// ReaderURL is where readers find a path of the table: s3://bucket/key,
// without the query, since the endpoint is the writer's view of the store
// and every reader brings its own; "" for a local table.
func (t *Table) ReaderURL(rel ...string) string {
	if loc := t.Location(rel...); loc != "" {
		return blob.Redact(loc)
	}
	return ""
}

// VersionDir is where a published version's files are.
func (t *Table) VersionDir(date, version string) string {
	return filepath.Join(t.Root, "versions", date, version)
}

// CurrentLink is the symlink readers follow to the current version of a date.
func (t *Table) CurrentLink(date string) string {
	return filepath.Join(t.Root, "current", date)
}

// ManifestPath is where an execution's manifest goes, published or not.
func (t *Table) ManifestPath(date, version string) string {
	return filepath.Join(t.Root, "runs", date, version+".json")
}

// RunFile is where a companion of an execution's manifest goes, e.g.
// RunFile(date, version, ".report.html").
func (t *Table) RunFile(date, version, suffix string) string {
	return filepath.Join(t.Root, "runs", date, version+suffix)
}

// Manifests lists the manifest paths of every execution, oldest date and
// version first; companions such as reports are left out.
func (t *Table) Manifests() ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(t.Root, "runs", "*", "*.json"))
	if err != nil {
		return nil, err
	}
	out := paths[:0]
	for _, p := range paths {
		if isManifestName(filepath.Base(p)) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out, nil
}

// RunDates lists the dates that have a runs/ folder, oldest first: one
// listing of runs/, no manifest read. A run reads the history of the few
// dates it needs (DateManifests) instead of every manifest (Manifests).
func (t *Table) RunDates() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(t.Root, "runs"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		// A date folder may be a symlink that resolves inside the table
		// (Open checked); ReadDir sorts by name: dates in order.
		if (e.IsDir() || e.Type()&fs.ModeSymlink != 0) && checkName("date", e.Name()) == nil {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// DateManifests lists the manifest paths of one date's executions,
// oldest version first, as Manifests does for the whole table.
func (t *Table) DateManifests(date string) ([]string, error) {
	if err := checkName("date", date); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(t.Root, "runs", date))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if isManifestName(e.Name()) && !e.IsDir() {
			out = append(out, filepath.Join(t.Root, "runs", date, e.Name()))
		}
	}
	return out, nil
}

// isManifestName: <start>.<millis>Z-<suffix>.json; companions (reports,
// profiles) add another dot, temporary files start with one.
func isManifestName(base string) bool {
	name, ok := strings.CutSuffix(base, ".json")
	return ok && !strings.HasPrefix(base, ".") && strings.Count(name, ".") == 1
}

// DropRunFiles removes an execution's records from runs/<date>/ (see
// jobs' retention, output.keep_runs): its companions (reports, profile,
// quarantined rows), and its manifest too when withManifest is set. The
// companions go first and the manifest last, from the store before the
// local folder: a crash in between leaves a manifest whose report is
// missing, which the next retention removes again, never a report without
// its manifest that nothing would list. It returns the names removed.
func (t *Table) DropRunFiles(date, version string, withManifest bool) ([]string, error) {
	if err := errors.Join(checkName("date", date), checkName("version", version)); err != nil {
		return nil, err
	}
	dir, err := t.dir(false, "runs", date)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var companions []string
	for _, e := range entries {
		if name := e.Name(); strings.HasPrefix(name, version+".") && name != version+".json" {
			companions = append(companions, name)
		}
	}
	steps := [][]string{companions, nil}
	if withManifest {
		steps[1] = []string{version + ".json"}
	}
	var removed []string
	for i, names := range steps {
		if i > 0 && len(companions) > 0 {
			crashpoint.Hit("prune-companions")
		}
		if len(names) == 0 {
			continue
		}
		if err := t.store().DropRunFiles(context.Background(), date, names); err != nil {
			return removed, fmt.Errorf("removing the records of %s from %s: %w", version, t.Location("runs", date), err)
		}
		for _, name := range names {
			if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
				return removed, err
			}
			removed = append(removed, name)
		}
	}
	return removed, syncDir(dir)
}

// NewVersion names a new execution: sortable by start time, unique even for
// executions started in the same millisecond.
func NewVersion(start time.Time) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return start.UTC().Format("20060102T150405.000Z") + "-" + hex.EncodeToString(b[:])
}

// Stage makes the private folder an execution writes its files into.
func (t *Table) Stage(version string) (string, error) {
	if err := checkName("version", version); err != nil {
		return "", err
	}
	staging, err := t.dir(true, "_staging")
	if err != nil {
		return "", err
	}
	dir := filepath.Join(staging, version)
	if err := os.Mkdir(dir, DirMode); err != nil {
		return "", fmt.Errorf("staging %s: %w", dir, err)
	}
	return dir, nil
}

// Discard removes a staging folder after a failed execution.
func (t *Table) Discard(version string) error {
	if err := checkName("version", version); err != nil {
		return err
	}
	staging, err := t.dir(false, "_staging")
	if err != nil {
		return err
	}
	return os.RemoveAll(filepath.Join(staging, version))
}

// Publish moves a staged version into versions/ with one rename and then
// points current/<date> at it with a second. Each step is atomic, so a
// reader sees the old current version or the new one, and a version folder
// is only ever visible complete. A crash between the two leaves a complete
// version that is not current; the previous current one stays intact. A
// failure to switch current/ (an error, not a crash) moves the version
// back into _staging, so that a failed run leaves nothing in versions/.
//
// Before the rename every staged folder is made at most 0750 and every
// file at most 0640, whoever created them.
func (t *Table) Publish(date, version string) error {
	if err := errors.Join(checkName("date", date), checkName("version", version)); err != nil {
		return err
	}
	staging, err := t.dir(false, "_staging")
	if err != nil {
		return err
	}
	staged := filepath.Join(staging, version)
	if fi, err := os.Lstat(staged); err != nil || !fi.IsDir() {
		return fmt.Errorf("publishing %s: %s is not a staged folder (%v)", version, staged, err)
	}
	if err := restrict(staged); err != nil {
		return fmt.Errorf("publishing %s: %w", version, err)
	}
	if err := syncDir(staged); err != nil {
		return fmt.Errorf("publishing %s: %w", version, err)
	}
	dateDir, err := t.dir(true, "versions", date)
	if err != nil {
		return fmt.Errorf("publishing %s: %w", version, err)
	}
	if err := syncDir(filepath.Dir(dateDir)); err != nil {
		return fmt.Errorf("publishing %s: %w", version, err)
	}
	final := filepath.Join(dateDir, version)
	if err := os.Rename(staged, final); err != nil {
		return fmt.Errorf("publishing %s: %w", version, err)
	}
	// Should anything fail from here until current/ points at it, the
	// version goes back out of versions/, where globs over every version
	// would find the files of a failed run, into staging, where Discard
	// removes it; current/ still shows the previous version.
	undo := func(err error) error {
		if uerr := os.Rename(final, staged); uerr != nil {
			return fmt.Errorf("%w; %s stays in versions/, not current: %v", err, version, uerr)
		}
		_, _ = syncDir(dateDir), syncDir(staging) // best effort: the error that matters is err
		return err
	}
	if err := errors.Join(syncDir(dateDir), syncDir(staging)); err != nil {
		return undo(fmt.Errorf("publishing %s: %w", version, err))
	}
	crashpoint.Hit("publish-renamed")
	committed, err := t.store().Commit(context.Background(), date, version)
	switch {
	case err != nil && !committed:
		return undo(err)
	case err != nil:
		return err // readers may see it: it stays
	}
	crashpoint.Hit("publish-swapped")
	return nil
}

// SyncCurrent makes the current pointers durable. Readers already see a
// version once Publish returned; a failure here is worth a warning, not a
// failed run.
func (t *Table) SyncCurrent() error {
	return syncDir(filepath.Join(t.Root, "current"))
}

// point swaps current/<date> to a version: a new symlink under a temporary
// name, renamed over the old one.
func (t *Table) point(date, version string) error {
	current, err := t.dir(true, "current")
	if err != nil {
		return err
	}
	staging, err := t.dir(false, "_staging")
	if err != nil {
		return err
	}
	// Renaming over current/<date> replaces the link itself, wherever it
	// pointed: nothing is written through it.
	link := filepath.Join(current, date)
	target := filepath.Join("..", "versions", date, version)
	// The new link is made in _staging, where no reader looks (a leftover
	// from a crash in current/ would match current/*/ globs), then renamed
	// over the old one: same file system, one atomic step.
	var suffix [4]byte
	_, _ = rand.Read(suffix[:]) // two processes may point the same date (a pull and a publish)
	tmp := filepath.Join(staging, "current-"+date+"-"+version+"-"+hex.EncodeToString(suffix[:]))
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("pointing current at %s: %w", version, err)
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("pointing current at %s: %w", version, err)
	}
	return nil
}

// Current returns the version current/<date> points at, or "" if none.
// A link that is not ../versions/<date>/<version>, as Publish makes them,
// was put there by someone else: it counts as none, so that the next
// run publishes and replaces it.
func (t *Table) Current(date string) (string, error) {
	target, err := os.Readlink(t.CurrentLink(date))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if filepath.Dir(target) != filepath.Join("..", "versions", date) {
		return "", nil
	}
	return filepath.Base(target), nil
}

// versions lists a date's versions in the local folder, oldest first.
func (t *Table) versions(date string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(t.Root, "versions", date))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// WriteManifest stores an execution's manifest atomically: readers see the
// whole document or none.
func (t *Table) WriteManifest(date, version string, data []byte) (string, error) {
	return t.writeRunFile(date, version, ".json", data, "manifest-temp")
}

// WriteRunFile stores a manifest or one of its companions atomically.
func (t *Table) WriteRunFile(date, version, suffix string, data []byte) (string, error) {
	point := "report-temp"
	if suffix == ".json" {
		point = "manifest-temp"
	}
	return t.writeRunFile(date, version, suffix, data, point)
}

func (t *Table) writeRunFile(date, version, suffix string, data []byte, point string) (string, error) {
	if err := errors.Join(checkName("date", date), checkName("version", version), checkName("suffix", version+suffix)); err != nil {
		return "", err
	}
	dir, err := t.dir(true, "runs", date)
	if err != nil {
		return "", err
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return "", err
	}
	path := filepath.Join(dir, version+suffix)
	if err := writeFileAtomic(path, data, point); err != nil {
		return path, err
	}
	if err := t.store().PutRunFile(context.Background(), date, version+suffix); err != nil {
		return path, fmt.Errorf("writing %s: %w", t.Location("runs", date, version+suffix), err)
	}
	return path, nil
}

// writeFileAtomic replaces path with data (see internal/atomicfile),
// hitting the crash point between the temporary file and the rename.
func writeFileAtomic(path string, data []byte, point string) error {
	return atomicfile.WriteFile(path, data, atomicfile.WithMode(FileMode), atomicfile.WithCrashPoint(point))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
