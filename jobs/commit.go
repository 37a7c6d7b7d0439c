package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/jobs/output"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/shard"
)

// Commit publishes the n shards of a date as one version: it checks that
// every shard staged its rows and that all agree on the snapshot, model
// and job file, merges their books, checks and profiles, applies the
// quality gate over the whole snapshot, links their files into one staged
// version and publishes it like a single-process run. It holds the date's
// lock exclusive, so no shard runs beside it on this machine; across
// machines (a table on object storage) the orchestrator runs it after the
// shards.
func (r *Runner) Commit(ctx context.Context, req Request, n int) (*Result, error) {
	if n < 1 || n > shard.MaxShards {
		err := fmt.Errorf("%w: --shards %d: want 1..%d", ErrUsage, n, shard.MaxShards)
		return r.newExecution(req).notStarted(err)
	}
	e := r.newExecution(req)
	e.m.Trigger = TriggerCommit
	lock, err := e.lock()
	if err != nil {
		return e.notStarted(err)
	}
	defer lock.Release()
	err = guard("committing", func() error { return e.commit(ctx, n) })()
	res, err := e.finish(interruption(ctx, err))
	if e.table != nil {
		e.table.Close()
	}
	return res, err
}

func (e *execution) commit(ctx context.Context, n int) error {
	job := e.req.Job
	t, err := table.Open(job.Output.Table)
	if err != nil {
		e.table = failedTable(job.Output.Table)
		return err
	}
	e.table = t
	// Refused as the shards refuse it, with the same exit code: "shards
	// not ready" (exit 1) would be retried, and its advice to run them
	// cannot succeed.
	if err := shard.Check(job); err != nil {
		return err
	}
	if err := e.claim(ctx, t); err != nil {
		return err
	}
	if err := t.PullShards(e.date, n, shard.StateFile); err != nil {
		return err
	}
	if e.committed(t, n) {
		dropShards(t, e.date, n, e.log) // notes of shards rerun since, if any
		return errAlreadyCurrent
	}
	shards, err := shard.Read(t, e.date, n)
	if err != nil {
		return err
	}
	if err := e.unstaged(shards); err != nil {
		if errors.Is(err, errAlreadyCurrent) {
			dropShards(t, e.date, n, e.log)
		}
		return err
	}
	footerRows, err := e.mergeShards(shards)
	if err != nil {
		return err
	}
	if !(e.req.Force || shard.AllForced(shards)) && job.Source.SQL == nil && e.alreadyCurrent() { // a query's run id does not cover its values
		dropShards(t, e.date, n, e.log)
		return errAlreadyCurrent
	}
	schema, err := shards[0].SnapshotSchema()
	if err != nil {
		return err
	}
	previous, prevRows := e.previousRun()
	checks, err := e.openChecks(schema, shards[0].Manifest.Source.Pattern, previous)
	if err != nil {
		return err
	}
	e.checks = checks
	defer checks.close()
	for k, st := range shards {
		if err := errors.Join(
			checks.summary.Merge(st.Summary, filepath.Join(st.Dir(), shard.KeysFile)),
			checks.snapshot.MergeState(st.Snapshot),
			checks.scores.MergeState(st.Scores),
		); err != nil {
			return fmt.Errorf("%w: shard %d of %d: %v", shard.ErrShards, k, n, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	dir, err := t.Stage(e.m.Version)
	if err != nil {
		return err
	}
	e.staged = true
	if err := e.linkShards(shards, dir); err != nil {
		return err
	}
	checks.quarantined = output.Written(e.m.Output.QuarantineFiles)
	if err := verifyStaged(dir, e.m); err != nil {
		return err
	}
	if err := e.settle(checks, prevRows, footerRows, true, job.Fallback, "the shards of "+e.m.Source.Pattern); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := e.publish(ctx, t, dir); err != nil {
		return err
	}
	if r := e.m.Review; r != nil && len(r.Files) > 0 {
		r.Path = filepath.Join(e.m.Output.Path, output.ReviewDir)
	}
	dropShards(t, e.date, n, e.log)
	return nil
}

// dropShards removes the folders of the n shards of date.
func dropShards(t *table.Table, date string, n int, log *slog.Logger) {
	if err := t.DropShards(date, n); err != nil {
		log.Warn("could not remove the shards' folders", "err", err)
	}
}

// committed says whether a commit of n shards already published the
// date's current version and no shard has staged since: a commit retried
// after it succeeded (its pod lost, say) is a no-op, not a failure.
func (e *execution) committed(t *table.Table, n int) bool {
	version, err := t.Current(e.date)
	if err != nil || version == "" {
		return false
	}
	data, err := os.ReadFile(t.ManifestPath(e.date, version))
	var m report.Manifest
	if err != nil || json.Unmarshal(data, &m) != nil {
		return false
	}
	if m.Status != report.StatusSucceeded || m.Trigger != TriggerCommit || len(m.Shards) != n {
		return false
	}
	if !shard.OnlyCurrent(t, e.date, n, m.RunID) {
		return false
	}
	// Shards that ran for the date after that commit (and failed, since
	// none is staged) mean the commit is not the last word.
	ms, _ := readDate(t, e.date)
	for _, s := range ms {
		if s.LogicalDate == e.date && s.Shard != nil && s.Shard.Count == n && s.StartedAt.After(m.FinishedAt) {
			return false
		}
	}
	e.m.RunID = m.RunID
	return true
}

// mergeShards checks that the shards agree with each other and with
// this job file, and puts their merged books in the commit's manifest. It
// returns the snapshot rows the shards' footers promised (-1: a query's).
func (e *execution) mergeShards(shards []*shard.State) (int64, error) {
	job := e.req.Job
	baseline, err := shard.BaselineSHA(job)
	if err != nil {
		return 0, err
	}
	want := shard.Want{ConfigHash: e.m.ConfigHash, JobFile: e.m.JobFile, Baseline: job.Validation.Baseline, BaselineSHA: baseline}
	if err := shard.Disagreements(shards, want); err != nil {
		return 0, err
	}
	mg, err := shard.Merge(shards)
	m := e.m
	m.RunID, m.Source, m.Model = mg.RunID, mg.Source, mg.Model
	m.Binary.ORTVersion = mg.ORTVersion
	m.Output.Files, m.Output.QuarantineFiles = nil, nil
	m.Counts = mg.Counts
	m.NonFiniteInputs, m.Fallback, m.Review, m.Shards = mg.NonFinite, mg.Fallback, mg.Review, mg.Shards
	m.Arms = nil
	for _, s := range shards {
		if s.Manifest != nil {
			m.Arms = report.MergeArms(m.Arms, s.Manifest.Arms)
		}
	}
	m.Explain = mg.Explain
	if err == nil && mg.Explain != nil {
		err = e.explainedShards(shards)
	}
	return mg.FooterRows, err
}

// explainedShards gives the commit's SQL sink the schema of the shards'
// _explanations tables (the same for every shard that explained), so that
// the commit loads them into <table>_explanations and flips them with the
// scores.
func (e *execution) explainedShards(shards []*shard.State) error {
	var schema *arrow.Schema
	for k, st := range shards {
		s, err := st.ExplanationsSchema()
		switch {
		case err != nil:
			return err
		case s == nil:
		case schema == nil:
			schema = s
		case !schema.Equal(s):
			return fmt.Errorf("%w: shard %d of %d wrote explanations with columns %v, an earlier shard %v", shard.ErrShards, k, len(shards), s, schema)
		}
	}
	if schema != nil {
		e.explain = &explaining{schema: schema}
	}
	return nil
}

// linkShards links every shard's files into the staged version dir and
// lists them in the commit's manifest.
func (e *execution) linkShards(shards []*shard.State, dir string) error {
	l, err := shard.Link(shards, dir)
	m := e.m
	m.Output.Files = append(m.Output.Files, l.Files...)
	m.Output.QuarantineFiles = append(m.Output.QuarantineFiles, l.QuarantineFiles...)
	if err == nil && m.Review != nil {
		m.Review.Files = l.ReviewFiles
	}
	if err == nil && m.Explain != nil {
		m.Explain.Files = l.ExplanationFiles
	}
	return err
}
