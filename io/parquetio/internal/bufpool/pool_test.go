package bufpool

import (
	"bytes"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

var _ memory.Allocator = (*Pool)(nil)

func TestClassWastesAtMostAQuarter(t *testing.T) {
	for size := 1; size < 1<<24; size += 1 + size/97 {
		c := class(size)
		if c < size || c < smallest {
			t.Fatalf("class(%d) = %d, below the size", size, c)
		}
		if size > smallest && float64(c) > 1.25*float64(size) {
			t.Fatalf("class(%d) = %d, more than 25 %% over", size, c)
		}
		if class(c) != c {
			t.Fatalf("class(class(%d)) = %d, not %d: a freed buffer would change class", size, class(c), c)
		}
	}
}

func TestReusedBufferIsZeroed(t *testing.T) {
	for _, poison := range []bool{false, true} {
		p := New(poison)
		b := p.Allocate(100_000)
		for i := range b {
			b[i] = byte(i) | 1
		}
		p.Free(b)
		if poison && !allBytes(b[:cap(b)], 0xff) {
			t.Fatal("a freed buffer is not poisoned")
		}
		again := p.Allocate(99_000) // the same class
		if &again[0] != &b[0] {
			t.Fatal("the freed buffer was not reused")
		}
		if len(again) != 99_000 || !allBytes(again, 0) {
			t.Fatalf("reused buffer: %d bytes, zeroed %v", len(again), allBytes(again, 0))
		}
		p.Free(again)
		if p.InUse() != 0 {
			t.Fatalf("InUse %d after every buffer was freed", p.InUse())
		}
	}
}

func TestReallocateKeepsContentsAndZeroesTheRest(t *testing.T) {
	p := New(true)
	b := p.Allocate(5000)
	for i := range b {
		b[i] = 7
	}
	b = p.Reallocate(6000, b) // within the class: same memory
	if !allBytes(b[:5000], 7) || !allBytes(b[5000:], 0) {
		t.Fatal("grown within its class: contents or zeroed tail wrong")
	}
	b = p.Reallocate(3<<20, b) // a new class
	if len(b) != 3<<20 || !allBytes(b[:5000], 7) || !allBytes(b[5000:], 0) {
		t.Fatal("grown into a new class: contents or zeroed tail wrong")
	}
	b = p.Reallocate(100, b)
	if len(b) != 100 || !allBytes(b, 7) {
		t.Fatal("shrunk: contents wrong")
	}
	p.Free(b)
	if p.InUse() != 0 {
		t.Fatalf("InUse %d after every buffer was freed", p.InUse())
	}
}

func TestSmallAndForeignBuffersStayOnTheGoHeap(t *testing.T) {
	p := New(true)
	small := p.Allocate(100)
	if p.owns(small) || p.InUse() != 0 || p.Mapped() != 0 {
		t.Fatal("a 100-byte buffer came from the pool")
	}
	foreign := bytes.Repeat([]byte{1}, 1<<20)
	p.Free(foreign)
	p.Free(small)
	if !allBytes(foreign, 1) || p.InUse() != 0 {
		t.Fatal("Free touched a buffer the pool did not hand out")
	}
}

func TestLargerThanARegion(t *testing.T) {
	p := New(false)
	b := p.Allocate(regionSize + 1)
	b[len(b)-1] = 1
	p.Free(b)
	if p.InUse() != 0 || p.Mapped() < regionSize+1 {
		t.Fatalf("InUse %d, Mapped %d", p.InUse(), p.Mapped())
	}
}

// TestArrowBuffersRoundTrip builds arrays through the pool as the Parquet
// reader does, from many goroutines, and checks that what each reads back
// is its own and that releasing them all returns every byte.
func TestArrowBuffersRoundTrip(t *testing.T) {
	p := New(true)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 50 {
				n := 1 + r.IntN(70_000)
				b := array.NewFloat64Builder(p)
				for i := range n {
					if i%11 == 0 {
						b.AppendNull()
					} else {
						b.Append(float64(g*1_000_000 + i))
					}
				}
				a := b.NewFloat64Array()
				b.Release()
				for i := range n {
					if i%11 == 0 != a.IsNull(i) || (!a.IsNull(i) && a.Value(i) != float64(g*1_000_000+i)) {
						t.Errorf("goroutine %d row %d: null %v value %v", g, i, a.IsNull(i), a.Value(i))
						break
					}
				}
				a.Release()
			}
		}()
	}
	wg.Wait()
	if p.InUse() != 0 {
		t.Fatalf("InUse %d after every array was released", p.InUse())
	}
}

func allBytes(b []byte, v byte) bool {
	for _, x := range b {
		if x != v {
			return false
		}
	}
	return true
}

func TestRefusedMappingFallsBackToTheGoHeap(t *testing.T) {
	saved := mapRegion
	mapRegion = func(int) []byte { return nil }
	t.Cleanup(func() { mapRegion = saved })
	p := New(true)
	b := p.Allocate(1 << 20)
	if len(b) != 1<<20 || !allBytes(b, 0) || p.Owns(b) || p.InUse() != 0 || p.Mapped() != 0 {
		t.Fatalf("len %d, owned %v, InUse %d, Mapped %d", len(b), p.Owns(b), p.InUse(), p.Mapped())
	}
	b[0] = 1
	p.Free(b)
	if b[0] != 1 {
		t.Fatal("Free poisoned a buffer from the Go heap")
	}
}
