package parquetio

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	"go.uber.org/goleak"

	"github.com/batchscore/batchscore/internal/testkit/miniotest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(miniotest.Wrap(m)) // stops MinIO, if a test started it
}

// testSchema is the snapshot shape the tests write: a key, a feature, a label.
var testSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "x", Type: arrow.PrimitiveTypes.Float64},
	{Name: "s", Type: arrow.BinaryTypes.String},
}, nil)

func xOf(id int64) float64 { return float64(id)*0.5 + 0.25 }
func sOf(id int64) string  { return fmt.Sprintf("s%d", id) }

// makeRecord builds rows with ids start, start+1, … of testSchema.
func makeRecord(mem memory.Allocator, start, n int64) arrow.Record {
	b := array.NewRecordBuilder(mem, testSchema)
	defer b.Release()
	for id := start; id < start+n; id++ {
		b.Field(0).(*array.Int64Builder).Append(id)
		b.Field(1).(*array.Float64Builder).Append(xOf(id))
		b.Field(2).(*array.StringBuilder).Append(sOf(id))
	}
	return b.NewRecord()
}

type fileOpts struct {
	schema   *arrow.Schema
	rowGroup int64 // rows per row group; 0 means one per record
	codec    compress.Compression
}

// writeParquet writes records to path with arrow's own writer, the way
// upstream jobs produce snapshots.
func writeParquet(t *testing.T, path string, o fileOpts, recs ...arrow.Record) {
	t.Helper()
	if o.schema == nil {
		o.schema = testSchema
	}
	if o.rowGroup == 0 {
		o.rowGroup = 1 << 20
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	props := parquet.NewWriterProperties(
		parquet.WithCompression(o.codec),
		parquet.WithMaxRowGroupLength(o.rowGroup),
		parquet.WithDictionaryDefault(false),
	)
	w, err := pqarrow.NewFileWriter(o.schema, f, props, pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil { // closes f too
		t.Fatal(err)
	}
}

// writeRows writes ids start..start+n-1 as one file.
func writeRows(t *testing.T, path string, start, n int64, o fileOpts) {
	t.Helper()
	rec := makeRecord(memory.DefaultAllocator, start, n)
	defer rec.Release()
	writeParquet(t, path, o, rec)
}

func checkedAlloc(t *testing.T) *memory.CheckedAllocator {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}
