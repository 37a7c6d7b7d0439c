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
	attrs, err := decodeAttrs(g.Nodes[0])
	if err != nil {
		t.Fatal(err)
	}
	var got treeSet
	captureTrees = func(ts treeSet) { got = ts }
	defer func() { captureTrees = nil }()
	f := &Ensemble{Op: e.Op}
	if err := f.compile(attrs); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestAVX2MatchesScalar: the AVX2 x <= t kernel and the scalar one give
// the same sums, bit for bit, on x <= t models of depth 1 to 4 (every
// split LEQ, untracked), rows of every count (the groups of eight, the
// rows left over, several blocks) and corner values.
func TestAVX2MatchesScalar(t *testing.T) {
	if !hasAVX2 {
		t.Skip("this CPU has no AVX2: the scalar kernel is the only one")
	}
	defer func(v bool) { hasAVX2 = v }(hasAVX2)
	checked := map[int]int{}
	for seed := range 400 {
		r := rand.New(rand.NewPCG(uint64(seed), 17))
		s := genSpec(r, genOptions{maxDepth: 4, maxTrees: 12})
		for _, tr := range s.trees {
			for i := range tr.nodes {
				if n := &tr.nodes[i]; n.mode != "LEAF" {
					n.mode, n.tracks = "BRANCH_LEQ", false
				}
			}
		}
		e, err := Load(s.model())
		if err != nil {
			t.Fatal(err)
		}
		if e.c.layout != layoutLEQ || e.c.depth == 0 {
			continue
		}
		rows := r.IntN(400)
		x := genRows(r, s, rows)
		scalar, vector := make([]float32, rows), make([]float32, rows)
		hasAVX2 = false
		e.c.sums(x, s.width, scalar)
		hasAVX2 = true
		e.c.sums(x, s.width, vector)
		for i := range rows {
			if !sameFloat(vector[i], scalar[i]) {
				t.Fatalf("seed %d, depth %d, %d trees: row %d sums %v with AVX2, %v without", seed, e.c.depth, e.c.trees, i, vector[i], scalar[i])
			}
		}
		checked[e.c.depth]++
	}
	for d := 1; d <= 4; d++ {
		if checked[d] == 0 {
			t.Errorf("no model of depth %d checked (%v)", d, checked)
		}
	}
	t.Logf("models checked by depth: %v", checked)
}
