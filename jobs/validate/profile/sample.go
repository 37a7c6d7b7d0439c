package profile

import (
	"math"
	"path"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/zeebo/xxh3"
)

// DriftSampleRows is the expected size of the row sample that counts the
// drift histograms (on a baseline's edges) of a large snapshot: a
// snapshot of more rows counts them on a seeded sample of about this many
// rows; a smaller one counts every row. With m sampled rows the shares of
// the bins have a standard error of at most 0.5/sqrt(m) (0.001 here), and
// the PSI one of about sqrt(Σ a·g²)/sqrt(m), g = ln(a/e) + 1 − e/a, plus
// a bias of about (bins − 1)/m: below 0.005 in all for a PSI up to 1
// (TestSampledPSI checks 0.01).
const DriftSampleRows = 1 << 18

// SampleRate is the share of rows that a snapshot of rows rows samples
// for its drift histograms: 1 (every row) up to DriftSampleRows rows.
func SampleRate(rows int64) float64 {
	if rows <= DriftSampleRows {
		return 1
	}
	return float64(DriftSampleRows) / float64(rows)
}

// WithRowSample counts the histograms on given edges (a baseline's, or
// WithFixedBins) from a sample of rows instead of every row; everything
// else (counts, nulls, min, max, moments, the values outside the edges,
// categories, the sketch, fine counts) stays over every row. Each row is
// in the sample with probability rate, decided by a hash of seed, its
// file's base name and its row in that file (AddAt): the sample does not
// depend on chunking, shards or workers, and a rerun with the same seed
// counts the same rows. Profile scales the sampled counts to the exact
// number of values between the edges and says so in Histogram.Sampled.
// A rate of 1 or more counts every row.
func WithRowSample(rate float64, seed uint64) Option {
	return func(b *Builder) {
		if rate >= 1 || !(rate > 0) {
			return
		}
		b.sample = &rowSample{threshold: uint64(rate * (1 << 63) * 2), seed: seed}
	}
}

// rowSample picks a chunk's sampled rows.
type rowSample struct {
	threshold uint64 // a row is sampled when its hash is below
	seed      uint64
	file      string // of fileSeed
	fileSeed  uint64
	idx       []int32
}

// splitmix is SplitMix64's output function.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// pick lists the sampled rows among the n rows from row offset of file.
func (s *rowSample) pick(file string, offset int64, n int) []int32 {
	if file != s.file || s.idx == nil {
		base := path.Base(strings.ReplaceAll(file, `\`, "/"))
		s.file, s.fileSeed = file, xxh3.HashStringSeed(base, s.seed)
	}
	idx := s.idx[:0]
	at := s.fileSeed + uint64(offset)*0x9e3779b97f4a7c15
	for i := range n {
		if splitmix(at+uint64(i)*0x9e3779b97f4a7c15) < s.threshold {
			idx = append(idx, int32(i))
		}
	}
	s.idx = idx
	return idx
}

// addSample bins the finite values of the sampled rows idx of arr into
// c.hist; the values outside the edges are counted over every row by addFinite.
func (c *colState) addSample(arr arrow.Array, idx []int32) {
	buf := c.sampleBuf[:0]
	switch a := arr.(type) {
	case *array.Float64:
		buf = gather(buf, arr, a.Float64Values(), idx, 1)
	case *array.Float32:
		buf = gather(buf, arr, a.Float32Values(), idx, 1)
	case *array.Int8:
		buf = gather(buf, arr, a.Int8Values(), idx, 1)
	case *array.Int16:
		buf = gather(buf, arr, a.Int16Values(), idx, 1)
	case *array.Int32:
		buf = gather(buf, arr, a.Int32Values(), idx, 1)
	case *array.Int64:
		buf = gather(buf, arr, a.Int64Values(), idx, 1)
	case *array.Uint8:
		buf = gather(buf, arr, a.Uint8Values(), idx, 1)
	case *array.Uint16:
		buf = gather(buf, arr, a.Uint16Values(), idx, 1)
	case *array.Uint32:
		buf = gather(buf, arr, a.Uint32Values(), idx, 1)
	case *array.Uint64:
		buf = gather(buf, arr, a.Uint64Values(), idx, 1)
	case *array.Date32:
		buf = gather(buf, arr, a.Date32Values(), idx, 1)
	case *array.Date64:
		buf = gather(buf, arr, a.Date64Values(), idx, 86_400_000)
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		buf = gather(buf, arr, a.TimestampValues(), idx, float64(24*time.Hour)/float64(unit.Multiplier()))
	}
	// The sample's values outside the edges are left out: addFinite
	// counts those over every row.
	below, above := c.bins.count(buf, c.hist, 0, 0)
	c.sampledIn += int64(len(buf)) - below - above
	c.sampleBuf = buf
}

// gather appends the finite values of the rows idx of arr, divided by per
// as addInts does, to buf.
func gather[T integer | float32 | float64](buf []float64, arr arrow.Array, vals []T, idx []int32, per float64) []float64 {
	nulls := arr.NullN() > 0
	for _, i := range idx {
		if nulls && arr.IsNull(int(i)) {
			continue
		}
		x := float64(vals[i])
		if per != 1 {
			x /= per
		}
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			buf = append(buf, x)
		}
	}
	return buf
}

// sampledCounts scales the sampled counts to the exact number of values
// between the edges (largest remainders, so that they add up to it).
func (c *colState) sampledCounts() []int64 {
	inside := c.n - c.below - c.above
	out := make([]int64, len(c.hist))
	if c.sampledIn == 0 || inside <= 0 {
		return out
	}
	var sum int64
	rem := make([]float64, len(c.hist))
	for i, s := range c.hist {
		x := float64(s) * float64(inside) / float64(c.sampledIn)
		out[i] = int64(math.Floor(x))
		rem[i] = x - float64(out[i])
		sum += out[i]
	}
	for ; sum < inside; sum++ {
		best := 0
		for i := range rem {
			if rem[i] > rem[best] {
				best = i
			}
		}
		out[best]++
		rem[best] = -1
	}
	return out
}
