package sqlio

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/internal/testkit/pgtest"
)

// benchSchema is the result of a job with an int64 key and label.
var benchSchema = arrow.NewSchema([]arrow.Field{
	{Name: "customer_id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "score", Type: arrow.PrimitiveTypes.Float64},
	{Name: "label", Type: arrow.PrimitiveTypes.Int64},
	{Name: "score_date", Type: arrow.FixedWidthTypes.Date32},
	{Name: "run_id", Type: arrow.BinaryTypes.String},
	{Name: "model_version", Type: arrow.BinaryTypes.String},
}, nil)

// BenchmarkCopy writes 2M result rows to PostgreSQL with COPY, in chunks
// of 65536 rows as the scorer emits them, and publishes them.
func BenchmarkCopy(b *testing.B) {
	const total, chunk = 2_000_000, 65536
	ctx := context.Background()
	day := arrow.Date32FromTime(time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC))
	var recs []arrow.Record
	for first := 0; first < total; first += chunk {
		n := min(chunk, total-first)
		rb := array.NewRecordBuilder(memory.DefaultAllocator, benchSchema)
		for i := range n {
			k := first + i
			rb.Field(0).(*array.Int64Builder).Append(int64(k))
			rb.Field(1).(*array.Float64Builder).Append(float64(k%997) / 997)
			rb.Field(2).(*array.Int64Builder).Append(int64(k % 2))
			rb.Field(3).(*array.Date32Builder).Append(day)
			rb.Field(4).(*array.StringBuilder).Append("4f1c2a9e0b7d6c5a")
			rb.Field(5).(*array.StringBuilder).Append("churn-1.0")
		}
		recs = append(recs, rb.NewRecord())
		rb.Release()
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	s, err := OpenSink(ctx, SinkConfig{Driver: "postgres", DSN: pgtest.DSN(b), Table: "bench_scores"}, benchSchema)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		l, err := s.Begin(ctx, fmt.Sprintf("v%04d", i), "2026-11-20")
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
	}
	b.ReportMetric(float64(total*b.N)/time.Since(start).Seconds(), "rows/s")
}
