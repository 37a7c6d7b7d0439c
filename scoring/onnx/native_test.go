package onnx_test

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/batchscore/batchscore/internal/testkit/onnxtest"
	"github.com/batchscore/batchscore/scoring"
	"github.com/batchscore/batchscore/scoring/onnx"
)

// bindFile binds a committed model's features (from its metadata) to input
// and reads score (class 1) and label.
func bindFile(t *testing.T, name, input, score, label string) (*onnx.Model, *scoring.Binding, []string) {
	t.Helper()
	model, err := onnx.Load(filepath.Join(onnxtest.Root(t), "testdata", "models", name))
	if err != nil {
		t.Fatal(err)
	}
	sig, md, err := model.Inspect()
	if err != nil {
		t.Fatal(err)
	}
	features := strings.Split(md.Custom["features"], ",")
	m := scoring.Wiring{Inputs: map[string][]string{input: features}, Score: scoring.OutputRef{Output: score, Class: class(1)}}
	if label != "" {
		m.Label = &scoring.OutputRef{Output: label}
	}
	binding, err := scoring.Bind(sig, m)
	if err != nil {
		t.Fatal(err)
	}
	return model, binding, features
}

// sameBits reports the first value where two float32 slices differ in any
// bit (NaN equals NaN), or -1.
func sameBits(a, b []float32) int {
	if len(a) != len(b) {
		return 0
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) && !(a[i] != a[i] && b[i] != b[i]) {
			return i
		}
	}
	return -1
}

// TestNativeEngineMatchesORT scores the 6,000 sample rows with the GBM
// models through the native engine and through ONNX Runtime running the
// file as it is: every probability bit and every label must agree.
func TestNativeEngineMatchesORT(t *testing.T) {
	if err := onnx.Init(onnxtest.Lib(t)); err != nil {
		t.Fatal(err)
	}
	root := onnxtest.Root(t)
	cases := []struct{ model, input, score, label string }{
		{"churn_gbm.onnx", "features", "probabilities", "label"},
		{"churn_gbm_zipmap.onnx", "float_input", "output_probability", "output_label"},
	}
	for _, tc := range cases {
		t.Run(tc.model, func(t *testing.T) {
			model, binding, features := bindFile(t, tc.model, tc.input, tc.score, tc.label)
			ref, err := model.Open(binding, onnx.KeepTrees(onnx.Options{IntraOpThreads: 1}))
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			native, err := model.Open(binding, onnx.Options{Engine: onnx.EngineAuto, IntraOpThreads: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer native.Close()
			if e := native.Engine(); !strings.HasPrefix(e, "native") || !strings.Contains(e, "200 trees") {
				t.Errorf("engine %q, want the native engine on 200 trees", e)
			}
			if e := ref.Engine(); !strings.HasPrefix(e, "onnxruntime "+onnx.Version()) {
				t.Errorf("reference engine %q", e)
			}
			for _, date := range []string{"2026-11-18", "2026-11-19", "2026-11-20"} {
				in := []scoring.Tensor{sampleTensor(t, filepath.Join(root, "testdata", "customers", "snapshot_date="+date, "*.parquet"), features)}
				want, err := ref.Run(context.Background(), in)
				if err != nil {
					t.Fatal(err)
				}
				got, err := native.Run(context.Background(), in)
				if err != nil {
					t.Fatal(err)
				}
				if len(got[0].Float32) != 2*int(in[0].Shape[0]) {
					t.Fatalf("%s: %d probabilities for %d rows", date, len(got[0].Float32), in[0].Shape[0])
				}
				if i := sameBits(want[0].Float32, got[0].Float32); i >= 0 {
					t.Errorf("%s: probability %d: ONNX Runtime %v, native %v", date, i, want[0].Float32[i], got[0].Float32[i])
				}
				if !slices.Equal(want[1].Int64, got[1].Int64) {
					t.Errorf("%s: labels differ", date)
				}
				if !slices.Equal(want[0].ClassKeys, got[0].ClassKeys) {
					t.Errorf("%s: class keys %v, native %v", date, want[0].ClassKeys, got[0].ClassKeys)
				}
			}
		})
	}
}

// TestNativeEngineHandMade: labels 3 and 7, NaN tracked in one tree, the
// score read without a label, and the engine settings.
func TestNativeEngineHandMade(t *testing.T) {
	if err := onnx.Init(onnxtest.Lib(t)); err != nil {
		t.Fatal(err)
	}
	model := onnx.ModelFromBytes(binaryTree().model())
	b := treeBinding(t, model, "probabilities", "label")
	nan := float32(math.NaN())
	in := []scoring.Tensor{{Shape: []int64{5, 2}, Float32: []float32{0, 0, 0.5, 0.25, 0.6, 1, nan, nan, 0.6, 0}}}
	ref, err := model.Open(b, onnx.KeepTrees(onnx.Options{IntraOpThreads: 1}))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	for _, engine := range []string{onnx.EngineAuto, onnx.EngineNative} {
		s, err := model.Open(b, onnx.Options{Engine: engine, IntraOpThreads: 0})
		if err != nil {
			t.Fatalf("%s: %v", engine, err)
		}
		if !strings.HasPrefix(s.Engine(), "native") {
			t.Errorf("%s: engine %q", engine, s.Engine())
		}
		want, _ := ref.Run(context.Background(), in)
		got, err := s.Run(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		if i := sameBits(want[0].Float32, got[0].Float32); i >= 0 || !slices.Equal(want[1].Int64, got[1].Int64) {
			t.Errorf("%s: got %v %v, ONNX Runtime %v %v", engine, got[0].Float32, got[1].Int64, want[0].Float32, want[1].Int64)
		}
		if !slices.Contains(got[1].Int64, 3) || !slices.Contains(got[1].Int64, 7) {
			t.Errorf("labels %v: want both 3 and 7", got[1].Int64)
		}
		s.Close()
	}
	s, err := model.Open(b, onnx.Options{Engine: onnx.EngineONNXRuntime})
	if err != nil {
		t.Fatal(err)
	}
	if e := s.Engine(); !strings.HasPrefix(e, "onnxruntime") || strings.Contains(e, "declined") {
		t.Errorf("engine onnxruntime: %q", e)
	}
	s.Close()

	// The score alone, no label bound; and a chunk of no rows.
	scoreOnly := treeBinding(t, model, "probabilities", "")
	s, err = model.Open(scoreOnly, onnx.Options{Engine: onnx.EngineNative})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want, _ := ref.Run(context.Background(), in)
	got, err := s.Run(context.Background(), in)
	if err != nil || len(got) != 1 || sameBits(want[0].Float32, got[0].Float32) >= 0 {
		t.Errorf("score only: %v %v, ONNX Runtime %v", got, err, want[0].Float32)
	}
	got, err = s.Run(context.Background(), []scoring.Tensor{{Shape: []int64{0, 2}}})
	if err != nil || len(got) != 1 || len(got[0].Float32) != 0 {
		t.Errorf("no rows: %v %v", got, err)
	}
}

func treeBinding(t *testing.T, model *onnx.Model, score, label string) *scoring.Binding {
	t.Helper()
	sig, _, err := model.Inspect()
	if err != nil {
		t.Fatal(err)
	}
	m := scoring.Wiring{Inputs: map[string][]string{"X": {"a", "b"}}, Score: scoring.OutputRef{Output: score, Class: class(1)}}
	if label != "" {
		m.Label = &scoring.OutputRef{Output: label}
	}
	b, err := scoring.Bind(sig, m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestNativeEngineDeclines: models the native engine must leave to ONNX
// Runtime. Under auto they score with ONNX Runtime and say why; under
// native they fail to open.
func TestNativeEngineDeclines(t *testing.T) {
	if err := onnx.Init(onnxtest.Lib(t)); err != nil {
		t.Fatal(err)
	}
	castInput, castLabel, strLabels := binaryTree(), binaryTree(), binaryTree()
	castInput.castInput, castInput.input = true, 11
	castLabel.castLabel = true
	strLabels.stringLabels = true
	logreg, err := onnx.Load(filepath.Join(onnxtest.Root(t), "testdata", "models", "churn_logreg.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	sig, _, err := logreg.Inspect()
	if err != nil {
		t.Fatal(err)
	}
	perColumn := scoring.Wiring{Inputs: map[string][]string{}, Score: scoring.OutputRef{Output: sig.Outputs[1].Name, Class: class(1)}}
	for _, in := range sig.Inputs {
		perColumn.Inputs[in.Name] = []string{in.Name}
	}
	logregBinding, err := scoring.Bind(sig, perColumn)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		model *onnx.Model
		b     *scoring.Binding
		why   string
	}{
		// A linear model is ONNX Runtime's: the native engine scores trees only.
		{"logistic regression", logreg, logregBinding, "no TreeEnsembleClassifier or TreeEnsembleRegressor node"},
		{"input cast from double", onnx.ModelFromBytes(castInput.model()), nil, "not a graph input"},
		{"label cast to float", onnx.ModelFromBytes(castLabel.model()), nil, "label_f changes type"},
		{"string labels", onnx.ModelFromBytes(strLabels.model()), nil, "string class labels"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.b
			if b == nil {
				label := "label"
				if tc.name == "label cast to float" {
					label = "label_f"
				}
				b = treeBinding(t, tc.model, "probabilities", label)
			}
			s, err := tc.model.Open(b, onnx.KeepConcat(onnx.Options{Engine: onnx.EngineAuto, IntraOpThreads: 1}))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if e := s.Engine(); !strings.HasPrefix(e, "onnxruntime") || !strings.Contains(e, "native engine declined") || !strings.Contains(e, tc.why) {
				t.Errorf("engine %q, want onnxruntime with the native engine declined: %s", e, tc.why)
			}
			_, err = tc.model.Open(b, onnx.KeepConcat(onnx.Options{Engine: onnx.EngineNative, IntraOpThreads: 1}))
			if !errors.Is(err, onnx.ErrNotNative) || !strings.Contains(err.Error(), tc.why) {
				t.Errorf("engine native: %v, want ErrNotNative naming %q", err, tc.why)
			}
		})
	}
}

// TestNativeEngineChecksFirstChunk: a native engine whose outputs were
// wrong (skewed by a test hook after the probe) is caught on the first
// chunk of real rows, before any of its outputs leave Run: every worker,
// the first included, gets ONNX Runtime's outputs, and Engine says why.
// A correct engine stays native after that check.
func TestNativeEngineChecksFirstChunk(t *testing.T) {
	if err := onnx.Init(onnxtest.Lib(t)); err != nil {
		t.Fatal(err)
	}
	root := onnxtest.Root(t)
	model, binding, features := bindFile(t, "churn_gbm.onnx", "features", "probabilities", "label")
	in := []scoring.Tensor{sampleTensor(t, filepath.Join(root, "testdata", "customers", "snapshot_date=2026-11-20", "*.parquet"), features)}
	ref, err := model.Open(binding, onnx.KeepTrees(onnx.Options{IntraOpThreads: 1}))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	want, err := ref.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	for _, skew := range []float32{0, 1e-3} {
		s, err := model.Open(binding, onnx.Options{Engine: onnx.EngineAuto, IntraOpThreads: 1})
		if err != nil {
			t.Fatal(err)
		}
		onnx.SkewNative(s, skew)
		var wg sync.WaitGroup
		outs := make([][]scoring.Output, 4)
		errs := make([]error, 4)
		for w := range outs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				outs[w], errs[w] = s.Run(context.Background(), in)
			}()
		}
		wg.Wait()
		for w, got := range outs {
			if errs[w] != nil {
				t.Fatalf("skew %g, worker %d: %v", skew, w, errs[w])
			}
			if i := sameBits(want[0].Float32, got[0].Float32); i >= 0 || !slices.Equal(want[1].Int64, got[1].Int64) {
				t.Errorf("skew %g, worker %d: probability %d is %v, ONNX Runtime's %v", skew, w, i, got[0].Float32[max(i, 0)], want[0].Float32[max(i, 0)])
			}
		}
		e := s.Engine()
		switch {
		case skew == 0 && !strings.HasPrefix(e, "native"):
			t.Errorf("a correct engine left native after the first chunk: %q", e)
		case skew != 0 && (!strings.HasPrefix(e, "onnxruntime") || !strings.Contains(e, "differed from ONNX Runtime's on the first chunk")):
			t.Errorf("skewed engine: %q, want ONNX Runtime and why", e)
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}
}
