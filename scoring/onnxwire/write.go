package onnxwire

import (
	"encoding/binary"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// AppendMessage appends field num holding message (or bytes) m.
func AppendMessage(b []byte, num protowire.Number, m []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

// AppendString appends field num holding s.
func AppendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// AppendVarint appends field num holding v.
func AppendVarint(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// NodeProto encodes a node: inputs, outputs, name (when not empty),
// op_type, attributes (AttributeProtos) and domain (when not empty).
func NodeProto(name, op, domain string, inputs, outputs []string, attrs ...[]byte) []byte {
	var b []byte
	for _, in := range inputs {
		b = AppendString(b, 1, in)
	}
	for _, o := range outputs {
		b = AppendString(b, 2, o)
	}
	if name != "" {
		b = AppendString(b, 3, name)
	}
	b = AppendString(b, 4, op)
	for _, a := range attrs {
		b = AppendMessage(b, 5, a)
	}
	if domain != "" {
		b = AppendString(b, 7, domain)
	}
	return b
}

// IntAttr is an AttributeProto of type INT.
func IntAttr(name string, v int64) []byte {
	a := AppendString(nil, 1, name)
	a = AppendVarint(a, 3, uint64(v))
	return AppendVarint(a, 20, AttrInt)
}

// TensorAttr is an AttributeProto of type TENSOR.
func TensorAttr(name string, tensor []byte) []byte {
	a := AppendString(nil, 1, name)
	a = AppendMessage(a, 5, tensor)
	return AppendVarint(a, 20, AttrTensor)
}

// ConstantNode is a Constant node that outputs tensor.
func ConstantNode(name, output string, tensor []byte) []byte {
	return NodeProto(name, "Constant", "", nil, []string{output}, TensorAttr("value", tensor))
}

// TensorProto is a tensor of type elem with raw little-endian data; dims
// nil is a scalar.
func TensorProto(elem uint64, dims []int64, raw []byte) []byte {
	var b []byte
	for _, d := range dims {
		b = AppendVarint(b, 1, uint64(d))
	}
	b = AppendVarint(b, 2, elem)
	return AppendMessage(b, 9, raw)
}

// Float32Bytes is v little-endian.
func Float32Bytes(v float32) []byte {
	return binary.LittleEndian.AppendUint32(nil, math.Float32bits(v))
}

// Int64Bytes is v little-endian.
func Int64Bytes(v int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(v)) }

// FloatMatrixType is a TypeProto: float tensor [N,c], N unknown.
func FloatMatrixType(c int64) []byte {
	shape := AppendMessage(nil, 1, nil)                              // dim N: unknown
	shape = AppendMessage(shape, 1, AppendVarint(nil, 1, uint64(c))) // dim_value c
	tensor := AppendVarint(nil, 1, Float)                            // elem_type
	tensor = AppendMessage(tensor, 2, shape)
	return AppendMessage(nil, 1, tensor) // tensor_type
}

// ValueInfoProto encodes a value's name and TypeProto.
func ValueInfoProto(name string, typ []byte) []byte {
	return AppendMessage(AppendString(nil, 1, name), 2, typ)
}

// WithType is a ValueInfoProto with its type replaced by typ (at the
// first type field, or at the end without one); its name and other fields
// are kept.
func (v ValueInfo) WithType(typ []byte) []byte {
	var b []byte
	typed := false
	_ = Walk(v.Raw, func(f Field) error { // parsed without error before
		if f.Num != 2 {
			b = append(b, f.Raw...)
		} else if !typed {
			b = AppendMessage(b, 2, typ)
			typed = true
		}
		return nil
	})
	if !typed {
		b = AppendMessage(b, 2, typ)
	}
	return b
}
