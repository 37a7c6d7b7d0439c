package onnx_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/batchscore/batchscore/internal/testkit/onnxtest"
	"github.com/batchscore/batchscore/scoring"
	"github.com/batchscore/batchscore/scoring/onnx"
	"github.com/batchscore/batchscore/scoring/onnx/rewrite"
	"github.com/batchscore/batchscore/scoring/onnxwire"
)

// TestZipMapRewriteScoresTheSame scores a snapshot with the ZipMap model
// twice, through the sequence decoding and through the rewritten graph,
// and requires every row's score and label to be the same, and the
// scores to match scikit-learn's.
func TestZipMapRewriteScoresTheSame(t *testing.T) {
	root := onnxtest.Root(t)
	if err := onnx.Init(onnxtest.Lib(t)); err != nil {
		t.Fatal(err)
	}
	models := filepath.Join(root, "testdata", "models")
	model, err := onnx.Load(filepath.Join(models, "churn_gbm_zipmap.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	sig, md, err := model.Inspect()
	if err != nil {
		t.Fatal(err)
	}
	features := strings.Split(md.Custom["features"], ",")
	binding, err := scoring.Bind(sig, scoring.Wiring{
		Inputs: map[string][]string{"float_input": features},
		Score:  scoring.OutputRef{Output: "output_probability", Class: class(1)},
		Label:  &scoring.OutputRef{Output: "output_label"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if binding.Score.Port.Kind != scoring.KindSequence {
		t.Fatalf("binding sees %s; the binding must keep the file's signature", binding.Score.Port)
	}
	// The trees stay a TreeEnsembleClassifier in both sessions: this test
	// is about the ZipMap (treeclassifier_test.go covers both rewrites).
	opts := onnx.KeepTrees(onnx.Options{IntraOpThreads: 1, Optimization: "all"})
	slow, err := model.Open(binding, onnx.KeepZipMap(opts))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fast, err := model.Open(binding, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	if r := slow.Rewrites(); r != nil {
		t.Errorf("sequence session reports rewrites %q", r)
	}
	want := []string{"zipmap output_probability -> tensor float[N,2] (from probabilities)"}
	if r := fast.Rewrites(); !slices.Equal(r, want) {
		t.Errorf("rewrites %q, want %q", r, want)
	}

	date := "2026-11-20"
	glob := filepath.Join(root, "testdata", "customers", "snapshot_date="+date, "*.parquet")
	cols := append([]string{"customer_id"}, binding.Columns()...)
	seq := scoreSnapshot(t, glob, binding, slow, cols)
	tensor := scoreSnapshot(t, glob, binding, fast, cols)
	ref := readReference(t, filepath.Join(models, "reference_"+date+".csv"))
	if len(seq) != 2000 || len(tensor) != len(seq) || len(ref) != len(seq) {
		t.Fatalf("rows: sequence %d, tensor %d, sklearn %d; want 2000", len(seq), len(tensor), len(ref))
	}
	worst := 0.0
	for id, s := range seq {
		g, ok := tensor[id]
		if !ok {
			t.Fatalf("customer %d not scored through the rewrite", id)
		}
		if g != s {
			t.Errorf("customer %d: rewritten %+v, ZipMap %+v", id, g, s)
		}
		worst = math.Max(worst, math.Abs(g.score-ref[id]["gbm_p1"]))
		if float64(g.label) != ref[id]["gbm_label"] {
			t.Errorf("customer %d: label %d, sklearn %v", id, g.label, ref[id]["gbm_label"])
		}
	}
	if worst > 1e-5 {
		t.Errorf("max |rewritten score - sklearn| = %g", worst)
	}
	t.Logf("%d rows identical through ZipMap and the rewrite; max |score - sklearn| = %.3g", len(seq), worst)
}

// zipMapModel builds a small model by hand: X float[N,2] -> ZipMap with
// keys (unsorted, so that column order and key order differ) -> Y.
func zipMapModel(keys []int64, stringKeys bool, defaultOpset bool) []byte {
	str := func(b []byte, num protowire.Number, s string) []byte {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		return protowire.AppendString(b, s)
	}
	msg := func(b []byte, num protowire.Number, m []byte) []byte {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		return protowire.AppendBytes(b, m)
	}
	varint := func(b []byte, num protowire.Number, v uint64) []byte {
		b = protowire.AppendTag(b, num, protowire.VarintType)
		return protowire.AppendVarint(b, v)
	}
	var attr []byte
	if stringKeys {
		attr = str(attr, 1, "classlabels_strings")
		for _, k := range keys {
			attr = str(attr, 9, string(rune('a'+k)))
		}
		attr = varint(attr, 20, 8) // STRINGS
	} else {
		attr = str(attr, 1, "classlabels_int64s")
		for _, k := range keys {
			attr = varint(attr, 8, uint64(k))
		}
		attr = varint(attr, 20, 7) // INTS
	}
	var node []byte
	node = str(node, 1, "X")
	node = str(node, 2, "Y")
	node = str(node, 3, "zipmap")
	node = str(node, 4, "ZipMap")
	node = msg(node, 5, attr)
	node = str(node, 7, "ai.onnx.ml")

	var shape []byte
	shape = msg(shape, 1, str(nil, 2, "N"))
	shape = msg(shape, 1, varint(nil, 1, uint64(len(keys))))
	var tensor []byte
	tensor = varint(tensor, 1, 1)
	tensor = msg(tensor, 2, shape)
	xType := msg(nil, 1, tensor)
	keyType := uint64(7) // INT64
	if stringKeys {
		keyType = 8 // STRING
	}
	var mapType []byte
	mapType = varint(mapType, 1, keyType)
	mapType = msg(mapType, 2, msg(nil, 1, varint(nil, 1, 1)))
	yType := msg(nil, 4, msg(nil, 1, msg(nil, 5, mapType)))

	var graph []byte
	graph = msg(graph, 1, node)
	graph = str(graph, 2, "zipmap_only")
	graph = msg(graph, 11, msg(str(nil, 1, "X"), 2, xType))
	graph = msg(graph, 12, msg(str(nil, 1, "Y"), 2, yType))

	var model []byte
	model = varint(model, 1, 8) // ir_version
	if defaultOpset {
		model = msg(model, 8, varint(str(nil, 1, ""), 2, 13))
	}
	model = msg(model, 8, varint(str(nil, 1, "ai.onnx.ml"), 2, 1))
	model = str(model, 2, "batchscore test")
	model = msg(model, 7, graph)
	return model
}

// TestZipMapRewriteHandMade runs a ZipMap whose keys are not in column
// order both ways: the session hands back the keys of the columns.
func TestZipMapRewriteHandMade(t *testing.T) {
	if err := onnx.Init(onnxtest.Lib(t)); err != nil {
		t.Fatal(err)
	}
	data := zipMapModel([]int64{7, 3}, false, true)
	model := onnx.ModelFromBytes(data)
	sig, _, err := model.Inspect()
	if err != nil {
		t.Fatal(err)
	}
	rewritten, _, _, err := rewriteZipMap(data, []string{"Y"})
	if err != nil {
		t.Fatal(err)
	}
	rsig, _, err := onnx.ModelFromBytes(rewritten).Inspect()
	if err != nil {
		t.Fatal(err)
	}
	if got := rsig.Outputs[0].String(); got != "Y: float[N,2]" {
		t.Errorf("rewritten output %s, want Y: float[N,2]", got)
	}
	for _, key := range []int64{7, 3} {
		b, err := scoring.Bind(sig, scoring.Wiring{Inputs: map[string][]string{"X": {"a", "b"}},
			Score: scoring.OutputRef{Output: "Y", Class: class(key)}})
		if err != nil {
			t.Fatal(err)
		}
		in := []scoring.Tensor{{Shape: []int64{3, 2}, Float32: []float32{0.25, 0.75, 0.5, 0.5, 1, 0}}}
		var outs [2]scoring.Output
		for i, opts := range []onnx.Options{onnx.KeepZipMap(onnx.Options{IntraOpThreads: 1}), {IntraOpThreads: 1}} {
			s, err := model.Open(b, opts)
			if err != nil {
				t.Fatal(err)
			}
			if (len(s.Rewrites()) == 1) != (i == 1) {
				t.Errorf("session %d rewrites %q", i, s.Rewrites())
			}
			o, err := s.Run(context.Background(), in)
			s.Close()
			if err != nil {
				t.Fatal(err)
			}
			outs[i] = o[0]
		}
		// Column c of each holds class ClassKeys[c]; compare per key.
		for _, k := range []int64{3, 7} {
			cs, cf := slices.Index(outs[0].ClassKeys, k), slices.Index(outs[1].ClassKeys, k)
			if cs < 0 || cf < 0 {
				t.Fatalf("key %d: sequence keys %v, tensor keys %v", k, outs[0].ClassKeys, outs[1].ClassKeys)
			}
			for row := range 3 {
				if s, f := outs[0].Float32[row*2+cs], outs[1].Float32[row*2+cf]; s != f {
					t.Errorf("row %d key %d: ZipMap %v, rewritten %v", row, k, s, f)
				}
			}
		}
		if !slices.Equal(outs[1].ClassKeys, []int64{7, 3}) || !slices.Equal(outs[0].ClassKeys, []int64{3, 7}) {
			t.Errorf("keys: rewritten %v (want the labels' order [7 3]), ZipMap %v (want sorted)", outs[1].ClassKeys, outs[0].ClassKeys)
		}
	}
}

// TestZipMapRewriteLeavesOthersAlone: models and outputs with nothing to
// rewrite come back byte for byte.
func TestZipMapRewriteLeavesOthersAlone(t *testing.T) {
	models := filepath.Join(onnxtest.Root(t), "testdata", "models")
	cases := []struct {
		name    string
		data    []byte
		outputs []string
	}{
		{"churn_gbm.onnx", read(t, filepath.Join(models, "churn_gbm.onnx")), []string{"probabilities", "label"}},
		{"churn_logreg.onnx", read(t, filepath.Join(models, "churn_logreg.onnx")), []string{"probabilities", "label"}},
		{"ltv_linear.onnx", read(t, filepath.Join(models, "ltv_linear.onnx")), []string{"variable"}},
		{"zipmap model, label only", read(t, filepath.Join(models, "churn_gbm_zipmap.onnx")), []string{"output_label"}},
		{"zipmap model, no outputs", read(t, filepath.Join(models, "churn_gbm_zipmap.onnx")), nil},
		{"string class labels", zipMapModel([]int64{0, 1}, true, true), []string{"Y"}},
		{"no default opset for Identity", zipMapModel([]int64{0, 1}, false, false), []string{"Y"}},
		{"duplicate keys", zipMapModel([]int64{1, 1}, false, true), []string{"Y"}},
		{"empty", nil, []string{"Y"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			orig := bytes.Clone(tc.data)
			out, names, _, err := rewriteZipMap(tc.data, tc.outputs)
			if err != nil {
				t.Fatal(err)
			}
			if names != nil || !bytes.Equal(out, orig) || !bytes.Equal(tc.data, orig) {
				t.Errorf("rewrote %v: %d bytes in, %d out", names, len(orig), len(out))
			}
		})
	}
	// The committed ZipMap model is rewritten and the input not touched.
	data := read(t, filepath.Join(models, "churn_gbm_zipmap.onnx"))
	orig := bytes.Clone(data)
	out, names, keys, err := rewriteZipMap(data, []string{"output_label", "output_probability"})
	if err != nil || !slices.Equal(names, []string{"output_probability"}) || len(keys) != 1 || !slices.Equal(keys[0], []int64{0, 1}) {
		t.Fatalf("rewrite: %v %v %v", names, keys, err)
	}
	if !bytes.Equal(data, orig) || bytes.Equal(out, orig) {
		t.Error("rewrite changed its input or did not change the output")
	}
	if again, names, _, err := rewriteZipMap(out, []string{"output_probability"}); err != nil || names != nil || !bytes.Equal(again, out) {
		t.Errorf("rewriting twice: %v %v", names, err)
	}
}

func TestZipMapRewriteMalformed(t *testing.T) {
	zip := read(t, filepath.Join(onnxtest.Root(t), "testdata", "models", "churn_gbm_zipmap.onnx"))
	for name, data := range map[string][]byte{
		"truncated":     zip[:len(zip)/2],
		"one byte":      {0x0a},
		"bad varint":    {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"field zero":    {0x00, 0x01},
		"text":          []byte("this is not a model\n"),
		"graph too big": {0x3a, 0x7f, 0x0a},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, _, err := rewriteZipMap(data, []string{"output_probability"})
			if !errors.Is(err, onnxwire.ErrMalformed) {
				t.Errorf("error %v, want ErrMalformed", err)
			}
		})
	}
}

// FuzzRewrite: any bytes give ErrMalformed, the same bytes, or a rewrite
// that is itself well formed and has nothing left to rewrite.
func FuzzRewrite(f *testing.F) {
	models := filepath.Join(onnxtest.Root(f), "testdata", "models")
	f.Add(zipMapModel([]int64{7, 3}, false, true))
	f.Add(zipMapModel([]int64{0, 1}, true, true))
	f.Add(read(f, filepath.Join(models, "ltv_linear.onnx")))
	f.Add(read(f, filepath.Join(models, "churn_logreg.onnx")))
	outputs := []string{"Y", "output_probability", "variable"}
	f.Fuzz(func(t *testing.T, data []byte) {
		orig := bytes.Clone(data)
		out, names, keys, err := rewriteZipMap(data, outputs)
		if !bytes.Equal(data, orig) {
			t.Fatal("rewrite changed its input")
		}
		if err != nil {
			if !errors.Is(err, onnxwire.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if names == nil {
			if !bytes.Equal(out, data) {
				t.Fatal("nothing rewritten but the bytes changed")
			}
			return
		}
		if len(keys) != len(names) {
			t.Fatalf("%d names, %d key lists", len(names), len(keys))
		}
		again, names2, _, err := rewriteZipMap(out, outputs)
		if err != nil || names2 != nil || !bytes.Equal(again, out) {
			t.Fatalf("rewritten bytes rewritten again: %v %v", names2, err)
		}
	})
}

// rewriteZipMap runs the rewrite; keys[i] are the classes of rewritten
// output names[i].
func rewriteZipMap(data []byte, outputs []string) (out []byte, names []string, keys [][]int64, err error) {
	out, rw, err := rewrite.ZipMapOutputs(data, outputs)
	for _, r := range rw {
		names = append(names, r.Output)
		keys = append(keys, r.Keys)
	}
	return out, names, keys, err
}

func read(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
