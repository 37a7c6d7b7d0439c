package jobs

import (
	"encoding/json"
	"errors"
	"os"
	"slices"
	"time"

	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/route"
	"github.com/batchscore/batchscore/jobs/spec"
)

// readManifests reads a table's manifests, oldest date and version first;
// unreadable ones are left out. The run history lives there, never in
// memory, so it survives restarts. It reads every execution the table
// ever had: for the history commands and a backfill's plan, not for what
// each run needs (see newestBefore, readDate).
func readManifests(t *table.Table) ([]*report.Manifest, error) {
	paths, err := t.Manifests()
	if err != nil {
		return nil, err
	}
	return ownedManifests(t, parseManifests(paths)), nil
}

// readDate reads the manifests of one date's executions, oldest first,
// the owner's only (see ownedManifests).
func readDate(t *table.Table, date string) ([]*report.Manifest, error) {
	paths, err := t.DateManifests(date)
	if err != nil {
		return nil, err
	}
	return ownedManifests(t, parseManifests(paths)), nil
}

// parseManifests reads and decodes the manifests at paths; unreadable
// ones are left out.
func parseManifests(paths []string) []*report.Manifest {
	out := make([]*report.Manifest, 0, len(paths))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var m report.Manifest
		if json.Unmarshal(data, &m) == nil {
			out = append(out, &m)
		}
	}
	return out
}

// historyWalk is what newestBefore read: a run's cost in history is the
// dates it opened and the manifests it decoded, whatever the table's age.
type historyWalk struct {
	Dates, Manifests int
}

// newestBefore finds the newest execution of a date before date that ok
// accepts, reading runs/ one date at a time, newest date first, and
// stopping at the first date that has one; it returns that date's
// manifests too (oldest first). The runs/ folder is the only record: no
// index to fall out of step with it, and a date's manifests are read only
// when no later date had what the run looks for.
func newestBefore(t *table.Table, date string, ok func(*report.Manifest) bool) (*report.Manifest, []*report.Manifest, historyWalk, error) {
	var walk historyWalk
	dates, err := t.RunDates()
	if err != nil {
		return nil, nil, walk, err
	}
	for i := len(dates) - 1; i >= 0; i-- {
		if dates[i] >= date {
			continue
		}
		ms, err := readDate(t, dates[i])
		walk.Dates++
		walk.Manifests += len(ms)
		if err != nil {
			return nil, nil, walk, err
		}
		for j := len(ms) - 1; j >= 0; j-- {
			if m := ms[j]; m.LogicalDate < date && ok(m) {
				return m, ms, walk, nil
			}
		}
	}
	return nil, nil, walk, nil
}

// History lists a job's executions, newest first. A table that belongs
// to another job is an error (ErrOwner): its runs are not this job's.
func History(job *spec.Job) ([]*report.Manifest, error) {
	t, err := table.Mirror(job.Output.Table)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	if err := t.CheckOwner(job.Name, job.File); err != nil {
		return nil, err
	}
	ms, err := readManifests(t)
	for _, m := range ms {
		settleUnfinished(t, job.Output.Table, m)
	}
	slices.Reverse(ms)
	return ms, err
}

// settleUnfinished says what became of an execution whose manifest is
// still the provisional one (status publishing) once nothing runs it: the
// date's lock on this machine is free. It was killed, or its object store
// went away before its final manifest could be written there. Its version
// not current, it is interrupted (nothing of it is read; a rerun runs
// again); current, its outcome is unknown: the version is whole (the
// pointer or rename came last) but its report and final books are
// missing. The manifest on disk is left as it is; its missing finish time
// stays missing.
func settleUnfinished(t *table.Table, root string, m *report.Manifest) {
	if m.Status != report.StatusPublishing || m.LogicalDate == "" || !table.DateLockFree(root, m.LogicalDate) {
		return
	}
	if cur, err := t.Current(m.LogicalDate); err == nil && cur == m.Version {
		m.Status, m.ExitCode = report.StatusUnknown, ExitUnknown
		m.Error = "the execution ended while publishing, before its final manifest (killed, or its object store went away): its version is current and whole, its report may be missing"
		return
	}
	m.Status, m.ExitCode = report.StatusInterrupted, ExitInterrupted
	m.Error = "the execution ended while publishing, before its final manifest (killed, or its object store went away): its version was not published"
}

// LastSuccess is when the newest successful, published run finished.
func LastSuccess(history []*report.Manifest) time.Time {
	var last time.Time
	for _, m := range history {
		if m.Status == report.StatusSucceeded && m.Output.Published && m.FinishedAt.After(last) {
			last = m.FinishedAt
		}
	}
	return last
}

// previousRun finds the newest successful, published execution of an
// earlier date, and its profiles: what row counts and scores are compared
// with. Without one it returns nil and -1.
func (e *execution) previousRun() (*runProfile, int64) {
	published := func(m *report.Manifest) bool {
		// An earlier date only (newestBefore): a rerun compared with its
		// own date's earlier version would never see a re-delivered
		// snapshot change.
		return m.Status == report.StatusSucceeded && m.Output.Published
	}
	m, sameDate, walk, err := newestBefore(e.table, e.date, published)
	e.log.Debug("run history read", "dates", walk.Dates, "manifests", walk.Manifests)
	if err != nil {
		e.log.Warn("could not list earlier runs", "err", err)
		return nil, -1
	}
	if m == nil {
		return nil, -1
	}
	// That date's current version, if it is one of its published runs:
	// the last one published, which is not the highest version id when
	// the clock was stepped back between the two.
	if cur, err := e.table.Current(m.LogicalDate); err == nil && cur != "" && cur != m.Version {
		for _, c := range sameDate {
			if c.Version == cur && c.LogicalDate == m.LogicalDate && published(c) {
				m = c
				break
			}
		}
	}
	e.m.Validation.PreviousVersion = m.Version
	var p runProfile
	if data, err := os.ReadFile(e.table.RunFile(m.LogicalDate, m.Version, ".profile.json")); err == nil {
		if json.Unmarshal(data, &p) == nil {
			return &p, m.Counts.Read
		}
	}
	return nil, m.Counts.Read
}

// ExitUnknown is the exit code history gives an execution whose end is
// not known: no process exit code is negative.
const ExitUnknown = -1

// errAlreadyCurrent ends an execution whose date is already current with
// the same run id: same job file, snapshot and model. It is a success.
var errAlreadyCurrent = errors.New("already current")

// alreadyCurrent says whether the date's current version has this run id.
// A query's run id does not cover its values, so SQL sources always run.
func (e *execution) alreadyCurrent() bool {
	version, err := e.table.Current(e.date)
	if err != nil || version == "" {
		return false
	}
	data, err := os.ReadFile(e.table.ManifestPath(e.date, version))
	if err != nil {
		return false
	}
	var m report.Manifest
	if json.Unmarshal(data, &m) != nil || m.RunID != e.m.RunID || m.Status != report.StatusSucceeded {
		return false
	}
	// Rows a fallback scored because the model failed to load or on a
	// chunk may score with the model now: that version is not the last word.
	if f := m.Fallback; f != nil && f.Triggers[route.TriggerLoad]+f.Triggers[route.TriggerInference]+f.Triggers[route.TriggerReused] > 0 {
		e.log.Info("the current version has fallback rows from a model failure: running again")
		return false
	}
	// So do a canary's or an arm's rows that fell back to the champion.
	if v := m.Rollout(); v != nil {
		for _, a := range v.Arms {
			if a.FellBack > 0 {
				e.log.Info("the current version has rows that fell back to the champion from a failing arm: running again", "arm", a.Name)
				return false
			}
		}
	}
	return true
}
