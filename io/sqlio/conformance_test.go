package sqlio

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/batchscore/batchscore/internal/testkit/pgtest"
	"github.com/batchscore/batchscore/io/source"
	"github.com/batchscore/batchscore/io/source/sourcetest"
)

// snapshotTable is the statements that make rows the table snap, with the
// column types given for id, x and name.
func snapshotTable(rows []sourcetest.Row, types [3]string) []string {
	var b strings.Builder
	b.WriteString("INSERT INTO snap (id, x, name) VALUES ")
	for i, r := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		x, name := "NULL", "NULL"
		if r.X != nil {
			x = fmt.Sprint(*r.X)
		}
		if r.Name != nil {
			name = "'" + strings.ReplaceAll(*r.Name, "'", "''") + "'"
		}
		fmt.Fprintf(&b, "(%d, %s, %s)", r.ID, x, name)
	}
	return []string{
		"DROP TABLE IF EXISTS snap",
		fmt.Sprintf("CREATE TABLE snap (id %s, x %s, name %s)", types[0], types[1], types[2]),
		b.String(),
	}
}

// sqlHarness is the suite's harness for a driver, given how to run
// statements on the database.
func sqlHarness(t *testing.T, driver, dsn string, exec func(t *testing.T, stmts ...string), types [3]string, leaks func() error) sourcetest.Harness {
	env := envDSN(t, dsn)
	opener := func(query string) func(context.Context) (source.Source, error) {
		return func(ctx context.Context) (source.Source, error) {
			return Open(ctx, Config{Driver: driver, DSNEnv: env, Query: query}, nil, withRetry(1, 0, 0))
		}
	}
	return sourcetest.Harness{
		Put: func(t *testing.T, rows []sourcetest.Row) { exec(t, snapshotTable(rows, types)...) },
		Open: func(_ *testing.T, ctx context.Context) (source.Source, error) {
			return opener("SELECT id, x, name FROM snap ORDER BY id")(ctx)
		},
		Missing: []sourcetest.Missing{
			{Name: "no table", Open: opener("SELECT * FROM missing_snap"), Want: "missing_snap"},
			{Name: "bad query", Open: opener("SELEC id FROM snap"), Want: "SELEC"},
		},
		Leaks: leaks,
	}
}

func TestSourceConformancePostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	exec := func(t *testing.T, stmts ...string) { pgtest.Exec(t, dsn, stmts...) }
	sourcetest.Run(t, sqlHarness(t, "postgres", dsn, exec, [3]string{"bigint", "double precision", "text"}, pgBackends(t, dsn)))
}

func TestSourceConformanceSQLite(t *testing.T) {
	dsn := "file:" + filepath.Join(t.TempDir(), "snap.db")
	exec := func(t *testing.T, stmts ...string) {
		t.Helper()
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for _, q := range stmts {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%.60s: %v", q, err)
			}
		}
	}
	sourcetest.Run(t, sqlHarness(t, "sqlite", dsn, exec, [3]string{"INTEGER", "REAL", "TEXT"}, nil))
}

// pgBackends reports the server's sessions that Open started
// (application_name batchscore) in the test's database and that are
// still there: a closed source leaves none. The server ends a session a
// moment after its client goes, so it is asked for a while.
func pgBackends(t *testing.T, dsn string) func() error {
	admin := pgtest.SuperuserDSN(t)
	db := strings.TrimPrefix(dsn[strings.LastIndex(dsn, "/")+1:], "/")
	db, _, _ = strings.Cut(db, "?")
	return func() error {
		c := pgtest.Connect(t, admin)
		var n int
		for range 50 {
			err := c.QueryRow(context.Background(),
				"SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'batchscore'", db).Scan(&n)
			if err != nil {
				return err
			}
			if n == 0 {
				return nil
			}
			time.Sleep(100 * time.Millisecond)
		}
		return fmt.Errorf("%d sessions of database %s still open", n, db)
	}
}
