package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBackfillReusesModels: a backfill's dates share the opened model
// (jobs.Reuse), and each date's scores, labels and engine are those of
// the same date run alone.
func TestBackfillReusesModels(t *testing.T) {
	dir := t.TempDir()
	edit := func(s string) string { return removeLine(t, s, "    max_row_change_pct: 50") }
	backfilled := filepath.Join(dir, "backfill")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: backfilled, edit: edit})
	if res := bs(t, "run", job, "--from", "2026-11-18", "--to", "2026-11-20", "--parallel", "2"); res.code != 0 {
		t.Fatal(res)
	}
	for _, date := range []string{"2026-11-18", "2026-11-19", "2026-11-20"} {
		alone := filepath.Join(dir, "alone-"+date)
		one := writeJob(t, "churn_nightly.yaml", jobOpts{table: alone, edit: edit})
		if res := bs(t, "run", one, "--date", date); res.code != 0 {
			t.Fatal(res)
		}
		got := readResults(t, filepath.Join(backfilled, "current", date))
		want := readResults(t, filepath.Join(alone, "current", date))
		if len(got.ids) != len(want.ids) || len(got.ids) == 0 {
			t.Fatalf("%s: %d rows in the backfill, %d alone", date, len(got.ids), len(want.ids))
		}
		for i := range got.ids {
			if got.ids[i] != want.ids[i] || got.scores[i] != want.scores[i] || got.labels[i] != want.labels[i] {
				t.Fatalf("%s row %d: backfill (%d, %v, %d), alone (%d, %v, %d)", date, i,
					got.ids[i], got.scores[i], got.labels[i], want.ids[i], want.scores[i], want.labels[i])
			}
		}
		mb, ma := manifests(t, backfilled, date), manifests(t, alone, date)
		for _, b := range mb {
			for _, a := range ma {
				if b.Model.Engine != a.Model.Engine || !strings.HasPrefix(b.Model.Engine, "native") {
					t.Errorf("%s: engine %q in the backfill, %q alone", date, b.Model.Engine, a.Model.Engine)
				}
				if b.Model.SHA256 != a.Model.SHA256 || b.Validation.Baseline != a.Validation.Baseline {
					t.Errorf("%s: model or baseline differ: %+v / %+v", date, b.Model, a.Model)
				}
			}
		}
	}
}

// TestBackfillMemoryIsFlat: the peak resident memory of a 30-date
// backfill in one process stays within 1.3 times that of one date (a
// generous bound: make bench measures the ratio).
func TestBackfillMemoryIsFlat(t *testing.T) {
	dir := t.TempDir()
	snap := filepath.Join(dir, "snap")
	var dates []string
	for d := 1; d <= 30; d++ {
		date := fmt.Sprintf("2026-11-%02d", d)
		dates = append(dates, date)
		if res := runWith(t, gensnapshot, baseEnv(), "--date", date, "--rows", "5000", "--out", snap, "-q"); res.code != 0 {
			t.Fatal(res)
		}
	}
	source := filepath.Join(snap, "snapshot_date={{ .Date }}", "*.parquet")
	one := writeJob(t, "churn_nightly.yaml", jobOpts{table: filepath.Join(dir, "one"), source: source})
	many := writeJob(t, "churn_nightly.yaml", jobOpts{table: filepath.Join(dir, "many"), source: source})
	oneRSS := peakRSS(t, "run", one, "--date", dates[0])
	manyRSS := peakRSS(t, "run", many, "--from", dates[0], "--to", dates[len(dates)-1])
	t.Logf("peak RSS: one date %d KiB, 30 dates %d KiB (%.2fx)", oneRSS, manyRSS, float64(manyRSS)/float64(oneRSS))
	if float64(manyRSS) > 1.3*float64(oneRSS) {
		t.Errorf("a 30-date backfill peaked at %d KiB, more than 1.3 times one date's %d KiB", manyRSS, oneRSS)
	}
	for _, date := range dates {
		if currentVersion(t, filepath.Join(dir, "many"), date) == "" {
			t.Errorf("%s was not published by the backfill", date)
		}
	}
}

// peakRSS runs batchscore and returns its peak resident set in KiB, from
// the child's rusage; the run must succeed.
func peakRSS(t *testing.T, args ...string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, batchscore, args...)
	cmd.Env = ortEnv(t)
	cmd.Dir = t.TempDir()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("batchscore %v: %v\n%s", args, err, clip(out.String()))
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok || ru.Maxrss <= 0 {
		t.Fatalf("no rusage for batchscore %v", args)
	}
	return ru.Maxrss // KiB on Linux
}
