package parquetio

import "os"

// HashedBytes is how many bytes of the file Fingerprint hashes for a job
// that reads cols: the footer and their column chunks (-1: the whole file).
func HashedBytes(path string, size int64, cols []string) int64 {
	fh, err := os.Open(path)
	if err != nil {
		return -1
	}
	defer fh.Close()
	ranges, ok := readRanges(fh, size, cols)
	if !ok {
		return -1
	}
	var n int64
	for _, r := range ranges {
		n += r.size
	}
	return n
}
