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
	var out []float32
	t, err := walkTensor(b, Float, "float (1)", func(f Field) (bool, error) {
		if f.Num != 4 || (f.Typ != protowire.Fixed32Type && f.Typ != protowire.BytesType) {
			return false, nil
		}
		if f.Typ == protowire.BytesType && len(f.Val)%4 != 0 {
			return true, fmt.Errorf("%w: packed float_data of %d bytes", ErrMalformed, len(f.Val))
		}
		var err error
		out, err = AppendFloats(out, f)
		return true, err
	})
	if err != nil {
		return nil, err
	}
	if t.hasRaw {
		if len(t.raw)%4 != 0 {
			return nil, fmt.Errorf("%w: raw_data of %d bytes", ErrMalformed, len(t.raw))
		}
		if len(out) > 0 {
			return nil, fmt.Errorf("%w: tensor with both raw_data and float_data", ErrMalformed)
		}
		if out, err = appendRawFloats(nil, t.raw, "raw_data"); err != nil {
			return nil, err
		}
	}
	return out, t.holds(len(out))
}

// TensorUint8s reads a uint8 TensorProto of rank ≤ 1 stored in the model
// (int32_data or raw_data), as ai.onnx.ml's TreeEnsemble stores
// nodes_modes. Other element types, ranks and external data wrap
// ErrUnsupported.
func TensorUint8s(b []byte) ([]uint8, error) {
	const uint8Type = 2
	var vals []int64
	t, err := walkTensor(b, uint8Type, "uint8 (2)", func(f Field) (bool, error) {
		if f.Num != 5 || (f.Typ != protowire.VarintType && f.Typ != protowire.BytesType) {
			return false, nil
		}
		var err error
		vals, err = AppendInt64s(vals, f)
		return true, err
	})
	if err != nil {
		return nil, err
	}
	out := append([]uint8(nil), t.raw...)
	if t.hasRaw && len(vals) > 0 {
		return nil, fmt.Errorf("%w: tensor with both raw_data and int32_data", ErrMalformed)
	}
	for _, v := range vals {
		if v < 0 || v > 255 {
			return nil, fmt.Errorf("%w: uint8 tensor value %d", ErrMalformed, v)
		}
		out = append(out, uint8(v))
	}
	return out, t.holds(len(out))
}

// tensor is what walkTensor keeps of a TensorProto besides its typed data.
type tensor struct {
	dims   []int64
	raw    []byte // the last raw_data field
	hasRaw bool
}

// walkTensor walks a TensorProto of element type want and rank ≤ 1, handing
// each field to data first (it reports whether it took the field); dims,
// data_type, raw_data, name, doc_string and the default data_location are
// read here, and any other field (external data, segments, other element
// types' data) wraps ErrUnsupported. wantName names want in the error.
func walkTensor(b []byte, want uint64, wantName string, data func(Field) (bool, error)) (tensor, error) {
	var t tensor
	elem := uint64(0)
	err := Walk(b, func(f Field) error {
		if took, err := data(f); took || err != nil {
			return err
		}
		var err error
		switch {
		case f.Num == 1 && (f.Typ == protowire.VarintType || f.Typ == protowire.BytesType):
			t.dims, err = AppendInt64s(t.dims, f)
		case f.Num == 2 && f.Typ == protowire.VarintType:
			elem = f.V
		case f.Num == 9 && f.Typ == protowire.BytesType:
			t.hasRaw, t.raw = true, f.Val
		case f.Num == 8 || f.Num == 12: // name, doc_string
		case f.Num == 14 && f.Typ == protowire.VarintType && f.V == 0: // data_location DEFAULT
		default:
			return fmt.Errorf("%w: tensor field %d", ErrUnsupported, f.Num)
		}
		return err
	})
	if err != nil {
		return t, err
	}
	if elem != want {
		return t, fmt.Errorf("%w: tensor of data type %d, only %s is read here", ErrUnsupported, elem, wantName)
	}
	if len(t.dims) > 1 {
		return t, fmt.Errorf("%w: tensor of rank %d", ErrUnsupported, len(t.dims))
	}
	return t, nil
}

// holds checks that a rank-1 tensor's shape matches the n values read.
func (t tensor) holds(n int) error {
	if len(t.dims) == 1 && t.dims[0] != int64(n) {
		return fmt.Errorf("%w: tensor of shape [%d] holds %d values", ErrMalformed, t.dims[0], n)
	}
	return nil
}
