package explain

import (
	"fmt"

	"github.com/batchscore/batchscore/scoring/trees"
)

// A categorical split of LightGBM, x in {c1, …, ck}, reaches ONNX (as
// onnxmltools writes it) as a chain of k nodes on x: node i's true branch
// leads to the split's true child S, its false branch to node i+1, the
// last node's false branch to the split's false child R. S is then the
// true child of k nodes, which the trees package accepts as ONNX Runtime
// does: the evaluator walks the nodes as listed (scoring/trees findTrees).
// TreeSHAP needs a tree, so the explainer reads such a chain as ONE split
// on x at its first node (the chain's head): true when some node of the
// chain sends x to its true branch, which is where the walk of the chain
// ends, NaN included (each node's own missing-value tracking decides, as
// in the evaluator and ONNX Runtime); its children are S and R, its covers
// S's and R's over the head's. The chain's other nodes are not nodes of
// the tree read, and their covers are not needed.

// chains is the forest's shared nodes read as chains.
type chains struct {
	next     []int32 // a chain node's next node in its chain; -1 after the last and for other nodes
	interior []bool  // the chain nodes after the head
	fal      []int   // each branch's false child in the tree read: a head's is R
}

// readChains finds the nodes with more than one parent and reads each as
// the true child of one chain, or fails with ErrUnsupported naming tree
// and node.
func readChains(f *trees.Forest) (*chains, error) {
	n := len(f.Leaf)
	c := &chains{next: make([]int32, n), interior: make([]bool, n), fal: append([]int(nil), f.False...)}
	trueParents := make([][]int, n)
	falseParent, falseParents := make([]int, n), make([]int, n)
	for i := range n {
		c.next[i] = -1
		if f.Leaf[i] {
			continue
		}
		trueParents[f.True[i]] = append(trueParents[f.True[i]], i)
		falseParent[f.False[i]] = i
		falseParents[f.False[i]]++
	}
	where := func(i int) string { return fmt.Sprintf("node %d of tree %d", f.NodeIDs[i], f.TreeIDs[i]) }
	for s := range n {
		members := trueParents[s]
		if len(members)+falseParents[s] <= 1 {
			continue
		}
		if falseParents[s] > 0 {
			return nil, fmt.Errorf("%w: %s is reached from %d nodes, %s through its false branch (only a chain of splits on one feature may share its true child)",
				ErrUnsupported, where(s), len(members)+falseParents[s], where(falseParent[s]))
		}
		in := make(map[int]bool, len(members))
		for _, p := range members {
			in[p] = true
			if f.Feature[p] != f.Feature[members[0]] {
				return nil, fmt.Errorf("%w: %s is the true child of %s (feature %d) and %s (feature %d), not of one split on one feature",
					ErrUnsupported, where(s), where(members[0]), f.Feature[members[0]], where(p), f.Feature[p])
			}
		}
		head := -1
		for _, p := range members {
			switch {
			case falseParents[p] == 1 && in[falseParent[p]]:
				if len(trueParents[p]) > 0 {
					return nil, fmt.Errorf("%w: %s is inside the chain of splits sharing %s and also the true child of %s",
						ErrUnsupported, where(p), where(s), where(trueParents[p][0]))
				}
			case head >= 0:
				return nil, fmt.Errorf("%w: %s is the true child of %s and %s, which are not one chain of false branches",
					ErrUnsupported, where(s), where(head), where(p))
			default:
				head = p
			}
		}
		if head < 0 {
			return nil, fmt.Errorf("%w: %s: its parents form no chain with a first node", ErrUnsupported, where(s))
		}
		k := 1
		for i := head; in[f.False[i]]; i = f.False[i] {
			c.next[i] = int32(f.False[i])
			c.interior[f.False[i]] = true
			c.fal[head] = f.False[f.False[i]]
			k++
		}
		if k != len(members) {
			return nil, fmt.Errorf("%w: %s is the true child of %d nodes, %d of them in the chain from %s",
				ErrUnsupported, where(s), len(members), k, where(head))
		}
	}
	return c, nil
}
