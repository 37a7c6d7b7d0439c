package sqlio

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/batchscore/batchscore/internal/testkit/pgtest"
)

// Every row of a query lands in exactly one shard, null keys included,
// for integer and text keys, in SQLite and PostgreSQL; at most one shard
// of a split is empty.
func TestShardQuery(t *testing.T) {
	const rows = 500
	sqliteStmts := []string{`CREATE TABLE t (id INTEGER, name TEXT, d TEXT)`}
	pgStmts := []string{`CREATE TABLE t (id bigint, name text, d date)`}
	for i := range rows {
		id, name := "NULL", "NULL"
		if i%50 != 7 {
			id = strconv.Itoa(i*1009 - 40000) // negative ones too
			name = "'n" + strconv.Itoa(i*7919%1000) + "-" + strconv.Itoa(i) + "'"
		}
		ins := "INSERT INTO t VALUES (" + id + ", " + name + ", '2026-11-20')"
		sqliteStmts = append(sqliteStmts, ins)
		pgStmts = append(pgStmts, ins)
	}
	pg := pgtest.DSN(t)
	pgtest.Exec(t, pg, pgStmts...)
	for _, db := range []struct{ driver, dsn string }{
		{"sqlite", sqliteDB(t, sqliteStmts...)},
		{"postgres", pg},
	} {
		env := envDSN(t, db.dsn)
		query := "SELECT id, name FROM t WHERE d = :date ORDER BY id; "
		whole, err := readQuery(t, Config{Driver: db.driver, DSNEnv: env, Query: query}, map[string]any{"date": "2026-11-20"}, 64)
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"id", "name"} {
			for _, count := range []int{1, 3, 8} {
				var all []string
				nonEmpty := 0
				for k := range count {
					q, err := ShardQuery(db.driver, query, key, k, count)
					if err != nil {
						t.Fatal(err)
					}
					res, err := readQuery(t, Config{Driver: db.driver, DSNEnv: env, Query: q}, map[string]any{"date": "2026-11-20"}, 64)
					if err != nil {
						t.Fatalf("%s shard %d/%d by %s: %v\n%s", db.driver, k, count, key, err, q)
					}
					if len(res.rows) > 0 {
						nonEmpty++
					}
					for _, r := range res.rows {
						all = append(all, strings.Join(r, ","))
					}
				}
				var want []string
				for _, r := range whole.rows {
					want = append(want, strings.Join(r, ","))
				}
				slices.Sort(all)
				slices.Sort(want)
				if !slices.Equal(all, want) {
					t.Errorf("%s: %d shards by %s hold %d rows, the query %d, or other rows", db.driver, count, key, len(all), len(want))
				}
				if count > 1 && nonEmpty < count-1 {
					t.Errorf("%s: only %d of %d shards by %s have rows", db.driver, nonEmpty, count, key)
				}
			}
		}
	}
	for _, bad := range []string{"id; DROP TABLE t", "", "a.b"} {
		if _, err := ShardQuery("postgres", "SELECT 1", bad, 0, 2); err == nil {
			t.Errorf("shard key %q accepted", bad)
		}
	}
	if _, err := ShardQuery("oracle", "SELECT 1", "id", 0, 2); err == nil {
		t.Error("an unknown driver accepted")
	}
}
