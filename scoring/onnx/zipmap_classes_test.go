package onnx_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/batchscore/batchscore/internal/testkit/onnxtest"
	"github.com/batchscore/batchscore/scoring/onnx"
)

func TestZipMapClasses(t *testing.T) {
	models := filepath.Join(onnxtest.Root(t), "testdata", "models")
	zip, err := onnx.Load(filepath.Join(models, "churn_gbm_zipmap.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if keys, ok := zip.ZipMapClasses("output_probability"); !ok || !slices.Equal(keys, []int64{0, 1}) {
		t.Errorf("ZipMapClasses(output_probability) = %v, %v; want [0 1], true", keys, ok)
	}
	if keys, ok := zip.ZipMapClasses("output_label"); ok {
		t.Errorf("ZipMapClasses(output_label) = %v, true; a label is not a ZipMap", keys)
	}
	plain, err := onnx.Load(filepath.Join(models, "churn_gbm.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if keys, ok := plain.ZipMapClasses("probabilities"); ok {
		t.Errorf("a model without ZipMap gave classes %v", keys)
	}
}
