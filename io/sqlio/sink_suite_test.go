package sqlio

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/internal/crashpoint"
)

// The suite's tests beyond the first ones in sink_test.go: the same
// assertions on every backend, with the answers that differ per database
// spelled out next to each other.

// publishRecord stages rec as version of suiteDate and publishes it.
func publishRecord(t *testing.T, s *Sink, version string, rec arrow.Record) {
	t.Helper()
	ctx := context.Background()
	l, err := s.Begin(ctx, version, suiteDate)
	if err == nil {
		err = l.Write(ctx, rec)
	}
	if err == nil {
		err = l.Publish(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// testDecimals: a decimal128(p, s) column lands in the database's exact
// decimal (SQLite: TEXT holding the exact decimal), and an existing column
// of another scale is rejected.
func (su sinkSuite) testDecimals(t *testing.T) {
	ctx := context.Background()
	dsn := su.be.fresh(t)
	schema, rec := decimalRecord(t)
	defer rec.Release()
	s, err := OpenSink(ctx, SinkConfig{Driver: su.be.driver, DSN: dsn, Table: "amounts"}, schema)
	if err != nil {
		t.Fatal(err)
	}
	publishRecord(t, s, "v1", rec)
	s.Close()
	var rows [][]string
	var want [][]string
	switch su.be.driver {
	case "postgres":
		rows = su.be.query(t, dsn, "SELECT coalesce(amount::text, 'NULL'), format_type(atttypid, atttypmod) FROM amounts_current, pg_attribute WHERE attrelid = 'amounts'::regclass AND attname = 'amount' ORDER BY amount NULLS LAST")
		want = [][]string{{"-0.0001", "numeric(20,4)"}, {"0.0000", "numeric(20,4)"}, {"1234567890123456.7891", "numeric(20,4)"}, {"NULL", "numeric(20,4)"}}
	case "mysql":
		rows = su.be.query(t, dsn, "SELECT coalesce(CAST(amount AS CHAR), 'NULL'), c.COLUMN_TYPE FROM amounts_current, information_schema.COLUMNS c"+
			" WHERE c.TABLE_SCHEMA = DATABASE() AND c.TABLE_NAME = 'amounts' AND c.COLUMN_NAME = 'amount' ORDER BY amount IS NULL, amount")
		want = [][]string{{"-0.0001", "decimal(20,4)"}, {"0.0000", "decimal(20,4)"}, {"1234567890123456.7891", "decimal(20,4)"}, {"NULL", "decimal(20,4)"}}
	default: // SQLite has no decimal type: the exact text
		rows = su.be.query(t, dsn, "SELECT coalesce(amount, 'NULL'), typeof(amount) FROM amounts WHERE version = 'v1' ORDER BY rowid")
		want = [][]string{{"1234567890123456.7891", "text"}, {"-0.0001", "text"}, {"0.0000", "text"}, {"NULL", "null"}}
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("rows %v, want %v", rows, want)
	}
	if su.be.driver == "sqlite" {
		return // TEXT either way
	}
	other := arrow.NewSchema([]arrow.Field{{Name: "amount", Type: &arrow.Decimal128Type{Precision: 20, Scale: 2}, Nullable: true}, schema.Field(1)}, nil)
	_, err = OpenSink(ctx, SinkConfig{Driver: su.be.driver, DSN: dsn, Table: "amounts"}, other)
	msg := map[string]string{
		"postgres": `column "amount" is numeric(20,4), the result needs numeric(20,2)`,
		"mysql":    `column "amount" is decimal(20,4), the result needs decimal(20,2)`,
	}[su.be.driver]
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), msg) {
		t.Errorf("another scale: %v", err)
	}
}

// unicodeTexts are strings every backend must keep byte for byte: accents,
// scripts beyond Latin-1, emoji outside the Basic Multilingual Plane (4
// bytes in UTF-8), a combining accent, quotes and backslashes.
var unicodeTexts = []string{"naïve café", "日本語のテキスト", "Ελληνικά", "party 🎉👍🏽", "e\u0301", "quote ' \" ` \\ end", "", "tab\tnew\nline"}

// testUnicodeStrings writes unicodeTexts and reads them back from the view.
func (su sinkSuite) testUnicodeStrings(t *testing.T) {
	ctx := context.Background()
	dsn := su.be.fresh(t)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "score_date", Type: arrow.FixedWidthTypes.Date32},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	day := arrow.Date32FromTime(time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC))
	for i, s := range unicodeTexts {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.StringBuilder).Append(s)
		b.Field(2).(*array.Date32Builder).Append(day)
	}
	rec := b.NewRecord()
	defer rec.Release()
	s, err := OpenSink(ctx, SinkConfig{Driver: su.be.driver, DSN: dsn, Table: "texts"}, schema)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	publishRecord(t, s, "v1", rec)
	rows := su.be.query(t, dsn, "SELECT s FROM texts_current ORDER BY i")
	if len(rows) != len(unicodeTexts) {
		t.Fatalf("%d rows, want %d", len(rows), len(unicodeTexts))
	}
	for i, r := range rows {
		if r[0] != unicodeTexts[i] {
			t.Errorf("row %d: %q, want %q", i, r[0], unicodeTexts[i])
		}
	}
	// Lookups by such a value find it (the comparison is on the text as
	// written, not on a lossy conversion).
	if n := su.count(t, dsn, "SELECT count(*) FROM texts_current WHERE s = "+su.be.ph(1), "party 🎉👍🏽"); n != "1" {
		t.Errorf("lookup of an emoji string: %s rows", n)
	}
}

// testQuotedIdentifiers: reserved words and mixed case as table and column
// names, and a schema-qualified table, work in every statement the sink
// runs (DDL, COPY or INSERT, the registry, the view).
func (su sinkSuite) testQuotedIdentifiers(t *testing.T) {
	ctx := context.Background()
	dsn := su.be.fresh(t)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "select", Type: arrow.PrimitiveTypes.Int64},
		{Name: "rows", Type: arrow.PrimitiveTypes.Float64},
		{Name: "Key", Type: arrow.BinaryTypes.String},
		{Name: "score_date", Type: arrow.FixedWidthTypes.Date32},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	day := arrow.Date32FromTime(time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC))
	for i := range 3 {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.Float64Builder).Append(float64(i) / 2)
		b.Field(2).(*array.StringBuilder).Append(fmt.Sprint("k", i))
		b.Field(3).(*array.Date32Builder).Append(day)
	}
	rec := b.NewRecord()
	defer rec.Release()
	schemaName := su.otherSchema(t, dsn)
	for _, table := range []string{"order", "Mixed_Case", schemaName + ".group"} {
		t.Run(table, func(t *testing.T) {
			s, err := OpenSink(ctx, SinkConfig{Driver: su.be.driver, DSN: dsn, Table: table, Keep: 1}, schema)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			publishRecord(t, s, "v1", rec)
			publishRecord(t, s, "v2", rec) // and keep 1 drops v1
			id, _ := ParseIdent(table)
			view := su.be.q(id.Name + suffixCurrent)
			if id.Schema != "" {
				view = su.be.q(id.Schema) + "." + view
			}
			got := su.be.query(t, dsn, "SELECT "+su.be.q("select")+", "+su.be.q("rows")+", "+su.be.q("Key")+", version FROM "+view+" ORDER BY "+su.be.q("select"))
			if want := "[[0 0 k0 v2] [1 0.5 k1 v2] [2 1 k2 v2]]"; fmt.Sprint(got) != want {
				t.Errorf("view %s holds %v, want %s", view, got, want)
			}
			if c, err := OwnSink(ctx, SinkConfig{Driver: su.be.driver, DSN: dsn, Table: table}, "job", "job.yaml", OwnClaim); err != nil || !c.Claimed || !c.Adopted {
				t.Errorf("claim of %s: %+v %v", table, c, err)
			}
		})
	}
}

// otherSchema is a schema (PostgreSQL), a database (MySQL) or an attached
// name (SQLite's main) next to the test's own, for a qualified table name.
func (su sinkSuite) otherSchema(t *testing.T, dsn string) string {
	switch su.be.driver {
	case "postgres":
		su.be.query(t, dsn, "CREATE SCHEMA analytics")
		return "analytics"
	case "mysql":
		// The DSN's user may create databases; name it after the test's own.
		db := su.be.query(t, dsn, "SELECT DATABASE()")[0][0] + "_analytics"
		su.be.query(t, dsn, "CREATE DATABASE "+db)
		t.Cleanup(func() { su.be.query(t, dsn, "DROP DATABASE "+db) })
		return db
	}
	return "main"
}

// testReopenAndRerun: a second sink over the objects the first created
// runs no DDL and publishes; a version id is used once, and reusing it is
// an error no retry changes.
func (su sinkSuite) testReopenAndRerun(t *testing.T) {
	ctx := context.Background()
	dsn := su.be.fresh(t)
	first, err := OpenSink(ctx, SinkConfig{Driver: su.be.driver, DSN: dsn, Table: "churn_scores"}, resultSchema)
	if err != nil {
		t.Fatal(err)
	}
	su.publish(t, first, "v1", 10)
	first.Close()
	s := su.open(t, dsn, 0)
	su.publish(t, s, "v2", 20)
	if got := su.current(t, dsn); got != "20 v2 v2" {
		t.Fatalf("view %s", got)
	}
	for _, v := range []string{"v1", "v2"} {
		_, err := s.Begin(ctx, v, suiteDate)
		if err == nil || !errors.Is(Classify(err), ErrRejected) {
			t.Errorf("staging %s again: %v, want ErrRejected", v, err)
		}
	}
	if got := fmt.Sprint(su.be.query(t, dsn, "SELECT version, status FROM churn_scores_runs ORDER BY version")); got != "[[v1 superseded] [v2 current]]" {
		t.Errorf("registry %s", got)
	}
}

// testConcurrentPublishers: runs publishing the same date at once (each
// with its own sink, as separate processes would) all succeed, and the
// date ends with exactly one current version, shown whole.
func (su sinkSuite) testConcurrentPublishers(t *testing.T) {
	ctx := context.Background()
	dsn := su.be.fresh(t)
	su.open(t, dsn, 0) // create the objects first: concurrent creation is another matter
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		s := su.open(t, dsn, 0)
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := s.Begin(ctx, fmt.Sprint("c", i), suiteDate)
			if err != nil {
				errs[i] = err
				return
			}
			defer l.Abort(ctx)
			for b := range 3 {
				rec := resultRecord(t, b*100, 100+i, suiteDate, fmt.Sprint("run-c", i))
				err = l.Write(ctx, rec)
				rec.Release()
				if err != nil {
					errs[i] = err
					return
				}
			}
			errs[i] = l.Publish(ctx)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("publisher c%d: %v", i, err)
		}
	}
	reg := su.be.query(t, dsn, "SELECT version, "+su.be.q("rows")+" FROM churn_scores_runs WHERE status = 'current'")
	if len(reg) != 1 {
		t.Fatalf("current versions %v, want one", reg)
	}
	want := fmt.Sprintf("%s %s %s", reg[0][1], reg[0][0], reg[0][0])
	if got := su.current(t, dsn); got != want {
		t.Errorf("view %s, want %s", got, want)
	}
	if got := su.count(t, dsn, "SELECT count(*) FROM churn_scores_runs WHERE status = 'superseded'"); got != fmt.Sprint(n-1) {
		t.Errorf("%s superseded versions, want %d", got, n-1)
	}
}

// crashHelperEnv passes the crash test's work to the helper process.
const crashHelperEnv = "SQLIO_SINK_CRASH_HELPER"

// TestSinkCrashHelperProcess is the process testCrashLeavesNothingVisible
// kills at a crash point: it publishes version "killed" of 3 records.
func TestSinkCrashHelperProcess(t *testing.T) {
	spec := os.Getenv(crashHelperEnv)
	if spec == "" {
		t.Skip("run by the sink suite's crash test")
	}
	driver, dsn, ok := strings.Cut(spec, " ")
	if !ok {
		t.Fatalf("%s=%q", crashHelperEnv, spec)
	}
	s, err := OpenSink(context.Background(), SinkConfig{Driver: driver, DSN: dsn, Table: "churn_scores"}, resultSchema)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sinkSuite{}.publish(t, s, "killed", 100, 100, 100)
	fmt.Println("published")
}

// testCrashLeavesNothingVisible kills a process at each crash point of the
// sink's load and publish: the view still shows the previous version whole,
// the killed version is never current, and the next publish works.
func (su sinkSuite) testCrashLeavesNothingVisible(t *testing.T) {
	points := []string{"sql-copy:1", "sql-copy:3", "sql-flip"}
	if su.be.driver == "postgres" {
		points = append(points, "sql-commit") // the COPY transaction's commit
	}
	for _, point := range points {
		t.Run(point, func(t *testing.T) {
			dsn := su.be.fresh(t)
			s := su.open(t, dsn, 0)
			su.publish(t, s, "v1", 250)
			cmd := exec.Command(os.Args[0], "-test.run=^TestSinkCrashHelperProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), crashHelperEnv+"="+su.be.driver+" "+dsn, crashpoint.Env+"="+point)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() {
				t.Fatalf("the helper was not killed at %s: %v\n%s", point, err, out)
			}
			if got := su.current(t, dsn); got != "250 v1 v1" {
				t.Fatalf("after a kill at %s the view shows %s", point, got)
			}
			if got := su.count(t, dsn, "SELECT count(*) FROM churn_scores_runs WHERE status <> 'staged' AND version = 'killed'"); got != "0" {
				t.Fatalf("the killed version is in the registry as published")
			}
			su.publish(t, s, "v2", 30)
			if got := su.current(t, dsn); got != "30 v2 v2" {
				t.Fatalf("after the kill, the next publish shows %s", got)
			}
		})
	}
}

// testConcurrentFirstClaims: jobs claiming a new table at once: one wins,
// every other is refused as another job's table (ErrOwner), never with
// the database's error of the race (MySQL has no lock around a first
// claim: the loser hits the owner row's key and looks again).
func (su sinkSuite) testConcurrentFirstClaims(t *testing.T) {
	ctx := context.Background()
	dsn := su.be.fresh(t)
	cfg := SinkConfig{Driver: su.be.driver, DSN: dsn, Table: "claimed"}
	const n = 4
	var wg sync.WaitGroup
	claims := make([]SinkClaim, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			job := fmt.Sprint("job", i)
			claims[i], errs[i] = OwnSink(ctx, cfg, job, job+".yaml", OwnClaim)
		}()
	}
	wg.Wait()
	winners := 0
	for i, err := range errs {
		switch {
		case err == nil && claims[i].Claimed && claims[i].Owner == fmt.Sprint("job", i):
			winners++
		case !errors.Is(err, ErrOwner):
			t.Errorf("job%d: %+v %v, want the claim or ErrOwner", i, claims[i], err)
		}
	}
	if winners != 1 {
		t.Errorf("%d jobs claimed the table, want 1", winners)
	}
	if got := su.be.query(t, dsn, "SELECT count(*) FROM claimed_owner"); got[0][0] != "1" {
		t.Errorf("%s owner rows", got[0][0])
	}
}

// testNonFiniteFloats pins what each database makes of NaN and infinity in
// a float result column (the README lists it): PostgreSQL keeps both,
// SQLite keeps infinity and stores NaN as NULL, MySQL refuses both as a
// data exception.
func (su sinkSuite) testNonFiniteFloats(t *testing.T) {
	ctx := context.Background()
	dsn := su.be.fresh(t)
	schema := arrow.NewSchema([]arrow.Field{{Name: "i", Type: arrow.PrimitiveTypes.Int64}, {Name: "f", Type: arrow.PrimitiveTypes.Float64}, {Name: "score_date", Type: arrow.FixedWidthTypes.Date32}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	day := arrow.Date32FromTime(time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC))
	for i, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.Float64Builder).Append(f)
		b.Field(2).(*array.Date32Builder).Append(day)
	}
	rec := b.NewRecord()
	defer rec.Release()
	s, err := OpenSink(ctx, SinkConfig{Driver: su.be.driver, DSN: dsn, Table: "floats"}, schema)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l, err := s.Begin(ctx, "v1", suiteDate)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Abort(ctx)
	err = l.Write(ctx, rec)
	if su.be.driver == "mysql" {
		if !errors.Is(Classify(err), ErrDataException) {
			t.Fatalf("NaN into MySQL: %v, want ErrDataException", err)
		}
		return
	}
	if err == nil {
		err = l.Publish(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(su.be.query(t, dsn, "SELECT f FROM floats_current ORDER BY i"))
	want := map[string]string{"postgres": "[[NaN] [+Inf] [-Inf]]", "sqlite": "[[NULL] [+Inf] [-Inf]]"}[su.be.driver]
	if got != want {
		t.Errorf("stored %s, want %s", got, want)
	}
}
