package main

import (
	"bytes"
	"testing"

	"github.com/apache/arrow/go/v17/parquet/compress"
)

// The edits rely on decode→encode being exact: an unedited file must come
// back byte for byte, footer and page headers alike.
func TestThriftRoundTrip(t *testing.T) {
	for name, data := range map[string][]byte{
		"mix":    mixFile(compress.Codecs.Zstd, true),
		"nested": nestedFile(),
		"many":   manyRowGroupsFile(), // lists of 15 and more
	} {
		p, err := splitFile(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(p.bytes(), data) {
			t.Errorf("%s: footer does not round-trip", name)
		}
		if err := p.rewriteHeaders(func(page) {}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(p.bytes(), data) {
			t.Errorf("%s: page headers do not round-trip", name)
		}
	}
}
