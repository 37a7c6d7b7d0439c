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
// memory. Hashes collect in memory up to limit; past it the buffer is
// partitioned by the hashes' top bits into bucketCount buckets, appended
// to one spill file as a run (its buckets one after the other), and
// reused. Equal hashes always land in one bucket, so each bucket is then
// checked on its own: its part of every run loaded into a hash table that
// finds the equal ones. Memory stays at limit hashes, plus a write buffer
// as large while spilling, or about one bucket and its table while
// counting.
//
// Keys are compared by their 64-bit hash only. With n keys the chance of
// any collision is about n²/2⁶⁵: 3·10⁻⁶ for 10⁷ keys, 3·10⁻⁴ for 10⁸. A
// collision would report one duplicate that is not; that is negligible
// and we accept it.
type keySet struct {
	dir     string // where the spill file goes
	limit   int
	buf     []uint64
	spill   *os.File                 // once created
	runs    [][bucketCount + 1]int64 // each run's bucket offsets in spill
	size    int64                    // bytes in spill
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

// partition orders h by bucket into dst (len(h) long) and returns where
// each bucket starts, the last entry being len(h).
func partition(h, dst []uint64) (start [bucketCount + 1]int) {
	for _, v := range h {
		start[v>>(64-bucketBits)+1]++
	}
	for b := range bucketCount {
		start[b+1] += start[b]
	}
	next := start
	for _, v := range h {
		b := v >> (64 - bucketBits)
		dst[next[b]] = v
		next[b]++
	}
	return start
}

// flush appends the buffer, partitioned, to the spill file as one run.
func (k *keySet) flush() error {
	if len(k.buf) == 0 {
		return nil
	}
	if k.spill == nil {
		f, err := os.CreateTemp(k.dir, "batchscore-keys-")
		if err != nil {
			return err
		}
		k.spill = f
	}
	// One counting pass finds each bucket's place; a second writes the
	// hashes there.
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
	var run [bucketCount + 1]int64
	for b, s := range start {
		run[b] = k.size + 8*int64(s)
	}
	if _, err := k.spill.WriteAt(k.scratch, k.size); err != nil {
		return err
	}
	k.size += int64(len(k.scratch))
	k.runs = append(k.runs, run)
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
	var dups int64
	var table []uint64
	if k.spill == nil {
		part := make([]uint64, len(k.buf))
		start := partition(k.buf, part)
		for b := range bucketCount {
			dups += countDuplicates(part[start[b]:start[b+1]], &table)
		}
		return dups, nil
	}
	if err := k.flush(); err != nil {
		return 0, err
	}
	k.buf, k.scratch = nil, nil
	var bucket []uint64
	var block []byte
	for b := range bucketCount {
		bucket = bucket[:0]
		for _, run := range k.runs {
			n := run[b+1] - run[b]
			block = slices.Grow(block[:0], int(n))[:n]
			if _, err := k.spill.ReadAt(block, run[b]); err != nil {
				return 0, fmt.Errorf("reading %s: %w", k.spill.Name(), err)
			}
			for i := 0; i < len(block); i += 8 {
				bucket = append(bucket, binary.LittleEndian.Uint64(block[i:]))
			}
		}
		dups += countDuplicates(bucket, &table)
	}
	return dups, nil
}

// countDuplicates counts the hashes of h equal to an earlier one, in an
// open-addressing table (*table, reused and grown to a power of two at
// least twice len(h)) indexed by the hashes' low bits.
func countDuplicates(h []uint64, table *[]uint64) int64 {
	size := 16
	for size < 2*len(h) {
		size *= 2
	}
	if cap(*table) < size {
		*table = make([]uint64, size)
	}
	t := (*table)[:size]
	clear(t)
	mask := uint64(size - 1)
	var dups int64
	zero := false // 0 marks a free slot: the hash 0 is kept aside
	for _, v := range h {
		if v == 0 {
			if zero {
				dups++
			}
			zero = true
			continue
		}
		for i := v & mask; ; i = (i + 1) & mask {
			if t[i] == 0 {
				t[i] = v
				break
			}
			if t[i] == v {
				dups++
				break
			}
		}
	}
	return dups
}

// close removes the spill file.
func (k *keySet) close() error {
	var errs []error
	if k.spill != nil {
		errs = append(errs, k.spill.Close(), os.Remove(k.spill.Name()))
		k.spill = nil
	}
	k.runs, k.size = nil, 0
	k.buf = nil
	return errors.Join(errs...)
}

// copySpill writes every hash of the spill file to w, for export.
func (k *keySet) copySpill(w io.Writer) (int64, error) {
	if k.spill == nil {
		return 0, nil
	}
	c, err := io.Copy(w, io.NewSectionReader(k.spill, 0, k.size))
	return c / 8, err
}
