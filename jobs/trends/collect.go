// Package trends turns a job's run history into time series over logical
// dates and draws them as self-contained HTML pages (inline CSS and SVG,
// no script, no asset fetched from anywhere): the static site of
// `batchscore trends` and the pages `batchscore serve` serves at /.
//
// Everything comes from what the runs left in the table, read through
// io/table: the manifests (rows read, quarantined and scored, the model
// version, the status), each date's run report (.report.json: rejected
// rows per rule, PSI per feature, score quantiles and score PSI) and the
// outcomes files of `batchscore outcomes` (AUC, KS, Brier, calibration
// error). The report is already masked for PII, and the pages show only
// aggregates from it: nothing a run report does not show.
package trends

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/spec"
)

// Job is one job's history between two dates, as the pages draw it.
type Job struct {
	Name  string
	Table string // as messages name it: a folder, or an object URL without its query
	From  string // the range asked for; "" open
	To    string
	// Days are the logical dates that have an execution, oldest first.
	Days []*Day
	// Runs are every execution in the range, newest first.
	Runs []*Run
	// Rules are the reject rules that quarantined rows on some date;
	// Features the columns with a PSI on some date, most drifted first;
	// Quantiles the score quantiles (probabilities) the reports hold.
	Rules     []string
	Features  []string
	Quantiles []float64
	// Arms are the arm names of the outcomes files in the range, each
	// date's reference arm first, then by name.
	Arms []string
	// Notes say what could not be read (a report, an outcomes file).
	Notes []string

	root string // the table's folder (its local mirror for an object URL)
}

// Day is one logical date: the execution that stands for it (the run of
// its current version, else its newest) and what its report and outcomes
// say.
type Day struct {
	Date string
	Run  *Run
	// Failed are the date's failed or interrupted executions.
	Failed []*Run
	// ModelChange: the model version differs from the previous date's;
	// Rollback: it went back to a version an earlier date had used.
	ModelChange bool
	Rollback    bool
	PrevModel   string
	// From the run's report (nil or empty without one).
	Quarantined    map[string]int64   // rows rejected per rule (a row rejected by two rules counts under each)
	PSI            map[string]float64 // per feature
	ScoreQuantiles []report.Quantile
	ScorePSI       *float64
	Outcome        *Outcome
}

// Run is one execution.
type Run struct {
	Date, Version, Status, Trigger string
	ExitCode                       int
	Model                          string // the model version (see modelVersion)
	Read, Quarantined, Scored      int64
	Current                        bool
	// Error is the masked report's error when the run has a report, else
	// the manifest's (which never holds a DSN or a credential).
	Error string
	// Files are the run's records beside its manifest, by suffix
	// (".json", ".report.html", ".report.json"); only those that exist.
	Files []string
}

// Outcome is what the newest outcomes evaluation of a date found.
type Outcome struct {
	File          string // outcomes-<time>.json
	HTML          bool   // its .html sibling exists
	Version       string
	EvaluatedAt   string
	Model         string
	Matched       int64
	AUC, KS       *float64
	Brier, ECE    *float64
	ChallengerAUC *float64
	// Arms are the evaluation's arms (the result table's arm column),
	// the reference arm first; none without an arm column.
	Arms []ArmOutcome
}

// ArmOutcome is one arm of an evaluation.
type ArmOutcome struct {
	Arm, Model        string
	Reference         bool
	Scored, Matched   int64
	AUC, Lower, Upper *float64 // the AUC and its 95 % interval
	// Diff is AUC(arm) − AUC(reference) with its 95 % interval
	// (DiffLower, DiffUpper); Worse when outcomes.arm_margin found the
	// arm worse by more than the margin. Nil on the reference arm.
	Diff, DiffLower, DiffUpper *float64
	Worse                      *bool
	ScorePSI                   *float64 // against the same arm's scores of the previous published date
}

// Failed reports whether an execution ended in failure.
func (r *Run) Failed() bool {
	return r.Status == report.StatusFailed || r.Status == report.StatusInterrupted
}

// Collect reads a job's history between from and to (YYYY-MM-DD, "" for
// open ends) from its table. A table that belongs to another job is an
// error (table.ErrOwner), as for `batchscore runs`. Unreadable manifests
// are left out, as the run history leaves them out; an unreadable report
// or outcomes file leaves its figures out and adds a note.
func Collect(job *spec.Job, from, to string) (*Job, error) { return collect(job, from, to, true) }

// Summary is Collect over every date from the manifests alone: the runs,
// statuses and model versions, without reports or outcomes (the jobs
// list needs no more).
func Summary(job *spec.Job) (*Job, error) { return collect(job, "", "", false) }

func collect(job *spec.Job, from, to string, detail bool) (*Job, error) {
	t, err := table.Mirror(job.Output.Table)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	if err := t.CheckOwner(job.Name, job.File); err != nil {
		return nil, err
	}
	paths, err := t.Manifests()
	if err != nil {
		return nil, fmt.Errorf("listing the runs of %s: %w", t.Name(), err)
	}
	owners := []string{job.Name}
	if o, err := t.Owner(); err == nil && o != nil {
		owners = o.Names()
	}
	j := &Job{Name: job.Name, Table: t.Name(), From: from, To: to, root: t.Root}
	byDate := map[string][]*report.Manifest{}
	var dates []string
	for _, p := range paths {
		date := filepath.Base(filepath.Dir(p))
		if (from != "" && date < from) || (to != "" && date > to) {
			continue
		}
		m, err := readManifest(p)
		if err != nil || m.LogicalDate != date || !slices.Contains(owners, m.Job) {
			continue // not a manifest of this table's job (an outcomes file, say)
		}
		if len(byDate[date]) == 0 {
			dates = append(dates, date)
		}
		byDate[date] = append(byDate[date], m)
	}
	seen := map[string]bool{} // model versions of earlier dates
	var prev string
	for _, date := range dates {
		d := j.day(t, date, byDate[date], detail)
		if d == nil {
			continue
		}
		if mv := d.Run.Model; mv != "" && !d.Run.Failed() {
			if prev != "" && mv != prev {
				d.ModelChange, d.PrevModel = true, prev
				d.Rollback = seen[mv]
			}
			if prev != "" {
				seen[prev] = true
			}
			prev = mv
		}
		j.Days = append(j.Days, d)
	}
	slices.Reverse(j.Runs)
	j.order()
	return j, nil
}

// day builds one date from its executions (oldest first).
func (j *Job) day(t *table.Table, date string, ms []*report.Manifest, detail bool) *Day {
	current, _ := t.Current(date)
	d := &Day{Date: date}
	var stand *Run
	for _, m := range ms {
		r := newRun(t, m, current)
		j.Runs = append(j.Runs, r)
		if r.Failed() {
			d.Failed = append(d.Failed, r)
		}
		if m.Trigger == "validate" || m.Status == report.StatusStaged {
			continue // checked or staged only: nothing of it is published
		}
		if stand == nil || !stand.Current {
			stand = r
		}
	}
	if stand == nil {
		return nil
	}
	d.Run = stand
	if !detail {
		return d
	}
	for _, r := range j.Runs[len(j.Runs)-len(ms):] {
		if r != stand && slices.Contains(r.Files, ".report.json") {
			// The report's error is masked; the manifest's is not.
			var v struct {
				Error string `json:"error"`
			}
			if data, err := os.ReadFile(t.RunFile(date, r.Version, ".report.json")); err == nil && json.Unmarshal(data, &v) == nil {
				r.Error = v.Error
			}
		}
	}
	if slices.Contains(stand.Files, ".report.json") {
		if err := d.readReport(t.RunFile(date, stand.Version, ".report.json"), stand); err != nil {
			j.Notes = append(j.Notes, fmt.Sprintf("%s: the report of %s could not be read: %v", date, stand.Version, err))
		}
	}
	o, err := readOutcomes(filepath.Dir(t.ManifestPath(date, stand.Version)))
	if err != nil {
		j.Notes = append(j.Notes, fmt.Sprintf("%s: %v", date, err))
	}
	d.Outcome = o
	return d
}

func newRun(t *table.Table, m *report.Manifest, current string) *Run {
	r := &Run{Date: m.LogicalDate, Version: m.Version, Status: m.Status, Trigger: m.Trigger, ExitCode: m.ExitCode,
		Model: modelVersion(m), Read: m.Counts.Read, Quarantined: m.Counts.Quarantined, Scored: m.Counts.Scored,
		Current: current != "" && current == m.Version, Error: m.Error}
	if r.Status == report.StatusPublishing && r.Current {
		// Ended while publishing (see jobs.History): whole, outcome unknown.
		r.Status = report.StatusUnknown
	}
	for _, suffix := range []string{".json", ".report.html", ".report.json"} {
		if fi, err := os.Stat(t.RunFile(m.LogicalDate, m.Version, suffix)); err == nil && fi.Mode().IsRegular() {
			r.Files = append(r.Files, suffix)
		}
	}
	return r
}

// modelVersion names the model that scored: the job's model.version,
// else the registry's name and version, else the file's sha256.
func modelVersion(m *report.Manifest) string {
	switch {
	case m.Model.Version != "":
		return m.Model.Version
	case m.Model.Registry != nil:
		return m.Model.Registry.Name + "@" + m.Model.Registry.Version
	case m.Model.SHA256 != "":
		h := strings.TrimPrefix(m.Model.SHA256, "sha256:")
		return "sha256:" + h[:min(12, len(h))]
	}
	return ""
}

func readManifest(path string) (*report.Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m report.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// reportView is the part of a run report (report.Report's JSON) the
// pages draw; the rest of the file is skipped.
type reportView struct {
	Error string `json:"error"`
	Rules []struct {
		Name   string `json:"name"`
		Action string `json:"action"`
		Failed int64  `json:"failed"`
	} `json:"rules"`
	Columns []struct {
		Name  string `json:"name"`
		Drift *struct {
			PSI float64 `json:"psi"`
		} `json:"drift"`
	} `json:"columns"`
	Scores *struct {
		Quantiles []report.Quantile `json:"quantiles"`
		PSI       *float64          `json:"psi"`
	} `json:"scores"`
}

func (d *Day) readReport(path string, r *Run) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var v reportView
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	r.Error = v.Error // masked
	d.Quarantined = map[string]int64{}
	for _, x := range v.Rules {
		if x.Action == "reject" {
			d.Quarantined[x.Name] += x.Failed
		}
	}
	d.PSI = map[string]float64{}
	for _, c := range v.Columns {
		if c.Drift != nil {
			d.PSI[c.Name] = c.Drift.PSI
		}
	}
	if s := v.Scores; s != nil {
		d.ScoreQuantiles, d.ScorePSI = s.Quantiles, s.PSI
	}
	return nil
}

// outcomesFile is the part of an outcomes file (format
// batchscore-outcomes/1) the pages draw.
type outcomesFile struct {
	Format      string       `json:"format"`
	Date        string       `json:"date"`
	Version     string       `json:"version"`
	EvaluatedAt string       `json:"evaluated_at"`
	Champion    *metricsView `json:"champion"`
	Challenger  *metricsView `json:"challenger"`
	Arms        []armView    `json:"arms"`
}

// armView is the part of an outcomes file's arm the pages draw.
type armView struct {
	Arm          string   `json:"arm"`
	ModelVersion string   `json:"model_version"`
	RowsScored   int64    `json:"rows_scored"`
	Matched      int64    `json:"matched"`
	AUC          *float64 `json:"auc"`
	Lower        *float64 `json:"auc_ci95_lower"`
	Upper        *float64 `json:"auc_ci95_upper"`
	Reference    bool     `json:"reference"`
	VsReference  *struct {
		Difference *float64 `json:"difference"`
		Lower      *float64 `json:"ci95_lower"`
		Upper      *float64 `json:"ci95_upper"`
		Worse      *bool    `json:"worse"`
	} `json:"auc_vs_reference"`
	Scores *struct {
		PSI *float64 `json:"psi"`
	} `json:"scores"`
}

func (v armView) outcome() ArmOutcome {
	a := ArmOutcome{Arm: v.Arm, Model: v.ModelVersion, Reference: v.Reference, Scored: v.RowsScored, Matched: v.Matched,
		AUC: v.AUC, Lower: v.Lower, Upper: v.Upper}
	if d := v.VsReference; d != nil {
		a.Diff, a.DiffLower, a.DiffUpper, a.Worse = d.Difference, d.Lower, d.Upper, d.Worse
	}
	if v.Scores != nil {
		a.ScorePSI = v.Scores.PSI
	}
	return a
}

type metricsView struct {
	ModelVersion string   `json:"model_version"`
	Matched      int64    `json:"matched"`
	AUC          *float64 `json:"auc"`
	KS           *float64 `json:"ks"`
	Brier        *float64 `json:"brier"`
	ECE          *float64 `json:"ece"`
}

// OutcomesFormat is the format of the outcomes files this package reads.
const OutcomesFormat = "batchscore-outcomes/1"

// readOutcomes reads a date folder's outcomes files and keeps the newest
// evaluation (by evaluated_at). A file of another format, or unreadable,
// is named in the error; the others still count.
func readOutcomes(dir string) (*Outcome, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "outcomes-*.json"))
	if err != nil || len(paths) == 0 {
		return nil, err
	}
	var best *Outcome
	var errs []error
	for _, p := range paths {
		data, err := os.ReadFile(p)
		var f outcomesFile
		if err == nil {
			err = json.Unmarshal(data, &f)
		}
		if err == nil && f.Format != OutcomesFormat {
			err = fmt.Errorf("format %q, want %q", f.Format, OutcomesFormat)
		}
		if err == nil && f.Champion == nil {
			err = errors.New("no champion metrics")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("outcomes file %s: %w", filepath.Base(p), err))
			continue
		}
		if best != nil && f.EvaluatedAt <= best.EvaluatedAt {
			continue
		}
		c := f.Champion
		base := filepath.Base(p)
		o := &Outcome{File: base, Version: f.Version, EvaluatedAt: f.EvaluatedAt, Model: c.ModelVersion, Matched: c.Matched,
			AUC: c.AUC, KS: c.KS, Brier: c.Brier, ECE: c.ECE}
		if fi, err := os.Stat(strings.TrimSuffix(p, ".json") + ".html"); err == nil && fi.Mode().IsRegular() {
			o.HTML = true
		}
		if f.Challenger != nil {
			o.ChallengerAUC = f.Challenger.AUC
		}
		for _, a := range f.Arms {
			o.Arms = append(o.Arms, a.outcome())
		}
		best = o
	}
	return best, errors.Join(errs...)
}

// order lists the rules, the features (most drifted first: by their
// highest PSI in the range, then by name) and the score quantiles.
func (j *Job) order() {
	rules := map[string]bool{}
	most := map[string]float64{}
	qs := map[float64]bool{}
	arms, refs := map[string]bool{}, map[string]bool{}
	for _, d := range j.Days {
		if d.Outcome != nil {
			for _, a := range d.Outcome.Arms {
				arms[a.Arm], refs[a.Arm] = true, refs[a.Arm] || a.Reference
			}
		}
		for r, n := range d.Quarantined {
			if n > 0 {
				rules[r] = true
			}
		}
		for f, v := range d.PSI {
			if old, ok := most[f]; !ok || v > old {
				most[f] = v
			}
		}
		for _, q := range d.ScoreQuantiles {
			qs[q.P] = true
		}
	}
	j.Rules = slices.Sorted(maps.Keys(rules))
	j.Features = slices.Sorted(maps.Keys(most))
	slices.SortStableFunc(j.Features, func(a, b string) int { return cmp.Compare(most[b], most[a]) })
	j.Quantiles = slices.Sorted(maps.Keys(qs))
	j.Arms = slices.Sorted(maps.Keys(arms))
	slices.SortStableFunc(j.Arms, func(a, b string) int { return cmp.Compare(b2i(refs[b]), b2i(refs[a])) })
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
