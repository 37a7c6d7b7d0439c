package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/jackc/pgx/v5"

	"github.com/batchscore/batchscore/internal/testkit/pgtest"
)

// loadCustomers copies the sample snapshot of date into a PostgreSQL table
// customers with the matching column types.
func loadCustomers(t *testing.T, dsn, date string) {
	t.Helper()
	conn := pgtest.Connect(t, dsn)
	ctx := context.Background()
	var created bool
	for _, part := range []string{"part-00000.parquet", "part-00001.parquet"} {
		rec := sampleRecord(t, date, part)
		if !created {
			var cols []string
			for _, f := range rec.Schema().Fields() {
				cols = append(cols, fmt.Sprintf("%q %s", f.Name, pgType(t, f.Type)))
			}
			if _, err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS customers ("+strings.Join(cols, ", ")+")"); err != nil {
				t.Fatal(err)
			}
			created = true
		}
		rows := make([][]any, rec.NumRows())
		for i := range rows {
			rows[i] = make([]any, rec.NumCols())
			for j, col := range rec.Columns() {
				rows[i][j] = col.GetOneForMarshal(i)
				if d, ok := col.(*array.Date32); ok {
					rows[i][j] = d.Value(i).ToTime()
				}
			}
		}
		names := make([]string, rec.NumCols())
		for j, f := range rec.Schema().Fields() {
			names[j] = f.Name
		}
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{"customers"}, names, pgx.CopyFromRows(rows)); err != nil {
			t.Fatal(err)
		}
	}
}

func pgType(t *testing.T, dt arrow.DataType) string {
	switch dt.ID() {
	case arrow.INT32:
		return "integer"
	case arrow.INT64:
		return "bigint"
	case arrow.FLOAT64:
		return "double precision"
	case arrow.BOOL:
		return "boolean"
	case arrow.DATE32:
		return "date"
	case arrow.STRING:
		return "text"
	}
	t.Fatalf("no PostgreSQL type for %s", dt)
	return ""
}

var reSource = regexp.MustCompile(`(?m)^  parquet: .*$`)

// The same snapshot read from PostgreSQL scores exactly as from Parquet;
// the DSN, with its password, appears nowhere in what the run leaves.
func TestSQLSourceFromPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	loadCustomers(t, dsn, date20)
	const password = "s3cret-Pa55"
	withPassword := strings.Replace(dsn, "postgres@", "postgres:"+password+"@", 1) // trust auth ignores it
	table := t.TempDir() + "/scores"
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: func(s string) string {
		s = reSource.ReplaceAllString(s, `  sql: {driver: postgres, dsn_env: CHURN_DSN, query: "SELECT * FROM customers WHERE snapshot_date = :date"}`)
		return insertAfter(t, s, "  keys: [customer_id]", "  sql: {driver: postgres, dsn_env: CHURN_DSN, table: churn_scores, keep: 2}")
	}})
	env := append(ortEnv(t), "CHURN_DSN="+withPassword)
	res := runWith(t, batchscore, env, "run", job, "--date", date20, "--json")
	if res.code != 0 {
		t.Fatal(res)
	}
	if strings.Contains(res.stdout+res.stderr, password) || strings.Contains(res.stdout, "127.0.0.1") {
		t.Error("the DSN leaked into the output")
	}
	// Nor into any file the run left: manifests, reports, profiles, results.
	err := filepath.WalkDir(table, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&fs.ModeSymlink != 0 {
			return err // current/<date> links lead into versions/, walked anyway
		}
		data, err := os.ReadFile(path)
		if err == nil && bytes.Contains(data, []byte(password)) {
			t.Errorf("%s holds the DSN's password", path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	m := parseManifest(t, []byte(res.stdout))
	if m.Source.Kind != "sql" || m.Source.Rows != 2000 || !strings.HasPrefix(m.Source.Fingerprint, "sha256:") || m.Source.Params["date"] != date20 {
		t.Errorf("manifest source %+v", m.Source)
	}
	rows := readResults(t, m.Output.Path)
	ref := readReference(t, date20)
	if len(rows.ids) != 2000 {
		t.Fatalf("%d rows published", len(rows.ids))
	}
	for i, id := range rows.ids {
		if d := math.Abs(rows.scores[i] - ref[id].gbmP1); d > 1e-5 {
			t.Fatalf("customer %d: score %v, sklearn %v", id, rows.scores[i], ref[id].gbmP1)
		}
	}

	// The SQL table got the same version, current in its view.
	conn := pgtest.Connect(t, dsn)
	current := func() (n int64, version string) {
		t.Helper()
		err := conn.QueryRow(context.Background(), "SELECT count(*), coalesce(min(version), '') FROM churn_scores_current WHERE score_date = $1", date20).Scan(&n, &version)
		if err != nil {
			t.Fatal(err)
		}
		return n, version
	}
	if n, v := current(); n != 2000 || v != m.Version || m.Output.SQL == nil || !m.Output.SQL.Published {
		t.Errorf("churn_scores_current holds %d rows of version %q; manifest %+v", n, v, m.Output.SQL)
	}

	// One changed value changes the fingerprint.
	if _, err := conn.Exec(context.Background(), "UPDATE customers SET monthly_charges = monthly_charges + 1 WHERE customer_id = (SELECT min(customer_id) FROM customers)"); err != nil {
		t.Fatal(err)
	}
	res2 := runWith(t, batchscore, env, "run", job, "--date", date20, "--json")
	if res2.code != 0 {
		t.Fatal(res2)
	}
	m2 := parseManifest(t, []byte(res2.stdout))
	if m2.Source.Fingerprint == m.Source.Fingerprint {
		t.Error("a changed table kept its fingerprint")
	}
	if n, v := current(); n != 2000 || v != m2.Version {
		t.Errorf("after the rerun churn_scores_current holds %d rows of version %q, want %s", n, v, m2.Version)
	}

	// No DSN in the environment: a job-file problem, named, exit 2.
	res3 := runWith(t, batchscore, ortEnv(t), "run", job, "--date", date20)
	if res3.code != 2 || !strings.Contains(res3.stderr, "CHURN_DSN") {
		t.Errorf("missing DSN: exit %d\n%s", res3.code, res3.stderr)
	}
}
