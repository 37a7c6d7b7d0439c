package onnx

import "github.com/batchscore/batchscore/scoring/onnx/rewrite"

// ZipMapClasses returns the integer class labels (the map keys) of the
// ai.onnx.ml ZipMap node that produces output, so that a job's class can be
// checked when the model loads rather than after reading data. ok is false
// when output is not made by such a node (string labels, subgraphs, bytes
// that do not parse): the keys are then checked on the first chunk.
func (m *Model) ZipMapClasses(output string) (keys []int64, ok bool) {
	return rewrite.ZipMapKeys(m.data, output)
}
