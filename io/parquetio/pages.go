package parquetio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// maxPageBytes bounds a page's stated uncompressed size. Writers cut pages
// at about 1 MiB; arrow-go allocates the stated size before it decodes a
// byte, so a flipped bit in a page header costs gigabytes, not an error.
const maxPageBytes = 256 << 20

// checkPages walks the page headers of one column chunk, [start, end) of
// the file, before arrow reads it: every page must fit in the chunk, no
// page may claim more than maxPageBytes, and a page that carries a CRC
// must match it (arrow-go v17 ignores page CRCs, so a flipped byte in
// plain values would read as a wrong number).
func checkPages(r io.ReaderAt, start, end int64) error {
	for pos := start; pos < end; {
		h, err := readPageHeader(r, pos, end)
		if err != nil {
			return fmt.Errorf("page at byte %d: %w", pos, err)
		}
		data := pos + int64(h.size)
		switch {
		case h.compressed < 0 || h.uncompressed < 0:
			return fmt.Errorf("page at byte %d: negative size", pos)
		case int64(h.compressed) > end-data:
			return fmt.Errorf("page at byte %d: %d bytes do not fit in its column chunk (%d left)", pos, h.compressed, end-data)
		case h.uncompressed > maxPageBytes:
			return fmt.Errorf("page at byte %d: claims %d bytes uncompressed, more than the %d a page may have", pos, h.uncompressed, maxPageBytes)
		}
		if h.hasCRC {
			buf := make([]byte, h.compressed)
			if _, err := r.ReadAt(buf, data); err != nil {
				return fmt.Errorf("page at byte %d: %w", pos, err)
			}
			if got := crc32.ChecksumIEEE(buf); got != h.crc {
				return fmt.Errorf("page at byte %d: CRC %08x, its header says %08x", pos, got, h.crc)
			}
		}
		pos = data + int64(h.compressed)
	}
	return nil
}

// pageHeader is what checkPages needs of parquet.thrift's PageHeader.
type pageHeader struct {
	size                     int // of the header itself
	uncompressed, compressed int32
	crc                      uint32
	hasCRC                   bool
}

// readPageHeader reads a header at pos, with a larger window whenever the
// header runs past it (statistics may hold long min/max values).
func readPageHeader(r io.ReaderAt, pos, end int64) (pageHeader, error) {
	for window := int64(256); ; window *= 8 {
		n := min(window, end-pos)
		buf := make([]byte, n)
		if _, err := r.ReadAt(buf, pos); err != nil && !errors.Is(err, io.EOF) {
			return pageHeader{}, err
		}
		h, err := parsePageHeader(buf)
		if !errors.Is(err, errShortHeader) || n == end-pos || n >= maxPageHeader {
			return h, err
		}
	}
}

// maxPageHeader is arrow-go's own limit on a page header.
const maxPageHeader = 16 << 20

var errShortHeader = errors.New("page header runs past the column chunk")

// parsePageHeader decodes the Thrift compact encoding of a PageHeader:
// fields 2 to 4 are the sizes and the CRC; the rest is skipped.
func parsePageHeader(b []byte) (pageHeader, error) {
	d := compactReader{buf: b}
	var h pageHeader
	var id int16
	for {
		typ, next, err := d.fieldHeader(id)
		if err != nil {
			return h, err
		}
		if typ == 0 {
			h.size = d.pos
			return h, nil
		}
		id = next
		if typ == compactI32 && id >= 2 && id <= 4 {
			v, err := d.varint()
			if err != nil {
				return h, err
			}
			switch id {
			case 2:
				h.uncompressed = int32(v)
			case 3:
				h.compressed = int32(v)
			case 4:
				h.crc, h.hasCRC = uint32(int32(v)), true
			}
			continue
		}
		if err := d.skip(typ, 0); err != nil {
			return h, err
		}
	}
}

// Thrift compact-protocol type ids.
const (
	compactTrue   = 1
	compactFalse  = 2
	compactByte   = 3
	compactI16    = 4
	compactI32    = 5
	compactI64    = 6
	compactDouble = 7
	compactBinary = 8
	compactList   = 9
	compactSet    = 10
	compactMap    = 11
	compactStruct = 12
)

type compactReader struct {
	buf []byte
	pos int
}

func (d *compactReader) byte() (byte, error) {
	if d.pos >= len(d.buf) {
		return 0, errShortHeader
	}
	d.pos++
	return d.buf[d.pos-1], nil
}

func (d *compactReader) uvarint() (uint64, error) {
	v, n := binary.Uvarint(d.buf[d.pos:])
	switch {
	case n == 0:
		return 0, errShortHeader
	case n < 0:
		return 0, errors.New("page header: varint overflows 64 bits")
	}
	d.pos += n
	return v, nil
}

func (d *compactReader) varint() (int64, error) {
	u, err := d.uvarint()
	return int64(u>>1) ^ -int64(u&1), err
}

// fieldHeader returns a field's type (0 at the struct's end) and id.
func (d *compactReader) fieldHeader(last int16) (byte, int16, error) {
	h, err := d.byte()
	if err != nil || h == 0 {
		return 0, 0, err
	}
	if h>>4 != 0 {
		return h & 0x0f, last + int16(h>>4), nil
	}
	id, err := d.varint()
	return h & 0x0f, int16(id), err
}

// skip passes over one value; depth bounds nesting in hostile bytes.
func (d *compactReader) skip(typ byte, depth int) error {
	if depth > 32 {
		return errors.New("page header: nested too deep")
	}
	switch typ {
	case compactTrue, compactFalse:
		return nil // a field's value is in its type; in a container, skipList reads the byte
	case compactByte:
		_, err := d.byte()
		return err
	case compactI16, compactI32, compactI64:
		_, err := d.uvarint()
		return err
	case compactDouble:
		return d.advance(8)
	case compactBinary:
		n, err := d.uvarint()
		if err != nil {
			return err
		}
		return d.advance(n)
	case compactList, compactSet:
		h, err := d.byte()
		if err != nil {
			return err
		}
		n := uint64(h >> 4)
		if n == 15 {
			if n, err = d.uvarint(); err != nil {
				return err
			}
		}
		return d.skipElems(n, h&0x0f, depth)
	case compactMap:
		n, err := d.uvarint()
		if err != nil || n == 0 {
			return err
		}
		kv, err := d.byte()
		if err != nil {
			return err
		}
		for range n {
			if err := d.skipElems(1, kv>>4, depth); err != nil {
				return err
			}
			if err := d.skipElems(1, kv&0x0f, depth); err != nil {
				return err
			}
		}
		return nil
	case compactStruct:
		var id int16
		for {
			t, next, err := d.fieldHeader(id)
			if err != nil || t == 0 {
				return err
			}
			id = next
			if err := d.skip(t, depth+1); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("page header: unknown Thrift type %d", typ)
}

// skipElems skips n container elements; a bool element is a whole byte.
func (d *compactReader) skipElems(n uint64, typ byte, depth int) error {
	if n > uint64(len(d.buf)-d.pos) { // every element takes a byte at least
		return errShortHeader
	}
	for range n {
		var err error
		if typ == compactTrue || typ == compactFalse {
			_, err = d.byte()
		} else {
			err = d.skip(typ, depth+1)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (d *compactReader) advance(n uint64) error {
	if n > uint64(len(d.buf)-d.pos) {
		return errShortHeader
	}
	d.pos += int(n)
	return nil
}
