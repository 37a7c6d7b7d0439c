package jobs

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/route"
	"github.com/batchscore/batchscore/jobs/shard"
	"github.com/batchscore/batchscore/jobs/validate"
)

// Shard is shard Index (0-based) of Count of a sharded run.
type Shard = shard.Shard

// MaxShards bounds --shard and --shards: more is a typo, not a plan.
const MaxShards = shard.MaxShards

// ErrShards marks shards that are missing or disagree: nothing is
// published; the shards named are to be run again.
var ErrShards = shard.ErrShards

// ParseShard reads "K/N", as Kubernetes' JOB_COMPLETION_INDEX and
// Airflow's map_index give K.
func ParseShard(s string) (Shard, error) {
	sh, err := shard.Parse(s)
	if err != nil {
		return Shard{}, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	return sh, nil
}

// park ends a shard: its books are checked, its counts, keys and profiles
// written beside its staged files, and the folder moved where the commit
// finds it. Nothing is published and no gate is applied: the commit does
// both over every shard.
func (e *execution) park(t *table.Table, dir string, c *checks, p *route.Plan, schema *arrow.Schema, footerRows int64) error {
	sum, err := c.summary.State(filepath.Join(dir, shard.KeysFile))
	if err != nil {
		return fmt.Errorf("keeping the shard's keys: %w", err)
	}
	rules := validate.Result{Rows: sum.Rows, Valid: sum.Valid, Rejected: sum.Rejected}
	if err := e.checkBooks(footerRows, true, rules); err != nil {
		return err
	}
	st := shard.State{Summary: sum, Forced: e.req.Force}
	if st.Baseline, err = shard.BaselineSHA(e.req.Job); err != nil {
		return err
	}
	if st.Snapshot, err = c.snapshot.State(); err != nil {
		return err
	}
	if st.Scores, err = c.scores.State(); err != nil {
		return err
	}
	if st.Schema, err = shard.SchemaBytes(schema); err != nil {
		return err
	}
	if x := e.explain; x != nil && x.table != nil {
		if st.Explanations, err = shard.SchemaBytes(x.table.Schema()); err != nil {
			return err
		}
	}
	e.recordPlan(p, false)
	e.m.Counts.Imputed, e.m.Counts.Clipped = sum.Imputed, sum.Clipped
	if e.m.Source.Kind == "sql" {
		e.m.Shard.Rows, e.m.Shard.Fingerprint = e.m.Counts.Read, e.m.Source.Fingerprint
	}
	m := *e.m
	m.Status = report.StatusStaged
	st.Manifest = &m
	if err := st.Write(dir); err != nil {
		return fmt.Errorf("writing the shard's state: %w", err)
	}
	path, err := t.ParkShard(e.m.Version, e.date, e.req.Shard.Count, e.req.Shard.Index, shard.StateFile)
	if err != nil {
		return err
	}
	e.staged = false
	e.m.Shard.Path, e.m.Output.Path = path, path
	e.m.Validation.Warnings = append(e.m.Validation.Warnings,
		fmt.Sprintf("shard %s: the rules' table checks, the quality gate and drift are settled by batchscore commit over every shard", e.req.Shard))
	e.log.Info("shard staged", "path", path, "rows", e.m.Counts.Written)
	return nil
}

// parkCurrent leaves the commit a note that this shard found the date
// already current with its run id: when every shard says so, the commit
// is a no-op too.
func (e *execution) parkCurrent(t *table.Table) {
	err := func() error {
		dir, err := t.Stage(e.m.Version)
		if err != nil {
			return err
		}
		m := *e.m
		m.Status = report.StatusAlreadyCurrent
		st := shard.State{Manifest: &m, Forced: e.req.Force}
		err = st.Write(dir)
		if err == nil {
			_, err = t.ParkShard(e.m.Version, e.date, e.req.Shard.Count, e.req.Shard.Index, shard.StateFile)
		}
		if err != nil {
			t.Discard(e.m.Version)
		}
		return err
	}()
	if err != nil {
		e.log.Warn("could not leave the commit a note that this shard is already current", "err", err)
	}
}

// unstaged handles shards that found the date already current and staged
// nothing: if all did, with the current version's run id, the commit is a
// no-op (errAlreadyCurrent); otherwise they are named, to run with --force.
func (e *execution) unstaged(shards []*shard.State) error {
	var current []string
	same := true
	for k, st := range shards {
		if st.Manifest.Status == report.StatusAlreadyCurrent {
			current = append(current, strconv.Itoa(k))
		}
		same = same && st.Manifest.RunID == shards[0].Manifest.RunID
	}
	if len(current) == 0 {
		return nil
	}
	e.m.RunID = shards[0].Manifest.RunID
	if len(current) == len(shards) && same && !(e.req.Force || shard.AllForced(shards)) && e.alreadyCurrent() {
		return errAlreadyCurrent
	}
	return fmt.Errorf("%w: shard %s of %d found %s already current and staged nothing: run it with --force, then commit again",
		ErrShards, strings.Join(current, ", "), len(shards), e.date)
}
