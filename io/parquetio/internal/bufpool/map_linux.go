package bufpool

import "golang.org/x/sys/unix"

// mapAnon maps n bytes of anonymous memory, backed by transparent huge
// pages where the kernel allows them (THP "madvise" or "always"); nil if
// the kernel refuses.
func mapAnon(n int) []byte {
	mem, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON|unix.MAP_NORESERVE)
	if err != nil {
		return nil
	}
	_ = unix.Madvise(mem, unix.MADV_HUGEPAGE) // advice: refused, it is 4 KiB pages
	return mem
}

// unmapPages drops mem's pages; the mapping stays, and reads zero.
func unmapPages(mem []byte) { _ = unix.Madvise(mem, unix.MADV_DONTNEED) }
