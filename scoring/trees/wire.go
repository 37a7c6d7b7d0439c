package trees

import (
	"errors"
	"fmt"

	"github.com/batchscore/batchscore/scoring/onnxwire"
)

// attr is one attribute of the tree node, decoded by its declared type.
type attr struct {
	name string
	typ  uint64
	onnxwire.Values
}

// decodeAttrs decodes a node's attributes strictly (onnxwire's
// Attribute.Decode): an encoding it does not decode is ErrUnsupported,
// a torn one ErrModel.
func decodeAttrs(n onnxwire.Node) ([]attr, error) {
	attrs := make([]attr, 0, len(n.Attrs))
	for _, a := range n.Attrs {
		v, err := a.Decode()
		switch {
		case errors.Is(err, onnxwire.ErrUnsupported):
			return nil, fmt.Errorf("node %q: %w: %v", n.Name, ErrUnsupported, err)
		case err != nil:
			return nil, fmt.Errorf("%w: node %q: %v", ErrModel, n.Name, err)
		}
		attrs = append(attrs, attr{name: a.Name, typ: a.Type, Values: v})
	}
	return attrs, nil
}

// graph is what Load needs of the main graph.
type graph struct {
	onnxwire.Graph
	inputs map[string]onnxwire.ValueInfo
}

// readGraph reads the model's graph and its ai.onnx.ml opset.
func readGraph(model []byte) (graph, int64, error) {
	g := graph{inputs: map[string]onnxwire.ValueInfo{}}
	bad := func(err error) (graph, int64, error) {
		return g, 0, fmt.Errorf("%w: %v", ErrModel, err)
	}
	m, err := onnxwire.ReadModel(model)
	if err != nil {
		return bad(err)
	}
	if m.Graph < 0 {
		return bad(errors.New("not exactly one graph"))
	}
	mlOpset := int64(0)
	for _, o := range m.Opsets {
		if o.Domain == mlDomain {
			mlOpset = o.Version
		}
	}
	if g.Graph, err = onnxwire.ReadGraph(m.GraphBytes()); err != nil {
		return bad(err)
	}
	for _, in := range g.Inputs {
		g.inputs[in.Name] = in
	}
	return g, mlOpset, nil
}
