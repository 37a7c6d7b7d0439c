package rewrite_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/batchscore/batchscore/internal/testkit/onnxtest"
	"github.com/batchscore/batchscore/scoring"
	"github.com/batchscore/batchscore/scoring/onnx/rewrite"
	"github.com/batchscore/batchscore/scoring/onnxwire"
)

// all runs the three rewrites on data and reports how many changes each
// made.
func all(data []byte) (outs [3][]byte, changes [3]int, errs [3]error) {
	b := &scoring.Binding{Inputs: []scoring.InputBinding{{Name: "features", Columns: []string{"a"}, Elem: scoring.Float, Rank: 2}}}
	var zs []rewrite.ZipMap
	var ts []rewrite.TreeClassifier
	var c *rewrite.Concat
	outs[0], zs, errs[0] = rewrite.ZipMapOutputs(data, []string{"output_probability", "probabilities"})
	outs[1], ts, errs[1] = rewrite.TreeClassifiers(data)
	outs[2], _, c, errs[2] = rewrite.ConcatInputs(data, b)
	changes = [3]int{len(zs), len(ts), 0}
	if c != nil {
		changes[2] = 1
	}
	return outs, changes, errs
}

// The contract every rewrite keeps: its input untouched; bytes that are
// not a protobuf wrap onnxwire.ErrMalformed; nothing to rewrite gives the
// input itself; what it rewrites has nothing left to rewrite.
func TestContract(t *testing.T) {
	models := filepath.Join(onnxtest.Root(t), "testdata", "models")
	zip, err := os.ReadFile(filepath.Join(models, "churn_gbm_zipmap.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"truncated": zip[:len(zip)/2], "text": []byte("this is not a model\n")} {
		_, _, errs := all(data)
		for i, err := range errs {
			if !errors.Is(err, onnxwire.ErrMalformed) {
				t.Errorf("%s, rewrite %d: error %v, want ErrMalformed", name, i, err)
			}
		}
	}
	for _, name := range []string{"churn_gbm.onnx", "churn_gbm_zipmap.onnx", "churn_logreg.onnx", "ltv_linear.onnx"} {
		data, err := os.ReadFile(filepath.Join(models, name))
		if err != nil {
			t.Fatal(err)
		}
		orig := bytes.Clone(data)
		outs, changes, errs := all(data)
		if !bytes.Equal(data, orig) {
			t.Fatalf("%s: a rewrite changed its input", name)
		}
		for i, out := range outs {
			if errs[i] != nil {
				t.Fatalf("%s, rewrite %d: %v", name, i, errs[i])
			}
			if changes[i] == 0 && !bytes.Equal(out, data) {
				t.Errorf("%s, rewrite %d: nothing rewritten but the bytes changed", name, i)
			}
			if changes[i] > 0 {
				again, changes2, _ := all(out)
				if changes2[i] != 0 || !bytes.Equal(again[i], out) {
					t.Errorf("%s, rewrite %d: rewritten bytes rewritten again", name, i)
				}
			}
		}
	}
}

// The tree classifier of churn_gbm.onnx and the ZipMap of its ZipMap
// variant are the committed models' rewrites.
func TestCommittedModels(t *testing.T) {
	models := filepath.Join(onnxtest.Root(t), "testdata", "models")
	gbm, _ := os.ReadFile(filepath.Join(models, "churn_gbm.onnx"))
	zip, _ := os.ReadFile(filepath.Join(models, "churn_gbm_zipmap.onnx"))
	if _, c, _ := all(gbm); c != [3]int{0, 1, 0} {
		t.Errorf("churn_gbm.onnx: %v rewrites, want the tree classifier", c)
	}
	if _, c, _ := all(zip); c[0] != 1 {
		t.Errorf("churn_gbm_zipmap.onnx: %v rewrites, want the ZipMap", c)
	}
	keys, ok := rewrite.ZipMapKeys(zip, "output_probability")
	if !ok || len(keys) != 2 || keys[0] != 0 || keys[1] != 1 {
		t.Errorf("ZipMapKeys: %v %v", keys, ok)
	}
}
