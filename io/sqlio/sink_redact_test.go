package sqlio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
)

// closedPort is a TCP port on 127.0.0.1 nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func TestSinkErrorsHidePassword(t *testing.T) {
	const pw = "Sup3r-S3cret_pw"
	port := closedPort(t)
	tests := []struct{ name, driver, dsn string }{
		{"postgres url", "postgres", fmt.Sprintf("postgres://scorer:%s@127.0.0.1:%d/scores?sslmode=disable&connect_timeout=2", pw, port)},
		{"postgres keywords", "postgres", fmt.Sprintf("host=127.0.0.1 port=%d user=scorer password=%s dbname=scores sslmode=disable connect_timeout=2", port, pw)},
		{"postgres quoted keyword", "postgres", fmt.Sprintf("host=127.0.0.1 port=%d user=scorer password='%s' sslmode=disable connect_timeout=2", port, pw)},
		{"postgres unparsable", "postgres", fmt.Sprintf("postgres://scorer:%s@127.0.0.1:notaport/scores", pw)},
		{"mysql", "mysql", fmt.Sprintf("scorer:%s@tcp(127.0.0.1:%d)/scores?timeout=2s", pw, port)},
		{"mysql unparsable", "mysql", fmt.Sprintf("scorer:%s@tcp(127.0.0.1:%d/scores?timeout=2s", pw, port)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := OpenSink(ctx, SinkConfig{Driver: tt.driver, DSN: tt.dsn, Table: "churn_scores"}, resultSchema)
			if err == nil {
				t.Fatal("no error from a closed port")
			}
			if msg := fmt.Sprintf("%v %+v %#v", err, err, err.Error()); strings.Contains(msg, pw) {
				t.Fatalf("error shows the password: %s", msg)
			}
			t.Log(err)
		})
	}
}

func TestRedactError(t *testing.T) {
	dsn := "postgres://u:p%40ss%2Fw0rd@db.example/x"
	secrets := dsnSecrets(sinkPostgres, dsn)
	inner := fmt.Errorf("cannot parse %s (password p@ss/w0rd): %w", dsn, context.DeadlineExceeded)
	err := redactError(inner, secrets)
	if strings.Contains(err.Error(), "w0rd") {
		t.Fatalf("not redacted: %s", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("errors.Is lost")
	}
	if errors.Unwrap(err) != nil {
		t.Fatal("Unwrap reaches the unredacted error")
	}
	if redactError(nil, secrets) != nil {
		t.Fatal("nil error")
	}
	if got := dsnSecrets(sinkMySQL, "u:my pw@tcp(h:3306)/d"); !slices.Contains(got, "my pw") {
		t.Fatalf("mysql secrets %q", got)
	}
}

// A DSN no parser accepts still gives up its password for masking, in
// every form an error could show it.
func TestSecretsOfUnparsableDSN(t *testing.T) {
	tests := []struct{ dsn, shown string }{
		{"postgres://scorer:p%40ss-w0rd@127.0.0.1:notaport/scores", "p%40ss-w0rd p@ss-w0rd"},
		{"postgres://scorer:p%40ss-w0rd@[::1:bad/scores", "p%40ss-w0rd p@ss-w0rd"},
		{"postgres://scorer:p%ZZss-w0rd@127.0.0.1/scores", "p%ZZss-w0rd"},
	}
	for _, tc := range tests {
		inner := fmt.Sprintf("cannot parse %s (%s)", tc.dsn, tc.shown)
		for _, d := range []sinkDialect{sinkPostgres, sinkMySQL} {
			secrets := dsnSecrets(d, tc.dsn)
			if msg := redactError(errors.New(inner), secrets).Error(); strings.Contains(msg, "w0rd") {
				t.Errorf("%s: %q shows the password (secrets %q)", tc.dsn, msg, secrets)
			}
		}
		if msg := redact(inner, tc.dsn); strings.Contains(msg, "w0rd") {
			t.Errorf("source: %q shows the password", msg)
		}
	}
}

// TestMySQLSQL checks the statements the MySQL dialect generates; the
// conformance suite runs them on a MariaDB server.
func TestMySQLSQL(t *testing.T) {
	cols, err := resultColumns(sinkMySQL, resultSchema)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := ParseIdent("analytics.churn_scores")
	n := sinkNames{Table: id, Runs: id.WithSuffix(suffixRuns), View: id.WithSuffix(suffixCurrent), d: sinkMySQL}
	got := append(n.createStatements(cols), n.createView(cols), n.insertRows(cols, 2), n.stageRun(), n.lockRun(), n.lockDate(), n.supersede(), n.makeCurrent(), n.publishedVersions(), n.deleteRows(), n.deleteRun(), n.catalogColumns())
	want := []string{
		"CREATE TABLE IF NOT EXISTS `analytics`.`churn_scores` (`customer_id` BIGINT, `score` DOUBLE, `label` BIGINT, `flags` TEXT, `score_date` DATE, `run_id` TEXT, `model_version` TEXT, `version` VARCHAR(64) NOT NULL, `scored_at` DATETIME(6) NOT NULL, INDEX `churn_scores_version_idx` (`version`)) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
		"CREATE TABLE IF NOT EXISTS `analytics`.`churn_scores_runs` (`version` VARCHAR(64) NOT NULL PRIMARY KEY, `score_date` DATE NOT NULL, `run_id` VARCHAR(255), `model_version` VARCHAR(255), `rows` BIGINT NOT NULL DEFAULT 0, `status` VARCHAR(255) NOT NULL CHECK (`status` IN ('staged', 'current', 'superseded')), `created_at` DATETIME(6) NOT NULL, `published_at` DATETIME(6), INDEX `churn_scores_runs_date_idx` (`score_date`, `status`)) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
		"CREATE VIEW `analytics`.`churn_scores_current` AS SELECT d.`customer_id`, d.`score`, d.`label`, d.`flags`, d.`score_date`, d.`run_id`, d.`model_version`, d.`version`, d.`scored_at` FROM `analytics`.`churn_scores` d JOIN `analytics`.`churn_scores_runs` r ON r.`version` = d.`version` WHERE r.`status` = 'current'",
		"INSERT INTO `analytics`.`churn_scores` (`customer_id`, `score`, `label`, `flags`, `score_date`, `run_id`, `model_version`, `version`, `scored_at`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		"INSERT INTO `analytics`.`churn_scores_runs` (`version`, `score_date`, `status`, `rows`, `created_at`) VALUES (?, ?, 'staged', 0, ?)",
		"SELECT `status` FROM `analytics`.`churn_scores_runs` WHERE `version` = ? FOR UPDATE",
		"SELECT `version` FROM `analytics`.`churn_scores_runs` WHERE `score_date` = ? FOR UPDATE",
		"UPDATE `analytics`.`churn_scores_runs` SET `status` = 'superseded' WHERE `score_date` = ? AND `status` = 'current'",
		"UPDATE `analytics`.`churn_scores_runs` SET `status` = 'current', `published_at` = ?, `rows` = ?, `run_id` = ?, `model_version` = ? WHERE `version` = ? AND `status` = 'staged'",
		"SELECT `version` FROM `analytics`.`churn_scores_runs` WHERE `score_date` = ? AND `status` IN ('current', 'superseded') ORDER BY CASE `status` WHEN 'current' THEN 0 ELSE 1 END, `published_at` DESC, `version` DESC",
		"DELETE FROM `analytics`.`churn_scores` WHERE `version` = ?",
		"DELETE FROM `analytics`.`churn_scores_runs` WHERE `version` = ? AND `status` = ?",
		"SELECT COLUMN_NAME, CASE WHEN DATA_TYPE = 'decimal' THEN CONCAT('decimal(', NUMERIC_PRECISION, ',', NUMERIC_SCALE, ')') ELSE DATA_TYPE END FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(NULLIF(?, ''), DATABASE()) AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
	}
	if len(got) != len(want) {
		t.Fatalf("%d statements, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("statement %d\n got %s\nwant %s", i, got[i], want[i])
		}
	}
	if got := insertRowsPerStatement(len(cols)); got != 1000 {
		t.Errorf("%d rows per insert", got)
	}
	if got := insertRowsPerStatement(100); got*100 > 65535 {
		t.Errorf("%d rows of 100 columns exceed MySQL's placeholders", got)
	}
}

func TestColumnTypes(t *testing.T) {
	tests := []struct {
		name              string
		typ               arrow.DataType
		pg, mysql, sqlite string
	}{
		{"int8", arrow.PrimitiveTypes.Int8, "smallint", "TINYINT", "INTEGER"},
		{"int16", arrow.PrimitiveTypes.Int16, "smallint", "SMALLINT", "INTEGER"},
		{"uint8", arrow.PrimitiveTypes.Uint8, "smallint", "SMALLINT", "INTEGER"},
		{"int32", arrow.PrimitiveTypes.Int32, "integer", "INT", "INTEGER"},
		{"uint16", arrow.PrimitiveTypes.Uint16, "integer", "INT", "INTEGER"},
		{"int64", arrow.PrimitiveTypes.Int64, "bigint", "BIGINT", "INTEGER"},
		{"uint32", arrow.PrimitiveTypes.Uint32, "bigint", "BIGINT", "INTEGER"},
		{"float32", arrow.PrimitiveTypes.Float32, "real", "FLOAT", "REAL"},
		{"float64", arrow.PrimitiveTypes.Float64, "double precision", "DOUBLE", "REAL"},
		{"bool", arrow.FixedWidthTypes.Boolean, "boolean", "BOOLEAN", "BOOLEAN"},
		{"utf8", arrow.BinaryTypes.String, "text", "TEXT", "TEXT"},
		{"large_utf8", arrow.BinaryTypes.LargeString, "text", "TEXT", "TEXT"},
		{"dictionary", &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int16, ValueType: arrow.BinaryTypes.String}, "text", "TEXT", "TEXT"},
		{"binary", arrow.BinaryTypes.Binary, "bytea", "LONGBLOB", "BLOB"},
		{"date32", arrow.FixedWidthTypes.Date32, "date", "DATE", "DATE"},
		{"date64", arrow.FixedWidthTypes.Date64, "date", "DATE", "DATE"},
		{"timestamp tz", &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, "timestamptz", "DATETIME(6)", "TIMESTAMP"},
		{"timestamp", &arrow.TimestampType{Unit: arrow.Nanosecond}, "timestamp", "DATETIME(6)", "TIMESTAMP"},
		{"uint64", arrow.PrimitiveTypes.Uint64, "", "", ""},
		{"decimal", &arrow.Decimal128Type{Precision: 10, Scale: 2}, "numeric(10,2)", "DECIMAL(10,2)", "TEXT"},
		{"decimal scale 31", &arrow.Decimal128Type{Precision: 38, Scale: 31}, "numeric(38,31)", "", "TEXT"},
		{"decimal256", &arrow.Decimal256Type{Precision: 40, Scale: 2}, "", "", ""},
		{"list", arrow.ListOf(arrow.PrimitiveTypes.Int64), "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for d, want := range map[sinkDialect]string{sinkPostgres: tt.pg, sinkMySQL: tt.mysql, sinkSQLite: tt.sqlite} {
				got, _, err := columnType(d, tt.typ)
				if want == "" {
					if err == nil {
						t.Errorf("%s: %s accepted as %s", d, tt.typ, got)
					}
					continue
				}
				if err != nil || got != want {
					t.Errorf("%s: %s -> %q, %v; want %s", d, tt.typ, got, err, want)
				}
			}
		})
	}
	// An unsupported column is an error naming it.
	bad := arrow.NewSchema([]arrow.Field{{Name: "amount", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64)}}, nil)
	if _, err := resultColumns(sinkMySQL, bad); err == nil || !strings.Contains(err.Error(), `"amount"`) {
		t.Errorf("list column: %v", err)
	}
}
