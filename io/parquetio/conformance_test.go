package parquetio

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/io/source"
	"github.com/batchscore/batchscore/io/source/sourcetest"
)

// putSnapshot writes the suite's rows as one file of one row group.
func putSnapshot(t *testing.T, path string, rows []sourcetest.Row) {
	t.Helper()
	rec := sourcetest.Record(memory.DefaultAllocator, rows)
	defer rec.Release()
	writeParquet(t, path, fileOpts{schema: sourcetest.Schema}, rec)
}

func TestSourceConformanceLocal(t *testing.T) {
	dir := t.TempDir()
	pattern := filepath.Join(dir, "snap", "*.parquet")
	notParquet := filepath.Join(dir, "csv", "a.parquet")
	if err := os.MkdirAll(filepath.Dir(notParquet), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(notParquet, []byte("id,x,name\n1,2,a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	opener := func(p string) func(context.Context) (source.Source, error) {
		return func(context.Context) (source.Source, error) { return Open(p) }
	}
	sourcetest.Run(t, sourcetest.Harness{
		Put: func(t *testing.T, rows []sourcetest.Row) {
			putSnapshot(t, filepath.Join(dir, "snap", "part-0.parquet"), rows)
		},
		Open: func(_ *testing.T, ctx context.Context) (source.Source, error) { return opener(pattern)(ctx) },
		Missing: []sourcetest.Missing{
			{Name: "no file", Open: opener(filepath.Join(dir, "none", "*.parquet")), Want: filepath.Join(dir, "none", "*.parquet")},
			{Name: "not Parquet", Open: opener(filepath.Join(dir, "csv", "*.parquet")), Want: notParquet},
		},
	})
}

func TestSourceConformanceS3(t *testing.T) {
	s := newS3Snapshot(t)
	local := filepath.Join(s.dir, "upload.parquet")
	opener := func(p string) func(context.Context) (source.Source, error) {
		return func(context.Context) (source.Source, error) { return Open(s.url(p)) }
	}
	if err := os.WriteFile(local, []byte("id,x,name\n1,2,a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.upload(t, "csv/a.parquet", local)
	sourcetest.Run(t, sourcetest.Harness{
		Put: func(t *testing.T, rows []sourcetest.Row) {
			putSnapshot(t, local, rows)
			s.upload(t, "snap/part-0.parquet", local)
		},
		Open: func(_ *testing.T, ctx context.Context) (source.Source, error) { return opener("snap/*.parquet")(ctx) },
		Missing: []sourcetest.Missing{
			{Name: "no object", Open: opener("none/*.parquet"), Want: "none/*.parquet"},
			{Name: "not Parquet", Open: opener("csv/*.parquet"), Want: "csv/a.parquet"},
		},
	})
}
