package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/batchscore/batchscore/internal/testkit/pgtest"
	"github.com/batchscore/batchscore/jobs/report"
)

// shardRows makes a snapshot of 3 files of 2 row groups each (65,536 +
// 34,464 rows): 6 units for 4 shards, so shards differ in size.
const shardRows = 300000

func shardSnapshot(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "snap")
	if res := runWith(t, gensnapshot, baseEnv(), "--date", date20, "--rows", strconv.Itoa(shardRows), "--files", "3", "--out", root, "-q"); res.code != 0 {
		t.Fatalf("gensnapshot failed\n%s", res)
	}
	return filepath.Join(root, "snapshot_date={{ .Date }}", "*.parquet")
}

// runShards runs shards of count at once, each with its own environment
// additions, and returns their results by index.
func runShards(t *testing.T, job string, count int, shards []int, env map[int][]string, flags ...string) map[int]result {
	t.Helper()
	var mu sync.Mutex
	out := map[int]result{}
	var wg sync.WaitGroup
	for _, k := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := append([]string{"run", job, "--date", date20, "--shard", fmt.Sprintf("%d/%d", k, count)}, flags...)
			res := runWith(t, batchscore, append(ortEnv(t), env[k]...), args...)
			mu.Lock()
			out[k] = res
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// versionRows reads every column of a version's part files, in name
// order, as text per row: what a reader sees, in file order.
func versionRows(t *testing.T, dir string) (cols []string, rows []string) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "part-*.parquet"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no part files in %s (%v)", dir, err)
	}
	slices.Sort(paths)
	for _, p := range paths {
		tbl := readParquet(t, p)
		if cols == nil {
			for _, f := range tbl.Schema().Fields() {
				cols = append(cols, f.Name)
			}
		}
		arrs := make([]arrow.Array, len(cols))
		for i, c := range cols {
			arrs[i] = column(t, tbl, c)
		}
		for r := 0; r < int(tbl.NumRows()); r++ {
			var b strings.Builder
			for _, a := range arrs {
				if f, ok := a.(*array.Float64); ok {
					fmt.Fprintf(&b, "%x|", f.Value(r)) // exact bits, not a rounding
				} else {
					b.WriteString(a.ValueStr(r) + "|")
				}
			}
			rows = append(rows, b.String())
		}
	}
	return cols, rows
}

// onlyCommit is the manifest of the date's one published commit.
func onlyCommit(t *testing.T, table string) *report.Manifest {
	t.Helper()
	var out *report.Manifest
	for _, m := range manifests(t, table, date20) {
		if m.Trigger == "commit" && m.Output.Published {
			if out != nil {
				t.Fatalf("two commits published: %s and %s", out.Version, m.Version)
			}
			out = m
		}
	}
	if out == nil {
		t.Fatal("no commit published")
	}
	return out
}

// reportChecks is what a version's report says of the rules and table
// rules, as text: failures per rule, each table rule's verdict and detail.
func reportChecks(t *testing.T, table, version string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(table, "runs", date20, version+".report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Rules []struct {
			Name    string
			Failed  int64
			Samples []struct {
				File string
				Row  int64
			}
		}
		Table []struct {
			Name   string
			Passed bool
			Detail string
		}
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%+v\n%+v", rep.Rules, rep.Table)
}

// Four shards run at once, one of them killed mid-way: a commit before it
// is retried publishes nothing and names it; after the retry the commit
// publishes a version whose rows, scores and order equal a single-process
// run's over the same snapshot.
func TestShardsCommitAsOneRun(t *testing.T) {
	table := filepath.Join(t.TempDir(), "scores")
	// A review queue and a fallback: their sections and side tables are
	// merged too.
	sections := "review:\n  band: [0.3, 0.6]\n  min_confidence: 0.6\n  out_of_range: true\nfallback:\n  kind: constant\n  value: 0.5\n"
	// Rules tightened so that rows are rejected, clipped and sampled in
	// every shard.
	tighten := func(s string) string {
		s = appendSection(sections)(s)
		s = strings.Replace(s, "{column: monthly_charges, check: range, min: 0, max: 1000}", "{column: monthly_charges, check: range, min: 0, max: 100}", 1)
		s = strings.Replace(s, "{column: tenure_months, check: range, min: 0, max: 600, action: clip}", "{column: tenure_months, check: range, min: 0, max: 24, action: clip}", 1)
		return strings.Replace(s, "max_invalid_fraction: 0.01", "max_invalid_fraction: 0.5", 1)
	}
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, source: shardSnapshot(t), chunkRows: 20000, edit: tighten})
	if res := bs(t, "run", job, "--date", date20); res.code != 0 {
		t.Fatalf("single-process run: %s", res)
	}
	single := onlyManifest(t, table, date20)
	if single.Counts.Quarantined == 0 || single.Counts.Clipped == 0 {
		t.Fatalf("the tightened rules rejected %d and clipped %d rows: the test proves less than it says", single.Counts.Quarantined, single.Counts.Clipped)
	}
	wantCols, wantRows := versionRows(t, single.Output.Path)
	before := snapshotTable(t, table, date20)

	// --force: the single run made the date current with the same run id.
	results := runShards(t, job, 4, []int{0, 1, 2, 3}, map[int][]string{2: {"BATCHSCORE_CRASHPOINT=staged-chunk:2"}}, "--force")
	for k, res := range results {
		if k == 2 && res.code != -1 {
			t.Fatalf("shard 2 was not killed at its 2nd staged chunk: %s", res)
		}
		if k != 2 && res.code != 0 {
			t.Fatalf("shard %d: %s", k, res)
		}
	}
	res := bs(t, "commit", job, "--date", date20, "--shards", "4", "--force")
	if res.code != 1 || !strings.Contains(res.stdout+res.stderr, "shard 2 of 4") {
		t.Fatalf("commit with shard 2 killed: want exit 1 naming shard 2, got %s", res)
	}
	before.unchanged(t, table, date20)

	if res := runShards(t, job, 4, []int{2}, nil, "--force")[2]; res.code != 0 {
		t.Fatalf("shard 2 retried: %s", res)
	}
	res = bs(t, "commit", job, "--date", date20, "--shards", "4", "--json", "--force")
	if res.code != 0 {
		t.Fatalf("commit: %s", res)
	}
	m := parseManifest(t, []byte(res.stdout))
	if !m.Output.Published || m.Trigger != "commit" || len(m.Shards) != 4 || m.RunID != single.RunID {
		t.Fatalf("commit manifest: published %v, trigger %s, %d shards, run id %s (single %s)", m.Output.Published, m.Trigger, len(m.Shards), m.RunID, single.RunID)
	}
	booksBalance(t, m)
	if m.Counts != single.Counts {
		t.Errorf("commit counts %+v, single run %+v", m.Counts, single.Counts)
	}
	var shardRowsSum int64
	for _, s := range m.Shards {
		shardRowsSum += s.Rows
		if s.Rows == 0 {
			t.Errorf("shard %d read no rows: the row groups were not spread", s.Index)
		}
	}
	if shardRowsSum != shardRows {
		t.Errorf("shards read %d rows, want %d", shardRowsSum, shardRows)
	}
	if !m.Validation.Passed || len(m.Validation.Breaches) != 0 {
		t.Errorf("validation over the shards: passed %v, breaches %v", m.Validation.Passed, m.Validation.Breaches)
	}
	gotCols, gotRows := versionRows(t, m.Output.Path)
	if !slices.Equal(gotCols, wantCols) {
		t.Fatalf("columns %v, single run %v", gotCols, wantCols)
	}
	if len(gotRows) != len(wantRows) {
		t.Fatalf("%d rows, single run %d", len(gotRows), len(wantRows))
	}
	for i := range wantRows {
		if gotRows[i] != wantRows[i] {
			t.Fatalf("row %d differs from the single run's:\n%s\n%s", i, gotRows[i], wantRows[i])
		}
	}
	if currentVersion(t, table, date20) != m.Version {
		t.Errorf("current/%s is not the committed version", date20)
	}
	checkShardsMatchSingle(t, table, single, m)
	if left := listDir(t, filepath.Join(table, "_shards")); len(left) != 0 {
		t.Errorf("_shards holds %v after the commit", left)
	}
	// Every shard's execution left its manifest, staged or killed.
	staged := 0
	for _, sm := range manifests(t, table, date20) {
		if sm.Status == report.StatusStaged {
			staged++
		}
	}
	if staged != 4 {
		t.Errorf("%d staged shard manifests in runs/, want 4", staged)
	}
	// A commit retried after it succeeded is a no-op; so are shards run
	// again over the same snapshot, and their commit.
	if res := bs(t, "commit", job, "--date", date20, "--shards", "4"); res.code != 0 || !strings.Contains(res.stdout, "already current") {
		t.Errorf("second commit: %s", res)
	}
	for k, res := range runShards(t, job, 4, []int{0, 1, 2, 3}, nil) {
		if res.code != 0 || !strings.Contains(res.stdout, "already current") {
			t.Errorf("shard %d over a current date: %s", k, res)
		}
	}
	if res := bs(t, "commit", job, "--date", date20, "--shards", "4"); res.code != 0 || !strings.Contains(res.stdout, "already current") {
		t.Errorf("commit of already-current shards: %s", res)
	}
	if currentVersion(t, table, date20) != m.Version {
		t.Errorf("current/%s moved", date20)
	}
}

// checkShardsMatchSingle checks that the commit's side tables, review and
// fallback sections and report checks agree with the single run's.
func checkShardsMatchSingle(t *testing.T, table string, single, m *report.Manifest) {
	t.Helper()
	for _, sub := range []string{"_review", "_quarantine"} {
		var got, want []string
		if listDir(t, filepath.Join(single.Output.Path, sub)) != nil {
			_, want = versionRows(t, filepath.Join(single.Output.Path, sub))
		}
		if listDir(t, filepath.Join(m.Output.Path, sub)) != nil {
			_, got = versionRows(t, filepath.Join(m.Output.Path, sub))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: %d rows, single run %d, or other rows", sub, len(got), len(want))
		}
		if sub == "_review" && len(want) == 0 {
			t.Error("no row was routed to review: the test proves nothing")
		}
	}
	if m.Review == nil || single.Review == nil || m.Review.Rows != single.Review.Rows || fmt.Sprint(m.Review.Reasons) != fmt.Sprint(single.Review.Reasons) {
		t.Errorf("review %+v, single run %+v", m.Review, single.Review)
	}
	if m.Fallback == nil || m.Fallback.Rows != 0 || m.Fallback.Kind != "constant" || m.Fallback.Fraction != 0 {
		t.Errorf("fallback %+v", m.Fallback)
	}
	if got, want := reportChecks(t, table, m.Version), reportChecks(t, table, single.Version); got != want {
		t.Errorf("the commit's report checks:\n%s\nthe single run's:\n%s", got, want)
	}
}

// The quality gate runs over every shard: keys unique within each shard
// but repeated across two fail the commit (exit 3), and nothing is
// published. Shards of another snapshot do not mix.
func TestCommitChecksAcrossShards(t *testing.T) {
	source := shardSnapshot(t)
	dir := filepath.Dir(strings.ReplaceAll(source, "{{ .Date }}", date20))
	table := filepath.Join(t.TempDir(), "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, source: source})

	// part-00003 repeats part-00000's customers: the first and the last
	// shard each hold one copy.
	data, err := os.ReadFile(filepath.Join(dir, "part-00000.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "part-00003.parquet"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	for k, res := range runShards(t, job, 2, []int{0, 1}, nil, "--force") {
		if res.code != 0 {
			t.Fatalf("shard %d: %s", k, res)
		}
	}
	res := bs(t, "commit", job, "--date", date20, "--shards", "2", "--json")
	if res.code != 3 {
		t.Fatalf("commit of duplicated keys: want exit 3, got %s", res)
	}
	m := parseManifest(t, []byte(res.stdout))
	if m.Output.Published || !strings.Contains(m.Error, "unique:customer_id") {
		t.Errorf("published %v, error %q: want the unique rule's breach", m.Output.Published, m.Error)
	}
	if v := listDir(t, filepath.Join(table, "versions", date20)); len(v) != 0 {
		t.Errorf("versions/%s holds %v after a failed commit", date20, v)
	}

	// Shard 1 again over a changed snapshot: the shards disagree.
	if err := os.Remove(filepath.Join(dir, "part-00003.parquet")); err != nil {
		t.Fatal(err)
	}
	if res := runShards(t, job, 2, []int{1}, nil, "--force")[1]; res.code != 0 {
		t.Fatalf("shard 1 again: %s", res)
	}
	res = bs(t, "commit", job, "--date", date20, "--shards", "2")
	if res.code != 1 || !strings.Contains(res.stdout+res.stderr, "shard 1 of 2: snapshot fingerprint") {
		t.Fatalf("commit of shards of two snapshots: want exit 1 naming shard 1, got %s", res)
	}
	if v := listDir(t, filepath.Join(table, "versions", date20)); len(v) != 0 {
		t.Errorf("versions/%s holds %v", date20, v)
	}

	// Usage errors.
	for _, args := range [][]string{
		{"run", job, "--date", date20, "--shard", "2/2"},
		{"run", job, "--date", date20, "--shard", "x"},
		{"run", job, "--from", date20, "--to", date20, "--shard", "0/2"},
		{"commit", job, "--date", date20},
	} {
		if res := bs(t, args...); res.code != 2 {
			t.Errorf("%v: want exit 2, got %s", args, res)
		}
	}
}

// A PostgreSQL source split by source.sql.shard_key into 3 shards, each
// its own process, then committed into the Parquet table and the SQL sink:
// the same rows and scores as a single run, ordered by key.
func TestSQLShards(t *testing.T) {
	dsn := pgtest.DSN(t)
	loadCustomers(t, dsn, date20)
	env := append(ortEnv(t), "CHURN_DSN="+dsn)
	table := filepath.Join(t.TempDir(), "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: func(s string) string {
		s = withoutRowChange(t)(s)
		s = reSQLSource.ReplaceAllString(s, `  sql: {driver: postgres, dsn_env: CHURN_DSN, shard_key: customer_id, query: "SELECT * FROM customers WHERE snapshot_date = :date ORDER BY customer_id"}`)
		return insertAfter(t, s, "  keys: [customer_id]", "  sql: {driver: postgres, dsn_env: CHURN_DSN, table: churn_scores}")
	}})
	if res := runWith(t, batchscore, env, "run", job, "--date", date20); res.code != 0 {
		t.Fatalf("single run: %s", res)
	}
	single := onlyManifest(t, table, date20)
	_, want := versionRows(t, single.Output.Path)
	slices.Sort(want)

	var wg sync.WaitGroup
	results := make([]result, 3)
	for k := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[k] = runWith(t, batchscore, env, "run", job, "--date", date20, "--shard", fmt.Sprintf("%d/3", k))
		}()
	}
	wg.Wait()
	for k, res := range results {
		if res.code != 0 {
			t.Fatalf("shard %d: %s", k, res)
		}
	}
	res := runWith(t, batchscore, env, "commit", job, "--date", date20, "--shards", "3", "--json")
	if res.code != 0 {
		t.Fatalf("commit: %s", res)
	}
	m := parseManifest(t, []byte(res.stdout))
	booksBalance(t, m)
	if m.Counts != single.Counts || m.Source.Rows != single.Source.Rows || m.Source.Kind != "sql" {
		t.Errorf("commit counts %+v (source rows %d), single run %+v (%d)", m.Counts, m.Source.Rows, single.Counts, single.Source.Rows)
	}
	for _, s := range m.Shards {
		if s.Rows == 0 || s.Rows == single.Counts.Read {
			t.Errorf("shard %d read %d of %d rows: the hash did not split them", s.Index, s.Rows, single.Counts.Read)
		}
	}
	_, got := versionRows(t, m.Output.Path)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("the committed rows (%d) differ from the single run's (%d)", len(got), len(want))
	}
	var n int64
	var version string
	if err := pgtest.Connect(t, dsn).QueryRow(context.Background(), "SELECT count(*), min(version) FROM churn_scores_current WHERE score_date = $1", date20).Scan(&n, &version); err != nil {
		t.Fatal(err)
	}
	if n != m.Counts.Written || version != m.Version {
		t.Errorf("churn_scores_current holds %d rows of version %s; want %d of %s", n, version, m.Counts.Written, m.Version)
	}
}

// Shards run beside each other, never beside a single run or a commit of
// their date, and each shard once at a time: exit 4 otherwise. The locks
// are held here as the other executions would hold them.
func TestShardLocks(t *testing.T) {
	table := filepath.Join(t.TempDir(), "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table})
	hold := func(name string, how int) func() {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(table, "_locks"), 0o750); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(filepath.Join(table, "_locks", name), os.O_RDWR|os.O_CREATE, 0o640)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
			t.Fatal(err)
		}
		return func() { f.Close() }
	}
	expect := func(code int, args ...string) {
		t.Helper()
		if res := bs(t, args...); res.code != code {
			t.Errorf("%v: want exit %d, got %s", args, code, res)
		}
	}
	shard0 := []string{"run", job, "--date", date20, "--shard", "0/2"}
	shard1 := []string{"run", job, "--date", date20, "--shard", "1/2"}

	release := hold(date20+".lock", syscall.LOCK_EX) // a single run or a commit
	expect(4, shard0...)
	release()

	release = hold(date20+".lock", syscall.LOCK_SH) // a shard running
	expect(4, "run", job, "--date", date20)
	expect(4, "commit", job, "--date", date20, "--shards", "2")
	expect(0, shard1...) // shards run side by side
	release()

	release = hold(date20+".shard-0-of-2.lock", syscall.LOCK_EX) // shard 0 running elsewhere
	expect(4, shard0...)
	release()
	expect(0, shard0...)
	expect(0, "commit", job, "--date", date20, "--shards", "2")
}
