package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/io/parquetio"
	"github.com/batchscore/batchscore/io/source/sourcetest"
)

// A run reads its Parquet snapshot through the CLI's read pool: the
// manifest and the metrics file show the pool's peak.
func TestRunReportsReadPoolPeak(t *testing.T) {
	table := filepath.Join(t.TempDir(), "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table})
	prom := filepath.Join(t.TempDir(), "batchscore.prom")
	res := bs(t, "run", job, "--date", date20, "--metrics-file", prom, "--json")
	if res.code != 0 {
		t.Fatal(res)
	}
	m := parseManifest(t, []byte(res.stdout))
	if m.Source.ReadPoolPeakBytes <= 0 {
		t.Errorf("manifest source.read_pool_peak_bytes = %d, want the pool's peak", m.Source.ReadPoolPeakBytes)
	}
	data, err := os.ReadFile(prom)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `batchscore_read_pool_peak_bytes{batchscore_job="churn_nightly"} `) {
		t.Errorf("metrics file lacks the read pool's peak:\n%s", data)
	}
}

// The daemon's /metrics ends with the read pool's figures, after the
// scheduler's own.
func TestServeMetricsShowReadPool(t *testing.T) {
	pool := parquetio.NewBufferPool()
	dir := t.TempDir()
	var rows []sourcetest.Row
	for range 100 { // 10,000 rows: buffers big enough to be pooled
		rows = append(rows, sourcetest.Snapshot(1)...)
	}
	rec := sourcetest.Record(memory.DefaultAllocator, rows)
	defer rec.Release()
	w, err := parquetio.NewWriter(dir, rec.Schema(), "zstd", 1<<20, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	src, err := parquetio.Open(filepath.Join(dir, "*.parquet"), parquetio.WithBufferPool(pool))
	if err != nil {
		t.Fatal(err)
	}
	err = src.Read(context.Background(), []string{"id", "x"}, 10_000, memory.DefaultAllocator, func(rec arrow.Record, _ string, _ int64) error {
		rec.Release()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	inner := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("batchscore_jobs 1\n")) })
	srv := httptest.NewServer(withPoolMetrics(inner, pool))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := new(strings.Builder)
	if _, err := io.Copy(body, resp.Body); err != nil {
		t.Fatal(err)
	}
	text := body.String()
	if !strings.HasPrefix(text, "batchscore_jobs 1\n") || !strings.Contains(text, `batchscore_read_pool_bytes{state="in_use"} 0`) ||
		!strings.Contains(text, `batchscore_read_pool_bytes{state="peak"} `) || strings.Contains(text, `batchscore_read_pool_bytes{state="peak"} 0`) {
		t.Errorf("/metrics:\n%s", text)
	}
}
