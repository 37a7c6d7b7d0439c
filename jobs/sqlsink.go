package jobs

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/batchscore/batchscore/io/parquetio"
	"github.com/batchscore/batchscore/io/sqlio"
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
	sink, err := sqlio.OpenSink(ctx, sqlio.SinkConfig{Driver: o.Driver, DSN: dsn, Table: o.Table, Keep: o.Keep}, schema)
	if err != nil {
		return nil, fmt.Errorf("output.sql: %w", sqlio.Classify(err))
	}
	load, err := sink.Begin(ctx, e.m.Version, e.date)
	if err != nil {
		sink.Close()
		return nil, fmt.Errorf("output.sql: %w", sqlio.Classify(err))
	}
	e.sink = sink
	err = staged.Read(ctx, columnNames(schema), e.req.Job.Scoring.ChunkRows, e.mem(), func(rec arrow.Record, _ string, _ int64) error {
		defer rec.Release()
		return load.Write(ctx, rec)
	})
	if err != nil {
		load.Abort(context.Background())
		return nil, fmt.Errorf("output.sql: loading %s: %w", o.Table, sqlio.Classify(err))
	}
	e.m.Output.SQL.Rows = load.Rows()
	return load, nil
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
