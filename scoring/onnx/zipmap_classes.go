package onnx

import (
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
)

// ZipMapClasses returns the integer class labels (the map keys) of the
// ai.onnx.ml ZipMap node that produces output, so that a job's class can be
// checked when the model loads rather than after reading data. ok is false
// when output is not made by such a node (string labels, subgraphs, bytes
// that do not parse): the keys are then checked on the first chunk.
func (m *Model) ZipMapClasses(output string) (keys []int64, ok bool) {
	model, err := parseFields(m.data)
	if err != nil {
		return nil, false
	}
	for _, f := range model {
		if f.num != 7 || f.typ != protowire.BytesType {
			continue
		}
		graph, err := parseFields(f.val)
		if err != nil {
			return nil, false
		}
		for _, g := range graph {
			if g.num != 1 || g.typ != protowire.BytesType {
				continue
			}
			n, err := parseNode(g.val)
			if err != nil || !slices.Contains(n.outputs, output) {
				continue
			}
			if n.opType != zipMapOp || n.domain != mlDomain || n.strLabels > 0 || len(n.intLabels) == 0 {
				return nil, false
			}
			return slices.Clone(n.intLabels), true
		}
	}
	return nil, false
}
