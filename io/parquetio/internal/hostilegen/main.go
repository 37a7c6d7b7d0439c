// Command hostilegen writes the arrow-written and handmade files of the
// hostile Parquet corpus that io/parquetio's hostile test reads:
//
//	go run ./io/parquetio/internal/hostilegen -out testdata/hostile
//
// Output is deterministic (fixed seeds, no clocks). The DuckDB-written
// files come from testdata/hostile/duckdb_write.mjs; what each file should
// do is in testdata/hostile/expect.json.
package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
)

// Size limits keep the corpus cheap to clone and to read in CI.
const (
	maxFileBytes   = 2 << 20
	maxCorpusBytes = 15 << 20
)

type corpusFile struct {
	name string
	make func() []byte
}

func corpus() []corpusFile {
	files := append(encodingFiles(), codecFiles()...)
	files = append(files, []corpusFile{
		{"nested.parquet", nestedFile},
		{"nested_only.parquet", nestedOnlyFile},
		{"int96_timestamps.parquet", int96File},
		{"decimal.parquet", decimalFile},
		{"decimal_as_int.parquet", decimalIntFile},
		{"float16.parquet", float16File},
		{"misc_types.parquet", miscTypesFile},
		{"zero_rows.parquet", zeroRowFile},
		{"empty_row_group.parquet", emptyRowGroupFile},
		{"huge_row_group_300k.parquet", hugeRowGroupFile},
		{"many_row_groups.parquet", manyRowGroupsFile},
		{"specials_nan_inf_null.parquet", specialsFile},
		{"invalid_utf8.parquet", badUTF8File},
		{"big_string_1mib.parquet", bigStringFile},
		{"wide_10000_columns.parquet", wideFile},
		{"duplicate_names.parquet", dupNamesFile},
		{"dotted_name_clash.parquet", dottedClashFile},
		{"byte_stream_split.parquet", byteStreamSplitFile},
		{"checksums.parquet", func() []byte { return checksumFile(false) }},
		{"checksums_corrupt_page.parquet", func() []byte { return checksumFile(true) }},
		{"corrupt_page_zstd.parquet", func() []byte {
			return corruptPage(mixFile(compress.Codecs.Zstd, false), colF64, 0.5, 32)
		}},
		{"corrupt_page_gzip.parquet", func() []byte {
			return corruptPage(mixFile(compress.Codecs.Gzip, false), colS, 0.5, 32)
		}},
		{"corrupt_page_header.parquet", func() []byte {
			return corruptPageHeader(mixFile(compress.Codecs.Snappy, false), colF64)
		}},
		{"corrupt_dict_indices.parquet", func() []byte {
			return corruptPage(mixFile(compress.Codecs.Uncompressed, true), colS, 0.5, 16)
		}},
		{"corrupt_delta.parquet", func() []byte {
			f := mixFile(compress.Codecs.Uncompressed, false, parquet.WithEncodingFor("i64", parquet.Encodings.DeltaBinaryPacked))
			return corruptPage(f, colI64, 0.3, 16)
		}},
		{"corrupt_def_levels.parquet", func() []byte {
			return corruptPage(mixFile(compress.Codecs.Uncompressed, false), colF64, 0, 4)
		}},
		{"corrupt_v2_levels.parquet", func() []byte {
			f := mixFile(compress.Codecs.Uncompressed, false, parquet.WithDataPageVersion(parquet.DataPageV2))
			return corruptPage(f, colF64, 0, 4)
		}},
		{"truncated_tail.parquet", truncatedTail},
		{"truncated_footer.parquet", footerCut},
		{"footer_length_lies.parquet", footerLenLies},
		{"footer_garbled.parquet", footerGarbled},
		{"magic_zero_footer.parquet", magicZeroFooter},
		{"not_parquet.parquet", func() []byte { return []byte("id,x\n1,0.5\n2,1.5\n") }},
		{"gzip_of_parquet.parquet", gzipped},
		{"zero_bytes.parquet", func() []byte { return nil }},
	}...)
	return append(files, footerLies...)
}

// gzipped is a whole Parquet file gzipped, as a careless export might be.
func gzipped() []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(mixFile(compress.Codecs.Snappy, true))
	must(zw.Close())
	return buf.Bytes()
}

func main() {
	out := flag.String("out", "testdata/hostile", "folder to write the files to")
	flag.Parse()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	var total int
	for _, f := range corpus() {
		data := f.make()
		if len(data) > maxFileBytes {
			log.Fatalf("%s: %d bytes, more than the %d a corpus file may have", f.name, len(data), maxFileBytes)
		}
		total += len(data)
		if err := os.WriteFile(filepath.Join(*out, f.name), data, 0o644); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%9d  %s\n", len(data), f.name)
	}
	if total > maxCorpusBytes {
		log.Fatalf("corpus is %d bytes, more than %d", total, maxCorpusBytes)
	}
	fmt.Printf("%9d  total\n", total)
}
