package jobs

import (
	"encoding/json"
	"testing"

	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/jobs/report"
)

// newestBefore reads dates newest first and stops at the first with an
// execution it accepts: dates after it are never opened, and a date with
// only failed executions is passed over.
func TestNewestBefore(t *testing.T) {
	tb := &table.Table{Root: t.TempDir()}
	write := func(date, version, status string, published bool) {
		t.Helper()
		m := report.Manifest{Job: "j", LogicalDate: date, Version: version, Status: status}
		m.Output.Published = published
		data, _ := json.Marshal(m)
		if _, err := tb.WriteManifest(date, version, data); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"} {
		write(d, "20260101T000000.000Z-aa", report.StatusSucceeded, true)
	}
	write("2026-01-05", "20260101T000000.000Z-aa", report.StatusSucceeded, true)
	write("2026-01-05", "20260102T000000.000Z-bb", report.StatusFailed, false)
	write("2026-01-06", "20260101T000000.000Z-aa", report.StatusFailed, false)
	write("2026-01-08", "20260101T000000.000Z-aa", report.StatusSucceeded, true)

	ok := func(m *report.Manifest) bool { return m.Status == report.StatusSucceeded && m.Output.Published }
	m, same, walk, err := newestBefore(tb, "2026-01-07", ok)
	if err != nil {
		t.Fatal(err)
	}
	if m == nil || m.LogicalDate != "2026-01-05" || m.Version != "20260101T000000.000Z-aa" {
		t.Fatalf("found %+v, want 2026-01-05's succeeded execution", m)
	}
	if len(same) != 2 {
		t.Errorf("same date: %d manifests, want 2", len(same))
	}
	if walk.Dates != 2 || walk.Manifests != 3 {
		t.Errorf("read %+v, want 2 dates (01-06, 01-05) and 3 manifests", walk)
	}
	if m, _, _, _ := newestBefore(tb, "2026-01-01", ok); m != nil {
		t.Errorf("before the first date: found %+v", m)
	}
}
