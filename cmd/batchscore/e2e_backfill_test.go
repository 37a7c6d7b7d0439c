package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

type outcome struct {
	Date     string `json:"date"`
	Run      bool   `json:"run"`
	Reason   string `json:"reason"`
	Status   string `json:"status"`
	ExitCode int    `json:"exit_code"`
	Rows     int64  `json:"rows"`
}

func outcomes(t *testing.T, res result) map[string]outcome {
	t.Helper()
	var list []outcome
	if err := json.Unmarshal([]byte(res.stdout), &list); err != nil {
		t.Fatalf("no JSON outcomes: %v\n%s", err, res)
	}
	out := map[string]outcome{}
	for _, o := range list {
		out[o.Date] = o
	}
	return out
}

// 2026-11-17 has no snapshot: it fails, the other dates publish, and the
// backfill exits 1. Run again, it skips what is done; --reprocess failed
// retries the failure; --dry-run touches nothing.
func TestBackfill(t *testing.T) {
	table := filepath.Join(t.TempDir(), "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: func(s string) string {
		return removeLine(t, s, "    max_row_change_pct: 50") // the first date has no previous run either way
	}})
	span := []string{"--from", "2026-11-17", "--to", "2026-11-20"}

	plan := bs(t, append([]string{"run", job, "--dry-run", "--json"}, span...)...)
	if plan.code != 0 {
		t.Fatal(plan)
	}
	if p := outcomes(t, plan); len(p) != 4 || !p["2026-11-17"].Run || p["2026-11-20"].Reason != "never run" {
		t.Errorf("plan %v", p)
	}
	if v := listDir(t, filepath.Join(table, "versions")); len(v) != 0 {
		t.Errorf("--dry-run published %v", v)
	}

	first := bs(t, append([]string{"run", job, "--parallel", "2", "--json"}, span...)...)
	if first.code != 1 {
		t.Fatalf("backfill with a missing date: exit %d, want 1\n%s", first.code, first)
	}
	o := outcomes(t, first)
	if o["2026-11-17"].Status != "failed" || o["2026-11-17"].ExitCode != 1 {
		t.Errorf("2026-11-17: %+v", o["2026-11-17"])
	}
	for _, d := range []string{"2026-11-18", "2026-11-19", "2026-11-20"} {
		if o[d].Status != "succeeded" || o[d].Rows != 2000 || currentVersion(t, table, d) == "" {
			t.Errorf("%s: %+v", d, o[d])
		}
	}

	// Run again: the failed date is skipped, the others are already
	// current (same snapshot, model and job file), so nothing changes.
	versions := listDir(t, filepath.Join(table, "versions", "2026-11-20"))
	again := bs(t, append([]string{"run", job, "--json"}, span...)...)
	if again.code != 0 {
		t.Fatalf("resumed backfill: exit %d\n%s", again.code, again)
	}
	for d, o := range outcomes(t, again) {
		want := "already_current"
		if d == "2026-11-17" {
			want = "skipped"
		}
		if o.Status != want {
			t.Errorf("resumed backfill, %s: %+v, want %s", d, o, want)
		}
	}
	if after := listDir(t, filepath.Join(table, "versions", "2026-11-20")); len(after) != len(versions) {
		t.Errorf("the resumed backfill made versions: %v, before %v", after, versions)
	}

	if res := bs(t, append([]string{"run", job, "--force"}, span...)...); res.code != 2 {
		t.Errorf("--force with a backfill: exit %d, want 2", res.code)
	}
	retry := bs(t, append([]string{"run", job, "--reprocess", "failed"}, span...)...)
	if retry.code != 1 || !strings.Contains(retry.stdout, "2026-11-17") || !strings.Contains(retry.stdout, "4 dates, 1 failed") {
		t.Errorf("--reprocess failed: exit %d\n%s", retry.code, retry.stdout)
	}
}
