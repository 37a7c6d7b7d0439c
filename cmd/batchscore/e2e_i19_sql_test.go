package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/batchscore/batchscore/internal/testkit/pgtest"
)

// i19SQLJob writes a job that reads query from PostgreSQL (CHURN_DSN) and,
// when sinkTable is set, writes the SQL table through SINK_DSN. extra is
// added to the source.sql mapping (", timeout: 1s").
func i19SQLJob(t *testing.T, table, query, extra, sinkTable string) string {
	t.Helper()
	return writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: func(s string) string {
		s = withoutRowChange(t)(s)
		s = reSQLSource.ReplaceAllString(s, `  sql: {driver: postgres, dsn_env: CHURN_DSN, query: "`+query+`"`+extra+`}`)
		if sinkTable != "" {
			s = insertAfter(t, s, "  keys: [customer_id]", "  sql: {driver: postgres, dsn_env: SINK_DSN, table: "+sinkTable+"}")
		}
		return s
	}})
}

const i19Query = "SELECT * FROM customers WHERE snapshot_date = :date"

func i19Env(t *testing.T, source, sink string) []string {
	return append(ortEnv(t), "CHURN_DSN="+source, "SINK_DSN="+sink)
}

// roleDSN is dsn logging in as role (the test server trusts 127.0.0.1).
func roleDSN(dsn, role string) string { return strings.Replace(dsn, "postgres@", role+"@", 1) }

// A statement timeout before the first row is a timeout (exit 1), from run
// and from validate, not a snapshot without columns (exit 3).
func TestI19SQLTimeoutBeforeFirstRow(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	loadCustomers(t, dsn, date20)
	slow := "SELECT c.* FROM customers c, (SELECT pg_sleep(5)) s WHERE snapshot_date = :date"
	job := i19SQLJob(t, filepath.Join(t.TempDir(), "scores"), slow, ", timeout: 300ms", "")
	for _, cmd := range []string{"run", "validate"} {
		res := runWith(t, batchscore, i19Env(t, dsn, ""), cmd, job, "--date", date20)
		msg := res.messages() + res.stdout
		if res.code != 1 || !strings.Contains(msg, "statement timeout") || strings.Contains(msg, "is missing") {
			t.Errorf("%s: want exit 1 naming the statement timeout\n%s", cmd, res)
		}
	}
}

// A connection that drops before the first row is a lost connection: tried
// again, then exit 1 naming it.
func TestI19SQLConnectionLostBeforeFirstRow(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	loadCustomers(t, dsn, date20)
	slow := "SELECT c.* FROM customers c, (SELECT pg_sleep(60)) s WHERE snapshot_date = :date"
	table := filepath.Join(t.TempDir(), "scores")
	p := startWith(t, i19Env(t, dsn, ""), table, "run", i19SQLJob(t, table, slow, "", ""), "--date", date20)
	admin := pgtest.Connect(t, dsn)
	deadline := time.Now().Add(2 * time.Minute)
	for !p.exited() && time.Now().Before(deadline) {
		// Every try of the query is terminated as soon as it shows up.
		_, _ = admin.Exec(context.Background(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query LIKE '%pg_sleep(60)%'")
		time.Sleep(20 * time.Millisecond)
	}
	code, stdout, stderr := p.wait(t)
	res := result{code: code, stdout: stdout, stderr: stderr}
	msg := res.messages() + stdout
	if code != 1 || !strings.Contains(msg, "database connection failed") || !strings.Contains(msg, "attempts") || strings.Contains(msg, "is missing") {
		t.Errorf("want exit 1 naming the lost connection after the retries\n%s", res)
	}
}

// Configuration errors on the SQL side are exit 2, each named once:
// a query syntax error, a missing schema, a sink table with a missing,
// extra or differently typed column, a sink schema that does not exist,
// a role without privileges. Nothing is published.
func TestI19SQLConfigErrorsExit2(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	loadCustomers(t, dsn, date20)
	env := i19Env(t, dsn, dsn)
	// A good run creates churn_scores; the bad tables copy its columns.
	good := i19SQLJob(t, filepath.Join(t.TempDir(), "scores"), i19Query, "", "churn_scores")
	if res := runWith(t, batchscore, env, "run", good, "--date", date20); res.code != 0 {
		t.Fatalf("the good run\n%s", res)
	}
	pgtest.Exec(t, dsn,
		"CREATE TABLE bad_missing AS SELECT * FROM churn_scores WITH NO DATA",
		"ALTER TABLE bad_missing DROP COLUMN label",
		"CREATE TABLE bad_extra AS SELECT * FROM churn_scores WITH NO DATA",
		"ALTER TABLE bad_extra ADD COLUMN note text",
		"CREATE TABLE bad_type AS SELECT * FROM churn_scores WITH NO DATA",
		"ALTER TABLE bad_type ALTER COLUMN score TYPE real",
		"CREATE ROLE i19_nobody LOGIN",
		"GRANT USAGE ON SCHEMA public TO i19_nobody",
		"CREATE ROLE i19_reader LOGIN",
		"GRANT USAGE ON SCHEMA public TO i19_reader",
		"GRANT SELECT ON churn_scores, churn_scores_runs, churn_scores_owner TO i19_reader",
	)
	t.Cleanup(func() {
		pgtest.Exec(t, dsn, "DROP OWNED BY i19_nobody, i19_reader", "DROP ROLE i19_nobody", "DROP ROLE i19_reader")
	})
	tests := []struct {
		name, query, sink, sinkDSN string
		want                       []string
	}{
		{"query syntax error", "SELEC * FROM customers WHERE snapshot_date = :date", "", dsn, []string{"syntax error", "42601"}},
		{"query schema missing", "SELECT * FROM nosuch.customers WHERE snapshot_date = :date", "", dsn, []string{`relation "nosuch.customers" does not exist`}},
		{"sink column missing", i19Query, "bad_missing", dsn, []string{`output table bad_missing: column "label" is missing`}},
		{"sink column extra", i19Query, "bad_extra", dsn, []string{`output table bad_extra: column "note" is not in the result`}},
		{"sink column type", i19Query, "bad_type", dsn, []string{`output table bad_type: column "score" is real, the result needs double precision`}},
		{"sink schema missing", i19Query, "nosuch.churn_scores", dsn, []string{`schema "nosuch" does not exist`, "3F000"}},
		{"sink no privilege", i19Query, "churn_scores", roleDSN(dsn, "i19_nobody"), []string{"reading churn_scores_owner (the job's role needs SELECT on it)", "42501"}},
		{"sink read only", i19Query, "churn_scores", roleDSN(dsn, "i19_reader"), []string{"permission denied for table churn_scores_runs", "42501"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := filepath.Join(t.TempDir(), "scores")
			job := i19SQLJob(t, table, tt.query, "", tt.sink)
			cmds := []string{"run"}
			if tt.sink == "" {
				cmds = append(cmds, "validate")
			}
			for _, cmd := range cmds {
				res := runWith(t, batchscore, i19Env(t, dsn, tt.sinkDSN), cmd, job, "--date", date20)
				msg := res.messages() + res.stdout
				if res.code != 2 {
					t.Errorf("%s: exit %d, want 2\n%s", cmd, res.code, res)
				}
				for _, w := range tt.want {
					if !strings.Contains(msg, w) {
						t.Errorf("%s: no %q in\n%s", cmd, w, res)
					}
				}
				if tt.sink != "" && strings.Contains(msg, "output table "+tt.sink+": output table") {
					t.Errorf("%s: the table is named twice\n%s", cmd, res)
				}
			}
			if cur := currentVersion(t, table, date20); cur != "" {
				t.Errorf("version %s was published", cur)
			}
		})
	}
}

// Once the SQL tables exist, a role with only SELECT, INSERT, UPDATE and
// DELETE on them publishes: the sink runs no DDL on existing objects. The
// first run needs CREATE on the schema, and nothing more.
func TestI19SQLSinkLimitedRole(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	loadCustomers(t, dsn, date20)
	pgtest.Exec(t, dsn,
		"CREATE SCHEMA analytics",
		"CREATE ROLE i19_creator LOGIN",
		"GRANT USAGE, CREATE ON SCHEMA analytics TO i19_creator",
		"CREATE ROLE i19_writer LOGIN",
		"GRANT USAGE ON SCHEMA analytics TO i19_writer",
	)
	t.Cleanup(func() {
		pgtest.Exec(t, dsn, "DROP OWNED BY i19_creator, i19_writer", "DROP ROLE i19_creator", "DROP ROLE i19_writer")
	})
	job := i19SQLJob(t, filepath.Join(t.TempDir(), "scores"), i19Query, "", "analytics.churn_scores")
	if res := runWith(t, batchscore, i19Env(t, dsn, roleDSN(dsn, "i19_creator")), "run", job, "--date", date20); res.code != 0 {
		t.Fatalf("first run, a role with CREATE on the schema\n%s", res)
	}
	// A DBA takes the tables over; the job's role keeps DML only.
	pgtest.Exec(t, dsn,
		"ALTER TABLE analytics.churn_scores OWNER TO postgres",
		"ALTER TABLE analytics.churn_scores_runs OWNER TO postgres",
		"ALTER VIEW analytics.churn_scores_current OWNER TO postgres",
		"ALTER TABLE analytics.churn_scores_owner OWNER TO postgres",
		"REVOKE CREATE ON SCHEMA analytics FROM i19_creator",
		"GRANT SELECT, INSERT, UPDATE, DELETE ON analytics.churn_scores, analytics.churn_scores_runs TO i19_writer",
		"GRANT SELECT ON analytics.churn_scores_owner TO i19_writer",
	)
	res := runWith(t, batchscore, i19Env(t, dsn, roleDSN(dsn, "i19_writer")), "run", job, "--date", date20, "--force", "--json")
	if res.code != 0 {
		t.Fatalf("a later run with SELECT, INSERT, UPDATE, DELETE only\n%s", res)
	}
	m := parseManifest(t, []byte(res.stdout))
	var n int64
	var version string
	err := pgtest.Connect(t, dsn).QueryRow(context.Background(),
		"SELECT count(*), min(version) FROM analytics.churn_scores_current WHERE score_date = $1", date20).Scan(&n, &version)
	if err != nil || n != 2000 || version != m.Version {
		t.Errorf("the view holds %d rows of %q (%v), want 2000 of %s", n, version, err, m.Version)
	}
}

// A numeric(p,s) key read with decimal: decimal is published to Parquet as
// DECIMAL(p,s) and to the SQL table as numeric(p,s), value for value.
func TestI19SQLDecimalKey(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	loadCustomers(t, dsn, date20)
	q := "SELECT *, round(outstanding_balance::numeric, 2)::numeric(14,2) AS balance FROM customers WHERE snapshot_date = :date"
	table := filepath.Join(t.TempDir(), "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: func(s string) string {
		s = withoutRowChange(t)(s)
		s = reSQLSource.ReplaceAllString(s, `  sql: {driver: postgres, dsn_env: CHURN_DSN, query: "`+q+`", decimal: decimal}`)
		s = strings.Replace(s, "  keys: [customer_id]", "  keys: [customer_id, balance]", 1)
		return insertAfter(t, s, "  keys: [customer_id, balance]", "  sql: {driver: postgres, dsn_env: SINK_DSN, table: churn_scores}")
	}})
	res := runWith(t, batchscore, i19Env(t, dsn, dsn), "run", job, "--date", date20, "--json")
	if res.code != 0 {
		t.Fatalf("want exit 0\n%s", res)
	}
	m := parseManifest(t, []byte(res.stdout))
	if m.Output.SQL == nil || !m.Output.SQL.Published || m.Output.SQL.Rows != 2000 {
		t.Fatalf("SQL output %+v", m.Output.SQL)
	}
	conn := pgtest.Connect(t, dsn)
	var typ string
	var mismatched int64
	err := conn.QueryRow(context.Background(), "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'churn_scores'::regclass AND attname = 'balance'").Scan(&typ)
	if err == nil {
		err = conn.QueryRow(context.Background(), "SELECT count(*) FROM churn_scores_current s JOIN customers c USING (customer_id) WHERE s.balance IS DISTINCT FROM round(c.outstanding_balance::numeric, 2)").Scan(&mismatched)
	}
	if err != nil || typ != "numeric(14,2)" || mismatched != 0 {
		t.Errorf("balance is %s with %d values that differ from the source (%v)", typ, mismatched, err)
	}
}

// When the SQL publish fails after the Parquet one, the summary says so and
// what stands where; runs and show mark the execution.
func TestI19SQLPublishFailsAfterParquet(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	loadCustomers(t, dsn, date20)
	env := i19Env(t, dsn, dsn)
	job := i19SQLJob(t, filepath.Join(t.TempDir(), "scores"), i19Query, "", "churn_scores")
	if res := runWith(t, batchscore, env, "run", job, "--date", date20); res.code != 0 {
		t.Fatalf("the good run\n%s", res)
	}
	// The flip to current fails inside the database, after the rows loaded.
	pgtest.Exec(t, dsn,
		`CREATE FUNCTION refuse_current() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
			IF NEW.status = 'current' THEN RAISE EXCEPTION 'no new current version today'; END IF; RETURN NEW; END $$`,
		"CREATE TRIGGER refuse_current BEFORE UPDATE ON churn_scores_runs FOR EACH ROW EXECUTE FUNCTION refuse_current()")
	res := runWith(t, batchscore, env, "run", job, "--date", date20, "--force")
	if res.code != 1 {
		t.Fatalf("want exit 1\n%s", res)
	}
	for _, w := range []string{"failed (exit 1): the SQL publish failed after the Parquet publish", "is current (2000 rows", "the SQL table churn_scores still shows its previous version", "no new current version today"} {
		if !strings.Contains(res.stdout, w) {
			t.Errorf("no %q in the summary\n%s", w, res)
		}
	}
	if strings.Contains(res.stdout, ": published version") {
		t.Errorf("the summary reads like a success\n%s", res.stdout)
	}
	runs := runWith(t, batchscore, env, "runs", job)
	lines := strings.Split(runs.stdout, "\n")
	if runs.code != 0 || len(lines) < 3 || !strings.Contains(lines[1], "failed") || !strings.Contains(lines[1], "(SQL table not updated)") {
		t.Errorf("runs does not mark the failed execution\n%s", runs)
	}
	js := runWith(t, batchscore, env, "runs", job, "--json")
	var rows []struct {
		Version   string `json:"version"`
		Current   bool   `json:"current"`
		SQLBehind bool   `json:"sql_behind"`
	}
	if err := json.Unmarshal([]byte(js.stdout), &rows); err != nil || len(rows) != 2 || !rows[0].SQLBehind || rows[1].SQLBehind {
		t.Errorf("runs --json: %v %+v", err, rows)
	}
	show := runWith(t, batchscore, env, "show", job, rows[0].Version)
	if !strings.Contains(show.stdout, "to Parquet only: the SQL publish failed") {
		t.Errorf("show does not say the SQL side is behind\n%s", show)
	}
}
