package table

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// Shards park their folders where the commit, maybe on another machine,
// finds them: a retried shard replaces its earlier attempt, and the
// commit's DropShards leaves nothing of them in the store.
func testShards(t *testing.T, k kind) {
	const n, last = 2, "_shard.json"
	root := k.root(t)
	a := openRoot(t, root)
	park := func(shard int, files map[string][]byte) {
		t.Helper()
		v := NewVersion(time.Now())
		stageFiles(t, a, v, files)
		where, err := a.ParkShard(v, date, n, shard, last)
		if err != nil {
			t.Fatal(err)
		}
		if where == "" {
			t.Errorf("shard %d parked nowhere", shard)
		}
	}
	park(0, map[string][]byte{"part-00000.parquet": []byte("zero"), last: []byte("{}")})
	park(1, map[string][]byte{"part-00001.parquet": []byte("first try"), "stray": []byte("x"), last: []byte("{}")})
	park(1, map[string][]byte{"part-00001.parquet": []byte("retry"), last: []byte("{}")})
	if left, _ := os.ReadDir(filepath.Join(a.Root, "_staging")); len(left) != 0 {
		t.Errorf("parking left %d entries in _staging", len(left))
	}

	k.machine(t)
	b := openRoot(t, root)
	if err := b.PullShards(date, n, last); err != nil {
		t.Fatal(err)
	}
	want := map[int]map[string]string{0: {"part-00000.parquet": "zero", last: "{}"}, 1: {"part-00001.parquet": "retry", last: "{}"}}
	for shard, files := range want {
		dir, err := b.ShardDir(date, n, shard)
		if err != nil {
			t.Fatal(err)
		}
		entries, _ := os.ReadDir(dir)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		for name, content := range files {
			if data, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(data) != content {
				t.Errorf("shard %d's %s = %q, %v; want %q", shard, name, data, err, content)
			}
		}
		if len(names) != len(files) {
			t.Errorf("shard %d holds %v, want only %d files", shard, names, len(files))
		}
	}
	if err := b.DropShards(date, n); err != nil {
		t.Fatal(err)
	}
	if dir, _ := b.ShardDir(date, n, 0); exists(t, "/", []string{dir}) != nil {
		t.Errorf("%s is still there after DropShards", dir)
	}
	if left := k.reader(t, root).files("_shards"); !slices.Equal(left, nil) {
		t.Errorf("the store keeps %v of the dropped shards", left)
	}
}
