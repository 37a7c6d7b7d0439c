package report

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Metrics renders a run's manifest in the Prometheus text format, for a
// node_exporter textfile or a Pushgateway: rows by outcome, duration by
// stage, exit code, and the last success (lastSuccess, when known, is the
// newest successful run's finish time, so a failed run does not reset it).
func (m *Manifest) Metrics(lastSuccess time.Time) []byte {
	var b strings.Builder
	job := labelValue(m.Job)
	metric := func(name, help, typ string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	if m.Status != StatusAlreadyCurrent { // a no-op has no rows: zeros would read as an empty run
		m.rowMetrics(&b, job, metric)
	}
	metric("batchscore_run_duration_seconds", "Duration of the last run.", "gauge")
	fmt.Fprintf(&b, "batchscore_run_duration_seconds{batchscore_job=%q} %g\n", job, m.FinishedAt.Sub(m.StartedAt).Seconds())
	metric("batchscore_exit_code", "Exit code of the last run.", "gauge")
	fmt.Fprintf(&b, "batchscore_exit_code{batchscore_job=%q,status=%q} %d\n", job, m.Status, m.ExitCode)
	metric("batchscore_last_run_timestamp_seconds", "When the last run finished.", "gauge")
	fmt.Fprintf(&b, "batchscore_last_run_timestamp_seconds{batchscore_job=%q} %d\n", job, m.FinishedAt.Unix())
	if !lastSuccess.IsZero() {
		metric("batchscore_last_success_timestamp_seconds", "When the last successful run finished.", "gauge")
		fmt.Fprintf(&b, "batchscore_last_success_timestamp_seconds{batchscore_job=%q} %d\n", job, lastSuccess.Unix())
	}
	return []byte(b.String())
}

func (m *Manifest) rowMetrics(b *strings.Builder, job string, metric func(name, help, typ string)) {
	metric("batchscore_rows", "Rows of the last run by outcome.", "gauge")
	rows := map[string]int64{
		"read": m.Counts.Read, "valid": m.Counts.Valid, "quarantined": m.Counts.Quarantined,
		"imputed": m.Counts.Imputed, "scored": m.Counts.Scored, "fallback": m.Counts.Fallback, "written": m.Counts.Written,
	}
	for _, k := range sortedKeys(rows) {
		fmt.Fprintf(b, "batchscore_rows{batchscore_job=%q,outcome=%q} %d\n", job, k, rows[k])
	}
	if v := m.Rollout(); v != nil {
		metric("batchscore_rollout_rows", "Rows of the last run per arm of its canary or A/B test: assigned by the key hash, published with the arm's score, fell back to the champion.", "gauge")
		for _, a := range v.Arms {
			for _, o := range []struct {
				name string
				n    int64
			}{{"assigned", a.Assigned}, {"fell_back", a.FellBack}, {"published", a.Published}} {
				fmt.Fprintf(b, "batchscore_rollout_rows{batchscore_job=%q,kind=%q,arm=%q,outcome=%q} %d\n", job, v.Kind, labelValue(a.Name), o.name, o.n)
			}
		}
		metric("batchscore_rollout_share", "Share of the keys each arm of the last run's canary or A/B test is assigned.", "gauge")
		for _, a := range v.Arms {
			fmt.Fprintf(b, "batchscore_rollout_share{batchscore_job=%q,kind=%q,arm=%q} %g\n", job, v.Kind, labelValue(a.Name), a.Share)
		}
	}
	metric("batchscore_stage_duration_seconds", "Duration of each stage of the last run.", "gauge")
	for _, s := range m.Stages {
		fmt.Fprintf(b, "batchscore_stage_duration_seconds{batchscore_job=%q,stage=%q} %g\n", job, labelValue(s.Name), s.Seconds)
	}
}

// labelValue keeps a label printable: %q escapes the rest.
func labelValue(s string) string { return strings.ToValidUTF8(s, "?") }

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
