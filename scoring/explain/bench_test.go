package explain

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkTreeSHAP explains the fresh rows of inputs.f32 with a test
// model, or with $EXPLAIN_BENCH_MODEL (MODEL.onnx beside MODEL.covers.json,
// class 1: the bench's xgb_bench, say). One op is one row.
func BenchmarkTreeSHAP(b *testing.B) {
	t := &testing.T{}
	d, name := dir, "xgb_bin"
	if p := os.Getenv("EXPLAIN_BENCH_MODEL"); p != "" {
		d, name = filepath.Dir(p), filepath.Base(p)
	}
	_, ex := loadTreeIn(t, d, name, 1)
	if ex == nil || ex.fast == nil {
		b.Fatal("no fast explainer")
	}
	x := readF32(t, "inputs.f32")
	rows := len(x) / features
	var s Scratch
	phi := make([]float64, ex.Inputs())
	b.ResetTimer()
	for i := range b.N {
		r := i % rows
		ex.Explain(x[r*features:(r+1)*features], &s, phi)
	}
}
