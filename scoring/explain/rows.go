package explain

import (
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
// `batchscore covers` writes. Not safe for concurrent use.
type CoverCounter struct {
	f *trees.Forest
	n []float64
}

// NewCoverCounter counts through e's trees.
func NewCoverCounter(e *trees.Ensemble) *CoverCounter {
	f := e.Forest()
	return &CoverCounter{f: f, n: make([]float64, len(f.Leaf))}
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
// row reached (their cover is 0, which the explainer refuses).
func (c *CoverCounter) Covers() (covers []Cover, unreached []Cover) {
	for i, n := range c.n {
		cv := Cover{Tree: c.f.TreeIDs[i], Node: c.f.NodeIDs[i], Cover: n}
		covers = append(covers, cv)
		if n == 0 {
			unreached = append(unreached, cv)
		}
	}
	return covers, unreached
}
