package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/batchscore/batchscore/internal/crashpoint"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/resume"
	"github.com/batchscore/batchscore/jobs/validate"
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
	s.NullKeys = v.nullKeys()
	for _, w := range v.warnings {
		e.log.Warn("data check", "warning", w)
	}
}

// checkBooks: read = valid + quarantined = the footers' rows (when known
// before reading, as for Parquet); every valid
// row is scored and written (unless nothing is scored at all).
func (e *execution) checkBooks(footerRows int64, scored bool, rules validate.Result) error {
	c := e.m.Counts
	if !scored {
		c.Scored, c.Written = c.Valid, c.Valid
	}
	inFiles := c.Quarantined // a dry run counts rejected rows without writing them
	if !e.DryRun {
		inFiles = e.checks.quarantinedRows()
	}
	if (footerRows >= 0 && c.Read != footerRows) || c.Read != c.Valid+c.Quarantined || c.Scored+c.Fallback != c.Valid || c.Written != c.Scored+c.Fallback ||
		rules.Rows != c.Read || rules.Valid != c.Valid || rules.Rejected != c.Quarantined || inFiles != c.Quarantined {
		return fmt.Errorf("%w: footers %d, read %d, valid %d, quarantined %d (in files %d), scored %d, fallback %d, written %d; the rules counted %d rows, %d valid, %d rejected",
			ErrBooks, footerRows, c.Read, c.Valid, c.Quarantined, inFiles, c.Scored, c.Fallback, c.Written, rules.Rows, rules.Valid, rules.Rejected)
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
				if u := e.table.ReaderURL("runs", e.date, m.Version+suffix); u != "" {
					return u // uploaded: where every machine finds it
				}
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
		data, err := json.Marshal(runProfile{Scores: e.verdict.scores})
		write(".profile.json", data, err)
	}
}

// keepQuarantine moves the rejected rows of a run that was not published
// next to its manifest, where on-call finds what the gate stopped on.
func (e *execution) keepQuarantine() {
	m := e.m
	if len(m.Output.QuarantineFiles) == 0 {
		return
	}
	dst := e.table.RunFile(e.date, m.Version, ".quarantine")
	src := filepath.Join(e.table.Root, "_staging", m.Version, QuarantineDir)
	if _, err := e.table.Dir("runs", e.date); err == nil {
		err = os.Rename(src, dst)
		if err == nil {
			m.Output.QuarantinePath = dst
			return
		}
		e.log.Warn("could not keep the quarantined rows", "err", err)
	}
	m.Output.QuarantineFiles = nil
}

// writeProvisional writes the manifest as it stands before publishing,
// with status publishing: a kill between the publish and the final
// manifest leaves a current version whose files are still accounted for.
func (e *execution) writeProvisional() error {
	m := *e.m
	m.Status = report.StatusPublishing
	m.Output.Path = e.table.VersionDir(e.date, m.Version)
	data, err := m.JSON()
	if err == nil {
		_, err = e.table.WriteManifest(e.date, m.Version, data)
	}
	if err != nil {
		return fmt.Errorf("writing the provisional manifest: %w", err)
	}
	return nil
}

// finish settles the manifest and writes it, last. A failed execution
// leaves no staged files behind.
func (e *execution) finish(err error) (*Result, error) {
	m := e.m
	m.FinishedAt = time.Now().UTC()
	if errors.Is(err, errAlreadyCurrent) {
		// Nothing ran: no version, no manifest; the current one stands.
		m.Status, m.ExitCode = report.StatusAlreadyCurrent, ExitOK
		current, _ := e.table.Current(e.date)
		m.Output.Path = e.table.VersionDir(e.date, current)
		m.Output.CurrentLink = e.table.CurrentLink(e.date)
		m.Output.URL, m.Output.CurrentURL = e.table.ReaderURL("versions", e.date, current), e.table.ReaderURL("current", e.date+".json")
		logAlreadyCurrent(e.log, current, e.m.RunID, e.runIDLogged)
		return &Result{Manifest: m, AlreadyCurrent: true}, nil
	}
	m.ExitCode = ExitCode(err)
	switch {
	case err == nil && e.req.Shard != nil && !e.DryRun:
		m.Status = report.StatusStaged
	case err == nil:
		m.Status = report.StatusSucceeded
	case m.ExitCode == ExitInterrupted:
		m.Status = report.StatusInterrupted
		m.Error = interruptedMessage(err)
	default:
		m.Status = report.StatusFailed
		m.Error = err.Error()
	}
	if e.staged && e.table != nil {
		e.keepQuarantine()
		if derr := e.table.Discard(m.Version); derr != nil {
			e.log.Warn("could not remove staging folder", "err", derr)
		}
		m.Output.Files = nil // staged, never published, now gone
	}
	if e.table != nil && !e.DryRun && m.RunID != "" && (m.ExitCode == ExitUsage || m.ExitCode == ExitDataQuality) {
		// The same run id would stop the same way: its saved chunks only
		// take space. Kept for exit 1 and 130, where resuming is the point.
		resume.Clean(e.table.Root, m.RunID)
	}
	res := &Result{Manifest: m}
	if e.table != nil && e.verdict != nil {
		e.writeReport()
	}
	if e.table != nil {
		crashpoint.Hit("manifest")
		data, jerr := m.JSON()
		if jerr == nil {
			res.ManifestPath, jerr = e.table.WriteManifest(e.date, m.Version, data)
			res.ManifestURL = e.table.ReaderURL("runs", e.date, m.Version+".json")
		}
		if jerr != nil {
			res.ManifestPath = "" // WriteManifest names the path it could not write
			e.log.Error("could not write the run manifest", "err", jerr)
			err = errors.Join(err, fmt.Errorf("writing manifest: %w", jerr))
		} else {
			e.pruneRuns()
		}
	}
	logOutcome(e.log, e.m, e.DryRun, err)
	return res, err
}
