package sqlio

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/jackc/pgx/v5"

	"github.com/batchscore/batchscore/internal/testkit/mariadbtest"
	"github.com/batchscore/batchscore/internal/testkit/pgtest"
)

// resultSchema is what jobs/output.go builds for a job with an int64 key,
// an int64 label and flags.
var resultSchema = arrow.NewSchema([]arrow.Field{
	{Name: "customer_id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "score", Type: arrow.PrimitiveTypes.Float64},
	{Name: "label", Type: arrow.PrimitiveTypes.Int64},
	{Name: "flags", Type: arrow.BinaryTypes.String},
	{Name: "score_date", Type: arrow.FixedWidthTypes.Date32},
	{Name: "run_id", Type: arrow.BinaryTypes.String},
	{Name: "model_version", Type: arrow.BinaryTypes.String},
}, nil)

// resultRecord builds n result rows with keys from first on.
func resultRecord(t testing.TB, first, n int, date, runID string) arrow.Record {
	t.Helper()
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, resultSchema)
	defer b.Release()
	for i := range n {
		k := first + i
		b.Field(0).(*array.Int64Builder).Append(int64(k))
		b.Field(1).(*array.Float64Builder).Append(float64(k%1000) / 1000)
		b.Field(2).(*array.Int64Builder).Append(int64(k % 2))
		b.Field(3).(*array.StringBuilder).Append("")
		b.Field(4).(*array.Date32Builder).Append(arrow.Date32FromTime(d))
		b.Field(5).(*array.StringBuilder).Append(runID)
		b.Field(6).(*array.StringBuilder).Append("churn-1.0")
	}
	return b.NewRecord()
}

// explanationsSchema is the side table the suite's sinks carry, as
// jobs/explain.go lays it out: keys, score, bias, reasons, the run's
// constants.
var explanationsSchema = arrow.NewSchema([]arrow.Field{
	{Name: "customer_id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "score", Type: arrow.PrimitiveTypes.Float64},
	{Name: "bias", Type: arrow.PrimitiveTypes.Float64},
	{Name: "reason_1", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "score_date", Type: arrow.FixedWidthTypes.Date32},
	{Name: "run_id", Type: arrow.BinaryTypes.String},
	{Name: "model_version", Type: arrow.BinaryTypes.String},
}, nil)

// explanationsRecord explains the rows of resultRecord(first, n) whose
// key is even.
func explanationsRecord(t testing.TB, first, n int, date, runID string) arrow.Record {
	t.Helper()
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, explanationsSchema)
	defer b.Release()
	for k := first; k < first+n; k++ {
		if k%2 != 0 {
			continue
		}
		b.Field(0).(*array.Int64Builder).Append(int64(k))
		b.Field(1).(*array.Float64Builder).Append(float64(k%1000) / 1000)
		b.Field(2).(*array.Float64Builder).Append(-1.5)
		if k%4 == 0 {
			b.Field(3).(*array.StringBuilder).Append("R" + fmt.Sprint(k%3))
		} else {
			b.Field(3).(*array.StringBuilder).AppendNull()
		}
		b.Field(4).(*array.Date32Builder).Append(arrow.Date32FromTime(d))
		b.Field(5).(*array.StringBuilder).Append(runID)
		b.Field(6).(*array.StringBuilder).Append("churn-1.0")
	}
	return b.NewRecord()
}

// sinkBackend is one database the conformance suite runs against.
type sinkBackend struct {
	driver string
	fresh  func(t *testing.T) string // a DSN of an empty database
	query  func(t *testing.T, dsn, q string, args ...any) [][]string
	ph     func(i int) string
	q      func(name string) string // quotes an identifier in test SQL
}

func sqliteBackend() sinkBackend {
	return sinkBackend{
		driver: "sqlite",
		fresh:  func(t *testing.T) string { return filepath.Join(t.TempDir(), "scores.db") },
		query: func(t *testing.T, dsn, q string, args ...any) [][]string {
			t.Helper()
			return sqlQuery(t, "sqlite", dsn, q, args...)
		},
		ph: func(int) string { return "?" },
		q:  func(name string) string { return quoteName(sinkSQLite, name) },
	}
}

// mariadbBackend is the "mysql" driver against a real MariaDB server. The
// sink gets the DSN as a user would write it; the suite's own queries ask
// the driver for time.Time (parseTime) to compare dates and instants.
func mariadbBackend() sinkBackend {
	return sinkBackend{
		driver: "mysql",
		fresh:  func(t *testing.T) string { return mariadbtest.DSN(t) },
		query: func(t *testing.T, dsn, q string, args ...any) [][]string {
			t.Helper()
			return sqlQuery(t, "mysql", dsn+"?parseTime=true", q, args...)
		},
		ph: func(int) string { return "?" },
		q:  func(name string) string { return quoteName(sinkMySQL, name) },
	}
}

// sqlQuery runs a query through database/sql and renders its rows with
// texts.
func sqlQuery(t *testing.T, driver, dsn, q string, args ...any) [][]string {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, texts(vals))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func postgresBackend() sinkBackend {
	return sinkBackend{
		driver: "postgres",
		fresh:  func(t *testing.T) string { return pgtest.DSN(t) },
		query:  pgQuery,
		ph:     func(i int) string { return fmt.Sprintf("$%d", i) },
		q:      func(name string) string { return quoteName(sinkPostgres, name) },
	}
}

func pgQuery(t *testing.T, dsn, q string, args ...any) [][]string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, texts(vals))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

// texts renders values for comparison: NULL as "NULL", dates as YYYY-MM-DD.
func texts(vals []any) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		switch v := v.(type) {
		case nil:
			out[i] = "NULL"
		case []byte:
			out[i] = string(v)
		case time.Time:
			if v.Hour() == 0 && v.Minute() == 0 && v.Second() == 0 && v.Nanosecond() == 0 {
				out[i] = v.Format(time.DateOnly)
			} else {
				out[i] = v.UTC().Format(time.RFC3339Nano)
			}
		default:
			out[i] = fmt.Sprint(v)
		}
	}
	return out
}

// The three backends' suites run side by side: each test opens a fresh
// database, and most of their time is spent waiting on the servers.
func TestSinkSQLite(t *testing.T)   { t.Parallel(); testSink(t, sqliteBackend()) }
func TestSinkPostgres(t *testing.T) { t.Parallel(); testSink(t, postgresBackend()) }
func TestSinkMariaDB(t *testing.T)  { t.Parallel(); testSink(t, mariadbBackend()) }

// testSink is the conformance suite every SQL backend passes.
func testSink(t *testing.T, be sinkBackend) {
	su := sinkSuite{be: be}
	for _, c := range []struct {
		name string
		test func(*testing.T)
	}{
		{"creates with column types", su.testCreatesWithColumnTypes},
		{"existing table with other columns", su.testExistingTableWithOtherColumns},
		{"bad identifiers", su.testBadIdentifiers},
		{"publish, flip, abort", su.testPublishFlipAbort},
		{"keep 1 drops older versions", su.testKeep1DropsOlderVersions},
		{"nulls in every type", su.testNullsInEveryType},
		{"non-finite floats", su.testNonFiniteFloats},
		{"decimals", su.testDecimals},
		{"unicode strings", su.testUnicodeStrings},
		{"quoted identifiers", su.testQuotedIdentifiers},
		{"reopen and rerun", su.testReopenAndRerun},
		{"owner table", func(t *testing.T) { testSinkOwner(t, be) }},
		{"concurrent publishers", su.testConcurrentPublishers},
		{"concurrent first claims", su.testConcurrentFirstClaims},
		{"readers see no mix", su.testReadersSeeNoMix},
		{"crash leaves nothing visible", su.testCrashLeavesNothingVisible},
	} {
		t.Run(c.name, c.test)
	}
}

// sinkSuite is the conformance suite on one backend, with the steps its
// tests share. Every test opens a fresh database.
type sinkSuite struct{ be sinkBackend }

// suiteDate is the score_date of the suite's loads.
const suiteDate = "2026-11-20"

func (su sinkSuite) open(t *testing.T, dsn string, keep int) *Sink {
	t.Helper()
	s, err := OpenSink(context.Background(), SinkConfig{Driver: su.be.driver, DSN: dsn, Table: "churn_scores", Keep: keep,
		Sides: []SideConfig{{Suffix: "_explanations", Schema: explanationsSchema}}}, resultSchema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// load stages version with batches of rows, keys counting up from 0.
func (su sinkSuite) load(t *testing.T, s *Sink, version string, batches ...int) *Load {
	t.Helper()
	ctx := context.Background()
	l, err := s.Begin(ctx, version, suiteDate)
	if err != nil {
		t.Fatal(err)
	}
	first := 0
	for _, n := range batches {
		rec := resultRecord(t, first, n, suiteDate, "run-"+version)
		err := l.Write(ctx, rec)
		rec.Release()
		if err == nil && len(s.sides) > 0 {
			rec = explanationsRecord(t, first, n, suiteDate, "run-"+version)
			err = l.WriteSide(ctx, "_explanations", rec)
			rec.Release()
		}
		if err != nil {
			t.Fatal(err)
		}
		first += n
	}
	return l
}

func (su sinkSuite) publish(t *testing.T, s *Sink, version string, batches ...int) {
	t.Helper()
	if err := su.load(t, s, version, batches...).Publish(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// current is count, min(version), max(version) of the view for suiteDate.
func (su sinkSuite) current(t *testing.T, dsn string) string {
	t.Helper()
	rows := su.be.query(t, dsn, "SELECT count(*), min(version), max(version) FROM churn_scores_current WHERE score_date = "+su.be.ph(1), suiteDate)
	return strings.Join(rows[0], " ")
}

// explained is current's answer from the explanations' view.
func (su sinkSuite) explained(t *testing.T, dsn string) string {
	t.Helper()
	rows := su.be.query(t, dsn, "SELECT count(*), min(version), max(version) FROM churn_scores_explanations_current WHERE score_date = "+su.be.ph(1), suiteDate)
	return strings.Join(rows[0], " ")
}

func (su sinkSuite) count(t *testing.T, dsn, q string, args ...any) string {
	t.Helper()
	return su.be.query(t, dsn, q, args...)[0][0]
}

func (su sinkSuite) testCreatesWithColumnTypes(t *testing.T) {
	dsn := su.be.fresh(t)
	su.open(t, dsn, 0)
	su.open(t, dsn, 0) // and opens it again
	var got [][]string
	switch su.be.driver {
	case "postgres":
		got = su.be.query(t, dsn, "SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = 'churn_scores' ORDER BY ordinal_position")
	case "mysql":
		got = su.be.query(t, dsn, "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'churn_scores' ORDER BY ORDINAL_POSITION")
	default:
		got = su.be.query(t, dsn, "SELECT name, type, CASE \"notnull\" WHEN 1 THEN 'NO' ELSE 'YES' END FROM pragma_table_info('churn_scores')")
	}
	want := map[string][]string{
		"postgres": {"customer_id bigint YES", "score double precision YES", "label bigint YES", "flags text YES", "score_date date YES", "run_id text YES", "model_version text YES", "version text NO", "scored_at timestamp with time zone NO"},
		"mysql":    {"customer_id bigint(20) YES", "score double YES", "label bigint(20) YES", "flags text YES", "score_date date YES", "run_id text YES", "model_version text YES", "version varchar(64) NO", "scored_at datetime(6) NO"},
		"sqlite":   {"customer_id INTEGER YES", "score REAL YES", "label INTEGER YES", "flags TEXT YES", "score_date DATE YES", "run_id TEXT YES", "model_version TEXT YES", "version TEXT NO", "scored_at TIMESTAMP NO"},
	}[su.be.driver]
	var lines []string
	for _, r := range got {
		lines = append(lines, strings.Join(r, " "))
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("columns:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if n := su.count(t, dsn, "SELECT count(*) FROM churn_scores_current"); n != "0" {
		t.Fatalf("view has %s rows", n)
	}
	if n := su.count(t, dsn, "SELECT count(*) FROM churn_scores_runs"); n != "0" {
		t.Fatalf("registry has %s rows", n)
	}
}

func (su sinkSuite) testExistingTableWithOtherColumns(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ name, ddl, wantCol string }{
		{"type", "CREATE TABLE churn_scores (customer_id bigint, score text, label bigint, flags text, score_date date, run_id text, model_version text, version text NOT NULL, scored_at timestamp NOT NULL)", `"score"`},
		{"missing", "CREATE TABLE churn_scores (customer_id bigint, score double precision, flags text, score_date date, run_id text, model_version text, version text NOT NULL, scored_at timestamptz NOT NULL)", `"label"`},
		{"extra", "CREATE TABLE churn_scores (customer_id bigint, score double precision, label bigint, flags text, score_date date, run_id text, model_version text, version text NOT NULL, scored_at timestamptz NOT NULL, region text)", `"region"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := su.be.fresh(t)
			ddl := tc.ddl
			switch su.be.driver {
			case "sqlite":
				ddl = strings.NewReplacer("double precision", "REAL", "timestamptz", "TIMESTAMP").Replace(ddl)
				if tc.name == "type" {
					ddl = strings.Replace(ddl, "score text", "score BLOB", 1)
				}
			case "mysql":
				ddl = strings.NewReplacer("timestamptz", "DATETIME(6)", "timestamp NOT NULL", "DATETIME(6) NOT NULL").Replace(ddl)
			}
			su.be.query(t, dsn, ddl)
			_, err := OpenSink(ctx, SinkConfig{Driver: su.be.driver, DSN: dsn, Table: "churn_scores"}, resultSchema)
			if err == nil || !strings.Contains(err.Error(), tc.wantCol) {
				t.Fatalf("error %v, want one naming %s", err, tc.wantCol)
			}
		})
	}
}

func (su sinkSuite) testBadIdentifiers(t *testing.T) {
	ctx := context.Background()
	dsn := su.be.fresh(t)
	for _, name := range []string{"scores; DROP TABLE x", `scores"`, "a.b.c", strings.Repeat("s", 60)} {
		if _, err := OpenSink(ctx, SinkConfig{Driver: su.be.driver, DSN: dsn, Table: name}, resultSchema); err == nil {
			t.Errorf("table %q accepted", name)
		}
	}
	bad := arrow.NewSchema([]arrow.Field{{Name: "customer id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	if _, err := OpenSink(ctx, SinkConfig{Driver: su.be.driver, DSN: dsn, Table: "s"}, bad); err == nil || !strings.Contains(err.Error(), "customer id") {
		t.Errorf("column name: %v", err)
	}
	reserved := arrow.NewSchema([]arrow.Field{{Name: "version", Type: arrow.BinaryTypes.String}}, nil)
	if _, err := OpenSink(ctx, SinkConfig{Driver: su.be.driver, DSN: dsn, Table: "s"}, reserved); err == nil {
		t.Errorf("reserved column accepted")
	}
}

// explanationsMatchScores checks that every current explanation row has its
// score row (EXCEPT, not a join: SQLite joins the two views in quadratic
// time) and carries the loaded bias and reasons; want rows are explained.
func (su sinkSuite) explanationsMatchScores(t *testing.T, dsn, want string) {
	t.Helper()
	if got := su.count(t, dsn, "SELECT count(*) FROM (SELECT customer_id, score, version FROM churn_scores_explanations_current EXCEPT SELECT customer_id, score, version FROM churn_scores_current) x"); got != "0" {
		t.Fatalf("%s explanation rows have no score row", got)
	}
	if got := su.count(t, dsn, "SELECT count(*) FROM churn_scores_explanations_current e WHERE e.bias = -1.5 AND (e.reason_1 IS NULL) = (e.customer_id % 4 <> 0)"); got != want {
		t.Fatalf("%s explanation rows have the bias and reasons loaded", got)
	}
}

func (su sinkSuite) testPublishFlipAbort(t *testing.T) {
	ctx := context.Background()
	dsn := su.be.fresh(t)
	s := su.open(t, dsn, 0)
	l := su.load(t, s, "v1", 1000, 2500, 7)
	if got := su.current(t, dsn); got != "0 NULL NULL" {
		t.Fatalf("before publish the view shows %s", got)
	}
	if got := su.explained(t, dsn); got != "0 NULL NULL" {
		t.Fatalf("before publish the explanations' view shows %s", got)
	}
	if err := l.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Abort(ctx); err != nil { // after Publish: nothing
		t.Fatal(err)
	}
	if got := su.current(t, dsn); got != "3507 v1 v1" {
		t.Fatalf("after v1 the view shows %s", got)
	}
	// The even keys are explained: 500 + 1250 + 4, shown by the same flip.
	if got := su.explained(t, dsn); got != "1754 v1 v1" {
		t.Fatalf("after v1 the explanations' view shows %s", got)
	}
	su.explanationsMatchScores(t, dsn, "1754")
	if got := su.count(t, dsn, "SELECT count(DISTINCT customer_id) FROM churn_scores_current"); got != "3507" {
		t.Fatalf("%s distinct keys", got)
	}
	su.publish(t, s, "v2", 10, 20)
	if got := su.current(t, dsn); got != "30 v2 v2" {
		t.Fatalf("after v2 the view shows %s", got)
	}
	if got := su.explained(t, dsn); got != "15 v2 v2" {
		t.Fatalf("after v2 the explanations' view shows %s", got)
	}
	if got := su.count(t, dsn, "SELECT count(*) FROM churn_scores WHERE version = 'v1'"); got != "3507" {
		t.Fatalf("v1 has %s rows left in the table", got)
	}
	reg := su.be.query(t, dsn, "SELECT version, status, "+su.be.q("rows")+", run_id, model_version, CASE WHEN published_at IS NULL THEN 'unpublished' ELSE 'published' END FROM churn_scores_runs ORDER BY version")
	if got, want := fmt.Sprint(reg), "[[v1 superseded 3507 run-v1 churn-1.0 published] [v2 current 30 run-v2 churn-1.0 published]]"; got != want {
		t.Fatalf("registry %s, want %s", got, want)
	}

	// A load that is aborted leaves nothing.
	l = su.load(t, s, "v3", 50)
	if got := su.current(t, dsn); got != "30 v2 v2" {
		t.Fatalf("while v3 is staged the view shows %s", got)
	}
	if got := su.explained(t, dsn); got != "15 v2 v2" {
		t.Fatalf("while v3 is staged the explanations' view shows %s", got)
	}
	if err := l.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Publish(ctx); err == nil {
		t.Fatal("publish after abort")
	}
	if got := su.current(t, dsn); got != "30 v2 v2" {
		t.Fatalf("after abort the view shows %s", got)
	}
	if got := su.count(t, dsn, "SELECT count(*) FROM churn_scores WHERE version = 'v3'"); got != "0" {
		t.Fatalf("v3 left %s rows", got)
	}
	if got := su.count(t, dsn, "SELECT count(*) FROM churn_scores_explanations WHERE version = 'v3'"); got != "0" {
		t.Fatalf("v3 left %s explanation rows", got)
	}
	if got := su.count(t, dsn, "SELECT count(*) FROM churn_scores_runs WHERE version = 'v3'"); got != "0" {
		t.Fatalf("v3 left %s registry rows", got)
	}

	// Aborting with a cancelled context still cleans up.
	l = su.load(t, s, "v4", 5)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.Abort(cctx); err != nil {
		t.Fatal(err)
	}
	if got := su.count(t, dsn, "SELECT count(*) FROM churn_scores_runs WHERE version = 'v4'"); got != "0" {
		t.Fatalf("v4 left %s registry rows", got)
	}

	// A version id is used once; another date has its own current version.
	if _, err := s.Begin(ctx, "v1", suiteDate); err == nil {
		t.Fatal("v1 staged twice")
	}
	l2, err := s.Begin(ctx, "w1", "2026-11-21")
	if err != nil {
		t.Fatal(err)
	}
	rec := resultRecord(t, 0, 3, suiteDate, "x") // rows of another date
	defer rec.Release()
	if err := l2.Write(ctx, rec); err == nil || !strings.Contains(err.Error(), "score_date") {
		t.Fatalf("rows of another date: %v", err)
	}
	if err := l2.Publish(ctx); err == nil {
		t.Fatal("published after a failed write")
	}
	l3, err := s.Begin(ctx, "w2", "2026-11-21")
	if err != nil {
		t.Fatal(err)
	}
	rec3 := explanationsRecord(t, 0, 3, suiteDate, "x") // explanations of another date
	defer rec3.Release()
	if err := l3.WriteSide(ctx, "_explanations", rec3); err == nil || !strings.Contains(err.Error(), "score_date") {
		t.Fatalf("explanations of another date: %v", err)
	}
	if err := l3.Publish(ctx); err == nil {
		t.Fatal("published after a failed side write")
	}
	if err := l3.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l2.Abort(ctx); err != nil {
		t.Fatal(err)
	}
}

func (su sinkSuite) testKeep1DropsOlderVersions(t *testing.T) {
	ctx := context.Background()
	dsn := su.be.fresh(t)
	s := su.open(t, dsn, 1)
	su.publish(t, s, "v1", 10)
	su.publish(t, s, "v2", 20)
	staged := su.load(t, s, "v3", 5) // in flight: retention leaves it alone
	su.publish(t, s, "v4", 40)
	if got := su.current(t, dsn); got != "40 v4 v4" {
		t.Fatalf("view %s", got)
	}
	// PostgreSQL keeps a load's rows in its uncommitted COPY
	// transaction; SQLite commits them under the staged version.
	// MySQL, too.
	want := map[string]string{"postgres": "[[v4 40]]", "sqlite": "[[v3 5] [v4 40]]", "mysql": "[[v3 5] [v4 40]]"}[su.be.driver]
	if got := fmt.Sprint(su.be.query(t, dsn, "SELECT version, count(*) FROM churn_scores GROUP BY version ORDER BY version")); got != want {
		t.Fatalf("table holds %s", got)
	}
	want = map[string]string{"postgres": "[[v4 20]]", "sqlite": "[[v3 3] [v4 20]]", "mysql": "[[v3 3] [v4 20]]"}[su.be.driver]
	if got := fmt.Sprint(su.be.query(t, dsn, "SELECT version, count(*) FROM churn_scores_explanations GROUP BY version ORDER BY version")); got != want {
		t.Fatalf("explanations table holds %s", got)
	}
	if got := fmt.Sprint(su.be.query(t, dsn, "SELECT version, status FROM churn_scores_runs ORDER BY version")); got != "[[v3 staged] [v4 current]]" {
		t.Fatalf("registry holds %s", got)
	}
	if err := staged.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	if got := su.current(t, dsn); got != "5 v3 v3" {
		t.Fatalf("view %s", got)
	}
}

func (su sinkSuite) testNullsInEveryType(t *testing.T) {
	testSinkNulls(t, su.be)
}

// allTypesSchema has one column of every Arrow type the sink writes.
var allTypesSchema = arrow.NewSchema([]arrow.Field{
	{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
	{Name: "i16", Type: arrow.PrimitiveTypes.Int16, Nullable: true},
	{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "i64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "u8", Type: arrow.PrimitiveTypes.Uint8, Nullable: true},
	{Name: "u16", Type: arrow.PrimitiveTypes.Uint16, Nullable: true},
	{Name: "u32", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
	{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
	{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "ls", Type: arrow.BinaryTypes.LargeString, Nullable: true},
	{Name: "ds", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}, Nullable: true},
	{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "d32", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	{Name: "d64", Type: arrow.FixedWidthTypes.Date64, Nullable: true},
	{Name: "tsz", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond}, Nullable: true},
	{Name: "score_date", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
}, nil)

func testSinkNulls(t *testing.T, be sinkBackend) {
	ctx := context.Background()
	dsn := be.fresh(t)
	s, err := OpenSink(ctx, SinkConfig{Driver: be.driver, DSN: dsn, Table: "all_types"}, allTypesSchema)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := array.NewRecordBuilder(memory.DefaultAllocator, allTypesSchema)
	defer b.Release()
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	ts := time.Date(2026, 11, 20, 13, 14, 15, 123456000, time.UTC)
	b.Field(0).(*array.Int8Builder).Append(-8)
	b.Field(1).(*array.Int16Builder).Append(-16)
	b.Field(2).(*array.Int32Builder).Append(-32)
	b.Field(3).(*array.Int64Builder).Append(-1 << 40)
	b.Field(4).(*array.Uint8Builder).Append(255)
	b.Field(5).(*array.Uint16Builder).Append(65535)
	b.Field(6).(*array.Uint32Builder).Append(4294967295)
	b.Field(7).(*array.Float32Builder).Append(0.5)
	b.Field(8).(*array.Float64Builder).Append(0.25)
	b.Field(9).(*array.BooleanBuilder).Append(true)
	b.Field(10).(*array.StringBuilder).Append("tab\there, quote ' \" \\ and é")
	b.Field(11).(*array.LargeStringBuilder).Append("large")
	if err := b.Field(12).(*array.BinaryDictionaryBuilder).AppendString("dict"); err != nil {
		t.Fatal(err)
	}
	b.Field(13).(*array.BinaryBuilder).Append([]byte("bytes"))
	b.Field(14).(*array.Date32Builder).Append(arrow.Date32FromTime(day))
	b.Field(15).(*array.Date64Builder).Append(arrow.Date64FromTime(day))
	b.Field(16).(*array.TimestampBuilder).Append(arrow.Timestamp(ts.UnixMicro()))
	b.Field(17).(*array.TimestampBuilder).Append(arrow.Timestamp(ts.UnixMilli()))
	b.Field(18).(*array.Date32Builder).Append(arrow.Date32FromTime(day))
	for _, f := range b.Fields() {
		f.AppendNull()
	}
	rec := b.NewRecord()
	defer rec.Release()
	l, err := s.Begin(ctx, "v1", "2026-11-20")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Write(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := l.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, f := range allTypesSchema.Fields() {
		cols = append(cols, f.Name)
	}
	rows := be.query(t, dsn, "SELECT "+strings.Join(cols, ", ")+" FROM all_types_current ORDER BY CASE WHEN i8 IS NULL THEN 1 ELSE 0 END")
	if len(rows) != 2 {
		t.Fatalf("%d rows", len(rows))
	}
	for i, v := range rows[1] {
		if v != "NULL" {
			t.Errorf("column %s of the null row is %q", cols[i], v)
		}
	}
	want := map[string]string{
		"postgres": "-8 -16 -32 -1099511627776 255 65535 4294967295 0.5 0.25 true tab\there, quote ' \" \\ and é large dict bytes 2026-11-20 2026-11-20 2026-11-20T13:14:15.123456Z 2026-11-20T13:14:15.123Z 2026-11-20",
		"mysql":    "-8 -16 -32 -1099511627776 255 65535 4294967295 0.5 0.25 1 tab\there, quote ' \" \\ and é large dict bytes 2026-11-20 2026-11-20 2026-11-20T13:14:15.123456Z 2026-11-20T13:14:15.123Z 2026-11-20",
		"sqlite":   "-8 -16 -32 -1099511627776 255 65535 4294967295 0.5 0.25 1 tab\there, quote ' \" \\ and é large dict bytes 2026-11-20 2026-11-20 2026-11-20T13:14:15.123456Z 2026-11-20T13:14:15.123Z 2026-11-20",
	}[be.driver]
	if got := strings.Join(rows[0], " "); got != want {
		t.Errorf("values\n got %s\nwant %s", got, want)
	}
	if be.driver == "sqlite" { // the text SQLite stores (the driver parses it back into time.Time)
		got := strings.Join(be.query(t, dsn, "SELECT CAST(d32 AS TEXT), CAST(tsz AS TEXT), CAST(ts AS TEXT), CAST(scored_at AS TEXT) LIKE '____-__-__ __:__:__.______Z' FROM all_types WHERE i8 = -8")[0], " ")
		if want := "2026-11-20 2026-11-20 13:14:15.123456Z 2026-11-20 13:14:15.123000 1"; got != want {
			t.Errorf("stored text %s, want %s", got, want)
		}
	}
}

// TestSinkRecordsTheNamedModelVersion: the registry records the model
// version the run names, not the first row's (a canary's rows carry the
// challenger's), and the first row's when none is named.
func TestSinkRecordsTheNamedModelVersion(t *testing.T) {
	ctx := context.Background()
	be := sqliteBackend()
	dsn := be.fresh(t)
	s, err := OpenSink(ctx, SinkConfig{Driver: be.driver, DSN: dsn, Table: "churn_scores", Keep: 2}, resultSchema)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, v := range []struct{ version, named string }{{"v1", "champion-2.0"}, {"v2", ""}} {
		l, err := s.Begin(ctx, v.version, suiteDate)
		if err != nil {
			t.Fatal(err)
		}
		if v.named != "" {
			l.SetModelVersion(v.named)
		}
		rec := resultRecord(t, 0, 10, suiteDate, "run-"+v.version) // every row says churn-1.0
		err = l.Write(ctx, rec)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Publish(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := fmt.Sprint(be.query(t, dsn, "SELECT version, model_version FROM churn_scores_runs ORDER BY version"))
	if got != "[[v1 champion-2.0] [v2 churn-1.0]]" {
		t.Fatalf("registry %s", got)
	}
}
