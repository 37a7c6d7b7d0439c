package onnx

// The native engine's linear side: a Scaler (optional) and a binary
// LinearClassifier read from the graph for scoring/linear.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/batchscore/batchscore/scoring/linear"
)

const (
	linearClassifierOp = "LinearClassifier"
	scalerOp           = "Scaler"
)

// errNoLinear says a graph has no LinearClassifier node at all.
var errNoLinear = errors.New("no LinearClassifier node")

// linearModel is a compiled LinearClassifier and where it sits in the graph.
type linearModel struct {
	c       *linear.Classifier
	node    string
	in      string   // the graph input the Scaler (or the classifier) reads
	outputs []string // label, probabilities
}

func (m *linearModel) String() string {
	return fmt.Sprintf("%s %q", m.c, m.node)
}
func (m *linearModel) who() string           { return "batchscore's Go linear evaluator" }
func (m *linearModel) input() string         { return m.in }
func (m *linearModel) nodeOutputs() []string { return m.outputs }
func (m *linearModel) regressor() bool       { return false }
func (m *linearModel) scores(x []float32, width int, out []float32) error {
	return errors.New("a LinearClassifier has no regressor output")
}
func (m *linearModel) classify(x []float32, width int, label []int64, prob []float32) error {
	if prob == nil { // the job reads the label only
		prob = make([]float32, 2*(len(x)/max(width, 1)))
	}
	return m.c.Classify(x, width, label, prob)
}
func (m *linearModel) classifyColumns(x []float32, rows int, label []int64, prob []float32) error {
	if prob == nil {
		prob = make([]float32, 2*rows)
	}
	return m.c.ClassifyColumns(x, rows, label, prob)
}

// oneRowByORT: MLAS multiplies a single row with its one-row SGEMM kernel,
// which sums in another order.
func (m *linearModel) oneRowByORT() bool { return true }
func (m *linearModel) probe(rows, width int, seed uint64) []float32 {
	return m.c.Probe(rows, width, seed)
}

// loadLinear reads data's LinearClassifier, and the Scaler feeding it
// from a graph input if there is one. errNoLinear when there is no such
// node; ErrUnsupported-wrapping errors (from scoring/linear or here) for
// cases the package does not reproduce.
func loadLinear(data []byte) (*linearModel, error) {
	model, err := parseFields(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrModel, err)
	}
	var nodes [][]byte
	inputs, initializers := map[string]uint64{}, map[string]bool{}
	for _, f := range model {
		if f.num != 7 || f.typ != protowire.BytesType {
			continue
		}
		err := walkFields(f.val, func(g wireField) error {
			if g.typ != protowire.BytesType {
				return nil
			}
			switch g.num {
			case 1:
				nodes = append(nodes, g.val)
			case 5:
				name, err := tensorName(g.val)
				initializers[name] = true
				return err
			case 11:
				name, elem, err := valueType(g.val)
				inputs[name] = elem
				return err
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrModel, err)
		}
	}
	var lc, scaler *node
	var lcBytes, scalerBytes []byte
	producers := map[string]int{}
	parsed := make([]node, len(nodes))
	for i, b := range nodes {
		n, err := parseNode(b)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrModel, err)
		}
		parsed[i] = n
		for _, o := range n.outputs {
			producers[o] = i
		}
		if n.domain == mlDomain && n.opType == linearClassifierOp {
			if lc != nil {
				return nil, fmt.Errorf("%w: more than one LinearClassifier", linear.ErrUnsupported)
			}
			lc, lcBytes = &parsed[i], b
		}
	}
	if lc == nil {
		return nil, errNoLinear
	}
	if len(lc.inputs) != 1 || len(lc.outputs) != 2 {
		return nil, fmt.Errorf("%w: LinearClassifier %q has %d inputs and %d outputs", linear.ErrUnsupported, lc.name, len(lc.inputs), len(lc.outputs))
	}
	in := lc.inputs[0]
	if p, ok := producers[in]; ok && parsed[p].domain == mlDomain && parsed[p].opType == scalerOp && len(parsed[p].inputs) == 1 {
		scaler, scalerBytes = &parsed[p], nodes[p]
		in = scaler.inputs[0]
	}
	if elem, ok := inputs[in]; !ok || initializers[in] || elem != onnxFloat {
		return nil, fmt.Errorf("%w: the LinearClassifier (or its Scaler) does not read a float graph input", linear.ErrUnsupported)
	}
	a, err := nodeAttrs(lcBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: LinearClassifier %q: %v", ErrModel, lc.name, err)
	}
	if len(a.strings["classlabels_strings"]) > 0 {
		return nil, fmt.Errorf("%w: string class labels", linear.ErrUnsupported)
	}
	for name := range a.names {
		switch name {
		case "coefficients", "intercepts", "classlabels_ints", "post_transform", "multi_class":
		default:
			return nil, fmt.Errorf("%w: LinearClassifier attribute %s", linear.ErrUnsupported, name)
		}
	}
	p := linear.Params{Coefficients: a.floats["coefficients"], Intercepts: a.floats["intercepts"],
		Labels: a.ints["classlabels_ints"], PostTransform: "NONE", MultiClass: a.int["multi_class"]}
	if s, ok := a.str["post_transform"]; ok {
		p.PostTransform = s
	}
	if scaler != nil {
		s, err := nodeAttrs(scalerBytes)
		if err != nil {
			return nil, fmt.Errorf("%w: Scaler %q: %v", ErrModel, scaler.name, err)
		}
		p.Offset, p.Scale = s.floats["offset"], s.floats["scale"]
		if p.Offset == nil || p.Scale == nil {
			return nil, fmt.Errorf("%w: Scaler %q without offset or scale", linear.ErrUnsupported, scaler.name)
		}
	}
	c, err := linear.New(p)
	if err != nil {
		return nil, err
	}
	return &linearModel{c: c, node: lc.name, in: in, outputs: lc.outputs}, nil
}

// nodeAttributes are a node's attributes by name and type.
type nodeAttributes struct {
	names   map[string]bool
	floats  map[string][]float32
	ints    map[string][]int64
	strings map[string][]string
	str     map[string]string
	int     map[string]int64
}

// nodeAttrs decodes the float lists, int lists, strings and ints of a
// NodeProto's attributes.
func nodeAttrs(nodeBytes []byte) (nodeAttributes, error) {
	v := nodeAttributes{names: map[string]bool{}, floats: map[string][]float32{}, ints: map[string][]int64{},
		strings: map[string][]string{}, str: map[string]string{}, int: map[string]int64{}}
	err := walkFields(nodeBytes, func(f wireField) error {
		if f.num != 5 || f.typ != protowire.BytesType {
			return nil
		}
		var name string
		var floats []float32
		var ints []int64
		var strs []string
		var s []byte
		var i int64
		err := walkFields(f.val, func(a wireField) error {
			switch {
			case a.num == 1 && a.typ == protowire.BytesType:
				name = string(a.val)
			case a.num == 3 && a.typ == protowire.VarintType:
				i = int64(a.v)
			case a.num == 4 && a.typ == protowire.BytesType:
				s = a.val
			case a.num == 7 && a.typ == protowire.Fixed32Type:
				floats = append(floats, math.Float32frombits(binary.LittleEndian.Uint32(a.raw[len(a.raw)-4:])))
			case a.num == 7 && a.typ == protowire.BytesType: // packed
				if len(a.val)%4 != 0 {
					return fmt.Errorf("packed floats of %d bytes", len(a.val))
				}
				for p := a.val; len(p) > 0; p = p[4:] {
					floats = append(floats, math.Float32frombits(binary.LittleEndian.Uint32(p)))
				}
			case a.num == 8 && a.typ == protowire.VarintType:
				ints = append(ints, int64(a.v))
			case a.num == 8 && a.typ == protowire.BytesType: // packed
				for p := a.val; len(p) > 0; {
					x, k := protowire.ConsumeVarint(p)
					if k < 0 {
						return protowire.ParseError(k)
					}
					ints = append(ints, int64(x))
					p = p[k:]
				}
			case a.num == 9 && a.typ == protowire.BytesType:
				strs = append(strs, string(a.val))
			}
			return nil
		})
		v.names[name] = true
		v.floats[name], v.ints[name], v.strings[name], v.int[name] = floats, ints, strs, i
		if s != nil {
			v.str[name] = string(s)
		}
		return err
	})
	return v, err
}
