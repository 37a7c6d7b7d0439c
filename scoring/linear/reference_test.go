package linear

import (
	"math"
	"math/rand/v2"
	"testing"
)

// refScores is the arithmetic the kernel claims, written out in Go.
func refScores(c *Classifier, x []float32) (s0, s1 []float32) {
	f := c.Features
	n := len(x) / f
	s0, s1 = make([]float32, n), make([]float32, n)
	for i := range n {
		var a0, a1 float32
		for k := range f {
			v := (x[i*f+k] - c.off[k]) * c.scale[k]
			a0 = fma32(v, c.w0[k], a0)
			a1 = fma32(v, c.w1[k], a1)
		}
		s0[i], s1[i] = a0+c.b[0], a1+c.b[1]
	}
	return s0, s1
}

func refLogistic(x float32) float32 {
	k := logisticConsts
	v := minps(k[1], maxps(k[0], x))
	v2 := v * v
	p := fma32(v2, k[2], k[3])
	p = fma32(v2, p, k[4])
	p = fma32(v2, p, k[5])
	p = fma32(v2, p, k[6])
	q := fma32(v2, k[7], k[8])
	q = fma32(v2, q, k[9])
	q = fma32(v2, q, k[10])
	q = fma32(v2, q, k[11])
	q = fma32(v2, q, k[12])
	p = v * p
	return maxps(0, p/q+k[13])
}

func sameBits(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || a != a && b != b
}

func TestFMA32(t *testing.T) {
	// 1 + 2^-24 is a tie in float32 only after the product is rounded:
	// one rounding keeps the 2^-47 term and rounds up.
	a := float32(1 + 1.0/(1<<12))
	b := float32(1 + 1.0/(1<<12))
	got := fma32(a, b, -1)
	want := float32(2.0/(1<<12) + 1.0/(1<<24))
	if got != want {
		t.Fatalf("fma32 = %g, want %g", got, want)
	}
	// Double rounding trap: (1+2^-12)^2 + 2^-60 is just above the float32
	// midpoint 1 + 2^-11 + 2^-24, and rounds to it in float64.
	x := fma32(a, b, 0x1p-60)
	if x != 1+0x1p-11+0x1p-23 {
		t.Fatalf("fma32 rounded twice: %g", x)
	}
}

func testClassifier(t testing.TB, f int, r *rand.Rand, scaled bool) *Classifier {
	p := Params{Labels: []int64{0, 1}, PostTransform: "LOGISTIC"}
	for range 2 * f {
		p.Coefficients = append(p.Coefficients, float32(r.NormFloat64()*math.Pow(2, float64(r.IntN(8)-4))))
	}
	p.Intercepts = []float32{float32(r.NormFloat64()), float32(r.NormFloat64())}
	if scaled {
		for range f {
			p.Offset = append(p.Offset, float32(r.NormFloat64()*100))
			p.Scale = append(p.Scale, float32(1/(0.01+r.ExpFloat64()*10)))
		}
	}
	c, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestKernelsMatchTheirArithmetic(t *testing.T) {
	if !hasFMA {
		t.Skip("no AVX2 and FMA: the package refuses every model here (TestNewRefuses)")
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, f := range []int{1, 2, 7, 30, 128} {
		for _, rows := range []int{1, 7, 8, 9, 300} {
			c := testClassifier(t, f, r, f != 7)
			x := c.Probe(rows, f, uint64(f*1000+rows))
			s0, s1 := make([]float32, rows), make([]float32, rows)
			cols := make([]float32, len(x))
			for i := range rows {
				for k := range f {
					cols[k*rows+i] = x[i*f+k]
				}
			}
			c.scores(cols, rows, s0, s1)
			w0, w1 := refScores(c, x)
			for i := range rows {
				if !sameBits(s0[i], w0[i]) || !sameBits(s1[i], w1[i]) {
					t.Fatalf("f=%d rows=%d row %d: kernel %g %g, reference %g %g", f, rows, i, s0[i], s1[i], w0[i], w1[i])
				}
			}
		}
	}
}

func TestLogisticMatchesItsArithmetic(t *testing.T) {
	if !hasFMA {
		t.Skip("no AVX2 and FMA")
	}
	r := rand.New(rand.NewPCG(3, 4))
	var v []float32
	v = append(v, probeSpecials...)
	v = append(v, -18, 18, math.Nextafter32(-18, 0), math.Nextafter32(18, 0), 1e-30, -1e-30)
	for range 200_000 {
		v = append(v, float32(r.NormFloat64()*math.Pow(2, float64(r.IntN(12)-4))))
	}
	for i := 0; i < 1<<20; i++ { // a sweep over [-20, 20]
		v = append(v, -20+40*float32(i)/(1<<20))
	}
	got := append([]float32(nil), v...)
	logistic(got)
	for i, x := range v {
		if want := refLogistic(x); !sameBits(got[i], want) {
			t.Fatalf("logistic(%g) = %g (%#x), reference %g (%#x)", x, got[i], math.Float32bits(got[i]), want, math.Float32bits(want))
		}
		// The FMA3 kernel clamps at 0 only: near 18 it gives 1.0000001.
		if x == x && got[i] < 0 {
			t.Fatalf("logistic(%g) = %g, below 0", x, got[i])
		}
	}
}

func TestClassifyLabelsAndLayout(t *testing.T) {
	if !hasFMA {
		t.Skip("no AVX2 and FMA")
	}
	c, err := New(Params{Coefficients: []float32{-1, -2, 1, 2}, Intercepts: []float32{0.5, -0.5},
		Labels: []int64{7, 9}, PostTransform: "NONE"})
	if err != nil {
		t.Fatal(err)
	}
	x := []float32{1, 0, 0, 0, 0.5, 0, float32(math.NaN()), 1}
	label, prob := make([]int64, 4), make([]float32, 8)
	if err := c.Classify(x, 2, label, prob); err != nil {
		t.Fatal(err)
	}
	// Row 0: scores -0.5, 0.5; row 1: 0.5, -0.5; row 2: equal (0): the first
	// class; row 3: NaN, NaN: a NaN never wins.
	wantLabel := []int64{9, 7, 7, 7}
	wantProb := []float32{-0.5, 0.5, 0.5, -0.5, 0, 0, float32(math.NaN()), float32(math.NaN())}
	for i := range label {
		if label[i] != wantLabel[i] {
			t.Errorf("row %d: label %d, want %d", i, label[i], wantLabel[i])
		}
	}
	for i := range prob {
		if !sameBits(prob[i], wantProb[i]) {
			t.Errorf("prob[%d] = %g, want %g", i, prob[i], wantProb[i])
		}
	}
	if err := c.Classify(x, 3, label, prob); err == nil {
		t.Error("width 3 for 2 features: no error")
	}
}

func TestNewRefuses(t *testing.T) {
	ok := Params{Coefficients: []float32{1, 2, 3, 4}, Intercepts: []float32{0, 0}, Labels: []int64{0, 1}, PostTransform: "LOGISTIC"}
	if !hasFMA {
		if _, err := New(ok); err == nil {
			t.Fatal("no AVX2 and FMA, yet New compiled a model")
		}
		return
	}
	if _, err := New(ok); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*Params){
		"one intercept":   func(p *Params) { p.Intercepts = p.Intercepts[:1] },
		"three labels":    func(p *Params) { p.Labels = []int64{0, 1, 2} },
		"softmax":         func(p *Params) { p.PostTransform = "SOFTMAX" },
		"multi_class":     func(p *Params) { p.MultiClass = 1 },
		"odd":             func(p *Params) { p.Coefficients = p.Coefficients[:3] },
		"129 features":    func(p *Params) { p.Coefficients = make([]float32, 258) },
		"scaler mismatch": func(p *Params) { p.Offset, p.Scale = []float32{1, 2}, []float32{1} },
	} {
		p := ok
		edit(&p)
		if _, err := New(p); err == nil {
			t.Errorf("%s: compiled", name)
		}
	}
}
