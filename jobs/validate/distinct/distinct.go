// Package distinct codes the rows of a string column chunk by their value:
// each row gets the index of its value among the few distinct values of
// the chunk. A categorical column (a contract type, a region) has a
// handful of values repeated over thousands of rows; the checks and the
// profiles then do their work once per distinct value instead of once per
// row, and never hash or compare whole strings per row.
package distinct

import (
	"encoding/binary"
	"math/bits"

	"github.com/apache/arrow/go/v17/arrow/array"
)

// Max is the most distinct values a chunk can have for Code to code it.
const Max = 48

// Null is the code of a null row.
const Null = 0xFF

// slots is the size of the open-addressing table (a power of two, with
// room to spare over Max so that probes stay short).
const slots = 128

type slot struct {
	w0, w1 uint64 // the value's first and last 8 bytes (zero-padded below 8)
	n      int32  // its length + 1; 0: free
	code   uint8
}

// Coder codes chunks. Its buffers are reused from one call to the next;
// it is not safe for concurrent use.
type Coder struct {
	table  [slots]slot
	values []string
	codes  []uint8
}

// Code returns a code per row of a (Null for a null row) and the distinct
// values in the order they were met, values[code] being a row's value.
// Both are valid until the next call; values point into a's buffer. ok is
// false, and the rest nil, when a has more than Max distinct values.
func (c *Coder) Code(a *array.String) (codes []uint8, values []string, ok bool) {
	c.table = [slots]slot{}
	c.values = c.values[:0]
	n := a.Len()
	if cap(c.codes) < n {
		c.codes = make([]uint8, n)
	}
	codes = c.codes[:n]
	offs := a.ValueOffsets()
	data := a.ValueBytes()
	base := offs[0]
	nulls := a.NullN() > 0
	for i := range n {
		if nulls && a.IsNull(i) {
			codes[i] = Null
			continue
		}
		s, e := int(offs[i]-base), int(offs[i+1]-base)
		w0, w1 := words(data, s, e)
		ln := int32(e-s) + 1
		h := (w0 ^ bits.RotateLeft64(w1, 31) ^ uint64(ln)) * 0x9e3779b97f4a7c15 >> (64 - 7)
		for {
			t := &c.table[h]
			if t.n == 0 {
				if len(c.values) == Max {
					return nil, nil, false
				}
				*t = slot{w0: w0, w1: w1, n: ln, code: uint8(len(c.values))}
				c.values = append(c.values, a.Value(i))
				codes[i] = t.code
				break
			}
			// Up to 16 bytes the two words and the length are the value;
			// a longer one compares its middle too.
			if t.n == ln && t.w0 == w0 && t.w1 == w1 && (ln <= 17 || c.values[t.code][8:ln-9] == string(data[s+8:e-8])) {
				codes[i] = t.code
				break
			}
			h = (h + 1) & (slots - 1)
		}
	}
	return codes, c.values, true
}

// words are the first and the last 8 bytes of data[s:e] (w1 = 0 below 8
// bytes), read as little-endian words.
func words(data []byte, s, e int) (w0, w1 uint64) {
	switch n := e - s; {
	case n >= 8:
		return binary.LittleEndian.Uint64(data[s:]), binary.LittleEndian.Uint64(data[e-8:])
	case len(data)-s >= 8: // a short value with 8 readable bytes: mask the rest
		return binary.LittleEndian.Uint64(data[s:]) & (1<<(8*uint(n)) - 1), 0
	default:
		for k := n - 1; k >= 0; k-- {
			w0 = w0<<8 | uint64(data[s+k])
		}
		return w0, 0
	}
}
