package main

import (
	"testing"
	"time"

	"github.com/batchscore/batchscore/jobs/report"
)

// A manifest with no finish time (left while publishing) has no duration:
// not the overflow of a zero time minus the start.
func TestRunsSeconds(t *testing.T) {
	start := time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name              string
		started, finished time.Time
		want              string
	}{
		{"finished", start, start.Add(12345 * time.Millisecond), "12.3"},
		{"instant", start, start, "0.0"},
		{"no finish time", start, time.Time{}, "-"},
		{"no start time", time.Time{}, start, "-"},
		{"finish before start", start, start.Add(-time.Second), "-"},
	} {
		m := &report.Manifest{StartedAt: tc.started, FinishedAt: tc.finished}
		if got := seconds(m); got != tc.want {
			t.Errorf("%s: seconds %q, want %q", tc.name, got, tc.want)
		}
	}
	for status, want := range map[string]string{
		report.StatusPublishing: "-", report.StatusUnknown: "-",
		report.StatusInterrupted: "130", report.StatusSucceeded: "0",
	} {
		m := &report.Manifest{Status: status, ExitCode: 0}
		if status == report.StatusInterrupted {
			m.ExitCode = 130
		}
		if got := exitText(m); got != want {
			t.Errorf("%s: exit %q, want %q", status, got, want)
		}
	}
}
