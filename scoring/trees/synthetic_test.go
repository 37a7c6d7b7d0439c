package trees

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestGeneratedModelsMatchORT: random models (genSpec) on random corner
// rows (genRows), each compared with ONNX Runtime to the bit. Shallow
// models compile to complete layouts (both kernels), deep ones to the
// node walk.
func TestGeneratedModelsMatchORT(t *testing.T) {
	initORT(t)
	models := 400
	if testing.Short() {
		models = 60
	}
	layouts := map[string]int{}
	var total diff
	for seed := range models {
		r := rand.New(rand.NewPCG(uint64(seed), 7))
		o := genOptions{maxDepth: 6, maxTrees: 12}
		if seed%5 == 4 {
			o = genOptions{maxDepth: 13, maxTrees: 4}
		}
		s := genSpec(r, o)
		rows := 1 + r.IntN(600) // some calls of ≤ 50 rows (ORT's one-row and small paths too)
		x := genRows(r, s, rows)
		model := s.model()
		e, err := Load(model)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		kernel := strings.SplitN(e.Layout, ",", 2)
		layouts[strings.TrimSuffix(kernel[len(kernel)-1], " (AVX2)")]++
		d := compareORT(t, model, x, rows, s.width)
		if !d.zero() {
			t.Errorf("seed %d (%v): %v", seed, e, d)
		}
		total.rows += d.rows
		total.labels += d.labels
		total.probs += d.probs
		total.scores += d.scores
		total.positives += d.positives
		total.maxULP = max(total.maxULP, d.maxULP)
	}
	t.Logf("%d models: %v; layouts %v", models, total, layouts)
	for _, l := range []string{" x <= t", " truth tables", "node walk"} {
		if layouts[l] == 0 {
			t.Errorf("no model compiled to %q (%v)", l, layouts)
		}
	}
}

// TestModesOnCorners: one stump per mode, with and without missing-value
// tracking, and with a NaN threshold, on a feature just below, on, and
// just above the threshold, and on NaN, ±0, ±Inf and extremes.
func TestModesOnCorners(t *testing.T) {
	initORT(t)
	nan := float32(math.NaN())
	for _, mode := range branchModes {
		for _, tracks := range []bool{false, true} {
			for _, thr := range []float32{0.5, 0, float32(math.Inf(1)), nan} {
				s := spec{op: Classifier, labels: []int64{3, 7}, post: "LOGISTIC", base: []float32{0.25}, width: 2,
					trees: []ttree{{id: 0, nodes: []tnode{
						{id: 0, mode: mode, feat: 1, thr: thr, tru: 1, fal: 2, tracks: tracks},
						{id: 1, mode: "LEAF", weight: -0.75},
						{id: 2, mode: "LEAF", weight: 0.5},
					}}}}
				var x []float32
				for _, v := range []float32{math.Nextafter32(thr, -1), thr, math.Nextafter32(thr, 1), nan, 0,
					float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), math.MaxFloat32,
					-math.MaxFloat32, math.SmallestNonzeroFloat32, 1e30} {
					x = append(x, 9, v)
				}
				if d := compareORT(t, s.model(), x, len(x)/2, 2); !d.zero() {
					t.Errorf("%s tracks=%v threshold %v: %v", mode, tracks, thr, d)
				}
			}
		}
	}
}

// TestChurnCornerRowsMatchORT: real rows of the sample with features
// replaced by the model's own thresholds, the floats beside them, NaN,
// ±Inf, ±0, subnormals and huge values.
func TestChurnCornerRowsMatchORT(t *testing.T) {
	initORT(t)
	model := readModel(t, "churn_gbm.onnx")
	e, err := Load(model)
	if err != nil {
		t.Fatal(err)
	}
	base, rows := customers(t)
	// The thresholds each feature is split on.
	byFeature := map[int][]float32{}
	for _, n := range e.c.nodes {
		byFeature[e.c.feature(n)] = append(byFeature[e.c.feature(n)], n.t)
	}
	r := rand.New(rand.NewPCG(1, 2))
	const n = 20000
	x := make([]float32, 0, n*30)
	for i := range n {
		row := append([]float32(nil), base[(i%rows)*30:(i%rows+1)*30]...)
		for range 1 + r.IntN(8) {
			j := r.IntN(30)
			if th := byFeature[j]; len(th) > 0 && r.IntN(3) > 0 {
				v := pick(r, th)
				switch r.IntN(3) {
				case 1:
					v = math.Nextafter32(v, float32(math.Inf(-1)))
				case 2:
					v = math.Nextafter32(v, float32(math.Inf(1)))
				}
				row[j] = v
			} else {
				row[j] = pick(r, specialValues)
			}
		}
		x = append(x, row...)
	}
	d := compareORT(t, model, x, n, 30)
	t.Log(d)
	if !d.zero() {
		t.Error(d)
	}
}

// TestWideModelsMatchORT: x <= t models whose splits read columns past
// maxLEQFeatures compile to the truth-table kernel instead of the
// transposed one, and still match ONNX Runtime.
func TestWideModelsMatchORT(t *testing.T) {
	initORT(t)
	wide := 0
	for seed := range 20 {
		r := rand.New(rand.NewPCG(uint64(seed), 13))
		var s spec
		for s.width == 0 || len(s.trees) == 0 {
			s = genSpec(r, genOptions{maxDepth: 4, maxTrees: 6})
		}
		narrow := s.width
		s.width = maxLEQFeatures + narrow
		for _, tr := range s.trees {
			for i := range tr.nodes {
				n := &tr.nodes[i]
				if n.mode == "LEAF" {
					continue
				}
				n.mode, n.tracks = "BRANCH_LEQ", false
				if n.feat == 0 {
					n.feat = maxLEQFeatures // the wide column
				}
			}
		}
		rows := 1 + r.IntN(300)
		x := genRows(r, s, rows)
		model := s.model()
		e, err := Load(model)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if e.c.layout == layoutLEQ && e.c.feats > maxLEQFeatures {
			t.Fatalf("seed %d: splits on %d columns compiled to the transposed kernel", seed, e.c.feats)
		}
		wide += b2i(e.c.layout == layoutMask)
		if d := compareORT(t, model, x, rows, s.width); !d.zero() {
			t.Errorf("seed %d (%v): %v", seed, e, d)
		}
	}
	if wide == 0 {
		t.Error("no model compiled to the truth-table kernel")
	}
}

// TestGeneralModelsMatchORT: random models of the general forms
// (genGeneral: multi-class, class-1-only binary, multi-target, MIN, MAX,
// SOFTMAX, SOFTMAX_ZERO, base values) on corner rows, each compared with
// ONNX Runtime to the bit: labels and every output column.
func TestGeneralModelsMatchORT(t *testing.T) {
	initORT(t)
	models := 400
	if testing.Short() {
		models = 60
	}
	kinds := map[string]int{}
	var total diff
	for seed := range models {
		r := rand.New(rand.NewPCG(uint64(seed), 21))
		o := genOptions{maxDepth: 6, maxTrees: 12}
		if seed%5 == 4 {
			o = genOptions{maxDepth: 13, maxTrees: 4}
		}
		s := genGeneral(r, o)
		rows := 1 + r.IntN(400)
		x := genRows(r, s, rows)
		model := s.model()
		e, err := Load(model)
		if err != nil {
			kinds["refused"]++
			t.Logf("seed %d: %v", seed, err)
			continue
		}
		kinds[fmt.Sprintf("%s %s %s", e.Op, e.Aggregate, e.PostTransform)]++
		d := compareORT(t, model, x, rows, s.width)
		if !d.zero() {
			t.Errorf("seed %d (%v): %v", seed, e, d)
		}
		total.rows += d.rows
		total.labels += d.labels
		total.probs += d.probs
		total.scores += d.scores
		total.maxULP = max(total.maxULP, d.maxULP)
	}
	t.Logf("%d models: %v; kinds %v", models, total, kinds)
	if kinds["refused"] > models/10 {
		t.Errorf("%d of %d generated models refused", kinds["refused"], models)
	}
}
