package trees

// The evaluators. Rows are taken in blocks of 128 (ORT's batch too); within
// a block every tree is applied to every row, trees in order, so each
// row's sum adds the leaves in ORT's order, starting from +0.
//
// Complete layouts (compile.go pads each tree to the same depth d) store a
// tree's 2^d-1 splits in level order, children of split i at 2i+1 (true)
// and 2i+2 (false), and its 2^d leaves after them. A row goes down with
// i = 2i + 2 - [x CMP t], no branch on the data, d steps, then reads leaf
// i - (2^d-1). Four rows go down together, four independent chains of
// loads for the CPU to overlap (one row walking four trees at once was
// slower).
//
// The x <= t kernel first copies the block feature-major (xt[f*128 + r]),
// so eight rows share one base pointer and a split's byte offset, and
// eight chains fit the registers; it also takes every row's first split
// outside the chain, which measured faster than four row-major chains.
//
// With AVX2 (leq_amd64.s), trees of depth 1 to 4 go another way: for eight
// rows at once every split of a level is compared (one 32-byte load of
// the feature, one compare), and each row keeps the answer of the split
// it stands at; 15 compares a tree at depth 4 and no chain of dependent
// loads. Each row's sum still adds the leaves in tree order, one float32
// add per tree, so the bits are the scalar kernel's. The purego build tag
// turns it off; BENCHMARKS.md has what it earns (make bench-tricks).

import (
	"fmt"
	"math"
	"unsafe"
)

const (
	layoutLEQ  = iota // complete, every split x <= t
	layoutMask        // complete, any split (truth tables)
	layoutWalk        // node by node, any depth
)

const (
	featMask = 1<<24 - 1
	leafFlag = 1 << 31
	block    = 128
)

// cnode is a split of a complete layout: feature | truth table << 24 and
// threshold; in layoutLEQ fm is instead the feature's byte offset in the
// transposed block, feature × 4 × block.
type cnode struct {
	fm uint32
	t  float32
}

// wnode is a node of the walk layout; a leaf has leafFlag set and its
// weight in t.
type wnode struct {
	fm       uint32
	t        float32
	tru, fal int32
}

type compiled struct {
	layout, trees, depth, inner int
	feats                       int       // layoutLEQ: columns the splits read
	copies                      int       // layoutLEQ: 2 when a split tracks NaN (leqForm)
	nodes                       []cnode   // complete: trees × inner
	leaves                      []float32 // complete: trees × (inner+1)
	walk                        []wnode   // walk: every listed node
	roots                       []int32   // walk
}

func (c *compiled) describe() string {
	switch c.layout {
	case layoutLEQ:
		nan := ""
		if c.copies == 2 {
			nan = ", NaN tracked"
		}
		if hasAVX2 && c.depth >= 1 && c.depth <= 4 {
			return fmt.Sprintf("complete depth %d, x <= t%s (AVX2)", c.depth, nan)
		}
		return fmt.Sprintf("complete depth %d, x <= t%s", c.depth, nan)
	case layoutMask:
		return fmt.Sprintf("complete depth %d, truth tables", c.depth)
	}
	return "node walk"
}

// sums writes each row's leaf sum (no base value) to out.
func (c *compiled) sums(x []float32, w int, out []float32) {
	n := len(out)
	var xt []float32
	if c.layout == layoutLEQ {
		xt = make([]float32, c.copies*c.feats*block)
	}
	for r0 := 0; r0 < n; r0 += block {
		r1 := min(n, r0+block)
		acc := out[r0:r1]
		clear(acc)
		xs := x[r0*w : r1*w]
		switch c.layout {
		case layoutLEQ:
			c.blockLEQ(xs, w, acc, xt)
		case layoutMask:
			c.blockMask(xs, w, acc)
		default:
			c.blockWalk(xs, w, acc)
		}
	}
}

// feature is the input column split n reads.
func (c *compiled) feature(n cnode) int {
	if c.layout == layoutLEQ {
		return int(n.fm) / (4 * block) % c.feats
	}
	return int(n.fm & featMask)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// outcome is the truth-table bit a comparison selects: 0 x < t, 1 x == t,
// 2 x > t, 3 x NaN; a NaN threshold with x not NaN gives 0.
func outcome(x, t float32) uint32 {
	return uint32(b2i(x == t) + 2*b2i(x > t) + 3*b2i(x != x))
}

// The complete-layout kernels read nodes and features through unsafe
// pointers: bounds checks on the two loads of each step measured
// markedly slower. What keeps every access in bounds:
//
//   - nodes: i starts at 0 and each of the depth steps makes it 2i+1 or
//     2i+2, so it is below inner = 2^depth - 1 before each step and below
//     2*inner+1 after the last, when leaves[i-inner] is read (a checked
//     slice access); a tree's nodes are nodes[t*inner : t*inner+inner].
//   - features: compile rejects feature ids ≥ 2^24 and sets Features above
//     every one (pads read feature 0); Scores and Classify check that a row
//     has at least Features values and that len(x) is rows × width; rows
//     r..r+3 are below len(acc), so x[(r+3)*w + f] is inside x.
//   - the transposed block: xt holds copies × feats × block values (the
//     NaN-tracked copy after the first), every split's offset is below
//     copies × feats × 4 × block, and rows r..r+7 are below len(acc) ≤
//     block.
//
// The node walk (deep trees) keeps Go's checks.

func (c *compiled) blockLEQ(x []float32, w int, acc []float32, xt []float32) {
	inner, depth, nl := c.inner, c.depth, c.inner+1
	n := len(acc)
	if n == 0 || inner == 0 {
		c.blockShallow(acc)
		return
	}
	_ = x[n*w-1]
	c.transpose(x, w, n, xt)
	r0 := 0
	if hasAVX2 && depth <= 4 && n >= 8 {
		groups := n / 8
		leqAVX2(&xt[0], &c.nodes[0], &c.leaves[:len(c.leaves)+8][0], &acc[0], groups, c.trees, depth, inner)
		r0 = groups * 8
	}
	base := unsafe.Pointer(&xt[0])
	for t := 0; t < c.trees; t++ {
		nodes := unsafe.Pointer(&c.nodes[t*inner])
		leaves := c.leaves[t*nl : t*nl+nl]
		top, topT := uintptr(c.nodes[t*inner].fm), c.nodes[t*inner].t
		r := r0
		for ; r+8 <= n; r += 8 {
			xr := unsafe.Add(base, r*4)
			i0, i1, i2, i3, i4, i5, i6, i7 := c.descend8(nodes, xr, top, topT)
			a := acc[r : r+8 : r+8]
			a[0] += leaves[int(i0)-inner]
			a[1] += leaves[int(i1)-inner]
			a[2] += leaves[int(i2)-inner]
			a[3] += leaves[int(i3)-inner]
			a[4] += leaves[int(i4)-inner]
			a[5] += leaves[int(i5)-inner]
			a[6] += leaves[int(i6)-inner]
			a[7] += leaves[int(i7)-inner]
		}
		for ; r < n; r++ {
			xr := unsafe.Add(base, r*4)
			i := uintptr(0)
			for range depth {
				i = leq(nodes, xr, i, 0)
			}
			acc[r] += leaves[int(i)-inner]
		}
	}
}

// descend8 is the leaf positions of eight rows in one tree: xr is the
// transposed block at the first of them, top and topT the tree's first
// split.
func (c *compiled) descend8(nodes, xr unsafe.Pointer, top uintptr, topT float32) (i0, i1, i2, i3, i4, i5, i6, i7 uintptr) {
	i0, i1 = first(xr, top, topT, 0), first(xr, top, topT, 1)
	i2, i3 = first(xr, top, topT, 2), first(xr, top, topT, 3)
	i4, i5 = first(xr, top, topT, 4), first(xr, top, topT, 5)
	i6, i7 = first(xr, top, topT, 6), first(xr, top, topT, 7)
	for range c.depth - 1 {
		i0 = leq(nodes, xr, i0, 0)
		i1 = leq(nodes, xr, i1, 1)
		i2 = leq(nodes, xr, i2, 2)
		i3 = leq(nodes, xr, i3, 3)
		i4 = leq(nodes, xr, i4, 4)
		i5 = leq(nodes, xr, i5, 5)
		i6 = leq(nodes, xr, i6, 6)
		i7 = leq(nodes, xr, i7, 7)
	}
	return
}

// transpose copies n rows of x (width w) feature-major into xt, and the
// NaN-tracked copy after it (see leqForm).
func (c *compiled) transpose(x []float32, w, n int, xt []float32) {
	_ = x[n*w-1]
	_ = xt[c.copies*c.feats*block-1]
	for r := range n {
		for f, v := range x[r*w : r*w+c.feats] {
			xt[f*block+r] = v
		}
	}
	if c.copies == 2 {
		// The copy tracked splits read: NaN is -Inf, so x <= t holds.
		ninf := float32(math.Inf(-1))
		tracked := xt[c.feats*block:]
		for r := range n {
			for f, v := range x[r*w : r*w+c.feats] {
				if v != v {
					v = ninf
				}
				tracked[f*block+r] = v
			}
		}
	}
}

// first is row k's child of a tree's first split (byte offset off,
// threshold t); xr is the transposed block at the first of the rows.
func first(xr unsafe.Pointer, off uintptr, t float32, k uintptr) uintptr {
	return 2 - uintptr(b2i(*(*float32)(unsafe.Add(xr, off+4*k)) <= t))
}

// leq is row k's child of split i.
func leq(nodes, xr unsafe.Pointer, i, k uintptr) uintptr {
	nd := (*cnode)(unsafe.Add(nodes, i*8))
	return 2*i + 2 - uintptr(b2i(*(*float32)(unsafe.Add(xr, uintptr(nd.fm)+4*k)) <= nd.t))
}

// blockShallow adds trees of depth 0 (a single leaf each).
func (c *compiled) blockShallow(acc []float32) {
	for t := 0; t < c.trees; t++ {
		for r := range acc {
			acc[r] += c.leaves[t]
		}
	}
}

// step is one split of the truth-table kernel: the child of split i.
func step(nd *cnode, x unsafe.Pointer, i uintptr) uintptr {
	k := outcome(*(*float32)(unsafe.Add(x, uintptr(nd.fm&featMask)*4)), nd.t)
	return 2*i + 2 - uintptr(nd.fm>>(24+k)&1)
}

func (c *compiled) blockMask(x []float32, w int, acc []float32) {
	inner, depth, nl := c.inner, c.depth, c.inner+1
	n := len(acc)
	if n == 0 || inner == 0 {
		c.blockShallow(acc)
		return
	}
	_ = x[n*w-1]
	stride := uintptr(4 * w)
	for t := 0; t < c.trees; t++ {
		nodes := unsafe.Pointer(&c.nodes[t*inner])
		leaves := c.leaves[t*nl : t*nl+nl]
		r := 0
		for ; r+4 <= n; r += 4 {
			x0 := unsafe.Pointer(&x[r*w])
			x1 := unsafe.Add(x0, stride)
			x2 := unsafe.Add(x0, 2*stride)
			x3 := unsafe.Add(x0, 3*stride)
			var i0, i1, i2, i3 uintptr
			for range depth {
				i0 = step((*cnode)(unsafe.Add(nodes, i0*8)), x0, i0)
				i1 = step((*cnode)(unsafe.Add(nodes, i1*8)), x1, i1)
				i2 = step((*cnode)(unsafe.Add(nodes, i2*8)), x2, i2)
				i3 = step((*cnode)(unsafe.Add(nodes, i3*8)), x3, i3)
			}
			acc[r] += leaves[int(i0)-inner]
			acc[r+1] += leaves[int(i1)-inner]
			acc[r+2] += leaves[int(i2)-inner]
			acc[r+3] += leaves[int(i3)-inner]
		}
		for ; r < n; r++ {
			xr := x[r*w : r*w+w]
			i := 0
			for range depth {
				nd := c.nodes[t*inner+i]
				i = 2*i + 2 - int(nd.fm>>(24+outcome(xr[nd.fm&featMask], nd.t))&1)
			}
			acc[r] += leaves[i-inner]
		}
	}
}

func (c *compiled) blockWalk(x []float32, w int, acc []float32) {
	nodes := c.walk
	for _, root := range c.roots {
		for r := range acc {
			xr := x[r*w : r*w+w]
			i := root
			for {
				nd := &nodes[i]
				if nd.fm&leafFlag != 0 {
					acc[r] += nd.t
					break
				}
				if nd.fm>>(24+outcome(xr[nd.fm&featMask], nd.t))&1 != 0 {
					i = nd.tru
				} else {
					i = nd.fal
				}
			}
		}
	}
}

// sumsColumns is sums for several columns whose trees are the same (a
// random forest weighs every class on every leaf): each row walks each
// tree once and adds the leaf's weight of every column, leaves[k] being
// column k's leaves in c's layout; out[k] receives column k's sums. The
// additions per column are those of sums with leaves[k], in tree order.
// c's layout is layoutLEQ.
func (c *compiled) sumsColumns(x []float32, w int, leaves, out [][]float32) {
	n := len(out[0])
	xt := make([]float32, c.copies*c.feats*block)
	inner, nl := c.inner, c.inner+1
	acc := make([][]float32, len(out))
	for r0 := 0; r0 < n; r0 += block {
		r1 := min(n, r0+block)
		for k := range out {
			acc[k] = out[k][r0:r1]
			clear(acc[k])
		}
		m := r1 - r0
		if inner == 0 {
			for k := range acc {
				(&compiled{trees: c.trees, leaves: leaves[k]}).blockShallow(acc[k])
			}
			continue
		}
		c.transpose(x[r0*w:r1*w], w, m, xt)
		base := unsafe.Pointer(&xt[0])
		for t := 0; t < c.trees; t++ {
			nodes := unsafe.Pointer(&c.nodes[t*inner])
			top, topT := uintptr(c.nodes[t*inner].fm), c.nodes[t*inner].t
			r := 0
			for ; r+8 <= m; r += 8 {
				i0, i1, i2, i3, i4, i5, i6, i7 := c.descend8(nodes, unsafe.Add(base, r*4), top, topT)
				for k, lk := range leaves {
					lv := lk[t*nl : t*nl+nl]
					a := acc[k][r : r+8 : r+8]
					a[0] += lv[int(i0)-inner]
					a[1] += lv[int(i1)-inner]
					a[2] += lv[int(i2)-inner]
					a[3] += lv[int(i3)-inner]
					a[4] += lv[int(i4)-inner]
					a[5] += lv[int(i5)-inner]
					a[6] += lv[int(i6)-inner]
					a[7] += lv[int(i7)-inner]
				}
			}
			for ; r < m; r++ {
				xr := unsafe.Add(base, r*4)
				i := uintptr(0)
				for range c.depth {
					i = leq(nodes, xr, i, 0)
				}
				for k, lk := range leaves {
					acc[k][r] += lk[t*nl+int(i)-inner]
				}
			}
		}
	}
}
