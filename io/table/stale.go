package table

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/batchscore/batchscore/internal/atomicfile"
)

// Leftovers of killed executions.
//
// An execution that is killed (SIGKILL, the OOM killer, a power cut) runs
// no cleanup: it may leave its staging folder, the folder of its spilled
// keys, a current link not yet renamed into place, and a manifest or
// report's temporary file. None of it is visible to readers, but it takes
// space. Its date lock needs nothing: the kernel drops a flock when its
// holder dies.
//
// Whose leftovers are they? Every Table that Open returns holds a shared
// flock on <table>/_locks/staging.lock until Close (or until the Table is
// garbage collected, or its process ends). Whoever can take that lock
// exclusively knows that no execution, in any process, has the table open:
// everything in _staging then belongs to a dead one. Dry runs, which take
// no date lock, are covered too. While any other execution runs, nothing
// is removed; the next Open of an idle table does it.

const usersLock = "staging.lock"

// open takes the shared hold, cleaning first if the table is idle.
func (t *Table) open() error {
	f, err := t.openUsersLock()
	if err != nil {
		return err
	}
	err = flock(f, syscall.LOCK_EX|syscall.LOCK_NB)
	switch {
	case err == nil:
		// What cannot be removed now stays for the next idle Open: a
		// leftover is no reason to fail a run.
		t.stale, _ = t.removeStale()
		err = flock(f, syscall.LOCK_SH) // an exclusive holder in between is a cleaner: we wait
	case errors.Is(err, syscall.EWOULDBLOCK):
		err = flock(f, syscall.LOCK_SH) // waits only while another Open cleans
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	t.users = f
	return nil
}

// Close gives up the Table's hold on the staging area, so that another
// execution may clean it. Published files and manifests stay.
func (t *Table) Close() error {
	var err error
	if t.backend != nil {
		err = t.backend.Close()
		t.backend = nil
	}
	if t.users != nil {
		err = errors.Join(err, t.users.Close())
		t.users = nil
	}
	return err
}

// cleanStale removes what killed executions left in _staging and the
// temporary files of manifests and reports in runs/<date>/, and returns
// their paths relative to the root. It removes nothing, and returns no
// error, while any Table from Open is open on the table, in this process
// or another: a Table from Open counts itself, so call cleanStale on a
// Table{Root: ...} literal, or let Open do it.
func (t *Table) cleanStale() ([]string, error) {
	f, err := t.openUsersLock()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil
		}
		return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	return t.removeStale()
}

func (t *Table) openUsersLock() (*os.File, error) {
	dir, err := t.dir(true, "_locks")
	if err != nil {
		return nil, err
	}
	return os.OpenFile(filepath.Join(dir, usersLock), os.O_RDWR|os.O_CREATE, FileMode)
}

// removeStale must run under the exclusive lock.
func (t *Table) removeStale() ([]string, error) {
	var removed []string
	var errs []error
	remove := func(path, rel string) {
		if err := os.RemoveAll(path); err != nil {
			errs = append(errs, err)
			return
		}
		removed = append(removed, rel)
	}
	staging, err := t.dir(false, "_staging")
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(staging)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range entries {
		remove(filepath.Join(staging, e.Name()), filepath.Join("_staging", e.Name()))
	}
	dates, err := os.ReadDir(filepath.Join(t.Root, "runs"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	for _, d := range dates {
		dir, err := t.dir(false, "runs", d.Name())
		if err != nil {
			errs = append(errs, err) // a date folder leading outside: not ours to touch
			continue
		}
		files, _ := os.ReadDir(dir)
		for _, f := range files {
			if name := f.Name(); f.Type().IsRegular() && atomicfile.IsTemp(name) {
				remove(filepath.Join(dir, name), filepath.Join("runs", d.Name(), name))
			}
		}
	}
	return removed, errors.Join(errs...)
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
