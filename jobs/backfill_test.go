package jobs

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/spec"
)

// The plan comes from the run history: interrupted dates run again (a
// resumed backfill carries on), failed ones only with --reprocess failed,
// current ones run and let the run id decide.
func TestPlan(t *testing.T) {
	root := t.TempDir()
	tb, err := table.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	history := map[string]string{"2026-11-17": report.StatusFailed, "2026-11-18": report.StatusInterrupted, "2026-11-19": report.StatusSucceeded}
	for date, status := range history {
		v := table.NewVersion(time.Now())
		m := &report.Manifest{Job: "j", LogicalDate: date, Version: v, Status: status}
		data, _ := m.JSON()
		if _, err := tb.WriteManifest(date, v, data); err != nil {
			t.Fatal(err)
		}
		if status == report.StatusSucceeded {
			if err := os.MkdirAll(filepath.Join(root, "_staging", v), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := tb.Publish(date, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	job := &spec.Job{Name: "j", Schedule: "0 2 * * *", Location: time.UTC, Output: spec.Output{Table: root}}
	from, _ := spec.ParseDate("2026-11-17")
	to, _ := spec.ParseDate("2026-11-20")
	for _, tc := range []struct {
		reprocess string
		want      map[string]bool
	}{
		{ReprocessNone, map[string]bool{"2026-11-17": false, "2026-11-18": true, "2026-11-19": true, "2026-11-20": true}},
		{ReprocessFailed, map[string]bool{"2026-11-17": true, "2026-11-18": true, "2026-11-19": true, "2026-11-20": true}},
	} {
		plan, err := Plan(Backfill{Job: job, From: from, To: to, Reprocess: tc.reprocess})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range plan {
			if p.Run != tc.want[p.Day] {
				t.Errorf("--reprocess %s, %s: run %v (%s), want %v", tc.reprocess, p.Day, p.Run, p.Reason, tc.want[p.Day])
			}
		}
	}
	if _, err := Plan(Backfill{Job: job, From: from, To: to, Reprocess: "some"}); ExitCode(err) != ExitUsage {
		t.Errorf("bad --reprocess: %v", err)
	}
}
