//go:build !linux

package bufpool

// mapAnon takes the region from the Go heap where huge pages cannot be
// asked for: buffers are still reused, which saves the zeroing and the
// collector's pacing, if not the faults.
func mapAnon(n int) []byte { return make([]byte, n) }

// unmapPages cannot give Go heap memory back; the collector owns it.
func unmapPages([]byte) {}
