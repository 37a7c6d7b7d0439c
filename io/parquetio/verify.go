package parquetio

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/apache/arrow/go/v17/parquet/file"
)

// ErrIncomplete marks a written file that is not on disk as the Writer
// reported it: cut short, without a readable footer, or with other bytes.
var ErrIncomplete = errors.New("written Parquet file is incomplete")

// CheckWritten reads back a file the Writer wrote and checks that it is
// whole: its footer parses and, when want is given, it has want's size,
// row count and sha256.
//
// Why: arrow's parquet file.Writer.Close (v17) drops the error of writing
// the last row group and the footer (its deferred sink close overwrites
// it), so a write that fails there, on a full disk or past RLIMIT_FSIZE,
// leaves a file cut short that closes without an error. Reading it back
// is the one check that does not trust the writer's error path.
func CheckWritten(path string, want *WrittenFile) (err error) {
	fh, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrIncomplete, path, err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrIncomplete, path, err)
	}
	if want != nil && st.Size() != want.Bytes {
		return fmt.Errorf("%w: %s: %d bytes on disk, %d written (a write failed unreported: is the disk full, or a file size limit set?)",
			ErrIncomplete, path, st.Size(), want.Bytes)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: the footer does not parse: %v", ErrIncomplete, path, r)
		}
	}()
	pf, err := file.NewParquetReader(fh)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrIncomplete, path, err)
	}
	// Not pf.Close: that would close fh, which the deferred Close does.
	if want == nil {
		return nil
	}
	if rows := pf.NumRows(); rows != want.Rows {
		return fmt.Errorf("%w: %s: the footer counts %d rows, %d written", ErrIncomplete, path, rows, want.Rows)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(fh, 0, st.Size())); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrIncomplete, path, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != want.SHA256 {
		return fmt.Errorf("%w: %s: sha256 %s on disk, %s written", ErrIncomplete, path, sum, want.SHA256)
	}
	return nil
}
