package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/batchscore/batchscore/internal/atomicfile"
	"github.com/batchscore/batchscore/io/parquetio"
	"github.com/batchscore/batchscore/jobs"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/spec"
)

// exportMetrics writes a finished run's metrics where the flags say: a
// node_exporter textfile (replaced atomically) and a Pushgateway. Failing
// to export is logged; it does not change the run's exit code.
func exportMetrics(log *slog.Logger, job *spec.Job, res *jobs.Result, file, gateway string) {
	if file == "" && gateway == "" {
		return
	}
	history, _ := jobs.History(job)
	m := res.Manifest
	if res.AlreadyCurrent {
		m = noOpMetrics(m, history)
	}
	data := appendPoolMetric(m.Metrics(jobs.LastSuccess(history)), m)
	if file != "" {
		if err := writeTextfile(file, data); err != nil {
			log.Warn("could not write the metrics file", "path", file, "err", err)
		}
	}
	if gateway != "" {
		if err := push(gateway, job.Name, data); err != nil {
			log.Warn("could not push metrics", "err", err)
		}
	}
}

// writeTextfile replaces the textfile whole: node_exporter never reads
// half a file. World-readable: node_exporter runs as its own user.
func writeTextfile(path string, data []byte) error {
	return atomicfile.WriteFile(path, data, atomicfile.WithMode(0o644))
}

// push replaces the job's group on a Prometheus Pushgateway.
func push(gateway, job string, data []byte) error {
	u, err := url.Parse(gateway)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("--pushgateway %q is not a URL such as http://pushgateway:9091", gateway)
	}
	u = u.JoinPath("metrics", "job", "batchscore", "batchscore_job", job)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.String(), bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("pushgateway %s answered %s", u.Host, resp.Status)
	}
	return nil
}

// noOpMetrics is what an already-current no-op exports: its own end, exit
// code and status, but the duration of the run that made the date current,
// as the daemon's /metrics does. The textfile is replaced whole, so a
// duration left out would vanish rather than stay.
func noOpMetrics(m *report.Manifest, history []*report.Manifest) *report.Manifest {
	for _, h := range history { // newest first
		if h.LogicalDate == m.LogicalDate && h.RunID == m.RunID && h.Status == report.StatusSucceeded && h.Output.Published {
			c := *m
			c.StartedAt = c.FinishedAt.Add(-h.FinishedAt.Sub(h.StartedAt))
			return &c
		}
	}
	return m
}

// noReadPool, set at link time (-X main.noReadPool=1), builds a binary
// that reads with the caller's allocator only: make bench-tricks measures
// what the pool earns with it. No job or variable can switch it.
var noReadPool string

// newReadPool is the pool every run of the process reads Parquet through.
// BATCHSCORE_DEBUG_POISON=1 overwrites each released buffer, so that a
// record read after its release shows up in results; the tests set it.
func newReadPool() *parquetio.BufferPool {
	if noReadPool == "1" {
		return nil
	}
	if os.Getenv("BATCHSCORE_DEBUG_POISON") == "1" {
		return parquetio.NewBufferPool(parquetio.PoisonReleased())
	}
	return parquetio.NewBufferPool()
}

// appendPoolMetric adds the run's read pool peak to its metrics, when its
// manifest has one.
func appendPoolMetric(data []byte, m *report.Manifest) []byte {
	if m.Source.ReadPoolPeakBytes == 0 {
		return data
	}
	return fmt.Appendf(data, "# HELP batchscore_read_pool_peak_bytes Peak bytes of Parquet read buffers held in the read pool.\n"+
		"# TYPE batchscore_read_pool_peak_bytes gauge\nbatchscore_read_pool_peak_bytes{batchscore_job=%q} %d\n",
		strings.ToValidUTF8(m.Job, "?"), m.Source.ReadPoolPeakBytes)
}

// withPoolMetrics appends the daemon's read pool figures to /metrics:
// what records hold now, the most they held at once, and the address
// space mapped.
func withPoolMetrics(h http.Handler, pool *parquetio.BufferPool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		if r.Method != http.MethodGet || r.URL.Path != "/metrics" {
			return
		}
		fmt.Fprintf(w, "# HELP batchscore_read_pool_bytes Bytes of the Parquet read pool: in use, peak in use, mapped.\n"+
			"# TYPE batchscore_read_pool_bytes gauge\n"+
			"batchscore_read_pool_bytes{state=\"in_use\"} %d\nbatchscore_read_pool_bytes{state=\"mapped\"} %d\nbatchscore_read_pool_bytes{state=\"peak\"} %d\n",
			pool.InUse(), pool.Mapped(), pool.Peak())
	})
}
