package sqlio

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
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
	// Sides are tables whose rows go with each version of the result
	// table (a run's explanations): see SideConfig.
	Sides []SideConfig
}

// SideConfig is a table of rows that belong to each version of the result
// table: <table><Suffix>, its columns Schema's then version and scored_at,
// with a <table><Suffix>_current view over the same run registry. Load's
// WriteSide stages its rows under the load's version and Publish's one
// flip shows them in their view together with the results in theirs.
type SideConfig struct {
	Suffix string // "_" and a name, e.g. "_explanations"
	Schema *arrow.Schema
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
//	<table><side>, <table><side>_current  the same for each side table (SideConfig)
//
// A Sink is safe for concurrent use; each Load is used by one goroutine.
// The caller closes the Sink after every Load is published or aborted.
// Errors never show the DSN's password; Classify marks the ones no retry
// changes.
//
// What publish promises, on every database (one conformance suite runs on
// PostgreSQL, SQLite and MariaDB): a version's rows are invisible in the
// view until Publish, whose one transaction supersedes the date's current
// version and makes this one current, so a reader sees the old rows or the
// new, never a mix or none; publishers of one date queue, and exactly one
// version per date is current. A process killed at any point leaves the
// view as it was: PostgreSQL's rows die with their uncommitted COPY
// transaction, SQLite's and MySQL's committed chunks stay in the table
// under a version the registry lists as staged, which the view never
// shows (Abort, not a crash, deletes them).
type Sink struct {
	db      sinkDB
	d       sinkDialect
	n       sinkNames
	schema  *arrow.Schema
	cols    []sinkColumn
	keep    int
	secrets []string
	dateCol int     // index of score_date in the schema, -1 if absent
	runCol  int     // run_id
	modCol  int     // model_version
	sides   []*Sink // side tables: they share db and the registry, and are never Begun or Closed
	suffix  string  // a side table's suffix
}

// OpenSink connects and creates the table, the registry and the view if
// absent. An existing table whose columns differ from the schema (a
// missing, extra or differently typed column) is an error naming the
// column: the sink never alters a table.
func OpenSink(ctx context.Context, cfg SinkConfig, schema *arrow.Schema) (*Sink, error) {
	d, _, err := sinkDriver(cfg.Driver)
	if err != nil {
		return nil, err
	}
	table, err := ParseIdent(cfg.Table)
	if err != nil {
		return nil, fmt.Errorf("output table: %w", err)
	}
	if cfg.Keep < 0 {
		return nil, fmt.Errorf("output table %s: keep %d: want 0 (all) or more", table, cfg.Keep)
	}
	cols, err := resultColumns(d, schema)
	if err != nil {
		return nil, rejected("output table %s: %w", table, err)
	}
	s, err := connectSink(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s.schema, s.cols, s.keep = schema, cols, cfg.Keep
	s.dateCol, s.runCol, s.modCol = fieldOf(schema, "score_date"), fieldOf(schema, "run_id"), fieldOf(schema, "model_version")
	for _, sc := range cfg.Sides {
		side, err := s.side(sc)
		if err != nil {
			s.db.close()
			return nil, err
		}
		s.sides = append(s.sides, side)
	}
	if err := s.ensure(ctx); err != nil {
		s.db.close()
		return nil, err
	}
	return s, nil
}

// connectSink checks the table's name and connects: a Sink that can run
// statements but knows no result columns yet.
func connectSink(ctx context.Context, cfg SinkConfig) (*Sink, error) {
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
	s := &Sink{
		d:       d,
		n:       sinkNames{Table: table, Runs: table.WithSuffix(suffixRuns), View: table.WithSuffix(suffixCurrent), Owner: table.WithSuffix(suffixOwner), d: d},
		secrets: dsnSecrets(d, cfg.DSN),
		dateCol: -1, runCol: -1, modCol: -1,
	}
	switch d {
	case sinkPostgres:
		pc, err := pgx.ParseConfig(cfg.DSN)
		if err != nil {
			// pgx quotes the string it could not parse: keep its text out.
			return nil, fmt.Errorf("%w: output table %s: not a valid PostgreSQL connection string", ErrDSN, table)
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
		s.db = newSQLSinkDB(d, db)
	}
	if err := s.db.ping(ctx); err != nil {
		s.db.close()
		return nil, s.errorf("connecting to %s database: %w", d, err)
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
		tableExists, err := s.ensureTable(ctx, q)
		if err != nil {
			return err
		}
		runsExists, err := s.exists(ctx, q, s.n.Runs)
		if err != nil {
			return err
		}
		if err := s.createMissing(ctx, q, tableExists, runsExists); err != nil {
			return err
		}
		runs, err := s.catalog(ctx, q, s.n.Runs)
		if err != nil {
			return err
		}
		for _, c := range runsColumns {
			if _, ok := runs[c]; !ok {
				return rejected("the run registry %s exists without column %q (or this role may not read it)", s.n.Runs, c)
			}
		}
		viewExists, err := s.exists(ctx, q, s.n.View)
		if err != nil {
			return err
		}
		if !viewExists {
			if _, err := q.exec(ctx, s.n.createView(s.cols)); err != nil {
				return fmt.Errorf("creating view %s: %w", s.n.View, err)
			}
		}
		for _, side := range s.sides {
			if err := side.ensureSide(ctx, q); err != nil {
				return err
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

// compare checks an existing table against the columns the sink writes,
// and names every column that differs.
func (s *Sink) compare(existing map[string]string) error {
	var diffs []string
	want := map[string]bool{}
	for _, c := range s.cols {
		want[c.Name] = true
		got, ok := existing[c.Name]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("column %q is missing (the result needs %s)", c.Name, c.DDL))
		case got != strings.ToLower(c.Catalog):
			diffs = append(diffs, fmt.Sprintf("column %q is %s, the result needs %s", c.Name, got, c.Catalog))
		}
	}
	var extra []string
	for name := range existing {
		if !want[name] {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	for _, name := range extra {
		diffs = append(diffs, fmt.Sprintf("column %q is not in the result", name))
	}
	if len(diffs) > 0 {
		return rejected("%s; the sink does not alter tables", strings.Join(diffs, "; "))
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
