package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
)

func gen(t *testing.T, args ...string) string {
	t.Helper()
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	if err := run(append(args, "-q", "--out", out), &stdout, &stderr); err != nil {
		t.Fatalf("run %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

// readAll reads a Parquet file and returns its table.
func readAll(t *testing.T, path string) (arrow.Table, *file.Reader) {
	t.Helper()
	rdr, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdr.Close() })
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tbl.Release)
	return tbl, rdr
}

func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		m[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestDeterministic(t *testing.T) {
	args := []string{"--date", "2026-11-20", "--rows", "3000", "--files", "2", "--csv"}
	a, b := readDir(t, gen(t, args...)), readDir(t, gen(t, args...))
	if len(a) != 4 {
		t.Fatalf("got %d files, want 4: %v", len(a), a)
	}
	for name, ab := range a {
		if !bytes.Equal(ab, b[name]) {
			t.Errorf("%s differs between two runs with the same flags", name)
		}
	}
	// Another date (hence another default seed) gives other data.
	c := readDir(t, gen(t, "--date", "2026-11-21", "--rows", "3000", "--files", "2", "--csv"))
	if bytes.Equal(a["snapshot_date=2026-11-20/part-00000.csv"][600:], c["snapshot_date=2026-11-21/part-00000.csv"][600:]) {
		t.Error("different dates produced the same rows")
	}
	// An explicit seed overrides the date-derived one.
	d1 := readDir(t, gen(t, "--date", "2026-11-20", "--rows", "50", "--seed", "7", "--csv"))
	d2 := readDir(t, gen(t, "--date", "2026-11-20", "--rows", "50", "--csv"))
	if bytes.Equal(d1["snapshot_date=2026-11-20/part-00000.csv"], d2["snapshot_date=2026-11-20/part-00000.csv"]) {
		t.Error("--seed had no effect")
	}
}

func TestSplitRowCountsAndUniqueIDs(t *testing.T) {
	const rows, files = 1001, 3
	out := gen(t, "--date", "2026-11-18", "--rows", "1001", "--files", "3")
	dir := filepath.Join(out, "snapshot_date=2026-11-18")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != files {
		t.Fatalf("got %d files, want %d", len(ents), files)
	}
	seen := map[int64]bool{}
	total := int64(0)
	wantCounts := []int64{333, 334, 334}
	for k, want := range wantCounts {
		name := []string{"part-00000.parquet", "part-00001.parquet", "part-00002.parquet"}[k]
		tbl, _ := readAll(t, filepath.Join(dir, name))
		if tbl.NumRows() != want {
			t.Errorf("%s: %d rows, want %d", name, tbl.NumRows(), want)
		}
		total += tbl.NumRows()
		for _, ch := range tbl.Column(0).Data().Chunks() {
			for _, id := range ch.(*array.Int64).Int64Values() {
				if seen[id] {
					t.Fatalf("duplicate customer_id %d", id)
				}
				seen[id] = true
			}
		}
	}
	if total != rows {
		t.Errorf("total rows %d, want %d", total, rows)
	}
	for i := int64(0); i < rows; i++ {
		if !seen[customerIDBase+i] {
			t.Fatalf("customer_id %d missing", customerIDBase+i)
		}
	}
}

// The rows do not depend on how they are split into files.
func TestSplitInvariant(t *testing.T) {
	csvRows := func(out string) string {
		files, _ := filepath.Glob(filepath.Join(out, "snapshot_date=2026-11-19", "part-*.csv"))
		var sb strings.Builder
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, body, _ := strings.Cut(string(b), "\n")
			sb.WriteString(body)
		}
		return sb.String()
	}
	one := csvRows(gen(t, "--date", "2026-11-19", "--rows", "500", "--files", "1", "--csv"))
	four := csvRows(gen(t, "--date", "2026-11-19", "--rows", "500", "--files", "4", "--csv"))
	if one != four || strings.Count(one, "\n") != 500 {
		t.Error("rows differ between --files 1 and --files 4")
	}
}

func TestSchema(t *testing.T) {
	if len(FeatureNames) != 30 {
		t.Fatalf("%d features, want 30", len(FeatureNames))
	}
	counts := map[arrow.Type]int{}
	for _, ty := range featureTypes {
		counts[ty.ID()]++
	}
	if counts[arrow.INT32] < 2 || counts[arrow.INT64] < 2 || counts[arrow.BOOL] < 2 || counts[arrow.FLOAT64] < 15 {
		t.Errorf("feature type mix %v", counts)
	}

	out := gen(t, "--date", "2026-11-20", "--rows", "2000")
	tbl, _ := readAll(t, filepath.Join(out, "snapshot_date=2026-11-20", "part-00000.parquet"))
	want := []string{"customer_id", "snapshot_date"}
	want = append(want, FeatureNames[:]...)
	want = append(want, "contract_type", "payment_method", "region", "churned")
	got := tbl.Schema()
	if got.NumFields() != len(want) {
		t.Fatalf("%d columns, want %d", got.NumFields(), len(want))
	}
	for i, f := range got.Fields() {
		if f.Name != want[i] {
			t.Errorf("column %d = %q, want %q", i, f.Name, want[i])
		}
		if !arrow.TypeEqual(f.Type, Schema().Field(i).Type) {
			t.Errorf("column %s type %s, want %s", f.Name, f.Type, Schema().Field(i).Type)
		}
	}
	for i, ty := range featureTypes {
		if !arrow.TypeEqual(got.Field(2+i).Type, ty) {
			t.Errorf("feature %s: %s want %s", FeatureNames[i], got.Field(2+i).Type, ty)
		}
	}

	levels := map[string][]string{"contract_type": contractTypes, "payment_method": paymentMethods, "region": regions}
	churned := 0
	for i := 0; i < int(tbl.NumCols()); i++ {
		name := got.Field(i).Name
		for _, ch := range tbl.Column(i).Data().Chunks() {
			if ch.NullN() != 0 {
				t.Errorf("column %s has nulls", name)
			}
			switch a := ch.(type) {
			case *array.Float64:
				for _, v := range a.Float64Values() {
					if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
						t.Fatalf("column %s has value %v", name, v)
					}
				}
			case *array.Date32:
				for _, v := range a.Date32Values() {
					if s := v.FormattedString(); s != "2026-11-20" {
						t.Fatalf("snapshot_date %s", s)
					}
				}
			case *array.String:
				for j := 0; j < a.Len(); j++ {
					found := false
					for _, l := range levels[name] {
						found = found || l == a.Value(j)
					}
					if !found {
						t.Fatalf("column %s: unexpected level %q", name, a.Value(j))
					}
				}
			case *array.Boolean:
				if name == "churned" {
					for j := 0; j < a.Len(); j++ {
						if a.Value(j) {
							churned++
						}
					}
				}
			}
		}
	}
	if rate := float64(churned) / 2000; rate < 0.1 || rate > 0.5 {
		t.Errorf("churn rate %.3f", rate)
	}
}

func TestRowGroups(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 70,000 rows")
	}
	out := gen(t, "--date", "2026-11-20", "--rows", "70000")
	_, rdr := readAll(t, filepath.Join(out, "snapshot_date=2026-11-20", "part-00000.parquet"))
	if n := rdr.NumRowGroups(); n != 2 {
		t.Fatalf("%d row groups, want 2", n)
	}
	if n := rdr.MetaData().RowGroup(0).NumRows(); n != rowGroupRows {
		t.Errorf("first row group has %d rows", n)
	}
	// Float columns are not dictionary-encoded.
	rg := rdr.MetaData().RowGroup(0)
	for i := 0; i < rg.NumColumns(); i++ {
		cc, err := rg.ColumnChunk(i)
		if err != nil {
			t.Fatal(err)
		}
		if cc.Type().String() == "DOUBLE" && cc.HasDictionaryPage() {
			t.Errorf("column %v is dictionary-encoded", cc.PathInSchema())
		}
	}
}

func TestListFeatures(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run([]string{"--list-features"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if got, want := stdout.String(), strings.Join(FeatureNames[:], "\n")+"\n"; got != want {
		t.Errorf("--list-features printed\n%s", got)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--rows", "10"},
		{"--date", "2026-13-01", "--rows", "10"},
		{"--date", "2026-11-20", "--rows", "0"},
		{"--date", "2026-11-20", "--rows", "3", "--files", "4"},
	} {
		var so, se bytes.Buffer
		if err := run(append(args, "--out", t.TempDir()), &so, &se); err == nil {
			t.Errorf("run %v: no error", args)
		}
	}
}
