// Package atomicfile replaces files so that a reader, or a crash, sees the
// old bytes or the new ones and never a mix: every file batchscore writes
// in place (manifests, reports, pointers, owner records, checkpoints,
// registry entries, profiles, metrics textfiles) goes through it.
//
// The bytes go to a temporary file in the same folder, named
// .<name>.<random>.tmp (IsTemp recognises it, so a sweep of leftovers
// knows what a killed writer left), which is synced, renamed over the
// target, and the folder synced so that the rename survives a power cut.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/batchscore/batchscore/internal/crashpoint"
)

// Mode is the default mode of written files: owner and group, like every
// output of a run; scores describe people not everyone may read about.
const Mode fs.FileMode = 0o640

// File is a replacement being written. Write to it, then Commit or Abort;
// Abort after Commit does nothing, so `defer f.Abort()` is safe.
type File struct {
	*os.File
	path  string
	mode  fs.FileMode
	point string
	sync  bool
	done  bool
}

// Option changes how a File is written.
type Option func(*File)

// WithMode sets the file's mode instead of Mode.
func WithMode(m fs.FileMode) Option { return func(f *File) { f.mode = m } }

// WithoutSync skips the fsyncs, for files whose reader verifies them (a
// checksum written beside them) and that are only worth having when the
// process, not the machine, died: the rename still makes a killed writer
// leave the old file or the new one whole.
func WithoutSync() Option { return func(f *File) { f.sync = false } }

// WithCrashPoint names the crash point hit between the temporary file's
// sync and the rename (see internal/crashpoint).
func WithCrashPoint(name string) Option { return func(f *File) { f.point = name } }

// Create starts the replacement of path. Its folder must exist.
func Create(path string, opts ...Option) (*File, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	f := &File{File: tmp, path: path, mode: Mode, sync: true}
	for _, o := range opts {
		o(f)
	}
	return f, nil
}

// Commit syncs the written bytes, renames them over the target and syncs
// the folder. On error the target is unchanged and the temporary file gone.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("writing %s: already committed or aborted", f.path)
	}
	f.done = true
	err := f.Chmod(f.mode)
	if err == nil && f.sync {
		err = f.Sync()
	}
	err = errors.Join(err, f.Close())
	if err == nil {
		crashpoint.Hit(f.point)
		err = os.Rename(f.Name(), f.path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", f.path, err)
	}
	if !f.sync {
		return nil
	}
	if err := SyncDir(filepath.Dir(f.path)); err != nil {
		return fmt.Errorf("writing %s: %w", f.path, err)
	}
	return nil
}

// Abort drops the replacement; the target is unchanged.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.Close()
	os.Remove(f.Name())
}

// WriteFile replaces path with data.
func WriteFile(path string, data []byte, opts ...Option) error {
	f, err := Create(path, opts...)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Commit()
}

// SyncDir makes new names and renames in dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// IsTemp reports whether name (a base name) is a temporary file of
// Create's, which a writer killed before Commit leaves behind.
func IsTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".tmp") && len(name) > len("..x.tmp")
}
