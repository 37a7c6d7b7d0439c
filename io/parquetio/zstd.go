package parquetio

import (
	"sync"

	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/klauspost/compress/zstd"
)

// pooledZstd replaces arrow v17's zstd codec, whose EncodeLevel builds a
// new encoder, history buffers and all, for every page it compresses
// (measured: half of the time spent writing results). The bytes are the
// same: one encoder per level, with the options arrow uses, serves every
// page, since EncodeAll may be called concurrently.
type pooledZstd struct{ compress.Codec }

var zstdEncoders sync.Map // zstd.EncoderLevel -> *zstd.Encoder

func (c pooledZstd) EncodeLevel(dst, src []byte, level int) []byte {
	lvl := zstd.SpeedDefault
	if level != compress.DefaultCompressionLevel {
		lvl = zstd.EncoderLevelFromZstd(level)
	}
	e, ok := zstdEncoders.Load(lvl)
	if !ok {
		enc, err := zstd.NewWriter(nil, zstd.WithZeroFrames(true), zstd.WithEncoderLevel(lvl))
		if err != nil {
			return c.Codec.EncodeLevel(dst, src, level)
		}
		e, _ = zstdEncoders.LoadOrStore(lvl, enc)
	}
	return e.(*zstd.Encoder).EncodeAll(src, dst[:0])
}

func init() {
	if orig, err := compress.GetCodec(compress.Codecs.Zstd); err == nil {
		compress.RegisterCodec(compress.Codecs.Zstd, pooledZstd{orig})
	}
}
