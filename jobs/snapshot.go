package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/io/parquetio"
	"github.com/batchscore/batchscore/io/sqlio"
	"github.com/batchscore/batchscore/jobs/shard"
	"github.com/batchscore/batchscore/jobs/spec"
)

// snapshot is a run's source: Parquet files or a SQL query. Read streams
// the named columns in batches; emit owns each record.
type snapshot interface {
	Schema() *arrow.Schema
	// Where names the source in error messages: the first file, or the query.
	Where() string
	// Rows is the row count known before reading (Parquet footers), or -1.
	Rows() int64
	Read(ctx context.Context, cols []string, batchRows int, mem memory.Allocator, emit parquetio.Emit) error
	Close() error
}

// parquetSnapshot adapts a Parquet source.
type parquetSnapshot struct{ *parquetio.Source }

func (p parquetSnapshot) Where() string { return p.FirstFile() }
func (p parquetSnapshot) Close() error  { return nil }

// sqlSnapshot adapts a SQL query: its columns are the query's, so Read
// reads them all; which the run needs was checked against Schema first.
type sqlSnapshot struct{ *sqlio.Source }

func (s sqlSnapshot) Where() string { return "source.sql.query" }
func (s sqlSnapshot) Rows() int64   { return -1 }
func (s sqlSnapshot) Read(ctx context.Context, _ []string, batchRows int, mem memory.Allocator, emit parquetio.Emit) error {
	return s.Source.Read(ctx, batchRows, mem, emit)
}

// openSQL runs the job's query for the logical date; :date is bound by the
// driver as YYYY-MM-DD.
func (e *execution) openSQL(ctx context.Context, q *spec.SQLSource) (sqlSnapshot, error) {
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
			return sqlSnapshot{}, fmt.Errorf("%w: %v", spec.ErrInvalid, err)
		}
		cfg.Query = query
		e.m.Shard.Query = query
	}
	src, err := sqlio.Open(ctx, cfg, params, sqlio.WithLogger(e.log))
	if err != nil {
		return sqlSnapshot{}, fmt.Errorf("source.sql: %w", err)
	}
	if e.req.Shard != nil {
		if err := shard.CheckKey(src.Schema(), q.ShardKey); err != nil {
			src.Close()
			return sqlSnapshot{}, err
		}
	}
	return sqlSnapshot{src}, nil
}
