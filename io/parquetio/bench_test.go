package parquetio_test

// Benchmarks of the Parquet side of a run, without any model: hashing the
// snapshot for its fingerprint, reading the columns a job reads, and a
// read→write pass that writes result files of the shape batchscore writes.
// Run by testdata/bench/run.sh (make bench); see BENCHMARKS.md.
//
// They need a snapshot: $BATCHSCORE_BENCH_SNAPSHOT, a glob such as
// out/bench/snap-2m/snapshot_date=2026-12-01/*.parquet (skipped if unset).
// One iteration is one pass over the whole snapshot; use -benchtime 1x.
// Result files go under $BATCHSCORE_BENCH_OUT (default: a temporary folder).

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/io/parquetio"
)

const benchChunkRows = 65536

// benchColumns are what the churn jobs read: the key and the 30 features.
var benchColumns = []string{
	"customer_id",
	"tenure_months", "age", "is_senior", "has_partner", "num_dependents",
	"monthly_charges", "total_charges", "num_products", "avg_monthly_data_gb",
	"avg_call_minutes", "dropped_call_rate", "network_quality_score",
	"num_support_calls", "tech_support_hours", "satisfaction_score",
	"late_payment_ratio", "outstanding_balance", "discount_pct",
	"price_increase_pct_12m", "bill_variability", "paperless_billing",
	"has_streaming", "app_sessions_per_week", "avg_session_minutes",
	"days_since_last_login", "email_open_rate", "credit_score",
	"household_income_k", "distance_to_store_km", "months_to_contract_end",
}

func benchSource(b *testing.B) *parquetio.Source {
	b.Helper()
	pattern := os.Getenv("BATCHSCORE_BENCH_SNAPSHOT")
	if pattern == "" {
		b.Skip("BATCHSCORE_BENCH_SNAPSHOT is not set (make bench sets it)")
	}
	src, err := parquetio.Open(pattern)
	if err != nil {
		b.Fatal(err)
	}
	return src
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs pass b.N times and reports rows/s (wall) and rows per
// CPU-second of the whole process (less sensitive to a busy machine).
func measure(b *testing.B, rows int64, pass func(i int)) {
	b.Helper()
	runtime.GC()
	b.ResetTimer()
	start, cpu := time.Now(), cpuTime()
	for i := 0; i < b.N; i++ {
		pass(i)
	}
	wall, cpu := time.Since(start), cpuTime()-cpu
	b.StopTimer()
	total := float64(rows) * float64(b.N)
	b.ReportMetric(total/wall.Seconds(), "rows/s")
	if cpu > 0 {
		b.ReportMetric(total/cpu.Seconds(), "rows/cpu-s")
	}
}

func BenchmarkFingerprint(b *testing.B) {
	src := benchSource(b)
	measure(b, src.Rows(), func(int) {
		if _, err := src.Fingerprint(context.Background()); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkFingerprintColumns fingerprints the snapshot for a job that
// reads the first n of its columns, n = 1, a quarter, all: the cost
// follows the columns read (hashed MB/op), not the files' size.
func BenchmarkFingerprintColumns(b *testing.B) {
	src := benchSource(b)
	fields := src.Schema().Fields()
	for _, n := range []int{1, max(1, len(fields)/4), len(fields)} {
		cols := make([]string, n)
		for i := range cols {
			cols[i] = fields[i].Name
		}
		b.Run(fmt.Sprintf("cols=%d-of-%d", n, len(fields)), func(b *testing.B) {
			src.FingerprintColumns(cols)
			var hashed int64
			for _, f := range src.Files() {
				hashed += parquetio.HashedBytes(f.Path, f.Size, cols)
			}
			measure(b, src.Rows(), func(int) {
				if _, err := src.Fingerprint(context.Background()); err != nil {
					b.Fatal(err)
				}
			})
			b.ReportMetric(float64(hashed)/1e6, "hashed-MB/op")
		})
	}
}

func BenchmarkRead(b *testing.B) {
	src := benchSource(b)
	mem := memory.DefaultAllocator
	measure(b, src.Rows(), func(int) {
		var n int64
		err := src.Read(context.Background(), benchColumns, benchChunkRows, mem, func(rec arrow.Record, _ string, _ int64) error {
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
}

// BenchmarkReadWrite reads the job's columns in one goroutine and writes
// result files in another, joined by a channel as in the run pipeline.
// The result rows have batchscore's result schema: the key, a float64
// score (a float32 probability, as the models give), an int64 label and
// the three per-run constant columns.
func BenchmarkReadWrite(b *testing.B) {
	src := benchSource(b)
	mem := memory.DefaultAllocator
	root := os.Getenv("BATCHSCORE_BENCH_OUT")
	if root == "" {
		root = b.TempDir()
	}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "customer_id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "score", Type: arrow.PrimitiveTypes.Float64},
		{Name: "label", Type: arrow.PrimitiveTypes.Int64},
		{Name: "score_date", Type: arrow.FixedWidthTypes.Date32},
		{Name: "run_id", Type: arrow.BinaryTypes.String},
		{Name: "model_version", Type: arrow.BinaryTypes.String},
	}, nil)
	constants := constantColumns(mem, benchChunkRows)
	defer func() {
		for _, c := range constants {
			c.Release()
		}
	}()
	var bytes int64
	measure(b, src.Rows(), func(i int) {
		dir := filepath.Join(root, fmt.Sprintf("readwrite-%d-%d", os.Getpid(), i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		defer os.RemoveAll(dir)
		w, err := parquetio.NewWriter(dir, schema, "zstd", 4_000_000, mem)
		if err != nil {
			b.Fatal(err)
		}
		recs := make(chan arrow.Record, 2)
		done := make(chan error, 1)
		go func() {
			var werr error
			for rec := range recs {
				if werr == nil {
					out := resultRecord(schema, rec, constants, mem)
					werr = w.Write(out)
					out.Release()
				}
				rec.Release()
			}
			done <- werr
		}()
		rerr := src.Read(context.Background(), benchColumns, benchChunkRows, mem, func(rec arrow.Record, _ string, _ int64) error {
			recs <- rec
			return nil
		})
		close(recs)
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		if rerr != nil {
			b.Fatal(rerr)
		}
		files, err := w.Close()
		if err != nil {
			b.Fatal(err)
		}
		bytes = 0
		for _, f := range files {
			bytes += f.Bytes
		}
	})
	b.ReportMetric(float64(bytes)/float64(src.Rows()), "out-bytes/row")
}

func constantColumns(mem memory.Allocator, n int) []arrow.Array {
	dates := array.NewDate32Builder(mem)
	defer dates.Release()
	runs := array.NewStringBuilder(mem)
	defer runs.Release()
	versions := array.NewStringBuilder(mem)
	defer versions.Release()
	d := arrow.Date32FromTime(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	for range n {
		dates.Append(d)
		runs.Append("0123456789abcdef")
		versions.Append("churn_gbm-2026.11")
	}
	return []arrow.Array{dates.NewArray(), runs.NewArray(), versions.NewArray()}
}

// resultRecord builds a result record from a read record: the key as read,
// a score and label computed from a feature so that they compress like
// real scores, and slices of the constant columns.
func resultRecord(schema *arrow.Schema, rec arrow.Record, constants []arrow.Array, mem memory.Allocator) arrow.Record {
	n := int(rec.NumRows())
	charges := rec.Column(int(indexOf(rec, "monthly_charges"))).(*array.Float64)
	sb := array.NewFloat64Builder(mem)
	defer sb.Release()
	lb := array.NewInt64Builder(mem)
	defer lb.Release()
	sb.Resize(n)
	lb.Resize(n)
	for i := 0; i < n; i++ {
		p := float64(float32(1 / (1 + math.Exp(-(charges.Value(i)-70)/20))))
		sb.UnsafeAppend(p)
		var l int64
		if p > 0.5 {
			l = 1
		}
		lb.UnsafeAppend(l)
	}
	score, label := sb.NewArray(), lb.NewArray()
	defer score.Release()
	defer label.Release()
	cols := []arrow.Array{rec.Column(int(indexOf(rec, "customer_id"))), score, label}
	for _, c := range constants {
		sl := array.NewSlice(c, 0, int64(n))
		defer sl.Release()
		cols = append(cols, sl)
	}
	return array.NewRecord(schema, cols, int64(n))
}

func indexOf(rec arrow.Record, name string) int {
	idx := rec.Schema().FieldIndices(name)
	if len(idx) == 0 {
		panic("column " + name + " missing")
	}
	return idx[0]
}
