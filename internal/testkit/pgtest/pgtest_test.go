package pgtest_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/batchscore/batchscore/internal/testkit/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestTwoDatabases(t *testing.T) {
	ctx := context.Background()
	a, b := pgtest.DSN(t), pgtest.DSN(t)
	if a == b {
		t.Fatalf("two callers got one database: %s", a)
	}
	pgtest.Exec(t, a, "CREATE TABLE only_in_a (x int)", "INSERT INTO only_in_a VALUES (1)")
	for _, c := range []struct {
		name, dsn string
		want      int
	}{{"a", a, 1}, {"b", b, 0}} {
		t.Run(c.name, func(t *testing.T) {
			conn := pgtest.Connect(t, c.dsn)
			var version, fsync string
			if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(version, "15.") {
				t.Errorf("server_version %s, want 15.x", version)
			}
			var n int
			if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != c.want {
				t.Errorf("only_in_a visible %d times, want %d", n, c.want)
			}
			if err := conn.QueryRow(ctx, "SHOW fsync").Scan(&fsync); err != nil || fsync != "off" {
				t.Errorf("fsync = %q (%v), want off", fsync, err)
			}
		})
	}
	var dbs int
	if err := pgtest.Connect(t, pgtest.SuperuserDSN(t)).QueryRow(ctx, `SELECT count(*) FROM pg_database WHERE datname LIKE 'test\_%'`).Scan(&dbs); err != nil {
		t.Fatal(err)
	}
	if dbs < 2 {
		t.Errorf("%d test databases, want at least 2", dbs)
	}
}
