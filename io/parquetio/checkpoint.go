package parquetio

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
)

// WriteRecordFile writes rec as one snappy Parquet file at path, through
// a temporary file renamed into place: after a killed process the file is
// there whole or not at all. It is not synced: a reader checks the sha256
// it returns (ReadRecordFile) rather than trust it after a power loss.
func WriteRecordFile(path string, rec arrow.Record, mem memory.Allocator) (string, error) {
	var buf bytes.Buffer
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy), parquet.WithAllocator(mem),
		parquet.WithMaxRowGroupLength(max(1, rec.NumRows())))
	w, err := pqarrow.NewFileWriter(rec.Schema(), &buf, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return "", err
	}
	if err := w.Write(rec); err != nil {
		w.Close()
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	sum := sha256.Sum256(buf.Bytes())
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Chmod(FileMode); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	return hex.EncodeToString(sum[:]), nil
}

// ReadRecordFile reads a file WriteRecordFile wrote, if its sha256 is
// want: a file that changed since is refused, never half-trusted.
func ReadRecordFile(path, want string, mem memory.Allocator) (arrow.Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != want {
		return nil, fmt.Errorf("%s: sha256 %x, want %s", path, sum, want)
	}
	pf, err := file.NewParquetReader(bytes.NewReader(data), file.WithReadProps(parquet.NewReaderProperties(mem)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, mem)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer tbl.Release()
	cols := make([]arrow.Array, tbl.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i := range cols {
		chunks := tbl.Column(i).Data().Chunks()
		if len(chunks) == 1 {
			chunks[0].Retain()
			cols[i] = chunks[0]
			continue
		}
		if cols[i], err = array.Concatenate(chunks, mem); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return array.NewRecord(tbl.Schema(), cols, tbl.NumRows()), nil
}
