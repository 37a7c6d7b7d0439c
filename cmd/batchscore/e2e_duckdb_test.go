package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/batchscore/batchscore/internal/testkit/onnxtest"
)

// duckdb runs one query through DuckDB for Node and returns the rows.
func duckdb(t *testing.T, sql string) []map[string]any {
	t.Helper()
	modules := onnxtest.DuckDBNodeModules(t)
	node, err := exec.LookPath("node")
	if err != nil {
		onnxtest.Missing(t, "node (DuckDB for Node runs on it)")
	}
	script := filepath.Join(repoRoot(t), "testdata", "interop", "duckdb_query.mjs")
	cmd := exec.Command(node, script, sql)
	cmd.Env = append(baseEnv(), "NODE_PATH="+modules)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("duckdb %q: %v\n%s", sql, err, stderr.String())
	}
	var rows []map[string]any
	dec := json.NewDecoder(&stdout)
	dec.UseNumber()
	if err := dec.Decode(&rows); err != nil {
		t.Fatalf("duckdb %q printed no JSON rows: %v", sql, err)
	}
	return rows
}

// sqlPath quotes a path as a SQL string literal.
func sqlPath(p string) string { return "'" + strings.ReplaceAll(p, "'", "''") + "'" }

func asInt(t *testing.T, v any) int64 {
	t.Helper()
	n, err := strconv.ParseInt(fmt.Sprint(v), 10, 64)
	if err != nil {
		t.Fatalf("%v is not an integer", v)
	}
	return n
}

func asFloat(t *testing.T, v any) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(fmt.Sprint(v), 64)
	if err != nil {
		t.Fatalf("%v is not a number", v)
	}
	return f
}

// TestDuckDBReadsTheTable reads a result table the ways the README tells
// analysts to: one date's current version, every date's current version,
// and every version ever published.
func TestDuckDBReadsTheTable(t *testing.T) {
	t.Parallel()
	onnxtest.DuckDBNodeModules(t) // skip (or fail in CI) before any work
	table := filepath.Join(t.TempDir(), "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table})
	var runID20 string
	for _, date := range []string{date19, date20, date20} {
		res := bs(t, "run", job, "--date", date, "--json", "--force")
		if res.code != 0 {
			t.Fatalf("run %s failed\n%s", date, res)
		}
		if date == date20 {
			runID20 = parseManifest(t, []byte(res.stdout)).RunID
		}
	}

	t.Run("current of one date", func(t *testing.T) {
		t.Parallel()
		glob := filepath.Join(table, "current", date20, "*.parquet")
		rows := duckdb(t, `SELECT customer_id, score, label, CAST(score_date AS VARCHAR) AS score_date, run_id, model_version
			FROM read_parquet(`+sqlPath(glob)+`) ORDER BY customer_id`)
		if len(rows) != 2000 {
			t.Fatalf("%d rows, want 2000", len(rows))
		}
		ref := readReference(t, date20)
		seen := map[int64]bool{}
		for _, r := range rows {
			id := asInt(t, r["customer_id"])
			want, ok := ref[id]
			if !ok || seen[id] {
				t.Fatalf("customer %d: unexpected or repeated", id)
			}
			seen[id] = true
			if d := math.Abs(asFloat(t, r["score"]) - want.gbmP1); d > 1e-5 {
				t.Errorf("customer %d: score %v, reference %v", id, r["score"], want.gbmP1)
			}
			if asInt(t, r["label"]) != want.gbmLabel {
				t.Errorf("customer %d: label %v, reference %d", id, r["label"], want.gbmLabel)
			}
			if r["score_date"] != date20 || r["run_id"] != runID20 || r["model_version"] != "churn_gbm-2026.11" {
				t.Fatalf("customer %d: %v", id, r)
			}
		}
	})

	t.Run("current of every date", func(t *testing.T) {
		t.Parallel()
		glob := filepath.Join(table, "current", "*", "*.parquet")
		rows := duckdb(t, `SELECT CAST(score_date AS VARCHAR) AS d, count(*) AS n, count(DISTINCT customer_id) AS ids
			FROM read_parquet(`+sqlPath(glob)+`) GROUP BY score_date ORDER BY score_date`)
		got := fmt.Sprint(rows)
		want := fmt.Sprint([]map[string]any{
			{"d": date19, "n": "2000", "ids": "2000"},
			{"d": date20, "n": "2000", "ids": "2000"},
		})
		if got != want {
			t.Errorf("current/*/*.parquet: %s, want %s", got, want)
		}
	})

	t.Run("every version", func(t *testing.T) {
		t.Parallel()
		glob := filepath.Join(table, "versions", "*", "*", "*.parquet")
		rows := duckdb(t, `SELECT CAST(score_date AS VARCHAR) AS d, count(*) AS n, count(DISTINCT filename) AS files
			FROM read_parquet(`+sqlPath(glob)+`, filename = true) GROUP BY score_date ORDER BY score_date`)
		got := fmt.Sprint(rows)
		want := fmt.Sprint([]map[string]any{
			{"d": date19, "n": "2000", "files": "1"},
			{"d": date20, "n": "4000", "files": "2"},
		})
		if got != want {
			t.Errorf("versions/*/*/*.parquet: %s, want %s", got, want)
		}
		total := duckdb(t, `SELECT count(*) AS n FROM read_parquet(`+sqlPath(glob)+`)`)
		if len(total) != 1 || asInt(t, total[0]["n"]) != 3*2000 {
			t.Errorf("all versions hold %v rows, want 3 versions x 2000", total)
		}
	})
}
