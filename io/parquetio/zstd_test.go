package parquetio

import (
	"bytes"
	"testing"

	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/klauspost/compress/zstd"
)

// The pooled codec must give exactly the bytes of a fresh encoder, which
// is what arrow's own codec makes for every page.
func TestPooledZstdMatchesFreshEncoder(t *testing.T) {
	codec, err := compress.GetCodec(compress.Codecs.Zstd)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := codec.(pooledZstd); !ok {
		t.Fatalf("zstd codec is %T, not the pooled one", codec)
	}
	fresh, err := zstd.NewWriter(nil, zstd.WithZeroFrames(true), zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		t.Fatal(err)
	}
	for i, page := range [][]byte{
		bytes.Repeat([]byte("churn_gbm-2026.11"), 5000),
		[]byte("x"),
		func() []byte {
			b := make([]byte, 1<<16)
			for i := range b {
				b[i] = byte(i * 7919 >> 3)
			}
			return b
		}(),
	} {
		for range 3 { // reused encoders must not carry state from page to page
			got := codec.EncodeLevel(nil, page, compress.DefaultCompressionLevel)
			if want := fresh.EncodeAll(page, nil); !bytes.Equal(got, want) {
				t.Fatalf("page %d: pooled encoder wrote %d bytes, a fresh one %d", i, len(got), len(want))
			}
			if back := codec.Decode(nil, got); !bytes.Equal(back, page) {
				t.Fatalf("page %d does not round-trip", i)
			}
		}
	}
}
