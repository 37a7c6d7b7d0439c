package schedule

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/batchscore/batchscore/internal/testkit/parquettest"
	"github.com/batchscore/batchscore/jobs/outcomes"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/spec"
)

// publishedTable lays out a table with one published version of date,
// as a run leaves it (versions/, current/, runs/), and its labels.
func publishedTable(t *testing.T, dir, date string) {
	t.Helper()
	table := filepath.Join(dir, "out")
	version := "20260101T010000.000Z-aa"
	ids := []int64{1, 2, 3, 4, 5, 6}
	parquettest.WriteIDs(t, filepath.Join(table, "versions", date, version, "part-00000.parquet"), ids, "score", []float64{0.1, 0.4, 0.35, 0.8, 0.2, 0.9}, false)
	if err := os.MkdirAll(filepath.Join(table, "current"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..", "versions", date, version), filepath.Join(table, "current", date)); err != nil {
		t.Fatal(err)
	}
	m := report.Manifest{Job: "o", LogicalDate: date, Version: version, RunID: "run-1", Status: report.StatusSucceeded,
		Model:  report.Model{Version: "m1"},
		Output: report.Output{Published: true, Files: []report.File{{Name: "part-00000.parquet", Rows: 6}}}}
	data, _ := json.Marshal(m)
	if err := os.MkdirAll(filepath.Join(table, "runs", date), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(table, "runs", date, version+".json"), data, 0o640); err != nil {
		t.Fatal(err)
	}
	parquettest.WriteIDs(t, filepath.Join(dir, "labels", date, "l.parquet"), ids, "churned", []float64{0, 1, 0, 1, 0, 1}, true)
}

// serve evaluates a date once its horizon has passed, after the job's
// scheduled run, and only once; /metrics shows the evaluation.
func TestServeEvaluatesOutcomesOnce(t *testing.T) {
	dir := t.TempDir()
	publishedTable(t, dir, "2026-01-01")
	job, err := spec.Parse([]byte(`name: o
schedule: "0 1 * * *"
source: {parquet: snap/*.parquet}
model: {path: m.onnx, inputs: {x: [a]}, score: {output: y}}
output: {table: out, keys: [customer_id]}
outcomes:
  labels: {parquet: "labels/{{ .Date }}/*.parquet"}
  label: churned
  horizon: 1d
`), dir)
	if err != nil {
		t.Fatal(err)
	}
	var evaluations []string
	h := newHarness(t, time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC), Options{
		Outcomes: func(ctx context.Context, job *spec.Job, now time.Time) []outcomes.Sample {
			reps := outcomes.EvaluateDue(ctx, job, now, nil)
			for _, r := range reps {
				evaluations = append(evaluations, r.Date+"@"+now.Format("01-02"))
			}
			if len(reps) == 0 {
				return nil
			}
			return reps[len(reps)-1].Samples()
		},
	})
	h.load([]*spec.Job{job}, nil)
	h.start()
	h.advanceTo(time.Date(2026, 1, 3, 2, 0, 0, 0, time.UTC))
	h.waitFinished(3)
	metrics := h.metrics()
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	// Fires on 01-01 (horizon not passed), 01-02 (evaluated), 01-03 (done).
	if strings.Join(evaluations, ",") != "2026-01-01@01-02" {
		t.Errorf("evaluations %v, want 2026-01-01 once, at the 01-02 fire", evaluations)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "out", "runs", "2026-01-01", "outcomes-*.json"))
	if len(files) != 1 {
		t.Errorf("outcomes files %v, want one", files)
	}
	if !strings.Contains(metrics, `batchscore_outcome_auc{batchscore_job="o",model_version="m1"} 1`) {
		t.Errorf("metrics lack the outcome AUC:\n%s", metrics)
	}
	// As serve wires it: the outcomes hook and a token. /metrics needs the
	// token (unless --open-metrics) and then shows the evaluation.
	token := []byte("0123456789abcdef-token")
	for _, c := range []struct {
		auth string
		open bool
		code int
	}{{"", false, http.StatusUnauthorized}, {"Bearer wrong-token-0123456789", false, http.StatusUnauthorized},
		{"Bearer " + string(token), false, http.StatusOK}, {"", true, http.StatusOK}} {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		rec := httptest.NewRecorder()
		h.d.HandlerWith(HTTPOptions{Token: token, OpenMetrics: c.open}).ServeHTTP(rec, req)
		body := rec.Body.String()
		if rec.Code != c.code || (c.code == http.StatusOK) != strings.Contains(body, "batchscore_outcome_auc{") {
			t.Errorf("/metrics with %q (open %v): %d, want %d; outcome AUC shown: %v", c.auth, c.open, rec.Code, c.code, strings.Contains(body, "batchscore_outcome_auc{"))
		}
	}
}
