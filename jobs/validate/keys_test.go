package validate

import (
	"slices"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/batchscore/batchscore/jobs/keyhash"
	"github.com/batchscore/batchscore/jobs/spec"
)

// TestKeyHashesFormula pins the key hash: a seed, then for each key
// column h = mix(h·φ ^ mix(part ^ seed)), rows with a null part left out.
// The shards of one run and the commit that merges their keys must hash
// alike, so the first column's shortcut must give these values.
func TestKeyHashesFormula(t *testing.T) {
	mem := checkedMem(t)
	for _, keys := range [][]string{{"id"}, {"id", "region"}, {"region", "id"}} {
		rec := record(
			col{"id", build(t, mem, arrow.PrimitiveTypes.Int64, 1, 2, nil, 4, 2)},
			col{"region", build(t, mem, arrow.BinaryTypes.String, "n", "s", "n", nil, "s")},
		)
		e := newEngine(t, spec.Validation{Table: spec.TableRules{Unique: keys}}, rec.Schema(), nil, mem)
		e.SetKeySeed(12345)
		got, nulls, err := e.keyHashes(rec)
		if err != nil {
			t.Fatal(err)
		}
		var want []uint64
		for i := range int(rec.NumRows()) {
			h, null := e.seed, false
			for _, k := range keys {
				c := rec.Column(rec.Schema().FieldIndices(k)[0])
				part := make([]uint64, c.Len())
				if err := e.keyHasher().Column(c, part); err != nil {
					t.Fatal(err)
				}
				null = null || c.IsNull(i)
				h = keyhash.Mix(h*0x9e3779b97f4a7c15 ^ keyhash.Mix(part[i]^e.seed))
			}
			if !null {
				want = append(want, h)
			}
		}
		if !slices.Equal(got, want) || nulls != int64(int(rec.NumRows())-len(want)) {
			t.Errorf("keys %v: hashes %x (%d null), want %x", keys, got, nulls, want)
		}
		if keys[0] == "id" && len(keys) == 1 && got[1] != got[3] {
			t.Errorf("keys %v: rows 2 and 5 (id 2) hash apart", keys)
		}
		rec.Release()
	}
}
