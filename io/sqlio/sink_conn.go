package sqlio

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jmoiron/sqlx"
)

// sinkDB is how a sink reaches its database: database/sql through sqlx for
// SQLite and MySQL, native pgx for PostgreSQL (COPY, and no database/sql
// bridge: pgx's stdlib package would pull its pool package in).
type sinkDB interface {
	// inTx runs f in one transaction, committed if f returns nil.
	inTx(ctx context.Context, f func(q sinkQueryer) error) error
	ping(ctx context.Context) error
	close() error
}

// sinkQueryer runs statements inside a transaction.
type sinkQueryer interface {
	exec(ctx context.Context, q string, args ...any) (int64, error)
	// strings returns every row of a query whose columns are all text.
	strings(ctx context.Context, q string, args ...any) ([][]string, error)
}

// sqlSinkDB is SQLite or MySQL.
type sqlSinkDB struct {
	db     *sqlx.DB
	txOpts *sql.TxOptions // nil: the database's default isolation
	// retries is how often a transaction the database chose as a
	// deadlock's victim is run again.
	retries int
}

// newSQLSinkDB sets up MySQL's transactions: READ COMMITTED, so that
// InnoDB takes no gap locks and a publisher's locking reads never wait on
// (or deadlock with) another run staging its version, and a transaction
// InnoDB still picks as a deadlock's victim (SQLSTATE 40001, "try
// restarting transaction") is run again: every one of them is rolled back
// whole. SQLite takes its write lock at BEGIN and cannot deadlock.
func newSQLSinkDB(d sinkDialect, db *sqlx.DB) sqlSinkDB {
	if d != sinkMySQL {
		return sqlSinkDB{db: db}
	}
	return sqlSinkDB{db: db, txOpts: &sql.TxOptions{Isolation: sql.LevelReadCommitted}, retries: 4}
}

func (b sqlSinkDB) ping(ctx context.Context) error { return b.db.PingContext(ctx) }
func (b sqlSinkDB) close() error                   { return b.db.Close() }

func (b sqlSinkDB) inTx(ctx context.Context, f func(q sinkQueryer) error) error {
	return b.retry(ctx, func() error {
		tx, err := b.db.BeginTxx(ctx, b.txOpts)
		if err != nil {
			return err
		}
		if err := f(sqlQueryer{tx}); err != nil {
			return errors.Join(err, ignoreDone(tx.Rollback()))
		}
		return tx.Commit()
	})
}

// retry runs a whole transaction again while the database rolls it back
// as a deadlock's victim, after a short pause that grows.
func (b sqlSinkDB) retry(ctx context.Context, tx func() error) error {
	for attempt := 0; ; attempt++ {
		err := tx()
		if err == nil || attempt >= b.retries || sqlState(err) != "40001" {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt+1) * 20 * time.Millisecond):
		}
	}
}

func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

type sqlQueryer struct{ tx *sqlx.Tx }

func (q sqlQueryer) exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q sqlQueryer) strings(ctx context.Context, query string, args ...any) ([][]string, error) {
	rows, err := q.tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out [][]string
	for rows.Next() {
		row := make([]string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

// pgSinkDB is PostgreSQL: one control connection for DDL and the
// registry, shared under a mutex (its transactions are short), reopened
// when it breaks. Each Load connects on its own for its COPY transaction.
type pgSinkDB struct {
	cfg  *pgx.ConnConfig
	mu   sync.Mutex
	conn *pgx.Conn
}

func (b *pgSinkDB) connect(ctx context.Context) (*pgx.Conn, error) {
	return pgx.ConnectConfig(ctx, b.cfg.Copy())
}

// control returns the control connection; b.mu is held.
func (b *pgSinkDB) control(ctx context.Context) (*pgx.Conn, error) {
	if b.conn != nil && !b.conn.IsClosed() {
		return b.conn, nil
	}
	conn, err := b.connect(ctx)
	if err != nil {
		return nil, err
	}
	b.conn = conn
	return conn, nil
}

func (b *pgSinkDB) ping(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	conn, err := b.control(ctx)
	if err != nil {
		return err
	}
	return conn.Ping(ctx)
}

func (b *pgSinkDB) close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn == nil {
		return nil
	}
	err := b.conn.Close(context.Background())
	b.conn = nil
	return err
}

func (b *pgSinkDB) inTx(ctx context.Context, f func(q sinkQueryer) error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	conn, err := b.control(ctx)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error { return f(pgQueryer{tx}) })
}

type pgQueryer struct{ tx pgx.Tx }

func (q pgQueryer) exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := q.tx.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

func (q pgQueryer) strings(ctx context.Context, query string, args ...any) ([][]string, error) {
	rows, err := q.tx.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		n := len(rows.FieldDescriptions())
		row := make([]string, n)
		ptrs := make([]any, n)
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, row)
	}
	return out, rows.Err()
}
