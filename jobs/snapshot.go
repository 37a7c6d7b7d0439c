package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/batchscore/batchscore/io/source"
	"github.com/batchscore/batchscore/io/sqlio"
	"github.com/batchscore/batchscore/jobs/shard"
	"github.com/batchscore/batchscore/jobs/spec"
)

// snapshot is a run's source: Parquet files or a SQL query (see
// source.Source for the contract).
type snapshot = source.Source

// openSQL runs the job's query for the logical date; :date is bound by the
// driver as YYYY-MM-DD.
func (e *execution) openSQL(ctx context.Context, q *spec.SQLSource) (*sqlio.Source, error) {
	cfg := sqlio.Config{
		Driver: q.Driver, DSNEnv: q.DSNEnv, DSNFile: q.DSNFile, Query: q.Query,
		Timeout: time.Duration(q.Timeout), Decimal: q.Decimal,
	}
	params := map[string]any{"date": e.date}
	e.m.Source.Kind = "sql"
	e.m.Source.Driver = q.Driver
	e.m.Source.Query = q.Query
	e.m.Source.Params = map[string]string{"date": e.date}
	if s := e.req.Shard; s != nil {
		query, err := sqlio.ShardQuery(q.Driver, q.Query, q.ShardKey, s.Index, s.Count)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", spec.ErrInvalid, err)
		}
		cfg.Query = query
		e.m.Shard.Query = query
	}
	src, err := sqlio.Open(ctx, cfg, params, sqlio.WithLogger(e.log))
	if err != nil {
		return nil, fmt.Errorf("source.sql: %w", err)
	}
	if e.req.Shard != nil {
		if err := shard.CheckKey(src.Schema(), q.ShardKey); err != nil {
			src.Close()
			return nil, err
		}
	}
	return src, nil
}
