package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/batchscore/batchscore/internal/atomicfile"
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
	data := m.Metrics(jobs.LastSuccess(history))
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
