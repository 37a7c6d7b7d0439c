package parquetio

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
)

// readText reads cols and returns every column as text per row, with the
// batches' schema.
func readText(t *testing.T, src *Source, cols []string, batchRows int) ([][]string, *arrow.Schema) {
	t.Helper()
	mem := checkedAlloc(t)
	var rows [][]string
	var schema *arrow.Schema
	err := src.Read(context.Background(), cols, batchRows, mem, func(rec arrow.Record, _ string, _ int64) error {
		defer rec.Release()
		schema = rec.Schema()
		for i := range int(rec.NumRows()) {
			row := make([]string, rec.NumCols())
			for j, c := range rec.Columns() {
				row[j] = c.ValueStr(i)
			}
			rows = append(rows, row)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows, schema
}

func TestPartitionColumns(t *testing.T) {
	dir := t.TempDir()
	writeRows(t, filepath.Join(dir, "day=2026-11-19", "bucket=7", "region=eu", "part-0.parquet"), 0, 5, fileOpts{rowGroup: 2})
	writeRows(t, filepath.Join(dir, "day=2026-11-20", "bucket=12", "region=__HIVE_DEFAULT_PARTITION__", "part-0.parquet"), 100, 3, fileOpts{})
	src, err := Open(filepath.Join(dir, "*", "*", "*", "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	schema := src.Schema()
	wantTypes := map[string]arrow.DataType{"day": arrow.FixedWidthTypes.Date32, "bucket": arrow.PrimitiveTypes.Int64, "region": arrow.BinaryTypes.String}
	for name, typ := range wantTypes {
		idx := schema.FieldIndices(name)
		if len(idx) != 1 || !arrow.TypeEqual(schema.Field(idx[0]).Type, typ) {
			t.Errorf("schema %s: want column %s of %s", schema, name, typ)
		}
	}
	if err := src.CheckColumns([]string{"id", "day", "bucket", "region"}); err != nil {
		t.Fatal(err)
	}
	if got := src.Files()[0].Partition; got["day"] != "2026-11-19" || got["bucket"] != "7" {
		t.Errorf("File.Partition = %v", got)
	}
	for _, batch := range []int{1, 2, 4, 100} {
		rows, sch := readText(t, src, []string{"region", "id", "day", "bucket"}, batch)
		if len(rows) != 8 {
			t.Fatalf("batch %d: %d rows, want 8", batch, len(rows))
		}
		if names := sch.Field(0).Name + " " + sch.Field(1).Name; names != "region id" {
			t.Errorf("column order %s", names)
		}
		if got := strings.Join(rows[0], ","); got != "eu,0,2026-11-19,7" {
			t.Errorf("batch %d: first row %s", batch, got)
		}
		if got := strings.Join(rows[7], ","); got != "(null),102,2026-11-20,12" {
			t.Errorf("batch %d: last row %s", batch, got)
		}
	}
	// Partition columns only: rows counted from the footers.
	rows, _ := readText(t, src, []string{"bucket"}, 3)
	if len(rows) != 8 || rows[0][0] != "7" || rows[7][0] != "12" {
		t.Errorf("bucket only: %v", rows)
	}
	// A shard reads its row groups' partition values.
	if _, err := src.Shard(1, 2); err != nil {
		t.Fatal(err)
	}
	rows, _ = readText(t, src, []string{"bucket", "id"}, 10)
	if len(rows) == 0 || int64(len(rows)) != src.Rows() || rows[len(rows)-1][0] != "12" {
		t.Errorf("shard 1 of 2: %v (footers: %d rows)", rows, src.Rows())
	}
}

func TestPartitionTypes(t *testing.T) {
	dir := t.TempDir()
	writeRows(t, filepath.Join(dir, "k=010", "p.parquet"), 0, 2, fileOpts{})
	writeRows(t, filepath.Join(dir, "k=2026-11-20", "p.parquet"), 2, 2, fileOpts{})
	glob := filepath.Join(dir, "*", "*.parquet")
	// Mixed: string, kept as written.
	src, err := Open(glob)
	if err != nil {
		t.Fatal(err)
	}
	if typ := src.Schema().Field(src.Schema().FieldIndices("k")[0]).Type; typ.ID() != arrow.STRING {
		t.Errorf("mixed values: %s, want string", typ)
	}
	rows, _ := readText(t, src, []string{"k"}, 10)
	if rows[0][0] != "010" {
		t.Errorf("k = %s, want 010 as written", rows[0][0])
	}
	// Leading zeros: a string, as written, unless declared int.
	one := t.TempDir()
	writeRows(t, filepath.Join(one, "k=010", "p.parquet"), 0, 2, fileOpts{})
	if src, err = Open(filepath.Join(one, "*", "*.parquet")); err != nil {
		t.Fatal(err)
	}
	if rows, _ := readText(t, src, []string{"k"}, 10); rows[0][0] != "010" {
		t.Errorf("k=010 read as %s, want the string 010", rows[0][0])
	}
	if src, err = Open(filepath.Join(one, "*", "*.parquet"), WithPartitionTypes(map[string]arrow.DataType{"k": arrow.PrimitiveTypes.Int64})); err != nil {
		t.Fatal(err)
	}
	if rows, _ := readText(t, src, []string{"k"}, 10); rows[0][0] != "10" {
		t.Errorf("k=010 declared int read as %s, want 10", rows[0][0])
	}
	// Declared int: the date folder does not parse, named.
	_, err = Open(glob, WithPartitionTypes(map[string]arrow.DataType{"k": arrow.PrimitiveTypes.Int64}))
	if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), "k=2026-11-20") || !strings.Contains(err.Error(), "declared") {
		t.Errorf("declared int over a date folder: %v", err)
	}
}

func TestPartitionRoot(t *testing.T) {
	dir := t.TempDir()
	writeRows(t, filepath.Join(dir, "env=prod", "snapshot_date=2026-11-20", "p.parquet"), 0, 2, fileOpts{})
	pattern := filepath.Join(dir, "env=prod", "snapshot_date=2026-11-20", "*.parquet")
	// The glob's fixed folder: no partition.
	src, err := Open(pattern)
	if err != nil {
		t.Fatal(err)
	}
	if n := src.Schema().NumFields(); n != testSchema.NumFields() {
		t.Errorf("fixed folders became columns: %s", src.Schema())
	}
	// A root before the date's folder (a job's template): snapshot_date, not env.
	src, err = Open(pattern, WithPartitionRoot(filepath.Join(dir, "env=prod", "snapshot_date=")))
	if err != nil {
		t.Fatal(err)
	}
	if len(src.Schema().FieldIndices("snapshot_date")) != 1 || len(src.Schema().FieldIndices("env")) != 0 {
		t.Errorf("schema %s: want snapshot_date only", src.Schema())
	}
}

func TestPartitionErrors(t *testing.T) {
	t.Run("different folders", func(t *testing.T) {
		dir := t.TempDir()
		writeRows(t, filepath.Join(dir, "a=1", "p.parquet"), 0, 2, fileOpts{})
		writeRows(t, filepath.Join(dir, "b=1", "p.parquet"), 0, 2, fileOpts{})
		_, err := Open(filepath.Join(dir, "*", "*.parquet"))
		if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), "b=1") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("key twice", func(t *testing.T) {
		dir := t.TempDir()
		writeRows(t, filepath.Join(dir, "a=1", "a=2", "p.parquet"), 0, 2, fileOpts{})
		_, err := Open(filepath.Join(dir, "*", "*", "*.parquet"))
		if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), "twice") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("file disagrees with its folder", func(t *testing.T) {
		dir := t.TempDir()
		writeRows(t, filepath.Join(dir, "id=0", "p.parquet"), 0, 1, fileOpts{})            // id 0: agrees
		writeRows(t, filepath.Join(dir, "id=5", "p.parquet"), 5, 2, fileOpts{rowGroup: 1}) // ids 5, 6: row 1 disagrees
		src, err := Open(filepath.Join(dir, "*", "*.parquet"))
		if err != nil {
			t.Fatal(err)
		}
		mem := checkedAlloc(t)
		err = src.Read(context.Background(), []string{"x", "id"}, 10, mem, func(rec arrow.Record, _ string, _ int64) error {
			rec.Release()
			return nil
		})
		if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), filepath.Join("id=5", "p.parquet")) ||
			!strings.Contains(err.Error(), `"id" is 6 at row 1`) {
			t.Errorf("got %v", err)
		}
		// Not read: no check.
		if err := src.Read(context.Background(), []string{"x"}, 10, mem, func(rec arrow.Record, _ string, _ int64) error {
			rec.Release()
			return nil
		}); err != nil {
			t.Error(err)
		}
	})
}

func TestPartitionFingerprint(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a", "day=2026-11-20", "p.parquet")
	b := filepath.Join(dir, "b", "day=2026-11-21", "p.parquet")
	writeRows(t, a, 0, 3, fileOpts{})
	writeRows(t, b, 0, 3, fileOpts{}) // the same bytes in another folder
	fp := func(glob string) string {
		src, err := Open(glob)
		if err != nil {
			t.Fatal(err)
		}
		s, err := src.Fingerprint(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if fp(filepath.Join(dir, "a", "*", "*.parquet")) == fp(filepath.Join(dir, "b", "*", "*.parquet")) {
		t.Error("a renamed partition folder kept the fingerprint")
	}
}

// A folder the glob fixes (a job's template root) is not in the files'
// names, and its value stays out of the fingerprint: the logical date and
// the job file fix it, and tables published before partitions were read
// keep their run ids.
func TestPartitionFingerprintFixedFolder(t *testing.T) {
	dir := t.TempDir()
	for _, day := range []string{"2026-11-20", "2026-11-21"} {
		writeRows(t, filepath.Join(dir, "day="+day, "p.parquet"), 0, 3, fileOpts{})
	}
	fp := func(day string, opts ...Option) string {
		src, err := Open(filepath.Join(dir, "day="+day, "*.parquet"), opts...)
		if err != nil {
			t.Fatal(err)
		}
		s, err := src.Fingerprint(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	root := WithPartitionRoot(filepath.Join(dir, "day="))
	if fp("2026-11-20") != fp("2026-11-21") {
		t.Fatal("without partitions, the same bytes under the same names should fingerprint alike")
	}
	if fp("2026-11-20", root) != fp("2026-11-20") {
		t.Error("reading the folder as a partition changed the fingerprint")
	}
}
