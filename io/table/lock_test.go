package table

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A date is run once at a time; the shards of a date run side by side
// but never beside a run of the whole date; a second launcher is told who
// holds the lock.
func TestDateLocks(t *testing.T) {
	root := filepath.Join(t.TempDir(), "scores")
	if !DateLockFree(root, date) {
		t.Fatal("the date of a table without locks is not free")
	}
	run, err := LockDate(root, date, "v1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = LockDate(root, date, "v2")
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) || !strings.Contains(err.Error(), "v1") {
		t.Errorf("second LockDate = %v, want ErrLocked naming pid %d and v1", err, os.Getpid())
	}
	if _, err := LockShard(root, date, "v3", 0, 2); !errors.Is(err, ErrLocked) {
		t.Errorf("a shard beside a run of the whole date: %v, want ErrLocked", err)
	}
	if DateLockFree(root, date) {
		t.Error("DateLockFree while the date is locked")
	}
	if _, err := LockDate(root, "2026-11-21", "v4"); err != nil {
		t.Errorf("another date: %v", err)
	}
	run.Release()
	if !DateLockFree(root, date) {
		t.Error("the date is not free after Release")
	}

	s0, err := LockShard(root, date, "v5", 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	s1, err := LockShard(root, date, "v6", 1, 2)
	if err != nil {
		t.Fatalf("two shards of a date: %v", err)
	}
	if _, err := LockShard(root, date, "v7", 0, 2); !errors.Is(err, ErrLocked) {
		t.Errorf("shard 0 twice: %v, want ErrLocked", err)
	}
	if _, err := LockDate(root, date, "v8"); !errors.Is(err, ErrLocked) {
		t.Errorf("a run beside its shards: %v, want ErrLocked", err)
	}
	if !DateLockFree(root, date) {
		t.Error("shards' shared holds count as a publishing run")
	}
	s0.Release()
	s1.Release()
	l, err := LockDate(root, date, "v9")
	if err != nil {
		t.Fatalf("after the shards: %v", err)
	}
	l.Release()

	elsewhere := t.TempDir()
	plant(t, root, "_locks", elsewhere)
	if _, err := LockDate(root, date, "v10"); !errors.Is(err, errOutside) {
		t.Errorf("through a planted _locks: %v, want errOutside", err)
	}
	empty(t, elsewhere)
}
