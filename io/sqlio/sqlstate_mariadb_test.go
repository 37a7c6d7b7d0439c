package sqlio

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/batchscore/batchscore/internal/testkit/mariadbtest"
)

// TestClassifyMariaDB raises each class on a real MariaDB server and checks
// where Classify puts it, as TestClassifyPostgres does. MariaDB sends a
// SQLSTATE with every error; the ones it leaves at HY000 are mapped by
// error number (mysqlStates). Classes no statement provokes reliably are
// raised by SIGNAL with their SQLSTATE: still the server's own error.
func TestClassifyMariaDB(t *testing.T) {
	dsn := mariadbtest.DSN(t)
	db := dsn[strings.LastIndex(dsn, "/")+1:]
	mariadbtest.Exec(t, dsn,
		"CREATE TABLE t (id int PRIMARY KEY, n decimal(4,2), s varchar(3), c int CHECK (c > 0)) DEFAULT CHARSET=latin1",
		"INSERT INTO t VALUES (1, 1, 'a', 1)",
		"CREATE USER classify_nobody@'%'",
		"GRANT USAGE ON *.* TO classify_nobody@'%'",
	)
	t.Cleanup(func() { mariadbtest.Exec(t, dsn, "DROP USER classify_nobody@'%'") })
	nobody := strings.Replace(dsn, "root@", "classify_nobody@", 1)
	signal := func(state string) string {
		return "BEGIN NOT ATOMIC SIGNAL SQLSTATE '" + state + "' SET MESSAGE_TEXT = 'raised'; END"
	}
	tests := []struct {
		name  string
		dsn   string   // "" is the test's database as root
		stmts []string // the last one fails
		state string
		want  error
	}{
		{"syntax", "", []string{"SELEC 1"}, "42000", ErrRejected},
		{"undefined table", "", []string{"SELECT * FROM nosuch"}, "42S02", ErrRejected},
		{"undefined column", "", []string{"SELECT nosuch FROM t"}, "42S22", ErrRejected},
		{"no database", "", []string{"CREATE TABLE nosuch.x (id int)"}, "3D000", ErrRejected}, // 1049 (42000) by number,
		{"privilege", nobody, []string{"SELECT * FROM " + db + ".t"}, "42000", ErrRejected},
		{"wrong password", strings.Replace(dsn, "root@", "root:wrong@", 1), []string{"SELECT 1"}, "28000", ErrRejected},
		{"read only", "", []string{"SET SESSION TRANSACTION READ ONLY", "START TRANSACTION", "INSERT INTO t VALUES (9, 1, 'a', 1)"}, "25006", nil},
		{"unique violation", "", []string{"INSERT INTO t VALUES (1, 2, 'b', 1)"}, "23000", ErrRejected},
		{"check violation", "", []string{"INSERT INTO t VALUES (2, 2, 'b', 0)"}, "23000", ErrRejected},
		{"numeric overflow", "", []string{"INSERT INTO t VALUES (2, 1000, 'b', 1)"}, "22003", ErrDataException},
		{"division by zero", "", []string{"INSERT INTO t VALUES (2, 1/0, 'b', 1)"}, "22012", ErrDataException},
		{"string too long", "", []string{"INSERT INTO t VALUES (2, 1, 'abcd', 1)"}, "22001", ErrDataException},
		{"not latin1", "", []string{"INSERT INTO t VALUES (2, 1, '日本', 1)"}, "22007", ErrDataException},
		{"statement timeout", "", []string{"SET SESSION max_statement_time = 0.1", "SELECT SLEEP(3) FROM t"}, "57014", ErrTimeout},
		{"lock wait timeout", "", []string{"SET SESSION innodb_lock_wait_timeout = 1", "UPDATE t SET n = 2 WHERE id = 1"}, "55P03", nil},
		{"too many connections", "", []string{signal("08004")}, "08004", ErrConnection},
		{"deadlock", "", []string{signal("40001")}, "40001", nil},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.state == "55P03" {
				holdRowLock(t, dsn)
			}
			target := dsn
			if tt.dsn != "" {
				target = tt.dsn
			}
			err := execOnOneConn(ctx, target, tt.stmts)
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
}

// execOnOneConn runs stmts on one connection until one fails.
func execOnOneConn(ctx context.Context, dsn string, stmts []string) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, q := range stmts {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// holdRowLock locks every row of t from another connection until the test
// ends.
func holdRowLock(t *testing.T, dsn string) {
	t.Helper()
	ctx := context.Background() // a cancelled context would roll tx back
	db := mariadbtest.Open(t, dsn)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback() })
	var id int
	if err := tx.QueryRowContext(ctx, "SELECT id FROM t WHERE id = 1 FOR UPDATE").Scan(&id); err != nil {
		t.Fatal(err)
	}
}
