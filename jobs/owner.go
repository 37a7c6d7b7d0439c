package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/batchscore/batchscore/io/sqlio"
	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/spec"
)

// claim makes sure the job's result table (and its SQL table) belong to
// it before anything is written: the first job to run against a table
// records its name there, another job is refused (exit 2). A dry run
// checks the Parquet table (whose history it reads and where it writes
// its manifest) and records nothing; it never touches the SQL table.
func (e *execution) claim(ctx context.Context, t *table.Table) error {
	job := e.req.Job
	if e.DryRun {
		return t.CheckOwner(job.Name, job.File)
	}
	// Both tables are checked before either records the job, so that a
	// refusal by one leaves the other as it was.
	if err := t.CheckOwner(job.Name, job.File); err != nil {
		return err
	}
	if job.Output.SQL != nil {
		sc, err := ownSQL(ctx, job, sqlio.OwnClaim)
		if err != nil {
			return err
		}
		logClaim(e.log, "SQL table "+job.Output.SQL.Table, sc.Claimed, sc.Adopted, "")
	}
	c, err := t.Own(job.Name, job.File, false)
	if err != nil {
		return err
	}
	logClaim(e.log, t.Name(), c.Claimed, c.Adopted, "")
	return nil
}

func ownSQL(ctx context.Context, job *spec.Job, action sqlio.OwnAction) (sqlio.SinkClaim, error) {
	o := job.Output.SQL
	dsn, err := sqlio.ResolveDSN(o.DSNEnv, o.DSNFile)
	if err != nil {
		return sqlio.SinkClaim{}, fmt.Errorf("output.sql: %w", err)
	}
	c, err := sqlio.OwnSink(ctx, sqlio.SinkConfig{Driver: o.Driver, DSN: dsn, Table: o.Table}, job.Name, job.File, action)
	if err != nil {
		where := "dsn_file " + o.DSNFile
		if o.DSNEnv != "" {
			where = "dsn_env $" + o.DSNEnv
		}
		return c, fmt.Errorf("output.sql (%s): %w", where, sqlio.Classify(err))
	}
	return c, nil
}

func logClaim(log *slog.Logger, what string, claimed, adopted bool, reowned string) {
	switch {
	case reowned != "":
		log.Warn("result table re-owned", "table", what, "old_owner", reowned)
	case adopted:
		log.Warn("result table adopted: it had runs but no owner recorded; it belongs to this job from now on", "table", what)
	case claimed:
		log.Info("result table claimed: it belongs to this job from now on", "table", what)
	}
}

// Reown records job as the owner of its result table (and SQL table), in
// place of whichever job owned them: how a renamed job keeps its table.
// The old name's runs stay the job's history. It returns the old owners
// it replaced, one line each.
func Reown(ctx context.Context, job *spec.Job, log *slog.Logger) ([]string, error) {
	log = log.With("job", job.Name)
	t, err := table.Open(job.Output.Table)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	var lines []string
	c, err := t.Own(job.Name, job.File, true)
	if err != nil {
		return nil, err
	}
	lines = append(lines, reownLine(t.Name(), job.Name, c.Reowned))
	logClaim(log.With("new_owner", job.Name), t.Name(), c.Claimed, c.Adopted, c.Reowned)
	if job.Output.SQL != nil {
		sc, err := ownSQL(ctx, job, sqlio.OwnReown)
		if err != nil {
			return lines, err
		}
		what := "SQL table " + job.Output.SQL.Table
		lines = append(lines, reownLine(what, job.Name, sc.Reowned))
		logClaim(log.With("new_owner", job.Name), what, sc.Claimed, sc.Adopted, sc.Reowned)
	}
	return lines, nil
}

func reownLine(what, job, old string) string {
	if old == "" {
		return fmt.Sprintf("%s: belongs to job %q (no other owner was recorded)", what, job)
	}
	return fmt.Sprintf("%s: belonged to job %q, now to job %q", what, old, job)
}

// ownedManifests keeps the manifests of the table's owner (under its
// current or an earlier name): a run another job attempted and was
// refused, or the runs of a job that wrote to the table before owners
// were recorded, are not this job's history. Without an owner, all count.
func ownedManifests(t *table.Table, ms []*report.Manifest) []*report.Manifest {
	o, err := t.Owner()
	if err != nil || o == nil {
		return ms
	}
	names := o.Names()
	return slices.DeleteFunc(ms, func(m *report.Manifest) bool { return !slices.Contains(names, m.Job) })
}
