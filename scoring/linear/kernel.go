package linear

import "math"

// The kernels in Go: the operations of MLAS's FMA3 kernels, one lane at a
// time. Go has no float32 fused multiply-add, so fma32 computes one.

// scoresGo is scores in Go: class c's sum of row i is the fused
// multiply-add chain over the features in order, from +0, then plus b[c].
func (c *Classifier) scoresGo(x []float32, rows int, s0, s1 []float32) {
	clear(s0)
	clear(s1)
	for k := range c.Features {
		off, scale, w0, w1 := c.off[k], c.scale[k], c.w0[k], c.w1[k]
		for i, xv := range x[k*rows : k*rows+rows] {
			v := float32(float32(xv-off) * scale)
			s0[i] = fma32(v, w0, s0[i])
			s1[i] = fma32(v, w1, s1[i])
		}
	}
	for i := range s0 {
		s0[i] += c.b[0]
		s1[i] += c.b[1]
	}
}

// logisticGo is MlasLogisticKernelFma3 on each value of v, in place.
func logisticGo(v []float32) {
	k := &logisticConsts
	for i, x := range v {
		x = minps(k[1], maxps(k[0], x))
		x2 := float32(x * x)
		p := fma32(x2, k[2], k[3])
		p = fma32(x2, p, k[4])
		p = fma32(x2, p, k[5])
		p = fma32(x2, p, k[6])
		q := fma32(x2, k[7], k[8])
		q = fma32(x2, q, k[9])
		q = fma32(x2, q, k[10])
		q = fma32(x2, q, k[11])
		q = fma32(x2, q, k[12])
		p = float32(x * p)
		v[i] = maxps(0, float32(p/q)+k[13])
	}
}

// fma32 is a*b + c rounded once to float32: the product is exact in
// float64, the sum is rounded to odd there, and rounding that to float32
// is then correct (53 >= 24 + 2 bits).
func fma32(a, b, c float32) float32 {
	p, q := float64(float64(a)*float64(b)), float64(c)
	s := p + q
	if math.IsInf(s, 0) || math.IsNaN(s) {
		return float32(s)
	}
	bb := s - p
	e := (p - (s - bb)) + (q - bb) // s + e is the exact sum
	if e != 0 && math.Float64bits(s)&1 == 0 {
		s = math.Nextafter(s, math.Copysign(math.Inf(1), e))
	}
	return float32(s)
}

// maxps is x86's MAXPS lane: src1 > src2 ? src1 : src2 (so a NaN in
// either, and equal zeros, give src2).
func maxps(src1, src2 float32) float32 {
	if src1 > src2 {
		return src1
	}
	return src2
}

// minps is x86's MINPS lane: src1 < src2 ? src1 : src2.
func minps(src1, src2 float32) float32 {
	if src1 < src2 {
		return src1
	}
	return src2
}
