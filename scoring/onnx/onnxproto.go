package onnx

// Small pieces of ONNX protobuf, read and written with protowire, for the
// in-memory rewrites (treeclassifier.go; zipmap.go has its own). Field
// numbers are onnx.proto's.

import (
	"encoding/binary"
	"math"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
)

// AttributeProto.AttributeType values.
const (
	attrInt    = 2
	attrTensor = 4
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

func nodeProto(name, op, domain string, inputs, outputs []string, attrs ...[]byte) []byte {
	var b []byte
	for _, in := range inputs {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, in)
	}
	for _, o := range outputs {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, o)
	}
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendString(b, name)
	b = protowire.AppendTag(b, 4, protowire.BytesType)
	b = protowire.AppendString(b, op)
	for _, a := range attrs {
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendBytes(b, a)
	}
	if domain != "" {
		b = protowire.AppendTag(b, 7, protowire.BytesType)
		b = protowire.AppendString(b, domain)
	}
	return b
}

func constantNode(name, output string, tensor []byte) []byte {
	var a []byte
	a = protowire.AppendTag(a, 1, protowire.BytesType)
	a = protowire.AppendString(a, "value")
	a = protowire.AppendTag(a, 5, protowire.BytesType)
	a = protowire.AppendBytes(a, tensor)
	a = protowire.AppendTag(a, 20, protowire.VarintType)
	a = protowire.AppendVarint(a, attrTensor)
	return nodeProto(name, "Constant", "", nil, []string{output}, a)
}

func intAttr(name string, v int64) []byte {
	var a []byte
	a = protowire.AppendTag(a, 1, protowire.BytesType)
	a = protowire.AppendString(a, name)
	a = protowire.AppendTag(a, 3, protowire.VarintType)
	a = protowire.AppendVarint(a, uint64(v))
	a = protowire.AppendTag(a, 20, protowire.VarintType)
	a = protowire.AppendVarint(a, attrInt)
	return a
}

// renameAttr is an AttributeProto with its name replaced and every other
// field kept.
func renameAttr(attr []byte, name string) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, name)
	_ = walkFields(attr, func(f wireField) error { // parsed without error before
		if f.num != 1 {
			b = append(b, f.raw...)
		}
		return nil
	})
	return b
}

// tensorProto is a tensor of type elem with raw little-endian data; dims
// nil is a scalar.
func tensorProto(elem uint64, dims []int64, raw []byte) []byte {
	var b []byte
	for _, d := range dims {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(d))
	}
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, elem)
	b = protowire.AppendTag(b, 9, protowire.BytesType)
	return protowire.AppendBytes(b, raw)
}

func float32Bytes(v float32) []byte {
	return binary.LittleEndian.AppendUint32(nil, math.Float32bits(v))
}
func int64Bytes(v int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(v)) }

// castTo is a Cast node's "to" attribute, 0 if it has none.
func castTo(nodeBytes []byte) (uint64, error) {
	to := uint64(0)
	err := walkFields(nodeBytes, func(f wireField) error {
		if f.num != 5 || f.typ != protowire.BytesType {
			return nil
		}
		name, v := "", uint64(0)
		err := walkFields(f.val, func(a wireField) error {
			switch {
			case a.num == 1 && a.typ == protowire.BytesType:
				name = string(a.val)
			case a.num == 3 && a.typ == protowire.VarintType:
				v = a.v
			}
			return nil
		})
		if name == "to" {
			to = v
		}
		return err
	})
	return to, err
}

// tensorName is a TensorProto's name.
func tensorName(b []byte) (string, error) {
	name := ""
	err := walkFields(b, func(f wireField) error {
		if f.num == 8 && f.typ == protowire.BytesType {
			name = string(f.val)
		}
		return nil
	})
	return name, err
}

// valueType is a ValueInfoProto's name and tensor element type (0 if it
// is not a tensor or does not say).
func valueType(b []byte) (string, uint64, error) {
	name, elem := "", uint64(0)
	err := walkFields(b, func(f wireField) error {
		switch {
		case f.num == 1 && f.typ == protowire.BytesType:
			name = string(f.val)
		case f.num == 2 && f.typ == protowire.BytesType:
			elem = 0
			return walkFields(f.val, func(t wireField) error { // TypeProto
				if t.num != 1 || t.typ != protowire.BytesType {
					return nil
				}
				return walkFields(t.val, func(tt wireField) error { // tensor_type
					if tt.num == 1 && tt.typ == protowire.VarintType {
						elem = tt.v
					}
					return nil
				})
			})
		}
		return nil
	})
	return name, elem, err
}

// floatMatrixType is a TypeProto: float tensor [N,c], N unknown.
func floatMatrixType(c int64) []byte {
	var shape []byte
	shape = protowire.AppendTag(shape, 1, protowire.BytesType) // dim N: unknown
	shape = protowire.AppendBytes(shape, nil)
	var dim []byte
	dim = protowire.AppendTag(dim, 1, protowire.VarintType) // dim_value
	dim = protowire.AppendVarint(dim, uint64(c))
	shape = protowire.AppendTag(shape, 1, protowire.BytesType)
	shape = protowire.AppendBytes(shape, dim)
	var tensor []byte
	tensor = protowire.AppendTag(tensor, 1, protowire.VarintType) // elem_type
	tensor = protowire.AppendVarint(tensor, onnxFloat)
	tensor = protowire.AppendTag(tensor, 2, protowire.BytesType) // shape
	tensor = protowire.AppendBytes(tensor, shape)
	var typ []byte
	typ = protowire.AppendTag(typ, 1, protowire.BytesType) // tensor_type
	return protowire.AppendBytes(typ, tensor)
}

// withGraph is a ModelProto's fields, verbatim, with field graphAt (its
// graph) replaced by g.
func withGraph(model []wireField, graphAt int, g []byte) []byte {
	size := len(g) + 16
	for _, f := range model {
		size += len(f.raw)
	}
	out := make([]byte, 0, size)
	for i, f := range model {
		if i == graphAt {
			out = protowire.AppendTag(out, 7, protowire.BytesType)
			out = protowire.AppendBytes(out, g)
			continue
		}
		out = append(out, f.raw...)
	}
	return out
}
