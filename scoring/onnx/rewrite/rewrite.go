// Package rewrite changes an ONNX model's bytes, in memory, into a graph
// that ONNX Runtime scores faster and with the same numbers: a ZipMap
// output becomes a tensor (ZipMapOutputs), a Concat of per-column graph
// inputs becomes one input (ConcatInputs), and a binary tree classifier
// becomes a regressor and a few standard operators (TreeClassifiers).
//
// Each rewrite returns its input itself, byte for byte, when there is
// nothing to rewrite, copies every field it does not change verbatim, and
// describes what it changed (the String of its result), which the session
// reports as Session.Rewrites. None changes the model file, its hash or
// its signature. Bytes that are not an ONNX protobuf give an error wrapping
// onnxwire.ErrMalformed; a graph a rewrite cannot prove safe is left alone.
// The functions are pure and safe to call concurrently.
package rewrite

import (
	"strconv"
	"strings"
)

// freshNames hands out names not used in the graph yet.
type freshNames struct{ taken map[string]bool }

func (f *freshNames) get(want string) string {
	name := want
	for i := 2; f.taken[name]; i++ {
		name = want + "_" + strconv.Itoa(i)
	}
	f.taken[name] = true
	return name
}

func abbreviate(names []string) string {
	if len(names) <= 3 {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:2], ", ") + ", …, " + names[len(names)-1]
}

func orNone(s string) string {
	if s == "" {
		return "(unused)"
	}
	return s
}
