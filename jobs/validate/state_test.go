package validate

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/batchscore/batchscore/jobs/spec"
)

// Keys exported by two shards' sets, spilled or not, and imported into one
// set count the duplicates across them.
func TestKeySetExportImport(t *testing.T) {
	dir := t.TempDir()
	for _, limit := range []int{7, 1 << 20} {
		a, b := newKeySet(dir, limit), newKeySet(dir, limit)
		for i := uint64(0); i < 100; i++ {
			a.add([]uint64{i * 0x9e3779b97f4a7c15})
		}
		for i := uint64(90); i < 150; i++ { // 10 keys in both
			b.add([]uint64{i * 0x9e3779b97f4a7c15})
		}
		merged := newKeySet(dir, limit)
		for n, k := range []*keySet{a, b} {
			var buf bytes.Buffer
			count, err := k.export(&buf)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "keys")
			if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := merged.importFrom(path, count); err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				if err := merged.importFrom(path, count+1); err == nil {
					t.Error("a keys file shorter than its state said was taken")
				}
			}
		}
		dups, err := merged.duplicates()
		if err != nil {
			t.Fatal(err)
		}
		if dups != 10 {
			t.Errorf("limit %d: %d duplicates, want the 10 keys both shards hold", limit, dups)
		}
		for _, k := range []*keySet{a, b, merged} {
			k.close()
		}
	}
}

// TestCountDuplicates: the table counts like a map, on random hashes,
// hashes sharing their top bits (one spill bucket) or all but their low
// bits (long probes), with 0 among them, and on short inputs.
func TestCountDuplicates(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var table []uint64
	for _, n := range []int{0, 1, 255, 256, 1000, 100_000} {
		for _, mask := range []uint64{^uint64(0), 1<<58 - 1, 0xffff, 0xff << 48} {
			h := make([]uint64, n)
			for i := range h {
				h[i] = r.Uint64() & mask
				if i > 0 && r.IntN(10) == 0 {
					h[i] = h[r.IntN(i)] // duplicates
				}
				if r.IntN(100) == 0 {
					h[i] = 0
				}
			}
			seen := map[uint64]bool{}
			var want int64
			for _, v := range h {
				if seen[v] {
					want++
				}
				seen[v] = true
			}
			if got := countDuplicates(h, &table); got != want {
				t.Fatalf("%d hashes, mask %x: %d duplicates, want %d", n, mask, got, want)
			}
		}
	}
}

// TestKeySetSpillsMany: 300,000 hashes through a 50,000-hash buffer (six
// spills into every bucket) with 897 repeats planted count 897.
func TestKeySetSpillsMany(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	k := newKeySet(t.TempDir(), 50_000)
	defer k.close()
	seen := make([]uint64, 0, 300_000)
	for len(seen) < 300_000 {
		chunk := make([]uint64, 1000)
		for i := range chunk {
			chunk[i] = r.Uint64()
			if len(seen) > 0 && i%300 == 299 { // three a chunk but the first
				chunk[i] = seen[r.IntN(len(seen))]
			}
		}
		seen = append(seen, chunk...)
		if err := k.add(chunk); err != nil {
			t.Fatal(err)
		}
	}
	dups, err := k.duplicates()
	if err != nil {
		t.Fatal(err)
	}
	distinct := map[uint64]bool{}
	for _, v := range seen {
		distinct[v] = true
	}
	if want := int64(len(seen) - len(distinct)); dups != want || want != 897 {
		t.Errorf("%d duplicates, want %d (897 planted)", dups, want)
	}
	// The pipeline counts early (Summary.CountKeys) and Finish asks again.
	if again, err := k.duplicates(); again != dups || err != nil {
		t.Errorf("asked again: %d, %v", again, err)
	}
}

// Shards carry their null keys to the commit, which reports their sum.
func TestSummaryStateCarriesNullKeys(t *testing.T) {
	mem := checkedMem(t)
	merged := (*Summary)(nil)
	dir := t.TempDir()
	for i, ids := range [][]any{{1, nil, 2}, {nil, nil, 1}} {
		rec := record(col{"id", build(t, mem, arrow.PrimitiveTypes.Int64, ids...)})
		e := newEngine(t, spec.Validation{MaxInvalidFraction: 1, Table: spec.TableRules{Unique: []string{"id"}}}, rec.Schema(), nil, mem)
		e.SetKeySeed(7)
		s := e.NewSummary(dir)
		got, err := e.Apply(rec, "f", 0)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
		got.Release()
		if err := s.Add(got.Stats); err != nil {
			t.Fatal(err)
		}
		keys := filepath.Join(dir, fmt.Sprintf("keys-%d", i))
		st, err := s.State(keys)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if merged == nil {
			merged = e.NewSummary(dir)
		}
		if err := merged.Merge(st, keys); err != nil {
			t.Fatal(err)
		}
	}
	res, _ := merged.Finish(-1)
	if u := res.Table[0]; u.NullKeys == nil || *u.NullKeys != 3 || u.Passed {
		t.Errorf("merged unique check %+v: want 3 null keys and the repeated 1 a duplicate", u)
	}
}
