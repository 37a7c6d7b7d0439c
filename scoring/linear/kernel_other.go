//go:build !amd64 || purego

package linear

const asmKernels = false

func scoreFMA(x *float32, stride, width, groups int, off, scale, w0, w1, b, out0, out1 *float32) {
	panic("scoreFMA without amd64")
}

func logisticFMA(in, out *float32, n8 int, consts *[14]float32) {
	panic("logisticFMA without amd64")
}
