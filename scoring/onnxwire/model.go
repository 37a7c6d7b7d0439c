package onnxwire

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Element types (TensorProto.DataType).
const (
	Float  = 1
	Int64  = 7
	Double = 11
)

// Domains.
const (
	// MLDomain is ai.onnx.ml, the domain of the classical-ML operators.
	MLDomain = "ai.onnx.ml"
)

// DefaultDomain says whether domain names the default ONNX operator set.
func DefaultDomain(domain string) bool { return domain == "" || domain == "ai.onnx" }

// Opset is one opset_import of a model.
type Opset struct {
	Domain  string
	Version int64
}

// Model is a ModelProto's top-level fields, verbatim, with its graph and
// opset imports found.
type Model struct {
	Fields []Field
	// Graph is the index in Fields of the model's graph: -1 when there is
	// none, or when field 7 appears more than once or not as a message.
	Graph  int
	Opsets []Opset
}

// ReadModel splits a ModelProto into its fields and reads its opset
// imports.
func ReadModel(b []byte) (Model, error) {
	m := Model{Graph: -1}
	fs, err := Fields(b)
	if err != nil {
		return m, err
	}
	m.Fields = fs
	graphs, odd := 0, false
	for i, f := range fs {
		switch {
		case f.Num == 7:
			graphs++
			if f.Typ == protowire.BytesType {
				m.Graph = i
			} else {
				odd = true
			}
		case f.Num == 8 && f.Typ == protowire.BytesType:
			var o Opset
			err := Walk(f.Val, func(d Field) error {
				switch {
				case d.Num == 1 && d.Typ == protowire.BytesType:
					o.Domain = string(d.Val)
				case d.Num == 2 && d.Typ == protowire.VarintType:
					o.Version = int64(d.V)
				}
				return nil
			})
			if err != nil {
				return m, err
			}
			m.Opsets = append(m.Opsets, o)
		}
	}
	if graphs != 1 || odd {
		m.Graph = -1
	}
	return m, nil
}

// GraphBytes is the model's GraphProto, nil without one.
func (m Model) GraphBytes() []byte {
	if m.Graph < 0 {
		return nil
	}
	return m.Fields[m.Graph].Val
}

// Opset is the highest version the model imports of domain (the default
// domain under either of its names), 0 when it imports none.
func (m Model) Opset(domain string) int64 {
	v := int64(0)
	for _, o := range m.Opsets {
		if o.Domain == domain || DefaultDomain(domain) && DefaultDomain(o.Domain) {
			v = max(v, o.Version)
		}
	}
	return v
}

// Imports says whether the model imports domain at all.
func (m Model) Imports(domain string) bool {
	for _, o := range m.Opsets {
		if o.Domain == domain || DefaultDomain(domain) && DefaultDomain(o.Domain) {
			return true
		}
	}
	return false
}

// WithGraph is the model's fields, verbatim, with its graph replaced by g.
func (m Model) WithGraph(g []byte) []byte {
	size := len(g) + 16
	for _, f := range m.Fields {
		size += len(f.Raw)
	}
	out := make([]byte, 0, size)
	for i, f := range m.Fields {
		if i == m.Graph {
			out = AppendMessage(out, 7, g)
			continue
		}
		out = append(out, f.Raw...)
	}
	return out
}

// Graph is a GraphProto's fields, verbatim, with its nodes, initializer
// names and value infos read. At fields (Node.At, ValueInfo.At) index
// Fields.
type Graph struct {
	Fields       []Field
	Nodes        []Node
	Initializers map[string]bool // dense and sparse initializers
	Inputs       []ValueInfo
	Outputs      []ValueInfo
	ValueInfo    []ValueInfo
}

// ReadGraph reads a GraphProto.
func ReadGraph(b []byte) (Graph, error) {
	g := Graph{Initializers: map[string]bool{}}
	fs, err := Fields(b)
	if err != nil {
		return g, err
	}
	g.Fields = fs
	for i, f := range fs {
		if f.Typ != protowire.BytesType {
			continue
		}
		switch f.Num {
		case 1:
			n, err := ParseNode(f.Val)
			if err != nil {
				return g, err
			}
			n.At = i
			g.Nodes = append(g.Nodes, n)
		case 5:
			name, _, err := Bytes(f.Val, 8)
			if err != nil {
				return g, err
			}
			g.Initializers[string(name)] = true
		case 15:
			// SparseTensorProto: values (1) is a TensorProto whose name
			// is the initializer's.
			values, ok, err := Bytes(f.Val, 1)
			if err != nil || !ok {
				return g, err
			}
			name, _, err := Bytes(values, 8)
			if err != nil {
				return g, err
			}
			g.Initializers[string(name)] = true
		case 11, 12, 13:
			v, err := ParseValueInfo(f.Val)
			if err != nil {
				return g, err
			}
			v.At = i
			switch f.Num {
			case 11:
				g.Inputs = append(g.Inputs, v)
			case 12:
				g.Outputs = append(g.Outputs, v)
			default:
				g.ValueInfo = append(g.ValueInfo, v)
			}
		}
	}
	return g, nil
}

// Node is a NodeProto.
type Node struct {
	Name, Op, Domain string
	Inputs, Outputs  []string
	Attrs            []Attribute
	Raw              []byte // the NodeProto
	At               int    // index in Graph.Fields
}

// ParseNode reads a NodeProto and its attributes' names and types.
func ParseNode(b []byte) (Node, error) {
	n := Node{Raw: b}
	err := Walk(b, func(f Field) error {
		if f.Typ != protowire.BytesType {
			return nil
		}
		switch f.Num {
		case 1:
			n.Inputs = append(n.Inputs, string(f.Val))
		case 2:
			n.Outputs = append(n.Outputs, string(f.Val))
		case 3:
			n.Name = string(f.Val)
		case 4:
			n.Op = string(f.Val)
		case 5:
			a, err := ParseAttribute(f.Val)
			if err != nil {
				return fmt.Errorf("node %q attribute: %w", n.Name, err)
			}
			n.Attrs = append(n.Attrs, a)
		case 7:
			n.Domain = string(f.Val)
		}
		return nil
	})
	return n, err
}

// Is says whether the node is op of domain (the default domain under
// either of its names).
func (n Node) Is(domain, op string) bool {
	return n.Op == op && (n.Domain == domain || DefaultDomain(domain) && DefaultDomain(n.Domain))
}

// Subgraph says whether the node has a graph attribute.
func (n Node) Subgraph() bool {
	for _, a := range n.Attrs {
		if a.Subgraph {
			return true
		}
	}
	return false
}

// CastTo is a Cast node's "to" attribute, 0 if it has none.
func (n Node) CastTo() uint64 {
	to := uint64(0)
	for _, a := range n.Attrs {
		if a.Name == "to" {
			i, _ := a.Int()
			to = uint64(i)
		}
	}
	return to
}

// ValueInfo is a ValueInfoProto's name, tensor element type and shape.
type ValueInfo struct {
	Name string
	Elem uint64 // 0 when the type is not a tensor or does not say
	// Shape has -1 for a symbolic or missing dimension; HasShape says
	// whether the type gives a shape at all.
	Shape    []int64
	HasShape bool
	Raw      []byte // the ValueInfoProto
	At       int    // index in Graph.Fields
}

// ParseValueInfo reads a ValueInfoProto.
func ParseValueInfo(b []byte) (ValueInfo, error) {
	v := ValueInfo{Raw: b}
	err := Walk(b, func(f Field) error {
		switch {
		case f.Num == 1 && f.Typ == protowire.BytesType:
			v.Name = string(f.Val)
		case f.Num == 2 && f.Typ == protowire.BytesType:
			return Walk(f.Val, func(t Field) error { // TypeProto
				if t.Num != 1 || t.Typ != protowire.BytesType {
					return nil
				}
				return v.readTensorType(t.Val)
			})
		}
		return nil
	})
	return v, err
}

func (v *ValueInfo) readTensorType(b []byte) error {
	return Walk(b, func(x Field) error {
		switch {
		case x.Num == 1 && x.Typ == protowire.VarintType:
			v.Elem = x.V
		case x.Num == 2 && x.Typ == protowire.BytesType:
			v.HasShape = true
			return Walk(x.Val, func(d Field) error {
				if d.Num != 1 || d.Typ != protowire.BytesType {
					return nil
				}
				size := int64(-1)
				err := Walk(d.Val, func(e Field) error {
					if e.Num == 1 && e.Typ == protowire.VarintType {
						size = int64(e.V)
					}
					return nil
				})
				v.Shape = append(v.Shape, size)
				return err
			})
		}
		return nil
	})
}
