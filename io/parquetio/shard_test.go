package parquetio

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
)

func TestShard(t *testing.T) {
	dir := t.TempDir()
	// 7 + 4 + 1 + 5 row groups of uneven sizes across four files.
	writeRows(t, filepath.Join(dir, "a.parquet"), 0, 70, fileOpts{rowGroup: 10})
	writeRows(t, filepath.Join(dir, "b.parquet"), 1000, 100, fileOpts{rowGroup: 25})
	writeRows(t, filepath.Join(dir, "c.parquet"), 2000, 3, fileOpts{})
	writeRows(t, filepath.Join(dir, "d.parquet"), 3000, 45, fileOpts{rowGroup: 9})
	pattern := filepath.Join(dir, "*.parquet")

	readAll := func(src *Source) []int64 {
		var out []batch
		if err := src.Read(context.Background(), []string{"id"}, 6, checkedAlloc(t), collect(&out)); err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, b := range out {
			ids = append(ids, b.ids...)
		}
		return ids
	}
	whole, err := Open(pattern)
	if err != nil {
		t.Fatal(err)
	}
	want := readAll(whole)
	if len(want) != 218 {
		t.Fatalf("whole read %d rows, want 218", len(want))
	}
	for count := 1; count <= 20; count += 3 {
		var got []int64
		var units int
		for index := range count {
			src, err := Open(pattern)
			if err != nil {
				t.Fatal(err)
			}
			parts, err := src.Shard(index, count)
			if err != nil {
				t.Fatal(err)
			}
			ids := readAll(src)
			var rows int64
			for _, p := range parts {
				rows += p.Rows
				units += len(p.RowGroups)
			}
			if rows != src.Rows() || int64(len(ids)) != rows {
				t.Fatalf("shard %d/%d: parts say %d rows, Rows %d, read %d", index, count, rows, src.Rows(), len(ids))
			}
			// Balanced: no shard is more than one row group (at most 25
			// rows) above an even share.
			if limit := int64(218/count + 25); rows > limit {
				t.Errorf("shard %d/%d has %d rows, above %d", index, count, rows, limit)
			}
			got = append(got, ids...)
		}
		if units != 17 {
			t.Errorf("%d shards took %d row groups, want each of 17 once", count, units)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%d shards read in order differ from one read:\n%v\n%v", count, got, want)
		}
	}

	// Offsets stay the rows' places in their file, as quarantine needs.
	src, _ := Open(pattern)
	if _, err := src.Shard(1, 3); err != nil {
		t.Fatal(err)
	}
	var out []batch
	if err := src.Read(context.Background(), []string{"id"}, 6, checkedAlloc(t), collect(&out)); err != nil {
		t.Fatal(err)
	}
	if out[0].ids[0] == 0 {
		t.Error("shard 1/3 starts at the first row")
	}
	for _, b := range out {
		if b.offset != b.ids[0]%1000 { // ids are 1000·file + row
			t.Errorf("%s: batch of id %d says offset %d", b.file, b.ids[0], b.offset)
		}
	}

	if _, err := whole.Shard(3, 3); err == nil {
		t.Error("shard 3 of 3 was accepted")
	}
}
