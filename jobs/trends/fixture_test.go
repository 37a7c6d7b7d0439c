package trends

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/spec"
)

// history is what a synthetic table holds, to check the pages against.
type history struct {
	job      *spec.Job
	dates    []string
	failed   map[string]bool // dates with a failed execution (after the published one)
	onlyFail map[string]bool // dates with a failed execution only
	outcomes map[string]bool
	shadow   int // outcomes with a challenger's AUC
	features int
	models   map[string]string // by date
	secret   string            // a PII value that must never show
}

// writeSite writes a history (writeHistory) into dir and its static
// site into dir/site.
func writeSite(t testing.TB, dir string, n, features int) (*history, *Job, string) {
	t.Helper()
	h := writeHistory(t, dir, n, features)
	j, err := Collect(h.job, "", "")
	if err != nil {
		t.Fatal(err)
	}
	site := filepath.Join(dir, "site")
	if _, err := WriteSite(site, []*Job{j}); err != nil {
		t.Fatal(err)
	}
	return h, j, site
}

// writeHistory writes a table of n consecutive dates from 2026-01-01,
// with real manifests and reports (report.Report's own JSON, masked):
// every 7th date also has a failed execution, every 11th date has only
// a failed one; the model goes v1 → v2 (date 20) → v1 (date 40, a
// rollback); every 5th date has outcomes (two files, the newer wins).
func writeHistory(t testing.TB, dir string, n, features int) *history {
	t.Helper()
	root := filepath.Join(dir, "table")
	job := &spec.Job{Name: "churn", File: filepath.Join(dir, "churn.yaml")}
	job.Output.Table = root
	h := &history{job: job, failed: map[string]bool{}, onlyFail: map[string]bool{}, outcomes: map[string]bool{},
		features: features, models: map[string]string{}, secret: "jane.doe@example.com"}
	tb := &table.Table{Root: root}
	if err := os.MkdirAll(root, 0o750); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		date := start.AddDate(0, 0, i).Format(spec.DateLayout)
		h.dates = append(h.dates, date)
		model := "v1"
		if i >= 20 && i < 40 {
			model = "v2"
		}
		h.models[date] = model
		when := start.AddDate(0, 0, i+1)
		if i%11 == 10 {
			h.onlyFail[date] = true
			writeRun(t, tb, date, when, model, i, features, false, h.secret)
			continue
		}
		v := writeRun(t, tb, date, when, model, i, features, true, h.secret)
		if err := os.MkdirAll(filepath.Join(root, "versions", date, v), 0o750); err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(root, "current"), 0o750)
		if err := os.Symlink(filepath.Join("..", "versions", date, v), filepath.Join(root, "current", date)); err != nil {
			t.Fatal(err)
		}
		if i%7 == 3 {
			h.failed[date] = true
			writeRun(t, tb, date, when.Add(time.Hour), model, i, features, false, h.secret)
		}
		if i%5 == 0 {
			h.outcomes[date] = true
			writeOutcomes(t, root, date, v, model, when.AddDate(0, 1, 0), 0.5, nil)
			var challenger any // null: undefined
			if i%10 == 0 {
				challenger, h.shadow = 0.66, h.shadow+1
			}
			writeOutcomes(t, root, date, v, model, when.AddDate(0, 1, 1), 0.7+float64(i%10)/100, challenger)
		}
	}
	return h
}

func writeRun(t testing.TB, tb *table.Table, date string, when time.Time, model string, i, features int, ok bool, secret string) string {
	t.Helper()
	v := when.Format("20060102T150405.000Z") + fmt.Sprintf("-%010x", i)
	m := report.Manifest{Job: "churn", LogicalDate: date, Version: v, Trigger: "schedule", Status: report.StatusSucceeded,
		StartedAt: when, FinishedAt: when.Add(time.Minute), Model: report.Model{Path: "m.onnx", Version: model}}
	m.Counts = report.Counts{Read: 1000 + int64(i), Quarantined: int64(i % 4), Valid: 1000 + int64(i) - int64(i%4)}
	m.Counts.Scored = m.Counts.Valid
	m.Output.Published = ok
	if !ok {
		m.Status, m.ExitCode, m.Error = report.StatusFailed, 3, "the quality gate failed: rule email:not_null on "+secret
		m.Output.Published = false
	}
	r := &report.Report{Job: "churn", LogicalDate: date, Version: v, Status: m.Status, ExitCode: m.ExitCode, Error: m.Error,
		PII: []string{"email"}}
	r.Rules = []report.RuleResult{
		{Name: "email:not_null", Column: "email", Action: "reject", Failed: int64(i % 4),
			Samples: []report.Sample{{File: "a.parquet", Row: 3, Values: map[string]string{"email": secret}}}},
		{Name: "age:range", Column: "age", Action: "warn", Failed: 5},
	}
	for f := range features {
		r.Columns = append(r.Columns, report.ColumnReport{Name: fmt.Sprintf("f%02d", f),
			Drift: &report.Drift{PSI: float64(f) / float64(features) * 0.3 * float64(i%3+1) / 3}})
	}
	r.Columns = append(r.Columns, report.ColumnReport{Name: "email", Top: []report.Category{{Value: secret, Count: 1}}})
	psi := 0.01 * float64(i%20)
	r.Scores = &report.ScoreReport{Count: m.Counts.Scored, PSI: &psi}
	for _, p := range []float64{0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99} {
		r.Scores.Quantiles = append(r.Scores.Quantiles, report.Quantile{P: p, Value: p * (0.9 + float64(i%10)/100)})
	}
	data, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	// Plain writes: the table's atomic ones fsync, which a year of runs
	// does not need in a test.
	put := func(suffix string, data []byte) {
		p := tb.RunFile(date, v, suffix)
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	put(".report.json", data)
	put(".report.html", []byte("<!DOCTYPE html><title>report</title><p>report "+v))
	m.Validation.Report = tb.RunFile(date, v, ".report.json")
	md, _ := m.JSON()
	put(".json", md)
	return v
}

// writeOutcomes writes an outcomes file as /work's contract says
// (batchscore-outcomes/1), with its HTML page.
func writeOutcomes(t testing.TB, root, date, version, model string, at time.Time, auc float64, challengerAUC any) {
	t.Helper()
	metrics := map[string]any{"model_version": model, "rows_scored": 1000, "labelled": 900, "matched": 900,
		"labels_without_score": 0, "base_rate": 0.1, "auc": auc, "gini": 2*auc - 1, "ks": auc - 0.3, "brier": 0.09,
		"log_loss": 0.3, "ece": 0.02, "calibration": []any{}, "confusion": map[string]int{"tp": 1, "fp": 1, "tn": 1, "fn": 1},
		"precision": 0.5, "recall": 0.5}
	doc := map[string]any{"format": OutcomesFormat, "job": "churn", "date": date, "version": version, "run_id": "r",
		"evaluated_at": at.Format(time.RFC3339), "labels": map[string]any{"source": "labels/*.parquet", "label": "churned", "rows": 900},
		"threshold": 0.5, "champion": metrics, "challenger": map[string]any{"model_version": "v9", "auc": challengerAUC}}
	if challengerAUC != nil {
		// A canary's arms: the champion's (the reference) and the challenger's.
		doc["arms"] = []any{
			map[string]any{"arm": "champion", "model_version": model, "rows_scored": 700, "matched": 630, "auc": auc,
				"auc_ci95_lower": auc - 0.03, "auc_ci95_upper": auc + 0.03, "reference": true, "scores": map[string]any{"rows": 700, "psi": 0.01}},
			map[string]any{"arm": "challenger", "model_version": "v9", "rows_scored": 300, "matched": 270, "auc": challengerAUC,
				"auc_ci95_lower": 0.6, "auc_ci95_upper": 0.72, "scores": map[string]any{"rows": 300, "psi": 0.12},
				"auc_vs_reference": map[string]any{"reference": "champion", "difference": 0.66 - auc, "ci95_lower": 0.66 - auc - 0.07,
					"ci95_upper": 0.66 - auc + 0.07, "worse": true, "margin": 0.02}},
		}
	}
	data, _ := json.Marshal(doc)
	name := "outcomes-" + at.Format("20060102T150405Z")
	dir := filepath.Join(root, "runs", date)
	if err := os.WriteFile(filepath.Join(dir, name+".json"), data, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".html"), []byte("<!DOCTYPE html><title>outcomes</title>"), 0o640); err != nil {
		t.Fatal(err)
	}
}
