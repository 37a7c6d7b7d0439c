package onnx

// One input instead of one per column.
//
// skl2onnx exports a model trained on a DataFrame with one graph input per
// column, each [N,1], Cast to float where it is not float already, and one
// Concat (axis 1) that makes the [N,F] matrix the model reads. Fed that
// way, ONNX Runtime gets F tensors a chunk, casts and copies them into the
// matrix, and only then computes: for a logistic model that is most of its
// time. When every operand of such a Concat is a graph input the job feeds
// (directly, or through a Cast to float read by nothing else), Open
// rewrites the model bytes in memory so that the Concat's output is the
// graph input, float [N,F], and the session's binding fills it from the
// same columns in the Concat's order. The numbers are the same: a Cast to
// float of an integer, a double or a bool rounds as Go's float32
// conversion does, and Concat only copies.
//
// The model file, its hash, Inspect's signature and the job's binding are
// left as they are: the job still names the model's own inputs, and its
// column types are checked against them.
//
//	GraphProto: node 1, initializer 5, input 11, output 12, value_info 13
//	NodeProto:  input 1, output 2, op_type 4, attribute 5, domain 7
//	AttributeProto: name 1, i 3

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/batchscore/batchscore/scoring"
)

// concatRewrite is one Concat of graph inputs turned into a graph input.
type concatRewrite struct {
	Input  string   // the Concat's output, now a graph input
	Inputs []string // the graph inputs it replaced, in order
	Width  int
}

func (r concatRewrite) String() string {
	return fmt.Sprintf("concat of %d inputs (%s) -> input %s float[N,%d]", len(r.Inputs), abbreviate(r.Inputs), r.Input, r.Width)
}

func abbreviate(names []string) string {
	if len(names) <= 3 {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:2], ", ") + ", …, " + names[len(names)-1]
}

const (
	castOp   = "Cast"
	concatOp = "Concat"
)

// concatNode is what the rewrite needs of a NodeProto.
type concatNode struct {
	inputs, outputs []string
	opType, domain  string
	ints            map[string]int64 // int attributes
	other           bool             // an attribute of another kind
	subgraph        bool             // a graph attribute, which may read outer values
}

func parseConcatNode(b []byte) (concatNode, error) {
	n := concatNode{ints: map[string]int64{}}
	err := walkFields(b, func(f wireField) error {
		if f.typ != protowire.BytesType {
			return nil
		}
		switch f.num {
		case 1:
			n.inputs = append(n.inputs, string(f.val))
		case 2:
			n.outputs = append(n.outputs, string(f.val))
		case 4:
			n.opType = string(f.val)
		case 7:
			n.domain = string(f.val)
		case 5:
			return n.parseAttribute(f.val)
		}
		return nil
	})
	return n, err
}

func (n *concatNode) parseAttribute(b []byte) error {
	var name string
	var i int64
	hasInt := false
	err := walkFields(b, func(f wireField) error {
		switch {
		case f.num == 1 && f.typ == protowire.BytesType:
			name = string(f.val)
		case f.num == 3 && f.typ == protowire.VarintType:
			i, hasInt = int64(f.v), true
		case f.num == 6 || f.num == 11:
			n.subgraph = true
		}
		return nil
	})
	if hasInt {
		n.ints[name] = i
	} else {
		n.other = true
	}
	return err
}

func (n concatNode) defaultDomain() bool { return n.domain == "" || n.domain == "ai.onnx" }

// rewriteConcat finds a Concat whose operands are all fed graph inputs and
// makes its output the graph input instead. It returns data and b as they
// are, and no rewrite, when there is none; bytes that are not a protobuf
// message give an error wrapping ErrModel.
func rewriteConcat(data []byte, b *scoring.Binding) ([]byte, *scoring.Binding, *concatRewrite, error) {
	bad := func(err error) ([]byte, *scoring.Binding, *concatRewrite, error) {
		return nil, nil, nil, fmt.Errorf("%w: reading the ONNX protobuf: %v", ErrModel, err)
	}
	model, err := parseFields(data)
	if err != nil {
		return bad(err)
	}
	graphAt := -1
	for i, f := range model {
		if f.num == 7 {
			if graphAt >= 0 || f.typ != protowire.BytesType {
				return data, b, nil, nil
			}
			graphAt = i
		}
	}
	if graphAt < 0 {
		return data, b, nil, nil
	}
	graph, err := parseFields(model[graphAt].val)
	if err != nil {
		return bad(err)
	}
	nodes := map[int]concatNode{}
	inputAt := map[string]int{} // graph input name -> field index
	initialized := map[string]bool{}
	outputs := map[string]bool{}
	for i, f := range graph {
		if f.typ != protowire.BytesType {
			continue
		}
		switch f.num {
		case 1:
			n, err := parseConcatNode(f.val)
			if err != nil {
				return bad(err)
			}
			nodes[i] = n
		case 5:
			name, err := tensorName(f.val)
			if err != nil {
				return bad(err)
			}
			initialized[name] = true
		case 11, 12:
			name, err := valueName(f.val)
			if err != nil {
				return bad(err)
			}
			if f.num == 11 {
				inputAt[name] = i
			} else {
				outputs[name] = true
			}
		}
	}
	order := slices.Sorted(maps.Keys(nodes)) // graph order: the first Concat that qualifies, every time
	producer := map[string]int{}
	reads := map[string]int{}
	for _, i := range order {
		n := nodes[i]
		if n.subgraph {
			return data, b, nil, nil // its reads of outer values are not counted here
		}
		for _, o := range n.outputs {
			if _, dup := producer[o]; dup {
				return data, b, nil, nil // not SSA: leave to ONNX Runtime
			}
			producer[o] = i
		}
		for _, in := range n.inputs {
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
			if c.opType != castOp || !c.defaultDomain() || c.other || len(c.inputs) != 1 || len(c.outputs) != 1 ||
				c.ints["to"] != onnxFloat || reads[operand] != 1 || outputs[operand] {
				return "", -1
			}
			castAt, operand = ni, c.inputs[0]
		}
		in, ok := fed[operand]
		if _, isInput := inputAt[operand]; !ok || !isInput || initialized[operand] || outputs[operand] || reads[operand] != 1 ||
			in.Rank != 2 || (castAt < 0 && in.Elem != scoring.Float) {
			return "", -1
		}
		return operand, castAt
	}
	for _, ci := range order {
		n := nodes[ci]
		axis, hasAxis := n.ints["axis"]
		if n.opType != concatOp || !n.defaultDomain() || n.other || !hasAxis || (axis != 1 && axis != -1) ||
			len(n.outputs) != 1 || len(n.inputs) < 2 || outputs[n.outputs[0]] {
			continue
		}
		if _, taken := inputAt[n.outputs[0]]; taken {
			continue
		}
		drop := map[int]bool{ci: true}
		var inputs, cols []string
		ok := true
		for _, operand := range n.inputs {
			in, castAt := source(operand)
			if in == "" || slices.Contains(inputs, in) {
				ok = false
				break
			}
			if castAt >= 0 {
				drop[castAt] = true
			}
			inputs = append(inputs, in)
			cols = append(cols, fed[in].Columns...)
		}
		if !ok {
			continue
		}
		rw := &concatRewrite{Input: n.outputs[0], Inputs: inputs, Width: len(cols)}
		return rebuildConcat(model, graphAt, graph, drop, inputAt, rw), bindConcat(b, rw, cols), rw, nil
	}
	return data, b, nil, nil
}

// rebuildConcat writes the model with the Concat and its Casts left out
// and the Concat's output declared where the first input it replaces was.
func rebuildConcat(model []wireField, graphAt int, graph []wireField, drop map[int]bool,
	inputAt map[string]int, rw *concatRewrite) []byte {
	replaced := map[int]bool{}
	for _, in := range rw.Inputs {
		replaced[inputAt[in]] = true
	}
	first := inputAt[rw.Inputs[0]]
	var g []byte
	for i, f := range graph {
		switch {
		case drop[i]:
		case i == first:
			g = protowire.AppendTag(g, 11, protowire.BytesType)
			g = protowire.AppendBytes(g, floatInput(rw.Input, rw.Width))
		case replaced[i]:
		case f.num == 13 && f.typ == protowire.BytesType:
			// value_info of a value that is gone or now an input
			if name, _ := valueName(f.val); name == rw.Input || slices.Contains(rw.Inputs, name) {
				continue
			}
			g = append(g, f.raw...)
		default:
			g = append(g, f.raw...)
		}
	}
	return withGraph(model, graphAt, g)
}

// bindConcat is b with the replaced inputs made one float [N,F] input.
func bindConcat(b *scoring.Binding, rw *concatRewrite, cols []string) *scoring.Binding {
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

// floatInput is a ValueInfoProto: name, float [N,width].
func floatInput(name string, width int) []byte {
	var v []byte
	v = protowire.AppendTag(v, 1, protowire.BytesType)
	v = protowire.AppendString(v, name)
	v = protowire.AppendTag(v, 2, protowire.BytesType)
	v = protowire.AppendBytes(v, floatMatrixType(int64(width)))
	return v
}
