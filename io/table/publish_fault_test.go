package table

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// When current/<date> cannot be switched, Publish takes the version back
// out of versions/: a failed run must leave no version folder that globs
// over every version would read. Here the swap fails because current/<date>
// is a folder (renaming a link over a folder is EISDIR), which fails the
// same way as root as for anyone else.
func TestPublishUndoesTheRenameWhenCurrentCannotSwitch(t *testing.T) {
	tb := openTable(t)
	v1 := NewVersion(time.Date(2026, 11, 21, 1, 0, 0, 0, time.UTC))
	publish(t, tb, v1, "one")
	link := tb.CurrentLink(date)
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(link, "x"), 0o750); err != nil {
		t.Fatal(err)
	}
	v2 := NewVersion(time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC))
	stageFiles(t, tb, v2, map[string][]byte{"part-00000.parquet": []byte("two")})
	if err := tb.Publish(date, v2); err == nil {
		t.Fatal("Publish switched current/ over a folder")
	}
	if vs, err := tb.Versions(date); err != nil || !slices.Equal(vs, []string{v1}) {
		t.Errorf("versions/%s = %v, %v; want only %s", date, vs, err, v1)
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
}
