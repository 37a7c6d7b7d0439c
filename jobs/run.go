// Package jobs runs a job for one logical date: plan, open the model and
// the snapshot, score in a pipeline, stage, publish, write the manifest.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/internal/crashpoint"
	"github.com/batchscore/batchscore/io/sqlio"
	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/jobs/output"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/resume"
	"github.com/batchscore/batchscore/jobs/route"
	"github.com/batchscore/batchscore/jobs/shard"
	"github.com/batchscore/batchscore/jobs/spec"
	"github.com/batchscore/batchscore/jobs/validate"
)

// Triggers say who started an execution.
const (
	TriggerManual   = "manual"
	TriggerSchedule = "schedule"
	TriggerBackfill = "backfill"
	TriggerValidate = "validate" // a dry run: checked, not scored
	TriggerCommit   = "commit"   // the shards of a sharded run published
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
	// RegistryModel says which version a model named by registry alias
	// is: RegistryCurrent (default) or RegistryAsOfDate.
	RegistryModel string
	// Reuse, when set, keeps for the runs after this one (the dates of a
	// backfill, a daemon's runs) what does not change while the files
	// behind it do not: the opened models and the checked baseline. The
	// caller closes it once no run is left.
	Reuse *Reuse
}

// Request is one execution: a job and a logical date.
type Request struct {
	Job     *spec.Job
	Date    time.Time
	Trigger string
	// Force makes a new version even when the current one came from the
	// same snapshot, model and job file.
	Force bool
	// Shard, when set, runs one shard: its rows are checked, scored and
	// staged for `batchscore commit`, and nothing is published.
	Shard *Shard
}

// Result is what an execution left: its manifest and where it was written.
type Result struct {
	Manifest     *report.Manifest
	ManifestPath string
	// ManifestURL is the manifest's object URL (without the query) when
	// the table is on object storage: where readers find it.
	ManifestURL string
	// AlreadyCurrent: nothing ran, the date's current version stands.
	AlreadyCurrent bool
}

// Run executes one request. It always returns a manifest once the job file
// was read; the error, if any, maps to an exit code with ExitCode.
func (r *Runner) Run(ctx context.Context, req Request) (*Result, error) {
	e := r.newExecution(req)
	if !r.DryRun {
		// One execution of a (job, date) at a time, whoever launched it,
		// held until its manifest is written. A launcher that finds it
		// taken leaves no manifest: it did not run.
		lock, err := e.lock()
		if err != nil {
			return e.notStarted(err)
		}
		defer lock.Release()
	}
	err := guard("running", func() error { return e.run(ctx) })()
	res, err := e.finish(interruption(ctx, err))
	if e.table != nil {
		e.table.Close() // a daemon lets go of the table at once
	}
	return res, err
}

// newExecution starts the manifest of an execution.
func (r *Runner) newExecution(req Request) *execution {
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

	if s := req.Shard; s != nil {
		m.Shard = &report.ShardRef{Index: s.Index, Count: s.Count, Version: m.Version}
		m.Shard.Host, _ = os.Hostname()
		log = log.With("shard", s.String())
	}
	return &execution{Runner: r, req: req, date: date, m: m, log: log}
}

func (e *execution) lock() (*table.DateLock, error) {
	if s := e.req.Shard; s != nil {
		return table.LockShard(e.req.Job.Output.Table, e.date, e.m.Version, s.Index, s.Count)
	}
	return table.LockDate(e.req.Job.Output.Table, e.date, e.m.Version)
}

// notStarted ends an execution that could not take its lock. Its manifest
// is not written (there may be nowhere to write it), but printed by --json
// and read by backfill: it must say how this ended, not "running" with
// exit code 0.
func (e *execution) notStarted(err error) (*Result, error) {
	m := e.m
	m.FinishedAt = time.Now().UTC()
	m.Status, m.ExitCode, m.Error = report.StatusFailed, ExitCode(err), err.Error()
	e.log.Error("run not started", "exit_code", m.ExitCode, "err", err)
	return &Result{Manifest: m}, err
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
	sink    *sqlio.Sink // the SQL table written alongside, if any
	checks  *checks     // set once the rules are compiled
	verdict *verdict    // set once the data was checked
	// runIDLogged: the logger carries run_id, so no line repeats it.
	runIDLogged bool

	baseline *jobBaseline // set once the baseline is read and checked
	explain  *explaining  // set when the job explains its rows
	// checkpoints saves scored chunks for a rerun of the same run id; nil
	// when the run cannot be resumed.
	checkpoints *resume.Checkpoints
}

// run is one execution, top to bottom: open the table, load the models,
// open the snapshot and the checks, name the run, score into a staged
// version, settle the checks and publish (a shard parks instead).
func (e *execution) run(ctx context.Context) (err error) {
	job := e.req.Job
	t, err := e.openTable(ctx)
	if err != nil {
		return err
	}
	stage := time.Now()
	var p *route.Plan
	if !e.DryRun {
		var err error
		if p, err = e.openPlan(); err != nil {
			return err
		}
		defer p.Close()
		defer e.recordPlan(p, true)
		e.m.Time("model", stage)
	}

	stage = time.Now()
	src, err := e.openSource(ctx, p)
	if err != nil {
		return err
	}
	defer src.Close()
	crashpoint.Hit("opened")
	previous, prevRows := e.previousRun()
	checks, err := e.openChecks(src.Schema(), src.Where(), previous)
	if err != nil {
		return err
	}
	e.checks = checks
	defer checks.close()
	if err := e.fingerprintParquet(ctx, src, readColumns(job, p, checks.columns())); err != nil {
		return err
	}
	checks.sampleDrift(src.Schema(), e.driftSample())
	if p != nil {
		p.UseBaseline(checks.baseline, modelColumns(job))
		if err := e.openExplain(e.m.Model.Path, checks.baseline); err != nil {
			return err
		}
	}
	defer func() {
		// A run that stopped while the checks streamed (a fail rule, a
		// row the model cannot take) still reports what they saw.
		if err != nil && e.verdict == nil && !errors.Is(err, context.Canceled) {
			e.recordStopped(checks, err)
		}
	}()
	e.m.Time("source", stage)

	if !e.DryRun {
		if err := e.name(t, p, checks); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	stage = time.Now()
	dir, err := e.stageScores(ctx, t, src, p, checks)
	if err != nil {
		return err
	}
	e.m.Time("check_score_write", stage)
	if s, ok := src.(*sqlio.Source); ok {
		e.m.Source.Rows = s.RowsRead()
		if e.m.Source.Fingerprint, err = s.Fingerprint(ctx); err != nil {
			return err
		}
	}
	if e.req.Shard != nil && !e.DryRun {
		return e.park(t, dir, checks, p, src.Schema(), src.Rows())
	}

	var fb *spec.Fallback
	if p != nil {
		fb = job.Fallback
	}
	if err := e.settle(checks, prevRows, src.Rows(), p != nil, fb, src.Where()); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if e.DryRun {
		return nil // the staged quarantine files go with the staging folder
	}

	e.recordPlan(p, false) // the provisional manifest lists the side tables too
	if err := e.publish(ctx, t, dir); err != nil {
		return err
	}
	if e.checkpoints != nil {
		e.checkpoints.Remove()
	}
	return nil
}

// openTable opens the result table and claims it for the job; the
// baseline is read before the model and the snapshot, as a baseline that
// cannot serve the job is the job file's error.
func (e *execution) openTable(ctx context.Context) (*table.Table, error) {
	job := e.req.Job
	t, err := table.Open(job.Output.Table)
	if err != nil {
		// A table that cannot be opened (a versions/ that is a file, an
		// immutable _staging) may still take the failed manifest in runs/:
		// a Table literal writes manifests, with the same symlink checks,
		// and stages nothing.
		e.table = failedTable(job.Output.Table)
		return nil, err
	}
	e.table = t
	if e.req.Shard != nil {
		if err := shard.Check(job); err != nil {
			return nil, err
		}
	}
	if err := e.claim(ctx, t); err != nil {
		return nil, err
	}
	if _, err := e.openBaseline(); err != nil {
		return nil, err
	}
	return t, nil
}

// name gives the run its id, ends it if the date is already current with
// that id, and opens the checkpoints a rerun of the same id reuses.
func (e *execution) name(t *table.Table, p *route.Plan, checks *checks) error {
	job := e.req.Job
	// A query's values are known only once read: its run id stands
	// for the query text and parameters, the manifest's fingerprint
	// for the values too.
	e.m.RunID = runID(job, e.date, e.m.Source.Fingerprint, p.ModelHashes(&e.m.Model, job.Validation.Baseline))
	e.log, e.runIDLogged = e.log.With("run_id", e.m.RunID), true
	if e.req.Shard != nil {
		seed, _ := strconv.ParseUint(e.m.RunID, 16, 64)
		checks.engine.SetKeySeed(seed)
	}
	if !e.req.Force && job.Source.SQL == nil && e.alreadyCurrent() {
		resume.Clean(t.Root, e.m.RunID)
		if e.req.Shard != nil {
			e.parkCurrent(t)
		}
		return errAlreadyCurrent
	}
	resume.Clean(t.Root, "")
	// A query's run id does not cover its values; a shard's chunks
	// are numbered from 0 like every other shard's.
	if job.Source.SQL == nil && e.req.Shard == nil {
		e.checkpoints = resume.Open(t, resume.Identity{
			RunID: e.m.RunID, Binary: e.Version, ORT: e.m.Binary.ORTVersion, Engine: e.m.Model.Engine,
		}, e.mem(), e.log)
		p.SaveTo(e.checkpoints)
	}
	return nil
}

// stageScores checks and scores the snapshot into a staged version, and
// checks the staged files against what the manifest lists.
func (e *execution) stageScores(ctx context.Context, t *table.Table, src snapshot, p *route.Plan, checks *checks) (string, error) {
	dir, err := t.Stage(e.m.Version)
	if err != nil {
		return "", err
	}
	e.staged = true
	if !e.DryRun {
		checks.quarantineDir = filepath.Join(dir, QuarantineDir)
	}
	files, err := e.score(ctx, src, p, checks, dir)
	if err != nil {
		return "", err
	}
	e.m.Output.Files = output.Files(files)
	if err := checks.closeQuarantine(); err != nil {
		return "", err
	}
	crashpoint.Hit("staged")
	e.m.Output.QuarantineFiles = output.Files(checks.quarantined)
	if p != nil {
		e.recordPlan(p, false)
	}
	if err := verifyStaged(dir, e.m); err != nil {
		return "", err
	}
	return dir, nil
}

// recordStopped records what the checks saw of a run that stopped while
// they streamed (a fail rule, a row the model cannot take).
func (e *execution) recordStopped(checks *checks, err error) {
	v := checks.stopped()
	e.record(v)
	if errors.Is(err, validate.ErrFailRule) {
		// The chunk the rule fired in was read and checked too.
		e.m.Counts.Read, e.m.Counts.Valid, e.m.Counts.Quarantined = v.result.Rows, v.result.Valid, v.result.Rejected
	}
}

// settle concludes the checks over everything staged: the table rules,
// the quality gate and drift, the fallback's limit, and the books against
// footerRows (-1: unknown). Single runs and commits share it.
func (e *execution) settle(c *checks, prevRows, footerRows int64, scored bool, fb *spec.Fallback, where string) error {
	v, gateErr := c.conclude(prevRows, scored)
	e.record(v)
	if gateErr != nil {
		return gateErr
	}
	if err := route.Gate(fb, e.m.Counts.Fallback, e.m.Counts.Valid); err != nil {
		return err
	}
	if e.m.Counts.Read == 0 {
		return fmt.Errorf("%w: %s returned no rows", ErrEmpty, where)
	}
	return e.checkBooks(footerRows, scored, v.result)
}

// publish loads the SQL table (if the job has one), writes the provisional
// manifest and publishes the staged version in dir.
func (e *execution) publish(ctx context.Context, t *table.Table, dir string) error {
	var load *sqlio.Load
	if e.req.Job.Output.SQL != nil {
		var err error
		if load, err = e.loadSQL(ctx, dir); err != nil {
			return err
		}
		defer e.sink.Close()
		defer load.Abort(context.Background()) // nothing once published
	}

	// From here on the run no longer listens to cancellation: publishing
	// is two renames (and a short SQL transaction), and stopping between
	// them gains nothing.
	stage := time.Now()
	if err := e.writeProvisional(); err != nil {
		return err
	}
	if err := t.Publish(e.date, e.m.Version); err != nil {
		return err
	}
	e.staged = false
	e.m.Output.Published = true
	e.m.Output.Path = t.VersionDir(e.date, e.m.Version)
	e.m.Output.CurrentLink = t.CurrentLink(e.date)
	e.m.Output.URL, e.m.Output.CurrentURL = t.ReaderURL("versions", e.date, e.m.Version), t.ReaderURL("current", e.date+".json")
	if len(e.m.Output.QuarantineFiles) > 0 {
		e.m.Output.QuarantinePath = filepath.Join(e.m.Output.Path, QuarantineDir)
	}
	if x := e.m.Explain; x != nil && len(x.Files) > 0 {
		x.Path = filepath.Join(e.m.Output.Path, output.ExplanationsDir)
	}
	if err := t.SyncCurrent(); err != nil {
		e.log.Warn("published, but syncing current/ failed", "err", err)
	}
	if load != nil {
		if err := e.publishSQL(context.Background(), load); err != nil {
			return err
		}
	}
	e.m.Time("publish", stage)
	return nil
}
