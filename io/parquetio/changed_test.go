package parquetio

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/parquet/compress"
)

func TestCheckUnchanged(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, path string)
		want   string // "" : unchanged
	}{
		{"untouched", func(*testing.T, string) {}, ""},
		{"rewritten in place, same size", func(t *testing.T, p string) {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "after the run started"}, // same size: the modification time tells
		{"removed", func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}, "removed since the run started"},
		{"replaced by another Parquet file", func(t *testing.T, p string) {
			writeRows(t, p+".new", 0, 100, fileOpts{codec: compress.Codecs.Zstd})
			if err := os.Rename(p+".new", p); err != nil {
				t.Fatal(err)
			}
		}, "bytes, "},
		{"truncated", func(t *testing.T, p string) {
			if err := os.Truncate(p, 100); err != nil {
				t.Fatal(err)
			}
		}, "100 bytes, "},
		{"replaced by a folder", func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}, "no longer a regular file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "part-0.parquet")
			writeRows(t, p, 0, 100, fileOpts{})
			src, err := Open(filepath.Join(dir, "*.parquet"))
			if err != nil {
				t.Fatal(err)
			}
			tc.change(t, p)
			f := src.Files()[0]
			err = f.checkUnchanged()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("CheckUnchanged = %v, want nil", err)
			case tc.want != "" && (!errors.Is(err, ErrChanged) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("CheckUnchanged = %v, want ErrChanged naming %s and saying %q", err, p, tc.want)
			}
		})
	}
}
