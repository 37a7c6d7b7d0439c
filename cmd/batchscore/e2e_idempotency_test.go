package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A rerun of a date whose current version came from the same snapshot,
// model and job file does nothing and says so; --force makes a version.
func TestRerunIsAlreadyCurrent(t *testing.T) {
	table := filepath.Join(t.TempDir(), "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table})
	if res := bs(t, "run", job, "--date", date20); res.code != 0 {
		t.Fatal(res)
	}
	before := snapshotTable(t, table, date20)
	runs := len(manifests(t, table, date20))
	res := bs(t, "run", job, "--date", date20)
	if res.code != 0 || !strings.Contains(res.stdout, "already current") {
		t.Fatalf("rerun: exit %d\n%s", res.code, res)
	}
	before.unchanged(t, table, date20)
	if got := len(manifests(t, table, date20)); got != runs {
		t.Errorf("a no-op rerun left %d manifests, want %d", got, runs)
	}
	if res := bs(t, "run", job, "--date", date20, "--force"); res.code != 0 {
		t.Fatal(res)
	}
	if v := listDir(t, filepath.Join(table, "versions", date20)); len(v) != 2 {
		t.Errorf("--force: versions %v, want two", v)
	}
}

// While another process holds a (job, date), a second launcher exits 4
// naming the holder; once the holder is gone, with whatever death, the
// lock is free.
func TestSecondLauncherIsLockedOut(t *testing.T) {
	table := filepath.Join(t.TempDir(), "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table})
	if err := os.MkdirAll(filepath.Join(table, "_locks"), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(table, "_locks", date20+".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	holder, _ := json.Marshal(map[string]any{"host": "other-host", "pid": 4242, "version": "v-holder", "since": "2026-11-21T02:00:00Z"})
	f.WriteAt(holder, 0)
	res := bs(t, "run", job, "--date", date20)
	if res.code != 4 || !strings.Contains(res.messages(), "pid 4242 on other-host") {
		t.Errorf("while locked: exit %d, want 4 naming the holder\n%s", res.code, res)
	}
	if versions := listDir(t, filepath.Join(table, "versions", date20)); len(versions) != 0 {
		t.Errorf("a locked-out run published %v", versions)
	}
	f.Close() // the holder dies: the kernel drops its lock
	if res := bs(t, "run", job, "--date", date20); res.code != 0 {
		t.Errorf("after the holder died: %s", res)
	}
}
