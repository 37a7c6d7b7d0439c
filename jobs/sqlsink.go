package jobs

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/batchscore/batchscore/io/parquetio"
	"github.com/batchscore/batchscore/io/sqlio"
	"github.com/batchscore/batchscore/jobs/output"
	"github.com/batchscore/batchscore/jobs/report"
)

// loadSQL copies a staged version's result files into the job's SQL table
// under the same version id, staged: the <table>_current view shows it
// only once Publish flips the registry, after the Parquet table's publish.
// A database's errors are marked by their SQLSTATE class (sqlio.Classify),
// so that ExitCode tells a table that does not fit from a lost connection.
func (e *execution) loadSQL(ctx context.Context, dir string) (*sqlio.Load, error) {
	o := e.req.Job.Output.SQL
	e.m.Output.SQL = &report.SQLOutput{Driver: o.Driver, Table: o.Table}
	dsn, err := sqlio.ResolveDSN(o.DSNEnv, o.DSNFile)
	if err != nil {
		return nil, fmt.Errorf("output.sql: %w", err)
	}
	staged, err := parquetio.Open(filepath.Join(dir, "part-*.parquet"))
	if err != nil {
		return nil, err
	}
	schema := staged.Schema()
	expl, err := e.explanationsSide(dir)
	if err != nil {
		return nil, err
	}
	cfg := sqlio.SinkConfig{Driver: o.Driver, DSN: dsn, Table: o.Table, Keep: o.Keep}
	if expl != nil {
		cfg.Sides = []sqlio.SideConfig{{Suffix: explanationsSuffix, Schema: expl.schema}}
	}
	sink, err := sqlio.OpenSink(ctx, cfg, schema)
	if err != nil {
		return nil, fmt.Errorf("output.sql: %w", sqlio.Classify(err))
	}
	load, err := sink.Begin(ctx, e.m.Version, e.date)
	if err != nil {
		sink.Close()
		return nil, fmt.Errorf("output.sql: %w", sqlio.Classify(err))
	}
	e.sink = sink
	load.SetModelVersion(e.m.Model.Version) // the champion's, whatever a canary published
	err = staged.Read(ctx, columnNames(schema), e.req.Job.Scoring.ChunkRows, e.mem(), func(rec arrow.Record, _ string, _ int64) error {
		defer rec.Release()
		return load.Write(ctx, rec)
	})
	if err != nil {
		load.Abort(context.Background())
		return nil, fmt.Errorf("output.sql: loading %s: %w", o.Table, sqlio.Classify(err))
	}
	e.m.Output.SQL.Rows = load.Rows()
	if err := e.loadExplanations(ctx, expl, load); err != nil {
		load.Abort(context.Background())
		return nil, err
	}
	return load, nil
}

// explanationsSuffix names the SQL table of the explanations:
// <table>_explanations, with its view <table>_explanations_current.
const explanationsSuffix = "_explanations"

// stagedExplanations are the explanations a run staged: their table's
// schema, and their files (none when no row was explained).
type stagedExplanations struct {
	schema *arrow.Schema
	files  *parquetio.Source
}

// explanationsSide is what the SQL table of the explanations is loaded
// from, or nil when the run explains nothing (no explain: section, or a
// champion that did not load; for a commit, no shard explained). The
// files' schema wins over the table's, as the scores' does.
func (e *execution) explanationsSide(dir string) (*stagedExplanations, error) {
	x := e.explain
	if x == nil || x.table == nil && x.schema == nil {
		return nil, nil
	}
	out := &stagedExplanations{schema: x.schema}
	if x.table != nil {
		out.schema = x.table.Schema()
	}
	if e.m.Explain == nil || len(e.m.Explain.Files) == 0 {
		return out, nil
	}
	files, err := parquetio.Open(filepath.Join(dir, output.ExplanationsDir, "part-*.parquet"))
	if err != nil {
		return nil, err
	}
	out.schema, out.files = files.Schema(), files
	return out, nil
}

// loadExplanations copies the staged explanations into the load's side
// table, and checks that every explained row went in.
func (e *execution) loadExplanations(ctx context.Context, expl *stagedExplanations, load *sqlio.Load) error {
	if expl == nil {
		return nil
	}
	table := e.req.Job.Output.SQL.Table + explanationsSuffix
	if expl.files != nil {
		err := expl.files.Read(ctx, columnNames(expl.schema), e.req.Job.Scoring.ChunkRows, e.mem(), func(rec arrow.Record, _ string, _ int64) error {
			defer rec.Release()
			return load.WriteSide(ctx, explanationsSuffix, rec)
		})
		if err != nil {
			return fmt.Errorf("output.sql: loading %s: %w", table, sqlio.Classify(err))
		}
	}
	var want int64
	if e.m.Explain != nil {
		want = e.m.Explain.Rows
	}
	if got := load.SideRows(explanationsSuffix); got != want {
		return fmt.Errorf("output.sql: %d rows loaded into %s, %d explained", got, table, want)
	}
	return nil
}

// publishSQL makes the loaded version current in the SQL table. Dropping
// versions beyond keep is housekeeping: its failure is a warning.
func (e *execution) publishSQL(ctx context.Context, load *sqlio.Load) error {
	err := load.Publish(ctx)
	switch {
	case err == nil:
	case errors.Is(err, sqlio.ErrRetention):
		e.log.Warn("published; dropping old SQL versions failed", "err", err)
	default:
		return fmt.Errorf("the Parquet version is published but the SQL table %s still shows the previous one: %w",
			e.req.Job.Output.SQL.Table, sqlio.Classify(err))
	}
	e.m.Output.SQL.Published = true
	return nil
}

func columnNames(s *arrow.Schema) []string {
	names := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		names[i] = f.Name
	}
	return names
}
