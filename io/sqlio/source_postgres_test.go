package sqlio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/jackc/pgx/v5"

	"github.com/batchscore/batchscore/internal/testkit/pgtest"
	"github.com/batchscore/batchscore/io/source"
)

// pgTypes creates a table holding every supported type, one row of values
// and one of NULLs.
func pgTypes(t *testing.T) string {
	dsn := pgtest.DSN(t)
	pgtest.Exec(t, dsn, `CREATE TABLE types (
		id int, i2 smallint, i4 integer, i8 bigint, f4 real, f8 double precision,
		num numeric(10,2), txt text, vc varchar(20), ch char(3), nm name, b boolean,
		d date, ts timestamp, tstz timestamptz)`,
		`SET TIME ZONE 'Europe/Berlin'`,
		`INSERT INTO types VALUES
		 (1, -32768, 2147483647, -9223372036854775808, 1.25, 2.5e-300, -12345678.91, 'héllo', 'v', 'ab', 'pg', true,
		  '2024-05-01', '2024-05-01 12:51:30.123456', '2024-05-01 14:51:30.123456+02'),
		 (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
		 (3, 7, 0, 1, -0.5, 1e300, 0.01, '', 'x', 'abc', 'n', false, '1969-12-31', '1900-01-01 00:00:00', '2000-01-01 00:00:00+00')`)
	return dsn
}

func TestPostgresTypes(t *testing.T) {
	dsn := pgTypes(t)
	env := envDSN(t, dsn)
	for _, c := range []struct {
		name    string
		decimal string
		types   []string
		rows    [][]string
	}{
		{name: "float64 numerics", decimal: "",
			types: []string{"int32", "int16", "int32", "int64", "float32", "float64", "float64", "utf8", "utf8", "utf8", "utf8", "bool", "date32", "timestamp[us]", "timestamp[us, tz=UTC]"},
			rows: [][]string{
				{"1", "-32768", "2147483647", "-9223372036854775808", "1.25", "2.5e-300", "-1.234567891e+07", "héllo", "v", "ab ", "pg", "true", "2024-05-01", "2024-05-01 12:51:30.123456Z", "2024-05-01 12:51:30.123456Z"},
				{"2", "(null)", "(null)", "(null)", "(null)", "(null)", "(null)", "(null)", "(null)", "(null)", "(null)", "(null)", "(null)", "(null)", "(null)"},
				{"3", "7", "0", "1", "-0.5", "1e+300", "0.01", "", "x", "abc", "n", "false", "1969-12-31", "1900-01-01 00:00:00Z", "2000-01-01 00:00:00Z"},
			}},
		{name: "decimal numerics", decimal: "decimal",
			types: []string{"int32", "int16", "int32", "int64", "float32", "float64", "decimal(10, 2)", "utf8", "utf8", "utf8", "utf8", "bool", "date32", "timestamp[us]", "timestamp[us, tz=UTC]"},
			rows: [][]string{
				{"1", "-32768", "2147483647", "-9223372036854775808", "1.25", "2.5e-300", "-12345678.91", "héllo", "v", "ab ", "pg", "true", "2024-05-01", "2024-05-01 12:51:30.123456Z", "2024-05-01 12:51:30.123456Z"},
				{"2", "(null)", "(null)", "(null)", "(null)", "(null)", "(null)", "(null)", "(null)", "(null)", "(null)", "(null)", "(null)", "(null)", "(null)"},
				{"3", "7", "0", "1", "-0.5", "1e+300", "0.01", "", "x", "abc", "n", "false", "1969-12-31", "1900-01-01 00:00:00Z", "2000-01-01 00:00:00Z"},
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := readQuery(t, Config{Driver: "postgres", DSNEnv: env, Query: "SELECT * FROM types ORDER BY id", Decimal: c.decimal}, nil, 2)
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, f := range res.schema.Fields() {
				types = append(types, f.Type.String())
				if !f.Nullable {
					t.Errorf("%s is not nullable", f.Name)
				}
			}
			if !reflect.DeepEqual(types, c.types) {
				t.Errorf("types\n got %v\nwant %v", types, c.types)
			}
			for i := range c.rows {
				if i >= len(res.rows) || !reflect.DeepEqual(res.rows[i], c.rows[i]) {
					t.Errorf("row %d\n got %v\nwant %v", i, res.rows[min(i, len(res.rows)-1)], c.rows[i])
				}
			}
			if !reflect.DeepEqual(res.batches, []int64{2, 1}) {
				t.Errorf("batches %v, want [2 1]", res.batches)
			}
		})
	}
}

func TestPostgresUnsupported(t *testing.T) {
	dsn := pgtest.DSN(t)
	pgtest.Exec(t, dsn, `CREATE TYPE mood AS ENUM ('ok')`)
	env := envDSN(t, dsn)
	for _, c := range []struct{ name, query, want string }{
		{"point", "SELECT 1 AS id, point(1,2) AS where_", `column "where_" has postgres type point`},
		{"json", `SELECT '{}'::json AS doc`, `column "doc" has postgres type json`},
		{"enum", `SELECT 'ok'::mood AS m`, `column "m" has postgres type mood`},
		{"unconstrained numeric as decimal", `SELECT 1.5::numeric AS x`, `column "x" is numeric without a precision`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := readQuery(t, Config{Driver: "postgres", DSNEnv: env, Query: c.query, Decimal: "decimal"}, nil, 10)
			if !errors.Is(err, ErrType) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want ErrType with %q", err, c.want)
			}
		})
	}
}

func TestPostgresParametersAreBound(t *testing.T) {
	dsn := pgtest.DSN(t)
	pgtest.Exec(t, dsn, `CREATE TABLE t (d text, n int)`, `INSERT INTO t VALUES ('2024-05-01', 1), ('x'' OR ''1''=''1', 2), ('2024-05-02', 3)`)
	env := envDSN(t, dsn)
	cfg := Config{Driver: "postgres", DSNEnv: env, Query: "SELECT n, ':date' AS lit, d::text FROM t WHERE d = :date ORDER BY n"}
	for _, c := range []struct {
		name, date string
		want       [][]string
	}{
		{"plain", "2024-05-01", [][]string{{"1", ":date", "2024-05-01"}}},
		{"quote is a value", "x' OR '1'='1", [][]string{{"2", ":date", "x' OR '1'='1"}}},
		{"injection finds nothing", "' OR 1=1 --", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := readQuery(t, cfg, map[string]any{"date": c.date}, 10)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.rows, c.want) {
				t.Errorf("rows %v, want %v", res.rows, c.want)
			}
		})
	}
	t.Run("range", func(t *testing.T) {
		res, err := readQuery(t, Config{Driver: "postgres", DSNEnv: env, Query: "SELECT n FROM t WHERE n BETWEEN :from AND :to ORDER BY n"}, map[string]any{"from": 2, "to": 3}, 10)
		if err != nil || len(res.rows) != 2 {
			t.Fatalf("rows %v, err %v", res.rows, err)
		}
	})
	t.Run("time parameter against a date column", func(t *testing.T) {
		res, err := readQuery(t, Config{Driver: "postgres", DSNEnv: env, Query: "SELECT :date::date AS d"}, map[string]any{"date": time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)}, 10)
		if err != nil || len(res.rows) != 1 || res.rows[0][0] != "2024-05-01" {
			t.Fatalf("rows %v, err %v", res.rows, err)
		}
	})
}

func TestPostgresStatementTimeout(t *testing.T) {
	env := envDSN(t, pgtest.DSN(t))
	start := time.Now()
	_, err := readQuery(t, Config{Driver: "postgres", DSNEnv: env, Query: "SELECT pg_sleep(5)::text AS x", Timeout: 200 * time.Millisecond}, nil, 10)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("error %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestPostgresConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	const pw = "s3cret-Pa55"
	env := envDSN(t, fmt.Sprintf("postgres://batch:%s@127.0.0.1:%d/db?sslmode=disable", pw, port))
	var logs strings.Builder
	log := slogTo(&logs)
	start := time.Now()
	_, err = readQuery(t, Config{Driver: "postgres", DSNEnv: env, Query: "SELECT 1"}, nil, 10, withRetry(3, 20*time.Millisecond, 40*time.Millisecond), WithLogger(log))
	if !errors.Is(err, ErrConnection) {
		t.Fatalf("error %v, want ErrConnection", err)
	}
	if !strings.Contains(err.Error(), "after 3 attempts") {
		t.Errorf("error %q does not count the attempts", err)
	}
	if n := strings.Count(logs.String(), "retrying"); n != 2 {
		t.Errorf("%d retries logged, want 2:\n%s", n, logs.String())
	}
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Errorf("3 attempts in %s: no backoff", d)
	}
	for _, out := range []string{err.Error(), logs.String()} {
		if strings.Contains(out, pw) {
			t.Errorf("password in output: %s", out)
		}
	}
}

func TestPostgresBadDSNIsNotEchoed(t *testing.T) {
	const pw = "s3cret-Pa55"
	env := envDSN(t, "postgres://batch:"+pw+"@[::1:bad/db")
	_, err := Open(context.Background(), Config{Driver: "postgres", DSNEnv: env, Query: "SELECT 1"}, nil)
	if !errors.Is(err, ErrDSN) || strings.Contains(err.Error(), pw) || !strings.Contains(err.Error(), "$"+env) {
		t.Fatalf("error %v, want ErrDSN naming $%s without the password", err, env)
	}
}

func dbName(t *testing.T, dsn string) string {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Database
}

// TestPostgresConnectionLostMidStream terminates the reading backend after
// the first batch: the read must fail with ErrConnection, never end short.
func TestPostgresConnectionLostMidStream(t *testing.T) {
	dsn := pgtest.DSN(t)
	env := envDSN(t, dsn)
	ctx := context.Background()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	src, err := Open(ctx, Config{Driver: "postgres", DSNEnv: env, Query: "SELECT g AS n FROM generate_series(1, 5000000) g"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	admin := pgtest.Connect(t, pgtest.SuperuserDSN(t))
	var batches int
	err = src.Read(ctx, nil, 1000, mem, func(rec arrow.Record, where string, offset int64) error {
		rec.Release()
		batches++
		if batches == 1 {
			var killed int
			err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'batchscore' AND datname = $1`, dbName(t, dsn)).Scan(&killed)
			if err != nil || killed != 1 {
				t.Errorf("terminated %d backends (%v), want 1", killed, err)
			}
		}
		return nil
	})
	if !errors.Is(err, ErrConnection) {
		t.Fatalf("error %v after %d batches (%d rows), want ErrConnection", err, batches, src.RowsRead())
	}
	if !strings.Contains(err.Error(), "row ") {
		t.Errorf("error %q does not name the row", err)
	}
	if fp, err := src.Fingerprint(ctx); fp != "" || !errors.Is(err, source.ErrNotRead) {
		t.Errorf("a failed read has a fingerprint: %q, %v", fp, err)
	}
	t.Logf("%v", err)
}

func TestPostgresFingerprint(t *testing.T) {
	dsn := pgtest.DSN(t)
	pgtest.Exec(t, dsn, `CREATE TABLE t AS SELECT g AS id, g * 0.5 AS x, 'r' || g AS s FROM generate_series(1, 1000) g`)
	cfg := Config{Driver: "postgres", DSNEnv: envDSN(t, dsn), Query: "SELECT * FROM t WHERE id >= :from ORDER BY id"}
	params := map[string]any{"from": 1}
	fp := func() string {
		t.Helper()
		res, err := readQuery(t, cfg, params, 64)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(res.fingerprint, "sha256:") {
			t.Fatalf("fingerprint %q", res.fingerprint)
		}
		return res.fingerprint
	}
	a, b := fp(), fp()
	if a != b {
		t.Errorf("nothing changed, fingerprint did: %s, %s", a, b)
	}
	pgtest.Exec(t, dsn, `UPDATE t SET x = 0.75 WHERE id = 500`)
	c := fp()
	if c == a {
		t.Errorf("one value changed, fingerprint did not")
	}
	params = map[string]any{"from": 2}
	if d := fp(); d == c {
		t.Errorf("parameter changed, fingerprint did not")
	}
}

// TestPostgresStreams reads 1M rows in small batches and checks that the
// heap does not grow with the result, and reports the rate.
func TestPostgresStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("1M rows")
	}
	env := envDSN(t, pgtest.DSN(t))
	ctx := context.Background()
	src, err := Open(ctx, Config{Driver: "postgres", DSNEnv: env,
		Query: "SELECT g AS id, g * 0.5::float8 AS x, (g % 7)::int4 AS k, 'row' || g AS s, g % 2 = 0 AS b FROM generate_series(1, 1000000) g"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var ms runtime.MemStats
	var peak uint64
	start := time.Now()
	err = src.Read(ctx, nil, 4096, mem, func(rec arrow.Record, where string, offset int64) error {
		rec.Release()
		if offset%(100*4096) == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	if src.RowsRead() != 1_000_000 {
		t.Fatalf("%d rows", src.RowsRead())
	}
	// 1M rows of these columns are ~40 MB as Arrow; a streaming reader
	// holds a few batches.
	if peak > 64<<20 {
		t.Errorf("heap in use reached %d MB", peak>>20)
	}
	t.Logf("1M rows x 5 columns in %s: %.0f rows/s, peak heap in use %d MB", d, 1e6/d.Seconds(), peak>>20)
}
