package trees

// The few pieces of the ONNX protobuf this package reads, with protowire.
// Field numbers are onnx.proto's:
//
//	ModelProto:         graph 7, opset_import 8 (domain 1, version 2)
//	GraphProto:         node 1, initializer 5 (TensorProto), input 11, output 12,
//	                    value_info 13, sparse_initializer 15
//	NodeProto:          input 1, output 2, name 3, op_type 4, attribute 5, domain 7
//	AttributeProto:     name 1, f 2, i 3, s 4, t 5, g 6, floats 7, ints 8,
//	                    strings 9, tensors 10, graphs 11, type 20, ref_attr_name 21
//	TensorProto:        dims 1, data_type 2, float_data 4, name 8, raw_data 9,
//	                    external_data 13, data_location 14
//	ValueInfoProto:     name 1, type 2 (TypeProto: tensor_type 1 (elem_type 1, shape 2))
//	TensorShapeProto:   dim 1 (dim_value 1, dim_param 2)

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

type field struct {
	num protowire.Number
	typ protowire.Type
	v   uint64 // varint, fixed32 and fixed64 values
	val []byte // bytes
}

// fields splits a message into its fields, in order.
func fields(b []byte) ([]field, error) {
	var out []field
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			f.v = uint64(v)
		case protowire.Fixed64Type:
			f.v, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			f.val, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		out = append(out, f)
	}
	return out, nil
}

// AttributeProto.AttributeType values.
const (
	attrFloat   = 1
	attrInt     = 2
	attrString  = 3
	attrTensor  = 4
	attrFloats  = 6
	attrInts    = 7
	attrStrings = 8
)

// TensorProto.DataType values.
const (
	tensorFloat  = 1
	tensorDouble = 11
)

// attr is one attribute of a node, decoded by its declared type.
type attr struct {
	name    string
	typ     uint64
	ints    []int64
	floats  []float32
	strings []string
	s       string
	i       int64
	tensor  []byte // a TensorProto
}

func parseAttr(b []byte) (attr, error) {
	var a attr
	fs, err := fields(b)
	if err != nil {
		return a, err
	}
	for _, f := range fs {
		switch {
		case f.num == 1 && f.typ == protowire.BytesType:
			a.name = string(f.val)
		case f.num == 20 && f.typ == protowire.VarintType:
			a.typ = f.v
		}
	}
	if a.name == "" {
		return a, fmt.Errorf("an attribute without a name")
	}
	// ref_attr_name (21) makes the attribute a reference to a function's
	// attribute: only meaningful inside a function body.
	for _, f := range fs {
		ok := true
		switch f.num {
		case 1, 20, 13: // name, type, doc_string
		case 2:
			ok = a.typ == attrFloat && f.typ == protowire.Fixed32Type
			a.floats = append(a.floats, math.Float32frombits(uint32(f.v)))
		case 3:
			ok = a.typ == attrInt && f.typ == protowire.VarintType
			a.i = int64(f.v)
		case 4:
			ok = a.typ == attrString && f.typ == protowire.BytesType
			a.s = string(f.val)
		case 5:
			ok = a.typ == attrTensor && f.typ == protowire.BytesType
			a.tensor = f.val
		case 7:
			ok = a.typ == attrFloats
			switch f.typ {
			case protowire.Fixed32Type:
				a.floats = append(a.floats, math.Float32frombits(uint32(f.v)))
			case protowire.BytesType: // packed
				if len(f.val)%4 != 0 {
					return a, fmt.Errorf("attribute %s: packed floats of %d bytes", a.name, len(f.val))
				}
				for p := f.val; len(p) > 0; p = p[4:] {
					a.floats = append(a.floats, math.Float32frombits(binary.LittleEndian.Uint32(p)))
				}
			default:
				ok = false
			}
		case 8:
			ok = a.typ == attrInts
			switch f.typ {
			case protowire.VarintType:
				a.ints = append(a.ints, int64(f.v))
			case protowire.BytesType: // packed
				for p := f.val; len(p) > 0; {
					v, n := protowire.ConsumeVarint(p)
					if n < 0 {
						return a, fmt.Errorf("attribute %s: %v", a.name, protowire.ParseError(n))
					}
					a.ints = append(a.ints, int64(v))
					p = p[n:]
				}
			default:
				ok = false
			}
		case 9:
			ok = a.typ == attrStrings && f.typ == protowire.BytesType
			a.strings = append(a.strings, string(f.val))
		default:
			ok = false // g, tensors, graphs, ref_attr_name, sparse tensors, type protos
		}
		if !ok {
			return a, fmt.Errorf("%w: attribute %s: field %d (wire type %d) with declared type %d",
				ErrUnsupported, a.name, f.num, f.typ, a.typ)
		}
	}
	return a, nil
}

// tensorFloats reads a float TensorProto of rank ≤ 1 stored in the model
// (float_data or raw_data).
func tensorFloats(b []byte) ([]float32, error) {
	fs, err := fields(b)
	if err != nil {
		return nil, err
	}
	var dims []int64
	elem := uint64(0)
	var out []float32
	var raw []byte
	hasRaw := false
	for _, f := range fs {
		switch {
		case f.num == 1 && f.typ == protowire.VarintType:
			dims = append(dims, int64(f.v))
		case f.num == 1 && f.typ == protowire.BytesType:
			for p := f.val; len(p) > 0; {
				v, n := protowire.ConsumeVarint(p)
				if n < 0 {
					return nil, protowire.ParseError(n)
				}
				dims = append(dims, int64(v))
				p = p[n:]
			}
		case f.num == 2 && f.typ == protowire.VarintType:
			elem = f.v
		case f.num == 4 && f.typ == protowire.Fixed32Type:
			out = append(out, math.Float32frombits(uint32(f.v)))
		case f.num == 4 && f.typ == protowire.BytesType:
			if len(f.val)%4 != 0 {
				return nil, fmt.Errorf("packed float_data of %d bytes", len(f.val))
			}
			for p := f.val; len(p) > 0; p = p[4:] {
				out = append(out, math.Float32frombits(binary.LittleEndian.Uint32(p)))
			}
		case f.num == 9 && f.typ == protowire.BytesType:
			raw, hasRaw = f.val, true
		case f.num == 8 || f.num == 12: // name, doc_string
		case f.num == 14 && f.typ == protowire.VarintType && f.v == 0: // data_location DEFAULT
		default:
			// external data, segments, other element types' data
			return nil, fmt.Errorf("%w: tensor field %d", ErrUnsupported, f.num)
		}
	}
	if elem != tensorFloat {
		return nil, fmt.Errorf("%w: tensor of data type %d, only float (1) is read", ErrUnsupported, elem)
	}
	if len(dims) > 1 {
		return nil, fmt.Errorf("%w: tensor of rank %d", ErrUnsupported, len(dims))
	}
	if hasRaw {
		if len(out) > 0 || len(raw)%4 != 0 {
			return nil, fmt.Errorf("tensor with both raw_data and float_data, or raw_data of %d bytes", len(raw))
		}
		for p := raw; len(p) > 0; p = p[4:] {
			out = append(out, math.Float32frombits(binary.LittleEndian.Uint32(p)))
		}
	}
	if len(dims) == 1 && dims[0] != int64(len(out)) {
		return nil, fmt.Errorf("tensor of shape [%d] holds %d values", dims[0], len(out))
	}
	return out, nil
}

// node is a NodeProto's header and attributes.
type node struct {
	name, op, domain string
	inputs, outputs  []string
	attrs            []attr
	raw              []byte
}

func parseNode(b []byte, withAttrs bool) (node, error) {
	n := node{raw: b}
	fs, err := fields(b)
	if err != nil {
		return n, err
	}
	for _, f := range fs {
		if f.typ != protowire.BytesType {
			continue
		}
		switch f.num {
		case 1:
			n.inputs = append(n.inputs, string(f.val))
		case 2:
			n.outputs = append(n.outputs, string(f.val))
		case 3:
			n.name = string(f.val)
		case 4:
			n.op = string(f.val)
		case 5:
			if withAttrs {
				a, err := parseAttr(f.val)
				if err != nil {
					return n, err
				}
				n.attrs = append(n.attrs, a)
			}
		case 7:
			n.domain = string(f.val)
		}
	}
	return n, nil
}

// valueInfo is a ValueInfoProto's name, tensor element type and shape
// (dims: -1 for a symbolic or missing dimension; nil shape when the type
// gives none).
type valueInfo struct {
	name  string
	elem  uint64
	shape []int64
	ranks bool // a shape was given
}

func parseValueInfo(b []byte) (valueInfo, error) {
	var v valueInfo
	fs, err := fields(b)
	if err != nil {
		return v, err
	}
	for _, f := range fs {
		switch {
		case f.num == 1 && f.typ == protowire.BytesType:
			v.name = string(f.val)
		case f.num == 2 && f.typ == protowire.BytesType:
			tfs, err := fields(f.val)
			if err != nil {
				return v, err
			}
			for _, t := range tfs {
				if t.num != 1 || t.typ != protowire.BytesType { // tensor_type only
					continue
				}
				tt, err := fields(t.val)
				if err != nil {
					return v, err
				}
				for _, x := range tt {
					switch {
					case x.num == 1 && x.typ == protowire.VarintType:
						v.elem = x.v
					case x.num == 2 && x.typ == protowire.BytesType:
						v.ranks = true
						dims, err := fields(x.val)
						if err != nil {
							return v, err
						}
						for _, d := range dims {
							if d.num != 1 || d.typ != protowire.BytesType {
								continue
							}
							df, err := fields(d.val)
							if err != nil {
								return v, err
							}
							size := int64(-1)
							for _, e := range df {
								if e.num == 1 && e.typ == protowire.VarintType {
									size = int64(e.v)
								}
							}
							v.shape = append(v.shape, size)
						}
					}
				}
			}
		}
	}
	return v, nil
}
