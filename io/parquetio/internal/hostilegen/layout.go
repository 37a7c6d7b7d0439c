package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Field ids of parquet.thrift used by the handmade files.
const (
	fmSchema    = 2 // FileMetaData
	fmNumRows   = 3
	fmRowGroups = 4

	seType        = 1 // SchemaElement
	seName        = 4
	seNumChildren = 5

	rgColumns       = 1 // RowGroup
	rgNumRows       = 3
	rgFileOffset    = 5
	rgCompressedLen = 6

	ccFileOffset = 2 // ColumnChunk
	ccMeta       = 3
	ccOffsetIdx  = 4
	ccColumnIdx  = 6

	cmType          = 1 // ColumnMetaData
	cmEncodings     = 2
	cmPath          = 3
	cmNumValues     = 5
	cmCompressedLen = 7
	cmDataPage      = 9
	cmIndexPage     = 10
	cmDictPage      = 11
	cmEncodingStats = 13

	phType           = 1 // PageHeader
	phCompressedSize = 3
	phCRC            = 4
	phDataPage       = 5
	phDataPageV2     = 8

	dpEncoding = 2 // DataPageHeader
)

// pqFile is a Parquet file cut into its body and its decoded footer.
type pqFile struct {
	body []byte // everything before the footer, leading magic included
	meta *tStruct
}

func splitFile(data []byte) (*pqFile, error) {
	if len(data) < 12 || !bytes.Equal(data[len(data)-4:], []byte("PAR1")) {
		return nil, errors.New("not a Parquet file")
	}
	n := int(binary.LittleEndian.Uint32(data[len(data)-8:]))
	start := len(data) - 8 - n
	meta, used, err := decodeStruct(data[start : len(data)-8])
	if err != nil || used != n {
		return nil, fmt.Errorf("footer: %v (used %d of %d bytes)", err, used, n)
	}
	return &pqFile{body: data[:start], meta: meta}, nil
}

func (p *pqFile) bytes() []byte {
	footer := encodeStruct(p.meta)
	out := append(bytes.Clone(p.body), footer...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(footer)))
	return append(out, "PAR1"...)
}

// chunks are the column chunks' metadata, row group after row group.
func (p *pqFile) chunks() []*tStruct {
	var out []*tStruct
	for _, rg := range p.meta.structs(fmRowGroups) {
		for _, cc := range rg.structs(rgColumns) {
			out = append(out, cc.field(ccMeta).st)
		}
	}
	return out
}

func chunkRange(cm *tStruct) (start, end int) {
	start = int(cm.field(cmDataPage).i)
	if d := cm.field(cmDictPage); d != nil && d.i > 0 && int(d.i) < start {
		start = int(d.i)
	}
	return start, start + int(cm.field(cmCompressedLen).i)
}

// page is one page of a column chunk, as laid out in the body.
type page struct {
	start, headerLen, dataLen int
	header                    *tStruct
}

func (p *pqFile) pages(cm *tStruct) ([]page, error) {
	var out []page
	pos, end := chunkRange(cm)
	for pos < end {
		h, n, err := decodeStruct(p.body[pos:end])
		if err != nil {
			return nil, fmt.Errorf("page header at %d: %w", pos, err)
		}
		pg := page{start: pos, headerLen: n, dataLen: int(h.field(phCompressedSize).i), header: h}
		out = append(out, pg)
		pos += n + pg.dataLen
	}
	return out, nil
}

// dataPages skips the dictionary page.
func (p *pqFile) dataPages(cm *tStruct) []page {
	pages, err := p.pages(cm)
	if err != nil {
		panic(err)
	}
	var out []page
	for _, pg := range pages {
		if t := pg.header.field(phType).i; t == 0 || t == 3 {
			out = append(out, pg)
		}
	}
	return out
}

// rewriteHeaders re-encodes every page header through edit (which may grow
// or shrink it) and moves every offset in the footer to match.
func (p *pqFile) rewriteHeaders(edit func(pg page)) error {
	type shift struct{ at, by int }
	var shifts []shift
	var body []byte
	last := 0
	var all []page
	for _, cm := range p.chunks() {
		pages, err := p.pages(cm)
		if err != nil {
			return err
		}
		all = append(all, pages...)
	}
	for _, pg := range all {
		edit(pg)
		h := encodeStruct(pg.header)
		body = append(body, p.body[last:pg.start]...)
		body = append(body, h...)
		last = pg.start + pg.headerLen
		shifts = append(shifts, shift{pg.start, len(h) - pg.headerLen})
	}
	body = append(body, p.body[last:]...)
	// An offset moves by the growth of every header that starts before it;
	// the header starting at it does not move it.
	moved := func(off int64) int64 {
		out := off
		for _, s := range shifts {
			if int64(s.at) < off {
				out += int64(s.by)
			}
		}
		return out
	}
	move := func(s *tStruct, id int16) {
		if f := s.field(id); f != nil && f.i > 0 {
			f.i = moved(f.i)
		}
	}
	for _, rg := range p.meta.structs(fmRowGroups) {
		rgStart, rgEnd := int64(-1), int64(0)
		for _, cc := range rg.structs(rgColumns) {
			cm := cc.field(ccMeta).st
			start, end := chunkRange(cm)
			cm.field(cmCompressedLen).i = moved(int64(end)) - moved(int64(start))
			for _, id := range []int16{cmDataPage, cmDictPage, cmIndexPage} {
				move(cm, id)
			}
			for _, id := range []int16{ccFileOffset, ccOffsetIdx, ccColumnIdx} {
				move(cc, id)
			}
			if rgStart < 0 {
				rgStart = int64(start)
			}
			rgEnd = int64(end)
		}
		move(rg, rgFileOffset)
		if f := rg.field(rgCompressedLen); f != nil {
			f.i = moved(rgEnd) - moved(rgStart)
		}
	}
	p.body = body
	return nil
}

// addChecksums puts the CRC-32 of every page's bytes in its header, as
// parquet-mr does by default.
func (p *pqFile) addChecksums() error {
	return p.rewriteHeaders(func(pg page) {
		data := p.body[pg.start+pg.headerLen : pg.start+pg.headerLen+pg.dataLen]
		pg.header.set(phCRC, i32(int32(crc32.ChecksumIEEE(data))))
	})
}

// flip inverts n bytes starting at off.
func flip(data []byte, off, n int) {
	for i := off; i < off+n && i < len(data); i++ {
		data[i] ^= 0xA5
	}
}
