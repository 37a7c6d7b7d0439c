// Package linear scores a binary ai.onnx.ml LinearClassifier, with an
// optional Scaler before it, in Go, with the results ONNX Runtime 1.24
// gives to the bit on x86-64 CPUs with AVX2 and FMA.
//
// It follows ORT's CPU kernels operation for operation (scaler.cc,
// linearclassifier.cc, MLAS's SGEMM and logistic kernels):
//
//   - the Scaler gives (x - offset[k]) * scale[k] in float32;
//   - class c's score is the fused multiply-add chain over the features in
//     order, from +0, then plus intercept c, one rounding each: what MLAS's
//     FMA3 and AVX-512 SGEMM kernels compute for up to 128 features, with
//     the intercepts as C and beta 1 (MLAS splits longer rows into blocks,
//     which round differently, so they are refused);
//   - the label is classlabels_ints[c] of the first highest raw score (a
//     NaN never wins);
//   - LOGISTIC applies MlasLogisticKernelFma3's rational approximation to
//     every score; NONE leaves them raw.
//
// What is refused (ErrUnsupported): other than two classes (ORT takes one
// intercept down another path), string labels, multi_class other than 0,
// SOFTMAX, SOFTMAX_ZERO and PROBIT, more than 128 features, and CPUs
// without AVX2 and FMA (MLAS then runs other kernels). ONNX Runtime scores
// a one-row call with its own one-row kernel, which sums in another order:
// this package gives the many-row result for every row, so scoring/onnx
// sends one-row calls to ONNX Runtime.
package linear

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

var (
	// ErrUnsupported marks a model this package does not reproduce exactly.
	ErrUnsupported = errors.New("linear model not supported")
	// ErrInput marks an input or output buffer of the wrong size.
	ErrInput = errors.New("bad input")
)

// MaxFeatures is the longest row MLAS sums in one block for two classes.
const MaxFeatures = 128

// CPUSupported says whether this CPU runs the kernels (AVX2 and FMA):
// elsewhere New refuses every model.
func CPUSupported() bool { return hasFMA }

// Params are a LinearClassifier's attributes, and its Scaler's when one
// feeds it (nil Offset and Scale without).
type Params struct {
	Coefficients  []float32 // classes × features, class-major
	Intercepts    []float32 // one per class
	Labels        []int64   // classlabels_ints
	PostTransform string
	MultiClass    int64
	Offset, Scale []float32 // length 1 or features
}

// Classifier is a compiled binary linear classifier. It is read-only and
// safe for concurrent use.
type Classifier struct {
	Features      int
	Labels        [2]int64
	PostTransform string
	Scaled        bool
	off, scale    []float32
	w0, w1        []float32
	b             [2]float32
}

// New checks p and compiles it.
func New(p Params) (*Classifier, error) {
	if !hasFMA {
		return nil, fmt.Errorf("%w: the CPU lacks AVX2 and FMA, so ONNX Runtime runs other kernels", ErrUnsupported)
	}
	if len(p.Intercepts) != 2 || len(p.Labels) != 2 {
		return nil, fmt.Errorf("%w: %d intercepts and %d int labels; only two classes with two of each", ErrUnsupported, len(p.Intercepts), len(p.Labels))
	}
	if p.MultiClass != 0 {
		return nil, fmt.Errorf("%w: multi_class %d", ErrUnsupported, p.MultiClass)
	}
	if p.PostTransform != "NONE" && p.PostTransform != "LOGISTIC" {
		return nil, fmt.Errorf("%w: post_transform %s", ErrUnsupported, p.PostTransform)
	}
	f := len(p.Coefficients) / 2
	if f == 0 || len(p.Coefficients) != 2*f {
		return nil, fmt.Errorf("%w: %d coefficients for 2 classes", ErrUnsupported, len(p.Coefficients))
	}
	if f > MaxFeatures {
		return nil, fmt.Errorf("%w: %d features; MLAS sums more than %d in blocks", ErrUnsupported, f, MaxFeatures)
	}
	c := &Classifier{Features: f, Labels: [2]int64{p.Labels[0], p.Labels[1]}, PostTransform: p.PostTransform,
		w0: p.Coefficients[:f], w1: p.Coefficients[f:], b: [2]float32{p.Intercepts[0], p.Intercepts[1]}}
	c.off, c.scale = make([]float32, f), make([]float32, f)
	switch {
	case p.Offset == nil && p.Scale == nil:
		for k := range c.scale {
			c.scale[k] = 1 // x - 0 and x * 1 give x back, bit for bit
		}
	case len(p.Offset) == len(p.Scale) && (len(p.Scale) == 1 || len(p.Scale) == f):
		c.Scaled = true
		for k := range c.scale {
			c.off[k], c.scale[k] = p.Offset[k%len(p.Offset)], p.Scale[k%len(p.Scale)]
		}
	default:
		return nil, fmt.Errorf("%w: Scaler with %d offsets and %d scales for %d features", ErrUnsupported, len(p.Offset), len(p.Scale), f)
	}
	return c, nil
}

func (c *Classifier) String() string {
	s := fmt.Sprintf("binary LinearClassifier, %d features, %s, labels %d/%d", c.Features, c.PostTransform, c.Labels[0], c.Labels[1])
	if c.Scaled {
		s = "Scaler + " + s
	}
	return s
}

// Classify scores the rows of x (row-major, width = Features columns):
// label[i] (nil to skip) and prob[2i], prob[2i+1] (the classes' scores
// after the post transform).
func (c *Classifier) Classify(x []float32, width int, label []int64, prob []float32) error {
	if width != c.Features || len(x)%width != 0 {
		return fmt.Errorf("%w: %d values of width %d for %d features", ErrInput, len(x), width, c.Features)
	}
	n := len(x) / width
	cols := make([]float32, len(x))
	for i := range n {
		for k := range width {
			cols[k*n+i] = x[i*width+k]
		}
	}
	return c.ClassifyColumns(cols, n, label, prob)
}

// ClassifyColumns is Classify on feature-major x: feature k of row i at
// x[k*rows + i].
func (c *Classifier) ClassifyColumns(x []float32, rows int, label []int64, prob []float32) error {
	if len(x) != rows*c.Features || label != nil && len(label) != rows || len(prob) != 2*rows {
		return fmt.Errorf("%w: %d values, %d rows of %d features, %d labels, %d probabilities",
			ErrInput, len(x), rows, c.Features, len(label), len(prob))
	}
	s0, s1 := make([]float32, rows), make([]float32, rows)
	c.scores(x, rows, s0, s1)
	for i := range label {
		label[i] = c.Labels[0]
		if s1[i] > s0[i] {
			label[i] = c.Labels[1]
		}
	}
	if c.PostTransform == "LOGISTIC" {
		logistic(s0)
		logistic(s1)
	}
	for i := range s0 {
		prob[2*i], prob[2*i+1] = s0[i], s1[i]
	}
	return nil
}

// scores fills s0 and s1 with the classes' raw scores of feature-major x.
func (c *Classifier) scores(x []float32, rows int, s0, s1 []float32) {
	if !asmKernels {
		c.scoresGo(x, rows, s0, s1)
		return
	}
	f := c.Features
	full := rows / 8
	if full > 0 {
		scoreFMA(&x[0], rows, f, full, &c.off[0], &c.scale[0], &c.w0[0], &c.w1[0], &c.b[0], &s0[0], &s1[0])
	}
	if rest := rows - 8*full; rest > 0 {
		var pad [8 * MaxFeatures]float32
		for k := range f {
			copy(pad[8*k:8*k+rest], x[k*rows+8*full:k*rows+rows])
		}
		var o0, o1 [8]float32
		scoreFMA(&pad[0], 8, f, 1, &c.off[0], &c.scale[0], &c.w0[0], &c.w1[0], &c.b[0], &o0[0], &o1[0])
		copy(s0[8*full:], o0[:rest])
		copy(s1[8*full:], o1[:rest])
	}
}

// logisticConsts are MlasLogisticConstants, in its layout.
var logisticConsts = [14]float32{
	-18.0, 18.0,
	4.37031012579801e-11, 1.15627324459942e-07, 6.08574864600143e-05, 8.51377133304701e-03, 2.48287947061529e-01,
	6.10247389755681e-13, 5.76102136993427e-09, 6.29106785017040e-06, 1.70198817374094e-03, 1.16817656904453e-01, 9.93151921023180e-01,
	0.5,
}

// logistic is MlasComputeLogistic in place.
func logistic(v []float32) {
	if !asmKernels {
		logisticGo(v)
		return
	}
	full := len(v) / 8
	if full > 0 {
		logisticFMA(&v[0], &v[0], full, &logisticConsts)
	}
	if rest := len(v) - 8*full; rest > 0 {
		var pad [8]float32
		copy(pad[:], v[8*full:])
		logisticFMA(&pad[0], &pad[0], 1, &logisticConsts)
		copy(v[8*full:], pad[:rest])
	}
}

// probeSpecials are values where sums and the logistic's clamps go wrong first.
var probeSpecials = []float32{
	0, float32(math.Copysign(0, -1)), 1, -1,
	math.SmallestNonzeroFloat32, -math.MaxFloat32, math.MaxFloat32,
	float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
}

// Probe returns rows × width inputs for comparing the package with ONNX
// Runtime: most rows scale to values of the sizes real features take
// (so the scores cover the logistic's range and its clamps at ±18), some
// values are far off or special (NaN, ±Inf, ±0, extremes). The same seed
// gives the same rows.
func (c *Classifier) Probe(rows, width int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, uint64(c.Features)))
	x := make([]float32, rows*width)
	for i := range x {
		k := i % width
		if r.IntN(16) == 0 || k >= c.Features {
			x[i] = probeSpecials[r.IntN(len(probeSpecials))]
			continue
		}
		// z standard units from the offset, z from a wide spread of sizes.
		z := r.NormFloat64() * math.Pow(2, float64(r.IntN(12)-6))
		scale := float64(c.scale[k])
		if scale == 0 || math.IsInf(scale, 0) || math.IsNaN(scale) {
			scale = 1
		}
		x[i] = float32(float64(c.off[k]) + z/scale)
	}
	return x
}
