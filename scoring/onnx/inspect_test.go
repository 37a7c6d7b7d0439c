package onnx_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/batchscore/batchscore/internal/testkit/onnxtest"
	"github.com/batchscore/batchscore/scoring/onnx"
)

func TestInspect(t *testing.T) {
	if err := onnx.Init(onnxtest.Lib(t)); err != nil {
		t.Fatal(err)
	}
	if v := onnx.Version(); v != onnx.WantVersion {
		t.Errorf("loaded ONNX Runtime %q, want %s", v, onnx.WantVersion)
	}
	models := filepath.Join(onnxtest.Root(t), "testdata", "models")
	sig, md, err := onnx.Inspect(filepath.Join(models, "churn_gbm_zipmap.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if got := sig.Inputs[0].String(); got != "float_input: float[N,30]" {
		t.Errorf("input = %s", got)
	}
	kinds := map[string]string{}
	for _, p := range sig.Outputs {
		kinds[p.Name] = p.Kind
	}
	if kinds["output_probability"] != "sequence" || kinds["output_label"] != "tensor" {
		t.Errorf("outputs = %v", sig.Outputs)
	}
	if md.Producer == "" || md.Custom["model_name"] != "churn_gbm_zipmap" {
		t.Errorf("metadata = %+v", md)
	}

	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.onnx")
	if err := os.WriteFile(garbage, []byte("this is not a protobuf"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want error
	}{
		{"missing file", filepath.Join(dir, "nope.onnx"), onnx.ErrNoModel},
		{"garbage", garbage, onnx.ErrModel},
		{"folder", dir, onnx.ErrModel},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := onnx.Inspect(tc.path)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Inspect(%s) = %v, want %v", tc.path, err, tc.want)
			}
		})
	}
}
