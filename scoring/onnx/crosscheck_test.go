package onnx_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/batchscore/batchscore/internal/testkit/onnxtest"
	"github.com/batchscore/batchscore/scoring"
	"github.com/batchscore/batchscore/scoring/onnx"
)

// chunksOf splits a row-major [N,F] tensor into chunks of rows rows.
func chunksOf(t scoring.Tensor, rows int) []scoring.Tensor {
	n, w := int(t.Shape[0]), int(t.Shape[1])
	var out []scoring.Tensor
	for r := 0; r < n; r += rows {
		k := min(rows, n-r)
		out = append(out, scoring.Tensor{Shape: []int64{int64(k), int64(w)}, Float32: t.Float32[r*w : (r+k)*w]})
	}
	return out
}

// TestNativeEngineChecksEveryChunk: a native engine that matches ONNX
// Runtime on the first chunks and then goes wrong on one row of chunk 3
// (a row of that chunk's sample) is caught there: chunk 3 and every chunk
// after it are ONNX Runtime's, the chunks before it stay native, and
// Engine says which chunk and row differed. With no perturbation every
// chunk stays native and every output is ONNX Runtime's to the bit.
func TestNativeEngineChecksEveryChunk(t *testing.T) {
	if err := onnx.Init(onnxtest.Lib(t)); err != nil {
		t.Fatal(err)
	}
	root := onnxtest.Root(t)
	model, binding, features := bindFile(t, "churn_gbm.onnx", "features", "probabilities", "label")
	all := sampleTensor(t, filepath.Join(root, "testdata", "customers", "snapshot_date=2026-11-20", "*.parquet"), features)
	chunks := chunksOf(all, 300)
	if len(chunks) < 5 {
		t.Fatalf("%d chunks; the test needs at least 5", len(chunks))
	}
	ref, err := model.Open(binding, onnx.KeepTrees(onnx.Options{IntraOpThreads: 1}))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	for _, perturb := range []bool{false, true} {
		t.Run(fmt.Sprintf("perturb=%v", perturb), func(t *testing.T) {
			s, err := model.Open(binding, onnx.Options{Engine: onnx.EngineAuto, IntraOpThreads: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			sample := onnx.CrossCheckSample(chunks[2])
			row := sample[len(sample)/2] // neither the first nor the last row
			var calls []int64
			onnx.PerturbNative(s, func(chunk int64, outs []scoring.Output) {
				calls = append(calls, chunk)
				if perturb && chunk == 3 {
					outs[0].Float32[2*row+1] += 1e-3
				}
			})
			for c, in := range chunks {
				want, err := ref.Run(context.Background(), []scoring.Tensor{in})
				if err != nil {
					t.Fatal(err)
				}
				got, err := s.Run(context.Background(), []scoring.Tensor{in})
				if err != nil {
					t.Fatalf("chunk %d: %v", c+1, err)
				}
				if i := sameBits(want[0].Float32, got[0].Float32); i >= 0 || !slices.Equal(want[1].Int64, got[1].Int64) {
					t.Errorf("chunk %d: probability %d is %v, ONNX Runtime's %v", c+1, i, got[0].Float32[max(i, 0)], want[0].Float32[max(i, 0)])
				}
			}
			// The native engine scored chunks 1 to 3 (3 before the check
			// caught it), then none.
			wantCalls := []int64{1, 2, 3}
			if !perturb {
				wantCalls = nil
				for c := range chunks {
					wantCalls = append(wantCalls, int64(c+1))
				}
			}
			if !slices.Equal(calls, wantCalls) {
				t.Errorf("native engine scored chunks %v, want %v", calls, wantCalls)
			}
			e := s.Engine()
			why := fmt.Sprintf("differed from ONNX Runtime's at row %d of chunk 3", row)
			switch {
			case !perturb && !strings.HasPrefix(e, "native"):
				t.Errorf("a correct engine left native: %q", e)
			case perturb && (!strings.HasPrefix(e, "onnxruntime") || !strings.Contains(e, why)):
				t.Errorf("engine %q, want ONNX Runtime and %q", e, why)
			}
		})
	}
}
