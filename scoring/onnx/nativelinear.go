package onnx

// The native engine's linear side: a Scaler (optional) and a binary
// LinearClassifier read from the graph for scoring/linear.

import (
	"errors"
	"fmt"

	"github.com/batchscore/batchscore/scoring/linear"
	"github.com/batchscore/batchscore/scoring/onnxwire"
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
	model, err := onnxwire.ReadModel(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrModel, err)
	}
	graph, err := onnxwire.ReadGraph(model.GraphBytes())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrModel, err)
	}
	inputs := map[string]uint64{}
	for _, v := range graph.Inputs {
		inputs[v.Name] = v.Elem
	}
	var lc, scaler *onnxwire.Node
	producers := map[string]int{}
	for i, n := range graph.Nodes {
		for _, o := range n.Outputs {
			producers[o] = i
		}
		if n.Domain == onnxwire.MLDomain && n.Op == linearClassifierOp {
			if lc != nil {
				return nil, fmt.Errorf("%w: more than one LinearClassifier", linear.ErrUnsupported)
			}
			lc = &graph.Nodes[i]
		}
	}
	if lc == nil {
		return nil, errNoLinear
	}
	if len(lc.Inputs) != 1 || len(lc.Outputs) != 2 {
		return nil, fmt.Errorf("%w: LinearClassifier %q has %d inputs and %d outputs", linear.ErrUnsupported, lc.Name, len(lc.Inputs), len(lc.Outputs))
	}
	in := lc.Inputs[0]
	if p, ok := producers[in]; ok {
		if n := &graph.Nodes[p]; n.Domain == onnxwire.MLDomain && n.Op == scalerOp && len(n.Inputs) == 1 {
			scaler = n
			in = scaler.Inputs[0]
		}
	}
	if elem, ok := inputs[in]; !ok || graph.Initializers[in] || elem != onnxwire.Float {
		return nil, fmt.Errorf("%w: the LinearClassifier (or its Scaler) does not read a float graph input", linear.ErrUnsupported)
	}
	a, err := nodeAttrs(*lc)
	if err != nil {
		return nil, fmt.Errorf("%w: LinearClassifier %q: %v", ErrModel, lc.Name, err)
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
		s, err := nodeAttrs(*scaler)
		if err != nil {
			return nil, fmt.Errorf("%w: Scaler %q: %v", ErrModel, scaler.Name, err)
		}
		p.Offset, p.Scale = s.floats["offset"], s.floats["scale"]
		if p.Offset == nil || p.Scale == nil {
			return nil, fmt.Errorf("%w: Scaler %q without offset or scale", linear.ErrUnsupported, scaler.Name)
		}
	}
	c, err := linear.New(p)
	if err != nil {
		return nil, err
	}
	return &linearModel{c: c, node: lc.Name, in: in, outputs: lc.Outputs}, nil
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
// node's attributes.
func nodeAttrs(n onnxwire.Node) (nodeAttributes, error) {
	v := nodeAttributes{names: map[string]bool{}, floats: map[string][]float32{}, ints: map[string][]int64{},
		strings: map[string][]string{}, str: map[string]string{}, int: map[string]int64{}}
	for _, a := range n.Attrs {
		floats, err := a.Floats()
		if err != nil {
			return v, err
		}
		ints, err := a.Ints()
		if err != nil {
			return v, err
		}
		v.names[a.Name] = true
		v.floats[a.Name], v.ints[a.Name], v.strings[a.Name] = floats, ints, a.Strings()
		v.int[a.Name], _ = a.Int()
		if s, ok := a.Str(); ok {
			v.str[a.Name] = s
		}
	}
	return v, nil
}
