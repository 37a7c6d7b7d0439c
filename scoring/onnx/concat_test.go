package onnx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/batchscore/batchscore/internal/testkit/onnxtest"
	"github.com/batchscore/batchscore/scoring"
	"github.com/batchscore/batchscore/scoring/onnx/rewrite"
	"github.com/batchscore/batchscore/scoring/onnxwire"
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

// The logistic model, exported as skl2onnx exports a DataFrame model (30
// [N,1] inputs, ten of them int64 and Cast), scores the same bits through
// the rewritten graph as through its own, on rows that include the
// integers a float cannot hold exactly, NaN, infinities and -0.
func TestConcatRewriteScoresTheSame(t *testing.T) {
	model, b, features := logregBinding(t)
	old, err := model.Open(b, Options{IntraOpThreads: 1, keepConcat: true})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	rewritten, err := model.Open(b, Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rewritten.Close()
	if len(old.Rewrites()) != 0 || old.Feed() != b {
		t.Fatalf("keepConcat: rewrites %v", old.Rewrites())
	}
	if rw := rewritten.Rewrites(); len(rw) != 1 || !strings.HasPrefix(rw[0], "concat of 30 inputs") {
		t.Fatalf("rewrites %v", rw)
	}
	feed := rewritten.Feed()
	if len(feed.Inputs) != 1 || feed.Inputs[0].Elem != scoring.Float || !slices.Equal(feed.Inputs[0].Columns, features) {
		t.Fatalf("feed %+v", feed.Inputs)
	}

	rec := concatTestRecord(b, 5000)
	defer rec.Release()
	chunk := scoring.Chunk{Record: rec, File: "test"}
	want, err := (&scoring.Scorer{Session: old, Binding: b, Mem: memory.DefaultAllocator, AllowNaN: true}).ScoreChunk(context.Background(), chunk, &scoring.Buffers{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := (&scoring.Scorer{Session: rewritten, Binding: feed, Mem: memory.DefaultAllocator, AllowNaN: true}).ScoreChunk(context.Background(), chunk, &scoring.Buffers{})
	if err != nil {
		t.Fatal(err)
	}
	differ := 0
	for i, w := range want.Score.Float64Values() {
		if math.Float64bits(w) != math.Float64bits(got.Score.Value(i)) || want.Label.(*array.Int64).Value(i) != got.Label.(*array.Int64).Value(i) {
			differ++
		}
	}
	if differ > 0 {
		t.Errorf("%d of %d rows differ", differ, rec.NumRows())
	}
}

// concatTestRecord has the binding's columns: int64 where the input is,
// float64 elsewhere, random but for rows of extremes at the start.
func concatTestRecord(b *scoring.Binding, n int) arrow.Record {
	rng := rand.New(rand.NewPCG(1, 2))
	ints := []int64{0, 1, -1, 1<<24 + 1, -(1<<24 + 1), 1<<31 - 1, 1<<53 + 1, math.MaxInt64, math.MinInt64}
	floats := []float64{0, math.Copysign(0, -1), math.NaN(), math.Inf(1), math.Inf(-1), 1e300, -1e-300, 16777217, 0.1}
	var fields []arrow.Field
	var cols []arrow.Array
	for _, in := range b.Inputs {
		name := in.Columns[0]
		if in.Elem == scoring.Int64 {
			bl := array.NewInt64Builder(memory.DefaultAllocator)
			for i := range n {
				if i < len(ints) {
					bl.Append(ints[i])
				} else {
					bl.Append(rng.Int64N(200) - 20)
				}
			}
			fields, cols = append(fields, arrow.Field{Name: name, Type: arrow.PrimitiveTypes.Int64}), append(cols, bl.NewArray())
			bl.Release()
			continue
		}
		bl := array.NewFloat64Builder(memory.DefaultAllocator)
		for i := range n {
			if i < len(floats) {
				bl.Append(floats[i])
			} else {
				bl.Append(rng.NormFloat64() * 50)
			}
		}
		fields, cols = append(fields, arrow.Field{Name: name, Type: arrow.PrimitiveTypes.Float64}), append(cols, bl.NewArray())
		bl.Release()
	}
	rec := array.NewRecord(arrow.NewSchema(fields, nil), cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return rec
}

// concatGraph builds a model: inputs a int64 [N,1], b float [N,1] and c
// double [N,2], each cast to float where it is not, one Concat into x,
// and y = Identity(x) the output. change edits the nodes and inputs
// before they are written.
func concatGraph(change func(nodes, inputs *[][]byte, inits *[][]byte)) []byte {
	valueInfo := func(name string, elem uint64, width int64) []byte {
		var shape []byte
		shape = protowire.AppendTag(shape, 1, protowire.BytesType)
		shape = protowire.AppendBytes(shape, nil)
		dim := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), uint64(width))
		shape = protowire.AppendTag(shape, 1, protowire.BytesType)
		shape = protowire.AppendBytes(shape, dim)
		tensor := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), elem)
		tensor = protowire.AppendBytes(protowire.AppendTag(tensor, 2, protowire.BytesType), shape)
		typ := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), tensor)
		v := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), name)
		return protowire.AppendBytes(protowire.AppendTag(v, 2, protowire.BytesType), typ)
	}
	nodes := [][]byte{
		onnxwire.NodeProto("cast_a", "Cast", "", []string{"a"}, []string{"a_f"}, onnxwire.IntAttr("to", onnxwire.Float)),
		onnxwire.NodeProto("cast_c", "Cast", "", []string{"c"}, []string{"c_f"}, onnxwire.IntAttr("to", onnxwire.Float)),
		onnxwire.NodeProto("concat", "Concat", "", []string{"a_f", "b", "c_f"}, []string{"x"}, onnxwire.IntAttr("axis", 1)),
		onnxwire.NodeProto("out", "Identity", "", []string{"x"}, []string{"y"}),
	}
	inputs := [][]byte{valueInfo("a", 7, 1), valueInfo("b", onnxwire.Float, 1), valueInfo("c", 11, 2)}
	var inits [][]byte
	if change != nil {
		change(&nodes, &inputs, &inits)
	}
	var g []byte
	for _, n := range nodes {
		g = protowire.AppendBytes(protowire.AppendTag(g, 1, protowire.BytesType), n)
	}
	for _, in := range inits {
		g = protowire.AppendBytes(protowire.AppendTag(g, 5, protowire.BytesType), in)
	}
	for _, in := range inputs {
		g = protowire.AppendBytes(protowire.AppendTag(g, 11, protowire.BytesType), in)
	}
	g = protowire.AppendBytes(protowire.AppendTag(g, 12, protowire.BytesType), valueInfo("y", onnxwire.Float, 4))
	var opset []byte
	opset = protowire.AppendString(protowire.AppendTag(opset, 1, protowire.BytesType), "")
	opset = protowire.AppendVarint(protowire.AppendTag(opset, 2, protowire.VarintType), 15)
	var m []byte
	m = protowire.AppendVarint(protowire.AppendTag(m, 1, protowire.VarintType), 8)
	m = protowire.AppendBytes(protowire.AppendTag(m, 8, protowire.BytesType), opset)
	return protowire.AppendBytes(protowire.AppendTag(m, 7, protowire.BytesType), g)
}

func concatBinding(t *testing.T, data []byte) *scoring.Binding {
	t.Helper()
	sig, _, err := ModelFromBytes(data).Inspect()
	if err != nil {
		t.Fatal(err)
	}
	b, err := scoring.Bind(sig, scoring.Wiring{
		Inputs: map[string][]string{"a": {"ca"}, "b": {"cb"}, "c": {"c1", "c2"}},
		Score:  scoring.OutputRef{Output: "y", Class: ptr(0)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The hand-made graph is rewritten to one input x of the four columns in
// Concat order, and ONNX Runtime gives the same y for both.
func TestConcatRewriteHandMade(t *testing.T) {
	if err := Init(onnxtest.Lib(t)); err != nil {
		t.Fatal(err)
	}
	data := concatGraph(nil)
	b := concatBinding(t, data)
	out, feed, rw, err := rewrite.ConcatInputs(data, b)
	if err != nil || rw == nil {
		t.Fatalf("no rewrite: %v", err)
	}
	if rw.Input != "x" || !slices.Equal(rw.Inputs, []string{"a", "b", "c"}) || rw.Width != 4 ||
		len(feed.Inputs) != 1 || !slices.Equal(feed.Inputs[0].Columns, []string{"ca", "cb", "c1", "c2"}) {
		t.Fatalf("rewrite %+v, feed %+v", rw, feed.Inputs)
	}
	sig, _, err := ModelFromBytes(out).Inspect()
	if err != nil {
		t.Fatalf("the rewritten model: %v", err)
	}
	if len(sig.Inputs) != 1 || sig.Inputs[0].Name != "x" || sig.Inputs[0].Elem != scoring.Float {
		t.Fatalf("rewritten inputs %v", sig.Inputs)
	}
	model := ModelFromBytes(data)
	old, err := model.Open(b, Options{IntraOpThreads: 1, keepConcat: true})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	s, err := model.Open(b, Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := []int64{1<<24 + 1, -7, math.MaxInt64}
	bv := []float32{0.5, float32(math.Inf(-1)), -0}
	c := []float64{1e300, 0.1, -1e-300, 3, math.NaN(), 16777217}
	xs := make([]float32, 0, 12)
	for i := range 3 {
		xs = append(xs, float32(a[i]), bv[i], float32(c[2*i]), float32(c[2*i+1]))
	}
	want, err := old.Run(context.Background(), []scoring.Tensor{
		{Shape: []int64{3, 1}, Int64: a}, {Shape: []int64{3, 1}, Float32: bv}, {Shape: []int64{3, 2}, Float64: c}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Run(context.Background(), []scoring.Tensor{{Shape: []int64{3, 4}, Float32: xs}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range want[0].Float32 {
		if math.Float32bits(want[0].Float32[i]) != math.Float32bits(got[0].Float32[i]) {
			t.Errorf("y[%d] = %v, the model as it is gives %v", i, got[0].Float32[i], want[0].Float32[i])
		}
	}
}

// Graphs the rewrite must leave alone come back byte for byte.
func TestConcatRewriteLeavesOthersAlone(t *testing.T) {
	if err := Init(onnxtest.Lib(t)); err != nil {
		t.Fatal(err)
	}
	b := concatBinding(t, concatGraph(nil))
	cases := map[string]func(nodes, inputs, inits *[][]byte){
		"axis 0": func(n, _, _ *[][]byte) {
			(*n)[2] = onnxwire.NodeProto("concat", "Concat", "", []string{"a_f", "b", "c_f"}, []string{"x"}, onnxwire.IntAttr("axis", 0))
		},
		"a cast to double": func(n, _, _ *[][]byte) {
			(*n)[0] = onnxwire.NodeProto("cast_a", "Cast", "", []string{"a"}, []string{"a_f"}, onnxwire.IntAttr("to", 11))
		},
		"a cast read twice": func(n, _, _ *[][]byte) {
			*n = append(*n, onnxwire.NodeProto("again", "Identity", "", []string{"a_f"}, []string{"a_again"}))
		},
		"an input read twice": func(n, _, _ *[][]byte) {
			*n = append(*n, onnxwire.NodeProto("again", "Identity", "", []string{"b"}, []string{"b_again"}))
		},
		"an operand from an initializer": func(n, _, inits *[][]byte) {
			(*n)[2] = onnxwire.NodeProto("concat", "Concat", "", []string{"a_f", "b", "c_f", "k"}, []string{"x"}, onnxwire.IntAttr("axis", 1))
			k := onnxwire.TensorProto(onnxwire.Float, []int64{1, 1}, onnxwire.Float32Bytes(1))
			*inits = append(*inits, protowire.AppendString(protowire.AppendTag(k, 8, protowire.BytesType), "k"))
		},
		"a node with a subgraph": func(n, _, _ *[][]byte) {
			var g []byte
			g = protowire.AppendString(protowire.AppendTag(g, 1, protowire.BytesType), "then_branch")
			g = protowire.AppendBytes(protowire.AppendTag(g, 6, protowire.BytesType), nil)
			*n = append(*n, onnxwire.NodeProto("if", "If", "", []string{"y"}, []string{"z"}, g))
		},
		"an input twice in the Concat": func(n, _, _ *[][]byte) {
			(*n)[2] = onnxwire.NodeProto("concat", "Concat", "", []string{"a_f", "b", "c_f", "b"}, []string{"x"}, onnxwire.IntAttr("axis", 1))
		},
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			data := concatGraph(change)
			out, feed, rw, err := rewrite.ConcatInputs(data, b)
			if err != nil || rw != nil || feed != b || !bytes.Equal(out, data) {
				t.Fatalf("rewritten: %v, %+v", err, rw)
			}
		})
	}
	if _, _, _, err := rewrite.ConcatInputs([]byte{0xff, 0xff}, b); err == nil {
		t.Error("bytes that are not a model: no error")
	}
}

// dataFrameModel is churn_gbm.onnx as skl2onnx exports a DataFrame model:
// its features input replaced by one [N,1] input per column (int64 and
// Cast for the first, float for the rest) and a Concat into features.
func dataFrameModel(t *testing.T, columns int) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(onnxtest.Root(t), "testdata", "models", "churn_gbm.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	model, err := onnxwire.Fields(data)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, f := range model {
		if f.Num != 7 {
			out = append(out, f.Raw...)
			continue
		}
		graph, err := onnxwire.Fields(f.Val)
		if err != nil {
			t.Fatal(err)
		}
		operands := make([]string, columns)
		var g []byte
		g = protowire.AppendBytes(protowire.AppendTag(g, 1, protowire.BytesType),
			onnxwire.NodeProto("cast_c0", "Cast", "", []string{"c0"}, []string{"c0_f"}, onnxwire.IntAttr("to", onnxwire.Float)))
		for i := range columns {
			operands[i] = fmt.Sprintf("c%d", i)
		}
		operands[0] = "c0_f"
		g = protowire.AppendBytes(protowire.AppendTag(g, 1, protowire.BytesType),
			onnxwire.NodeProto("concat", "Concat", "", operands, []string{"features"}, onnxwire.IntAttr("axis", 1)))
		for _, gf := range graph {
			if gf.Num != 11 {
				g = append(g, gf.Raw...)
				continue
			}
			for i := range columns {
				elem := uint64(onnxwire.Float)
				if i == 0 {
					elem = 7 // int64
				}
				vi := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), fmt.Sprintf("c%d", i))
				typ := onnxwire.FloatMatrixType(1)
				typ = bytes.Replace(typ, []byte{0x08, onnxwire.Float}, []byte{0x08, byte(elem)}, 1) // elem_type
				vi = protowire.AppendBytes(protowire.AppendTag(vi, 2, protowire.BytesType), typ)
				g = protowire.AppendBytes(protowire.AppendTag(g, 11, protowire.BytesType), vi)
			}
		}
		out = protowire.AppendBytes(protowire.AppendTag(out, 7, protowire.BytesType), g)
	}
	return out
}

// With the Concat rewritten away, a DataFrame-exported tree model reaches
// the native engine, which otherwise declines it (its trees read a
// computed value, not a graph input).
func TestConcatRewriteOpensTheNativeEngine(t *testing.T) {
	if err := Init(onnxtest.Lib(t)); err != nil {
		t.Fatal(err)
	}
	data := dataFrameModel(t, 30)
	sig, _, err := ModelFromBytes(data).Inspect()
	if err != nil {
		t.Fatalf("the DataFrame model: %v", err)
	}
	inputs := map[string][]string{}
	for i := range 30 {
		inputs[fmt.Sprintf("c%d", i)] = []string{fmt.Sprintf("col%d", i)}
	}
	b, err := scoring.Bind(sig, scoring.Wiring{Inputs: inputs, Score: scoring.OutputRef{Output: "probabilities", Class: ptr(1)}})
	if err != nil {
		t.Fatal(err)
	}
	model := ModelFromBytes(data)
	s, err := model.Open(b, Options{Engine: EngineAuto, IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.HasPrefix(s.Engine(), "native") || len(s.Rewrites()) == 0 || !strings.HasPrefix(s.Rewrites()[0], "concat of 30 inputs") {
		t.Errorf("engine %q, rewrites %v", s.Engine(), s.Rewrites())
	}
	kept, err := model.Open(b, Options{Engine: EngineAuto, IntraOpThreads: 1, keepConcat: true})
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	if strings.HasPrefix(kept.Engine(), "native") {
		t.Errorf("without the rewrite: engine %q", kept.Engine())
	}
}

// No bytes make the rewrite panic, change its input or return an error
// that is not ErrMalformed; what it rewrites binds every column once.
func FuzzConcatRewrite(f *testing.F) {
	f.Add(concatGraph(nil))
	f.Add(concatGraph(func(n, _, _ *[][]byte) { *n = (*n)[2:] }))
	if data, err := os.ReadFile(filepath.Join(onnxtest.Root(f), "testdata", "models", "churn_logreg.onnx")); err == nil {
		f.Add(data)
	}
	b := &scoring.Binding{Inputs: []scoring.InputBinding{
		{Name: "a", Columns: []string{"ca"}, Elem: scoring.Int64, Rank: 2},
		{Name: "b", Columns: []string{"cb"}, Elem: scoring.Float, Rank: 2},
		{Name: "c", Columns: []string{"c1", "c2"}, Elem: scoring.Double, Rank: 2},
	}}
	f.Fuzz(func(t *testing.T, data []byte) {
		orig := bytes.Clone(data)
		out, feed, rw, err := rewrite.ConcatInputs(data, b)
		if !bytes.Equal(data, orig) {
			t.Fatal("rewrite changed its input")
		}
		if err != nil {
			if !errors.Is(err, onnxwire.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if rw == nil {
			if feed != b || !bytes.Equal(out, data) {
				t.Fatal("nothing rewritten but the bytes or the binding changed")
			}
			return
		}
		var cols []string
		for _, in := range feed.Inputs {
			cols = append(cols, in.Columns...)
		}
		slices.Sort(cols)
		if !slices.Equal(cols, []string{"c1", "c2", "ca", "cb"}) || rw.Width < 1 {
			t.Fatalf("feed %+v after %v", feed.Inputs, rw)
		}
	})
}
