package onnx

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/batchscore/batchscore/scoring"
	"github.com/batchscore/batchscore/scoring/linear"
)

// The linear engine reads feature-major chunks: its check picks the
// sampled rows out of them, and a wrong row of chunk 3 switches the run to
// ONNX Runtime from that chunk on.
func TestNativeLinearChecksEveryChunk(t *testing.T) {
	if !linear.CPUSupported() {
		t.Skip("no AVX2 and FMA: the linear engine declines every model here")
	}
	model, b, _ := logregBinding(t)
	ref, err := model.Open(b, Options{Engine: EngineONNXRuntime, IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	for _, perturb := range []bool{false, true} {
		s, err := model.Open(b, Options{Engine: EngineAuto, IntraOpThreads: 1})
		if err != nil {
			t.Fatal(err)
		}
		if s.native == nil {
			t.Fatalf("engine %q, want native", s.Engine())
		}
		const rows, width = 301, 30
		row := -1
		s.native.perturb = func(chunk int64, outs []scoring.Output) {
			if perturb && chunk == 3 {
				outs[0].Float32[2*row+1] += 1e-3
			}
		}
		for c := range 5 {
			x := s.native.e.probe(rows, width, uint64(c))
			cols := make([]float32, len(x))
			for i := range rows {
				for k := range width {
					cols[k*rows+i] = x[i*width+k]
				}
			}
			in := scoring.Tensor{Shape: []int64{rows, width}, ColumnMajor: true, Float32: cols}
			if c == 2 {
				sample := sampleRows(in, crossCheckRows)
				row = sample[len(sample)/2]
			}
			want, err := ref.Run(context.Background(), []scoring.Tensor{{Shape: in.Shape, Float32: x}})
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Run(context.Background(), []scoring.Tensor{in})
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range want[0].Float32 {
				if g := got[0].Float32[i]; math.Float32bits(w) != math.Float32bits(g) && !(w != w && g != g) {
					t.Fatalf("perturb %v, chunk %d, value %d: %v, ONNX Runtime %v", perturb, c+1, i, g, w)
				}
			}
		}
		e := s.Engine()
		why := fmt.Sprintf("differed from ONNX Runtime's at row %d of chunk 3", row)
		switch {
		case !perturb && !strings.HasPrefix(e, "native"):
			t.Errorf("a correct engine left native: %q", e)
		case perturb && (!strings.HasPrefix(e, "onnxruntime") || !strings.Contains(e, why)):
			t.Errorf("engine %q, want ONNX Runtime and %q", e, why)
		}
		s.Close()
	}
}
