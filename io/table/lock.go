package table

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Date locks: one execution of a (job, date) at a time on this machine.
//
//	<table>/_locks/<date>.lock                  exclusive: a run or a commit; shared: a shard
//	<table>/_locks/<date>.shard-<k>-of-<n>.lock exclusive: shard k runs once at a time
//
// A lock is a flock: the kernel drops it when its holder exits, however it
// exits, so a crash cannot leave it stuck; the file stays and only names
// the last holder. A table on object storage is locked in its local work
// folder: across machines the pointer's conditional write is the guard.

// ErrLocked marks a (job, date) that another execution is running.
var ErrLocked = errors.New("another execution of this job and date is running")

// lockHolder is written into the lock file so that the next launcher can
// say who holds it.
type lockHolder struct {
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Version string    `json:"version"`
	Since   time.Time `json:"since"`
}

// DateLock is a held date (or shard) lock; Release lets go of it.
type DateLock struct {
	f      *os.File
	shared *DateLock // a shard's hold on the date's lock
}

// LockDate takes the date's lock of the table at root exclusively, for
// the execution version; ErrLocked when another execution holds it.
func LockDate(root, date, version string) (*DateLock, error) {
	return lockFile(root, date+".lock", version, syscall.LOCK_EX)
}

// LockShard takes the date's lock shared, so that the shards of one date
// run at once but never beside a single-process run or a commit (which
// take it exclusive), and shard index of count's own lock exclusive, so
// that a shard runs once at a time.
func LockShard(root, date, version string, index, count int) (*DateLock, error) {
	shared, err := lockFile(root, date+".lock", version, syscall.LOCK_SH)
	if err != nil {
		return nil, err
	}
	own, err := lockFile(root, fmt.Sprintf("%s.shard-%d-of-%d.lock", date, index, count), version, syscall.LOCK_EX)
	if err != nil {
		shared.Release()
		return nil, err
	}
	return &DateLock{f: own.f, shared: shared}, nil
}

func lockFile(root, name, version string, how int) (*DateLock, error) {
	root, err := LocalRoot(root)
	if err != nil {
		return nil, err
	}
	if err := checkName("lock", name); err != nil {
		return nil, err
	}
	// Through Dir, so that a planted _locks symlink cannot lead the lock
	// file outside the table.
	dir, err := (&Table{Root: root}).Dir("_locks")
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE, FileMode)
	if err != nil {
		return nil, fmt.Errorf("result table %s: locking the date: %w", root, err)
	}
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, heldBy(f.Name())
		}
		return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	host, _ := os.Hostname()
	data, _ := json.Marshal(lockHolder{Host: host, PID: os.Getpid(), Version: version, Since: time.Now().UTC()})
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt(data, 0) // only names the holder for the next launcher's message
	}
	return &DateLock{f: f}, nil
}

// heldBy is ErrLocked naming the holder the lock file records.
func heldBy(path string) error {
	var h lockHolder
	data, _ := os.ReadFile(path)
	if json.Unmarshal(data, &h) == nil && h.PID != 0 {
		return fmt.Errorf("%w: held by pid %d on %s since %s (version %s)",
			ErrLocked, h.PID, h.Host, h.Since.Format(time.RFC3339), h.Version)
	}
	return ErrLocked
}

// Release lets go of the lock (and a shard's hold on its date).
func (l *DateLock) Release() {
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
	if l.shared != nil {
		l.shared.Release()
	}
}

// DateLockFree says whether no execution of the date holds its lock on
// this machine (a shard's shared hold does not count: shards publish
// nothing). The probe takes the lock shared for a moment and writes
// nothing, so the file keeps naming its last holder.
func DateLockFree(root, date string) bool {
	local, err := LocalRoot(root)
	if err != nil {
		return false
	}
	f, err := os.Open(filepath.Join(local, "_locks", date+".lock"))
	if os.IsNotExist(err) {
		return true
	}
	if err != nil {
		return false
	}
	defer f.Close()
	if syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB) != nil {
		return false
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return true
}
