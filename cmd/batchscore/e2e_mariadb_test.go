package main

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/batchscore/batchscore/internal/testkit/mariadbtest"
)

// mariadbSinkJob writes a job that reads the sample Parquet snapshot and
// also publishes into the MySQL table churn_scores through SINK_DSN.
func mariadbSinkJob(t *testing.T, table string) string {
	t.Helper()
	return writeJob(t, "churn_nightly.yaml", jobOpts{table: table, chunkRows: 500, edit: func(s string) string {
		return insertAfter(t, s, "  keys: [customer_id]", "  sql: {driver: mysql, dsn_env: SINK_DSN, table: churn_scores, keep: 2}")
	}})
}

// mariadbView is count and version of the view's rows of date.
func mariadbView(t *testing.T, db *sql.DB, date string) (n int64, version string) {
	t.Helper()
	err := db.QueryRowContext(context.Background(), "SELECT count(*), coalesce(min(version), '') FROM churn_scores_current WHERE score_date = ?", date).Scan(&n, &version)
	if err != nil {
		t.Fatal(err)
	}
	return n, version
}

// A job whose output.sql is a MariaDB table publishes there what it
// publishes to Parquet, row for row and bit for bit; a rerun is already
// current and publishes nothing new.
func TestMariaDBSinkPublishes(t *testing.T) {
	t.Parallel()
	dsn := mariadbtest.DSN(t)
	db := mariadbtest.Open(t, dsn)
	table := filepath.Join(t.TempDir(), "scores")
	job := mariadbSinkJob(t, table)
	env := append(ortEnv(t), "SINK_DSN="+dsn)
	res := runWith(t, batchscore, env, "run", job, "--date", date20, "--json")
	if res.code != 0 {
		t.Fatal(res)
	}
	m := parseManifest(t, []byte(res.stdout))
	if s := m.Output.SQL; s == nil || !s.Published || s.Driver != "mysql" || s.Rows != 2000 {
		t.Fatalf("manifest output.sql %+v", m.Output.SQL)
	}
	if n, v := mariadbView(t, db, date20); n != 2000 || v != m.Version {
		t.Fatalf("churn_scores_current holds %d rows of %q, want 2000 of %s", n, v, m.Version)
	}

	// Every Parquet row is in the view with the same score (a DOUBLE holds
	// the float64 exactly; the query's argument makes the driver read it in
	// binary), label, run id and model version.
	want := readResults(t, m.Output.Path)
	rows, err := db.QueryContext(context.Background(), "SELECT customer_id, score, label, DATE_FORMAT(score_date, '%Y-%m-%d'), run_id, model_version FROM churn_scores_current WHERE score_date = ? ORDER BY customer_id", date20)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	byID := map[int64]int{}
	for i, id := range want.ids {
		byID[id] = i
	}
	seen := 0
	for rows.Next() {
		var id, label int64
		var score float64
		var date, runID, modelVersion string
		if err := rows.Scan(&id, &score, &label, &date, &runID, &modelVersion); err != nil {
			t.Fatal(err)
		}
		i, ok := byID[id]
		switch {
		case !ok:
			t.Fatalf("customer %d is in the view, not in Parquet", id)
		case score != want.scores[i] || label != want.labels[i] || date != want.dates[i] || runID != want.runIDs[i] || modelVersion != want.versions[i]:
			t.Fatalf("customer %d: view has %v %d %s %s %s, Parquet %v %d %s %s %s", id, score, label, date, runID, modelVersion,
				want.scores[i], want.labels[i], want.dates[i], want.runIDs[i], want.versions[i])
		}
		seen++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if seen != len(want.ids) {
		t.Fatalf("%d rows in the view, %d in Parquet", seen, len(want.ids))
	}

	// The rerun: already current, nothing new in either table.
	again := runWith(t, batchscore, env, "run", job, "--date", date20)
	if again.code != 0 || !strings.Contains(again.stdout, "already current") {
		t.Fatalf("rerun: want exit 0, already current\n%s", again)
	}
	var versions int
	if err := db.QueryRow("SELECT count(*) FROM churn_scores_runs").Scan(&versions); err != nil || versions != 1 {
		t.Errorf("%d versions in the registry (%v), want 1", versions, err)
	}
	if n, v := mariadbView(t, db, date20); n != 2000 || v != m.Version {
		t.Errorf("after the rerun the view holds %d rows of %q", n, v)
	}
}

// A run killed while loading or publishing the MariaDB table: the view
// still shows the previous version whole, and the next run makes the
// Parquet table and the view agree again, as with PostgreSQL.
func TestMariaDBSinkSurvivesKills(t *testing.T) {
	t.Parallel()
	dsn := mariadbtest.DSN(t)
	db := mariadbtest.Open(t, dsn)
	table := filepath.Join(t.TempDir(), "scores")
	job := mariadbSinkJob(t, table)
	env := append(ortEnv(t), "SINK_DSN="+dsn)
	if res := runWith(t, batchscore, env, "run", job, "--date", date20); res.code != 0 {
		t.Fatalf("first run: %s", res)
	}
	for _, point := range []string{"sql-copy:1", "sql-copy:3", "sql-flip"} {
		t.Run(point, func(t *testing.T) {
			before, beforeVersion := mariadbView(t, db, date20)
			if before != 2000 || beforeVersion != currentVersion(t, table, date20) {
				t.Fatalf("before the kill the view holds %d rows of %s; Parquet current is %s", before, beforeVersion, currentVersion(t, table, date20))
			}
			killed := runWith(t, batchscore, append(append([]string(nil), env...), "BATCHSCORE_CRASHPOINT="+point), "run", job, "--date", date20, "--force")
			if killed.code != -1 {
				t.Fatalf("not killed at %s: %s", point, killed)
			}
			if n, v := mariadbView(t, db, date20); n != 2000 || v != beforeVersion {
				t.Fatalf("after a kill at %s the view holds %d rows of %s, want 2000 of %s", point, n, v, beforeVersion)
			}
			if res := runWith(t, batchscore, env, "run", job, "--date", date20); res.code != 0 {
				t.Fatalf("the run after the kill: %s", res)
			}
			if n, v := mariadbView(t, db, date20); n != 2000 || v != currentVersion(t, table, date20) {
				t.Fatalf("after recovery the view holds %d rows of %s; Parquet current is %s", n, v, currentVersion(t, table, date20))
			}
		})
	}
}
