package sqlio

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	_ "github.com/go-sql-driver/mysql" // driver "mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite" // driver "sqlite"
)

// SinkConfig says where result rows go.
type SinkConfig struct {
	Driver string // postgres (pgx), sqlite or mysql
	DSN    string // from the environment or a secret file, never the job file
	Table  string // name or schema.name, validated
	Keep   int    // published versions kept per score_date, the current one included; 0 keeps all
}

// ErrRetention marks a Publish error that came after the version became
// current: only older versions could not be dropped. Worth a warning, not
// a failed run.
var ErrRetention = errors.New("dropping old versions")

// Sink writes versioned result rows to a SQL table:
//
//	<table>          the result columns, version and scored_at; every version's rows
//	<table>_runs     the run registry: one row per version, its status staged, current or superseded
//	<table>_current  a view of the rows of each score_date's current version
//
// A Sink is safe for concurrent use; each Load is used by one goroutine.
// Errors never show the DSN's password.
type Sink struct {
	db      sinkDB
	d       sinkDialect
	n       sinkNames
	schema  *arrow.Schema
	cols    []sinkColumn
	keep    int
	secrets []string
	dateCol int // index of score_date in the schema, -1 if absent
	runCol  int // run_id
	modCol  int // model_version
}

// OpenSink connects and creates the table, the registry and the view if
// absent. An existing table whose columns differ from the schema (a
// missing, extra or differently typed column) is an error naming the
// column: the sink never alters a table.
func OpenSink(ctx context.Context, cfg SinkConfig, schema *arrow.Schema) (*Sink, error) {
	d, driver, err := sinkDriver(cfg.Driver)
	if err != nil {
		return nil, err
	}
	table, err := ParseIdent(cfg.Table)
	if err != nil {
		return nil, fmt.Errorf("output table: %w", err)
	}
	if len(table.Name)+maxSuffix > 63 {
		return nil, fmt.Errorf("output table %q: at most %d characters, so that %s%s fits", table, 63-maxSuffix, table.Name, suffixCurrentIdx)
	}
	if cfg.Keep < 0 {
		return nil, fmt.Errorf("output table %s: keep %d: want 0 (all) or more", table, cfg.Keep)
	}
	cols, err := resultColumns(d, schema)
	if err != nil {
		return nil, fmt.Errorf("output table %s: %w", table, err)
	}
	s := &Sink{
		d:       d,
		n:       sinkNames{Table: table, Runs: table.WithSuffix(suffixRuns), View: table.WithSuffix(suffixCurrent), d: d},
		schema:  schema,
		cols:    cols,
		keep:    cfg.Keep,
		secrets: dsnSecrets(d, cfg.DSN),
		dateCol: fieldOf(schema, "score_date"),
		runCol:  fieldOf(schema, "run_id"),
		modCol:  fieldOf(schema, "model_version"),
	}
	switch d {
	case sinkPostgres:
		pc, err := pgx.ParseConfig(cfg.DSN)
		if err != nil {
			return nil, s.errorf("output table %s: the DSN is not a valid PostgreSQL connection string: %w", table, err)
		}
		if pc.RuntimeParams["application_name"] == "" {
			pc.RuntimeParams["application_name"] = "batchscore"
		}
		s.db = &pgSinkDB{cfg: pc}
	default:
		dsn := cfg.DSN
		if d == sinkSQLite {
			dsn = sqliteDSN(dsn)
		}
		db, err := sqlx.Open(driver, dsn)
		if err != nil {
			return nil, s.errorf("opening %s database: %w", d, err)
		}
		if d == sinkSQLite {
			db.SetMaxOpenConns(1) // one writer at a time anyway
		}
		s.db = sqlSinkDB{db: db}
	}
	if err := s.db.ping(ctx); err != nil {
		s.db.close()
		return nil, s.errorf("connecting to %s database: %w", d, err)
	}
	if err := s.ensure(ctx); err != nil {
		s.db.close()
		return nil, err
	}
	return s, nil
}

func fieldOf(schema *arrow.Schema, name string) int {
	if idx := schema.FieldIndices(name); len(idx) > 0 {
		return idx[0]
	}
	return -1
}

// sqliteDSN waits for other writers rather than failing at once, and takes
// the write lock when a transaction begins, so that two writers never
// deadlock upgrading read locks.
func sqliteDSN(dsn string) string {
	var add []string
	if !strings.Contains(dsn, "busy_timeout") {
		add = append(add, "_pragma="+url.QueryEscape("busy_timeout(30000)"))
	}
	if !strings.Contains(dsn, "_txlock") {
		add = append(add, "_txlock=immediate")
	}
	if len(add) == 0 {
		return dsn
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + strings.Join(add, "&")
}

// errorf is fmt.Errorf with the DSN's password masked.
func (s *Sink) errorf(format string, args ...any) error {
	return redactError(fmt.Errorf(format, args...), s.secrets)
}

// ensure creates what is missing and checks what exists, in one
// transaction where the database has transactional DDL (PostgreSQL,
// SQLite); PostgreSQL also takes an advisory lock so that two sinks
// opening the same table do not race.
func (s *Sink) ensure(ctx context.Context) error {
	err := s.db.inTx(ctx, func(q sinkQueryer) error {
		if s.d == sinkPostgres {
			if _, err := q.exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", "batchscore sink "+s.n.Table.String()); err != nil {
				return err
			}
		}
		existing, err := s.catalog(ctx, q, s.n.Table)
		if err != nil {
			return err
		}
		if len(existing) > 0 {
			if err := s.compare(existing); err != nil {
				return err
			}
		}
		for _, stmt := range s.n.createStatements(s.cols) {
			if _, err := q.exec(ctx, stmt); err != nil {
				return fmt.Errorf("%s: %w", firstWords(stmt), err)
			}
		}
		runs, err := s.catalog(ctx, q, s.n.Runs)
		if err != nil {
			return err
		}
		for _, c := range runsColumns {
			if _, ok := runs[c]; !ok {
				return fmt.Errorf("the run registry %s exists without column %q", s.n.Runs, c)
			}
		}
		view, err := s.catalog(ctx, q, s.n.View)
		if err != nil {
			return err
		}
		if len(view) == 0 {
			if _, err := q.exec(ctx, s.n.createView(s.cols)); err != nil {
				return fmt.Errorf("creating view %s: %w", s.n.View, err)
			}
		}
		return nil
	})
	if err != nil {
		return s.errorf("output table %s: %w", s.n.Table, err)
	}
	return nil
}

func firstWords(q string) string {
	if i := strings.Index(q, "("); i > 0 {
		return strings.TrimSpace(q[:i])
	}
	return q
}

// catalog returns an existing table's (or view's) columns and their
// catalog types, or none when it does not exist.
func (s *Sink) catalog(ctx context.Context, q sinkQueryer, id Ident) (map[string]string, error) {
	rows, err := q.strings(ctx, s.n.catalogColumns(), id.Schema, id.Name)
	if err != nil {
		return nil, fmt.Errorf("reading the columns of %s: %w", id, err)
	}
	out := map[string]string{}
	for _, r := range rows {
		typ := r[1]
		if s.d == sinkSQLite {
			typ = sinkAffinity(typ)
		}
		out[r[0]] = strings.ToLower(typ)
	}
	return out, nil
}

// compare checks an existing table against the columns the sink writes.
func (s *Sink) compare(existing map[string]string) error {
	want := map[string]bool{}
	for _, c := range s.cols {
		want[c.Name] = true
		got, ok := existing[c.Name]
		switch {
		case !ok:
			return fmt.Errorf("output table %s exists without column %q (%s); the sink does not alter tables", s.n.Table, c.Name, c.DDL)
		case got != strings.ToLower(c.Catalog):
			return fmt.Errorf("output table %s: column %q is %s, the result needs %s; the sink does not alter tables", s.n.Table, c.Name, got, c.Catalog)
		}
	}
	for name := range existing {
		if !want[name] {
			return fmt.Errorf("output table %s has column %q, which the result does not; the sink does not alter tables", s.n.Table, name)
		}
	}
	return nil
}

// Close closes the connection pool. Publish or Abort every Load first.
func (s *Sink) Close() error {
	if err := s.db.close(); err != nil {
		return s.errorf("closing %s database: %w", s.d, err)
	}
	return nil
}

// timeArg is a registry timestamp as its driver takes it.
func (s *Sink) timeArg(t time.Time) any {
	if s.d == sinkSQLite {
		return t.UTC().Format(sqliteTimestamp)
	}
	return t.UTC()
}

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
	rows      int64
	failed    error
	done      bool // published or aborted

	// PostgreSQL: every COPY runs in one transaction on the load's own
	// connection, committed by Publish, so that a crash leaves no rows
	// behind.
	conn *pgx.Conn
	tx   pgx.Tx
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

// Version is the version this load writes.
func (l *Load) Version() string { return l.version }

// Rows is how many rows were written so far.
func (l *Load) Rows() int64 { return l.rows }

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
	if l.modelVer == nil {
		l.modelVer = first(l.s.modCol)
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
	if _, err := l.tx.CopyFrom(ctx, table, names, src); err != nil {
		return l.s.errorf("version %s: copying %d rows into %s: %w", l.version, rec.NumRows(), l.s.n.Table, err)
	}
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
	per := insertRowsPerStatement(len(s.cols))
	n := int(rec.NumRows())
	tx, err := s.db.(sqlSinkDB).db.BeginTx(ctx, nil)
	if err != nil {
		return s.errorf("version %s: %w", l.version, err)
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
					return s.errorf("version %s: preparing the insert into %s: %w", l.version, s.n.Table, err)
				}
				defer full.Close()
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, s.n.insertRows(s.cols, end-start), args...)
		}
		if err != nil {
			return s.errorf("version %s: inserting rows %d to %d into %s: %w", l.version, start, end-1, s.n.Table, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return s.errorf("version %s: committing rows into %s: %w", l.version, s.n.Table, err)
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
		if s.d == sinkMySQL {
			if _, err := q.strings(ctx, s.n.lockDate(), l.scoreDate); err != nil {
				return err
			}
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
