// Package scoring binds Arrow columns to model inputs, decodes model outputs
// into scores and runs a pool of workers over a stream of chunks. It does not
// import ONNX Runtime: scoring/onnx implements Session.
package scoring

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrSignature marks a model whose inputs or outputs do not match the
	// job file. Retrying does not help: fix the job file or the model.
	ErrSignature = errors.New("model signature mismatch")
	// ErrBadInput marks data the model cannot take: a missing column, a
	// column of the wrong type, a null.
	ErrBadInput = errors.New("bad input data")
)

// Element types, named as ONNX names them.
const (
	Float  = "float"
	Double = "double"
	Int64  = "int64"
	Int32  = "int32"
	String = "string"
	Bool   = "bool"
)

// Kinds of ports.
const (
	KindTensor   = "tensor"
	KindSequence = "sequence"
	KindMap      = "map"
)

// Port is one model input or output.
type Port struct {
	Name string `json:"name"`
	// Kind is tensor, sequence or map.
	Kind string `json:"kind"`
	// Elem is the tensor element type (tensors only).
	Elem string `json:"elem_type,omitempty"`
	// Shape has -1 for a dimension the model leaves free (tensors only).
	Shape []int64 `json:"shape,omitempty"`
}

func (p Port) String() string {
	if p.Kind != KindTensor {
		return fmt.Sprintf("%s: %s", p.Name, p.Kind)
	}
	dims := make([]string, len(p.Shape))
	for i, d := range p.Shape {
		if d < 0 {
			dims[i] = "N"
		} else {
			dims[i] = fmt.Sprint(d)
		}
	}
	return fmt.Sprintf("%s: %s[%s]", p.Name, p.Elem, strings.Join(dims, ","))
}

// Signature lists a model's inputs and outputs in the model's order.
type Signature struct {
	Inputs  []Port `json:"inputs"`
	Outputs []Port `json:"outputs"`
}

func findPort(ports []Port, name string) (Port, bool) {
	for _, p := range ports {
		if p.Name == name {
			return p, true
		}
	}
	return Port{}, false
}

func portNames(ports []Port) []string {
	names := make([]string, len(ports))
	for i, p := range ports {
		names[i] = p.Name
	}
	return names
}

// Tensor is one input, row-major. Exactly one of the slices is set.
type Tensor struct {
	Shape   []int64
	Float32 []float32
	Float64 []float64
	Int64   []int64
	Int32   []int32
}

// Output is one decoded model output. Values are row-major; a ZipMap
// output arrives as an [N,C] Float32 with ClassKeys naming its columns.
type Output struct {
	Float32   []float32
	Float64   []float64
	Int64     []int64
	Strings   []string
	ClassKeys []int64
}

// Session runs a loaded model. Run may be called from many goroutines at
// once; it returns one Output per requested output name, in that order.
// Close releases the model and must be called once, after every Run ended.
type Session interface {
	Run(ctx context.Context, inputs []Tensor) ([]Output, error)
	Close() error
}
