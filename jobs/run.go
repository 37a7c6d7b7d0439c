// Package jobs runs a job for one logical date: plan, open the model and
// the snapshot, score in a pipeline, stage, publish, write the manifest.
package jobs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"sort"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/io/parquetio"
	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/spec"
	"github.com/batchscore/batchscore/jobs/validate/profile"
	"github.com/batchscore/batchscore/scoring"
	"github.com/batchscore/batchscore/scoring/onnx"
)

// Triggers say who started an execution.
const (
	TriggerManual   = "manual"
	TriggerSchedule = "schedule"
	TriggerBackfill = "backfill"
	TriggerValidate = "validate" // a dry run: checked, not scored
)

// Runner runs executions. The zero value is not usable: set ORTLib.
type Runner struct {
	ORTLib string
	// ORTLibErr, when set, says why no library was found; the run fails
	// with it after writing its manifest, like any other failure.
	ORTLibErr error
	Version   string // of the binary, for the manifest
	Logger    *slog.Logger
	// Mem allocates every Arrow buffer; tests pass a checked allocator.
	Mem memory.Allocator
	// Progress, when set, is called after each written chunk.
	Progress func(done, total int64)
	// Workers overrides the job file's scoring.workers when above 0.
	Workers int
	// DryRun checks the data without scoring or publishing (batchscore
	// validate): rules, profiles, drift and the report only.
	DryRun bool
}

// Request is one execution: a job and a logical date.
type Request struct {
	Job     *spec.Job
	Date    time.Time
	Trigger string
}

// Result is what an execution left: its manifest and where it was written.
type Result struct {
	Manifest     *report.Manifest
	ManifestPath string
}

// Run executes one request. It always returns a manifest once the job file
// was read; the error, if any, maps to an exit code with ExitCode.
func (r *Runner) Run(ctx context.Context, req Request) (*Result, error) {
	log := r.logger()
	start := time.Now()
	job := req.Job
	date := req.Date.Format(spec.DateLayout)
	m := &report.Manifest{
		Job: job.Name, JobFile: job.File, LogicalDate: date,
		Version: table.NewVersion(start), Trigger: req.Trigger,
		Status: report.StatusRunning, StartedAt: start.UTC(),
		ConfigHash: "sha256:" + job.Hash,
		Binary: report.Binary{
			Version: r.Version, GoVersion: runtime.Version(), ORTLibrary: r.ORTLib,
			Workers: r.workers(job), ChunkRows: job.Scoring.ChunkRows, IntraThread: job.Scoring.IntraOpThreads,
		},
		Model:  report.Model{Path: job.Model.Path},
		Output: report.Output{Table: job.Output.Table},
		Validation: report.Summary{
			Rules: len(job.Validation.Rules), MaxInvalidFraction: job.Validation.MaxInvalidFraction,
			Baseline: job.Validation.Baseline,
		},
	}
	m.Output.Version = m.Version
	log = log.With("job", job.Name, "date", date, "version", m.Version)
	log.Info("run started", "trigger", req.Trigger)

	e := &execution{Runner: r, req: req, date: date, m: m, log: log}
	err := guard("running", func() error { return e.run(ctx) })()
	return e.finish(err)
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return r.Logger
}

func (r *Runner) mem() memory.Allocator {
	if r.Mem == nil {
		return memory.DefaultAllocator
	}
	return r.Mem
}

func (r *Runner) workers(job *spec.Job) int {
	switch {
	case r.Workers > 0:
		return r.Workers
	case job.Scoring.Workers > 0:
		return job.Scoring.Workers
	}
	return runtime.NumCPU()
}

// execution is the state of one Run.
type execution struct {
	*Runner
	req     Request
	date    string
	m       *report.Manifest
	log     *slog.Logger
	table   *table.Table
	staged  bool
	session scoring.Session
	verdict *verdict // set once the data was checked
}

func (e *execution) run(ctx context.Context) error {
	job := e.req.Job
	t, err := table.Open(job.Output.Table)
	if err != nil {
		return err
	}
	e.table = t

	stage := time.Now()
	var binding *scoring.Binding
	if !e.DryRun {
		var err error
		if binding, err = e.openModel(); err != nil {
			return err
		}
		defer e.session.Close()
		e.m.Time("model", stage)
	}

	stage = time.Now()
	src, err := e.openSource(ctx, binding)
	if err != nil {
		return err
	}
	previous, prevRows := e.previousRun()
	checks, err := e.openChecks(src, e.profiledColumns(src), previous)
	if err != nil {
		return err
	}
	defer checks.close()
	e.m.Time("source", stage)

	e.m.RunID = runID(job, e.date, e.m.Source.Fingerprint, e.m.Model.SHA256)
	if err := ctx.Err(); err != nil {
		return err
	}

	stage = time.Now()
	dir, err := t.Stage(e.m.Version)
	if err != nil {
		return err
	}
	e.staged = true
	checks.quarantineDir = filepath.Join(dir, QuarantineDir)
	files, err := e.score(ctx, src, binding, checks, dir)
	if err != nil {
		return err
	}
	e.m.Output.Files = files
	if err := checks.closeQuarantine(); err != nil {
		return err
	}
	e.m.Output.QuarantineFiles = checks.quarantined
	e.m.Time("check_score_write", stage)

	v, gateErr := checks.conclude(prevRows, binding != nil)
	e.record(v)
	if gateErr != nil {
		return gateErr
	}
	if err := e.checkBooks(src.Rows(), binding != nil); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if e.DryRun {
		return nil // the staged quarantine files go with the staging folder
	}

	// From here on the run no longer listens to cancellation: publishing
	// is two renames, and stopping between them gains nothing.
	stage = time.Now()
	if err := t.Publish(e.date, e.m.Version); err != nil {
		return err
	}
	e.staged = false
	e.m.Output.Published = true
	e.m.Output.Path = t.VersionDir(e.date, e.m.Version)
	e.m.Output.CurrentLink = t.CurrentLink(e.date)
	if err := t.SyncCurrent(); err != nil {
		e.log.Warn("published, but syncing current/ failed", "err", err)
	}
	e.m.Time("publish", stage)
	return nil
}

func (e *execution) openModel() (*scoring.Binding, error) {
	job := e.req.Job
	model, err := onnx.Load(job.Model.Path)
	if errors.Is(err, onnx.ErrNoModel) {
		return nil, fmt.Errorf("%w (model.path in %s)", err, job.File)
	}
	if err != nil {
		return nil, err
	}
	e.m.Model.SHA256 = model.SHA256
	e.m.Model.Version = job.Model.Version
	if e.m.Model.Version == "" {
		e.m.Model.Version = "sha256:" + model.SHA256[:12]
	}
	if e.ORTLibErr != nil {
		return nil, e.ORTLibErr
	}
	if err := onnx.Init(e.ORTLib); err != nil {
		return nil, err
	}
	e.m.Binary.ORTVersion = onnx.Version()
	sig, md, err := model.Inspect()
	if err != nil {
		return nil, err
	}
	e.m.Model.Signature, e.m.Model.Metadata = &sig, md
	binding, err := scoring.Bind(sig, job.Model)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", job.Model.Path, err)
	}
	sess, err := model.Open(binding, onnx.Options{
		IntraOpThreads: job.Scoring.IntraOpThreads,
		Optimization:   job.Scoring.Optimization,
	})
	if err != nil {
		return nil, err
	}
	e.session = sess
	e.log.Info("model loaded", "path", job.Model.Path, "model_version", e.m.Model.Version, "onnxruntime", e.m.Binary.ORTVersion)
	return binding, nil
}

func (e *execution) openSource(ctx context.Context, binding *scoring.Binding) (*parquetio.Source, error) {
	job := e.req.Job
	if job.Source.SQL != nil || job.Output.SQL != nil {
		return nil, spec.ErrorAt("source.sql", "SQL sources and sinks are parsed but not yet run by this build")
	}
	pattern, err := job.SourcePattern(e.req.Date)
	if err != nil {
		return nil, spec.ErrorAt("source.parquet", "%v", err)
	}
	e.m.Source = report.Source{Kind: "parquet", Pattern: pattern}
	src, err := parquetio.Open(pattern)
	if err != nil {
		return nil, err
	}
	e.m.Source.Files = src.Files()
	e.m.Source.Rows = src.Rows()
	if err := src.CheckColumns(append(append([]string(nil), job.Output.Keys...), modelColumns(job)...)); err != nil {
		return nil, err
	}
	if err := checkKeyTypes(src.Schema(), job.Output.Keys, src.FirstFile()); err != nil {
		return nil, err
	}
	if binding != nil {
		if err := binding.CheckSchema(src.Schema(), src.FirstFile()); err != nil {
			return nil, err
		}
	}
	if src.Rows() == 0 {
		return nil, fmt.Errorf("%w: %d files match %s but hold no rows", ErrEmpty, len(src.Files()), pattern)
	}
	fp, err := src.Fingerprint(ctx, e.workers(job))
	if err != nil {
		return nil, err
	}
	e.m.Source.Fingerprint = "sha256:" + fp
	e.m.Source.Files = src.Files()
	e.log.Info("snapshot opened", "files", len(src.Files()), "rows", src.Rows(), "fingerprint", e.m.Source.Fingerprint)
	return src, nil
}

// modelColumns are the columns the job file feeds the model, known
// without loading it.
func modelColumns(job *spec.Job) []string {
	var cols []string
	for _, name := range job.Model.InputNames() {
		cols = append(cols, job.Model.Inputs[name]...)
	}
	return dedupe(cols)
}

// profiledColumns are profiled on every run: the model's inputs and the
// baseline's columns, where the snapshot has them.
func (e *execution) profiledColumns(src *parquetio.Source) []string {
	cols := modelColumns(e.req.Job)
	if path := e.req.Job.Validation.Baseline; path != "" {
		if p, err := profile.Load(path); err == nil {
			for _, c := range p.Columns {
				cols = append(cols, c.Name)
			}
		}
	}
	var out []string
	for _, c := range dedupe(cols) {
		if len(src.Schema().FieldIndices(c)) > 0 {
			out = append(out, c)
		}
	}
	return out
}

// checkKeyTypes refuses nested key columns: result rows copy keys as flat
// columns, and the reader projects leaf columns only.
func checkKeyTypes(schema *arrow.Schema, keys []string, file string) error {
	for _, k := range keys {
		idx := schema.FieldIndices(k)
		if len(idx) == 0 {
			continue // CheckColumns names it
		}
		if _, nested := schema.Field(idx[0]).Type.(arrow.NestedType); nested {
			return fmt.Errorf("%w: %s: key column %q is %s; keys must be flat columns (numbers, strings, dates)",
				parquetio.ErrSchema, file, k, schema.Field(idx[0]).Type)
		}
	}
	return nil
}

// runID identifies what a version was computed from: the same job file,
// date, snapshot and model always give the same run id, which is what makes
// rerun output byte-identical.
func runID(job *spec.Job, date, fingerprint, modelSHA string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s", job.Name, date, fingerprint, modelSHA, job.Hash)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

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

// finish settles the manifest and writes it, last. A failed execution
// leaves no staged files behind.
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
