package sqlio

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/internal/testkit/mariadbtest"
)

// TestSinkGrantsMariaDB checks the README's MySQL grants on a real server:
// a user with the first-run grants on the database creates every object,
// claims the table and publishes; a user with only the later-run grants on
// the four objects publishes; without INSERT the publish is rejected,
// naming the table.
func TestSinkGrantsMariaDB(t *testing.T) {
	ctx := context.Background()
	dsn := mariadbtest.DSN(t)
	db := dsn[strings.LastIndex(dsn, "/")+1:]
	const date = "2026-11-20"
	publish := func(dsn, version string) error {
		cfg := SinkConfig{Driver: "mysql", DSN: dsn, Table: "churn_scores"}
		if _, err := OwnSink(ctx, cfg, "churn", "churn.yaml", OwnClaim); err != nil {
			return err
		}
		s, err := OpenSink(ctx, cfg, resultSchema)
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
	mariadbtest.Exec(t, dsn,
		"CREATE USER sink_creator@'%'",
		"GRANT CREATE, CREATE VIEW, INDEX, SELECT, INSERT, UPDATE, DELETE ON "+db+".* TO sink_creator@'%'",
		"CREATE USER sink_writer@'%'",
	)
	t.Cleanup(func() { mariadbtest.Exec(t, dsn, "DROP USER sink_creator@'%'", "DROP USER sink_writer@'%'") })
	if err := publish(strings.Replace(dsn, "root@", "sink_creator@", 1), "v1"); err != nil {
		t.Fatalf("the first run with the first-run grants: %v", err)
	}
	mariadbtest.Exec(t, dsn,
		"GRANT SELECT, INSERT, UPDATE, DELETE ON "+db+".churn_scores TO sink_writer@'%'",
		"GRANT SELECT, INSERT, UPDATE, DELETE ON "+db+".churn_scores_runs TO sink_writer@'%'",
		"GRANT SELECT ON "+db+".churn_scores_current TO sink_writer@'%'",
		"GRANT SELECT ON "+db+".churn_scores_owner TO sink_writer@'%'",
	)
	writer := strings.Replace(dsn, "root@", "sink_writer@", 1)
	if err := publish(writer, "v2"); err != nil {
		t.Fatalf("a later run with the later-run grants: %v", err)
	}
	rows := mariadbBackend().query(t, dsn, "SELECT version FROM churn_scores_runs WHERE status = 'current'")
	if len(rows) != 1 || rows[0][0] != "v2" {
		t.Errorf("current versions %v, want v2", rows)
	}
	mariadbtest.Exec(t, dsn, "REVOKE INSERT ON "+db+".churn_scores FROM sink_writer@'%'")
	err := Classify(publish(writer, "v3"))
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "churn_scores") {
		t.Errorf("without INSERT: %v, want ErrRejected naming the table", err)
	}
}

// TestSinkLatin1TableMariaDB: a table a DBA created in latin1 is used as
// it is; a string it cannot hold is the database's data exception (exit
// 3), naming the column, and nothing is published.
func TestSinkLatin1TableMariaDB(t *testing.T) {
	ctx := context.Background()
	dsn := mariadbtest.DSN(t)
	mariadbtest.Exec(t, dsn, "CREATE TABLE texts (i BIGINT, s TEXT, score_date DATE, version VARCHAR(64) NOT NULL, scored_at DATETIME(6) NOT NULL) DEFAULT CHARSET=latin1")
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: arrow.BinaryTypes.String},
		{Name: "score_date", Type: arrow.FixedWidthTypes.Date32},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).Append(1)
	b.Field(1).(*array.StringBuilder).Append("日本語")
	b.Field(2).(*array.Date32Builder).Append(arrow.Date32FromTime(time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)))
	rec := b.NewRecord()
	defer rec.Release()
	s, err := OpenSink(ctx, SinkConfig{Driver: "mysql", DSN: dsn, Table: "texts"}, schema)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l, err := s.Begin(ctx, "v1", "2026-11-20")
	if err != nil {
		t.Fatal(err)
	}
	err = Classify(l.Write(ctx, rec))
	if !errors.Is(err, ErrDataException) || !strings.Contains(err.Error(), "`s`") {
		t.Errorf("a string latin1 cannot hold: %v, want ErrDataException naming column s", err)
	}
	if err := l.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if got := mariadbBackend().query(t, dsn, "SELECT count(*) FROM texts_runs"); got[0][0] != "0" {
		t.Errorf("%s registry rows left", got[0][0])
	}
}
