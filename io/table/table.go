// Package table owns the on-disk layout of a versioned result table:
// staging where no reader looks, atomic publish, the current pointer of
// each logical date, and the run manifests.
//
//	<table>/versions/<date>/<version>/part-00000.parquet   immutable, complete
//	<table>/current/<date> -> ../versions/<date>/<version> one symlink per date
//	<table>/runs/<date>/<version>.json                     one manifest per execution
//	<table>/runs/<date>/<version>.report.{json,html}       its validation report
//	<table>/runs/<date>/<version>.profile.json             the profile of its snapshot and scores
//	<table>/_staging/<version>/                            in progress; never read
package table

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Table is a result table rooted at a folder.
type Table struct {
	Root string
}

// Open creates the table's folders if needed.
func Open(root string) (*Table, error) {
	t := &Table{Root: root}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("result table %s: %w", root, err)
	}
	for _, d := range []string{t.stagingRoot(), filepath.Join(root, "versions"), filepath.Join(root, "current"), filepath.Join(root, "runs")} {
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("result table %s: %w", root, err)
		}
	}
	if err := syncDir(root); err != nil {
		return nil, fmt.Errorf("result table %s: %w", root, err)
	}
	return t, nil
}

func (t *Table) stagingRoot() string { return filepath.Join(t.Root, "_staging") }

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
		if base := filepath.Base(p); strings.Count(strings.TrimSuffix(base, ".json"), ".") == 1 {
			out = append(out, p) // <start>.<millis>Z-<suffix>.json; companions add another dot
		}
	}
	sort.Strings(out)
	return out, nil
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
	dir := filepath.Join(t.stagingRoot(), version)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", fmt.Errorf("staging %s: %w", dir, err)
	}
	return dir, nil
}

// Discard removes a staging folder after a failed execution.
func (t *Table) Discard(version string) error {
	return os.RemoveAll(filepath.Join(t.stagingRoot(), version))
}

// Publish moves a staged version into versions/ with one rename and then
// points current/<date> at it with a second. Each step is atomic, so a
// reader sees the old current version or the new one, and a version folder
// is only ever visible complete. A crash between the two leaves a complete
// version that is not current; the previous current one stays intact.
func (t *Table) Publish(date, version string) error {
	staged := filepath.Join(t.stagingRoot(), version)
	if err := syncDir(staged); err != nil {
		return fmt.Errorf("publishing %s: %w", version, err)
	}
	dateDir := filepath.Join(t.Root, "versions", date)
	if err := os.MkdirAll(dateDir, 0o755); err != nil {
		return fmt.Errorf("publishing %s: %w", version, err)
	}
	if err := syncDir(filepath.Dir(dateDir)); err != nil {
		return fmt.Errorf("publishing %s: %w", version, err)
	}
	final := t.VersionDir(date, version)
	if err := os.Rename(staged, final); err != nil {
		return fmt.Errorf("publishing %s: %w", version, err)
	}
	if err := errors.Join(syncDir(dateDir), syncDir(t.stagingRoot())); err != nil {
		return fmt.Errorf("publishing %s: %w", version, err)
	}
	return t.point(date, version)
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
	link := t.CurrentLink(date)
	target := filepath.Join("..", "versions", date, version)
	// The new link is made in _staging, where no reader looks (a leftover
	// from a crash in current/ would match current/*/ globs), then renamed
	// over the old one: same file system, one atomic step.
	tmp := filepath.Join(t.stagingRoot(), "current-"+date+"-"+version)
	_ = os.Remove(tmp)
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
func (t *Table) Current(date string) (string, error) {
	target, err := os.Readlink(t.CurrentLink(date))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return filepath.Base(target), nil
}

// Versions lists a date's published versions, oldest first.
func (t *Table) Versions(date string) ([]string, error) {
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
	return t.WriteRunFile(date, version, ".json", data)
}

// WriteRunFile stores a manifest or one of its companions atomically.
func (t *Table) WriteRunFile(date, version, suffix string, data []byte) (string, error) {
	path := t.RunFile(date, version, suffix)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	if err := syncDir(filepath.Dir(filepath.Dir(path))); err != nil {
		return "", err
	}
	return path, writeFileAtomic(path, data)
}

// writeFileAtomic writes data under a temporary name, syncs it and renames
// it into place, readable by all like the result files.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	err = tmp.Chmod(0o644)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	err = errors.Join(err, tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
