package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/batchscore/batchscore/internal/crashpoint"
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

// runFiles lists runs/<date>/ by execution: version → its file suffixes.
func runFiles(t *testing.T, table, date string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, name := range listDir(t, filepath.Join(table, "runs", date)) {
		version, suffix, _ := strings.Cut(name, ".")
		version2, suffix2, _ := strings.Cut(suffix, ".")
		// <start>.<millis>Z-<hex>.<suffix>
		out[version+"."+version2] = append(out[version+"."+version2], suffix2)
	}
	return out
}

// output.keep_runs keeps the whole record of the newest executions of a
// date; older published ones keep their manifest (their versions stay),
// older failed ones go whole; the current version keeps its profile, which
// the next date compares with. A kill in the middle of retention leaves a
// published run and a table the next run prunes.
func TestRunsRetention(t *testing.T) {
	snap := filepath.Join(t.TempDir(), "customers")
	for _, d := range []string{"2026-11-19", "2026-11-20"} {
		copyDir(t, filepath.Join(samples(t), "snapshot_date="+d), filepath.Join(snap, "snapshot_date="+d))
	}
	table := filepath.Join(t.TempDir(), "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{
		table: table, source: filepath.Join(snap, "snapshot_date={{ .Date }}", "*.parquet"),
		edit: func(s string) string {
			s = removeLine(t, s, "    max_row_change_pct: 50")
			return strings.Replace(s, "  keys: [customer_id]\n", "  keys: [customer_id]\n  keep_runs: 2\n", 1)
		},
	})
	for range 4 {
		if res := bs(t, "run", job, "--date", date20, "--force"); res.code != 0 {
			t.Fatal(res)
		}
	}
	files := runFiles(t, table, date20)
	versions := listDir(t, filepath.Join(table, "versions", date20))
	if len(files) != 4 || len(versions) != 4 {
		t.Fatalf("4 published runs: records %v, versions %v", files, versions)
	}
	for i, v := range versions { // oldest first
		got := files[v]
		if i < 2 && (len(got) != 1 || got[0] != "json") {
			t.Errorf("old published run %s: %v, want its manifest only", v, got)
		}
		if i >= 2 && len(got) != 4 {
			t.Errorf("newest run %s: %v, want manifest, profile and both reports", v, got)
		}
	}

	// Failed executions beyond keep_runs go whole.
	for range 3 {
		if res := bs(t, "run", job, "--date", "2026-11-17"); res.code != 1 {
			t.Fatalf("a date without a snapshot: %s", res)
		}
	}
	if f := runFiles(t, table, "2026-11-17"); len(f) != 2 {
		t.Errorf("3 failed runs, keep_runs 2: records %v, want 2", f)
	}

	// The current version keeps its whole record however many runs
	// failed after it, and the next date compares with its profile.
	if res := bs(t, "run", job, "--date", date19); res.code != 0 {
		t.Fatal(res)
	}
	good := currentVersion(t, table, date19)
	if err := os.Rename(filepath.Join(snap, "snapshot_date="+date19), filepath.Join(snap, "gone")); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if res := bs(t, "run", job, "--date", date19, "--force"); res.code != 1 {
			t.Fatalf("a date whose snapshot went: %s", res)
		}
	}
	if got := runFiles(t, table, date19)[good]; len(got) != 4 {
		t.Errorf("the current version %s, older than keep_runs: %v, want its whole record", good, got)
	}
	res := bs(t, "run", job, "--date", date20, "--force", "--json")
	if res.code != 0 {
		t.Fatal(res)
	}
	if m := parseManifest(t, []byte(res.stdout)); m.Validation.PreviousVersion != good {
		t.Errorf("%s compared with %q, want %s's current version %s", date20, m.Validation.PreviousVersion, date19, good)
	}

	// Killed between an old run's reports and its manifest: the run
	// itself had published and written its manifest.
	env := append(ortEnv(t), crashpoint.Env+"=prune-companions")
	killed := runWith(t, batchscore, env, "run", job, "--date", date20, "--force", "--json")
	if killed.code == 0 {
		t.Fatalf("not killed at prune-companions: %s", killed)
	}
	versions = listDir(t, filepath.Join(table, "versions", date20))
	newest := versions[len(versions)-1]
	if currentVersion(t, table, date20) != newest || !slices.Contains(runFiles(t, table, date20)[newest], "json") {
		t.Errorf("killed in retention: %s is not current with its manifest: %v", newest, runFiles(t, table, date20))
	}
	if res := bs(t, "run", job, "--date", date20, "--force"); res.code != 0 {
		t.Fatal(res)
	}
	runs := bs(t, "runs", job, "--json")
	var list []struct {
		Version string `json:"version"`
		Status  string `json:"status"`
	}
	if err := json.Unmarshal([]byte(runs.stdout), &list); runs.code != 0 || err != nil {
		t.Fatalf("runs after retention: %v\n%s", err, runs)
	}
	for _, m := range list {
		if m.Status == "" || m.Version == "" {
			t.Errorf("runs lists %+v", m)
		}
	}
	for v, suffixes := range runFiles(t, table, date20) {
		if !slices.Contains(suffixes, "json") {
			t.Errorf("%s: %v without its manifest", v, suffixes)
		}
	}
}
