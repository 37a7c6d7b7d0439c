package trees

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// FuzzMatchesORT: a model and rows drawn from the fuzzer's two seeds
// (genSpec, genRows), scored here and by ONNX Runtime: labels,
// probabilities and raw scores equal to the bit.
//
//	go test ./scoring/trees -run '^$' -fuzz FuzzMatchesORT -fuzztime 60s
func FuzzMatchesORT(f *testing.F) {
	initORT(f)
	for i := range uint64(8) {
		f.Add(i, i*7+1, uint8(i))
	}
	f.Fuzz(func(t *testing.T, a, b uint64, shape uint8) {
		r := rand.New(rand.NewPCG(a, b))
		o := genOptions{maxDepth: int(shape%8) + 1, maxTrees: 12}
		if shape&0x80 != 0 {
			o = genOptions{maxDepth: 12, maxTrees: 3}
		}
		s := genSpec(r, o)
		rows := 1 + r.IntN(300)
		x := genRows(r, s, rows)
		if d := compareORT(t, s.model(), x, rows, s.width); !d.zero() {
			t.Fatal(d)
		}
	})
}

// FuzzLoad: any bytes give a compiled ensemble or an error wrapping
// ErrModel or ErrUnsupported, never a panic; a compiled one scores rows.
func FuzzLoad(f *testing.F) {
	f.Add(stumps().model())
	f.Add(with(func(s *spec) { s.op = Regressor; s.post = "" }))
	f.Add(with(func(s *spec) { s.asTensors = true }))
	r := rand.New(rand.NewPCG(1, 1))
	f.Add(genSpec(r, genOptions{maxDepth: 4, maxTrees: 3}).model())
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Load(data)
		if err != nil {
			if !errors.Is(err, ErrModel) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error %v wraps neither ErrModel nor ErrUnsupported", err)
			}
			return
		}
		if e.Features > 1<<10 || e.Width > 1<<10 {
			return // too wide to bother
		}
		x := make([]float32, 3*e.Features)
		for i := range x {
			x[i] = float32(i%5) - 2
		}
		x[0] = float32(math.NaN())
		score, label, prob := make([]float32, 3), make([]int64, 3), make([]float32, 6)
		if e.Width >= 0 && e.Width != e.Features {
			x = make([]float32, 3*e.Width)
		}
		w := len(x) / 3
		if e.Op == Classifier {
			err = e.Classify(x, w, score, label, prob)
		} else {
			err = e.Scores(x, w, score)
		}
		if err != nil {
			t.Fatal(err)
		}
	})
}
