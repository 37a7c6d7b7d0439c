package schedule

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/batchscore/batchscore/jobs/spec"
)

// Handler serves, with HTTPOptions{} (no pages, no token):
//
//   - /healthz: 200 and JSON {"status":"ok","jobs":[...],"load_errors":{job:err}};
//     a job file that failed to load does not make the daemon unhealthy
//     (its old version keeps running) but is listed and the status is
//     "degraded"; so is a folder that left nothing to schedule;
//   - /metrics: the Prometheus text exposition format;
//   - /runs: JSON list of the recent runs, newest first, at most MaxRuns.
func (d *Daemon) Handler() http.Handler { return d.HandlerWith(HTTPOptions{}) }

// HandlerWith serves what Handler does and o.Pages at every other path.
// Every response carries PageCSP; with o.Token every request but /healthz
// (and /metrics when o.OpenMetrics) needs the bearer token, else 401.
func (d *Daemon) HandlerWith(o HTTPOptions) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", d.serveHealth)
	mux.HandleFunc("GET /metrics", d.serveMetrics)
	mux.HandleFunc("GET /runs", d.serveRuns)
	if o.Pages != nil {
		mux.Handle("GET /", o.Pages)
	}
	return secure(mux, o)
}

// Jobs lists the jobs scheduled now, by name.
func (d *Daemon) Jobs() []*spec.Job {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*spec.Job, 0, len(d.jobs))
	for _, name := range slices.Sorted(maps.Keys(d.jobs)) {
		out = append(out, d.jobs[name].job)
	}
	return out
}

// Health is the body of /healthz: status "ok", or "degraded" while a job
// file fails to load or the jobs folder left nothing to schedule.
type Health struct {
	Status     string            `json:"status"`
	Jobs       []string          `json:"jobs"`
	LoadErrors map[string]string `json:"load_errors"`
}

func (d *Daemon) serveHealth(w http.ResponseWriter, _ *http.Request) {
	d.mu.Lock()
	h := Health{Status: "ok", Jobs: slices.Sorted(maps.Keys(d.jobs)), LoadErrors: maps.Clone(d.loadErrs)}
	d.mu.Unlock()
	if h.Jobs == nil {
		h.Jobs = []string{}
	}
	if len(h.LoadErrors) > 0 {
		// Still serving 200: the loaded jobs run. The status tells on-call
		// that a job file is broken and its job runs an older version.
		h.Status = "degraded"
	}
	writeJSON(w, h)
}

func (d *Daemon) serveRuns(w http.ResponseWriter, _ *http.Request) {
	d.mu.Lock()
	runs := d.stats.recent()
	d.mu.Unlock()
	writeJSON(w, runs)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (d *Daemon) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	d.mu.Lock()
	text := d.metricsText()
	d.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write([]byte(text))
}

// metricsText writes the metrics in the Prometheus text format, sorted so
// that the output is stable. d.mu is held.
func (d *Daemon) metricsText() string {
	var b strings.Builder
	family := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	sample := func(name string, value float64, labels ...string) {
		b.WriteString(name)
		if len(labels) > 0 {
			b.WriteByte('{')
			for i := 0; i < len(labels); i += 2 {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, "%s=\"%s\"", labels[i], escapeLabel(labels[i+1]))
			}
			b.WriteByte('}')
		}
		b.WriteByte(' ')
		b.WriteString(strconv.FormatFloat(value, 'g', -1, 64))
		b.WriteByte('\n')
	}
	s := &d.stats
	pairs := func(m map[labelPair]int64) []labelPair {
		keys := slices.Collect(maps.Keys(m))
		slices.SortFunc(keys, func(a, b labelPair) int {
			if c := strings.Compare(a.job, b.job); c != 0 {
				return c
			}
			return strings.Compare(a.value, b.value)
		})
		return keys
	}

	family("batchscore_runs_total", "counter", "Runs the scheduler finished, by job and status.")
	for _, k := range pairs(s.total) {
		sample("batchscore_runs_total", float64(s.total[k]), "batchscore_job", k.job, "status", k.value)
	}
	family("batchscore_skipped_fires_total", "counter", "Scheduled fires not run, by job and reason (overlap, queue_full).")
	for _, k := range pairs(s.drops) {
		sample("batchscore_skipped_fires_total", float64(s.drops[k]), "batchscore_job", k.job, "reason", k.value)
	}
	family("batchscore_last_success_timestamp_seconds", "gauge", "When the job's last successful run (exit code 0, not an already-current no-op) finished, in Unix seconds.")
	for _, job := range slices.Sorted(maps.Keys(s.lastSuccess)) {
		sample("batchscore_last_success_timestamp_seconds", float64(s.lastSuccess[job].UnixNano())/1e9, "batchscore_job", job)
	}
	family("batchscore_running", "gauge", "Runs of the job in progress (0 or 1).")
	names := map[string]bool{}
	for n := range d.jobs {
		names[n] = true
	}
	for n, v := range s.running {
		if v > 0 {
			names[n] = true
		}
	}
	for _, job := range slices.Sorted(maps.Keys(names)) {
		sample("batchscore_running", float64(s.running[job]), "batchscore_job", job)
	}
	family("batchscore_run_duration_seconds", "gauge", "Duration of the job's last finished run that was not an already-current no-op.")
	for _, job := range slices.Sorted(maps.Keys(s.lastDur)) {
		sample("batchscore_run_duration_seconds", s.lastDur[job].Seconds(), "batchscore_job", job)
	}
	family("batchscore_job_load_errors", "gauge", "Job files (or the jobs folder) that failed to load at the last reload (their old version, if any, keeps running).")
	sample("batchscore_job_load_errors", float64(len(d.loadErrs)))
	b.WriteString(d.outcomeMetricsText())
	return b.String()
}

// escapeLabel escapes a label value as the text format wants.
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}
