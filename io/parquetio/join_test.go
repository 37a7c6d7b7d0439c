package parquetio

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/batchscore/batchscore/io/source"
)

// readJoined reads src with ReadJoined and checks every row against the
// file and row its spans name: file i of the snapshot holds ids
// base(name)+row. It returns the chunks' spans.
func readJoined(t *testing.T, src *Source, chunkRows int, base func(name string) int64) [][]source.Span {
	t.Helper()
	var chunks [][]source.Span
	err := src.ReadJoined(context.Background(), []string{"id", "x"}, chunkRows, checkedAlloc(t), func(rec arrow.Record, spans []source.Span) error {
		defer rec.Release()
		ids := rec.Column(0).(*array.Int64).Int64Values()
		var at int64
		for _, s := range spans {
			for r := range s.Rows {
				if want := base(filepath.Base(s.Where)) + s.Offset + r; ids[at+r] != want {
					t.Fatalf("row %d of a chunk: id %d, but its span names %s row %d (id %d)", at+r, ids[at+r], s.Where, s.Offset+r, want)
				}
			}
			at += s.Rows
		}
		if at != rec.NumRows() {
			t.Fatalf("spans cover %d rows of a chunk of %d", at, rec.NumRows())
		}
		chunks = append(chunks, spans)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return chunks
}

// TestReadJoinedAcrossFiles: N tiny files make ceil(rows/chunkRows)
// chunks, not N (a regression here is silent: every row still comes, each
// tiny file as a chunk of its own costs its fixed work again); the spans
// name each row's file and row; the cut is the same on every read (a
// resumed run's chunk numbers mean the same rows); and Read still cuts
// at every file.
func TestReadJoinedAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	const files, rows = 97, 37 // 3,589 rows
	for i := range files {
		writeRows(t, filepath.Join(dir, fmt.Sprintf("p-%04d.parquet", i)), int64(i)*1000, rows, fileOpts{rowGroup: 10})
	}
	base := func(name string) int64 {
		var i int64
		fmt.Sscanf(name, "p-%04d.parquet", &i)
		return i * 1000
	}
	src, err := Open(filepath.Join(dir, "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	const chunkRows = 500
	first := readJoined(t, src, chunkRows, base)
	if want := (files*rows + chunkRows - 1) / chunkRows; len(first) != want {
		t.Errorf("%d chunks from %d files of %d rows, want %d", len(first), files, rows, want)
	}
	if again := readJoined(t, src, chunkRows, base); !reflect.DeepEqual(first, again) {
		t.Errorf("a second read cut other chunks")
	}
	var perFile int
	if err := src.Read(context.Background(), []string{"id"}, chunkRows, checkedAlloc(t), func(rec arrow.Record, _ string, _ int64) error {
		rec.Release()
		perFile++
		return nil
	}); err != nil || perFile != files {
		t.Errorf("Read made %d chunks (%v), want one per file (%d)", perFile, err, files)
	}
}

// TestReadJoinedShards: a shard's joined chunks hold the same rows as its
// file-by-file ones (shards are cut by row group before any join), and
// the shards together read every row once.
func TestReadJoinedShards(t *testing.T) {
	dir := t.TempDir()
	for i := range 20 {
		writeRows(t, filepath.Join(dir, fmt.Sprintf("p-%04d.parquet", i)), int64(i)*1000, 130, fileOpts{rowGroup: 40})
	}
	base := func(name string) int64 {
		var i int64
		fmt.Sscanf(name, "p-%04d.parquet", &i)
		return i * 1000
	}
	seen := map[string]bool{}
	for k := range 3 {
		src, err := Open(filepath.Join(dir, "*.parquet"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := src.Shard(k, 3); err != nil {
			t.Fatal(err)
		}
		joined := map[string]bool{}
		for _, spans := range readJoined(t, src, 300, base) {
			for _, s := range spans {
				for r := range s.Rows {
					joined[fmt.Sprintf("%s:%d", filepath.Base(s.Where), s.Offset+r)] = true
				}
			}
		}
		plain := map[string]bool{}
		if err := src.Read(context.Background(), []string{"id"}, 300, checkedAlloc(t), func(rec arrow.Record, where string, off int64) error {
			defer rec.Release()
			for r := range rec.NumRows() {
				plain[fmt.Sprintf("%s:%d", filepath.Base(where), off+r)] = true
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(joined, plain) {
			t.Errorf("shard %d: joined chunks hold %d rows, file by file %d, or other ones", k, len(joined), len(plain))
		}
		if int64(len(joined)) != src.Rows() {
			t.Errorf("shard %d: %d rows read, the footers promise %d", k, len(joined), src.Rows())
		}
		for r := range joined {
			if seen[r] {
				t.Errorf("row %s read by two shards", r)
			}
			seen[r] = true
		}
	}
	if len(seen) != 20*130 {
		t.Errorf("the shards read %d rows, want %d", len(seen), 20*130)
	}
}

// TestReadJoinedPartitions: a chunk that joins files of two partition
// folders carries each row's own folder value.
func TestReadJoinedPartitions(t *testing.T) {
	dir := t.TempDir()
	for i, region := range []string{"eu", "eu", "us", "us", "us"} {
		sub := filepath.Join(dir, "region="+region)
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		writeRows(t, filepath.Join(sub, fmt.Sprintf("p-%d.parquet", i)), int64(i)*1000, 30, fileOpts{})
	}
	src, err := Open(filepath.Join(dir, "*", "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	var chunks int
	err = src.ReadJoined(context.Background(), []string{"id", "region"}, 1000, checkedAlloc(t), func(rec arrow.Record, spans []source.Span) error {
		defer rec.Release()
		chunks++
		ids := rec.Column(0).(*array.Int64).Int64Values()
		regions := rec.Column(1).(*array.String)
		for i, id := range ids {
			want := "eu"
			if id >= 2000 {
				want = "us"
			}
			if regions.Value(i) != want {
				t.Errorf("id %d: region %q, want %q", id, regions.Value(i), want)
			}
		}
		if len(spans) != 5 {
			t.Errorf("%d spans, want one per file", len(spans))
		}
		return nil
	})
	if err != nil || chunks != 1 {
		t.Fatalf("%d chunks (%v), want the 150 rows in one", chunks, err)
	}
}
