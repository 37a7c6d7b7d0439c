//go:build amd64 && !purego

#include "textflag.h"

// func scoreFMA(x *float32, stride, width, groups int, off, scale, w0, w1, b, out0, out1 *float32)
//
// Eight rows at a time, one feature a step: x is feature-major (feature
// k of row i at x[k*stride + i]), so a step is one load; the Scaler's
// subtract and multiply follow, and each class adds w[k] times it with
// one rounding, k in order: the order of MLAS's SGEMM kernels, whose
// accumulators start at zero and take C (the intercepts) at the end.
TEXT ·scoreFMA(SB), NOSPLIT, $0-88
	MOVQ x+0(FP), SI
	MOVQ stride+8(FP), BX
	SHLQ $2, BX
	MOVQ width+16(FP), CX
	MOVQ groups+24(FP), DX
	MOVQ off+32(FP), R8
	MOVQ scale+40(FP), R9
	MOVQ w0+48(FP), R10
	MOVQ w1+56(FP), R11
	MOVQ b+64(FP), R12
	MOVQ out0+72(FP), R13
	MOVQ out1+80(FP), R14
	VBROADCASTSS (R12), Y13
	VBROADCASTSS 4(R12), Y14

group:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	XORQ AX, AX
	MOVQ SI, DI

feature:
	VMOVUPS (DI), Y8
	VBROADCASTSS (R8)(AX*4), Y10
	VSUBPS Y10, Y8, Y8
	VBROADCASTSS (R9)(AX*4), Y10
	VMULPS Y10, Y8, Y8
	VBROADCASTSS (R10)(AX*4), Y10
	VFMADD231PS Y10, Y8, Y0
	VBROADCASTSS (R11)(AX*4), Y11
	VFMADD231PS Y11, Y8, Y1
	ADDQ BX, DI
	INCQ AX
	CMPQ AX, CX
	JCS feature

	VADDPS Y13, Y0, Y0
	VADDPS Y14, Y1, Y1
	VMOVUPS Y0, (R13)
	VMOVUPS Y1, (R14)
	ADDQ $32, R13
	ADDQ $32, R14
	ADDQ $32, SI
	DECQ DX
	JNZ group
	VZEROUPPER
	RET

// func logisticFMA(in, out *float32, n8 int, consts *[14]float32)
//
// MlasLogisticKernelFma3 (onnxruntime/core/mlas/lib/x86_64/
// LogisticKernelFma3.S), instruction for instruction, operand order
// included: it decides what NaN and -0 give.
TEXT ·logisticFMA(SB), NOSPLIT, $0-32
	MOVQ in+0(FP), DI
	MOVQ out+8(FP), SI
	MOVQ n8+16(FP), DX
	MOVQ consts+24(FP), AX
	VBROADCASTSS 0(AX), Y4   // LowerRange
	VBROADCASTSS 4(AX), Y5   // UpperRange
	VBROADCASTSS 8(AX), Y6   // alpha_9
	VBROADCASTSS 12(AX), Y7  // alpha_7
	VBROADCASTSS 16(AX), Y8  // alpha_5
	VBROADCASTSS 20(AX), Y9  // alpha_3
	VBROADCASTSS 24(AX), Y10 // alpha_1
	VBROADCASTSS 28(AX), Y11 // beta_10
	VBROADCASTSS 36(AX), Y12 // beta_6
	VBROADCASTSS 40(AX), Y13 // beta_4
	VBROADCASTSS 44(AX), Y14 // beta_2
	VBROADCASTSS 48(AX), Y15 // beta_0

loop:
	VMAXPS (DI), Y4, Y0 // vmaxps ymm0, ymm4, [rdi]
	VMOVAPS Y7, Y2
	VMINPS Y0, Y5, Y0   // vminps ymm0, ymm5, ymm0
	VMULPS Y0, Y0, Y1
	VBROADCASTSS 32(AX), Y3 // beta_8
	VFMADD231PS Y6, Y1, Y2
	VFMADD213PS Y8, Y1, Y2
	VFMADD213PS Y9, Y1, Y2
	VFMADD213PS Y10, Y1, Y2
	VFMADD231PS Y11, Y1, Y3
	VFMADD213PS Y12, Y1, Y3
	VFMADD213PS Y13, Y1, Y3
	VFMADD213PS Y14, Y1, Y3
	VFMADD213PS Y15, Y1, Y3
	VMULPS Y2, Y0, Y2
	VBROADCASTSS 52(AX), Y0 // one_half
	VDIVPS Y3, Y2, Y2
	VXORPS Y3, Y3, Y3
	VADDPS Y0, Y2, Y0
	VMAXPS Y0, Y3, Y0   // vmaxps ymm0, ymm3, ymm0
	ADDQ $32, DI
	VMOVUPS Y0, (SI)
	ADDQ $32, SI
	DECQ DX
	JNZ loop
	VZEROUPPER
	RET
