package jobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/batchscore/batchscore/io/table"
)

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

// dateLock is a flock on <table>/_locks/<date>.lock (exclusive; shared for
// a shard, which also holds its own shard lock exclusive). The kernel
// drops it when the holder exits, however it exits, so a crash cannot leave
// it stuck; the file itself stays and only names the last holder.
type dateLock struct {
	f      *os.File
	shared *dateLock // a shard's hold on the date's lock
}

func lockDate(root, date, version string) (*dateLock, error) {
	return lockFile(root, date+".lock", version, syscall.LOCK_EX)
}

// lockShard takes the date's lock shared, so that the shards of one date
// run at once but never beside a single-process run or a commit (which
// take it exclusive), and the shard's own lock exclusive, so that a shard
// runs once at a time.
func lockShard(root, date, version string, s Shard) (*dateLock, error) {
	shared, err := lockFile(root, date+".lock", version, syscall.LOCK_SH)
	if err != nil {
		return nil, err
	}
	own, err := lockFile(root, fmt.Sprintf("%s.shard-%d-of-%d.lock", date, s.Index, s.Count), version, syscall.LOCK_EX)
	if err != nil {
		shared.release()
		return nil, err
	}
	return &dateLock{f: own.f, shared: shared}, nil
}

func lockFile(root, name, version string, how int) (*dateLock, error) {
	// A table on object storage is locked in its local work folder: the
	// pointer's conditional write guards it across machines.
	root, err := table.LocalRoot(root)
	if err != nil {
		return nil, err
	}
	// Through the table, so that a planted _locks symlink cannot lead the
	// lock file outside it.
	if err := os.MkdirAll(root, table.DirMode); err != nil {
		return nil, fmt.Errorf("result table %s: %w", root, err)
	}
	dir, err := (&table.Table{Root: root}).Dir("_locks")
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE, table.FileMode)
	if err != nil {
		return nil, fmt.Errorf("result table %s: locking the date: %w", root, err)
	}
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			var h lockHolder
			data, _ := os.ReadFile(f.Name())
			if json.Unmarshal(data, &h) == nil && h.PID != 0 {
				return nil, fmt.Errorf("%w: held by pid %d on %s since %s (version %s)",
					ErrLocked, h.PID, h.Host, h.Since.Format(time.RFC3339), h.Version)
			}
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	host, _ := os.Hostname()
	data, _ := json.Marshal(lockHolder{Host: host, PID: os.Getpid(), Version: version, Since: time.Now().UTC()})
	if err := f.Truncate(0); err == nil {
		f.WriteAt(data, 0)
	}
	return &dateLock{f: f}, nil
}

func (l *dateLock) release() {
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
	if l.shared != nil {
		l.shared.release()
	}
}
