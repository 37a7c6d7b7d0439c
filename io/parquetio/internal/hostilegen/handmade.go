package main

import (
	"bytes"
	"encoding/binary"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
)

// Leaf indices of mixSchema's columns.
const (
	colID  = 0
	colI64 = 2
	colF64 = 4
	colS   = 6
)

// mixFile is the base the byte-level edits start from.
func mixFile(codec compress.Compression, dict bool, p ...parquet.WriterProperty) []byte {
	p = append(p, parquet.WithCompression(codec), parquet.WithDictionaryDefault(dict), parquet.WithMaxRowGroupLength(1000))
	return writeArrow(mixSchema, []arrow.Record{mixRecord(2000, 700)}, p)
}

func split(data []byte) *pqFile {
	p, err := splitFile(data)
	must(err)
	return p
}

// firstDataPage is where the first data page of leaf col starts, and where
// its data (after the header) starts, in row group 0.
func firstDataPage(data []byte, col int) (pg page) {
	p := split(data)
	return p.dataPages(p.chunks()[col])[0]
}

// corruptPage flips n bytes of the first data page of leaf col, at frac
// of the way into its data.
func corruptPage(data []byte, col int, frac float64, n int) []byte {
	pg := firstDataPage(data, col)
	flip(data, pg.start+pg.headerLen+int(float64(pg.dataLen)*frac), n)
	return data
}

func corruptPageHeader(data []byte, col int) []byte {
	pg := firstDataPage(data, col)
	flip(data, pg.start+1, 6)
	return data
}

// editFooter decodes the footer, lets edit change it and encodes it again.
func editFooter(data []byte, edit func(p *pqFile)) []byte {
	p := split(data)
	edit(p)
	return p.bytes()
}

func firstChunk(p *pqFile) *tStruct { return p.chunks()[0] }

// checksumFile has a CRC in every page header; with corrupt, one page's
// values then no longer match their CRC.
func checksumFile(corrupt bool) []byte {
	p := split(mixFile(compress.Codecs.Uncompressed, false))
	must(p.addChecksums())
	data := p.bytes()
	if corrupt {
		// Plain float64 values near the end of the page: any bytes decode.
		pg := firstDataPage(data, colF64)
		flip(data, pg.start+pg.headerLen+pg.dataLen-16, 8)
	}
	return data
}

// byteStreamSplitFile re-encodes plain float64 pages as BYTE_STREAM_SPLIT,
// which arrow-go v17 cannot write (nor read).
func byteStreamSplitFile() []byte {
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Float64}}, nil)
	rec := fromJSON(schema, `[{"x":1.5},{"x":-2},{"x":3.25},{"x":1e300},{"x":0}]`)
	p := split(writeArrow(schema, []arrow.Record{rec}, props(parquet.WithDictionaryDefault(false), parquet.WithStats(false))))
	for _, pg := range p.dataPages(p.chunks()[0]) {
		vals := p.body[pg.start+pg.headerLen : pg.start+pg.headerLen+pg.dataLen]
		n := len(vals) / 8
		shuffled := make([]byte, len(vals))
		for i := range n {
			for b := range 8 {
				shuffled[b*n+i] = vals[i*8+b]
			}
		}
		copy(vals, shuffled)
	}
	const bss = 9 // BYTE_STREAM_SPLIT; PLAIN is 0
	must(p.rewriteHeaders(func(pg page) {
		if dp := pg.header.field(phDataPage); dp != nil {
			dp.st.set(dpEncoding, i32(bss))
		}
	}))
	// The chunk lists its encodings too, as writers of such files do.
	for _, cm := range p.chunks() {
		for i, e := range cm.field(cmEncodings).list {
			if e.i == 0 {
				cm.field(cmEncodings).list[i].i = bss
			}
		}
		for _, st := range cm.structs(cmEncodingStats) {
			if st.field(1).i == 0 && st.field(2).i == 0 { // a data page, plain
				st.field(2).i = bss
			}
		}
	}
	return p.bytes()
}

// Outright broken files.

func truncatedTail() []byte {
	data := mixFile(compress.Codecs.Snappy, true)
	return data[:len(data)-100]
}

// footerCut keeps the length and magic but loses the footer's second half.
func footerCut() []byte {
	data := mixFile(compress.Codecs.Snappy, true)
	n := int(binary.LittleEndian.Uint32(data[len(data)-8:]))
	start := len(data) - 8 - n
	return append(bytes.Clone(data[:start+n/2]), data[len(data)-8:]...)
}

func footerLenLies() []byte {
	data := mixFile(compress.Codecs.Snappy, true)
	binary.LittleEndian.PutUint32(data[len(data)-8:], uint32(len(data)*2))
	return data
}

func footerGarbled() []byte {
	data := mixFile(compress.Codecs.Snappy, true)
	n := int(binary.LittleEndian.Uint32(data[len(data)-8:]))
	start := len(data) - 8 - n
	flip(data, start+n/3, n/3)
	return data
}

func magicZeroFooter() []byte { return []byte("PAR1\x00\x00\x00\x00PAR1") }

// Footers that lie about the data: each decodes, each is wrong.

func footerLie(edit func(p *pqFile)) func() []byte {
	return func() []byte { return editFooter(mixFile(compress.Codecs.Zstd, true), edit) }
}

var footerLies = []corpusFile{
	{"lie_file_rows.parquet", footerLie(func(p *pqFile) { p.meta.field(fmNumRows).i += 5 })},
	{"lie_rowgroup_rows.parquet", footerLie(func(p *pqFile) {
		p.meta.structs(fmRowGroups)[0].field(rgNumRows).i *= 2
		p.meta.field(fmNumRows).i += 1000
	})},
	{"lie_chunk_offset_past_eof.parquet", footerLie(func(p *pqFile) {
		firstChunk(p).field(cmDataPage).i = int64(len(p.body)) + 1000
		firstChunk(p).set(cmDictPage, i64(int64(len(p.body))+1000))
	})},
	{"lie_chunk_offset_negative.parquet", footerLie(func(p *pqFile) {
		firstChunk(p).field(cmDataPage).i = -5
		firstChunk(p).set(cmDictPage, i64(-5))
	})},
	{"lie_chunk_size_huge.parquet", footerLie(func(p *pqFile) { firstChunk(p).field(cmCompressedLen).i = 1 << 40 })},
	{"lie_chunk_size_negative.parquet", footerLie(func(p *pqFile) { firstChunk(p).field(cmCompressedLen).i = -100 })},
	{"lie_num_values.parquet", footerLie(func(p *pqFile) { firstChunk(p).field(cmNumValues).i *= 3 })},
	{"lie_schema_children.parquet", footerLie(func(p *pqFile) { p.meta.structs(fmSchema)[0].field(seNumChildren).i += 3 })},
	{"lie_schema_type.parquet", footerLie(func(p *pqFile) {
		// i64: INT64 (2) said to be INT32 (1), in the schema and the chunk.
		p.meta.structs(fmSchema)[1+colI64].field(seType).i = 1
		for _, cm := range p.chunks() {
			if string(cm.field(cmPath).list[0].b) == "i64" {
				cm.field(cmType).i = 1
			}
		}
	})},
	{"lie_no_columns_in_rowgroup.parquet", footerLie(func(p *pqFile) {
		p.meta.structs(fmRowGroups)[0].field(rgColumns).list = nil
	})},
	{"lie_page_uncompressed_size.parquet", func() []byte {
		p := split(mixFile(compress.Codecs.Zstd, false))
		first := true
		must(p.rewriteHeaders(func(pg page) {
			if first {
				pg.header.set(2, i32(1<<31-1)) // uncompressed_page_size
				first = false
			}
		}))
		return p.bytes()
	}},
	{"lie_page_compressed_size.parquet", func() []byte {
		p := split(mixFile(compress.Codecs.Zstd, false))
		first := true
		must(p.rewriteHeaders(func(pg page) {
			if first {
				pg.header.set(phCompressedSize, i32(1<<30))
				first = false
			}
		}))
		return p.bytes()
	}},
}
