package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// historyRead is what a run's debug log says it read of the table's run
// history before scoring.
func historyRead(t *testing.T, res result) (dates, manifests int) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(res.stderr))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var rec struct {
			Msg       string `json:"msg"`
			Dates     int    `json:"dates"`
			Manifests int    `json:"manifests"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "run history read" {
			return rec.Dates, rec.Manifests
		}
	}
	t.Fatalf("no \"run history read\" line in the debug log\n%s", res)
	return 0, 0
}

// A run reads the history of the dates it needs, not the table's: with
// 300 older dates in runs/, a new date and a no-op each read the one date
// before them. The previous run they find is the same as before.
func TestHistoryReadPerRun(t *testing.T) {
	table := filepath.Join(t.TempDir(), "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table})
	if res := bs(t, "run", job, "--date", "2026-11-18"); res.code != 0 {
		t.Fatal(res)
	}
	prev := currentVersion(t, table, "2026-11-18")
	// Older history: copies of that manifest under 300 earlier dates,
	// each a failed execution, so that a run that read them would also
	// have to skip them.
	data, err := os.ReadFile(filepath.Join(table, "runs", "2026-11-18", prev+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	const old = 300
	for i := range old {
		d := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i).Format("2006-01-02")
		m["logical_date"], m["status"] = d, "failed"
		out, _ := json.Marshal(m)
		dir := filepath.Join(table, "runs", d)
		if err := os.MkdirAll(dir, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "20250101T000000.000Z-0000000000.json"), out, 0o640); err != nil {
			t.Fatal(err)
		}
	}

	for _, step := range []string{"new date", "no-op"} {
		res := bs(t, "run", job, "--date", "2026-11-20", "--log-level", "debug", "--json")
		if res.code != 0 {
			t.Fatalf("%s: %s", step, res)
		}
		dates, manifests := historyRead(t, res)
		// Generous: the date before, and a rerun or two of it.
		if dates > 2 || manifests > 5 {
			t.Errorf("%s read %d dates and %d manifests of a table with %d dates of history; want the date before it only", step, dates, manifests, old+2)
		}
		var got struct {
			Validation struct {
				PreviousVersion string `json:"previous_version"`
			} `json:"validation"`
		}
		if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
			t.Fatalf("%s: %v\n%s", step, err, res.stdout)
		}
		if got.Validation.PreviousVersion != prev {
			t.Errorf("%s: previous_version %q, want %q (2026-11-18's)", step, got.Validation.PreviousVersion, prev)
		}
	}
	// The history commands still list every execution.
	runs := bs(t, "runs", job, "--json")
	if runs.code != 0 {
		t.Fatal(runs)
	}
	var list []json.RawMessage
	if err := json.Unmarshal([]byte(runs.stdout), &list); err != nil || len(list) != old+2 {
		t.Errorf("runs --json listed %d executions (%v), want %d", len(list), err, old+2)
	}
}

// --dry-run decides as the run does: dates whose current version came
// from the same snapshot, model and job file are "already current", a
// date whose snapshot changed would run, a date never run would run; the
// backfill that follows does exactly that.
func TestBackfillDryRunCurrent(t *testing.T) {
	snap := filepath.Join(t.TempDir(), "customers")
	for _, d := range []string{"2026-11-18", "2026-11-19", "2026-11-20"} {
		copyDir(t, filepath.Join(samples(t), "snapshot_date="+d), filepath.Join(snap, "snapshot_date="+d))
	}
	table := filepath.Join(t.TempDir(), "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{
		table: table, source: filepath.Join(snap, "snapshot_date={{ .Date }}", "*.parquet"),
		edit: func(s string) string { return removeLine(t, s, "    max_row_change_pct: 50") },
	})
	if res := bs(t, "run", job, "--from", "2026-11-18", "--to", "2026-11-19"); res.code != 0 {
		t.Fatal(res)
	}
	// 2026-11-19's snapshot is re-delivered with one file fewer.
	if err := os.Remove(filepath.Join(snap, "snapshot_date=2026-11-19", "part-00001.parquet")); err != nil {
		t.Fatal(err)
	}
	span := []string{"--from", "2026-11-18", "--to", "2026-11-20"}
	plan := bs(t, append([]string{"run", job, "--dry-run", "--json"}, span...)...)
	if plan.code != 0 {
		t.Fatal(plan)
	}
	p := outcomesCurrent(t, plan)
	if o := p["2026-11-18"]; o.Run || !o.Current || !strings.HasPrefix(o.Reason, "already current") {
		t.Errorf("2026-11-18, unchanged: %+v, want already current", o)
	}
	if o := p["2026-11-19"]; !o.Run || o.Current || !strings.Contains(o.Reason, "out of date") {
		t.Errorf("2026-11-19, snapshot changed: %+v, want run", o)
	}
	if o := p["2026-11-20"]; !o.Run || o.Reason != "never run" {
		t.Errorf("2026-11-20, never run: %+v, want run", o)
	}
	text := bs(t, append([]string{"run", job, "--dry-run"}, span...)...)
	if !strings.Contains(text.stdout, "2 of 3 dates would run, 1 already current") {
		t.Errorf("--dry-run summary:\n%s", text.stdout)
	}

	real := outcomes(t, bs(t, append([]string{"run", job, "--json"}, span...)...))
	for d, want := range map[string]string{"2026-11-18": "already_current", "2026-11-19": "succeeded", "2026-11-20": "succeeded"} {
		if real[d].Status != want {
			t.Errorf("backfill after the plan, %s: %+v, want %s as planned", d, real[d], want)
		}
	}
}

type plannedDate struct {
	Run     bool   `json:"run"`
	Current bool   `json:"current"`
	Reason  string `json:"reason"`
	Date    string `json:"date"`
}

func outcomesCurrent(t *testing.T, res result) map[string]plannedDate {
	t.Helper()
	var list []plannedDate
	if err := json.Unmarshal([]byte(res.stdout), &list); err != nil {
		t.Fatalf("no JSON plan: %v\n%s", err, res)
	}
	out := map[string]plannedDate{}
	for _, p := range list {
		out[p.Date] = p
	}
	return out
}
