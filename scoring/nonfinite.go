package scoring

import (
	"math"
	"sync"
)

// NonFinite counts one column's model inputs that are not finite numbers
// as the model gets them. Rows holding them are scored: tree models read
// NaN as missing by design, and no rule refuses them unless the job file
// has a finite rule. BeyondFloat32 are finite doubles that become ±Inf in
// a float input; they are counted there, not under PosInf or NegInf.
type NonFinite struct {
	NaN           int64 `json:"nan,omitempty"`
	PosInf        int64 `json:"pos_inf,omitempty"`
	NegInf        int64 `json:"neg_inf,omitempty"`
	BeyondFloat32 int64 `json:"beyond_float32,omitempty"`
}

// Total is every non-finite input counted.
func (n NonFinite) Total() int64 { return n.NaN + n.PosInf + n.NegInf + n.BeyondFloat32 }

// Add sums two counts.
func (n NonFinite) Add(o NonFinite) NonFinite {
	return NonFinite{n.NaN + o.NaN, n.PosInf + o.PosInf, n.NegInf + o.NegInf, n.BeyondFloat32 + o.BeyondFloat32}
}

// nonFiniteTally is a chunk's counts per bound column, kept by the
// worker's Buffers; nil until a column has one.
type nonFiniteTally map[string]NonFinite

// Bit patterns, sign cleared, from which a value is not finite: a double
// from 2^128 - 2^103 up rounds to +Inf as a float32 (MaxFloat32 plus half
// its last place, which rounds to even: up).
var (
	float32InfFrom64 = math.Float64bits(0x1p128 - 0x1p103)
	float64Inf       = math.Float64bits(math.Inf(1))
	float32Inf       = math.Float32bits(float32(math.Inf(1)))
)

// nonFinite64 classifies src's values that are not finite as the input
// takes them (toFloat32: a float input). The fill calls it only for a
// tile it found one in (stridedFloat64).
func nonFinite64(src []float64, toFloat32 bool) (NonFinite, bool) {
	limit := float64Inf
	if toFloat32 {
		limit = float32InfFrom64
	}
	var n NonFinite
	for _, v := range src {
		switch b := math.Float64bits(v) &^ (1 << 63); {
		case b < limit:
		case math.IsNaN(v):
			n.NaN++
		case math.IsInf(v, 1):
			n.PosInf++
		case math.IsInf(v, -1):
			n.NegInf++
		default:
			n.BeyondFloat32++
		}
	}
	return n, true
}

// nonFinite32 is nonFinite64 for a float column: the same in a float or a
// double input.
func nonFinite32(src []float32) (NonFinite, bool) {
	var n NonFinite
	for _, v := range src {
		f := float64(v)
		switch {
		case math.IsNaN(f):
			n.NaN++
		case math.IsInf(f, 1):
			n.PosInf++
		case math.IsInf(f, -1):
			n.NegInf++
		}
	}
	return n, true
}

// nonFiniteTotals adds up the workers' counts for a run.
type nonFiniteTotals struct {
	mu  sync.Mutex
	sum map[string]NonFinite
}

func (t *nonFiniteTotals) add(chunk nonFiniteTally) {
	if len(chunk) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sum == nil {
		t.sum = map[string]NonFinite{}
	}
	for c, n := range chunk {
		t.sum[c] = t.sum[c].Add(n)
	}
}

func (t *nonFiniteTotals) snapshot() map[string]NonFinite {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.sum) == 0 {
		return nil
	}
	out := make(map[string]NonFinite, len(t.sum))
	for c, n := range t.sum {
		out[c] = n
	}
	return out
}
