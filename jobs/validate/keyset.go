package validate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// keySet counts duplicate key hashes across a whole snapshot in bounded
// memory. Hashes collect in memory up to limit; past it they are
// partitioned by their top bits into bucketCount files and the buffer is
// reused. Equal hashes always land in one bucket, so each bucket is then
// checked on its own: load, sort, count equal neighbours. Memory stays at
// limit hashes, plus a write buffer as large while spilling, or one bucket
// and its sort's scratch while counting.
//
// Keys are compared by their 64-bit hash only. With n keys the chance of
// any collision is about n²/2⁶⁵: 3·10⁻⁶ for 10⁷ keys, 3·10⁻⁴ for 10⁸. A
// collision would report one duplicate that is not; that is negligible
// and we accept it.
type keySet struct {
	dir     string // parent for the spill folder
	limit   int
	buf     []uint64
	spill   string // spill folder, once created
	buckets []*os.File
	scratch []byte
	// counted: duplicates ran, and dups and dupErr are its answer.
	counted bool
	dups    int64
	dupErr  error
}

const bucketBits = 6
const bucketCount = 1 << bucketBits

func newKeySet(dir string, limit int) *keySet {
	return &keySet{dir: dir, limit: max(limit, 1)}
}

func (k *keySet) add(h []uint64) error {
	if cap(k.buf) == 0 {
		// Room for sixteen chunks (up to limit) at once: growing the
		// buffer chunk by chunk cost more than keeping the keys.
		k.buf = make([]uint64, 0, min(k.limit, max(16*len(h), 1024)))
	}
	if len(k.buf) > 0 && len(k.buf)+len(h) > k.limit {
		// Spill first rather than grow past limit.
		if err := k.flush(); err != nil {
			return err
		}
	}
	k.buf = append(k.buf, h...)
	if len(k.buf) >= k.limit {
		return k.flush()
	}
	return nil
}

// flush appends the buffer, partitioned, to the bucket files.
func (k *keySet) flush() error {
	if len(k.buf) == 0 {
		return nil
	}
	if k.spill == "" {
		dir, err := os.MkdirTemp(k.dir, "batchscore-keys-")
		if err != nil {
			return err
		}
		k.spill = dir
		k.buckets = make([]*os.File, bucketCount)
		for i := range k.buckets {
			f, err := os.CreateTemp(dir, fmt.Sprintf("bucket-%02d-", i))
			if err != nil {
				return err
			}
			k.buckets[i] = f
		}
	}
	// One counting pass groups each bucket's hashes; duplicates sorts each
	// bucket once at the end.
	var start [bucketCount + 1]int
	for _, h := range k.buf {
		start[h>>(64-bucketBits)+1]++
	}
	for b := range bucketCount {
		start[b+1] += start[b]
	}
	next := start
	k.scratch = slices.Grow(k.scratch[:0], 8*len(k.buf))[:8*len(k.buf)]
	for _, h := range k.buf {
		b := h >> (64 - bucketBits)
		binary.LittleEndian.PutUint64(k.scratch[8*next[b]:], h)
		next[b]++
	}
	for b, f := range k.buckets {
		if _, err := f.Write(k.scratch[8*start[b] : 8*start[b+1]]); err != nil {
			return err
		}
	}
	k.buf = k.buf[:0]
	return nil
}

// duplicates counts the hashes equal to an earlier one.
func (k *keySet) duplicates() (int64, error) {
	if !k.counted {
		k.dups, k.dupErr = k.count()
		k.counted = true
	}
	return k.dups, k.dupErr
}

// count is duplicates' work; it consumes the buffer once spilled.
func (k *keySet) count() (int64, error) {
	if k.spill == "" {
		return countDuplicates(k.buf, nil), nil
	}
	if err := k.flush(); err != nil {
		return 0, err
	}
	k.buf, k.scratch = nil, nil
	var dups int64
	var bucket, tmp []uint64 // reused: one bucket and the sort's scratch
	block := make([]byte, 1<<16)
	for _, f := range k.buckets {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return 0, err
		}
		var err error
		if bucket, err = readBucket(f, bucket[:0], block); err != nil {
			return 0, err
		}
		tmp = slices.Grow(tmp[:0], len(bucket))
		dups += countDuplicates(bucket, tmp)
	}
	return dups, nil
}

// readBucket appends the hashes of a bucket file to bucket, reading it in
// blocks of len(block) bytes (a multiple of 8).
func readBucket(f *os.File, bucket []uint64, block []byte) ([]uint64, error) {
	var carry int // bytes of an incomplete hash at the start of block
	for {
		n, err := f.Read(block[carry:])
		n += carry
		whole := n &^ 7
		for i := 0; i < whole; i += 8 {
			bucket = append(bucket, binary.LittleEndian.Uint64(block[i:]))
		}
		carry = copy(block, block[whole:n])
		if errors.Is(err, io.EOF) {
			if carry != 0 {
				return nil, fmt.Errorf("reading %s: %w", f.Name(), io.ErrUnexpectedEOF)
			}
			return bucket, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", f.Name(), err)
		}
	}
}

// countDuplicates sorts h, with tmp as scratch when it is large enough.
func countDuplicates(h, tmp []uint64) int64 {
	sortHashes(h, tmp)
	var dups int64
	for i := 1; i < len(h); i++ {
		if h[i] == h[i-1] {
			dups++
		}
	}
	return dups
}

// sortHashes sorts h: a least-significant-byte radix sort, eight counting
// passes (fewer when a byte is the same in every hash): faster than
// slices.Sort on random 64-bit hashes.
func sortHashes(h, tmp []uint64) {
	if len(h) < 256 {
		slices.Sort(h)
		return
	}
	if cap(tmp) < len(h) {
		tmp = make([]uint64, len(h))
	}
	src, dst := h, tmp[:len(h)]
	for shift := 0; shift < 64; shift += 8 {
		var at [256]int
		for _, v := range src {
			at[byte(v>>shift)]++
		}
		if at[byte(src[0]>>shift)] == len(src) {
			continue // every hash has this byte
		}
		sum := 0
		for i, c := range at {
			at[i], sum = sum, sum+c
		}
		for _, v := range src {
			b := byte(v >> shift)
			dst[at[b]] = v
			at[b]++
		}
		src, dst = dst, src
	}
	if &src[0] != &h[0] {
		copy(h, src)
	}
}

// close removes the spill files.
func (k *keySet) close() error {
	var errs []error
	for _, f := range k.buckets {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	k.buckets = nil
	if k.spill != "" {
		errs = append(errs, os.RemoveAll(k.spill))
		k.spill = ""
	}
	k.buf = nil
	return errors.Join(errs...)
}
