package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/batchscore/batchscore/internal/testkit/pgtest"
	"github.com/batchscore/batchscore/io/blob"
	"github.com/batchscore/batchscore/io/table"
)

// renamed gives a job file another name: line.
func renamed(name string) func(string) string {
	return func(s string) string { return strings.Replace(s, "name: churn_nightly", "name: "+name, 1) }
}

func chain(edits ...func(string) string) func(string) string {
	return func(s string) string {
		for _, e := range edits {
			s = e(s)
		}
		return s
	}
}

func readOwner(t *testing.T, tableRoot string) table.Owner {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(tableRoot, "_owner.json"))
	if err != nil {
		t.Fatalf("no owner recorded: %v", err)
	}
	var o table.Owner
	if err := json.Unmarshal(data, &o); err != nil {
		t.Fatal(err)
	}
	return o
}

// refused checks a run of job other against a table that churn_nightly
// owns: exit 2, a message naming both jobs and the table.
func refused(t *testing.T, what string, res result, tableName string) {
	t.Helper()
	msg := res.messages() + res.stdout
	if res.code != 2 || !strings.Contains(msg, `"churn_nightly"`) || !strings.Contains(msg, `"churn_other"`) || !strings.Contains(msg, tableName) {
		t.Errorf("%s of another job: want exit 2 naming both jobs and %s, got %s", what, tableName, res)
	}
}

// A table belongs to the job that first wrote to it: every command of
// another job that would write to it or read its history is exit 2
// naming both jobs and the table, and publishes nothing; reown hands it
// over on purpose, with the old name's runs kept as history.
func TestI18TableOwnerParquet(t *testing.T) {
	t.Parallel()
	tbl := filepath.Join(t.TempDir(), "scores")
	a := writeJob(t, "churn_nightly.yaml", jobOpts{table: tbl})
	b := writeJob(t, "churn_nightly.yaml", jobOpts{table: tbl, edit: renamed("churn_other")})
	if res := bs(t, "validate", a, "--date", date19); res.code != 0 {
		t.Fatal(res)
	}
	if _, err := os.Stat(filepath.Join(tbl, "_owner.json")); err == nil {
		t.Error("validate recorded an owner: a dry run claims nothing")
	}

	res := bs(t, "run", a, "--date", date19, "--json")
	if res.code != 0 {
		t.Fatalf("first run: %s", res)
	}
	day19 := parseManifest(t, []byte(res.stdout))
	res = bs(t, "run", a, "--date", date20, "--json")
	if res.code != 0 {
		t.Fatalf("second run: %s", res)
	}
	first := parseManifest(t, []byte(res.stdout))
	if o := readOwner(t, tbl); o.Job != "churn_nightly" || o.JobFile != a {
		t.Errorf("owner %+v", o)
	}

	res = bs(t, "run", b, "--date", date20, "--json")
	refused(t, "run", res, tbl)
	if m := parseManifest(t, []byte(res.stdout)); m.Status != "failed" || m.ExitCode != 2 || m.Output.Published {
		t.Errorf("refused run's manifest: %s exit %d published %v", m.Status, m.ExitCode, m.Output.Published)
	}
	if cur, _ := os.Readlink(filepath.Join(tbl, "current", date20)); !strings.HasSuffix(cur, first.Version) {
		t.Errorf("current/%s -> %s after the refused run, want %s", date20, cur, first.Version)
	}
	if vs, _ := os.ReadDir(filepath.Join(tbl, "versions", date20)); len(vs) != 1 {
		t.Errorf("%d versions after the refused run, want 1", len(vs))
	}
	if n := len(manifests(t, tbl, date20)); n != 2 {
		t.Errorf("%d manifests, want the first run's and the refused one's", n)
	}
	refused(t, "run --force", bs(t, "run", b, "--date", date19, "--force"), tbl)
	refused(t, "validate", bs(t, "validate", b, "--date", date20), tbl)
	refused(t, "backfill", bs(t, "run", b, "--from", date19, "--to", date20), tbl)
	refused(t, "backfill --dry-run", bs(t, "run", b, "--from", date19, "--to", date20, "--dry-run"), tbl)
	refused(t, "shard", bs(t, "run", b, "--date", date20, "--shard", "0/2"), tbl)
	refused(t, "commit", bs(t, "commit", b, "--date", date20, "--shards", "2"), tbl)
	refused(t, "runs", bs(t, "runs", b), tbl)
	refused(t, "show", bs(t, "show", b, first.Version), tbl)
	if _, err := os.Stat(filepath.Join(tbl, "_shards")); err == nil {
		if left, _ := filepath.Glob(filepath.Join(tbl, "_shards", "*", "*", "*")); len(left) > 0 {
			t.Errorf("the refused shard staged %v", left)
		}
	}

	// The owner's history leaves out the refused runs of the other job.
	res = bs(t, "runs", a, "--json")
	var rows []struct{ Job, Status string }
	if err := json.Unmarshal([]byte(res.stdout), &rows); res.code != 0 || err != nil || len(rows) != 3 {
		t.Errorf("runs of the owner: want its validate and two runs, got %s", res)
	}
	for _, r := range rows {
		if r.Job != "churn_nightly" {
			t.Errorf("runs of the owner lists a run of %s", r.Job)
		}
	}

	// Renamed on purpose: reown hands the table over, logs both names.
	res = bs(t, "reown", b)
	if res.code != 0 || !strings.Contains(res.stdout, `belonged to job "churn_nightly", now to job "churn_other"`) ||
		!strings.Contains(res.stderr, "old_owner") || !strings.Contains(res.stderr, "churn_nightly") {
		t.Fatalf("reown: %s", res)
	}
	if o := readOwner(t, tbl); o.Job != "churn_other" || len(o.Previous) != 1 || o.Previous[0] != "churn_nightly" {
		t.Errorf("owner after reown %+v", o)
	}
	res = bs(t, "run", b, "--date", date20, "--json")
	if res.code != 0 {
		t.Fatalf("run after reown: %s", res)
	}
	// The old name's runs are the renamed job's history: drift and row
	// change compare with yesterday's version.
	if m := parseManifest(t, []byte(res.stdout)); m.Validation.PreviousVersion != day19.Version || !m.Output.Published {
		t.Errorf("run after reown compared with %q, want %s; published %v", m.Validation.PreviousVersion, day19.Version, m.Output.Published)
	}
	res = bs(t, "runs", b, "--json")
	rows = nil
	old := 0
	if err := json.Unmarshal([]byte(res.stdout), &rows); res.code != 0 || err != nil {
		t.Fatalf("runs after reown: %s", res)
	}
	for _, r := range rows {
		if r.Job == "churn_nightly" {
			old++
		}
	}
	if old != 3 || rows[0].Job != "churn_other" || rows[0].Status != "succeeded" {
		t.Errorf("runs after reown: want the new run first and the old name's 3: %+v", rows)
	}
	res = bs(t, "run", a, "--date", date20)
	if res.code != 2 || !strings.Contains(res.messages(), `"churn_other"`) {
		t.Errorf("the old name after reown: want exit 2 naming the new owner, got %s", res)
	}
}

// A table from before owners were recorded is adopted, with a log line,
// by the first job that runs against it; the other job's runs in it are
// no longer taken for the owner's.
func TestI18TableAdoptLegacy(t *testing.T) {
	t.Parallel()
	tbl := filepath.Join(t.TempDir(), "scores")
	a := writeJob(t, "churn_nightly.yaml", jobOpts{table: tbl})
	b := writeJob(t, "churn_nightly.yaml", jobOpts{table: tbl, edit: renamed("churn_other")})
	if res := bs(t, "run", b, "--date", date19); res.code != 0 {
		t.Fatal(res)
	}
	if err := os.Remove(filepath.Join(tbl, "_owner.json")); err != nil { // as an older batchscore left it
		t.Fatal(err)
	}
	res := bs(t, "run", a, "--date", date20, "--json")
	if res.code != 0 || !strings.Contains(res.messages(), "result table adopted") {
		t.Fatalf("run on a table without owner: want exit 0 and an adoption line, got %s", res)
	}
	m := parseManifest(t, []byte(res.stdout))
	if m.Validation.PreviousVersion != "" {
		t.Errorf("drift and row change compared with %s, a run of another job", m.Validation.PreviousVersion)
	}
	if o := readOwner(t, tbl); o.Job != "churn_nightly" {
		t.Errorf("owner %+v", o)
	}
	refused(t, "run", bs(t, "run", b, "--date", date20), tbl)
}

// The SQL table's owner is in its registry (<table>_owner): a job with
// its own Parquet table but another job's SQL table is refused before it
// writes anything; reown hands the SQL table over too.
func TestI18TableOwnerSQL(t *testing.T) {
	dsn := pgtest.DSN(t)
	sqlOut := func(name string) func(string) string {
		return func(s string) string {
			s = renamed(name)(s)
			return insertAfter(t, s, "  keys: [customer_id]", "  sql: {driver: postgres, dsn_env: CHURN_DSN, table: owned_scores}")
		}
	}
	tblA, tblB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	a := writeJob(t, "churn_nightly.yaml", jobOpts{table: tblA, edit: sqlOut("churn_nightly")})
	b := writeJob(t, "churn_nightly.yaml", jobOpts{table: tblB, edit: sqlOut("churn_other")})
	env := append(ortEnv(t), "CHURN_DSN="+dsn)
	if res := runWith(t, batchscore, env, "run", a, "--date", date20); res.code != 0 {
		t.Fatal(res)
	}
	conn := pgtest.Connect(t, dsn)
	count := func(q string) (n int) {
		t.Helper()
		if err := conn.QueryRow(context.Background(), q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var owner string
	if err := conn.QueryRow(context.Background(), "SELECT job FROM owned_scores_owner").Scan(&owner); err != nil || owner != "churn_nightly" {
		t.Fatalf("owner row %q (%v)", owner, err)
	}
	before := count("SELECT count(*) FROM owned_scores_runs")
	res := runWith(t, batchscore, env, "run", b, "--date", date20)
	refused(t, "run", res, "owned_scores")
	if n := count("SELECT count(*) FROM owned_scores_runs"); n != before {
		t.Errorf("the registry has %d versions after the refused run, %d before", n, before)
	}
	if vs, _ := filepath.Glob(filepath.Join(tblB, "versions", "*", "*")); len(vs) != 0 {
		t.Errorf("the refused run published %v", vs)
	}

	// A registry from before owners: adopted by the next job that runs.
	pgtest.Exec(t, dsn, "DROP TABLE owned_scores_owner")
	res = runWith(t, batchscore, env, "run", a, "--date", date20, "--force")
	if res.code != 0 || !strings.Contains(res.messages(), "result table adopted") {
		t.Errorf("run on a registry without owner: %s", res)
	}

	res = runWith(t, batchscore, env, "reown", b)
	if res.code != 0 || !strings.Contains(res.stdout, `SQL table owned_scores: belonged to job "churn_nightly", now to job "churn_other"`) {
		t.Fatalf("reown: %s", res)
	}
	if res := runWith(t, batchscore, env, "run", b, "--date", date20); res.code != 0 {
		t.Errorf("run after reown: %s", res)
	}
}

// A gate that stops a run (exit 3) leaves no saved chunks behind: the
// same run id would stop the same way. A killed run keeps them (see
// e2e_resume_test.go).
func TestI18TableGatedRunCleansResume(t *testing.T) {
	t.Parallel()
	tbl := filepath.Join(t.TempDir(), "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: tbl, chunkRows: 300, edit: func(s string) string {
		return strings.Replace(s, "min_rows: 100\n", "min_rows: 1000000\n", 1)
	}})
	res := bs(t, "run", job, "--date", date20, "--json")
	if res.code != 3 {
		t.Fatalf("want the min_rows gate to stop the run: %s", res)
	}
	m := parseManifest(t, []byte(res.stdout))
	if m.RunID == "" || m.Counts.Scored == 0 {
		t.Fatalf("the gate stopped the run before scoring (run id %q, scored %d): the test needs saved chunks", m.RunID, m.Counts.Scored)
	}
	if left, _ := filepath.Glob(filepath.Join(tbl, "_resume", "*")); len(left) != 0 {
		t.Errorf("the gated run left %v", left)
	}
}

// A table on S3: the owner is an object under the prefix, claimed with a
// conditional write; another job is refused and the pointer stays. The
// pointer's locations are relative to the table (no writer's endpoint),
// and the run summary prints where the manifest and report are in the
// bucket, not in the work folder.
func TestI18TableOnS3(t *testing.T) {
	url := remoteTable(t)
	env := append(ortEnv(t), workDir(t))
	a := writeJob(t, "churn_nightly.yaml", jobOpts{table: url, source: shardSnapshot(t)})
	b := writeJob(t, "churn_nightly.yaml", jobOpts{table: url, source: shardSnapshot(t), edit: renamed("churn_other")})
	res := runWith(t, batchscore, env, "run", a, "--date", date20)
	if res.code != 0 {
		t.Fatal(res)
	}
	base, _, _ := strings.Cut(url, "?")
	for _, want := range []string{"manifest: " + base + "/runs/" + date20 + "/", "report:   " + base + "/runs/" + date20 + "/", "results:  " + base + "/versions/"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("the summary does not print %q:\n%s", want, res.stdout)
		}
	}
	if strings.Contains(res.stdout, "?") || strings.Contains(res.stdout, os.TempDir()) {
		t.Errorf("the summary prints a query or a work-folder path:\n%s", res.stdout)
	}
	p, _ := readPointer(t, url, date20)
	if p.Path != "versions/"+date20+"/"+p.Version || p.Manifest != "runs/"+date20+"/"+p.Version+".json" {
		t.Errorf("pointer %+v: want locations relative to the table", p)
	}
	folder, manifest := p.Resolve(url)
	rows := bucketRows(t, folder)
	if rows == 0 {
		t.Errorf("no rows under %s", folder)
	}
	// The README's DuckDB recipe, on a copy of the bucket's objects (the
	// pointer's relative locations resolve under any root).
	if os.Getenv("BATCHSCORE_DUCKDB_NODE_MODULES") != "" {
		local := copyBucket(t, url)
		sql := strings.ReplaceAll(readmeSnippet(t, "SET VARIABLE t = ", "read_parquet(getvariable('files'));"), "s3://scores/churn_scores", local)
		sql = strings.ReplaceAll(sql, "2026-11-20", date20)
		sql = strings.Replace(sql, "SELECT * FROM read_parquet", "SELECT count(*) AS n FROM read_parquet", 1)
		if got := duckdb(t, sql); len(got) != 1 || asInt(t, got[0]["n"]) != rows {
			t.Errorf("DuckDB through the pointer read %v rows, the version has %d", got, rows)
		}
	}
	if keys := bucketKeys(t, url, "_owner.json"); len(keys) != 1 {
		t.Errorf("no owner object: %v", keys)
	}
	_, key, _ := blob.Split(manifest)
	if !strings.HasSuffix(key, p.Manifest) {
		t.Errorf("the pointer's manifest resolves to %s", manifest)
	}

	// Another job, from another machine: refused, the pointer stays.
	res = runWith(t, batchscore, append(ortEnv(t), workDir(t)), "run", b, "--date", date20, "--force")
	refused(t, "run", res, base)
	if v := readPointerVersion(t, url); v != p.Version {
		t.Errorf("the pointer names %s after the refused run, want %s", v, p.Version)
	}
	refused(t, "runs", runWith(t, batchscore, append(ortEnv(t), workDir(t)), "runs", b), base)

	// Renamed on purpose, from a third machine: the bucket's owner object
	// changes, and every machine sees it.
	if res := runWith(t, batchscore, append(ortEnv(t), workDir(t)), "reown", b); res.code != 0 || !strings.Contains(res.stdout, `now to job "churn_other"`) {
		t.Fatalf("reown: %s", res)
	}
	if res := runWith(t, batchscore, append(ortEnv(t), workDir(t)), "runs", b, "--json"); res.code != 0 || !strings.Contains(res.stdout, `"job": "churn_nightly"`) {
		t.Errorf("runs after reown on another machine: %s", res)
	}
	refused2 := runWith(t, batchscore, env, "run", a, "--date", date20, "--force")
	if refused2.code != 2 || !strings.Contains(refused2.messages(), `"churn_other"`) {
		t.Errorf("the old name on the first machine after reown: %s", refused2)
	}
}

// readmeSnippet is the README's text from the line holding first to the
// line holding last, unindented.
func readmeSnippet(t *testing.T, first, last string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if len(out) == 0 && !strings.Contains(line, first) {
			continue
		}
		out = append(out, strings.TrimSpace(line))
		if strings.Contains(line, last) {
			return strings.Join(out, "\n")
		}
	}
	t.Fatalf("README.md has no snippet from %q to %q", first, last)
	return ""
}

// copyBucket downloads every object of the table at url into a new
// folder, keys kept: the bucket as a reader sees it.
func copyBucket(t *testing.T, url string) string {
	t.Helper()
	bucketURL, prefix, _ := blob.Split(url)
	ctx := context.Background()
	b, err := blob.Open(ctx, bucketURL)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	objs, err := b.List(ctx, prefix+"/")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, o := range objs {
		dst := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(o.Key, prefix+"/")))
		if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := b.Download(ctx, o.Key, dst, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
