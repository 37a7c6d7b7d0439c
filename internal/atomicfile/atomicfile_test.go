package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileReplacesWithModeAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "manifest.json")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("new")); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	st, _ := os.Stat(path)
	if string(got) != "new" || st.Mode().Perm() != Mode {
		t.Fatalf("got %q mode %v, want \"new\" mode %v", got, st.Mode().Perm(), Mode)
	}
	if err := WriteFile(path, []byte("x"), WithMode(0o644)); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
		t.Fatalf("WithMode(0644) gave %v", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("folder holds %d entries, want only the target", len(entries))
	}
}

func TestAbortKeepsTheOldFileAndTempIsRecognised(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "owner.json")
	os.WriteFile(path, []byte("old"), Mode)
	f, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if !IsTemp(filepath.Base(f.Name())) {
		t.Fatalf("IsTemp(%q) = false for Create's own temporary file", f.Name())
	}
	f.Write([]byte("half"))
	f.Abort()
	f.Abort()
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Fatalf("after Abort the file holds %q", got)
	}
	if err := f.Commit(); err == nil {
		t.Fatal("Commit after Abort succeeded")
	}
	for _, name := range []string{"owner.json", ".tmp", "x.tmp", ".owner.json"} {
		if IsTemp(name) {
			t.Errorf("IsTemp(%q) = true", name)
		}
	}
}

func TestWriteFileIntoAFolderThatIsAFileFails(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "sub")
	os.MkdirAll(target, 0o750)
	if err := WriteFile(target, []byte("x")); err == nil {
		t.Fatal("replacing a folder with a file succeeded")
	}
}

func TestWithoutSyncStillReplacesWhole(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "chunk.arrow")
	if err := WriteFile(path, []byte("new"), WithoutSync()); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "new" {
		t.Fatalf("got %q", got)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("folder holds %d entries, want only the target", len(entries))
	}
}
