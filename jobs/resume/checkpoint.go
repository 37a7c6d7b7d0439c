package resume

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/internal/atomicfile"
)

// writeRecordFile writes rec as an Arrow IPC stream at path (no
// compression: a checkpoint must cost next to nothing), replaced
// atomically: after a killed process the file is there whole or not at
// all. A reader still checks the sha256 it returns (readRecordFile).
func writeRecordFile(path string, rec arrow.Record, mem memory.Allocator) (string, error) {
	tmp, err := atomicfile.Create(path, atomicfile.WithoutSync())
	if err != nil {
		return "", err
	}
	defer tmp.Abort()
	// Streamed through the hash to the file: no copy of the chunk in memory.
	sum := sha256.New()
	buf := bufio.NewWriterSize(io.MultiWriter(tmp, sum), 256<<10)
	w := ipc.NewWriter(buf, ipc.WithSchema(rec.Schema()), ipc.WithAllocator(mem))
	err = w.Write(rec)
	err = errors.Join(err, w.Close())
	if err == nil {
		err = buf.Flush()
	}
	if err == nil {
		err = tmp.Commit()
	}
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(sum.Sum(nil)), nil
}

// readRecordFile reads a file writeRecordFile wrote, if its sha256 is
// want: a file that changed since is refused, never half-trusted. The
// record's buffers are copied out of the file's bytes into mem.
func readRecordFile(path, want string, mem memory.Allocator) (rec arrow.Record, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != want {
		return nil, fmt.Errorf("%s: sha256 %x, want %s", path, sum, want)
	}
	defer func() { // a file that matches its checksum but is not IPC
		if r := recover(); r != nil {
			rec, err = nil, fmt.Errorf("%s: unreadable checkpoint: %v", path, r)
		}
	}()
	r, err := ipc.NewReader(bytes.NewReader(data), ipc.WithAllocator(mem))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer r.Release()
	if !r.Next() {
		return nil, fmt.Errorf("%s: no record: %v", path, r.Err())
	}
	got := r.Record()
	// The reader's record lives in data; a copy owns its memory.
	cols := make([]arrow.Array, got.NumCols())
	for i := range cols {
		c, err := array.Concatenate([]arrow.Array{got.Column(i)}, mem)
		if err != nil {
			for _, done := range cols[:i] {
				done.Release()
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		cols[i] = c
	}
	out := array.NewRecord(got.Schema(), cols, got.NumRows())
	for _, c := range cols {
		c.Release()
	}
	return out, nil
}
