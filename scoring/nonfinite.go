package scoring

import (
	"math"
	"sync"
	"unsafe"
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

// stridedFloat64 is strided for a double column, and says whether a value
// reaches limit: its bits, sign cleared, plus sign-limit carry into the
// top bit. The test is integer work on the values read as integers (no
// move out of a float register), in four independent lanes, in the fill's
// own loop: a second pass over the values, even so, cost as much as the
// fill itself.
func stridedFloat64[T number](dst []T, src []float64, j, width, lo int, limit uint64) bool {
	bits := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(src))), len(src))
	const sign = 1 << 63
	bias := sign - limit
	var a, b, c, e uint64
	i := 0
	if width == 1 {
		d := dst[lo : lo+len(src)]
		for ; i+4 <= len(src); i += 4 {
			q, p, o := src[i:i+4:i+4], bits[i:i+4:i+4], d[i:i+4:i+4]
			o[0], o[1], o[2], o[3] = T(q[0]), T(q[1]), T(q[2]), T(q[3])
			a |= p[0]&^sign + bias
			b |= p[1]&^sign + bias
			c |= p[2]&^sign + bias
			e |= p[3]&^sign + bias
		}
		for ; i < len(src); i++ {
			d[i] = T(src[i])
			a |= bits[i]&^sign + bias
		}
		return (a|b|c|e)&sign != 0
	}
	d := dst[lo*width : (lo+len(src))*width]
	// The fill and the test in one loop, the test in four lanes.
	for ; i+4 <= len(src); i += 4 {
		q, p := src[i:i+4:i+4], bits[i:i+4:i+4]
		k := i*width + j
		d[k], d[k+width], d[k+2*width], d[k+3*width] = T(q[0]), T(q[1]), T(q[2]), T(q[3])
		a |= p[0]&^sign + bias
		b |= p[1]&^sign + bias
		c |= p[2]&^sign + bias
		e |= p[3]&^sign + bias
	}
	for ; i < len(src); i++ {
		d[i*width+j] = T(src[i])
		a |= bits[i]&^sign + bias
	}
	return (a|b|c|e)&sign != 0
}

// stridedFloat32 is stridedFloat64 for a float column.
func stridedFloat32[T number](dst []T, src []float32, j, width, lo int) bool {
	strided(dst, src, j, width, lo)
	return anyFrom32(unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(src))), len(src)))
}

// anyFrom32 says whether a float is NaN or infinite, as stridedFloat64
// tests (a float column is rare enough for a second pass).
func anyFrom32(bits []uint32) bool {
	const sign = 1 << 31
	bias := uint32(sign - float32Inf)
	var a, b, c, d uint32
	i := 0
	for ; i+4 <= len(bits); i += 4 {
		q := bits[i : i+4 : i+4]
		a |= q[0]&^sign + bias
		b |= q[1]&^sign + bias
		c |= q[2]&^sign + bias
		d |= q[3]&^sign + bias
	}
	for _, v := range bits[i:] {
		a |= v&^sign + bias
	}
	return (a|b|c|d)&sign != 0
}
