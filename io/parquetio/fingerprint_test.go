package parquetio

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFingerprint(t *testing.T) {
	dir := t.TempDir()
	snap := filepath.Join(dir, "date=2026-11-20")
	for i, name := range []string{"a.parquet", "b.parquet", "c/d.parquet"} {
		writeRows(t, filepath.Join(snap, name), int64(i)*100, 50, fileOpts{})
	}
	pattern := filepath.Join(dir, "date=*", "*.parquet")
	fingerprint := func(t *testing.T, workers int) (string, *Source) {
		t.Helper()
		src, err := Open(pattern, WithHashWorkers(workers))
		if err != nil {
			t.Fatal(err)
		}
		fp, err := src.Fingerprint(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return fp, src
	}

	fp, src := fingerprint(t, 4)
	if hexPart, ok := strings.CutPrefix(fp, "sha256:"); !ok || len(hexPart) != 64 {
		t.Fatalf("fingerprint %q is not sha256 hex", fp)
	}
	t.Run("per file sha256 and names", func(t *testing.T) {
		want := []string{"date=2026-11-20/a.parquet", "date=2026-11-20/b.parquet"}
		files := src.Files()
		if len(files) != len(want) {
			t.Fatalf("%d files, want %d", len(files), len(want))
		}
		for i, f := range files {
			if f.Name != want[i] {
				t.Errorf("Name = %q, want %q", f.Name, want[i])
			}
			data, err := os.ReadFile(f.Path)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			if f.SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("%s: SHA256 %s, want %x", f.Name, f.SHA256, sum)
			}
		}
	})
	t.Run("stable", func(t *testing.T) {
		for _, workers := range []int{0, 1, 2, 16} {
			if got, _ := fingerprint(t, workers); got != fp {
				t.Errorf("workers=%d: fingerprint %s, want %s", workers, got, fp)
			}
		}
		if again, err := src.Fingerprint(context.Background()); err != nil || again != fp {
			t.Errorf("second call on one Source: %s, %v", again, err)
		}
	})
	t.Run("one byte changed, same size", func(t *testing.T) {
		p := filepath.Join(snap, "b.parquet")
		orig, _ := os.ReadFile(p)
		t.Cleanup(func() { os.WriteFile(p, orig, 0o644) })
		changed := append([]byte(nil), orig...)
		changed[len(changed)/2] ^= 1
		os.WriteFile(p, changed, 0o644)
		if got, _ := fingerprint(t, 2); got == fp {
			t.Error("content changed, fingerprint did not")
		}
	})
	t.Run("file renamed", func(t *testing.T) {
		from, to := filepath.Join(snap, "b.parquet"), filepath.Join(snap, "b2.parquet")
		os.Rename(from, to)
		t.Cleanup(func() { os.Rename(to, from) })
		if got, _ := fingerprint(t, 2); got == fp {
			t.Error("file renamed, fingerprint did not change")
		}
	})
	t.Run("file grew after Open", func(t *testing.T) {
		src, err := Open(pattern)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(snap, "a.parquet")
		orig, _ := os.ReadFile(p)
		t.Cleanup(func() { os.WriteFile(p, orig, 0o644) })
		os.WriteFile(p, append(append([]byte(nil), orig...), 0), 0o644)
		if _, err := src.Fingerprint(context.Background()); err == nil {
			t.Error("size changed between Open and Fingerprint: no error")
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		src, err := Open(pattern)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := src.Fingerprint(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Fingerprint = %v, want context.Canceled", err)
		}
	})
}
