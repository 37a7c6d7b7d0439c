package table

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

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
	remove := func(path, rel string) error {
		if err := os.RemoveAll(path); err != nil {
			errs = append(errs, err)
			return err
		}
		removed = append(removed, rel)
		return nil
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
		_ = remove(filepath.Join(staging, e.Name()), filepath.Join("_staging", e.Name()))
	}
	errs = append(errs, t.removeStaleRuns(remove))
	return removed, errors.Join(errs...)
}

// sweptStamp, in _locks/, is touched when a sweep of runs/ begins and
// renamed into place once it ends without error: its mtime, from the file
// system's own clock, is when the last complete sweep started.
const sweptStamp = "swept-runs"

// stampSlack covers clocks coarser than the file system's timestamps and
// a folder written in the instant its sweep began.
const stampSlack = 2 * time.Second

// removeStaleRuns removes the temporary files of manifests and reports in
// runs/<date>/. A killed writer's temporary file changed its date
// folder's mtime when it was made, so only the folders changed since the
// last complete sweep began (less stampSlack) are listed: one lstat per
// date, however many executions the table has had. A date folder that is
// a symlink is always listed. Without a stamp, every folder is.
func (t *Table) removeStaleRuns(remove func(path, rel string) error) error {
	locks, err := t.dir(true, "_locks")
	if err != nil {
		return err
	}
	stamp := filepath.Join(locks, sweptStamp)
	var since time.Time
	if fi, err := os.Stat(stamp); err == nil {
		since = fi.ModTime().Add(-stampSlack)
	}
	next := stamp + ".next"
	_ = os.Remove(next) // made anew: its mtime is now
	if err := os.WriteFile(next, nil, FileMode); err != nil {
		return err
	}
	runs := filepath.Join(t.Root, "runs")
	dates, err := os.ReadDir(runs)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var errs []error
	failed := false
	for _, d := range dates {
		if d.Type().IsDir() && !since.IsZero() {
			if fi, err := os.Lstat(filepath.Join(runs, d.Name())); err == nil && fi.ModTime().Before(since) {
				continue
			}
		}
		t.sweptDates++
		dir, err := t.dir(false, "runs", d.Name())
		if err != nil {
			errs = append(errs, err) // a date folder leading outside: not ours to touch
			continue
		}
		files, _ := os.ReadDir(dir)
		for _, f := range files {
			if name := f.Name(); f.Type().IsRegular() && atomicfile.IsTemp(name) {
				if remove(filepath.Join(dir, name), filepath.Join("runs", d.Name(), name)) != nil {
					failed = true // the caller has the error
				}
			}
		}
	}
	if err := errors.Join(errs...); err != nil || failed {
		return err // the stamp stays: the next sweep lists these folders again
	}
	return os.Rename(next, stamp)
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
