package explain

import (
	"fmt"
	"math"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/batchscore/batchscore/scoring/trees"
)

// Float32At is a numeric cell as a float model input reads it; a null,
// or a column that is not numeric, is NaN.
func Float32At(col arrow.Array, i int) float32 {
	if col.IsNull(i) {
		return float32(math.NaN())
	}
	switch c := col.(type) {
	case *array.Float32:
		return c.Value(i)
	case *array.Float64:
		return float32(c.Value(i))
	case *array.Int64:
		return float32(c.Value(i))
	case *array.Int32:
		return float32(c.Value(i))
	case *array.Int16:
		return float32(c.Value(i))
	case *array.Int8:
		return float32(c.Value(i))
	case *array.Uint64:
		return float32(c.Value(i))
	case *array.Uint32:
		return float32(c.Value(i))
	case *array.Uint16:
		return float32(c.Value(i))
	case *array.Uint8:
		return float32(c.Value(i))
	case *array.Boolean:
		if c.Value(i) {
			return 1
		}
		return 0
	}
	return float32(math.NaN())
}

// CoverCounter counts rows through every node of a forest: the covers
// `batchscore covers` writes. A row is counted at each node of its walk
// down a tree, so a chain's shared true child counts the rows of every
// node of the chain that sends them there: the cover of the one split
// the explainer reads the chain as. Not safe for concurrent use.
type CoverCounter struct {
	f  *trees.Forest
	ch *chains
	n  []float64
}

// NewCoverCounter counts through e's trees; a model whose shared nodes
// are not chains is an error wrapping ErrUnsupported (NewTree would
// refuse it), naming tree and node.
func NewCoverCounter(e *trees.Ensemble) (*CoverCounter, error) {
	f := e.Forest()
	if f == nil {
		return nil, fmt.Errorf("%w: the ensemble has no trees", ErrUnsupported)
	}
	ch, err := readChains(f)
	if err != nil {
		return nil, err
	}
	return &CoverCounter{f: f, ch: ch, n: make([]float64, len(f.Leaf))}, nil
}

// Add counts one row (the trees' input, at least as wide as the features
// they read) through every tree.
func (c *CoverCounter) Add(x []float32) {
	f := c.f
	for _, r := range f.Roots {
		i := r
		c.n[i]++
		for !f.Leaf[i] {
			if f.GoesTrue(i, x[f.Feature[i]]) {
				i = f.True[i]
			} else {
				i = f.False[i]
			}
			c.n[i]++
		}
	}
}

// Covers returns the counts as covers, in listing order, and the nodes no
// row reached (their cover is 0, which the explainer refuses). A chain's
// nodes after its head are left out: the explainer does not read them.
func (c *CoverCounter) Covers() (covers []Cover, unreached []Cover) {
	for i, n := range c.n {
		if c.ch.interior[i] {
			continue
		}
		cv := Cover{Tree: c.f.TreeIDs[i], Node: c.f.NodeIDs[i], Cover: n}
		covers = append(covers, cv)
		if n == 0 {
			unreached = append(unreached, cv)
		}
	}
	return covers, unreached
}
