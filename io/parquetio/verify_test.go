package parquetio

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"
)

func TestCheckWritten(t *testing.T) {
	dir := t.TempDir()
	rec := makeRecord(memory.DefaultAllocator, 0, 5000)
	defer rec.Release()
	w, err := NewWriter(dir, rec.Schema(), "zstd", 1<<20, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	files, err := w.Close()
	if err != nil || len(files) != 1 {
		t.Fatalf("Close = %v, %v", files, err)
	}
	path := filepath.Join(dir, files[0].Name)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckWritten(path, &files[0]); err != nil {
		t.Fatalf("a whole file: %v", err)
	}
	if err := CheckWritten(path, nil); err != nil {
		t.Fatalf("a whole file, nothing to compare with: %v", err)
	}

	tests := []struct {
		name   string
		spoil  func(b []byte) []byte
		listed bool
		want   string
	}{
		{"cut short", func(b []byte) []byte { return b[:len(b)-100] }, true, "bytes on disk"},
		{"cut short, not listed", func(b []byte) []byte { return b[:len(b)-100] }, false, ""},
		{"one byte flipped", func(b []byte) []byte { c := append([]byte(nil), b...); c[len(c)/2] ^= 0xff; return c }, true, "sha256"},
		{"empty", func([]byte) []byte { return nil }, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), files[0].Name)
			if err := os.WriteFile(p, tc.spoil(good), 0o640); err != nil {
				t.Fatal(err)
			}
			var want *WrittenFile
			if tc.listed {
				want = &files[0]
			}
			err := CheckWritten(p, want)
			if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CheckWritten = %v, want ErrIncomplete naming %s and saying %q", err, p, tc.want)
			}
		})
	}
	if err := CheckWritten(filepath.Join(dir, "missing.parquet"), nil); !errors.Is(err, ErrIncomplete) {
		t.Errorf("a missing file: %v", err)
	}
}
