package trees

import (
	"math/rand/v2"
	"testing"
)

// TestLayoutsAgree: the same trees compiled every way (x <= t kernel,
// truth-table kernel, node walk) give the same sums, bit for bit, on rows
// of every length (the four-row groups and the rows left over). Needs no
// ONNX Runtime: the node walk, with Go's bounds checks, is the reference
// for the unsafe kernels.
func TestLayoutsAgree(t *testing.T) {
	for seed := range 300 {
		r := rand.New(rand.NewPCG(uint64(seed), 11))
		s := genSpec(r, genOptions{maxDepth: 7, maxTrees: 10})
		e, err := Load(s.model())
		if err != nil {
			t.Fatal(err)
		}
		ts := e.treeSet(t, s)
		layouts := []compiled{ts.buildWalk(), ts.build()}
		if e.c.layout == layoutLEQ {
			ts.tablesOnly = true
			layouts = append(layouts, ts.build())
		}
		rows := r.IntN(300)
		x := genRows(r, s, rows)
		var ref []float32
		for k, c := range layouts {
			out := make([]float32, rows)
			c.sums(x, s.width, out)
			if k == 0 {
				ref = out
				continue
			}
			for i := range out {
				if !sameFloat(out[i], ref[i]) {
					t.Fatalf("seed %d, %s: row %d sums %v, node walk %v", seed, c.describe(), i, out[i], ref[i])
				}
			}
		}
	}
}

// treeSet recompiles e's model to get at its checked trees.
func (e *Ensemble) treeSet(t *testing.T, s spec) treeSet {
	t.Helper()
	g, _, _ := readGraph(s.model())
	n, err := parseNode(g.nodes[0].raw, true)
	if err != nil {
		t.Fatal(err)
	}
	var got treeSet
	captureTrees = func(ts treeSet) { got = ts }
	defer func() { captureTrees = nil }()
	f := &Ensemble{Op: e.Op}
	if err := f.compile(n.attrs); err != nil {
		t.Fatal(err)
	}
	return got
}
