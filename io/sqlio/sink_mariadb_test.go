package sqlio

import (
	"context"
	"errors"
	"strings"
	"testing"

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
