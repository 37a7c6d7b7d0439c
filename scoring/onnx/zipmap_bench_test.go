package onnx

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/batchscore/batchscore/internal/testkit/onnxtest"
	"github.com/batchscore/batchscore/scoring"
)

// BenchmarkZipMap compares Session.Run on the GBM with a ZipMap output,
// read through sequence decoding ("zipmap-sequence") and through the
// in-memory rewrite ("zipmap-rewritten"), with its non-ZipMap twin
// ("gbm"), in BenchmarkSession's setup: two goroutines sharing a session,
// chunks of 65,536 rows, the inputs of configs/churn_nightly.yaml.
func BenchmarkZipMap(b *testing.B) {
	cases := []struct {
		name, model, input string
		score              scoring.OutputRef
		keep               bool
	}{
		{"gbm", "churn_gbm.onnx", "features", scoring.OutputRef{Output: "probabilities", Class: ptr(1)}, false},
		{"zipmap-sequence", "churn_gbm_zipmap.onnx", "float_input", scoring.OutputRef{Output: "output_probability", Class: ptr(1)}, true},
		{"zipmap-rewritten", "churn_gbm_zipmap.onnx", "float_input", scoring.OutputRef{Output: "output_probability", Class: ptr(1)}, false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			s := setup(b, "configs/churn_nightly.yaml")
			features := s.binding.Inputs[0].Columns
			model, err := Load(filepath.Join(onnxtest.Root(b), "testdata", "models", c.model))
			if err != nil {
				b.Fatal(err)
			}
			sig, _, err := model.Inspect()
			if err != nil {
				b.Fatal(err)
			}
			binding, err := scoring.Bind(sig, scoring.Wiring{Inputs: map[string][]string{c.input: features}, Score: c.score})
			if err != nil {
				b.Fatal(err)
			}
			sess, err := model.Open(binding, Options{IntraOpThreads: s.threads, Optimization: s.optimization,
				keepZipMap: c.keep, keepTrees: true}) // the trees as the file has them (see BenchmarkTreeRewrite)
			if err != nil {
				b.Fatal(err)
			}
			defer sess.Close()
			if got := len(sess.Rewrites()) > 0; got != (c.name == "zipmap-rewritten") {
				b.Fatalf("rewrites: %q", sess.Rewrites())
			}
			ctx := context.Background()
			if _, err := sess.Run(ctx, s.tensors); err != nil {
				b.Fatal(err)
			}
			runParallel(b, s.workers, s.rows, func(int) error {
				_, err := sess.Run(ctx, s.tensors)
				return err
			})
		})
	}
}

func ptr(v int64) *int64 { return &v }
