package trees

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func readModel(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(modelPath(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestChurnGBMMatchesORT scores every row of the committed snapshots
// (testdata/customers/snapshot_date=*/*.parquet) with churn_gbm.onnx here
// and in ONNX Runtime (the classifier as the file has it, one intra-op
// thread): labels, both probabilities and the raw score must be equal to
// the bit.
func TestChurnGBMMatchesORT(t *testing.T) {
	initORT(t)
	model := readModel(t, "churn_gbm.onnx")
	e, err := Load(model)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(e)
	if e.Trees != 200 || e.Depth != 4 || e.Features != 30 || e.Positive || e.PostTransform != "LOGISTIC" || !strings.HasPrefix(e.Layout, "complete depth 4, x <= t") {
		t.Errorf("compiled %v", e)
	}
	x, rows := customers(t)
	if rows != 6000 {
		t.Errorf("%d rows, want the 6,000 committed", rows)
	}
	d := compareORT(t, model, x, rows, 30)
	t.Log(d)
	if !d.zero() {
		t.Error(d)
	}
}

// TestChurnZipMapMatchesORT: the ZipMap twin compiles to the same trees,
// and ORT's output_label and output_probability (through its Cast and
// ZipMap) equal this package's label and probabilities to the bit.
func TestChurnZipMapMatchesORT(t *testing.T) {
	initORT(t)
	plain, err := Load(readModel(t, "churn_gbm.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	model := readModel(t, "churn_gbm_zipmap.onnx")
	e, err := Load(model)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(e.OtherOps, []string{"Cast", "ZipMap"}) || e.Input != "float_input" {
		t.Errorf("zipmap model: other ops %v, input %s", e.OtherOps, e.Input)
	}
	if !slices.Equal(e.c.nodes, plain.c.nodes) || !slices.Equal(e.c.leaves, plain.c.leaves) || e.Base != plain.Base {
		t.Error("the ZipMap model's trees compile differently")
	}
	x, rows := customers(t)
	score, label, prob := make([]float32, rows), make([]int64, rows), make([]float32, 2*rows)
	if err := e.Classify(x, 30, score, label, prob); err != nil {
		t.Fatal(err)
	}
	s := newORTSession(t, model, "float_input", []string{"output_label", "output_probability"})
	defer s.Close()
	out := s.run(t, x, rows, 30)
	if !slices.Equal(out[1].keys, []int64{0, 1}) {
		t.Fatalf("ZipMap keys %v", out[1].keys)
	}
	bad := 0
	for i := range rows {
		if label[i] != out[0].i64[i] || !sameFloat(prob[2*i], out[1].f32[2*i]) || !sameFloat(prob[2*i+1], out[1].f32[2*i+1]) {
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d rows differ from ORT's ZipMap outputs", bad, rows)
	}
	t.Logf("%d rows: labels and probabilities equal to ORT's ZipMap outputs", rows)
}
