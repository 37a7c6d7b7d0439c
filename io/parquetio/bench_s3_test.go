package parquetio_test

// BenchmarkReadS3 is BenchmarkRead (local disk) with the same snapshot in
// MinIO on loopback: $BATCHSCORE_BENCH_SNAPSHOT's files are uploaded once
// to a fresh bucket, then every pass reads the benchmark's columns through
// ranged GETs. MinIO runs on the same machine: its CPU is in rows/s (wall)
// but not in rows/cpu-s, which counts this process only.
//
//	BATCHSCORE_BENCH_SNAPSHOT='out/bench/snap-2m/snapshot_date=2026-12-01/*.parquet' \
//	MINIO_BIN=$PWD/third_party/minio/minio \
//	go test -run '^$' -bench '^BenchmarkRead(S3)?$' -benchtime 3x ./io/parquetio/

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/internal/testkit/miniotest"
	"github.com/batchscore/batchscore/io/blob"
	"github.com/batchscore/batchscore/io/parquetio"
)

func BenchmarkReadS3(b *testing.B) {
	pattern := os.Getenv("BATCHSCORE_BENCH_SNAPSHOT")
	if pattern == "" {
		b.Skip("BATCHSCORE_BENCH_SNAPSHOT is not set (make bench sets it)")
	}
	paths, err := filepath.Glob(pattern)
	if err != nil || len(paths) == 0 {
		b.Fatalf("%s matches no file (%v)", pattern, err)
	}
	ctx := context.Background()
	bucketURL := miniotest.Bucket(b)
	bucket, err := blob.Open(ctx, bucketURL)
	if err != nil {
		b.Fatal(err)
	}
	defer bucket.Close()
	for _, p := range paths {
		if err := bucket.Upload(ctx, "snap/"+filepath.Base(p), p); err != nil {
			b.Fatal(err)
		}
	}
	i := strings.Index(bucketURL, "?")
	start := time.Now()
	src, err := parquetio.Open(bucketURL[:i] + "/snap/*.parquet" + bucketURL[i:])
	if err != nil {
		b.Fatal(err)
	}
	openTime := time.Since(start)
	mem := memory.DefaultAllocator
	measure(b, src.Rows(), func(int) {
		var n int64
		err := src.Read(ctx, benchColumns, benchChunkRows, mem, func(rec arrow.Record, _ string, _ int64) error {
			n += rec.NumRows()
			rec.Release()
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if n != src.Rows() {
			b.Fatalf("read %d rows, want %d", n, src.Rows())
		}
	})
	b.ReportMetric(float64(openTime.Microseconds())/1000, "open-ms") // after measure, whose ResetTimer drops metrics
}
