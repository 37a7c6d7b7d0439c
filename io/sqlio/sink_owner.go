package sqlio

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// A SQL result table belongs to one job, as a Parquet table does (see
// io/table): its registry has a one-row table
//
//	<table>_owner    slot (always 1), job, job_file, since
//
// that the first job to write to the table fills in. Another job is
// refused (ErrOwner) before it writes anything; a table from before
// owners were recorded is adopted by the first job that writes to it.

// ErrOwner marks a SQL table that belongs to another job.
var ErrOwner = errors.New("belongs to another job")

// OwnAction says what OwnSink does.
type OwnAction int

const (
	OwnCheck OwnAction = iota // refuse another owner; record nothing
	OwnClaim                  // and record job where no owner is recorded
	OwnReown                  // record job in place of any other owner
)

// SinkClaim is what OwnSink found and did.
type SinkClaim struct {
	Owner   string // the job the table belongs to now ("" none, after a check)
	Claimed bool   // recorded now: the table had no owner
	Adopted bool   // ... and its registry already listed versions
	Reowned string // the owner replaced ("" none)
}

// OwnSink connects to the sink's database and checks (or records) that
// its table belongs to job. A table that does not exist yet is claimed by
// creating its owner table.
func OwnSink(ctx context.Context, cfg SinkConfig, job, jobFile string, action OwnAction) (SinkClaim, error) {
	s, err := connectSink(ctx, cfg)
	if err != nil {
		return SinkClaim{}, err
	}
	defer s.db.close()
	var c SinkClaim
	for attempt := 0; ; attempt++ {
		err = s.db.inTx(ctx, func(q sinkQueryer) error {
			var err error
			c, err = s.own(ctx, q, job, jobFile, action)
			return err
		})
		// MySQL has no lock around a first claim: the loser of two hits
		// the owner row's key (class 23) and looks again.
		if err == nil || attempt > 0 || !strings.HasPrefix(sqlState(err), "23") {
			break
		}
	}
	if err != nil && !errors.Is(err, ErrOwner) {
		err = s.errorf("output table %s: %w", s.n.Table, err)
	}
	return c, err
}

// own runs in one transaction. PostgreSQL takes the sink's advisory lock,
// SQLite its write lock at BEGIN; on MySQL two first claims race on the
// owner row's primary key and the second fails.
func (s *Sink) own(ctx context.Context, q sinkQueryer, job, jobFile string, action OwnAction) (SinkClaim, error) {
	if action != OwnCheck && s.d == sinkPostgres {
		if _, err := q.exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", "batchscore sink "+s.n.Table.String()); err != nil {
			return SinkClaim{}, err
		}
	}
	// exists, not catalog: information_schema hides a table the role has
	// no rights on, and creating it again would fail on the wrong cause.
	ownerExists, err := s.exists(ctx, q, s.n.Owner)
	if err != nil {
		return SinkClaim{}, err
	}
	var cur, curFile string
	if ownerExists {
		rows, err := q.strings(ctx, s.n.selectOwner())
		if err != nil {
			return SinkClaim{}, fmt.Errorf("reading %s (the job's role needs SELECT on it): %w", s.n.Owner, err)
		}
		if len(rows) > 0 {
			cur, curFile = rows[0][0], rows[0][1]
		}
	}
	switch {
	case cur == job:
		return SinkClaim{Owner: job}, nil
	case cur != "" && action != OwnReown:
		by := ""
		if curFile != "" {
			by = " (" + curFile + ")"
		}
		return SinkClaim{}, fmt.Errorf("SQL output table %s %w: job %q%s is recorded in %s; job %q (%s) may not write to it: "+
			"give %q its own output.sql.table, or, if %q is %q renamed, run \"batchscore reown %s\" once",
			s.n.Table, ErrOwner, cur, by, s.n.Owner, job, jobFile, job, job, cur, jobFile)
	case action == OwnCheck:
		return SinkClaim{Owner: cur}, nil
	}
	now := s.timeArg(time.Now())
	if cur != "" {
		n, err := q.exec(ctx, s.n.updateOwner(), job, jobFile, now, cur)
		if err == nil && n != 1 {
			err = fmt.Errorf("its owner changed meanwhile")
		}
		if err != nil {
			return SinkClaim{}, fmt.Errorf("recording the owner in %s: %w", s.n.Owner, err)
		}
		return SinkClaim{Owner: job, Reowned: cur}, nil
	}
	if !ownerExists {
		if _, err := q.exec(ctx, s.n.createOwner()); err != nil {
			return SinkClaim{}, fmt.Errorf("creating %s, where the job the table belongs to is recorded once "+
				"(the role needs CREATE on the schema for this first claim, or a DBA runs %s and grants it SELECT, INSERT): %w",
				s.n.Owner, s.n.createOwner(), err)
		}
	}
	if _, err := q.exec(ctx, s.n.insertOwner(), job, jobFile, now); err != nil {
		return SinkClaim{}, fmt.Errorf("recording the owner in %s (the first claim needs INSERT on it): %w", s.n.Owner, err)
	}
	c := SinkClaim{Owner: job, Claimed: true}
	if runs, err := s.catalog(ctx, q, s.n.Runs); err == nil && len(runs) > 0 {
		rows, err := q.strings(ctx, s.n.anyRun())
		if err != nil {
			return SinkClaim{}, fmt.Errorf("reading %s: %w", s.n.Runs, err)
		}
		c.Adopted = len(rows) > 0
	}
	return c, nil
}

// createOwner makes the owner table: one row at most (slot 1).
func (n sinkNames) createOwner() string {
	text, ts := "text", "timestamptz"
	switch n.d {
	case sinkMySQL:
		text, ts = "VARCHAR(255)", "DATETIME(6)"
	case sinkSQLite:
		text, ts = "TEXT", "TIMESTAMP"
	}
	return "CREATE TABLE IF NOT EXISTS " + n.Owner.Quote(n.d) + " (" +
		n.q("slot") + " integer NOT NULL PRIMARY KEY CHECK (" + n.q("slot") + " = 1), " +
		n.q("job") + " " + text + " NOT NULL, " +
		n.q("job_file") + " " + text + ", " +
		n.q("since") + " " + ts + " NOT NULL)" + n.tableOptions()
}

func (n sinkNames) selectOwner() string {
	return "SELECT " + n.q("job") + ", COALESCE(" + n.q("job_file") + ", '') FROM " + n.Owner.Quote(n.d) + " WHERE " + n.q("slot") + " = 1"
}

// insertOwner: job, job_file, since.
func (n sinkNames) insertOwner() string {
	return "INSERT INTO " + n.Owner.Quote(n.d) + " (" + n.q("slot") + ", " + n.q("job") + ", " + n.q("job_file") + ", " + n.q("since") +
		") VALUES (1, " + n.ph(1) + ", " + n.ph(2) + ", " + n.ph(3) + ")"
}

// updateOwner: job, job_file, since, the owner read.
func (n sinkNames) updateOwner() string {
	return "UPDATE " + n.Owner.Quote(n.d) + " SET " + n.q("job") + " = " + n.ph(1) + ", " + n.q("job_file") + " = " + n.ph(2) + ", " + n.q("since") + " = " + n.ph(3) +
		" WHERE " + n.q("slot") + " = 1 AND " + n.q("job") + " = " + n.ph(4)
}

func (n sinkNames) anyRun() string {
	return "SELECT " + n.q("version") + " FROM " + n.Runs.Quote(n.d) + " LIMIT 1"
}
