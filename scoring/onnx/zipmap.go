package onnx

// ZipMap without the cost.
//
// skl2onnx ends most classifiers in an ai.onnx.ml ZipMap node, which turns
// the [N,C] probability tensor into seq(map(int64,float)): one ONNX Runtime
// map per row, each then copied into Go. Scoring that output costs several
// times the tree ensemble itself. When a job reads its score from such an
// output, Open rewrites the model bytes in memory first: the ZipMap node
// becomes an Identity of its input, and the graph output keeps its name but
// is declared a float [N,C] tensor. The numbers are the ZipMap's own (it
// only repackages them); column j holds class classlabels_int64s[j], which
// the session hands back as Output.ClassKeys, so the job file's class (a
// map key) reads the same column as before.
//
// The model file, its hash, Inspect's signature and the binding are left
// as they are: only the bytes given to ONNX Runtime change.
//
// The ModelProto is walked with protowire, field by field; every field the
// rewrite does not touch is copied verbatim. Field numbers are onnx.proto's:
//
//	ModelProto:     opset_import 8 (OperatorSetIdProto: domain 1), graph 7
//	GraphProto:     node 1, output 12, value_info 13
//	NodeProto:      input 1, output 2, name 3, op_type 4, attribute 5, domain 7
//	AttributeProto: name 1, ints 8, strings 9, g 6, graphs 11
//	ValueInfoProto: name 1, type 2
//	TypeProto:      tensor_type 1 (elem_type 1, shape 2 (dim 1: dim_value 1))

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
)

// zipMapRewrite is one ZipMap output turned into a tensor.
type zipMapRewrite struct {
	Output string  // the graph output, ZipMap's output, name kept
	Input  string  // the probability tensor that fed the ZipMap
	Keys   []int64 // classlabels_int64s: column j holds class Keys[j]
}

func (r zipMapRewrite) String() string {
	return fmt.Sprintf("zipmap %s -> tensor float[N,%d] (from %s)", r.Output, len(r.Keys), r.Input)
}

const (
	onnxFloat  = 1 // TensorProto.FLOAT
	mlDomain   = "ai.onnx.ml"
	zipMapOp   = "ZipMap"
	identityOp = "Identity"
)

// wireField is one field of a message: its whole encoding and, for
// length-delimited fields, the payload.
type wireField struct {
	num protowire.Number
	typ protowire.Type
	raw []byte // tag and value, verbatim
	val []byte // payload of a BytesType field
	v   uint64 // value of a VarintType field
}

// walkFields calls fn with each field of a message, in order.
func walkFields(b []byte, fn func(wireField) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return protowire.ParseError(m)
		}
		f := wireField{num: num, typ: typ, raw: b[:n+m]}
		switch typ {
		case protowire.BytesType:
			f.val, _ = protowire.ConsumeBytes(b[n:])
		case protowire.VarintType:
			f.v, _ = protowire.ConsumeVarint(b[n:])
		}
		if err := fn(f); err != nil {
			return err
		}
		b = b[n+m:]
	}
	return nil
}

// parseFields splits a message into its fields, in order.
func parseFields(b []byte) ([]wireField, error) {
	var out []wireField
	err := walkFields(b, func(f wireField) error {
		out = append(out, f)
		return nil
	})
	return out, err
}

// node is what the rewrite needs of a NodeProto.
type node struct {
	inputs, outputs []string
	name            string
	opType, domain  string
	intLabels       []int64
	strLabels       int
	subgraph        bool // has a graph attribute, which may name outer values
}

func parseNode(b []byte) (node, error) {
	var n node
	err := walkFields(b, func(f wireField) error {
		if f.typ != protowire.BytesType {
			return nil
		}
		switch f.num {
		case 1:
			n.inputs = append(n.inputs, string(f.val))
		case 2:
			n.outputs = append(n.outputs, string(f.val))
		case 3:
			n.name = string(f.val)
		case 4:
			n.opType = string(f.val)
		case 7:
			n.domain = string(f.val)
		case 5:
			if err := n.parseAttribute(f.val); err != nil {
				return fmt.Errorf("node %q attribute: %w", n.name, err)
			}
		}
		return nil
	})
	return n, err
}

func (n *node) parseAttribute(b []byte) error {
	// Tree ensembles hold tens of thousands of ints in their attributes:
	// find the name first, and read the values of class labels only.
	var name string
	err := walkFields(b, func(f wireField) error {
		switch {
		case f.num == 1 && f.typ == protowire.BytesType:
			name = string(f.val)
		case f.num == 6 || f.num == 11:
			n.subgraph = true
		}
		return nil
	})
	if err != nil || (name != "classlabels_int64s" && name != "classlabels_strings") {
		return err
	}
	return walkFields(b, func(f wireField) error {
		switch {
		case f.num == 8 && f.typ == protowire.VarintType && name == "classlabels_int64s":
			n.intLabels = append(n.intLabels, int64(f.v))
		case f.num == 8 && f.typ == protowire.BytesType && name == "classlabels_int64s": // packed
			for p := f.val; len(p) > 0; {
				v, k := protowire.ConsumeVarint(p)
				if k < 0 {
					return protowire.ParseError(k)
				}
				n.intLabels = append(n.intLabels, int64(v))
				p = p[k:]
			}
		case f.num == 9 && f.typ == protowire.BytesType && name == "classlabels_strings":
			n.strLabels++
		}
		return nil
	})
}

// valueName is a ValueInfoProto's name.
func valueName(b []byte) (string, error) {
	fs, err := parseFields(b)
	if err != nil {
		return "", err
	}
	name := ""
	for _, f := range fs {
		if f.num == 1 && f.typ == protowire.BytesType {
			name = string(f.val)
		}
	}
	return name, nil
}

// rewriteZipMap turns those of outputs that are graph outputs made by an
// int64-keyed ZipMap into float [N,C] tensors. It returns data itself,
// byte for byte, when there is nothing to rewrite. ZipMaps with string
// labels, ZipMap outputs that other nodes read, graphs with subgraphs and
// models that do not import the default ONNX domain (for Identity) are
// left alone: they keep the sequence decoding. Bytes that are not a
// protobuf message give an error wrapping ErrModel.
func rewriteZipMap(data []byte, outputs []string) ([]byte, []zipMapRewrite, error) {
	if len(outputs) == 0 {
		return data, nil, nil
	}
	bad := func(err error) ([]byte, []zipMapRewrite, error) {
		return nil, nil, fmt.Errorf("%w: reading the ONNX protobuf: %v", ErrModel, err)
	}
	model, err := parseFields(data)
	if err != nil {
		return bad(err)
	}
	graphAt, defaultDomain := -1, false
	for i, f := range model {
		switch {
		case f.num == 7:
			if graphAt >= 0 || f.typ != protowire.BytesType {
				return data, nil, nil // merged or odd graphs: leave to ONNX Runtime
			}
			graphAt = i
		case f.num == 8 && f.typ == protowire.BytesType:
			fs, err := parseFields(f.val)
			if err != nil {
				return bad(err)
			}
			domain := ""
			for _, d := range fs {
				if d.num == 1 && d.typ == protowire.BytesType {
					domain = string(d.val)
				}
			}
			if domain == "" || domain == "ai.onnx" {
				defaultDomain = true
			}
		}
	}
	if graphAt < 0 {
		return data, nil, nil
	}
	graph, err := parseFields(model[graphAt].val)
	if err != nil {
		return bad(err)
	}
	nodes := map[int]node{}
	outputAt := map[string]int{}
	for i, f := range graph {
		if f.typ != protowire.BytesType {
			continue
		}
		switch f.num {
		case 1:
			n, err := parseNode(f.val)
			if err != nil {
				return bad(err)
			}
			nodes[i] = n
		case 12:
			name, err := valueName(f.val)
			if err != nil {
				return bad(err)
			}
			if _, dup := outputAt[name]; !dup {
				outputAt[name] = i
			}
		case 13:
			if _, err := valueName(f.val); err != nil {
				return bad(err)
			}
		}
	}
	if !defaultDomain {
		return data, nil, nil
	}
	producer := map[string]int{} // value name -> graph field index of its node
	read := map[string]bool{}    // values some node reads
	for i, n := range nodes {
		if n.subgraph {
			return data, nil, nil
		}
		for _, o := range n.outputs {
			if _, dup := producer[o]; dup {
				return data, nil, nil // not SSA: leave to ONNX Runtime
			}
			producer[o] = i
		}
		for _, in := range n.inputs {
			read[in] = true
		}
	}

	newNodes := map[int][]byte{}   // graph field index -> replacement NodeProto
	newOutputs := map[int][]byte{} // graph field index -> replacement ValueInfoProto
	rewritten := map[string]bool{}
	var rewrites []zipMapRewrite
	for _, out := range outputs {
		oi, ok := outputAt[out]
		ni, made := producer[out]
		if !ok || !made || rewritten[out] || read[out] {
			continue
		}
		n := nodes[ni]
		if n.opType != zipMapOp || n.domain != mlDomain || len(n.inputs) != 1 || len(n.outputs) != 1 ||
			n.inputs[0] == "" || n.strLabels > 0 || len(n.intLabels) == 0 || hasDuplicates(n.intLabels) {
			continue
		}
		newNodes[ni] = identityNode(n)
		newOutputs[oi] = tensorOutput(graph[oi].val, int64(len(n.intLabels)))
		rewritten[out] = true
		rewrites = append(rewrites, zipMapRewrite{Output: out, Input: n.inputs[0], Keys: slices.Clone(n.intLabels)})
	}
	if len(rewrites) == 0 {
		return data, nil, nil
	}

	var g []byte
	for i, f := range graph {
		switch {
		case newNodes[i] != nil:
			g = protowire.AppendTag(g, 1, protowire.BytesType)
			g = protowire.AppendBytes(g, newNodes[i])
		case newOutputs[i] != nil:
			g = protowire.AppendTag(g, 12, protowire.BytesType)
			g = protowire.AppendBytes(g, newOutputs[i])
		case f.num == 13 && f.typ == protowire.BytesType:
			// A value_info for a rewritten output would still say sequence.
			if name, _ := valueName(f.val); rewritten[name] {
				continue
			}
			g = append(g, f.raw...)
		default:
			g = append(g, f.raw...)
		}
	}
	return withGraph(model, graphAt, g), rewrites, nil
}

func hasDuplicates(v []int64) bool {
	s := slices.Clone(v)
	slices.Sort(s)
	return len(slices.Compact(s)) != len(v)
}

// identityNode replaces a ZipMap: same name, same input and output.
func identityNode(n node) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, n.inputs[0])
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendString(b, n.outputs[0])
	if n.name != "" {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendString(b, n.name)
	}
	b = protowire.AppendTag(b, 4, protowire.BytesType)
	b = protowire.AppendString(b, identityOp)
	return b
}

// tensorOutput is a ValueInfoProto with its type replaced by float [N,c];
// its name and other fields are kept.
func tensorOutput(valueInfo []byte, c int64) []byte {
	typ := floatMatrixType(c)
	fs, _ := parseFields(valueInfo) // parsed without error before
	var b []byte
	typed := false
	for _, f := range fs {
		if f.num == 2 {
			if !typed {
				b = protowire.AppendTag(b, 2, protowire.BytesType)
				b = protowire.AppendBytes(b, typ)
				typed = true
			}
			continue
		}
		b = append(b, f.raw...)
	}
	if !typed {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, typ)
	}
	return b
}
