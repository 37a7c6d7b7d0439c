package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/batchscore/batchscore/internal/atomicfile"
)

// lockFolder takes the registry's exclusive flock, waiting for it. The
// kernel drops it when the process exits, however it exits. flock locks
// belong to the open file, so goroutines of one process exclude each other
// too.
func lockFolder(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking registry: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking registry %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil // closing releases the lock
}

// writeAtomic replaces path with data so that a reader sees the old file
// or the new one, and a crash leaves one of them.
func writeAtomic(path string, data []byte) error { return atomicfile.WriteFile(path, data) }

// syncDir makes a rename or a new file in path's folder durable.
func syncDir(path string) error {
	if err := atomicfile.SyncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("syncing folder of %s: %w", path, err)
	}
	return nil
}

// copyFile copies src to dst (through a temporary file, synced, then
// renamed) and returns the sha256 of the bytes written. The folders it
// creates are synced up to the registry folder.
func copyFile(src, dst string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("adding model file: %w", err)
	}
	defer in.Close()
	if st, err := in.Stat(); err != nil || st.IsDir() {
		return "", fmt.Errorf("%w: adding model file: %s is not a file", ErrInvalid, src)
	}
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("adding model file: %w", err)
	}
	tmp, err := atomicfile.Create(dst)
	if err != nil {
		return "", fmt.Errorf("adding model file: %w", err)
	}
	defer tmp.Abort()
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(tmp, h), in)
	if err == nil {
		err = tmp.Commit()
	}
	if err != nil {
		return "", fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	// <name>/<version>/file, <name>/<version> and <name> may all be new.
	for p, i := dst, 0; i < 3; p, i = filepath.Dir(p), i+1 {
		if err := syncDir(p); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// verifyFile checks that the file at path has the given sha256: a model
// file changed after it was registered is ErrMismatch.
func verifyFile(path, sha256hex string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("verifying model file: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("verifying model file %s: %w", path, err)
	}
	actual := hex.EncodeToString(h.Sum(nil))
	if !strings.EqualFold(actual, sha256hex) {
		return fmt.Errorf("%w: %s has sha256 %s, the registry expects %s", ErrMismatch, path, actual, sha256hex)
	}
	return nil
}
