package sqlio

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/decimal128"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/internal/testkit/pgtest"
)

// TestSinkLimitedRole: once the tables exist, a role with only SELECT,
// INSERT, UPDATE and DELETE on them (not their owner, no CREATE on the
// schema) publishes: the sink runs no DDL on what exists. A missing grant
// is rejected, naming the table.
func TestSinkLimitedRole(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	const date = "2026-11-20"
	publish := func(dsn, version string) error {
		s, err := OpenSink(ctx, SinkConfig{Driver: "postgres", DSN: dsn, Table: "churn_scores"}, resultSchema)
		if err != nil {
			return err
		}
		defer s.Close()
		l, err := s.Begin(ctx, version, date)
		if err != nil {
			return err
		}
		defer l.Abort(ctx)
		rec := resultRecord(t, 0, 10, date, version)
		defer rec.Release()
		if err := l.Write(ctx, rec); err != nil {
			return err
		}
		return l.Publish(ctx)
	}
	if err := publish(dsn, "v1"); err != nil {
		t.Fatal(err)
	}
	role := "sink_writer"
	pgtest.Exec(t, dsn,
		"CREATE ROLE "+role+" LOGIN",
		"REVOKE CREATE ON SCHEMA public FROM PUBLIC",
		"GRANT USAGE ON SCHEMA public TO "+role,
		"GRANT SELECT, INSERT, UPDATE, DELETE ON churn_scores, churn_scores_runs TO "+role,
	)
	t.Cleanup(func() { pgtest.Exec(t, dsn, "DROP OWNED BY "+role, "DROP ROLE "+role) })
	limited := strings.Replace(dsn, "postgres@", role+"@", 1)
	if err := publish(limited, "v2"); err != nil {
		t.Fatalf("the limited role: %v", err)
	}
	rows := pgQuery(t, dsn, "SELECT version FROM churn_scores_runs WHERE status = 'current'")
	if len(rows) != 1 || rows[0][0] != "v2" {
		t.Errorf("current versions %v, want v2", rows)
	}
	pgtest.Exec(t, dsn, "REVOKE INSERT ON churn_scores FROM "+role)
	err := Classify(publish(limited, "v3"))
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "churn_scores") {
		t.Errorf("without INSERT: %v, want ErrRejected naming the table", err)
	}
}

// decimalRecord is a decimal128(20, 4) column "amount" with a large, a
// small negative, a zero and a null value, all of score_date 2026-11-20.
func decimalRecord(t *testing.T) (*arrow.Schema, arrow.Record) {
	t.Helper()
	dec := &arrow.Decimal128Type{Precision: 20, Scale: 4}
	schema := arrow.NewSchema([]arrow.Field{{Name: "amount", Type: dec, Nullable: true}, {Name: "score_date", Type: arrow.FixedWidthTypes.Date32}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	day := arrow.Date32FromTime(time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC))
	for _, v := range []string{"1234567890123456.7891", "-0.0001", "0"} {
		n, err := decimal128.FromString(v, dec.Precision, dec.Scale)
		if err != nil {
			t.Fatal(err)
		}
		b.Field(0).(*array.Decimal128Builder).Append(n)
		b.Field(1).(*array.Date32Builder).Append(day)
	}
	b.Field(0).AppendNull()
	b.Field(1).(*array.Date32Builder).Append(day)
	return schema, b.NewRecord()
}

// TestDDLByObject: each CREATE goes with the object it creates, in every
// dialect, so that an existing table gets none of them.
func TestDDLByObject(t *testing.T) {
	for _, d := range []sinkDialect{sinkPostgres, sinkSQLite, sinkMySQL} {
		for _, name := range []string{"churn_scores", "analytics.churn_scores"} {
			id, err := ParseIdent(name)
			if err != nil {
				t.Fatal(err)
			}
			cols, err := resultColumns(d, resultSchema)
			if err != nil {
				t.Fatal(err)
			}
			n := sinkNames{Table: id, Runs: id.WithSuffix(suffixRuns), View: id.WithSuffix(suffixCurrent), d: d}
			table, runs := n.ddlByObject(cols)
			if len(table)+len(runs) != len(n.createStatements(cols)) {
				t.Fatalf("%s %s: statements lost", d, name)
			}
			for _, stmt := range table {
				if strings.Contains(stmt, suffixRuns) {
					t.Errorf("%s %s: the table's DDL touches the registry: %s", d, name, stmt)
				}
			}
			for _, stmt := range runs {
				if !strings.Contains(stmt, suffixRuns) {
					t.Errorf("%s %s: the registry's DDL: %s", d, name, stmt)
				}
			}
			if len(table) == 0 || len(runs) == 0 || (d != sinkMySQL && (len(table) != 2 || len(runs) != 2)) {
				t.Errorf("%s %s: %d table and %d registry statements", d, name, len(table), len(runs))
			}
		}
	}
}
