package profile

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
)

// sketchK sets the KLL sketch's accuracy and size: about 3k items are
// kept whatever the input size, and the rank error stays well under 1%
// (see TestSketchAccuracy).
const sketchK = 256

// kll is a KLL quantile sketch (Karnin, Lang, Liberty 2016) in the simple
// form of Liberty's reference implementation: level h holds items of
// weight 2^h; when the sketch is full, the lowest full level is sorted
// and every other item, from a random start, moves one level up.
//
// Level 0 is unsorted; the levels above it are kept sorted, so that a
// compaction costs a sort of level 0 and linear merges above it.
// Items can also be added straight to a higher level with addSorted:
// that is how stride-sampled values (each standing for 2^h values) go in.
type kll struct {
	k      int
	levels [][]float64
	rng    uint64 // splitmix64 state: deterministic, so profiles repeat
	n      int64  // total weight
	// Compaction scratch, reused: allocating per compaction was most of
	// the cost of the exact phase. spare is a former level's buffer.
	up, spare []float64
}

func newKLL(seed uint64) *kll {
	return &kll{k: sketchK, levels: [][]float64{nil}, rng: seed}
}

func (s *kll) random() uint64 {
	s.rng += 0x9e3779b97f4a7c15
	z := s.rng
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (s *kll) capacity(h int) int {
	depth := len(s.levels) - h - 1
	if s.k == sketchK && depth < len(capacities) {
		return capacities[depth]
	}
	return levelCapacity(s.k, depth)
}

func levelCapacity(k, depth int) int {
	return int(math.Ceil(float64(k)*math.Pow(2.0/3.0, float64(depth)))) + 1
}

// capacities caches levelCapacity(sketchK, depth): math.Pow on every
// compaction check was a tenth of profiling's time.
var capacities = func() (c [64]int) {
	for d := range c {
		c[d] = levelCapacity(sketchK, d)
	}
	return c
}()

func (s *kll) size() int {
	n := 0
	for _, l := range s.levels {
		n += len(l)
	}
	return n
}

func (s *kll) maxSize() int {
	n := 0
	for h := range s.levels {
		n += s.capacity(h)
	}
	return n
}

// add inserts values of weight 1.
func (s *kll) add(vs []float64) {
	for len(vs) > 0 {
		room := max(s.capacity(0)-len(s.levels[0]), 1)
		take := min(room, len(vs))
		s.levels[0] = append(s.levels[0], vs[:take]...)
		vs = vs[take:]
		s.n += int64(take)
		s.compress()
	}
}

// addSorted inserts sorted values of weight 2^h each.
func (s *kll) addSorted(h int, vs []float64) {
	if h == 0 {
		s.add(vs)
		return
	}
	s.grow(h)
	s.levels[h] = s.mergeInto(s.levels[h], vs)
	s.n += int64(len(vs)) << h
	s.compress()
}

func (s *kll) grow(h int) {
	for len(s.levels) <= h {
		s.levels = append(s.levels, nil)
	}
}

func (s *kll) compress() {
	for s.size() > s.maxSize() {
		for h := range s.levels {
			if len(s.levels[h]) >= s.capacity(h) {
				s.compact(h)
				break
			}
		}
	}
}

// compact halves level h into level h+1.
func (s *kll) compact(h int) {
	s.grow(h + 1)
	l := s.levels[h]
	if h == 0 {
		slices.Sort(l)
	}
	odd := len(l)%2 == 1 // the odd one out stays, at its weight
	var last float64
	if odd {
		last, l = l[len(l)-1], l[:len(l)-1]
	}
	up := s.up[:0]
	for i := int(s.random() & 1); i < len(l); i += 2 {
		up = append(up, l[i])
	}
	s.up = up
	s.levels[h+1] = s.mergeInto(s.levels[h+1], up)
	s.levels[h] = l[:0]
	if odd {
		s.levels[h] = append(s.levels[h], last)
	}
}

// mergeInto returns a and b merged in order, in the spare buffer; a's
// buffer becomes the spare, so a must be a level that the result replaces.
func (s *kll) mergeInto(a, b []float64) []float64 {
	out := mergeSorted(s.spare[:0], a, b)
	s.spare = a[:0]
	return out
}

// mergeSorted appends a and b, merged in order, to out.
func mergeSorted(out, a, b []float64) []float64 {
	out = slices.Grow(out, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if b[j] < a[i] {
			out = append(out, b[j])
			j++
		} else {
			out = append(out, a[i])
			i++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// merge adds o's items to s; o is unchanged.
func (s *kll) merge(o *kll) {
	s.grow(len(o.levels) - 1)
	s.levels[0] = append(s.levels[0], o.levels[0]...)
	for h := 1; h < len(o.levels); h++ {
		s.levels[h] = s.mergeInto(s.levels[h], o.levels[h])
	}
	s.n += o.n
	s.compress()
}

// cdf is a sorted view of a sketch for rank queries.
type cdf struct {
	vals []float64
	cum  []int64 // cum[i]: weight of vals[:i+1]
}

func (s *kll) view() cdf {
	type item struct {
		v float64
		w int64
	}
	items := make([]item, 0, s.size())
	for h, l := range s.levels {
		for _, v := range l {
			items = append(items, item{v, 1 << h})
		}
	}
	slices.SortFunc(items, func(a, b item) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		}
		return 0
	})
	c := cdf{vals: make([]float64, len(items)), cum: make([]int64, len(items))}
	var run int64
	for i, it := range items {
		run += it.w
		c.vals[i], c.cum[i] = it.v, run
	}
	return c
}

func (c cdf) total() int64 {
	if len(c.cum) == 0 {
		return 0
	}
	return c.cum[len(c.cum)-1]
}

// quantile is the smallest kept value whose rank reaches p of the weight.
func (c cdf) quantile(p float64) (float64, bool) {
	if len(c.vals) == 0 {
		return 0, false
	}
	target := int64(math.Ceil(p * float64(c.total())))
	i, _ := slices.BinarySearch(c.cum, max(target, 1))
	return c.vals[min(i, len(c.vals)-1)], true
}

// less is the estimated weight of values below x.
func (c cdf) less(x float64) int64 {
	i, _ := slices.BinarySearch(c.vals, x) // first index with vals[i] >= x
	for i > 0 && i < len(c.vals) && c.vals[i-1] == x {
		i--
	}
	if i == 0 {
		return 0
	}
	return c.cum[i-1]
}

// atMost is the estimated weight of values at or below x.
func (c cdf) atMost(x float64) int64 {
	i := sort.SearchFloat64s(c.vals, math.Nextafter(x, math.Inf(1))) // first index with vals[i] > x
	if i == 0 {
		return 0
	}
	return c.cum[i-1]
}

// sketchJSON is the serialized form: each level's items as base64 of
// little-endian float64s (compact, and exact unlike decimal text).
type sketchJSON struct {
	Kind   string   `json:"kind"`
	K      int      `json:"k"`
	N      int64    `json:"n"`
	Levels []string `json:"levels"`
}

func (s *kll) MarshalJSON() ([]byte, error) {
	out := sketchJSON{Kind: "kll", K: s.k, N: s.n, Levels: make([]string, len(s.levels))}
	for h, l := range s.levels {
		buf := make([]byte, 8*len(l))
		for i, v := range l {
			binary.LittleEndian.PutUint64(buf[8*i:], math.Float64bits(v))
		}
		out.Levels[h] = base64.StdEncoding.EncodeToString(buf)
	}
	return json.Marshal(out)
}

func (s *kll) UnmarshalJSON(data []byte) error {
	var in sketchJSON
	if err := json.Unmarshal(data, &in); err != nil {
		return err
	}
	if in.Kind != "kll" || in.K < 8 || len(in.Levels) == 0 || len(in.Levels) > 64 {
		return fmt.Errorf("sketch: not a KLL sketch (kind %q, k %d, %d levels)", in.Kind, in.K, len(in.Levels))
	}
	s.k, s.levels, s.n = in.K, make([][]float64, len(in.Levels)), 0
	for h, enc := range in.Levels {
		buf, err := base64.StdEncoding.DecodeString(enc)
		if err != nil || len(buf)%8 != 0 {
			return fmt.Errorf("sketch: level %d is not base64 float64s", h)
		}
		l := make([]float64, len(buf)/8)
		for i := range l {
			l[i] = math.Float64frombits(binary.LittleEndian.Uint64(buf[8*i:]))
			if math.IsNaN(l[i]) || math.IsInf(l[i], 0) {
				return fmt.Errorf("sketch: level %d holds %v", h, l[i])
			}
		}
		if h > 0 {
			slices.Sort(l)
		}
		s.levels[h] = l
		s.n += int64(len(l)) << h
	}
	if s.n != in.N {
		return fmt.Errorf("sketch: items weigh %d, header says %d", s.n, in.N)
	}
	return nil
}
