package sqlio

import (
	"context"
	"fmt"
	"strings"
)

// What the sink creates, and what it never touches. A table (with its
// index) is created only when it does not exist, checked in the catalog
// first: on objects that exist the sink runs no DDL at all, so a role with
// SELECT, INSERT, UPDATE and DELETE on tables a DBA owns can run the job.
// PostgreSQL's CREATE ... IF NOT EXISTS would not do: it still wants
// CREATE on the schema, and CREATE INDEX wants the table's owner.

// rejected is an error of the sink's own checks that no retry changes.
func rejected(format string, args ...any) error {
	return &classified{err: fmt.Errorf(format, args...), class: ErrRejected}
}

// exists says whether a table or view of that name exists. PostgreSQL
// asks pg_class, which every role may read, since information_schema
// hides the objects a role has no privilege on; the others ask the same
// catalog as catalog().
func (s *Sink) exists(ctx context.Context, q sinkQueryer, id Ident) (bool, error) {
	if s.d != sinkPostgres {
		cols, err := s.catalog(ctx, q, id)
		return len(cols) > 0, err
	}
	rows, err := q.strings(ctx, "SELECT c.relkind::text FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"+
		" WHERE n.nspname = COALESCE(NULLIF($1, ''), current_schema()) AND c.relname = $2", id.Schema, id.Name)
	if err != nil {
		return false, fmt.Errorf("looking %s up in pg_class: %w", id, err)
	}
	return len(rows) > 0, nil
}

// createMissing creates the result table and the run registry, each with
// its index, where they do not exist.
func (s *Sink) createMissing(ctx context.Context, q sinkQueryer, tableExists, runsExists bool) error {
	table, runs := s.n.ddlByObject(s.cols)
	var stmts []string
	if !tableExists {
		stmts = append(stmts, table...)
	}
	if !runsExists {
		stmts = append(stmts, runs...)
	}
	for _, stmt := range stmts {
		if _, err := q.exec(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", firstWords(stmt), err)
		}
	}
	return nil
}

// ddlByObject splits createStatements into the result table's (CREATE
// TABLE and its index) and the run registry's.
func (n sinkNames) ddlByObject(cols []sinkColumn) (table, runs []string) {
	createRuns := "CREATE TABLE IF NOT EXISTS " + n.Runs.Quote(n.d) + " "
	indexRuns := " ON " + n.indexTable(n.Runs) + " "
	for _, stmt := range n.createStatements(cols) {
		if strings.HasPrefix(stmt, createRuns) || strings.Contains(stmt, indexRuns) {
			runs = append(runs, stmt)
		} else {
			table = append(table, stmt)
		}
	}
	return table, runs
}

// ensureTable creates the result table where it does not exist, and
// checks the one that does against the result's columns.
func (s *Sink) ensureTable(ctx context.Context, q sinkQueryer) (exists bool, err error) {
	if exists, err = s.exists(ctx, q, s.n.Table); err != nil || !exists {
		return exists, err
	}
	existing, err := s.catalog(ctx, q, s.n.Table)
	if err != nil {
		return true, err
	}
	if len(existing) == 0 {
		return true, rejected("it exists, but this role sees none of its columns: grant it SELECT, INSERT, UPDATE and DELETE on %s and %s", s.n.Table, s.n.Runs)
	}
	return true, s.compare(existing)
}

// side is the Sink of a side table: its own table, columns and view,
// the result table's connection and run registry.
func (s *Sink) side(sc SideConfig) (*Sink, error) {
	t := s.n.Table
	switch {
	case len(sc.Suffix) < 2 || sc.Suffix[0] != '_' || ValidateName(sc.Suffix[1:]) != nil:
		return nil, fmt.Errorf("output table %s: side table suffix %q: want _ and a name", t, sc.Suffix)
	case sc.Suffix == suffixRuns || sc.Suffix == suffixOwner || sc.Suffix == suffixCurrent:
		return nil, fmt.Errorf("output table %s: side table suffix %q is the sink's own", t, sc.Suffix)
	case len(t.Name)+len(sc.Suffix)+len(suffixVersionIdx) > 63:
		return nil, rejected("output table %q: at most %d characters with a side table, so that %s%s%s fits",
			t, 63-len(sc.Suffix)-len(suffixVersionIdx), t.Name, sc.Suffix, suffixVersionIdx)
	}
	cols, err := resultColumns(s.d, sc.Schema)
	if err != nil {
		return nil, rejected("output table %s: %w", t.WithSuffix(sc.Suffix), err)
	}
	side := &Sink{
		db: s.db, d: s.d, secrets: s.secrets, schema: sc.Schema, cols: cols, keep: s.keep, suffix: sc.Suffix,
		n:       sinkNames{Table: t.WithSuffix(sc.Suffix), Runs: s.n.Runs, View: t.WithSuffix(sc.Suffix + suffixCurrent), Owner: s.n.Owner, d: s.d},
		dateCol: fieldOf(sc.Schema, "score_date"), runCol: -1, modCol: -1,
	}
	return side, nil
}

// ensureSide creates a side table (with its index) and its view where
// they do not exist, and checks the table that does, in the result
// table's ensure transaction, after the run registry.
func (s *Sink) ensureSide(ctx context.Context, q sinkQueryer) error {
	exists, err := s.ensureTable(ctx, q)
	if err != nil {
		return fmt.Errorf("side table %s: %w", s.n.Table, err)
	}
	if !exists {
		table, _ := s.n.ddlByObject(s.cols)
		for _, stmt := range table {
			if _, err := q.exec(ctx, stmt); err != nil {
				return fmt.Errorf("%s: %w", firstWords(stmt), err)
			}
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
	return nil
}
