package onnx

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/internal/testkit/onnxtest"
	"github.com/batchscore/batchscore/scoring"
	"github.com/batchscore/batchscore/scoring/linear"
)

// logregBinding binds churn_logreg.onnx the way a job binds a DataFrame
// model: one column per input; features are the model's, in its order.
func logregBinding(t testing.TB) (model *Model, b *scoring.Binding, features []string) {
	t.Helper()
	if err := Init(onnxtest.Lib(t)); err != nil {
		t.Fatal(err)
	}
	model, err := Load(filepath.Join(onnxtest.Root(t), "testdata", "models", "churn_logreg.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	sig, md, err := model.Inspect()
	if err != nil {
		t.Fatal(err)
	}
	features = strings.Split(md.Custom["features"], ",")
	inputs := map[string][]string{}
	for _, f := range features {
		inputs[f] = []string{f}
	}
	b, err = scoring.Bind(sig, scoring.Wiring{Inputs: inputs,
		Score: scoring.OutputRef{Output: "probabilities", Class: ptr(1)}, Label: &scoring.OutputRef{Output: "label"}})
	if err != nil {
		t.Fatal(err)
	}
	return model, b, features
}

// The logistic model through the native linear engine: feature-major
// tensors, and the bits ONNX Runtime gives, through the Concat rewrite
// and without it, on chunks of every length mod 8 and rows of extremes
// (integers a float cannot hold, NaN, infinities, -0).
func TestNativeLinearScoresTheSame(t *testing.T) {
	if !linear.CPUSupported() {
		t.Skip("no AVX2 and FMA: the linear engine declines every model here (scoring/linear TestNewRefuses)")
	}
	model, b, _ := logregBinding(t)
	native, err := model.Open(b, Options{Engine: EngineNative, IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer native.Close()
	if e := native.Engine(); !strings.HasPrefix(e, "native (batchscore's Go linear evaluator): Scaler + binary LinearClassifier, 30 features, LOGISTIC") {
		t.Fatalf("engine %q", e)
	}
	if f := native.Feed(); len(f.Inputs) != 1 || !f.Inputs[0].ColumnMajor || b.Inputs[0].ColumnMajor {
		t.Fatalf("native feed %+v (job binding %+v): want the one input feature-major", f.Inputs, b.Inputs[0])
	}
	refs := map[string]Options{
		"ONNX Runtime, Concat rewritten": {Engine: EngineONNXRuntime, IntraOpThreads: 1},
		"ONNX Runtime, model as it is":   {Engine: EngineONNXRuntime, IntraOpThreads: 1, keepConcat: true},
	}
	for _, rows := range []int{5003, 4096, 1, 7, 9} {
		rec := concatTestRecord(b, rows)
		chunk := scoring.Chunk{Record: rec, File: "test"}
		got, err := (&scoring.Scorer{Session: native, Binding: native.Feed(), Mem: memory.DefaultAllocator, AllowNaN: true}).ScoreChunk(context.Background(), chunk, &scoring.Buffers{})
		if err != nil {
			t.Fatal(err)
		}
		for name, opts := range refs {
			ref, err := model.Open(b, opts)
			if err != nil {
				t.Fatal(err)
			}
			want, err := (&scoring.Scorer{Session: ref, Binding: ref.Feed(), Mem: memory.DefaultAllocator, AllowNaN: true}).ScoreChunk(context.Background(), chunk, &scoring.Buffers{})
			ref.Close()
			if err != nil {
				t.Fatal(err)
			}
			differ, nans := 0, 0
			for i, w := range want.Score.Float64Values() {
				g := got.Score.Value(i)
				if math.IsNaN(w) {
					nans++
				}
				if math.Float64bits(w) != math.Float64bits(g) && !(math.IsNaN(w) && math.IsNaN(g)) ||
					want.Label.(*array.Int64).Value(i) != got.Label.(*array.Int64).Value(i) {
					differ++
				}
			}
			if differ > 0 {
				t.Errorf("%d rows, against %s: %d differ", rows, name, differ)
			}
			if rows == 5003 && nans == 0 {
				t.Errorf("no NaN score among the extremes: the test lost its hard rows")
			}
		}
		rec.Release()
	}
}

// A native linear engine whose outputs were wrong is caught on the first
// chunk, and its feature-major chunks then reach ONNX Runtime row-major.
func TestNativeLinearChecksFirstChunk(t *testing.T) {
	if !linear.CPUSupported() {
		t.Skip("no AVX2 and FMA: the linear engine declines every model here")
	}
	model, b, _ := logregBinding(t)
	rec := concatTestRecord(b, 300)
	defer rec.Release()
	chunk := scoring.Chunk{Record: rec, File: "test"}
	ref, err := model.Open(b, Options{Engine: EngineONNXRuntime, IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	want, err := (&scoring.Scorer{Session: ref, Binding: ref.Feed(), Mem: memory.DefaultAllocator, AllowNaN: true}).ScoreChunk(context.Background(), chunk, &scoring.Buffers{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := model.Open(b, Options{Engine: EngineAuto, IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.native.skew = 1e-3
	scorer := &scoring.Scorer{Session: s, Binding: s.Feed(), Mem: memory.DefaultAllocator, AllowNaN: true}
	for range 2 { // the check, then a chunk after it
		got, err := scorer.ScoreChunk(context.Background(), chunk, &scoring.Buffers{})
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range want.Score.Float64Values() {
			if g := got.Score.Value(i); math.Float64bits(w) != math.Float64bits(g) && !(math.IsNaN(w) && math.IsNaN(g)) {
				t.Fatalf("row %d: %g, ONNX Runtime %g", i, g, w)
			}
		}
	}
	if e := s.Engine(); !strings.HasPrefix(e, "onnxruntime") || !strings.Contains(e, "differed from ONNX Runtime's on the first chunk") {
		t.Errorf("skewed engine: %q", e)
	}
}

// FuzzLoadLinear: any bytes give a linear model, errNoLinear, or an error
// wrapping ErrModel or linear.ErrUnsupported, never a panic; a model it
// gives scores rows of its width. The corpus holds churn_logreg.onnx after
// the Concat rewrite (testdata/fuzz); the seed is the file as it is.
func FuzzLoadLinear(f *testing.F) {
	if data, err := os.ReadFile(filepath.Join(onnxtest.Root(f), "testdata", "models", "churn_logreg.onnx")); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := loadLinear(data)
		if err != nil {
			if !errors.Is(err, errNoLinear) && !errors.Is(err, ErrModel) && !errors.Is(err, linear.ErrUnsupported) {
				t.Fatalf("error %v wraps none of errNoLinear, ErrModel, linear.ErrUnsupported", err)
			}
			return
		}
		w, rows := m.c.Features, 9
		if err := m.classify(m.probe(rows, w, 1), w, make([]int64, rows), nil); err != nil {
			t.Fatal(err)
		}
	})
}
