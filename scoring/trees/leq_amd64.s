//go:build amd64 && !purego

#include "textflag.h"

// func leqAVX2(xt *float32, nodes *cnode, leaves *float32, acc *float32, groups, trees, depth, inner int)
//
// The x <= t kernel for complete trees of depth 1 to 4, eight rows at a
// time: every split of a level is compared for the eight rows at once (the
// block is feature-major, so a split's feature is one 32-byte load), and
// each row keeps the answer of the split it stands at. See eval.go.
TEXT ·leqAVX2(SB), NOSPLIT, $0-64
	MOVQ xt+0(FP), SI
	MOVQ nodes+8(FP), DI
	MOVQ leaves+16(FP), BX
	MOVQ acc+24(FP), DX
	MOVQ trees+40(FP), R9
	MOVQ depth+48(FP), R10
	MOVQ inner+56(FP), AX
	VMOVQ AX, X11
	VPBROADCASTD X11, Y11 // inner, in every lane
	MOVQ $1, AX
	VMOVQ AX, X9
	VPBROADCASTD X9, Y9   // 1
	VPADDD Y9, Y9, Y10    // 2

tree:
	MOVQ groups+32(FP), R8
	MOVQ SI, R11

group:
	VPXOR Y0, Y0, Y0 // each row's split index
	VPXOR Y8, Y8, Y8 // the split compared now, as an index
	MOVQ DI, R12
	LEAQ 8(DI), CX   // end of the level's splits
	MOVQ R10, R13

level:
	VPXOR Y1, Y1, Y1 // all ones where a row's split holds

split:
	MOVL (R12), AX                   // feature's byte offset in the block
	VBROADCASTSS 4(R12), Y2          // threshold
	VCMPPS $13, (R11)(AX*1), Y2, Y3  // t >= x, false on NaN: x <= t
	VPCMPEQD Y8, Y0, Y4              // rows standing at this split
	VPAND Y4, Y3, Y3
	VPOR Y3, Y1, Y1
	VPADDD Y9, Y8, Y8
	ADDQ $8, R12
	CMPQ R12, CX
	JCS split

	// i = 2i + 2 - [x <= t]; Y1 is -1 where it holds.
	VPADDD Y0, Y0, Y0
	VPADDD Y10, Y0, Y0
	VPADDD Y1, Y0, Y0
	MOVQ CX, AX
	SUBQ DI, AX
	LEAQ 8(DI)(AX*2), CX
	DECQ R13
	JNZ level

	// Leaf i - inner: eight leaves per permute, bit 3 picks the half.
	VPSUBD Y11, Y0, Y0
	VPERMPS (BX), Y0, Y5
	CMPQ R10, $4
	JNE add
	VPERMPS 32(BX), Y0, Y6
	VPSLLD $28, Y0, Y7
	VBLENDVPS Y7, Y6, Y5, Y5

add:
	MOVQ R11, AX
	SUBQ SI, AX
	VADDPS (DX)(AX*1), Y5, Y5
	VMOVUPS Y5, (DX)(AX*1)
	ADDQ $32, R11
	DECQ R8
	JNZ group

	MOVQ inner+56(FP), AX
	LEAQ (DI)(AX*8), DI
	INCQ AX
	LEAQ (BX)(AX*4), BX
	DECQ R9
	JNZ tree

	VZEROUPPER
	RET
