package main

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/parquet/file"

	"github.com/batchscore/batchscore/internal/crashpoint"
	"github.com/batchscore/batchscore/internal/testkit/onnxtest"
	"github.com/batchscore/batchscore/jobs/report"
)

const (
	crashRows  = 60_000 // about a second of work for one run on 2 cores
	crashChunk = 2048   // 30 chunks: many instants to die in
	crashSeed  = "BATCHSCORE_CRASH_SEED"
)

// crashPoints are the named instants a run is killed at, each at least
// twice; staged-chunk at several chunks. See package crashpoint.
var crashPoints = []string{
	"opened", "opened",
	"checkpointed:2", "checkpointed:18",
	"staged-chunk:1", "staged-chunk:7", "staged-chunk:15", "staged-chunk:22",
	"staged", "staged",
	"publish-renamed", "publish-renamed",
	"publish-swapped", "publish-swapped",
	"report-temp", "report-temp:3",
	"manifest", "manifest",
	"manifest-temp", "manifest-temp",
}

// randomKills is how many external SIGKILLs at random instants land (runs
// that finish before their kill do not count).
const randomKills = 36

// TestCrashAnywhere kills executions with SIGKILL, at named points inside
// the run and from outside at random instants, one after the other. After
// every kill, readers must see a complete version: the one that was
// current, byte for byte, or (killed after the swap) the new one, whole;
// nothing half-written through the documented glob; and the next run must
// succeed. BATCHSCORE_CRASH_SEED=<seed> replays the random instants.
func TestCrashAnywhere(t *testing.T) {
	if testing.Short() {
		t.Skip("kills about 50 runs")
	}
	began := time.Now()
	seed := time.Now().UnixNano()
	if s := os.Getenv(crashSeed); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", crashSeed, s, err)
		}
	}
	t.Logf("seed %d (%s=%d replays the random kills)", seed, crashSeed, seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6261746368))

	tmp := t.TempDir()
	c := &crashRig{table: filepath.Join(tmp, "scores"), phases: map[string]int{}, ducked: map[string]bool{}}
	snap := filepath.Join(tmp, "snap")
	if res := runWith(t, gensnapshot, baseEnv(), "--date", date20, "--rows", strconv.Itoa(crashRows), "--files", "2", "--out", snap, "-q"); res.code != 0 {
		t.Fatalf("gensnapshot failed\n%s", res)
	}
	c.job = writeJob(t, "churn_nightly.yaml", jobOpts{
		table: c.table, chunkRows: crashChunk,
		source: filepath.Join(snap, "snapshot_date={{ .Date }}", "*.parquet"),
		edit:   func(s string) string { return removeLine(t, s, "    max_row_change_pct: 50") },
	})
	if c.duck = duckdbAvailable(); !c.duck {
		t.Run("duckdb", func(t *testing.T) { onnxtest.DuckDBNodeModules(t) }) // skips, or fails in CI
	}

	// The version readers rely on, and what every later version must be
	// byte for byte: same snapshot, model and job file, same run id.
	res := bs(t, "run", c.job, "--date", date20, "--json")
	if res.code != 0 {
		t.Fatalf("first run failed\n%s", res)
	}
	c.ref = parseManifest(t, []byte(res.stdout))
	checkSucceededManifest(t, c.ref, c.table, date20, crashRows)
	if t.Failed() {
		t.FailNow()
	}
	c.verified = map[string]bool{c.ref.Version: true}

	// A clean run's duration, start to exit, bounds the random instants.
	var clean time.Duration
	for range 2 {
		start := time.Now()
		if res := c.run(t, "", true, 0); res.code != 0 {
			t.Fatalf("clean run failed\n%s", res.stderr)
		}
		clean = max(clean, time.Since(start))
	}
	t.Logf("a clean run of %d rows in chunks of %d takes %v", crashRows, crashChunk, clean.Round(time.Millisecond))

	type attempt struct {
		point string        // a named crash point, or ""
		delay time.Duration // for an external kill
	}
	var plan []attempt
	for _, p := range crashPoints {
		plan = append(plan, attempt{point: p})
	}
	for range randomKills {
		plan = append(plan, attempt{delay: 1 + time.Duration(rng.Int64N(int64(clean)))})
	}
	rng.Shuffle(len(plan), func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })

	var kills, outrun, named int
	for i := 0; i < len(plan); i++ {
		a := plan[i]
		name := a.point
		if name == "" {
			name = "kill after " + a.delay.Round(time.Millisecond).String()
		}
		ok := t.Run(fmt.Sprintf("%02d %s", i, name), func(t *testing.T) {
			before := snapshotTable(t, c.table, date20)
			known := manifests(t, c.table, date20)
			res := c.run(t, a.point, true, a.delay)
			if !res.killed {
				if a.point != "" {
					t.Fatalf("crash point %s was never reached: exit %d\n%s", a.point, res.code, clip(res.stderr))
				}
				if res.code != 0 {
					t.Fatalf("exit %d\n%s", res.code, clip(res.stderr))
				}
				// Finished before the kill: draw another instant, earlier.
				if outrun++; outrun > 3*randomKills {
					t.Fatalf("%d runs finished before their kill: the clean run's duration (%v) is no guide", outrun, clean)
				}
				plan = append(plan, attempt{delay: 1 + time.Duration(rng.Int64N(int64(clean)*3/4))})
				c.checkCurrent(t, before, true)
				return
			}
			kills++
			if a.point != "" {
				named++
			}
			phase := c.afterKill(t, before, known, res.pid)
			c.phases[phase]++
			t.Logf("killed in phase %s", phase)
			c.recover(t, i%2 == 0)
		})
		if !ok {
			t.Fatalf("stopping after a broken invariant (seed %d)", seed)
		}
	}
	if kills < 50 {
		t.Errorf("%d kills, want at least 50", kills)
	}
	var lines []string
	for p, n := range c.phases {
		lines = append(lines, fmt.Sprintf("  %-34s %d", p, n))
	}
	sort.Strings(lines)
	t.Logf("%d kills (%d at named points, %d external), %d runs finished before their kill; seed %d; %v in all\nkills by phase:\n%s",
		kills, named, kills-named, outrun, seed, time.Since(began).Round(time.Second), strings.Join(lines, "\n"))
}

// crashRig is the table under test and what is known about it.
type crashRig struct {
	table, job string
	ref        *report.Manifest // the first run's: every version's files must match it
	verified   map[string]bool  // versions already checked complete (they are immutable)
	duck       bool
	ducked     map[string]bool // versions DuckDB has read through current/
	phases     map[string]int
}

type crashResult struct {
	code           int
	killed         bool
	pid            int
	stdout, stderr string
}

// run starts the job (with --force when asked) and, for point, arms that
// crash point; with delay > 0 it is killed from outside after delay.
func (c *crashRig) run(t *testing.T, point string, force bool, delay time.Duration) crashResult {
	t.Helper()
	args := []string{"run", c.job, "--date", date20, "--log-format", "json"}
	if force {
		args = append(args, "--force")
	}
	cmd := exec.Command(batchscore, args...)
	var env []string
	for _, kv := range ortEnv(t) {
		if !strings.HasPrefix(kv, crashpoint.Env+"=") {
			env = append(env, kv)
		}
	}
	if point != "" {
		env = append(env, crashpoint.Env+"="+point)
	}
	cmd.Env = env
	cmd.Dir = t.TempDir()
	watched := watchTables(t, env, args)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if delay > 0 {
		timer := time.AfterFunc(delay, func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
		defer timer.Stop()
	}
	guard := time.AfterFunc(2*time.Minute, func() { _ = cmd.Process.Kill() })
	err := cmd.Wait()
	if !guard.Stop() {
		t.Fatalf("the run did not end within 2 minutes\n%s", clip(stderr.String()))
	}
	res := crashResult{pid: cmd.Process.Pid, stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
		ws, _ := ee.Sys().(syscall.WaitStatus)
		res.killed = ws.Signaled() && ws.Signal() == syscall.SIGKILL
	case err != nil:
		t.Fatal(err)
	}
	if !res.killed && res.code == 0 { // a finished run: what it published
		for _, w := range watched {
			w.checkPublished(t)
		}
	}
	return res
}

// afterKill checks the invariants right after a kill and names the phase
// the kill landed in, from what the run left on disk.
func (c *crashRig) afterKill(t *testing.T, before tableState, known map[string]*report.Manifest, pid int) string {
	t.Helper()
	vdir := func(v string) string { return filepath.Join(c.table, "versions", date20, v) }

	// The previously current version is intact, byte for byte.
	sameFiles(t, "previous current version "+before.current, readFiles(t, vdir(before.current)), before.files)

	// Every version folder holds a complete version: no rename ever
	// exposed a partial one.
	versions := listDir(t, filepath.Join(c.table, "versions", date20))
	var added []string
	for _, v := range versions {
		if !slices.Contains(before.versions, v) {
			added = append(added, v)
		}
		if !c.verified[v] {
			c.checkComplete(t, v)
			c.verified[v] = true
		}
	}
	if len(added) > 1 {
		t.Errorf("one killed run added versions %v", added)
	}

	// current/<date> is the old version or, after the swap, the new one.
	cur := c.checkCurrent(t, before, false)
	ms := manifests(t, c.table, date20)
	stale := listDir(t, filepath.Join(c.table, "_staging"))
	temps, _ := filepath.Glob(filepath.Join(c.table, "runs", date20, ".*.tmp"))
	lock := filepath.Join(c.table, "_locks", date20+".lock")
	holder, _ := os.ReadFile(lock)
	locked := bytes.Contains(holder, []byte(fmt.Sprintf(`"pid":%d,`, pid)))
	var phase string
	switch {
	case cur != before.current:
		if len(added) != 1 || cur != added[0] {
			t.Errorf("current/%s -> %s, which is neither the old version %s nor the new one %v", date20, cur, before.current, added)
		}
		phase = "7 swapped, manifest written"
		switch m := ms[cur]; {
		case m == nil:
			t.Errorf("the new current version %s has no manifest, not even the provisional one", cur)
		case m.Status == report.StatusPublishing:
			phase = "6 swapped, provisional manifest"
			if reports, _ := filepath.Glob(filepath.Join(c.table, "runs", date20, cur+".*")); len(reports) > 0 || len(temps) > 0 {
				phase = "6 swapped, reports, provisional manifest"
			}
			c.checkListed(t, m)
		case m.Status != report.StatusSucceeded:
			t.Errorf("the new current version's manifest says %s", m.Status)
		}
	case len(added) == 1:
		phase = "5 renamed into versions/, not current"
		if m := ms[added[0]]; m == nil || m.Status != report.StatusPublishing {
			t.Errorf("version %s was renamed into versions/ without its provisional manifest", added[0])
		} else {
			c.checkListed(t, m)
		}
	case slices.ContainsFunc(stale, func(s string) bool { return !strings.HasSuffix(s, "-keys") }):
		phase = "4 staging"
		if parts, _ := filepath.Glob(filepath.Join(c.table, "_staging", "*", "part-*.parquet")); len(parts) == 0 {
			phase = "4 staging, no file yet"
		}
	case len(stale) > 0:
		phase = "3 checks started, nothing staged"
	case locked:
		phase = "2 locked, opening model and snapshot"
	default:
		phase = "1 starting, before the date lock"
	}
	if phase > "2" && !locked {
		t.Errorf("the lock file does not name the killed pid %d: %s", pid, holder)
	}

	// A killed run leaves no manifest, unless it died publishing (the
	// provisional one, written just before the rename into versions/) or
	// on its way out.
	for v, m := range ms {
		if known[v] != nil || v == cur {
			continue
		}
		switch {
		case m.Status != report.StatusPublishing:
			t.Errorf("the killed run left a manifest for %s (status %s)", v, m.Status)
		case !slices.Contains(added, v):
			phase += ", provisional manifest" // killed between the manifest and the rename
		}
	}
	// Its date lock went with it: the kernel dropped the flock.
	f, err := os.Open(lock)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Errorf("the date lock is still held after the kill: %v", err)
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return phase
}

// checkListed checks that a provisional manifest lists the files its
// version holds, with their checksums.
func (c *crashRig) checkListed(t *testing.T, m *report.Manifest) {
	t.Helper()
	dir := filepath.Join(c.table, "versions", date20, m.Version)
	if len(m.Output.Files) != len(c.ref.Output.Files) {
		t.Errorf("the provisional manifest of %s lists %d files, want %d", m.Version, len(m.Output.Files), len(c.ref.Output.Files))
	}
	for _, f := range m.Output.Files {
		if got := fileSHA(t, filepath.Join(dir, f.Name)); got != f.SHA256 {
			t.Errorf("%s/%s: sha256 %s, its provisional manifest says %s", m.Version, f.Name, got, f.SHA256)
		}
	}
}

// checkComplete checks a version folder against the reference manifest:
// the same files, byte for byte, and every row.
func (c *crashRig) checkComplete(t *testing.T, v string) {
	t.Helper()
	dir := filepath.Join(c.table, "versions", date20, v)
	files := readFiles(t, dir)
	var listed []string
	var rows int64
	for _, f := range c.ref.Output.Files {
		listed = append(listed, f.Name)
		data, ok := files[f.Name]
		if !ok {
			t.Errorf("version %s lacks %s", v, f.Name)
			continue
		}
		if sha(data) != f.SHA256 || int64(len(data)) != f.Bytes {
			t.Errorf("version %s: %s has %d bytes, sha256 %s; the reference %d, %s", v, f.Name, len(data), sha(data), f.Bytes, f.SHA256)
		}
		rows += parquetRows(t, filepath.Join(dir, f.Name))
	}
	var onDisk []string
	for name := range files {
		onDisk = append(onDisk, name)
	}
	sort.Strings(onDisk)
	sort.Strings(listed)
	if !slices.Equal(onDisk, listed) {
		t.Errorf("version %s holds %v, the reference manifest lists %v", v, onDisk, listed)
	}
	if rows != crashRows {
		t.Errorf("version %s holds %d rows, want %d", v, rows, crashRows)
	}
}

// checkCurrent checks what a reader of current/<date> gets: a complete
// version through the documented glob, with its own manifest when
// withManifest, and returns the version.
func (c *crashRig) checkCurrent(t *testing.T, before tableState, withManifest bool) string {
	t.Helper()
	cur := currentVersion(t, c.table, date20)
	if cur == "" {
		t.Fatalf("current/%s is gone", date20)
	}
	if cur != before.current && !c.verified[cur] {
		c.checkComplete(t, cur)
		c.verified[cur] = true
	}
	if withManifest || cur == before.current {
		m := manifests(t, c.table, date20)[cur]
		if m == nil {
			t.Fatalf("current version %s has no manifest", cur)
		}
		checkSucceededManifest(t, m, c.table, date20, crashRows)
	}
	glob := filepath.Join(c.table, "current", date20, "*.parquet")
	paths, err := filepath.Glob(glob)
	if err != nil || len(paths) == 0 {
		t.Fatalf("%s matches nothing: %v", glob, err)
	}
	var rows int64
	for _, p := range paths {
		rows += parquetRows(t, p)
	}
	if rows != crashRows {
		t.Errorf("%s holds %d rows, want %d", glob, rows, crashRows)
	}
	// A version's files are immutable and checked byte for byte above, so
	// DuckDB reads each version through current/ once, not after every kill.
	if c.duck && !c.ducked[cur] {
		c.ducked[cur] = true
		got := duckdb(t, "SELECT count(*) AS n, count(DISTINCT run_id) AS runs, min(run_id) AS run FROM read_parquet("+sqlPath(glob)+")")
		if asInt(t, got[0]["n"]) != crashRows || asInt(t, got[0]["runs"]) != 1 || got[0]["run"] != c.ref.RunID {
			t.Errorf("DuckDB reads %v through %s, want %d rows of run %s", got, glob, crashRows, c.ref.RunID)
		}
	}
	return cur
}

// recover runs the job again, as the scheduler's retry would: it must
// succeed, clean what the killed run left, and leave a current version
// with its manifest. Without force, a date still current with the same
// run id is a no-op, and one whose run was killed after the swap runs.
func (c *crashRig) recover(t *testing.T, force bool) {
	t.Helper()
	before := snapshotTable(t, c.table, date20)
	res := c.run(t, "", force, 0)
	if res.code != 0 {
		t.Fatalf("the run after the kill: exit %d\n%s", res.code, clip(res.stderr))
	}
	if left := listDir(t, filepath.Join(c.table, "_staging")); len(left) != 0 {
		t.Errorf("_staging holds %v after the next run", left)
	}
	if temps, _ := filepath.Glob(filepath.Join(c.table, "runs", "*", ".*.tmp")); len(temps) != 0 {
		t.Errorf("temporary files left in runs/: %v", temps)
	}
	c.checkCurrent(t, before, true)
}

func parquetRows(t *testing.T, path string) int64 {
	t.Helper()
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return 0
	}
	defer pf.Close()
	return pf.NumRows()
}

// duckdbAvailable says whether the interop tests' DuckDB can run here,
// without skipping the caller.
func duckdbAvailable() bool {
	p := os.Getenv("BATCHSCORE_DUCKDB_NODE_MODULES")
	if p == "" {
		p = filepath.Join(repoRootPath, "third_party", "node", "node_modules")
	}
	_, err := os.Stat(filepath.Join(p, "@duckdb", "node-api"))
	_, nodeErr := exec.LookPath("node")
	return err == nil && nodeErr == nil
}
