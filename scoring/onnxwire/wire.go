// Package onnxwire reads and writes the parts of the ONNX protobuf that
// batchscore's native engines and graph rewrites need, with protowire and
// without generated code.
//
// Reading keeps every field's encoding (Field.Raw), so that a rewrite can
// copy what it does not change verbatim and the bytes given to ONNX Runtime
// differ from the file only where a rewrite says. Field numbers are
// onnx.proto's:
//
//	ModelProto:        graph 7, opset_import 8 (OperatorSetIdProto: domain 1, version 2)
//	GraphProto:        node 1, initializer 5, input 11, output 12, value_info 13,
//	                   sparse_initializer 15 (SparseTensorProto: values 1)
//	NodeProto:         input 1, output 2, name 3, op_type 4, attribute 5, domain 7
//	AttributeProto:    name 1, f 2, i 3, s 4, t 5, g 6, floats 7, ints 8, strings 9,
//	                   tensors 10, graphs 11, doc_string 13, type 20, ref_attr_name 21
//	TensorProto:       dims 1, data_type 2, float_data 4, name 8, raw_data 9,
//	                   doc_string 12, external_data 13, data_location 14
//	ValueInfoProto:    name 1, type 2 (TypeProto: tensor_type 1 (elem_type 1, shape 2))
//	TensorShapeProto:  dim 1 (dim_value 1, dim_param 2)
//
// Errors: bytes that are not protobuf, or fields whose encoding
// contradicts itself (packed floats of an odd length), wrap ErrMalformed;
// well-formed values this package does not decode (Attribute.Check,
// TensorFloats) wrap ErrUnsupported.
package onnxwire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

var (
	// ErrMalformed marks bytes that are not a well-formed ONNX protobuf.
	ErrMalformed = errors.New("not a readable ONNX protobuf")
	// ErrUnsupported marks a well-formed encoding this package does not
	// decode.
	ErrUnsupported = errors.New("ONNX encoding not decoded")
)

// Field is one field of a message.
type Field struct {
	Num protowire.Number
	Typ protowire.Type
	Raw []byte // tag and value, verbatim
	Val []byte // payload of a BytesType field
	V   uint64 // value of a VarintType, Fixed32Type or Fixed64Type field
}

// Walk calls fn with each field of message b, in order, and stops at fn's
// first error.
func Walk(b []byte, fn func(Field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return malformed(protowire.ParseError(n))
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return malformed(protowire.ParseError(m))
		}
		f := Field{Num: num, Typ: typ, Raw: b[:n+m]}
		switch typ {
		case protowire.BytesType:
			f.Val, _ = protowire.ConsumeBytes(b[n:])
		case protowire.VarintType:
			f.V, _ = protowire.ConsumeVarint(b[n:])
		case protowire.Fixed32Type:
			v, _ := protowire.ConsumeFixed32(b[n:])
			f.V = uint64(v)
		case protowire.Fixed64Type:
			f.V, _ = protowire.ConsumeFixed64(b[n:])
		}
		if err := fn(f); err != nil {
			return err
		}
		b = b[n+m:]
	}
	return nil
}

// Fields splits message b into its fields, in order.
func Fields(b []byte) ([]Field, error) {
	var out []Field
	err := Walk(b, func(f Field) error {
		out = append(out, f)
		return nil
	})
	return out, err
}

func malformed(err error) error { return fmt.Errorf("%w: %v", ErrMalformed, err) }

// Bytes is the payload of the last BytesType field num of message b, and
// whether there is one.
func Bytes(b []byte, num protowire.Number) ([]byte, bool, error) {
	var val []byte
	found := false
	err := Walk(b, func(f Field) error {
		if f.Num == num && f.Typ == protowire.BytesType {
			val, found = f.Val, true
		}
		return nil
	})
	return val, found, err
}

// AppendInt64s appends the int64 values of a repeated int64 field: one
// value (varint) or a packed run (bytes). Other wire types are ignored.
func AppendInt64s(dst []int64, f Field) ([]int64, error) {
	switch f.Typ {
	case protowire.VarintType:
		return append(dst, int64(f.V)), nil
	case protowire.BytesType:
		for p := f.Val; len(p) > 0; {
			v, n := protowire.ConsumeVarint(p)
			if n < 0 {
				return dst, malformed(protowire.ParseError(n))
			}
			dst = append(dst, int64(v))
			p = p[n:]
		}
	}
	return dst, nil
}

// AppendFloats appends the float values of a repeated float field: one
// value (fixed32) or a packed run (bytes, a multiple of 4). Other wire
// types are ignored.
func AppendFloats(dst []float32, f Field) ([]float32, error) {
	switch f.Typ {
	case protowire.Fixed32Type:
		return append(dst, math.Float32frombits(uint32(f.V))), nil
	case protowire.BytesType:
		return appendRawFloats(dst, f.Val, "packed floats")
	}
	return dst, nil
}

// appendRawFloats appends little-endian float32s.
func appendRawFloats(dst []float32, b []byte, what string) ([]float32, error) {
	if len(b)%4 != 0 {
		return dst, fmt.Errorf("%w: %s of %d bytes", ErrMalformed, what, len(b))
	}
	for ; len(b) > 0; b = b[4:] {
		dst = append(dst, math.Float32frombits(binary.LittleEndian.Uint32(b)))
	}
	return dst, nil
}
