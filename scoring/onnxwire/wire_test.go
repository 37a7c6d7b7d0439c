package onnxwire_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/batchscore/batchscore/internal/testkit/onnxtest"
	"github.com/batchscore/batchscore/scoring/onnxwire"
)

// handModel is a model of one Cast node written with this package's
// writers: X float[N,3] -> Cast(to float) -> Y.
func handModel() []byte {
	node := onnxwire.NodeProto("cast", "Cast", "", []string{"X"}, []string{"Y"}, onnxwire.IntAttr("to", onnxwire.Float))
	var g []byte
	g = onnxwire.AppendMessage(g, 1, node)
	g = onnxwire.AppendMessage(g, 5, append(onnxwire.TensorProto(onnxwire.Float, []int64{1}, onnxwire.Float32Bytes(2)),
		onnxwire.AppendString(nil, 8, "W")...))
	g = onnxwire.AppendMessage(g, 11, onnxwire.ValueInfoProto("X", onnxwire.FloatMatrixType(3)))
	g = onnxwire.AppendMessage(g, 12, onnxwire.ValueInfoProto("Y", onnxwire.FloatMatrixType(3)))
	var m []byte
	m = onnxwire.AppendVarint(m, 1, 8)
	m = onnxwire.AppendMessage(m, 8, onnxwire.AppendVarint(onnxwire.AppendString(nil, 1, ""), 2, 13))
	m = onnxwire.AppendMessage(m, 8, onnxwire.AppendVarint(onnxwire.AppendString(nil, 1, onnxwire.MLDomain), 2, 3))
	return onnxwire.AppendMessage(m, 7, g)
}

func TestReadWhatIsWritten(t *testing.T) {
	m, err := onnxwire.ReadModel(handModel())
	if err != nil {
		t.Fatal(err)
	}
	if m.Graph < 0 || m.Opset("") != 13 || m.Opset("ai.onnx") != 13 || m.Opset(onnxwire.MLDomain) != 3 || m.Opset("other") != 0 {
		t.Fatalf("graph at %d, opsets %+v", m.Graph, m.Opsets)
	}
	g, err := onnxwire.ReadGraph(m.GraphBytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Nodes) != 1 || len(g.Inputs) != 1 || len(g.Outputs) != 1 || !g.Initializers["W"] {
		t.Fatalf("graph %+v", g)
	}
	n := g.Nodes[0]
	if n.Name != "cast" || !n.Is("ai.onnx", "Cast") || n.CastTo() != onnxwire.Float || n.Subgraph() ||
		!slices.Equal(n.Inputs, []string{"X"}) || !slices.Equal(n.Outputs, []string{"Y"}) || g.Fields[n.At].Num != 1 {
		t.Errorf("node %+v", n)
	}
	if in := g.Inputs[0]; in.Name != "X" || in.Elem != onnxwire.Float || !in.HasShape || !slices.Equal(in.Shape, []int64{-1, 3}) {
		t.Errorf("input %+v", in)
	}
	// Replacing the graph by itself gives the same bytes.
	if !bytes.Equal(m.WithGraph(m.GraphBytes()), handModel()) {
		t.Error("WithGraph of the same graph changed the model")
	}
	// A type replaced keeps the name.
	v, err := onnxwire.ParseValueInfo(g.Outputs[0].WithType(onnxwire.FloatMatrixType(5)))
	if err != nil || v.Name != "Y" || !slices.Equal(v.Shape, []int64{-1, 5}) {
		t.Errorf("WithType: %+v %v", v, err)
	}
}

// The committed models read without error, and every node the same way
// twice.
func TestReadCommittedModels(t *testing.T) {
	models := filepath.Join(onnxtest.Root(t), "testdata", "models")
	for _, name := range []string{"churn_gbm.onnx", "churn_gbm_zipmap.onnx", "churn_logreg.onnx", "ltv_linear.onnx"} {
		data, err := os.ReadFile(filepath.Join(models, name))
		if err != nil {
			t.Fatal(err)
		}
		m, err := onnxwire.ReadModel(data)
		if err != nil || m.Graph < 0 {
			t.Fatalf("%s: graph at %d, %v", name, m.Graph, err)
		}
		g, err := onnxwire.ReadGraph(m.GraphBytes())
		if err != nil || len(g.Nodes) == 0 || len(g.Inputs) == 0 {
			t.Fatalf("%s: %d nodes, %d inputs, %v", name, len(g.Nodes), len(g.Inputs), err)
		}
		for _, n := range g.Nodes {
			for _, a := range n.Attrs {
				if _, err := a.Decode(); err != nil {
					t.Errorf("%s: node %s: %v", name, n.Name, err)
				}
			}
		}
	}
}

func TestMalformed(t *testing.T) {
	for name, data := range map[string][]byte{
		"one byte":      {0x0a},
		"bad varint":    {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"field zero":    {0x00, 0x01},
		"graph too big": {0x3a, 0x7f, 0x0a},
		"truncated":     handModel()[:len(handModel())-3],
	} {
		if _, err := onnxwire.ReadModel(data); !errors.Is(err, onnxwire.ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	torn := onnxwire.AppendMessage(onnxwire.AppendString(nil, 1, "w"), 7, []byte{1, 2, 3}) // packed floats, 3 bytes
	a, err := onnxwire.ParseAttribute(onnxwire.AppendVarint(torn, 20, onnxwire.AttrFloats))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Floats(); !errors.Is(err, onnxwire.ErrMalformed) {
		t.Errorf("torn floats: %v", err)
	}
	if _, err := a.Decode(); !errors.Is(err, onnxwire.ErrMalformed) {
		t.Errorf("torn floats, strict: %v", err)
	}
}

// Decode takes each value from the field its declared type uses, and
// refuses the rest.
func TestDecode(t *testing.T) {
	ints := onnxwire.AppendVarint(onnxwire.AppendVarint(onnxwire.AppendString(nil, 1, "ids"), 8, 4), 8, 5)
	packed := onnxwire.AppendMessage(onnxwire.AppendString(nil, 1, "ids"), 8, []byte{4, 5})
	for _, b := range [][]byte{ints, packed} {
		a, _ := onnxwire.ParseAttribute(onnxwire.AppendVarint(b, 20, onnxwire.AttrInts))
		v, err := a.Decode()
		if err != nil || !slices.Equal(v.Ints, []int64{4, 5}) {
			t.Errorf("ints: %v %v", v.Ints, err)
		}
	}
	wrongType, _ := onnxwire.ParseAttribute(onnxwire.AppendVarint(ints, 20, onnxwire.AttrFloats))
	if _, err := wrongType.Decode(); !errors.Is(err, onnxwire.ErrUnsupported) {
		t.Errorf("ints declared floats: %v", err)
	}
	graph, _ := onnxwire.ParseAttribute(onnxwire.AppendMessage(onnxwire.AppendString(nil, 1, "body"), 6, nil))
	if _, err := graph.Decode(); !graph.Subgraph || !errors.Is(err, onnxwire.ErrUnsupported) {
		t.Errorf("graph attribute: subgraph %v, %v", graph.Subgraph, err)
	}
	unnamed, _ := onnxwire.ParseAttribute(onnxwire.AppendVarint(nil, 20, onnxwire.AttrInts))
	if _, err := unnamed.Decode(); !errors.Is(err, onnxwire.ErrMalformed) {
		t.Errorf("no name: %v", err)
	}
	renamed, _ := onnxwire.ParseAttribute(graph.Renamed("else"))
	if renamed.Name != "else" || !renamed.Subgraph {
		t.Errorf("renamed: %+v", renamed)
	}
}

func TestTensorFloats(t *testing.T) {
	raw := append(onnxwire.Float32Bytes(1.5), onnxwire.Float32Bytes(-2)...)
	v, err := onnxwire.TensorFloats(onnxwire.TensorProto(onnxwire.Float, []int64{2}, raw))
	if err != nil || !slices.Equal(v, []float32{1.5, -2}) {
		t.Errorf("floats %v, %v", v, err)
	}
	if _, err := onnxwire.TensorFloats(onnxwire.TensorProto(onnxwire.Double, []int64{1}, make([]byte, 8))); !errors.Is(err, onnxwire.ErrUnsupported) {
		t.Errorf("double tensor: %v", err)
	}
	if _, err := onnxwire.TensorFloats(onnxwire.TensorProto(onnxwire.Float, []int64{3}, raw)); !errors.Is(err, onnxwire.ErrMalformed) {
		t.Errorf("shape [3] with 2 values: %v", err)
	}
}
