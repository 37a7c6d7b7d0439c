package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/batchscore/batchscore/jobs/report"
)

// record puts the checks' verdict into the manifest.
func (e *execution) record(v *verdict) {
	e.verdict = v
	res := v.result
	e.m.Counts.Imputed, e.m.Counts.Clipped = res.Imputed, res.Clipped
	s := &e.m.Validation
	s.InvalidFraction = res.InvalidFraction
	s.Breaches = v.breaches
	s.Passed = res.Passed && len(v.breaches) == 0
	s.Warnings = v.warnings
	for _, w := range v.warnings {
		e.log.Warn("data check", "warning", w)
	}
}

// checkBooks: read = valid + quarantined = the footers' rows; every valid
// row is scored and written (unless nothing is scored at all).
func (e *execution) checkBooks(footerRows int64, scored bool) error {
	c := e.m.Counts
	if !scored {
		c.Scored, c.Written = c.Valid, c.Valid
	}
	rules := e.verdict.result
	if c.Read != footerRows || c.Scored != c.Valid || c.Valid != c.Read-c.Quarantined || c.Written != c.Scored+c.Fallback ||
		rules.Rows != c.Read || rules.Valid != c.Valid {
		return fmt.Errorf("%w: footers %d, read %d, valid %d (rules: %d of %d), quarantined %d, scored %d, written %d",
			ErrBooks, footerRows, c.Read, c.Valid, rules.Valid, rules.Rows, c.Quarantined, c.Scored, c.Written)
	}
	return nil
}

// writeReport writes the validation report next to the manifest and, for
// a published run, the profiles the next run compares with. A report that
// cannot be written is logged: it does not change what was published.
func (e *execution) writeReport() {
	m := e.m
	var pii []string
	for name, c := range e.req.Job.Validation.Columns {
		if c.PII {
			pii = append(pii, name)
		}
	}
	sort.Strings(pii)
	rep := buildReport(m, e.verdict, pii)
	write := func(suffix string, data []byte, err error) string {
		if err == nil {
			var path string
			if path, err = e.table.WriteRunFile(e.date, m.Version, suffix, data); err == nil {
				return path
			}
		}
		e.log.Error("could not write the report", "file", suffix, "err", err)
		return ""
	}
	data, err := rep.JSON()
	m.Validation.Report = write(".report.json", data, err)
	var html bytes.Buffer
	err = rep.WriteHTML(&html)
	m.Validation.ReportHTML = write(".report.html", html.Bytes(), err)
	if m.Output.Published {
		data, err := json.Marshal(runProfile{Snapshot: e.verdict.today, Scores: e.verdict.scores})
		write(".profile.json", data, err)
	}
}

// finish settles the manifest and writes it, last. A failed execution
// leaves no staged files behind.
func (e *execution) finish(err error) (*Result, error) {
	m := e.m
	m.FinishedAt = time.Now().UTC()
	m.ExitCode = ExitCode(err)
	switch {
	case err == nil:
		m.Status = report.StatusSucceeded
	case m.ExitCode == ExitInterrupted:
		m.Status = report.StatusInterrupted
		m.Error = "interrupted: nothing was published"
	default:
		m.Status = report.StatusFailed
		m.Error = err.Error()
	}
	if e.staged && e.table != nil {
		if derr := e.table.Discard(m.Version); derr != nil {
			e.log.Warn("could not remove staging folder", "err", derr)
		}
	}
	res := &Result{Manifest: m}
	if e.table != nil && e.verdict != nil {
		e.writeReport()
	}
	if e.table != nil {
		data, jerr := m.JSON()
		if jerr == nil {
			res.ManifestPath, jerr = e.table.WriteManifest(e.date, m.Version, data)
		}
		if jerr != nil {
			e.log.Error("could not write the run manifest", "err", jerr)
			err = errors.Join(err, fmt.Errorf("writing manifest: %w", jerr))
		}
	}
	if err != nil {
		e.log.Error("run failed", "exit_code", m.ExitCode, "err", err)
	} else {
		e.log.Info("run succeeded", "rows", m.Counts.Written, "path", m.Output.Path,
			"seconds", m.FinishedAt.Sub(m.StartedAt).Seconds())
	}
	return res, err
}
