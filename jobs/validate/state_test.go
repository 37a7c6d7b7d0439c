package validate

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// Keys exported by two shards' sets, spilled or not, and imported into one
// set count the duplicates across them.
func TestKeySetExportImport(t *testing.T) {
	dir := t.TempDir()
	for _, limit := range []int{7, 1 << 20} {
		a, b := newKeySet(dir, limit), newKeySet(dir, limit)
		for i := uint64(0); i < 100; i++ {
			a.add([]uint64{i * 0x9e3779b97f4a7c15})
		}
		for i := uint64(90); i < 150; i++ { // 10 keys in both
			b.add([]uint64{i * 0x9e3779b97f4a7c15})
		}
		merged := newKeySet(dir, limit)
		for n, k := range []*keySet{a, b} {
			var buf bytes.Buffer
			count, err := k.export(&buf)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "keys")
			if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := merged.importFrom(path, count); err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				if err := merged.importFrom(path, count+1); err == nil {
					t.Error("a keys file shorter than its state said was taken")
				}
			}
		}
		dups, err := merged.duplicates()
		if err != nil {
			t.Fatal(err)
		}
		if dups != 10 {
			t.Errorf("limit %d: %d duplicates, want the 10 keys both shards hold", limit, dups)
		}
		for _, k := range []*keySet{a, b, merged} {
			k.close()
		}
	}
}
