package sqlio

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/batchscore/batchscore/internal/testkit/pgtest"
)

// TestClassifyPostgres raises each SQLSTATE class on the real server and
// checks where Classify puts it. The classes no statement provokes
// reliably (too many connections, serialization) are raised by RAISE with
// their code: still the server's own error message and code.
func TestClassifyPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	pgtest.Exec(t, dsn,
		"CREATE TABLE t (id int PRIMARY KEY, n numeric(4,2))",
		"INSERT INTO t VALUES (1, 1)",
		"CREATE ROLE classify_nobody",
	)
	t.Cleanup(func() { pgtest.Exec(t, dsn, "DROP OWNED BY classify_nobody", "DROP ROLE classify_nobody") })
	raise := func(code string) string {
		return "DO $$ BEGIN RAISE EXCEPTION 'raised' USING ERRCODE = '" + code + "'; END $$"
	}
	tests := []struct {
		name  string
		stmts []string // the last one fails
		state string
		want  error
	}{
		{"syntax", []string{"SELEC 1"}, "42601", ErrRejected},
		{"undefined table", []string{"SELECT * FROM nosuch"}, "42P01", ErrRejected},
		{"undefined column", []string{"SELECT nosuch FROM t"}, "42703", ErrRejected},
		{"no schema", []string{"CREATE TABLE nosuch.x (id int)"}, "3F000", ErrRejected},
		{"privilege", []string{"SET ROLE classify_nobody", "SELECT * FROM t"}, "42501", ErrRejected},
		{"must be owner", []string{"SET ROLE classify_nobody", "CREATE INDEX IF NOT EXISTS t_n ON t (n)"}, "42501", ErrRejected},
		{"not supported", []string{"CREATE TABLE p (x int) PARTITION BY RANGE (x)", "CREATE UNIQUE INDEX p_i ON p ((x + 1))"}, "0A000", ErrRejected},
		{"unique violation", []string{"INSERT INTO t VALUES (1, 2)"}, "23505", ErrRejected},
		{"numeric overflow", []string{"INSERT INTO t VALUES (2, 1000)"}, "22003", ErrDataException},
		{"division by zero", []string{"SELECT 1/0"}, "22012", ErrDataException},
		{"statement timeout", []string{"SET statement_timeout = 100", "SELECT pg_sleep(3)"}, "57014", ErrTimeout},
		{"lock not available", []string{"SET lock_timeout = 100", "SELECT * FROM t"}, "55P03", nil},
		{"too many connections", []string{raise("53300")}, "53300", nil},
		{"serialization", []string{raise("40001")}, "40001", nil},
		{"deadlock", []string{raise("40P01")}, "40P01", nil},
	}
	ctx := context.Background()
	locker := pgtest.Connect(t, dsn)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.state == "55P03" {
				tx, err := locker.Begin(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer tx.Rollback(ctx)
				if _, err := tx.Exec(ctx, "LOCK TABLE t IN ACCESS EXCLUSIVE MODE"); err != nil {
					t.Fatal(err)
				}
			}
			conn := pgtest.Connect(t, dsn)
			var err error
			for _, q := range tt.stmts {
				if _, err = conn.Exec(ctx, q); err != nil {
					break
				}
			}
			if err == nil {
				t.Fatal("no error")
			}
			if got := sqlState(err); got != tt.state {
				t.Fatalf("SQLSTATE %s, want %s: %v", got, tt.state, err)
			}
			got := Classify(err)
			for _, class := range []error{ErrRejected, ErrDataException, ErrTimeout, ErrConnection} {
				if errors.Is(got, class) != (class == tt.want) {
					t.Errorf("%v: errors.Is(%v) = %v, want class %v", err, class, errors.Is(got, class), tt.want)
				}
			}
		})
	}

	// The source's own path: a syntax error, a missing table and a missing
	// database are rejected, not retried.
	for _, q := range []string{"SELEC 1", "SELECT * FROM nosuch.t"} {
		_, err := readQuery(t, Config{Driver: "postgres", DSNEnv: envDSN(t, dsn), Query: q}, nil, 10)
		if !errors.Is(err, ErrRejected) {
			t.Errorf("%s: %v, want ErrRejected", q, err)
		}
	}
	noDB := dsn[:strings.LastIndex(dsn, "/")] + "/nosuch_db?sslmode=disable"
	_, err := readQuery(t, Config{Driver: "postgres", DSNEnv: envDSN(t, noDB), Query: "SELECT 1"}, nil, 10)
	if !errors.Is(err, ErrRejected) || strings.Contains(err.Error(), "attempts") {
		t.Errorf("a missing database: %v, want ErrRejected on the first try", err)
	}
}

// TestPostgresTimeoutBeforeFirstRow: a statement timeout (or a lost
// connection) before the first row is an error from Open, never a
// schema without columns.
func TestPostgresTimeoutBeforeFirstRow(t *testing.T) {
	dsn := pgtest.DSN(t)
	pgtest.Exec(t, dsn, "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 10) g")
	cfg := Config{Driver: "postgres", DSNEnv: envDSN(t, dsn), Query: "SELECT t.* FROM t, (SELECT pg_sleep(3)) s", Timeout: 200 * time.Millisecond}
	src, err := Open(context.Background(), cfg, nil)
	if err == nil {
		defer src.Close()
		t.Fatalf("Open succeeded with a schema of %d columns", src.Schema().NumFields())
	}
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "statement timeout") {
		t.Errorf("error %v, want ErrTimeout", err)
	}
}
