package validate

import (
	"encoding/binary"
	"math/bits"
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/bitutil"
)

// Row bitmaps: bit i of word i/64 is row i. Bits at and past the chunk's
// length are never set by a check.

// validity writes col's validity into dst, one word per 64 rows.
func validity(col arrow.Array, dst []uint64) {
	n := col.Len()
	if col.NullN() == 0 {
		for w := range dst {
			dst[w] = ^uint64(0)
		}
		return
	}
	var tmp [8]byte
	src, off := col.NullBitmapBytes(), col.Data().Offset()
	for w := range dst {
		lo := w * 64
		k := min(64, n-lo)
		clear(tmp[:])
		bitutil.CopyBitmap(src, off+lo, k, tmp[:], 0)
		dst[w] = binary.LittleEndian.Uint64(tmp[:])
	}
}

// nextSet is the first set bit at or after i, or n.
func nextSet(b []uint64, i, n int) int {
	for i < n {
		w := b[i/64] >> (uint(i) % 64)
		if w != 0 {
			return min(n, i+bits.TrailingZeros64(w))
		}
		i = (i/64 + 1) * 64
	}
	return n
}

// nextClear is the first unset bit at or after i, or n.
func nextClear(b []uint64, i, n int) int {
	for i < n {
		w := ^b[i/64] >> (uint(i) % 64)
		if w != 0 {
			return min(n, i+bits.TrailingZeros64(w))
		}
		i = (i/64 + 1) * 64
	}
	return n
}

// forRuns calls fn for each run [lo, hi) of set bits below n.
func forRuns(b []uint64, n int, fn func(lo, hi int)) {
	for i := nextSet(b, 0, n); i < n; {
		j := nextClear(b, i, n)
		fn(i, j)
		i = nextSet(b, j, n)
	}
}

// getBits reads k (1..64) bits of src starting at bit pos.
func getBits(src []uint64, pos, k int) uint64 {
	w, s := pos/64, uint(pos%64)
	v := src[w] >> s
	if int(s)+k > 64 {
		v |= src[w+1] << (64 - s)
	}
	if k < 64 {
		v &= 1<<uint(k) - 1
	}
	return v
}

// putBits ors k bits of v into dst at bit pos.
func putBits(dst []uint64, pos, k int, v uint64) {
	w, s := pos/64, uint(pos%64)
	dst[w] |= v << s
	if int(s)+k > 64 {
		dst[w+1] |= v >> (64 - s)
	}
}

// copyBits copies bits [lo, hi) of src to dst from bit at on.
func copyBits(dst []uint64, at int, src []uint64, lo, hi int) {
	for lo < hi {
		k := min(64, hi-lo)
		putBits(dst, at, k, getBits(src, lo, k))
		lo += k
		at += k
	}
}

// wordsOf views a buffer's bytes as words (Arrow buffers are 64-byte
// aligned and this is a little-endian build, as Arrow's Go module is).
func wordsOf(b []byte) []uint64 {
	if len(b) < 8 {
		return nil
	}
	return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/8)
}
