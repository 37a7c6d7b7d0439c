package main

// A minimal Thrift compact-protocol codec: enough to decode a Parquet footer
// or page header into a generic tree, change fields, and encode it again.
// arrow keeps its generated Parquet structs internal, so the handmade files
// (lying footers, page checksums) are edited through this.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Compact-protocol type ids.
const (
	tTrue    = 1
	tFalse   = 2
	tByte    = 3
	tI16     = 4
	tI32     = 5
	tI64     = 6
	tDouble  = 7
	tBinary  = 8
	tList    = 9
	tSet     = 10
	tMap     = 11
	tStructT = 12
)

type tValue struct {
	typ  byte // a compact type id; tTrue stands for both bools
	i    int64
	f    float64
	b    []byte
	bool bool
	elem byte // list, set: element type; map: key<<4|value
	list []tValue
	st   *tStruct
}

type tField struct {
	id int16
	v  tValue
}

type tStruct struct{ fields []tField }

func (s *tStruct) field(id int16) *tValue {
	for i := range s.fields {
		if s.fields[i].id == id {
			return &s.fields[i].v
		}
	}
	return nil
}

// set replaces or inserts a field, keeping ids in order.
func (s *tStruct) set(id int16, v tValue) {
	if f := s.field(id); f != nil {
		*f = v
		return
	}
	i := slices.IndexFunc(s.fields, func(f tField) bool { return f.id > id })
	if i < 0 {
		i = len(s.fields)
	}
	s.fields = slices.Insert(s.fields, i, tField{id, v})
}

func (s *tStruct) structs(id int16) []*tStruct {
	f := s.field(id)
	if f == nil {
		return nil
	}
	out := make([]*tStruct, len(f.list))
	for i := range f.list {
		out[i] = f.list[i].st
	}
	return out
}

func i64(v int64) tValue { return tValue{typ: tI64, i: v} }
func i32(v int32) tValue { return tValue{typ: tI32, i: int64(v)} }

type tDecoder struct {
	buf []byte
	pos int
}

var errShort = errors.New("thrift: short buffer")

func (d *tDecoder) byte() (byte, error) {
	if d.pos >= len(d.buf) {
		return 0, errShort
	}
	d.pos++
	return d.buf[d.pos-1], nil
}

func (d *tDecoder) uvarint() (uint64, error) {
	v, n := binary.Uvarint(d.buf[d.pos:])
	if n <= 0 {
		return 0, errShort
	}
	d.pos += n
	return v, nil
}

func (d *tDecoder) varint() (int64, error) {
	u, err := d.uvarint()
	return int64(u>>1) ^ -int64(u&1), err
}

// decodeStruct reads one struct; it returns the bytes it used.
func decodeStruct(buf []byte) (*tStruct, int, error) {
	d := &tDecoder{buf: buf}
	s, err := d.structBody()
	return s, d.pos, err
}

func (d *tDecoder) structBody() (*tStruct, error) {
	s := &tStruct{}
	var last int16
	for {
		h, err := d.byte()
		if err != nil {
			return nil, err
		}
		if h == 0 {
			return s, nil
		}
		id := last + int16(h>>4)
		if h>>4 == 0 {
			v, err := d.varint()
			if err != nil {
				return nil, err
			}
			id = int16(v)
		}
		last = id
		var v tValue
		switch typ := h & 0x0f; typ {
		case tTrue, tFalse:
			v = tValue{typ: tTrue, bool: typ == tTrue}
		default:
			if v, err = d.value(typ); err != nil {
				return nil, err
			}
		}
		s.fields = append(s.fields, tField{id, v})
	}
}

func (d *tDecoder) value(typ byte) (tValue, error) {
	v := tValue{typ: typ}
	var err error
	switch typ {
	case tTrue, tFalse: // inside a container: one byte
		var b byte
		b, err = d.byte()
		v = tValue{typ: tTrue, bool: b == tTrue}
	case tByte:
		var b byte
		b, err = d.byte()
		v.i = int64(int8(b))
	case tI16, tI32, tI64:
		v.i, err = d.varint()
	case tDouble:
		if d.pos+8 > len(d.buf) {
			return v, errShort
		}
		v.f = math.Float64frombits(binary.LittleEndian.Uint64(d.buf[d.pos:]))
		d.pos += 8
	case tBinary:
		var n uint64
		if n, err = d.uvarint(); err == nil {
			if uint64(len(d.buf)-d.pos) < n {
				return v, errShort
			}
			v.b = slices.Clone(d.buf[d.pos : d.pos+int(n)])
			d.pos += int(n)
		}
	case tList, tSet:
		var h byte
		if h, err = d.byte(); err != nil {
			return v, err
		}
		n, et := uint64(h>>4), h&0x0f
		if n == 15 {
			if n, err = d.uvarint(); err != nil {
				return v, err
			}
		}
		v.elem = et
		for range n {
			e, err := d.value(et)
			if err != nil {
				return v, err
			}
			v.list = append(v.list, e)
		}
	case tMap:
		var n uint64
		if n, err = d.uvarint(); err != nil || n == 0 {
			return v, err
		}
		if v.elem, err = d.byte(); err != nil {
			return v, err
		}
		for range n {
			k, err := d.value(v.elem >> 4)
			if err != nil {
				return v, err
			}
			e, err := d.value(v.elem & 0x0f)
			if err != nil {
				return v, err
			}
			v.list = append(v.list, k, e)
		}
	case tStructT:
		v.st, err = d.structBody()
	default:
		err = fmt.Errorf("thrift: unknown type %d at byte %d", typ, d.pos)
	}
	return v, err
}

func encodeStruct(s *tStruct) []byte { return appendStruct(nil, s) }

func appendStruct(out []byte, s *tStruct) []byte {
	var last int16
	for _, f := range s.fields {
		typ := f.v.typ
		if typ == tTrue && !f.v.bool {
			typ = tFalse
		}
		if delta := f.id - last; delta > 0 && delta <= 15 {
			out = append(out, byte(delta)<<4|typ)
		} else {
			out = append(out, typ)
			out = binary.AppendVarint(out, int64(f.id))
		}
		last = f.id
		if f.v.typ != tTrue {
			out = appendValue(out, f.v)
		}
	}
	return append(out, 0)
}

func appendValue(out []byte, v tValue) []byte {
	switch v.typ {
	case tTrue:
		if v.bool {
			return append(out, tTrue)
		}
		return append(out, tFalse)
	case tByte:
		return append(out, byte(v.i))
	case tI16, tI32, tI64:
		return binary.AppendVarint(out, v.i)
	case tDouble:
		return binary.LittleEndian.AppendUint64(out, math.Float64bits(v.f))
	case tBinary:
		out = binary.AppendUvarint(out, uint64(len(v.b)))
		return append(out, v.b...)
	case tList, tSet:
		if n := len(v.list); n < 15 {
			out = append(out, byte(n)<<4|v.elem)
		} else {
			out = append(out, 0xf0|v.elem)
			out = binary.AppendUvarint(out, uint64(n))
		}
		for _, e := range v.list {
			out = appendValue(out, e)
		}
		return out
	case tMap:
		out = binary.AppendUvarint(out, uint64(len(v.list)/2))
		if len(v.list) > 0 {
			out = append(out, v.elem)
		}
		for _, e := range v.list {
			out = appendValue(out, e)
		}
		return out
	case tStructT:
		return appendStruct(out, v.st)
	}
	panic(fmt.Sprintf("thrift: cannot encode type %d", v.typ))
}
