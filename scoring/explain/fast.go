package explain

import "math"

// fastTree is Fast TreeSHAP v2 (Yang 2021, "Fast TreeSHAP: Accelerating
// SHAP Value Computation for Trees", arXiv:2109.09847): the leaf terms of
// path-dependent TreeSHAP precomputed per leaf for every pattern of which
// path features a row satisfies, so that a row costs O(L·D) per tree
// instead of Algorithm 2's O(L·D²).
//
// For a leaf l of value v whose path splits on the distinct features F
// (d = |F|), let z_j be the product of the cover ratios of the path's
// splits on j and A ⊆ F the features whose every split on the path the row
// satisfies. Then feature i ∈ F receives
//
//	v·(1−z_i)/z_i·R(A∖{i})   if i ∈ A,   −v·R(A)   otherwise,
//
// with R(B) = Σ_{S⊆B} |S|!(d−|S|−1)!/d! · Π_{j∈F∖S} z_j, which is
// Algorithm 2's leaf term written for o_j ∈ {0, 1} (covers are checked
// above 0, so z_j > 0). R over every B ⊆ F comes from the elementary
// symmetric polynomials of {1/z_j}, built one feature at a time.
type fastTree struct {
	slot  []int8    // a branch node's feature's place on its path
	off   []int32   // a leaf's first coefficient
	nfeat []int32   // a leaf's first feature in feats
	depth []uint8   // a leaf's d
	feats []int32   // each leaf's path features, in path order
	ratio []float64 // per leaf and place k: (1−z_k)/z_k, beside feats
	vr    []float64 // per leaf, per B ⊆ F (2^d): v·R(B)
}

// Limits of the precomputed table: past them Algorithm 2 runs instead.
const (
	maxFastDepth   = 16      // distinct features on one path
	maxFastEntries = 8 << 20 // v·R values (64 MiB)
)

// buildFast precomputes t's leaves, or returns nil past the limits.
func buildFast(t *Tree) *fastTree {
	n := len(t.leaf)
	f := &fastTree{slot: make([]int8, n), off: make([]int32, n), nfeat: make([]int32, n), depth: make([]uint8, n)}
	type frame struct {
		feats []int32
		z     []float64
	}
	ok := true
	var walk func(i int, fr frame)
	walk = func(i int, fr frame) {
		if !ok {
			return
		}
		if t.leaf[i] {
			d := len(fr.feats)
			if d > maxFastDepth || len(f.vr)+1<<d > maxFastEntries {
				ok = false
				return
			}
			f.off[i], f.nfeat[i], f.depth[i] = int32(len(f.vr)), int32(len(f.feats)), uint8(d)
			f.feats = append(f.feats, fr.feats...)
			for _, z := range fr.z {
				f.ratio = append(f.ratio, (1-z)/z)
			}
			f.vr = append(f.vr, leafR(t.val[i], fr.z)...)
			return
		}
		k := -1
		for p, ft := range fr.feats {
			if ft == t.feat[i] {
				k = p
			}
		}
		child := func(c int, ratio float64) frame {
			out := frame{feats: append([]int32(nil), fr.feats...), z: append([]float64(nil), fr.z...)}
			if k < 0 {
				out.feats = append(out.feats, t.feat[i])
				out.z = append(out.z, ratio)
			} else {
				out.z[k] *= ratio
			}
			return out
		}
		if k < 0 {
			f.slot[i] = int8(len(fr.feats))
		} else {
			f.slot[i] = int8(k)
		}
		if int(f.slot[i]) >= maxFastDepth {
			ok = false
			return
		}
		walk(int(t.tru[i]), child(int(t.tru[i]), t.zt[i]))
		walk(int(t.fal[i]), child(int(t.fal[i]), t.zf[i]))
	}
	for _, r := range t.roots {
		walk(int(r), frame{})
	}
	if !ok {
		return nil
	}
	return f
}

// leafR is v·R(B) for every B ⊆ F of one leaf (B as a bit set of the
// path places).
func leafR(v float64, z []float64) []float64 {
	d := len(z)
	if d == 0 {
		return []float64{0}
	}
	// e[B][s]: the elementary symmetric polynomial of degree s of
	// {1/z_j : j ∈ B}.
	e := make([]float64, (1<<d)*(d+1))
	e[0] = 1
	for b := 1; b < 1<<d; b++ {
		j := lowBit(b)
		prev := e[(b&^(1<<j))*(d+1):]
		cur := e[b*(d+1) : (b+1)*(d+1)]
		inv := 1 / z[j]
		cur[0] = prev[0]
		for s := 1; s <= d; s++ {
			cur[s] = prev[s] + inv*prev[s-1]
		}
	}
	all := 1.0
	for _, zj := range z {
		all *= zj
	}
	w := make([]float64, d) // |S|!(d−|S|−1)!/d!
	for s := range d {
		w[s] = math.Exp(lgamma(s+1) + lgamma(d-s) - lgamma(d+1))
	}
	r := make([]float64, 1<<d)
	for b := range r {
		sum := 0.0
		for s := range d {
			sum += w[s] * e[b*(d+1)+s]
		}
		r[b] = v * all * sum
	}
	return r
}

func lowBit(b int) int {
	k := 0
	for b&1 == 0 {
		b >>= 1
		k++
	}
	return k
}

func lgamma(n int) float64 {
	v, _ := math.Lgamma(float64(n))
	return v
}

// explainFast adds one row's contributions of every tree to phi and
// returns the margin, from the precomputed leaves.
func (t *Tree) explainFast(x []float32, s *Scratch, phi []float64) float64 {
	f := t.fast
	margin := t.offset
	stack := s.stack[:0]
	for _, r := range t.roots {
		stack = append(stack, node{int32(r), 0})
		for len(stack) > 0 {
			nd := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			i := int(nd.i)
			if t.leaf[i] {
				d := int(f.depth[i])
				if nd.miss == 0 {
					margin += t.val[i]
				}
				a := int(^nd.miss) & (1<<d - 1)
				vr := f.vr[f.off[i] : int(f.off[i])+1<<d]
				feats := f.feats[f.nfeat[i] : int(f.nfeat[i])+d]
				ratio := f.ratio[f.nfeat[i] : int(f.nfeat[i])+d]
				out := vr[a]
				for k, ft := range feats {
					if a>>k&1 == 1 {
						phi[ft] += ratio[k] * vr[a&^(1<<k)]
					} else {
						phi[ft] -= out
					}
				}
				continue
			}
			hot, cold := t.tru[i], t.fal[i]
			var yes bool // goesTrue, written out: the call is not inlined
			if t.next[i] < 0 {
				yes = t.f.GoesTrue(i, x[t.feat[i]])
			} else {
				yes = t.chainTrue(i, x)
			}
			if !yes {
				hot, cold = cold, hot
			}
			stack = append(stack, node{cold, nd.miss | 1<<f.slot[i]}, node{hot, nd.miss})
		}
	}
	s.stack = stack
	return margin
}

// node is a branch of the walk: a node and the path places the row
// does not satisfy.
type node struct {
	i    int32
	miss uint32
}
