package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/batchscore/batchscore/jobs/spec"
)

func (h *harness) get(path string) (int, string, string) {
	h.t.Helper()
	rec := httptest.NewRecorder()
	h.d.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, _ := io.ReadAll(rec.Body)
	return rec.Code, rec.Header().Get("Content-Type"), string(body)
}

func (h *harness) metrics() string {
	h.t.Helper()
	code, _, body := h.get("/metrics")
	if code != http.StatusOK {
		h.t.Fatalf("/metrics: %d", code)
	}
	return body
}

func (h *harness) runs() []RunRecord {
	h.t.Helper()
	code, _, body := h.get("/runs")
	var out []RunRecord
	if code != http.StatusOK || json.Unmarshal([]byte(body), &out) != nil {
		h.t.Fatalf("/runs: %d %s", code, body)
	}
	return out
}

func (h *harness) health() Health {
	h.t.Helper()
	code, _, body := h.get("/healthz")
	var out Health
	if code != http.StatusOK || json.Unmarshal([]byte(body), &out) != nil {
		h.t.Fatalf("/healthz: %d %s", code, body)
	}
	if want := map[bool]string{true: "degraded", false: "ok"}[len(out.LoadErrors) > 0]; out.Status != want {
		h.t.Errorf("/healthz status %q with %d load errors, want %q", out.Status, len(out.LoadErrors), want)
	}
	return out
}

// sampleLine is one sample of the text exposition format.
var sampleLine = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*\})? -?[0-9.eE+-]+$`)

func TestHTTP(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC)
	h := newHarness(t, start, Options{})
	gate := make(chan struct{})
	h.run = func(ctx context.Context, job *spec.Job, date time.Time, _ string) (string, int) {
		switch job.Name {
		case "bad":
			return "failed", 3
		case "slow":
			if date.Equal(day("2026-01-02")) {
				h.block(job.Name, func() { <-gate })
			}
		}
		return "succeeded", 0
	}
	h.load([]*spec.Job{testJob("good", "0 1 * * *", nil), testJob("bad", "0 2 * * *", nil), testJob("slow", "0 3 * * *", nil)},
		map[string]error{"broken": errors.New(`broken.yaml: "schedule": bad`)})
	h.start()
	h.advanceTo(time.Date(2026, 1, 2, 3, 30, 0, 0, time.UTC))
	h.waitFinished(5) // good x2, bad x2, slow 01-01; slow 01-02 is running
	defer close(gate)

	code, ctype, body := h.get("/metrics")
	if code != http.StatusOK || !strings.HasPrefix(ctype, "text/plain; version=0.0.4") {
		t.Fatalf("/metrics: %d %s", code, ctype)
	}
	for i, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		if strings.HasPrefix(line, "# HELP ") || strings.HasPrefix(line, "# TYPE ") {
			continue
		}
		if !sampleLine.MatchString(line) {
			t.Errorf("line %d does not parse: %q", i+1, line)
		}
	}
	for _, want := range []string{
		`batchscore_runs_total{batchscore_job="bad",status="failed"} 2`,
		`batchscore_runs_total{batchscore_job="good",status="succeeded"} 2`,
		`batchscore_runs_total{batchscore_job="slow",status="succeeded"} 1`,
		`batchscore_running{batchscore_job="slow"} 1`,
		`batchscore_running{batchscore_job="good"} 0`,
		`batchscore_last_success_timestamp_seconds{batchscore_job="good"} 1.7673156e+09`, // 2026-01-02T01:00Z
		`batchscore_run_duration_seconds{batchscore_job="good"} 0`,
		`batchscore_job_load_errors 1`,
		"# TYPE batchscore_runs_total counter",
		"# TYPE batchscore_running gauge",
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(body, `batchscore_last_success_timestamp_seconds{batchscore_job="bad"}`) {
		t.Error("a failed job has a last success")
	}

	code, ctype, body = h.get("/runs")
	var runs []RunRecord
	if code != http.StatusOK || ctype != "application/json" || json.Unmarshal([]byte(body), &runs) != nil {
		t.Fatalf("/runs: %d %s %s", code, ctype, body)
	}
	if len(runs) != 6 {
		t.Fatalf("%d runs: %s", len(runs), body)
	}
	if r := runs[0]; r.Job != "slow" || r.Date != "2026-01-02" || r.Status != StatusRunning || r.Finished != nil {
		t.Errorf("newest run: %+v", r)
	}
	if r := runs[1]; r.Job != "bad" || r.Status != "failed" || r.ExitCode != 3 || r.Trigger != TriggerSchedule ||
		!r.Started.Equal(time.Date(2026, 1, 2, 2, 0, 0, 0, time.UTC)) || r.Finished == nil {
		t.Errorf("second newest run: %+v", r)
	}
	for i := 1; i < len(runs); i++ {
		if runs[i].Started.After(runs[i-1].Started) {
			t.Errorf("runs not newest first: %s", body)
		}
	}
	if !strings.Contains(body, `"exit_code": 3`) || !strings.Contains(body, `"started": "2026-01-02T02:00:00Z"`) {
		t.Errorf("/runs JSON keys: %s", body)
	}

	code, _, body = h.get("/healthz")
	var health map[string]any
	if code != http.StatusOK || json.Unmarshal([]byte(body), &health) != nil || health["status"] != "degraded" {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	if errs, _ := health["load_errors"].(map[string]any); errs["broken"] != `broken.yaml: "schedule": bad` {
		t.Errorf("/healthz load errors: %s", body)
	}
}

func TestRunsCapped(t *testing.T) {
	s := newStats()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range MaxRuns + 50 {
		r := s.start("j", "2026-01-01", TriggerSchedule, t0.Add(time.Duration(i)*time.Minute))
		s.finish(r, StatusSucceeded, 0, t0.Add(time.Duration(i)*time.Minute+time.Second))
	}
	got := s.recent()
	if len(got) != MaxRuns || !got[0].Started.Equal(t0.Add(time.Duration(MaxRuns+49)*time.Minute)) {
		t.Errorf("%d runs, newest %v", len(got), got[0].Started)
	}
	if s.total[labelPair{"j", StatusSucceeded}] != MaxRuns+50 {
		t.Errorf("counter %d", s.total[labelPair{"j", StatusSucceeded}])
	}
}

func TestEscapeLabel(t *testing.T) {
	if got := escapeLabel("a\"b\\c\nd"); got != `a\"b\\c\nd` {
		t.Errorf("got %s", got)
	}
}
