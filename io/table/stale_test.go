package table

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// leaveLeftovers makes what a killed execution leaves behind and returns
// their paths relative to the root.
func leaveLeftovers(t *testing.T, root string) []string {
	t.Helper()
	v := NewVersion(time.Now())
	left := []string{
		filepath.Join("_staging", v),
		filepath.Join("_staging", v+"-keys"),
		filepath.Join("_staging", "current-"+date+"-"+v),
		filepath.Join("runs", date, "."+v+".json.123456.tmp"),
	}
	for _, d := range []string{left[0], left[1]} {
		if err := os.MkdirAll(filepath.Join(root, d, "sub"), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, d, "sub", "part-00000.parquet"), []byte("half"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join("..", "versions", date, v), filepath.Join(root, left[2])); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "runs", date), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, left[3]), []byte(`{"sta`), 0o640); err != nil {
		t.Fatal(err)
	}
	slices.Sort(left)
	return left
}

func exists(t *testing.T, root string, rels []string) []string {
	t.Helper()
	var out []string
	for _, r := range rels {
		if _, err := os.Lstat(filepath.Join(root, r)); err == nil {
			out = append(out, r)
		}
	}
	return out
}

func testOpenRemovesLeftoversOfKilledRuns(t *testing.T, k kind) {
	root := k.root(t)
	local := localRoot(t, root)
	tb, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, tb, NewVersion(time.Now()), "kept")
	manifest, err := tb.WriteManifest(date, "v1", []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	tb.Close()
	left := leaveLeftovers(t, local)

	tb, err = Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	got := slices.Clone(tb.stale)
	slices.Sort(got)
	if !slices.Equal(got, left) {
		t.Errorf("stale = %v, want %v", got, left)
	}
	if still := exists(t, local, left); len(still) > 0 {
		t.Errorf("left behind: %v", still)
	}
	if readCurrent(t, tb) != "kept" {
		t.Error("the current version changed")
	}
	if _, err := os.Stat(manifest); err != nil {
		t.Errorf("a manifest was removed: %v", err)
	}
}

// While any execution has the table open, in this process or another,
// nothing is removed: the staging folders may be its own.
func testOpenKeepsStagingOfLiveExecutions(t *testing.T, k kind) {
	root := k.root(t)
	local := localRoot(t, root)
	live, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	left := leaveLeftovers(t, local)

	second, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(second.stale) != 0 {
		t.Errorf("removed %v while another Table was open", second.stale)
	}
	if n, err := (&Table{Root: local}).cleanStale(); err != nil || len(n) != 0 {
		t.Errorf("cleanStale = %v, %v while Tables are open", n, err)
	}
	if still := exists(t, local, left); !slices.Equal(still, left) {
		t.Errorf("only %v left of %v", still, left)
	}
	live.Close()
	second.Close()

	// Another process's hold: a separate open file description, as a
	// process would have.
	f, err := os.Open(filepath.Join(local, "_locks", usersLock))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	third, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(third.stale) != 0 {
		t.Errorf("removed %v while another process held the table", third.stale)
	}
	third.Close()
	f.Close() // the process ends: the kernel drops its hold

	removed, err := (&Table{Root: local}).cleanStale()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	if !slices.Equal(removed, left) {
		t.Errorf("cleanStale of an idle table removed %v, want %v", removed, left)
	}
}

// A date folder of runs/ that leads outside is neither cleaned nor
// written: Open refuses the table.
func testCleanStaleSkipsOutside(t *testing.T, k kind) {
	url := k.root(t)
	root := localRoot(t, url)
	tb, err := Open(url)
	if err != nil {
		t.Fatal(err)
	}
	tb.Close()
	elsewhere := t.TempDir()
	tmp := filepath.Join(elsewhere, ".x.json.1.tmp")
	if err := os.WriteFile(tmp, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	plant(t, root, "runs/"+date, elsewhere)
	if _, err := (&Table{Root: root}).cleanStale(); err == nil {
		t.Error("cleanStale: no error for a runs/<date> leading outside")
	}
	if _, err := os.Stat(tmp); err != nil {
		t.Errorf("a file outside the table was removed: %v", err)
	}
}

// An idle Open lists only the runs/ date folders changed since the last
// sweep began: what it costs does not grow with the table's history, and
// a killed writer's temporary file, which changed its folder, is still
// found however old the date.
func TestSweepListsOnlyChangedDates(t *testing.T) {
	root := t.TempDir()
	old := time.Now().Add(-time.Hour)
	const dates = 50
	for i := range dates {
		d := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i).Format("2006-01-02")
		dir := filepath.Join(root, "runs", d)
		if err := os.MkdirAll(dir, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "20200101T000000.000Z-aa.json"), []byte("{}"), 0o640); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(dir, old, old); err != nil {
			t.Fatal(err)
		}
	}
	open := func() *Table {
		t.Helper()
		tb, err := Open(root)
		if err != nil {
			t.Fatal(err)
		}
		tb.Close()
		return tb
	}
	if tb := open(); tb.sweptDates != dates {
		t.Errorf("first sweep (no stamp) listed %d date folders, want all %d", tb.sweptDates, dates)
	}
	if tb := open(); tb.sweptDates != 0 {
		t.Errorf("second sweep listed %d date folders, want 0: none changed", tb.sweptDates)
	}
	tmp := filepath.Join("runs", "2020-01-07", ".20200101T000000.000Z-aa.report.html.12345.tmp")
	if err := os.WriteFile(filepath.Join(root, tmp), []byte("<ht"), 0o640); err != nil {
		t.Fatal(err)
	}
	tb := open()
	if tb.sweptDates > 1 {
		t.Errorf("listed %d date folders, want the one changed", tb.sweptDates)
	}
	if !slices.Equal(tb.stale, []string{tmp}) {
		t.Errorf("stale = %v, want %v", tb.stale, []string{tmp})
	}
	if _, err := os.Stat(filepath.Join(root, "runs", "2020-01-07", "20200101T000000.000Z-aa.json")); err != nil {
		t.Errorf("the manifest beside it went: %v", err)
	}
}
