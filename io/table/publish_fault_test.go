package table

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// When the commit fails (a folder: current/<date> cannot be switched; a
// bucket: another machine published the date meanwhile), Publish takes
// the version back out of versions/: a failed run must leave no version
// folder that globs over every version would read, and no reader may see
// it.
func testPublishUndoesTheRenameWhenCommitFails(t *testing.T, k kind) {
	root := k.root(t)
	tb := openRoot(t, root)
	v1 := NewVersion(time.Date(2026, 11, 21, 1, 0, 0, 0, time.UTC))
	publish(t, tb, v1, "one")
	k.breakCommit(t, tb, root, date)
	v2 := NewVersion(time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC))
	stageFiles(t, tb, v2, map[string][]byte{"part-00000.parquet": []byte("two")})
	if err := tb.Publish(date, v2); err == nil {
		t.Fatal("Publish succeeded though its commit could not")
	}
	if vs, err := tb.versions(date); err != nil || !slices.Equal(vs, []string{v1}) {
		t.Errorf("versions/%s = %v, %v; want only %s", date, vs, err, v1)
	}
	if v, _ := k.reader(t, root).current(date); v == v2 {
		t.Errorf("a reader sees the failed version %s", v2)
	}
	// Back in staging, where Discard removes it.
	if data, err := os.ReadFile(filepath.Join(tb.Root, "_staging", v2, "part-00000.parquet")); err != nil || string(data) != "two" {
		t.Errorf("the staged version is not back in _staging: %q, %v", data, err)
	}
	if err := tb.Discard(v2); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(filepath.Join(tb.Root, "_staging")); len(left) != 0 {
		t.Errorf("_staging holds %d entries", len(left))
	}
	if left := k.reader(t, root).files("versions/" + date + "/" + v2); len(left) != 0 {
		t.Errorf("the store keeps %v of the failed version", left)
	}
}
