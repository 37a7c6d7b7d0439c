package mariadbtest_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/batchscore/batchscore/internal/testkit/mariadbtest"
)

func TestMain(m *testing.M) { os.Exit(mariadbtest.Main(m)) }

// TestTwoDatabases: each DSN is its own database on one MariaDB 10.11
// server, which runs with the compiled-in (latin1) defaults.
func TestTwoDatabases(t *testing.T) {
	ctx := context.Background()
	a, b := mariadbtest.DSN(t), mariadbtest.DSN(t)
	if a == b {
		t.Fatalf("two callers got one database: %s", a)
	}
	mariadbtest.Exec(t, a, "CREATE TABLE only_in_a (x int)", "INSERT INTO only_in_a VALUES (1)")
	for _, c := range []struct {
		name, dsn string
		want      int
	}{{"a", a, 1}, {"b", b, 0}} {
		t.Run(c.name, func(t *testing.T) {
			db := mariadbtest.Open(t, c.dsn)
			var version, charset string
			if err := db.QueryRowContext(ctx, "SELECT VERSION(), @@character_set_server").Scan(&version, &charset); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(version, "10.11.") || !strings.Contains(version, "MariaDB") {
				t.Errorf("version %s, want MariaDB 10.11.x", version)
			}
			if charset != "latin1" {
				t.Errorf("character_set_server %s, want the compiled-in latin1", charset)
			}
			var n int
			if err := db.QueryRowContext(ctx, "SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'only_in_a'").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != c.want {
				t.Errorf("only_in_a visible %d times, want %d", n, c.want)
			}
		})
	}
	var dbs int
	if err := mariadbtest.Open(t, mariadbtest.RootDSN(t)).QueryRowContext(ctx, `SELECT count(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'test\_%'`).Scan(&dbs); err != nil {
		t.Fatal(err)
	}
	if dbs < 2 {
		t.Errorf("%d test databases, want at least 2", dbs)
	}
}
