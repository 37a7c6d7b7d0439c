package backfill

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/batchscore/batchscore/jobs/report"
)

func TestPlanReasons(t *testing.T) {
	day := func(s string) time.Time { d, _ := time.Parse("2006-01-02", s); return d }
	dates := []time.Time{day("2026-11-17"), day("2026-11-18"), day("2026-11-19"), day("2026-11-20"), day("2026-11-21")}
	h := History{
		Last: map[string]string{"2026-11-17": report.StatusFailed, "2026-11-18": report.StatusPublishing, "2026-11-19": report.StatusSucceeded},
		Current: func(d string) string {
			if d == "2026-11-19" {
				return "v1"
			}
			return ""
		},
	}
	for _, tc := range []struct {
		name, reprocess string
		run             []bool
		reason          []string
	}{
		{"none", ReprocessNone, []bool{false, true, true, true, true}, []string{"failed (--reprocess failed", "killed while publishing", "current (version v1)", "never run", "never run"}},
		{"failed", ReprocessFailed, []bool{true, true, true, true, true}, []string{"last execution failed", "killed", "current", "never", "never"}},
		{"all", ReprocessAll, []bool{true, true, true, true, true}, []string{"--reprocess all", "--reprocess all", "--reprocess all", "--reprocess all", "--reprocess all"}},
	} {
		plan := Plan(dates, tc.reprocess, h)
		for i, p := range plan {
			if p.Run != tc.run[i] || !strings.Contains(p.Reason, tc.reason[i]) {
				t.Errorf("%s, %s: run %v (%s), want %v (%s)", tc.name, p.Day, p.Run, p.Reason, tc.run[i], tc.reason[i])
			}
		}
	}
}

// Run keeps plan order, skips what the plan does not run and never runs
// more than parallel at once.
func TestRun(t *testing.T) {
	plan := []PlannedDate{{Day: "a", Run: true}, {Day: "b"}, {Day: "c", Run: true}, {Day: "d", Run: true}}
	var running, most atomic.Int32
	run := func(_ context.Context, p PlannedDate, o *DateOutcome) {
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(10 * time.Millisecond)
		o.Status = "ran " + p.Day
	}
	notStarted := func(o *DateOutcome) { o.Status = "not started" }
	out := Run(context.Background(), plan, 2, run, notStarted)
	want := []string{"ran a", "skipped", "ran c", "ran d"}
	for i, o := range out {
		if o.Status != want[i] || o.Day != plan[i].Day {
			t.Errorf("outcome %d: %s %q, want %s %q", i, o.Day, o.Status, plan[i].Day, want[i])
		}
	}
	if most.Load() > 2 {
		t.Errorf("%d dates ran at once, parallel is 2", most.Load())
	}
}
