package trees

// ONNX Runtime's logistic, to the bit.
//
// ORT's binary tree classifier writes probabilities [ComputeLogistic(-s),
// ComputeLogistic(s)] (ml_common.h, write_scores, cases 2 and 3), where
//
//	static inline float ComputeLogistic(float val) {
//	  float v = 1 / (1 + std::exp(-std::abs(val)));
//	  return (val < 0) ? (1 - v) : v;
//	}
//
// std::exp of a float is the C library's expf. On Linux that is glibc's
// (libonnxruntime.so imports expf@GLIBC_2.27): the table-driven algorithm
// of sysdeps/ieee754/flt-32/e_expf.c, evaluated in double precision and
// rounded to float once. It is not correctly rounded (the source counts
// 170,635 wrongly rounded results), so math.Exp rounded to float32 would
// differ from ORT on some inputs; expf below is that algorithm, operation
// for operation. On x86-64 glibc runs a copy compiled with -mfma -mavx2
// when the CPU has FMA and AVX2 and a plain SSE2 copy otherwise; GCC
// contracts the FMA copy's multiply-adds, which expf reproduces with
// math.FMA.
//
// Checked exhaustively (a cgo harness outside the repository, all 2^32
// float bit patterns, glibc 2.36 on an AVX-512 Xeon): expf equals the
// machine's expf on every non-NaN input. The SSE2 copy (the same code
// without contraction) differs from it on two inputs, 32.564632 and
// -63.09946; ComputeLogistic only takes expf of -|val|, and at -63.09946
// e = 3.9e-28 makes 1 + e round to 1 with either copy, so ComputeLogistic
// is the same for every float input whichever copy glibc picked.
// TestLogisticMatchesORT checks it through ONNX Runtime itself.

import (
	"math"
)

// exp2fTable is glibc's __exp2f_data.tab: tab[i] = bits(2^(i/32)) - (i << 47).
var exp2fTable = [32]uint64{
	0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51,
	0x3fef72b83c7d517b, 0x3fef54873168b9aa, 0x3fef387a6e756238, 0x3fef1e9df51fdee1,
	0x3fef06fe0a31b715, 0x3feef1a7373aa9cb, 0x3feedea64c123422, 0x3feece086061892d,
	0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429, 0x3feea47eb03a5585,
	0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74, 0x3feea11473eb0187, 0x3feea589994cce13,
	0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d,
	0x3feee89f995ad3ad, 0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069,
	0x3fef5818dcfba487, 0x3fef7c97337b9b5f, 0x3fefa4afa2a490da, 0x3fefd0765b6e4540,
}

const (
	expfN       = 32
	expfInvLn2N = 0x1.71547652b82fep+0 * expfN
	expfShift   = 0x1.8p+52
	expfC0      = 0x1.c6af84b912394p-5 / expfN / expfN / expfN
	expfC1      = 0x1.ebfce50fac4f3p-3 / expfN / expfN
	expfC2      = 0x1.62e42ff0c52d6p-1 / expfN
)

// expfSpecial handles what glibc's expf handles before the main path:
// |x| >= 88 and NaN. ok is false when x takes the main path.
func expfSpecial(x float32) (float32, bool) {
	abstop := (math.Float32bits(x) >> 20) & 0x7ff
	if abstop < math.Float32bits(88)>>20 {
		return 0, false
	}
	switch {
	case x == float32(math.Inf(-1)):
		return 0, true
	case abstop >= math.Float32bits(float32(math.Inf(1)))>>20:
		return x + x, true // +Inf, NaN
	case x > 0x1.62e42ep6:
		return float32(math.Inf(1)), true // overflow
	case x < -0x1.9fe368p6:
		return 0, true // underflow
	}
	return 0, false
}

// expfFMA is glibc's expf as GCC compiles it with -mfma: every product
// feeding an addition contracted into a fused multiply-add.
func expfFMA(x float32) float32 {
	if y, ok := expfSpecial(x); ok {
		return y
	}
	xd := float64(x)
	kd := math.FMA(expfInvLn2N, xd, expfShift)
	ki := math.Float64bits(kd)
	kd -= expfShift
	r := math.FMA(expfInvLn2N, xd, -kd)
	t := exp2fTable[ki%expfN] + ki<<(52-5)
	s := math.Float64frombits(t)
	zz := math.FMA(expfC0, r, expfC1)
	r2 := float64(r * r)
	y := math.FMA(expfC2, r, 1)
	y = math.FMA(zz, r2, y)
	y = y * s
	return float32(y)
}

// logistic is ORT's ComputeLogistic; e is expf(-|val|).
func logisticFrom(val, e float32) float32 {
	v := 1 / (1 + e)
	if val < 0 {
		return 1 - v
	}
	return v
}
