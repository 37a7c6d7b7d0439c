package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/batchscore/batchscore/internal/testkit/pgtest"
)

// A run killed while loading or publishing the SQL sink's version: the
// SQL view still shows the previous version whole, and the next run (no
// --force: the killed one never finished) makes the Parquet table and the
// SQL view agree again.
func TestSQLSinkSurvivesKills(t *testing.T) {
	dsn := pgtest.DSN(t)
	conn := pgtest.Connect(t, dsn)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA crashsink"); err != nil {
		t.Fatal(err)
	}
	table := filepath.Join(t.TempDir(), "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, chunkRows: 500, edit: func(s string) string {
		return insertAfter(t, s, "  keys: [customer_id]", "  sql: {driver: postgres, dsn_env: CHURN_DSN, table: crashsink.scores}")
	}})
	env := append(ortEnv(t), "CHURN_DSN="+dsn)
	view := func() (int64, string) {
		t.Helper()
		var n int64
		var v string
		if err := conn.QueryRow(ctx, "SELECT count(*), coalesce(min(version), '') FROM crashsink.scores_current WHERE score_date = $1", date20).Scan(&n, &v); err != nil {
			t.Fatal(err)
		}
		return n, v
	}
	if res := runWith(t, batchscore, env, "run", job, "--date", date20); res.code != 0 {
		t.Fatalf("first run: %s", res)
	}
	for _, point := range []string{"sql-copy:1", "sql-copy:3", "sql-commit", "sql-flip"} {
		t.Run(point, func(t *testing.T) {
			before, beforeVersion := view()
			if before != 2000 || beforeVersion != currentVersion(t, table, date20) {
				t.Fatalf("before the kill the view holds %d rows of %s; Parquet current is %s", before, beforeVersion, currentVersion(t, table, date20))
			}
			killed := runWith(t, batchscore, append(append([]string(nil), env...), "BATCHSCORE_CRASHPOINT="+point), "run", job, "--date", date20, "--force")
			if killed.code != -1 {
				t.Fatalf("not killed at %s: %s", point, killed)
			}
			if n, v := view(); n != 2000 || v != beforeVersion {
				t.Fatalf("after a kill at %s the view holds %d rows of %s, want 2000 of %s", point, n, v, beforeVersion)
			}
			res := runWith(t, batchscore, env, "run", job, "--date", date20)
			if res.code != 0 {
				t.Fatalf("the run after the kill: %s", res)
			}
			if n, v := view(); n != 2000 || v != currentVersion(t, table, date20) {
				t.Fatalf("after recovery the view holds %d rows of %s; Parquet current is %s", n, v, currentVersion(t, table, date20))
			}
		})
	}
}
