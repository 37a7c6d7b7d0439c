// Package parquettest writes small Parquet files for tests.
package parquettest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
)

// WriteIDs writes a Parquet file at path (making its folder) of an int64
// customer_id column and one more column, name: vals as float64, or as
// int64 (truncated) when asInt. A result table's part file, its _shadow
// file or a labels file, as the outcomes tests need them.
func WriteIDs(t testing.TB, path string, ids []int64, name string, vals []float64, asInt bool) {
	t.Helper()
	mem := memory.DefaultAllocator
	ib := array.NewInt64Builder(mem)
	ib.AppendValues(ids, nil)
	var col arrow.Array
	typ := arrow.DataType(arrow.PrimitiveTypes.Float64)
	if asInt {
		b := array.NewInt64Builder(mem)
		for _, v := range vals {
			b.Append(int64(v))
		}
		col, typ = b.NewArray(), arrow.PrimitiveTypes.Int64
	} else {
		b := array.NewFloat64Builder(mem)
		b.AppendValues(vals, nil)
		col = b.NewArray()
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "customer_id", Type: arrow.PrimitiveTypes.Int64}, {Name: name, Type: typ}}, nil)
	rec := array.NewRecord(schema, []arrow.Array{ib.NewArray(), col}, int64(len(ids)))
	defer rec.Release()
	Write(t, path, rec)
}

// Write writes rec as a Parquet file at path, making its folder.
func Write(t testing.TB, path string, rec arrow.Record) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(rec.Schema(), f, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}
