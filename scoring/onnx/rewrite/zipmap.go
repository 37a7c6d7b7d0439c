package rewrite

// ZipMap without the cost.
//
// skl2onnx ends most classifiers in an ai.onnx.ml ZipMap node, which turns
// the [N,C] probability tensor into seq(map(int64,float)): one ONNX Runtime
// map per row, each then copied into Go. Scoring that output costs several
// times the tree ensemble itself. When a job reads its score from such an
// output, the session rewrites the model bytes in memory first: the ZipMap
// node becomes an Identity of its input, and the graph output keeps its
// name but is declared a float [N,C] tensor. The numbers are the ZipMap's
// own (it only repackages them); column j holds class
// classlabels_int64s[j], which the session hands back as
// Output.ClassKeys, so the job file's class (a map key) reads the same
// column as before.

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/batchscore/batchscore/scoring/onnxwire"
)

// ZipMap is one ZipMap output turned into a tensor.
type ZipMap struct {
	Output string  // the graph output, ZipMap's output, name kept
	Input  string  // the probability tensor that fed the ZipMap
	Keys   []int64 // classlabels_int64s: column j holds class Keys[j]
}

func (r ZipMap) String() string {
	return fmt.Sprintf("zipmap %s -> tensor float[N,%d] (from %s)", r.Output, len(r.Keys), r.Input)
}

const (
	zipMapOp   = "ZipMap"
	identityOp = "Identity"
)

// zipMapNode is a node with its ZipMap class labels read.
type zipMapNode struct {
	onnxwire.Node
	intLabels []int64 // classlabels_int64s
	strLabels int     // how many classlabels_strings
}

func readZipMapNode(n onnxwire.Node) (zipMapNode, error) {
	z := zipMapNode{Node: n}
	for _, a := range n.Attrs {
		switch a.Name {
		case "classlabels_int64s":
			v, err := a.Ints()
			if err != nil {
				return z, fmt.Errorf("node %q attribute: %w", n.Name, err)
			}
			z.intLabels = append(z.intLabels, v...)
		case "classlabels_strings":
			z.strLabels += len(a.Strings())
		}
	}
	return z, nil
}

// int64ZipMap says whether the node is a ZipMap this package rewrites:
// one input, one output, distinct int64 class labels.
func (z zipMapNode) int64ZipMap() bool {
	return z.Op == zipMapOp && z.Domain == onnxwire.MLDomain && len(z.Inputs) == 1 && len(z.Outputs) == 1 &&
		z.Inputs[0] != "" && z.strLabels == 0 && len(z.intLabels) > 0 && !hasDuplicates(z.intLabels)
}

// ZipMapOutputs turns those of outputs that are graph outputs made by an
// int64-keyed ZipMap into float [N,C] tensors. ZipMaps with string labels,
// ZipMap outputs that other nodes read, graphs with subgraphs and models
// that do not import the default ONNX domain (for Identity) are left
// alone: they keep the sequence decoding.
func ZipMapOutputs(data []byte, outputs []string) ([]byte, []ZipMap, error) {
	if len(outputs) == 0 {
		return data, nil, nil
	}
	model, err := onnxwire.ReadModel(data)
	if err != nil {
		return nil, nil, err
	}
	if model.Graph < 0 {
		return data, nil, nil // merged or odd graphs: leave to ONNX Runtime
	}
	graph, err := onnxwire.ReadGraph(model.GraphBytes())
	if err != nil {
		return nil, nil, err
	}
	nodes := make([]zipMapNode, len(graph.Nodes))
	for i, n := range graph.Nodes {
		if nodes[i], err = readZipMapNode(n); err != nil {
			return nil, nil, err
		}
	}
	outputAt := map[string]onnxwire.ValueInfo{}
	for _, o := range graph.Outputs {
		if _, dup := outputAt[o.Name]; !dup {
			outputAt[o.Name] = o
		}
	}
	if !model.Imports("") {
		return data, nil, nil
	}
	producer := map[string]int{} // value name -> index in nodes
	read := map[string]bool{}    // values some node reads
	for i, n := range nodes {
		if n.Subgraph() {
			return data, nil, nil
		}
		for _, o := range n.Outputs {
			if _, dup := producer[o]; dup {
				return data, nil, nil // not SSA: leave to ONNX Runtime
			}
			producer[o] = i
		}
		for _, in := range n.Inputs {
			read[in] = true
		}
	}

	newNodes := map[int][]byte{}   // graph field index -> replacement NodeProto
	newOutputs := map[int][]byte{} // graph field index -> replacement ValueInfoProto
	rewritten := map[string]bool{}
	var rewrites []ZipMap
	for _, out := range outputs {
		o, ok := outputAt[out]
		ni, made := producer[out]
		if !ok || !made || rewritten[out] || read[out] || !nodes[ni].int64ZipMap() {
			continue
		}
		n := nodes[ni]
		newNodes[n.At] = onnxwire.NodeProto(n.Name, identityOp, "", n.Inputs, n.Outputs)
		newOutputs[o.At] = o.WithType(onnxwire.FloatMatrixType(int64(len(n.intLabels))))
		rewritten[out] = true
		rewrites = append(rewrites, ZipMap{Output: out, Input: n.Inputs[0], Keys: slices.Clone(n.intLabels)})
	}
	if len(rewrites) == 0 {
		return data, nil, nil
	}
	valueInfoAt := map[int]string{}
	for _, v := range graph.ValueInfo {
		valueInfoAt[v.At] = v.Name
	}
	var g []byte
	for i, f := range graph.Fields {
		switch {
		case newNodes[i] != nil:
			g = onnxwire.AppendMessage(g, 1, newNodes[i])
		case newOutputs[i] != nil:
			g = onnxwire.AppendMessage(g, 12, newOutputs[i])
		case rewritten[valueInfoAt[i]] && f.Num == 13:
			// A value_info for a rewritten output would still say sequence.
		default:
			g = append(g, f.Raw...)
		}
	}
	return model.WithGraph(g), rewrites, nil
}

func hasDuplicates(v []int64) bool {
	s := slices.Clone(v)
	slices.Sort(s)
	return len(slices.Compact(s)) != len(v)
}

// ZipMapKeys returns the integer class labels (the map keys) of the
// ai.onnx.ml ZipMap node that produces output. ok is false when output is
// not made by such a node (string labels, bytes that do not parse).
func ZipMapKeys(data []byte, output string) (keys []int64, ok bool) {
	model, err := onnxwire.Fields(data)
	if err != nil {
		return nil, false
	}
	for _, f := range model {
		if f.Num != 7 || f.Typ != protowire.BytesType {
			continue
		}
		graph, err := onnxwire.Fields(f.Val)
		if err != nil {
			return nil, false
		}
		for _, g := range graph {
			if g.Num != 1 || g.Typ != protowire.BytesType {
				continue
			}
			n, err := onnxwire.ParseNode(g.Val)
			if err != nil || !slices.Contains(n.Outputs, output) {
				continue
			}
			z, err := readZipMapNode(n)
			if err != nil {
				continue
			}
			if z.Op != zipMapOp || z.Domain != onnxwire.MLDomain || z.strLabels > 0 || len(z.intLabels) == 0 {
				return nil, false
			}
			return slices.Clone(z.intLabels), true
		}
	}
	return nil, false
}
