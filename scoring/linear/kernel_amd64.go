//go:build amd64 && !purego

package linear

// asmKernels: scores and logistic run the assembly kernels below.
const asmKernels = true

// scoreFMA scores groups × 8 rows of x, feature-major (feature k of row
// i at x[k*stride + i]): each value is scaled as (x - off[k]) * scale[k],
// then class c's sum is the fused multiply-add chain over k from +0,
// plus b[c], for c = 0 and 1.
//
//go:noescape
func scoreFMA(x *float32, stride, width, groups int, off, scale, w0, w1, b, out0, out1 *float32)

// logisticFMA is MLAS's MlasLogisticKernelFma3 on n8 × 8 values.
//
//go:noescape
func logisticFMA(in, out *float32, n8 int, consts *[14]float32)
