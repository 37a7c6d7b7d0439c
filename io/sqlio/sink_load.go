package sqlio

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/jackc/pgx/v5"

	"github.com/batchscore/batchscore/internal/crashpoint"
)

// Load is one version being written. Write any number of records, then
// Publish or Abort; Abort after Publish does nothing, so `defer
// load.Abort(ctx)` is safe. Not safe for concurrent use.
type Load struct {
	s         *Sink
	version   string
	scoreDate string
	date      arrow.Date32 // scoreDate, to check rows against
	scoredAt  time.Time
	runID     *string
	modelVer  *string
	modelSet  bool // SetModelVersion was called: the rows do not decide it
	rows      int64
	failed    error
	done      bool // published or aborted

	// PostgreSQL: every COPY runs in one transaction on the load's own
	// connection, committed by Publish, so that a crash leaves no rows
	// behind.
	conn *pgx.Conn
	tx   pgx.Tx

	parent *Load   // a side table's load: its parent's transaction, status and fate
	sides  []*Load // the side tables' loads, in the sink's order
}

// Begin registers version as a staged version of scoreDate (YYYY-MM-DD):
// the view does not show it until Publish.
func (s *Sink) Begin(ctx context.Context, version, scoreDate string) (*Load, error) {
	if version == "" || len(version) > 64 {
		return nil, fmt.Errorf("version %q: want 1 to 64 characters", version)
	}
	day, err := time.Parse(time.DateOnly, scoreDate)
	if err != nil {
		return nil, fmt.Errorf("score date %q: want YYYY-MM-DD", scoreDate)
	}
	now := time.Now().UTC()
	err = s.db.inTx(ctx, func(q sinkQueryer) error {
		_, err := q.exec(ctx, s.n.stageRun(), version, scoreDate, s.timeArg(now))
		return err
	})
	if err != nil {
		return nil, s.errorf("staging version %s in %s: %w", version, s.n.Runs, err)
	}
	l := &Load{s: s, version: version, scoreDate: scoreDate, date: arrow.Date32FromTime(day), scoredAt: now}
	for _, side := range s.sides {
		l.sides = append(l.sides, &Load{s: side, version: version, scoreDate: scoreDate, date: l.date, scoredAt: now, parent: l})
	}
	if s.d == sinkPostgres {
		if l.conn, err = s.db.(*pgSinkDB).connect(ctx); err == nil {
			l.tx, err = l.conn.Begin(ctx)
		}
		if err != nil {
			err = s.errorf("staging version %s: %w", version, err)
			return nil, errors.Join(err, l.Abort(ctx))
		}
	}
	return l, nil
}

// Rows is how many rows were written so far.
func (l *Load) Rows() int64 { return l.rows }

// WriteSide appends a record to the side table of that suffix (a
// SideConfig of the sink), as Write does to the result table: same
// version, same transaction on PostgreSQL, shown by Publish's flip. A
// failed side write fails the load.
func (l *Load) WriteSide(ctx context.Context, suffix string, rec arrow.Record) error {
	for _, side := range l.sides {
		if side.s.suffix == suffix {
			if l.done || l.failed != nil {
				return fmt.Errorf("version %s: write after publish, abort or a failed write", l.version)
			}
			if err := side.Write(ctx, rec); err != nil {
				l.failed = err
				return err
			}
			return nil
		}
	}
	return fmt.Errorf("version %s: the sink has no side table %q", l.version, suffix)
}

// SideRows is how many rows were written to the side table of that suffix.
func (l *Load) SideRows(suffix string) int64 {
	for _, side := range l.sides {
		if side.s.suffix == suffix {
			return side.rows
		}
	}
	return 0
}

// pgTx is the transaction the load's COPYs run in: its parent's for a
// side table.
func (l *Load) pgTx() pgx.Tx {
	if l.parent != nil {
		return l.parent.tx
	}
	return l.tx
}

// Write appends a record of result rows to the staged version. The record
// has the sink's schema and its score_date is the load's date. PostgreSQL
// loads with COPY; SQLite and MySQL with multi-row INSERTs, one
// transaction per record. After an error, only Abort is useful.
func (l *Load) Write(ctx context.Context, rec arrow.Record) error {
	if l.done || l.failed != nil {
		return fmt.Errorf("version %s: write after publish, abort or a failed write", l.version)
	}
	if err := l.check(rec); err != nil {
		l.failed = err
		return err
	}
	if rec.NumRows() == 0 {
		return nil
	}
	l.constants(rec)
	var err error
	if l.s.d == sinkPostgres {
		err = l.copy(ctx, rec)
	} else {
		err = l.insert(ctx, rec)
	}
	if err != nil {
		l.failed = err
		return err
	}
	l.rows += rec.NumRows()
	return nil
}

// check compares a record with the sink's schema and the load's date.
func (l *Load) check(rec arrow.Record) error {
	got, want := rec.Schema(), l.s.schema
	if got.NumFields() != want.NumFields() {
		return fmt.Errorf("version %s: record has %d columns, the sink %d", l.version, got.NumFields(), want.NumFields())
	}
	for i, f := range want.Fields() {
		g := got.Field(i)
		if g.Name != f.Name || !arrow.TypeEqual(g.Type, f.Type) {
			return fmt.Errorf("version %s: record column %d is %s %s, the sink's %s %s", l.version, i, g.Name, g.Type, f.Name, f.Type)
		}
	}
	if l.s.dateCol < 0 {
		return nil
	}
	if dates, ok := rec.Column(l.s.dateCol).(*array.Date32); ok {
		for i, v := range dates.Date32Values() {
			if v != l.date && dates.IsValid(i) {
				return fmt.Errorf("version %s: row %d has score_date %s, the load %s", l.version, i, v.FormattedString(), l.scoreDate)
			}
		}
	}
	return nil
}

// constants remembers the run_id and model_version for the registry: the
// first non-null values seen.
func (l *Load) constants(rec arrow.Record) {
	first := func(col int) *string {
		if col < 0 {
			return nil
		}
		if c, ok := rec.Column(col).(*array.String); ok {
			for i := 0; i < c.Len(); i++ {
				if c.IsValid(i) {
					v := c.Value(i)
					return &v
				}
			}
		}
		return nil
	}
	if l.runID == nil {
		l.runID = first(l.s.runCol)
	}
	if l.modelVer == nil && !l.modelSet {
		l.modelVer = first(l.s.modCol)
	}
}

// SetModelVersion names the model version the registry records for the
// load (empty: none), when the rows carry several: a canary's rows carry
// the challenger's. Without it, the first non-null row's is recorded.
func (l *Load) SetModelVersion(v string) {
	l.modelSet, l.modelVer = true, nil
	if v != "" {
		l.modelVer = &v
	}
}

func (l *Load) copy(ctx context.Context, rec arrow.Record) error {
	src, err := newRecordValues(l.s.d, rec, l.version, l.scoredAt)
	if err != nil {
		return fmt.Errorf("version %s: %w", l.version, err)
	}
	names := make([]string, len(l.s.cols))
	for i, c := range l.s.cols {
		names[i] = c.Name
	}
	table := pgx.Identifier{l.s.n.Table.Name}
	if l.s.n.Table.Schema != "" {
		table = pgx.Identifier{l.s.n.Table.Schema, l.s.n.Table.Name}
	}
	if _, err := l.pgTx().CopyFrom(ctx, table, names, src); err != nil {
		return l.s.errorf("version %s: copying %d rows into %s: %w", l.version, rec.NumRows(), l.s.n.Table, err)
	}
	crashpoint.Hit("sql-copy")
	return nil
}

// insertRowsPerStatement bounds a multi-row INSERT: at most 1000 rows and
// fewer than SQLite's 32766 and MySQL's 65535 bind parameters.
func insertRowsPerStatement(cols int) int {
	return max(1, min(1000, 32000/cols))
}

func (l *Load) insert(ctx context.Context, rec arrow.Record) error {
	s := l.s
	src, err := newRecordValues(s.d, rec, l.version, s.timeArg(l.scoredAt))
	if err != nil {
		return fmt.Errorf("version %s: %w", l.version, err)
	}
	b := s.db.(sqlSinkDB)
	if err := b.retry(ctx, func() error { return l.insertTx(ctx, b, src, int(rec.NumRows())) }); err != nil {
		return s.errorf("%w", err)
	}
	return nil
}

// insertTx inserts a record's n rows in one transaction.
func (l *Load) insertTx(ctx context.Context, b sqlSinkDB, src *recordValues, n int) error {
	s := l.s
	per := insertRowsPerStatement(len(s.cols))
	tx, err := b.db.BeginTx(ctx, b.txOpts)
	if err != nil {
		return fmt.Errorf("version %s: %w", l.version, err)
	}
	defer tx.Rollback()
	var full *sql.Stmt
	args := make([]any, 0, per*len(s.cols))
	for start := 0; start < n; start += per {
		end := min(n, start+per)
		args = args[:0]
		for i := start; i < end; i++ {
			args = src.appendRow(args, i)
		}
		if end-start == per {
			if full == nil {
				if full, err = tx.PrepareContext(ctx, s.n.insertRows(s.cols, per)); err != nil {
					return fmt.Errorf("version %s: preparing the insert into %s: %w", l.version, s.n.Table, err)
				}
				defer full.Close()
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, s.n.insertRows(s.cols, end-start), args...)
		}
		if err != nil {
			return fmt.Errorf("version %s: inserting rows %d to %d into %s: %w", l.version, start, end-1, s.n.Table, err)
		}
	}
	crashpoint.Hit("sql-copy") // as after a COPY: the record's rows are not committed yet
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("version %s: committing rows into %s: %w", l.version, s.n.Table, err)
	}
	return nil
}

// Publish makes the version the current one of its score_date. The rows
// are committed first (PostgreSQL), then one short transaction marks the
// previous current version superseded and this one current: a reader of
// the view sees the old rows or the new ones, never a mix. Then versions
// beyond Keep are dropped; an error from that step wraps ErrRetention and
// leaves the version current.
func (l *Load) Publish(ctx context.Context) error {
	s := l.s
	if l.done {
		return fmt.Errorf("version %s: already published or aborted", l.version)
	}
	if l.failed != nil {
		return fmt.Errorf("version %s: not published after a failed write: %w", l.version, l.failed)
	}
	if l.tx != nil {
		crashpoint.Hit("sql-commit")
		err := l.tx.Commit(ctx)
		l.tx = nil
		l.conn.Close(context.WithoutCancel(ctx))
		l.conn = nil
		if err != nil {
			l.failed = err
			return s.errorf("version %s: committing rows into %s: %w", l.version, s.n.Table, err)
		}
	}
	if err := l.flip(ctx); err != nil {
		l.failed = err
		return err
	}
	l.done = true
	if s.keep > 0 {
		if err := s.prune(ctx, l.scoreDate); err != nil {
			return fmt.Errorf("version %s is current; %w: %w", l.version, ErrRetention, err)
		}
	}
	return nil
}

func (l *Load) flip(ctx context.Context) error {
	s := l.s
	err := s.db.inTx(ctx, func(q sinkQueryer) error {
		if s.d == sinkPostgres {
			// Publishers of one date queue here instead of tripping over
			// the unique index of current versions.
			if _, err := q.exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", "batchscore publish "+s.n.Table.String()+" "+l.scoreDate); err != nil {
				return err
			}
		}
		if s.d == sinkMySQL {
			// Every registry row of the date, this version's included, is
			// locked first and in index order: publishers of one date queue
			// here. Locking this version's row first, as PostgreSQL may,
			// deadlocks two publishers (each holds its own row and waits
			// for the other's).
			if _, err := q.strings(ctx, s.n.lockDate(), l.scoreDate); err != nil {
				return err
			}
		}
		rows, err := q.strings(ctx, s.n.lockRun(), l.version)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return fmt.Errorf("it is not in %s", s.n.Runs)
		}
		if rows[0][0] != statusStaged {
			return fmt.Errorf("it is %s, not staged", rows[0][0])
		}
		if _, err := q.exec(ctx, s.n.supersede(), l.scoreDate); err != nil {
			return fmt.Errorf("superseding the current version: %w", err)
		}
		n, err := q.exec(ctx, s.n.makeCurrent(), s.timeArg(time.Now()), l.rows, nullString(l.runID), nullString(l.modelVer), l.version)
		if err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("%d registry rows updated, want 1", n)
		}
		crashpoint.Hit("sql-flip") // inside the transaction, before its commit
		return nil
	})
	if err != nil {
		return s.errorf("publishing version %s: %w", l.version, err)
	}
	return nil
}

func nullString(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

// prune drops the rows and registry entries of a date's published versions
// beyond Keep, oldest last published first; the current version is always
// kept, staged ones are never touched. One transaction per version.
func (s *Sink) prune(ctx context.Context, scoreDate string) error {
	var rows [][]string
	err := s.db.inTx(ctx, func(q sinkQueryer) error {
		var err error
		rows, err = q.strings(ctx, s.n.publishedVersions(), scoreDate)
		return err
	})
	if err != nil {
		return s.errorf("listing versions of %s: %w", scoreDate, err)
	}
	if len(rows) <= s.keep {
		return nil
	}
	for _, r := range rows[s.keep:] {
		if err := s.drop(ctx, r[0], statusSuperseded); err != nil {
			return err
		}
	}
	return nil
}

// drop deletes a version's rows and its registry entry if it is in status,
// in one transaction.
func (s *Sink) drop(ctx context.Context, version, status string) error {
	err := s.db.inTx(ctx, func(q sinkQueryer) error {
		for _, side := range s.sides {
			if _, err := q.exec(ctx, side.n.deleteRows(), version); err != nil {
				return err
			}
		}
		if _, err := q.exec(ctx, s.n.deleteRows(), version); err != nil {
			return err
		}
		_, err := q.exec(ctx, s.n.deleteRun(), version, status)
		return err
	})
	if err != nil {
		return s.errorf("dropping version %s: %w", version, err)
	}
	return nil
}

// Abort removes the staged rows and the registry entry. It still runs when
// ctx is cancelled (with its own 30 s limit), since that is when it is
// needed; after Publish it does nothing. Best effort: a version left
// staged by a crash is never shown by the view.
func (l *Load) Abort(ctx context.Context) error {
	if l.done {
		return nil
	}
	l.done = true
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var errs []error
	if l.tx != nil {
		if err := l.tx.Rollback(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
			errs = append(errs, err)
		}
		l.tx = nil
	}
	if l.conn != nil {
		l.conn.Close(ctx)
		l.conn = nil
	}
	if err := l.s.drop(ctx, l.version, statusStaged); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return l.s.errorf("aborting version %s: %w", l.version, err)
	}
	return nil
}
