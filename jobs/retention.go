package jobs

import (
	"github.com/batchscore/batchscore/jobs/report"
)

// pruneRuns applies output.keep_runs to this execution's date, once its
// final manifest is written, under the date's lock: the newest keep_runs
// executions of the date keep their whole record in runs/<date>/
// (manifest, reports, profile, quarantined rows), and so do the date's
// current version and its newest successful publish (what the next date's
// drift and row-count checks read). An older execution that published a
// version keeps its manifest, which names the version's files and where
// they came from; only its reports and profile go. An older execution that
// published nothing (failed, interrupted, a dry run) goes whole. Other
// jobs' records, and files whose manifest is unreadable, are left alone.
// A failure is logged: retention never fails a run.
func (e *execution) pruneRuns() {
	keep := e.req.Job.Output.KeepRuns
	if keep <= 0 || e.DryRun || e.req.Shard != nil || e.table == nil {
		return
	}
	ms, err := readDate(e.table, e.date) // oldest first
	if err != nil {
		e.log.Warn("retention: could not list the date's runs", "err", err)
		return
	}
	if len(ms) <= keep {
		return
	}
	current, _ := e.table.Current(e.date)
	whole := map[string]bool{current: true}
	for i := len(ms) - 1; i >= 0; i-- {
		if m := ms[i]; m.Status == report.StatusSucceeded && m.Output.Published {
			whole[m.Version] = true
			break
		}
	}
	var dropped []string
	for _, m := range ms[:len(ms)-keep] {
		if whole[m.Version] {
			continue
		}
		names, err := e.table.DropRunFiles(e.date, m.Version, !publishedAny(m))
		dropped = append(dropped, names...)
		if err != nil {
			e.log.Warn("retention: could not remove an old run's records", "old_version", m.Version, "err", err)
			return
		}
	}
	if len(dropped) > 0 {
		e.log.Info("retention: removed old runs' records", "keep_runs", keep, "files", len(dropped))
	}
}

// publishedAny says whether an execution's version may be in versions/:
// published, or ended while publishing (its version may be current).
func publishedAny(m *report.Manifest) bool {
	switch m.Status {
	case report.StatusPublishing, report.StatusUnknown:
		return true
	}
	return m.Output.Published
}
