package rewrite

// One input instead of one per column.
//
// skl2onnx exports a model trained on a DataFrame with one graph input per
// column, each [N,1], Cast to float where it is not float already, and one
// Concat (axis 1) that makes the [N,F] matrix the model reads. Fed that
// way, ONNX Runtime gets F tensors a chunk, casts and copies them into the
// matrix, and only then computes: for a logistic model that is most of its
// time. When every operand of such a Concat is a graph input the job feeds
// (directly, or through a Cast to float read by nothing else), the
// session rewrites the model bytes in memory so that the Concat's output is the
// graph input, float [N,F], and the session's binding fills it from the
// same columns in the Concat's order. The numbers are the same: a Cast to
// float of an integer, a double or a bool rounds as Go's float32
// conversion does, and Concat only copies.
//
// The model file, its hash, Inspect's signature and the job's binding are
// left as they are: the job still names the model's own inputs, and its
// column types are checked against them.

import (
	"fmt"
	"slices"

	"github.com/batchscore/batchscore/scoring"
	"github.com/batchscore/batchscore/scoring/onnxwire"
)

// Concat is one Concat of graph inputs turned into a graph input.
type Concat struct {
	Input  string   // the Concat's output, now a graph input
	Inputs []string // the graph inputs it replaced, in order
	Width  int
}

func (r Concat) String() string {
	return fmt.Sprintf("concat of %d inputs (%s) -> input %s float[N,%d]", len(r.Inputs), abbreviate(r.Inputs), r.Input, r.Width)
}

const (
	castOp   = "Cast"
	concatOp = "Concat"
)

// concatNode is a node with its int attributes read.
type concatNode struct {
	onnxwire.Node
	ints  map[string]int64 // int attributes
	other bool             // an attribute of another kind
}

func readConcatNode(n onnxwire.Node) concatNode {
	c := concatNode{Node: n, ints: map[string]int64{}}
	for _, a := range n.Attrs {
		if i, ok := a.Int(); ok {
			c.ints[a.Name] = i
		} else {
			c.other = true
		}
	}
	return c
}

// ConcatInputs finds a Concat whose operands are all fed graph inputs and
// makes its output the graph input instead, returning the binding that
// fills it from b's columns in the Concat's order. It returns data and b as
// they are, and no rewrite, when there is none.
func ConcatInputs(data []byte, b *scoring.Binding) ([]byte, *scoring.Binding, *Concat, error) {
	model, err := onnxwire.ReadModel(data)
	if err != nil {
		return nil, nil, nil, err
	}
	if model.Graph < 0 {
		return data, b, nil, nil
	}
	graph, err := onnxwire.ReadGraph(model.GraphBytes())
	if err != nil {
		return nil, nil, nil, err
	}
	nodes := make([]concatNode, len(graph.Nodes)) // graph order: the first Concat that qualifies, every time
	for i, n := range graph.Nodes {
		nodes[i] = readConcatNode(n)
	}
	inputAt := map[string]int{} // graph input name -> field index
	for _, v := range graph.Inputs {
		inputAt[v.Name] = v.At
	}
	outputs := map[string]bool{}
	for _, v := range graph.Outputs {
		outputs[v.Name] = true
	}
	initialized := graph.Initializers
	producer := map[string]int{}
	reads := map[string]int{}
	for i, n := range nodes {
		if n.Subgraph() {
			return data, b, nil, nil // its reads of outer values are not counted here
		}
		for _, o := range n.Outputs {
			if _, dup := producer[o]; dup {
				return data, b, nil, nil // not SSA: leave to ONNX Runtime
			}
			producer[o] = i
		}
		for _, in := range n.Inputs {
			reads[in]++
		}
	}
	fed := map[string]scoring.InputBinding{}
	for _, in := range b.Inputs {
		fed[in.Name] = in
	}
	// source is the graph input behind a Concat operand, through at most
	// one Cast to float that nothing else reads; "" if there is none.
	source := func(operand string) (string, int) {
		castAt := -1
		if ni, ok := producer[operand]; ok {
			c := nodes[ni]
			if !c.Is("", castOp) || c.other || len(c.Inputs) != 1 || len(c.Outputs) != 1 ||
				c.ints["to"] != onnxwire.Float || reads[operand] != 1 || outputs[operand] {
				return "", -1
			}
			castAt, operand = ni, c.Inputs[0]
		}
		in, ok := fed[operand]
		if _, isInput := inputAt[operand]; !ok || !isInput || initialized[operand] || outputs[operand] || reads[operand] != 1 ||
			in.Rank != 2 || (castAt < 0 && in.Elem != scoring.Float) {
			return "", -1
		}
		return operand, castAt
	}
	for _, n := range nodes {
		axis, hasAxis := n.ints["axis"]
		if !n.Is("", concatOp) || n.other || !hasAxis || (axis != 1 && axis != -1) ||
			len(n.Outputs) != 1 || len(n.Inputs) < 2 || outputs[n.Outputs[0]] {
			continue
		}
		if _, taken := inputAt[n.Outputs[0]]; taken {
			continue
		}
		drop := map[int]bool{n.At: true}
		var inputs, cols []string
		ok := true
		for _, operand := range n.Inputs {
			in, castAt := source(operand)
			if in == "" || slices.Contains(inputs, in) {
				ok = false
				break
			}
			if castAt >= 0 {
				drop[nodes[castAt].At] = true
			}
			inputs = append(inputs, in)
			cols = append(cols, fed[in].Columns...)
		}
		if !ok {
			continue
		}
		rw := &Concat{Input: n.Outputs[0], Inputs: inputs, Width: len(cols)}
		return rebuildConcat(model, graph, drop, inputAt, rw), bindConcat(b, rw, cols), rw, nil
	}
	return data, b, nil, nil
}

// rebuildConcat writes the model with the Concat and its Casts left out
// and the Concat's output declared where the first input it replaces was.
func rebuildConcat(model onnxwire.Model, graph onnxwire.Graph, drop map[int]bool,
	inputAt map[string]int, rw *Concat) []byte {
	replaced := map[int]bool{}
	for _, in := range rw.Inputs {
		replaced[inputAt[in]] = true
	}
	first := inputAt[rw.Inputs[0]]
	gone := map[int]bool{} // value_info of a value that is gone or now an input
	for _, v := range graph.ValueInfo {
		gone[v.At] = v.Name == rw.Input || slices.Contains(rw.Inputs, v.Name)
	}
	var g []byte
	for i, f := range graph.Fields {
		switch {
		case drop[i]:
		case i == first:
			g = onnxwire.AppendMessage(g, 11, onnxwire.ValueInfoProto(rw.Input, onnxwire.FloatMatrixType(int64(rw.Width))))
		case replaced[i], gone[i]:
		default:
			g = append(g, f.Raw...)
		}
	}
	return model.WithGraph(g)
}

// bindConcat is b with the replaced inputs made one float [N,F] input.
func bindConcat(b *scoring.Binding, rw *Concat, cols []string) *scoring.Binding {
	nb := *b
	nb.Inputs = nil
	for _, in := range b.Inputs {
		switch {
		case in.Name == rw.Inputs[0]:
			nb.Inputs = append(nb.Inputs, scoring.InputBinding{Name: rw.Input, Columns: cols, Elem: scoring.Float, Rank: 2})
		case slices.Contains(rw.Inputs, in.Name):
		default:
			nb.Inputs = append(nb.Inputs, in)
		}
	}
	return &nb
}
