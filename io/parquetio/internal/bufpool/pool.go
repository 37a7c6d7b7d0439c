// Package bufpool is an arrow allocator that keeps released buffers for
// reuse, in memory mapped outside the Go heap. The Parquet reader allocates
// and releases the same column buffers chunk after chunk, hundreds of
// megabytes a run: from the Go heap each is a fresh, zeroed, page-faulted
// allocation that the collector then has to pace around. Here a released
// buffer goes back to a free list of its size class and the next chunk
// gets it zeroed; the mapping asks the kernel for transparent huge pages,
// so the first touch of 2 MiB costs one fault, not 512.
//
// The contract is arrow's: every buffer is freed exactly once, after its
// last reader is done. A Go value that aliases a buffer (a string from a
// binary column, a slice from Float64Values) must not outlive the record;
// that is why the reader uses a Pool for fixed-width columns only.
package bufpool

import (
	"math/bits"
	"sync"
	"unsafe"
)

// smallest is the smallest pooled size: below it the Go heap is as fast.
const smallest = 4 << 10

// regionSize is how much address space a Pool maps at a time. The kernel
// backs it only where it is touched.
const regionSize = 64 << 20

// Pool is a memory.Allocator. It is safe for concurrent use.
type Pool struct {
	mu      sync.Mutex
	free    map[int][][]byte // by size class
	regions []region
	next    []byte // unused rest of the newest region
	inUse   int64  // bytes handed out and not freed
	peak    int64  // inUse's high-water mark since New
	mapped  int64
	poison  bool
}

type region struct {
	mem        []byte
	start, end uintptr
}

// New returns an empty Pool. With poison, a freed buffer is overwritten
// with 0xff bytes (a float64 NaN) until it is reused, so a read after
// release shows up in results instead of going unnoticed; tests set it.
func New(poison bool) *Pool {
	return &Pool{free: map[int][][]byte{}, poison: poison}
}

// class rounds size up to a quarter power of two: at most 25 % waste.
func class(size int) int {
	if size <= smallest {
		return smallest
	}
	shift := bits.Len(uint(size-1)) - 3
	step := 1 << shift
	return (size + step - 1) &^ (step - 1)
}

// Allocate returns size zeroed bytes.
func (p *Pool) Allocate(size int) []byte {
	if size < smallest {
		return make([]byte, size)
	}
	c := class(size)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inUse += int64(c)
	if list := p.free[c]; len(list) > 0 {
		b := list[len(list)-1]
		p.free[c] = list[:len(list)-1]
		b = b[:size]
		clear(b)
		p.peak = max(p.peak, p.inUse)
		return b
	}
	b := p.carve(c)
	if b == nil { // the kernel refused a mapping: the Go heap, as without the pool
		p.inUse -= int64(c)
		return make([]byte, size)
	}
	p.peak = max(p.peak, p.inUse)
	return b[:size]
}

// carve takes c fresh (zero) bytes from the newest region, mapping a new
// one when it is used up; nil if the kernel refuses the mapping.
func (p *Pool) carve(c int) []byte {
	if len(p.next) < c {
		mem := mapRegion(max(regionSize, c))
		if mem == nil {
			return nil
		}
		start := uintptr(unsafe.Pointer(&mem[0]))
		p.regions = append(p.regions, region{mem, start, start + uintptr(len(mem))})
		p.mapped += int64(len(mem))
		p.next = mem
	}
	b := p.next[:c:c]
	p.next = p.next[c:]
	return b
}

// Owns says whether b is memory the pool hands out.
func (p *Pool) Owns(b []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.owns(b)
}

func (p *Pool) owns(b []byte) bool {
	if cap(b) == 0 {
		return false
	}
	a := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	for _, r := range p.regions {
		if a >= r.start && a < r.end {
			return true
		}
	}
	return false
}

// Free returns b to its size class's free list.
func (p *Pool) Free(b []byte) {
	if cap(b) < smallest {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.owns(b) {
		return // from the Go heap (small, or made when a mapping was refused): the collector has it
	}
	b = b[:cap(b)]
	if p.poison {
		for i := range b {
			b[i] = 0xff
		}
	}
	p.inUse -= int64(len(b))
	p.free[len(b)] = append(p.free[len(b)], b)
}

// Reallocate grows or shrinks b to size, keeping its contents.
func (p *Pool) Reallocate(size int, b []byte) []byte {
	if size <= cap(b) {
		old := len(b)
		b = b[:size]
		if size > old {
			clear(b[old:])
		}
		return b
	}
	nb := p.Allocate(size)
	copy(nb, b)
	p.Free(b)
	return nb
}

// Release gives the pool's memory back to the kernel when no buffer is
// handed out, and says whether it did. The free lists stay: a buffer
// reused later is faulted in again, zero. A daemon calls it between runs,
// so that it does not hold a run's peak while it waits for the next.
func (p *Pool) Release() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inUse != 0 {
		return false
	}
	for _, r := range p.regions {
		unmapPages(r.mem)
	}
	return true
}

// InUse is the number of bytes handed out and not yet freed, rounded up to
// size classes. After a read whose records are all released it is zero.
func (p *Pool) InUse() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inUse
}

// Peak is InUse's high-water mark since New.
func (p *Pool) Peak() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peak
}

// Mapped is the address space the pool has mapped: its high-water mark.
func (p *Pool) Mapped() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mapped
}

// mapRegion maps a region; a variable so that a test can refuse it.
var mapRegion = mapAnon
