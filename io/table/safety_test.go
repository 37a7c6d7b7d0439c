package table

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// plant makes <root>/<rel> a symlink to target, replacing what is there.
func plant(t *testing.T, root, rel, target string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

// empty fails the test if dir holds anything.
func empty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("something was written outside the table, into %s: %v", dir, names)
	}
}

func testOpenRefusesSymlinksOutside(t *testing.T, k kind) {
	for _, rel := range []string{"runs", "versions", "current", "_staging", "_locks", "_resume", "runs/" + date, "versions/" + date} {
		t.Run(rel, func(t *testing.T) {
			root := k.root(t)
			elsewhere := t.TempDir()
			plant(t, localRoot(t, root), rel, elsewhere)
			_, err := Open(root)
			if !errors.Is(err, errOutside) || !strings.Contains(err.Error(), rel) || !strings.Contains(err.Error(), elsewhere) {
				t.Errorf("Open = %v, want errOutside naming %s and %s", err, rel, elsewhere)
			}
			empty(t, elsewhere)
		})
	}
	t.Run("symlinks inside the table are fine", func(t *testing.T) {
		root := k.root(t)
		local := localRoot(t, root)
		if err := os.MkdirAll(filepath.Join(local, "archive", date), 0o750); err != nil {
			t.Fatal(err)
		}
		plant(t, local, "versions/"+date, filepath.Join("..", "archive", date))
		tb, err := Open(root)
		if err != nil {
			t.Fatal(err)
		}
		defer tb.Close()
		publish(t, tb, NewVersion(time.Now()), "x")
		if got := readCurrent(t, tb); got != "x" {
			t.Errorf("current holds %q", got)
		}
	})
	// For a bucket, the work folder's parent.
	t.Run("the root may be a symlink", func(t *testing.T) {
		real := filepath.Join(t.TempDir(), "real")
		link := filepath.Join(t.TempDir(), "scores")
		if err := os.Mkdir(real, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(real, link); err != nil {
			t.Fatal(err)
		}
		root := k.rootUnder(t, link)
		tb, err := Open(root)
		if err != nil {
			t.Fatal(err)
		}
		defer tb.Close()
		v := NewVersion(time.Now())
		publish(t, tb, v, "x")
		seen(t, k, root, v, "x")
	})
}

// Folders planted after Open (by another process, between two runs of a
// daemon) are refused where they are written into.
func testWritesRefuseSymlinksOutside(t *testing.T, k kind) {
	tests := []struct {
		name  string
		plant string
		write func(tb *Table, v string) error
	}{
		{"publish into versions/<date>", "versions/" + date, func(tb *Table, v string) error { return tb.Publish(date, v) }},
		{"publish into versions", "versions", func(tb *Table, v string) error { return tb.Publish(date, v) }},
		{"publish from _staging", "_staging", func(tb *Table, v string) error { return tb.Publish(date, v) }},
		{"manifest into runs/<date>", "runs/" + date, func(tb *Table, v string) error { _, err := tb.WriteManifest(date, v, []byte("{}")); return err }},
		{"report into runs", "runs", func(tb *Table, v string) error {
			_, err := tb.WriteRunFile(date, v, ".report.json", []byte("{}"))
			return err
		}},
		{"discard in _staging", "_staging", func(tb *Table, v string) error { return tb.Discard(v) }},
		{"stage in _staging", "_staging", func(tb *Table, v string) error { _, err := tb.Stage(v + "x"); return err }},
		{"point current", "current", func(tb *Table, v string) error { return tb.point(date, v) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb := k.open(t)
			v := NewVersion(time.Now())
			stageFiles(t, tb, v, map[string][]byte{"part-00000.parquet": []byte("x")})
			elsewhere := t.TempDir()
			if tc.plant == "_staging" {
				// A copy of the staged version, so that following the link would work.
				if err := os.Mkdir(filepath.Join(elsewhere, v), 0o750); err != nil {
					t.Fatal(err)
				}
				defer os.Remove(filepath.Join(elsewhere, v))
			}
			plant(t, tb.Root, tc.plant, elsewhere)
			err := tc.write(tb, v)
			if !errors.Is(err, errOutside) {
				t.Fatalf("err = %v, want errOutside", err)
			}
			if tc.plant == "_staging" {
				empty(t, filepath.Join(elsewhere, v))
				os.Remove(filepath.Join(elsewhere, v))
			}
			empty(t, elsewhere)
		})
	}
}

// A current link pointing outside the table is not written through: the
// next publish replaces the link, and until then it is not a version.
func testCurrentLinkOutsideIsReplaced(t *testing.T, k kind) {
	root := k.root(t)
	tb := openRoot(t, root)
	elsewhere := t.TempDir()
	v := NewVersion(time.Now())
	planted := filepath.Join(elsewhere, v) // looks like a version by name
	if err := os.Mkdir(planted, 0o750); err != nil {
		t.Fatal(err)
	}
	plant(t, tb.Root, "current/"+date, planted)
	if got, err := tb.Current(date); err != nil || got != "" {
		t.Errorf("Current = %q, %v; a link outside versions/ is no version", got, err)
	}
	publish(t, tb, v, "fresh")
	if got := readCurrent(t, tb); got != "fresh" {
		t.Errorf("current holds %q", got)
	}
	if got, _ := tb.Current(date); got != v {
		t.Errorf("Current = %q, want %s", got, v)
	}
	seen(t, k, root, v, "fresh")
	empty(t, planted)
}

func TestDir(t *testing.T) {
	root := filepath.Join(t.TempDir(), "scores")
	tb := &Table{Root: root}
	dir, err := tb.Dir("_resume", "run-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{root, filepath.Join(root, "_resume"), dir} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if !st.IsDir() || st.Mode().Perm() != DirMode {
			t.Errorf("%s: %v, want a folder with mode %v", p, st.Mode(), DirMode)
		}
	}
	elsewhere := t.TempDir()
	plant(t, root, "_locks", elsewhere)
	if _, err := tb.Dir("_locks"); !errors.Is(err, errOutside) {
		t.Errorf("Dir(_locks) through a planted link = %v, want errOutside", err)
	}
	if _, err := tb.Dir("../x"); !errors.Is(err, errBadName) {
		t.Errorf("Dir(../x) = %v, want errBadName", err)
	}
	empty(t, elsewhere)
}

func testNamesCannotEscape(t *testing.T, k kind) {
	tb := k.open(t)
	v := NewVersion(time.Now())
	stageFiles(t, tb, v, nil)
	for _, bad := range []string{"", ".", "..", "../x", "a/b", "..\\x"} {
		checks := map[string]error{
			"Stage":          func() error { _, err := tb.Stage(bad); return err }(),
			"Discard":        tb.Discard(bad),
			"Publish date":   tb.Publish(bad, v),
			"Publish ver":    tb.Publish(date, bad),
			"manifest date":  func() error { _, err := tb.WriteManifest(bad, v, nil); return err }(),
			"report suffix":  func() error { _, err := tb.WriteRunFile(date, v, "/../../x", nil); return err }(),
			"manifest vers.": func() error { _, err := tb.WriteManifest(date, bad, nil); return err }(),
		}
		for what, err := range checks {
			if !errors.Is(err, errBadName) {
				t.Errorf("%s(%q) = %v, want errBadName", what, bad, err)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(tb.Root, "..", "x")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("something was made beside the table: %v", err)
	}
}

func testModes(t *testing.T, k kind) {
	old := syscall.Umask(0o022) // the usual umask; the modes must not depend on it loosening
	defer syscall.Umask(old)
	tb := k.open(t)
	v := NewVersion(time.Now())
	dir, err := tb.Stage(v)
	if err != nil {
		t.Fatal(err)
	}
	// Staged by someone careless: Publish tightens it.
	if err := os.Mkdir(filepath.Join(dir, "_quarantine"), 0o777); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"part-00000.parquet", "_quarantine/part-00000.parquet"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "private"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := tb.Publish(date, v); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{".json", ".report.html"} {
		if _, err := tb.WriteRunFile(date, v, suffix, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	err = filepath.Walk(tb.Root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(tb.Root, p)
		want := FileMode
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			return nil
		case info.IsDir():
			want = DirMode
		case strings.HasSuffix(p, "private"):
			want = 0o600 // tightened, never loosened
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", rel, got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
