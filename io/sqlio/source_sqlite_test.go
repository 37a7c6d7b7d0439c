package sqlio

import (
	"database/sql"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// sqliteDB creates a database file with every supported declared type, one
// row of values and one of NULLs, and returns its DSN.
func sqliteDB(t *testing.T, stmts ...string) string {
	t.Helper()
	dsn := "file:" + filepath.Join(t.TempDir(), "snap.db")
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return dsn
}

func TestSQLiteTypes(t *testing.T) {
	dsn := sqliteDB(t,
		`CREATE TABLE types (id INTEGER, i INT, big BIGINT, r REAL, dbl DOUBLE, t TEXT, vc VARCHAR(10), b BOOLEAN, d DATE, ts TIMESTAMP, num DECIMAL(10,2))`,
		`INSERT INTO types VALUES (1, -5, 9007199254740993, 1.25, -2.5, 'héllo', 'v', 1, '2024-05-01', '2024-05-01 12:51:30.123456', 12.34)`,
		`INSERT INTO types VALUES (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
		`INSERT INTO types VALUES (3, 0, 1, 3, 0.5, '', 'x', 0, '1969-12-31', '1900-01-01 00:00:00', 7)`)
	env := envDSN(t, dsn)
	for _, c := range []struct {
		name, decimal string
		types         []string
		rows          [][]string
	}{
		{name: "float64 numerics",
			types: []string{"int64", "int64", "int64", "float64", "float64", "utf8", "utf8", "bool", "date32", "timestamp[us]", "float64"},
			rows: [][]string{
				{"1", "-5", "9007199254740993", "1.25", "-2.5", "héllo", "v", "true", "2024-05-01", "2024-05-01 12:51:30.123456Z", "12.34"},
				{"2", "(null)", "(null)", "(null)", "(null)", "(null)", "(null)", "(null)", "(null)", "(null)", "(null)"},
				{"3", "0", "1", "3", "0.5", "", "x", "false", "1969-12-31", "1900-01-01 00:00:00Z", "7"},
			}},
		{name: "decimal numerics", decimal: "decimal",
			types: []string{"int64", "int64", "int64", "float64", "float64", "utf8", "utf8", "bool", "date32", "timestamp[us]", "decimal(10, 2)"},
			rows: [][]string{
				{"1", "-5", "9007199254740993", "1.25", "-2.5", "héllo", "v", "true", "2024-05-01", "2024-05-01 12:51:30.123456Z", "12.34"},
				{"2", "(null)", "(null)", "(null)", "(null)", "(null)", "(null)", "(null)", "(null)", "(null)", "(null)"},
				{"3", "0", "1", "3", "0.5", "", "x", "false", "1969-12-31", "1900-01-01 00:00:00Z", "7"},
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := readQuery(t, Config{Driver: "sqlite", DSNEnv: env, Query: "SELECT * FROM types ORDER BY id", Decimal: c.decimal}, nil, 2)
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, f := range res.schema.Fields() {
				types = append(types, f.Type.String())
			}
			if !reflect.DeepEqual(types, c.types) {
				t.Errorf("types\n got %v\nwant %v", types, c.types)
			}
			if !reflect.DeepEqual(res.rows, c.rows) {
				t.Errorf("rows\n got %v\nwant %v", res.rows, c.rows)
			}
			if !reflect.DeepEqual(res.batches, []int64{2, 1}) {
				t.Errorf("batches %v", res.batches)
			}
		})
	}
}

func TestSQLiteQueries(t *testing.T) {
	dsn := sqliteDB(t,
		`CREATE TABLE t (d TEXT, n INTEGER, blob BLOB)`,
		`INSERT INTO t VALUES ('2024-05-01', 1, x'00'), ('x'' OR ''1''=''1', 2, NULL), ('2024-05-02', 3, NULL)`)
	env := envDSN(t, dsn)
	for _, c := range []struct {
		name, query string
		params      map[string]any
		want        [][]string
		err         error
		errText     string
	}{
		{name: "bound", query: "SELECT n, ':date' AS lit FROM t WHERE d = :date", params: map[string]any{"date": "2024-05-01"}, want: [][]string{{"1", ":date"}}},
		{name: "quote is a value", query: "SELECT n FROM t WHERE d = :date", params: map[string]any{"date": "x' OR '1'='1"}, want: [][]string{{"2"}}},
		{name: "range", query: "SELECT n FROM t WHERE n BETWEEN :from AND :to ORDER BY n", params: map[string]any{"from": 2, "to": 3}, want: [][]string{{"2"}, {"3"}}},
		{name: "expression typed by first value", query: "SELECT n * 2 AS twice, n * 0.5 AS half, 'a' || n AS s FROM t ORDER BY n", want: [][]string{{"2", "0.5", "a1"}, {"4", "1", "a2"}, {"6", "1.5", "a3"}}},
		{name: "blob", query: "SELECT blob FROM t", err: ErrType, errText: `column "blob" has sqlite type BLOB`},
		{name: "NULL expression", query: "SELECT NULL AS nada", err: ErrType, errText: `column "nada" has no declared sqlite type`},
		{name: "text in an integer column", query: "SELECT n FROM (SELECT n FROM t UNION ALL SELECT 'x')", err: ErrType, errText: `"x" is not an integer`},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := readQuery(t, Config{Driver: "sqlite", DSNEnv: env, Query: c.query}, c.params, 10)
			if c.err != nil || c.errText != "" {
				if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.errText) {
					t.Fatalf("error %v, want %v with %q", err, c.err, c.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.want != nil && !reflect.DeepEqual(res.rows, c.want) {
				t.Errorf("rows %v, want %v", res.rows, c.want)
			}
		})
	}
}

func TestSQLiteFingerprint(t *testing.T) {
	dsn := sqliteDB(t, `CREATE TABLE t (id INTEGER, x REAL)`, `INSERT INTO t VALUES (1, 0.5), (2, 1.5), (3, 2.5)`)
	cfg := Config{Driver: "sqlite", DSNEnv: envDSN(t, dsn), Query: "SELECT * FROM t ORDER BY id"}
	fp := func() string {
		res, err := readQuery(t, cfg, nil, 2)
		if err != nil {
			t.Fatal(err)
		}
		return res.fingerprint
	}
	a, b := fp(), fp()
	if a != b || a == "" {
		t.Errorf("nothing changed, fingerprints %q, %q", a, b)
	}
	db, _ := sql.Open("sqlite", dsn)
	if _, err := db.Exec(`UPDATE t SET x = 1.75 WHERE id = 2`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if fp() == a {
		t.Errorf("one value changed, fingerprint did not")
	}
}
