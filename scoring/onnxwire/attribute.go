package onnxwire

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// AttributeProto.AttributeType values.
const (
	AttrFloat   = 1
	AttrInt     = 2
	AttrString  = 3
	AttrTensor  = 4
	AttrFloats  = 6
	AttrInts    = 7
	AttrStrings = 8
)

// Attribute is an AttributeProto: its name and declared type, read when
// its node is; its values are decoded on demand (tree ensembles hold tens
// of thousands of them, most readers want a few).
type Attribute struct {
	Name     string
	Type     uint64 // AttributeType, 0 when not declared
	Subgraph bool   // g or graphs is set: a subgraph, which may read outer values
	Raw      []byte // the AttributeProto
}

// ParseAttribute reads an AttributeProto's name and type.
func ParseAttribute(b []byte) (Attribute, error) {
	a := Attribute{Raw: b}
	err := Walk(b, func(f Field) error {
		switch {
		case f.Num == 1 && f.Typ == protowire.BytesType:
			a.Name = string(f.Val)
		case f.Num == 20 && f.Typ == protowire.VarintType:
			a.Type = f.V
		case f.Num == 6 || f.Num == 11:
			a.Subgraph = true
		}
		return nil
	})
	return a, err
}

// Int is the attribute's i (the last one), and whether it has one.
func (a Attribute) Int() (int64, bool) {
	v, ok := int64(0), false
	_ = Walk(a.Raw, func(f Field) error { // parsed without error before
		if f.Num == 3 && f.Typ == protowire.VarintType {
			v, ok = int64(f.V), true
		}
		return nil
	})
	return v, ok
}

// Str is the attribute's s, and whether it has one.
func (a Attribute) Str() (string, bool) {
	s, ok, _ := Bytes(a.Raw, 4)
	return string(s), ok
}

// Ints is the attribute's ints, packed or not.
func (a Attribute) Ints() ([]int64, error) {
	var out []int64
	err := Walk(a.Raw, func(f Field) error {
		if f.Num != 8 {
			return nil
		}
		var err error
		out, err = AppendInt64s(out, f)
		return err
	})
	return out, err
}

// Floats is the attribute's floats, packed or not.
func (a Attribute) Floats() ([]float32, error) {
	var out []float32
	err := Walk(a.Raw, func(f Field) error {
		if f.Num != 7 {
			return nil
		}
		var err error
		out, err = AppendFloats(out, f)
		return err
	})
	return out, err
}

// Strings is the attribute's strings.
func (a Attribute) Strings() []string {
	var out []string
	_ = Walk(a.Raw, func(f Field) error {
		if f.Num == 9 && f.Typ == protowire.BytesType {
			out = append(out, string(f.Val))
		}
		return nil
	})
	return out
}

// Values is an attribute decoded by its declared type.
type Values struct {
	I       int64
	S       string
	Tensor  []byte // a TensorProto
	Floats  []float32
	Ints    []int64
	Strings []string
}

// Decode reads the attribute's values strictly: every field must be the
// one its declared type uses, in that field's wire type. Graphs, tensor
// lists, sparse tensors, type protos and references to a function's
// attributes (ref_attr_name) wrap ErrUnsupported; an attribute without a
// name or with torn packed values ErrMalformed. f (a single float) is
// returned in Floats.
func (a Attribute) Decode() (Values, error) {
	var v Values
	if a.Name == "" {
		return v, fmt.Errorf("%w: an attribute without a name", ErrMalformed)
	}
	err := Walk(a.Raw, func(f Field) error {
		ok := true
		var err error
		switch f.Num {
		case 1, 20, 13: // name, type, doc_string
		case 2:
			ok = a.Type == AttrFloat && f.Typ == protowire.Fixed32Type
			v.Floats = append(v.Floats, math.Float32frombits(uint32(f.V)))
		case 3:
			ok = a.Type == AttrInt && f.Typ == protowire.VarintType
			v.I = int64(f.V)
		case 4:
			ok = a.Type == AttrString && f.Typ == protowire.BytesType
			v.S = string(f.Val)
		case 5:
			ok = a.Type == AttrTensor && f.Typ == protowire.BytesType
			v.Tensor = f.Val
		case 7:
			ok = a.Type == AttrFloats && (f.Typ == protowire.Fixed32Type || f.Typ == protowire.BytesType)
			v.Floats, err = AppendFloats(v.Floats, f)
		case 8:
			ok = a.Type == AttrInts && (f.Typ == protowire.VarintType || f.Typ == protowire.BytesType)
			v.Ints, err = AppendInt64s(v.Ints, f)
		case 9:
			ok = a.Type == AttrStrings && f.Typ == protowire.BytesType
			v.Strings = append(v.Strings, string(f.Val))
		default:
			ok = false // g, tensors, graphs, ref_attr_name, sparse tensors, type protos
		}
		switch {
		case !ok:
			return fmt.Errorf("%w: attribute %s: field %d (wire type %d) with declared type %d",
				ErrUnsupported, a.Name, f.Num, f.Typ, a.Type)
		case err != nil:
			return fmt.Errorf("attribute %s: %w", a.Name, err)
		}
		return nil
	})
	return v, err
}

// Renamed is the AttributeProto with its name replaced and every other
// field kept.
func (a Attribute) Renamed(name string) []byte {
	b := AppendString(nil, 1, name)
	_ = Walk(a.Raw, func(f Field) error { // parsed without error before
		if f.Num != 1 {
			b = append(b, f.Raw...)
		}
		return nil
	})
	return b
}

// TensorFloats reads a float TensorProto of rank ≤ 1 stored in the model
// (float_data or raw_data). Other element types, ranks, external data and
// fields wrap ErrUnsupported.
func TensorFloats(b []byte) ([]float32, error) {
	var dims []int64
	elem := uint64(0)
	var out, raw []float32
	hasRaw := false
	err := Walk(b, func(f Field) error {
		var err error
		switch {
		case f.Num == 1 && (f.Typ == protowire.VarintType || f.Typ == protowire.BytesType):
			dims, err = AppendInt64s(dims, f)
		case f.Num == 2 && f.Typ == protowire.VarintType:
			elem = f.V
		case f.Num == 4 && (f.Typ == protowire.Fixed32Type || f.Typ == protowire.BytesType):
			if f.Typ == protowire.BytesType && len(f.Val)%4 != 0 {
				return fmt.Errorf("%w: packed float_data of %d bytes", ErrMalformed, len(f.Val))
			}
			out, err = AppendFloats(out, f)
		case f.Num == 9 && f.Typ == protowire.BytesType:
			if hasRaw = true; len(f.Val)%4 != 0 {
				return fmt.Errorf("%w: raw_data of %d bytes", ErrMalformed, len(f.Val))
			}
			raw, err = appendRawFloats(raw[:0], f.Val, "raw_data")
		case f.Num == 8 || f.Num == 12: // name, doc_string
		case f.Num == 14 && f.Typ == protowire.VarintType && f.V == 0: // data_location DEFAULT
		default:
			// external data, segments, other element types' data
			return fmt.Errorf("%w: tensor field %d", ErrUnsupported, f.Num)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if elem != Float {
		return nil, fmt.Errorf("%w: tensor of data type %d, only float (1) is read", ErrUnsupported, elem)
	}
	if len(dims) > 1 {
		return nil, fmt.Errorf("%w: tensor of rank %d", ErrUnsupported, len(dims))
	}
	if hasRaw {
		if len(out) > 0 {
			return nil, fmt.Errorf("%w: tensor with both raw_data and float_data", ErrMalformed)
		}
		out = raw
	}
	if len(dims) == 1 && dims[0] != int64(len(out)) {
		return nil, fmt.Errorf("%w: tensor of shape [%d] holds %d values", ErrMalformed, dims[0], len(out))
	}
	return out, nil
}

// TensorUint8s reads a uint8 TensorProto of rank ≤ 1 stored in the model
// (int32_data or raw_data), as ai.onnx.ml's TreeEnsemble stores
// nodes_modes. Other element types, ranks and external data wrap
// ErrUnsupported.
func TensorUint8s(b []byte) ([]uint8, error) {
	const uint8Type = 2
	var dims, vals []int64
	elem := uint64(0)
	var raw []byte
	hasRaw := false
	err := Walk(b, func(f Field) error {
		var err error
		switch {
		case f.Num == 1 && (f.Typ == protowire.VarintType || f.Typ == protowire.BytesType):
			dims, err = AppendInt64s(dims, f)
		case f.Num == 2 && f.Typ == protowire.VarintType:
			elem = f.V
		case f.Num == 5 && (f.Typ == protowire.VarintType || f.Typ == protowire.BytesType):
			vals, err = AppendInt64s(vals, f)
		case f.Num == 9 && f.Typ == protowire.BytesType:
			hasRaw, raw = true, f.Val
		case f.Num == 8 || f.Num == 12:
		case f.Num == 14 && f.Typ == protowire.VarintType && f.V == 0:
		default:
			return fmt.Errorf("%w: tensor field %d", ErrUnsupported, f.Num)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if elem != uint8Type {
		return nil, fmt.Errorf("%w: tensor of data type %d, only uint8 (2) is read here", ErrUnsupported, elem)
	}
	if len(dims) > 1 {
		return nil, fmt.Errorf("%w: tensor of rank %d", ErrUnsupported, len(dims))
	}
	out := append([]uint8(nil), raw...)
	if hasRaw && len(vals) > 0 {
		return nil, fmt.Errorf("%w: tensor with both raw_data and int32_data", ErrMalformed)
	}
	for _, v := range vals {
		if v < 0 || v > 255 {
			return nil, fmt.Errorf("%w: uint8 tensor value %d", ErrMalformed, v)
		}
		out = append(out, uint8(v))
	}
	if len(dims) == 1 && dims[0] != int64(len(out)) {
		return nil, fmt.Errorf("%w: tensor of shape [%d] holds %d values", ErrMalformed, dims[0], len(out))
	}
	return out, nil
}
