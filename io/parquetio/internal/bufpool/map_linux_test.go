package bufpool

import (
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestReleaseGivesPagesBack checks with mincore that Release leaves none
// of a region's pages resident, and that a buffer reused after it is zero.
func TestReleaseGivesPagesBack(t *testing.T) {
	p := New(false)
	b := p.Allocate(8 << 20)
	for i := range b {
		b[i] = 1
	}
	if p.Release() {
		t.Fatal("Release with a buffer handed out")
	}
	if resident(t, b) == 0 {
		t.Fatal("no page resident after writing 8 MiB")
	}
	p.Free(b)
	if !p.Release() {
		t.Fatal("Release refused with nothing handed out")
	}
	if n := resident(t, b[:cap(b)]); n != 0 {
		t.Fatalf("%d pages resident after Release", n)
	}
	again := p.Allocate(8 << 20)
	if &again[0] != &b[0] || !allBytes(again, 0) {
		t.Fatal("the buffer reused after Release is not the same, zeroed memory")
	}
	p.Free(again)
}

func resident(t *testing.T, b []byte) int {
	t.Helper()
	page := os.Getpagesize()
	start := uintptr(unsafe.Pointer(&b[0])) &^ uintptr(page-1)
	n := (uintptr(unsafe.Pointer(&b[0])) + uintptr(len(b)) - start + uintptr(page) - 1) / uintptr(page)
	vec := make([]byte, n)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, start, n*uintptr(page), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	count := 0
	for _, v := range vec {
		count += int(v & 1)
	}
	return count
}
