package jobs

import (
	"encoding/json"
	"errors"
	"os"

	"github.com/batchscore/batchscore/jobs/report"
)

// previousRun finds the newest successful, published execution of a date
// on or before this one, and its profiles: what row counts and scores are
// compared with. Without one it returns nil and -1. The history is read
// from the table's manifests, never from memory, so it survives restarts.
func (e *execution) previousRun() (*runProfile, int64) {
	paths, err := e.table.Manifests()
	if err != nil {
		e.log.Warn("could not list earlier runs", "err", err)
		return nil, -1
	}
	for i := len(paths) - 1; i >= 0; i-- {
		data, err := os.ReadFile(paths[i])
		if err != nil {
			continue
		}
		var m report.Manifest
		// An earlier date only: a rerun compared with its own date's
		// earlier version would never see a re-delivered snapshot change.
		if json.Unmarshal(data, &m) != nil || m.Status != report.StatusSucceeded || !m.Output.Published ||
			m.LogicalDate >= e.date {
			continue
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
	return nil, -1
}

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
	return json.Unmarshal(data, &m) == nil && m.RunID == e.m.RunID && m.Status == report.StatusSucceeded
}
