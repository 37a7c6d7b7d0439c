package main

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/decimal128"
	"github.com/apache/arrow/go/v17/arrow/decimal256"
	"github.com/apache/arrow/go/v17/arrow/float16"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
)

// writeArrow writes records as one file with arrow's own writer; it takes
// the records' references.
func writeArrow(schema *arrow.Schema, recs []arrow.Record, props []parquet.WriterProperty, opts ...pqarrow.WriterOption) []byte {
	var buf bytes.Buffer
	w, err := pqarrow.NewFileWriter(schema, &buf, parquet.NewWriterProperties(props...), pqarrow.NewArrowWriterProperties(opts...))
	must(err)
	for _, r := range recs {
		must(w.Write(r))
		r.Release()
	}
	must(w.Close())
	return buf.Bytes()
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func props(p ...parquet.WriterProperty) []parquet.WriterProperty { return p }

var pageVersions = []struct {
	tag string
	v   parquet.DataPageVersion
}{{"v1", parquet.DataPageV1}, {"v2", parquet.DataPageV2}}

// encodingFiles: each encoding arrow writes, on the columns it applies
// to, with data pages v1 and v2; small pages so each chunk has several.
func encodingFiles() []corpusFile {
	encodings := []struct {
		name string
		cols []string
		enc  parquet.Encoding
	}{
		{"plain", nil, parquet.Encodings.Plain},
		{"dict", nil, parquet.Encodings.RLEDict},
		{"delta_binary_packed", []string{"id", "i32", "i64", "d", "ts"}, parquet.Encodings.DeltaBinaryPacked},
		{"delta_length_byte_array", []string{"s", "bin"}, parquet.Encodings.DeltaLengthByteArray},
		{"delta_byte_array", []string{"s", "bin"}, parquet.Encodings.DeltaByteArray},
		{"rle_bool", []string{"b"}, parquet.Encodings.RLE},
	}
	var out []corpusFile
	for _, pv := range pageVersions {
		for i, e := range encodings {
			p := props(
				parquet.WithDataPageVersion(pv.v),
				parquet.WithCompression(compress.Codecs.Snappy),
				parquet.WithDataPageSize(4096),
				parquet.WithMaxRowGroupLength(1000),
				parquet.WithDictionaryDefault(e.enc == parquet.Encodings.RLEDict),
			)
			for _, c := range e.cols {
				p = append(p, parquet.WithEncodingFor(c, e.enc))
			}
			seed := uint64(100 + i)
			out = append(out, corpusFile{fmt.Sprintf("enc_%s_%s.parquet", e.name, pv.tag), func() []byte {
				return writeArrow(mixSchema, []arrow.Record{mixRecord(2000, seed)}, p)
			}})
		}
	}
	return out
}

// codecFiles: each codec arrow writes (it has no LZ4_RAW: DuckDB's files
// bring that one), pages v1 and v2.
func codecFiles() []corpusFile {
	codecs := []struct {
		name  string
		codec compress.Compression
	}{
		{"uncompressed", compress.Codecs.Uncompressed},
		{"snappy", compress.Codecs.Snappy},
		{"gzip", compress.Codecs.Gzip},
		{"zstd", compress.Codecs.Zstd},
		{"brotli", compress.Codecs.Brotli},
	}
	var out []corpusFile
	for _, pv := range pageVersions {
		for i, c := range codecs {
			p := props(parquet.WithDataPageVersion(pv.v), parquet.WithCompression(c.codec), parquet.WithMaxRowGroupLength(1500))
			seed := uint64(200 + i)
			out = append(out, corpusFile{fmt.Sprintf("codec_%s_%s.parquet", c.name, pv.tag), func() []byte {
				return writeArrow(mixSchema, []arrow.Record{mixRecord(2000, seed)}, p)
			}})
		}
	}
	return out
}

var nestedSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Float32), Nullable: true},
	{Name: "st", Type: arrow.StructOf(
		arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		arrow.Field{Name: "b", Type: arrow.BinaryTypes.String, Nullable: true},
	), Nullable: true},
	{Name: "m", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Float64), Nullable: true},
	{Name: "ll", Type: arrow.ListOf(arrow.ListOf(arrow.PrimitiveTypes.Int32)), Nullable: true},
	{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
}, nil)

// nestedRows spells rows of nestedSchema as JSON, with null and empty
// lists, null elements, null structs and null fields among them.
func nestedRows(n int) string {
	r := rand.New(rand.NewPCG(300, 1))
	var b strings.Builder
	b.WriteString("[")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		l := "null"
		switch r.IntN(5) {
		case 0:
		case 1:
			l = "[]"
		default:
			l = fmt.Sprintf("[%.2f,null,%.2f]", r.Float64(), r.Float64())
		}
		st := "null"
		if r.IntN(6) > 0 {
			st = fmt.Sprintf(`{"a":%d,"b":%q}`, r.IntN(100), words[r.IntN(len(words))])
			if r.IntN(4) == 0 {
				st = `{"a":null,"b":null}`
			}
		}
		m := fmt.Sprintf(`[{"key":"k%d","value":%.3f}]`, r.IntN(9), r.Float64())
		ll := fmt.Sprintf("[[%d],[],null,[%d,%d]]", r.IntN(9), r.IntN(9), r.IntN(9))
		x := "null"
		if r.IntN(8) > 0 {
			x = fmt.Sprintf("%.3f", r.NormFloat64())
		}
		fmt.Fprintf(&b, `{"id":%d,"l":%s,"st":%s,"m":%s,"ll":%s,"x":%s}`, i, l, st, m, ll, x)
	}
	b.WriteString("]")
	return b.String()
}

func nestedFile() []byte {
	return writeArrow(nestedSchema, []arrow.Record{fromJSON(nestedSchema, nestedRows(600))},
		props(parquet.WithMaxRowGroupLength(250), parquet.WithCompression(compress.Codecs.Zstd)))
}

// nestedOnlyFile has no flat column at all.
func nestedOnlyFile() []byte {
	full := fromJSON(nestedSchema, nestedRows(100))
	schema := arrow.NewSchema([]arrow.Field{nestedSchema.Field(2), nestedSchema.Field(1)}, nil)
	rec := array.NewRecord(schema, []arrow.Array{full.Column(2), full.Column(1)}, full.NumRows())
	full.Release()
	return writeArrow(schema, []arrow.Record{rec}, nil)
}

// int96File stores timestamps as the deprecated INT96 (Impala, old Spark).
func int96File() []byte {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "ts", Type: arrow.FixedWidthTypes.Timestamp_ns, Nullable: true},
		{Name: "ts_utc", Type: &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	stamps := []int64{0, 1, -1, 1_700_000_000_123_456_789, math.MaxInt64, math.MinInt64 + 1, -86_400_000_000_001}
	for i, v := range stamps {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(v))
		if i%3 == 2 {
			b.Field(2).AppendNull()
		} else {
			b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(v))
		}
	}
	return writeArrow(schema, []arrow.Record{b.NewRecord()}, nil, pqarrow.WithDeprecatedInt96Timestamps(true))
}

var decimalSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "dec9_2", Type: &arrow.Decimal128Type{Precision: 9, Scale: 2}, Nullable: true},
	{Name: "dec18_4", Type: &arrow.Decimal128Type{Precision: 18, Scale: 4}, Nullable: true},
	{Name: "dec38_10", Type: &arrow.Decimal128Type{Precision: 38, Scale: 10}, Nullable: true},
	{Name: "dec76_20", Type: &arrow.Decimal256Type{Precision: 76, Scale: 20}, Nullable: true},
}, nil)

func decimalRecord() arrow.Record {
	r := rand.New(rand.NewPCG(400, 1))
	b := array.NewRecordBuilder(mem, decimalSchema)
	defer b.Release()
	for i := range 500 {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		if i%7 == 0 {
			for f := 1; f < 5; f++ {
				b.Field(f).AppendNull()
			}
			continue
		}
		b.Field(1).(*array.Decimal128Builder).Append(decimal128.FromI64(r.Int64N(2e9) - 1e9))
		b.Field(2).(*array.Decimal128Builder).Append(decimal128.FromI64(r.Int64N(2e17) - 1e17))
		big := decimal128.FromI64(r.Int64N(1e18)).Mul(decimal128.FromI64(r.Int64N(1e18)))
		if i%2 == 0 {
			big = big.Negate()
		}
		b.Field(3).(*array.Decimal128Builder).Append(big)
		b.Field(4).(*array.Decimal256Builder).Append(decimal256.FromI64(r.Int64()).Mul(decimal256.FromI64(r.Int64())))
	}
	return b.NewRecord()
}

func decimalFile() []byte {
	return writeArrow(decimalSchema, []arrow.Record{decimalRecord()}, nil)
}

// decimalIntFile stores the small decimals as INT32/INT64, not bytes.
func decimalIntFile() []byte {
	return writeArrow(decimalSchema, []arrow.Record{decimalRecord()}, props(parquet.WithStoreDecimalAsInteger(true)))
}

func float16File() []byte {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "h", Type: arrow.FixedWidthTypes.Float16, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	vals := []float32{0, 1.5, -2.25, 65504, -65504, 6e-8, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
	for i := range 100 {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		if i%10 == 9 {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.Float16Builder).Append(float16.New(vals[i%len(vals)]))
		}
	}
	return writeArrow(schema, []arrow.Record{b.NewRecord()}, nil)
}

// zeroRowFile has the schema and no row group.
func zeroRowFile() []byte { return writeArrow(mixSchema, nil, nil) }

// emptyRowGroupFile has one row group of zero rows.
func emptyRowGroupFile() []byte {
	return writeArrow(mixSchema, []arrow.Record{mixRecord(0, 1)}, nil)
}

// hugeRowGroupFile: 300,000 rows in one row group, few columns, small on disk.
func hugeRowGroupFile() []byte {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "x", Type: arrow.PrimitiveTypes.Float64},
		{Name: "flag", Type: arrow.FixedWidthTypes.Boolean},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for i := range 300_000 {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.Float64Builder).Append(float64(i%1000) / 8)
		b.Field(2).(*array.BooleanBuilder).Append(i%3 == 0)
	}
	return writeArrow(schema, []arrow.Record{b.NewRecord()}, props(
		parquet.WithMaxRowGroupLength(1<<30),
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithDictionaryFor("id", false),
		parquet.WithEncodingFor("id", parquet.Encodings.DeltaBinaryPacked),
	))
}

// manyRowGroupsFile: a row group per row.
func manyRowGroupsFile() []byte {
	return writeArrow(mixSchema, []arrow.Record{mixRecord(400, 500)}, props(parquet.WithMaxRowGroupLength(1), parquet.WithStats(false)))
}

// specialsFile: NaN, ±Inf, -0, extremes, and columns that are null throughout.
func specialsFile() []byte {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "i64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "all_null_f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "all_null_s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "all_null_b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "all_nan", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	}, nil)
	f64s := []float64{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1), math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, 0}
	i64s := []int64{math.MinInt64, math.MaxInt64, 0, -1}
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for i := range 1000 {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		if i%5 == 4 {
			b.Field(1).AppendNull()
			b.Field(2).AppendNull()
			b.Field(3).AppendNull()
		} else {
			v := f64s[i%len(f64s)]
			b.Field(1).(*array.Float32Builder).Append(float32(v))
			b.Field(2).(*array.Float64Builder).Append(v)
			b.Field(3).(*array.Int64Builder).Append(i64s[i%len(i64s)])
		}
		b.Field(4).AppendNull()
		b.Field(5).AppendNull()
		b.Field(6).AppendNull()
		b.Field(7).(*array.Float64Builder).Append(math.NaN())
	}
	return writeArrow(schema, []arrow.Record{b.NewRecord()}, props(parquet.WithMaxRowGroupLength(300)))
}

// badUTF8File: strings (and a column name) that are not UTF-8; Parquet and
// arrow store them as they come.
func badUTF8File() []byte {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "bad\xffname", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	bad := []string{"\xff\xfe", "\xc3\x28", "\xed\xa0\x80", "ok", "a\x00b", "\xf4\x90\x80\x80", ""}
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for i := range 70 {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.StringBuilder).Append(bad[i%len(bad)])
		b.Field(2).(*array.Float64Builder).Append(float64(i))
	}
	return writeArrow(schema, []arrow.Record{b.NewRecord()}, nil)
}

// bigStringFile has one 1 MiB string among short ones.
func bigStringFile() []byte {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: arrow.BinaryTypes.String},
	}, nil)
	r := rand.New(rand.NewPCG(600, 1))
	chunk := make([]byte, 4096)
	for i := range chunk {
		chunk[i] = 'a' + byte(r.IntN(26))
	}
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for i := range 5 {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		s := "short"
		if i == 2 {
			s = strings.Repeat(string(chunk), 256)
		}
		b.Field(1).(*array.StringBuilder).Append(s)
	}
	return writeArrow(schema, []arrow.Record{b.NewRecord()}, props(parquet.WithCompression(compress.Codecs.Zstd), parquet.WithDictionaryDefault(false)))
}

// wideFile: 10,000 columns, 3 rows; the footer is most of the file.
func wideFile() []byte {
	const n = 10_000
	fields := make([]arrow.Field, n)
	cols := make([]arrow.Array, n)
	for i := range fields {
		fields[i] = arrow.Field{Name: fmt.Sprintf("c%05d", i), Type: arrow.PrimitiveTypes.Float64}
		b := array.NewFloat64Builder(mem)
		b.AppendValues([]float64{float64(i), 0.5, -1}, nil)
		cols[i] = b.NewArray()
		b.Release()
	}
	schema := arrow.NewSchema(fields, nil)
	rec := array.NewRecord(schema, cols, 3)
	for _, c := range cols {
		c.Release()
	}
	return writeArrow(schema, []arrow.Record{rec}, props(parquet.WithStats(false), parquet.WithDictionaryDefault(false)))
}

// pairFile writes two float64/int64 columns with the given names.
func pairFile(schema *arrow.Schema) []byte {
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for i := range 10 {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.Float64Builder).Append(float64(i) / 2)
	}
	return writeArrow(schema, []arrow.Record{b.NewRecord()}, nil)
}

// dupNamesFile has two top-level columns named "x"; arrow's writer lets it.
func dupNamesFile() []byte {
	return pairFile(arrow.NewSchema([]arrow.Field{
		{Name: "x", Type: arrow.PrimitiveTypes.Int64},
		{Name: "x", Type: arrow.PrimitiveTypes.Float64},
	}, nil))
}

// dottedClashFile: a struct a{b} ahead of a flat column named "a.b": both
// leaves have the path "a.b".
func dottedClashFile() []byte {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "a", Type: arrow.StructOf(arrow.Field{Name: "b", Type: arrow.PrimitiveTypes.Float64})},
		{Name: "a.b", Type: arrow.PrimitiveTypes.Int64},
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	return writeArrow(schema, []arrow.Record{fromJSON(schema, `[{"a":{"b":0.5},"a.b":7,"id":0},{"a":{"b":1.5},"a.b":8,"id":1}]`)}, nil)
}

// miscTypesFile: the other flat types a writer may use.
func miscTypesFile() []byte {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "i8", Type: arrow.PrimitiveTypes.Int8},
		{Name: "i16", Type: arrow.PrimitiveTypes.Int16},
		{Name: "u8", Type: arrow.PrimitiveTypes.Uint8},
		{Name: "u16", Type: arrow.PrimitiveTypes.Uint16},
		{Name: "u32", Type: arrow.PrimitiveTypes.Uint32},
		{Name: "u64", Type: arrow.PrimitiveTypes.Uint64},
		{Name: "ls", Type: arrow.BinaryTypes.LargeString},
		{Name: "t32", Type: arrow.FixedWidthTypes.Time32ms},
		{Name: "t64", Type: arrow.FixedWidthTypes.Time64us},
		{Name: "d64", Type: arrow.FixedWidthTypes.Date64},
		{Name: "fsb", Type: &arrow.FixedSizeBinaryType{ByteWidth: 3}},
		{Name: "dict", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}},
	}, nil)
	rows := `[{"id":0,"i8":-128,"i16":-32768,"u8":255,"u16":65535,"u32":4294967295,"u64":18446744073709551615,"ls":"x","t32":1,"t64":2,"d64":86400000,"fsb":"AAEC","dict":"a"},
	          {"id":1,"i8":127,"i16":32767,"u8":0,"u16":0,"u32":0,"u64":0,"ls":"","t32":86399999,"t64":86399999999,"d64":0,"fsb":"////","dict":"b"}]`
	return writeArrow(schema, []arrow.Record{fromJSON(schema, rows)}, nil, pqarrow.WithStoreSchema())
}
