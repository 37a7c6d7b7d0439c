package sqlio

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/jackc/pgx/v5"
)

// Benchmarks against a PostgreSQL server that testdata/bench/sql.sh starts
// and loads (make bench). They are skipped unless BATCHSCORE_BENCH_PG_DSN
// holds the URL of its database. See BENCHMARKS.md, section SQL.
//
//	BenchmarkPGRead   SELECT * FROM customers (sql.sh loads 2M rows × 36
//	                  columns) through Open and Read into Arrow, 65,536-row
//	                  batches, records released at once.
//	BenchmarkPGWrite  2M result rows (the schema of jobs/output.go with a
//	                  flags column) through OpenSink, Begin, Write and
//	                  Publish into a fresh table bench_scores.
//	BenchmarkPGFlat   a generate_series query of 1M and 10M rows through
//	                  Read; reports the peak HeapInuse sampled per batch.
const (
	benchPGEnv   = "BATCHSCORE_BENCH_PG_DSN"
	benchPGBatch = 65536
)

func benchPG(b *testing.B) {
	b.Helper()
	if os.Getenv(benchPGEnv) == "" {
		b.Skipf("%s is not set (testdata/bench/sql.sh sets it)", benchPGEnv)
	}
}

// cpuSeconds is the CPU time of this process so far (user + system).
func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// benchReadQuery streams query through a Source and returns the rows read and
// the peak HeapInuse seen after each batch (when sample is set).
func benchReadQuery(b *testing.B, query string, sample bool) (int64, uint64) {
	b.Helper()
	ctx := context.Background()
	src, err := Open(ctx, Config{Driver: "postgres", DSNEnv: benchPGEnv, Query: query}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	var peak uint64
	var ms runtime.MemStats
	err = src.Read(ctx, nil, benchPGBatch, memory.DefaultAllocator, func(rec arrow.Record, _ string, _ int64) error {
		if sample {
			// HeapInuse while the batch is still held: the worst moment.
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
		rec.Release()
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if fp, _ := src.Fingerprint(ctx); fp == "" {
		b.Fatal("no fingerprint after Read")
	}
	return src.RowsRead(), peak
}

func BenchmarkPGRead(b *testing.B) {
	benchPG(b)
	var rows int64
	cpu := cpuSeconds()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		n, _ := benchReadQuery(b, "SELECT * FROM customers", false)
		rows += n
	}
	secs := time.Since(start).Seconds()
	b.ReportMetric(float64(rows)/secs, "rows/s")
	b.ReportMetric(float64(rows)/(cpuSeconds()-cpu), "rows/cpu-s")
	b.ReportMetric(float64(rows)/float64(b.N), "rows")
}

func BenchmarkPGFlat(b *testing.B) {
	benchPG(b)
	for _, total := range []int{1_000_000, 10_000_000} {
		b.Run(fmt.Sprintf("rows=%d", total), func(b *testing.B) {
			q := "SELECT g AS id, g*0.5 AS x, (g % 7)::int AS k FROM generate_series(1, " + strconv.Itoa(total) + ") g"
			var peak uint64
			var rows int64
			runtime.GC()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				n, p := benchReadQuery(b, q, true)
				rows += n
				peak = max(peak, p)
			}
			if rows != int64(total*b.N) {
				b.Fatalf("read %d rows, want %d", rows, total*b.N)
			}
			b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "rows/s")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}

// benchResultSchema is a job's result (jobs/output.go) with an int64 key
// and label and the flags column.
var benchResultSchema = arrow.NewSchema([]arrow.Field{
	{Name: "customer_id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "score", Type: arrow.PrimitiveTypes.Float64},
	{Name: "label", Type: arrow.PrimitiveTypes.Int64},
	{Name: "flags", Type: arrow.BinaryTypes.String},
	{Name: "score_date", Type: arrow.FixedWidthTypes.Date32},
	{Name: "run_id", Type: arrow.BinaryTypes.String},
	{Name: "model_version", Type: arrow.BinaryTypes.String},
}, nil)

// BenchmarkPGWrite writes 2M result rows in 65,536-row records, as the
// scorer emits them, and publishes them. The table is dropped first, so
// each round starts from an empty table, as psql's COPY does in sql.sh;
// it is kept afterwards for sql.sh to export the same rows as CSV.
func BenchmarkPGWrite(b *testing.B) {
	benchPG(b)
	const total = 2_000_000
	ctx := context.Background()
	dsn := os.Getenv(benchPGEnv)
	day := arrow.Date32FromTime(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	var recs []arrow.Record
	for first := 0; first < total; first += benchPGBatch {
		n := min(benchPGBatch, total-first)
		rb := array.NewRecordBuilder(memory.DefaultAllocator, benchResultSchema)
		for i := range n {
			k := first + i
			rb.Field(0).(*array.Int64Builder).Append(int64(1_000_000 + k))
			rb.Field(1).(*array.Float64Builder).Append(float64(float32(k%9973) / 9973))
			rb.Field(2).(*array.Int64Builder).Append(int64(k % 2))
			rb.Field(3).(*array.StringBuilder).Append("")
			rb.Field(4).(*array.Date32Builder).Append(day)
			rb.Field(5).(*array.StringBuilder).Append("20261201T020000Z-4f1c2a9e")
			rb.Field(6).(*array.StringBuilder).Append("churn_gbm-2026.11")
		}
		recs = append(recs, rb.NewRecord())
		rb.Release()
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	var secs, cpu float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		_, err = conn.Exec(ctx, "DROP VIEW IF EXISTS bench_scores_current; DROP TABLE IF EXISTS bench_scores, bench_scores_runs")
		conn.Close(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		c0, t0 := cpuSeconds(), time.Now()
		s, err := OpenSink(ctx, SinkConfig{Driver: "postgres", DSN: dsn, Table: "bench_scores"}, benchResultSchema)
		if err != nil {
			b.Fatal(err)
		}
		l, err := s.Begin(ctx, fmt.Sprintf("v%04d", i), "2026-12-01")
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range recs {
			if err := l.Write(ctx, r); err != nil {
				b.Fatal(err)
			}
		}
		if err := l.Publish(ctx); err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		secs += time.Since(t0).Seconds()
		cpu += cpuSeconds() - c0
	}
	b.ReportMetric(float64(total*b.N)/secs, "rows/s")
	b.ReportMetric(float64(total*b.N)/cpu, "rows/cpu-s")
	b.ReportMetric(total, "rows")
}
