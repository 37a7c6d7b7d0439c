package main

// The daemon through the built binary: a real `batchscore serve`, its job
// folder changed under it, SIGHUP, and /healthz, /metrics and /runs read
// over HTTP.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer is stderr written by the process while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// served is a running `batchscore serve`.
type served struct {
	t      *testing.T
	cmd    *exec.Cmd
	base   string
	client *http.Client
	stderr *lockedBuffer
	done   chan error
}

// startServe starts serve on a folder and waits for /healthz to answer.
func startServe(t *testing.T, jobsDir string) *served {
	t.Helper()
	port := freePort(t)
	s := &served{
		t:      t,
		base:   "http://127.0.0.1:" + strconv.Itoa(port),
		client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second},
		stderr: &lockedBuffer{},
		done:   make(chan error, 1),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	s.cmd = exec.CommandContext(ctx, batchscore, "serve", "--jobs", jobsDir, "--listen", "127.0.0.1:"+strconv.Itoa(port),
		"--grace", "2s", "--log-format", "json")
	s.cmd.Env = ortEnv(t)
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait(); cancel() }()
	before := watchJobsDir(t, s.cmd.Env, jobsDir)
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Kill()
			<-s.done
		}
		checkJobsDir(t, s.cmd.Env, jobsDir, before)
	})
	s.waitFor("/healthz to answer", 30*time.Second, func() bool {
		resp, err := s.client.Get(s.base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
	return s
}

// waitFor polls cond until it holds; the process must stay up meanwhile.
func (s *served) waitFor(what string, timeout time.Duration, cond func() bool) {
	s.t.Helper()
	for end := time.Now().Add(timeout); ; time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
		select {
		case err := <-s.done:
			s.done <- err
			s.t.Fatalf("serve exited (%v) while waiting for %s\n%s", err, what, clip(s.stderr.String()))
		default:
		}
		if time.Now().After(end) {
			s.t.Fatalf("timed out waiting for %s\n%s", what, clip(s.stderr.String()))
		}
	}
}

func (s *served) get(path string, into any) string {
	s.t.Helper()
	resp, err := s.client.Get(s.base + path)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET %s: %s\n%s", path, resp.Status, b.String())
	}
	if into != nil {
		if err := json.Unmarshal(b.Bytes(), into); err != nil {
			s.t.Fatalf("GET %s: %v\n%s", path, err, b.String())
		}
	}
	return b.String()
}

type healthBody struct {
	Status     string            `json:"status"`
	Jobs       []string          `json:"jobs"`
	LoadErrors map[string]string `json:"load_errors"`
}

type runRecord struct {
	Job      string     `json:"job"`
	Date     string     `json:"date"`
	Status   string     `json:"status"`
	ExitCode int        `json:"exit_code"`
	Started  time.Time  `json:"started"`
	Finished *time.Time `json:"finished"`
}

func (s *served) health() healthBody {
	var h healthBody
	s.get("/healthz", &h)
	return h
}

func (s *served) runs() []runRecord {
	var r []runRecord
	s.get("/runs", &r)
	return r
}

// reload sends SIGHUP and waits until /healthz shows what want accepts.
func (s *served) reload(what string, want func(healthBody) bool) healthBody {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		s.t.Fatal(err)
	}
	var h healthBody
	s.waitFor(what, 20*time.Second, func() bool {
		h = s.health()
		return want(h)
	})
	return h
}

// stop sends SIGTERM and wants exit 0.
func (s *served) stop() {
	s.t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Fatalf("serve exited with %v, want 0\n%s", err, clip(s.stderr.String()))
		}
	case <-time.After(60 * time.Second):
		s.t.Fatalf("serve did not stop\n%s", clip(s.stderr.String()))
	}
}

// serveJob writes a job file into the daemon's folder: the churn config
// renamed, on the given schedule, with its own table.
func serveJob(t *testing.T, dir, file, name, schedule string, catchup int, o jobOpts) string {
	t.Helper()
	edit := o.edit
	o.edit = func(s string) string {
		if edit != nil {
			s = edit(s)
		}
		s = strings.Replace(s, `schedule: "0 2 * * *"`, fmt.Sprintf("schedule: %q", schedule), 1)
		s = strings.Replace(s, "name: churn_nightly", "name: "+name, 1)
		return insertAfter(t, s, "timezone: UTC", "catchup: "+strconv.Itoa(catchup))
	}
	data, err := os.ReadFile(writeJob(t, "churn_nightly.yaml", o))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, file)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// A --jobs folder that does not exist, or is a file, is named: exit 2.
func TestI18DaemonMissingFolder(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nonexistent")
	res := bs(t, "serve", "--jobs", missing, "--listen", "127.0.0.1:0")
	if res.code != 2 || !strings.Contains(res.messages(), "jobs folder "+missing+" does not exist") {
		t.Errorf("missing folder: %s", res)
	}
	file := filepath.Join(t.TempDir(), "jobs.yaml")
	os.WriteFile(file, []byte("name: x\n"), 0o644)
	res = bs(t, "serve", "--jobs", file, "--listen", "127.0.0.1:0")
	if res.code != 2 || !strings.Contains(res.messages(), "--jobs "+file+" is a file, not a folder") {
		t.Errorf("a file as the folder: %s", res)
	}
}

// Two job files declaring one name are both refused, named in the log and
// /healthz; serve refuses to start when that leaves nothing to run. On
// SIGHUP a new file taking a running job's name is refused with it: the
// running job keeps its version, /healthz is degraded.
func TestI18DaemonDuplicateNames(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "jobs")
	os.MkdirAll(dir, 0o755)
	job := func(file, name string) string {
		return serveJob(t, dir, file, name, "0 2 * * *", 0, jobOpts{table: filepath.Join(tmp, file+"-table")})
	}
	a, b := job("a.yaml", "dup"), job("b.yaml", "dup")
	text, _ := os.ReadFile(a)
	nameLine := fmt.Sprintf("line %d: name", lineOf(t, string(text), "name: dup"))

	res := bs(t, "serve", "--jobs", dir, "--listen", "127.0.0.1:0")
	msgs := res.messages()
	if res.code != 2 || !strings.Contains(msgs, "no job file with a schedule loaded") {
		t.Fatalf("two files named dup and nothing else: %s", res)
	}
	for _, want := range []string{
		a + ": invalid job file: " + nameLine + `: job name "dup" is also declared by ` + b,
		b + ": invalid job file: " + nameLine + `: job name "dup" is also declared by ` + a,
	} {
		if !strings.Contains(msgs, want) {
			t.Errorf("no %q in\n%s", want, msgs)
		}
	}

	job("c.yaml", "other")
	s := startServe(t, dir)
	h := s.health()
	if h.Status != "degraded" || strings.Join(h.Jobs, ",") != "other" || len(h.LoadErrors) != 2 ||
		!strings.Contains(h.LoadErrors[a], "also declared by "+b) || !strings.Contains(h.LoadErrors[b], "also declared by "+a) {
		t.Errorf("started with a duplicate: %+v", h)
	}
	os.Remove(b)
	h = s.reload("dup to load once b.yaml is gone", func(h healthBody) bool { return len(h.Jobs) == 2 })
	if h.Status != "ok" || len(h.LoadErrors) != 0 {
		t.Errorf("after removing b.yaml: %+v", h)
	}
	// A new file takes the running job's name.
	job("b.yaml", "dup")
	h = s.reload("the duplicate to be reported", func(h healthBody) bool { return len(h.LoadErrors) > 0 })
	if h.Status != "degraded" || strings.Join(h.Jobs, ",") != "dup,other" || len(h.LoadErrors) != 2 ||
		!strings.Contains(h.LoadErrors["dup"], "also declared by "+b) || !strings.Contains(h.LoadErrors[b], "also declared by "+a) {
		t.Errorf("after a new file took dup's name: %+v", h)
	}
	if !strings.Contains(s.stderr.String(), "keeping the old version") {
		t.Errorf("the log does not say dup keeps its version:\n%s", clip(s.stderr.String()))
	}
	s.stop()
}

// Removing the last job file and sending SIGHUP stops the job; /healthz is
// degraded with the reason, HTTP keeps answering, and a file put back
// brings the daemon back to ok.
func TestI18DaemonLastFileRemoved(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "jobs")
	os.MkdirAll(dir, 0o755)
	// No snapshot for today: every run fails fast, which is all this needs.
	o := jobOpts{table: filepath.Join(tmp, "table"), source: filepath.Join(tmp, "none", "snapshot_date={{ .Date }}", "*.parquet")}
	file := serveJob(t, dir, "every.yaml", "every", "@every 1s", 0, o)
	s := startServe(t, dir)
	s.waitFor("two runs", 60*time.Second, func() bool { return len(s.runs()) >= 2 })

	os.Remove(file)
	h := s.reload("the job to stop", func(h healthBody) bool { return len(h.Jobs) == 0 })
	if h.Status != "degraded" || !strings.Contains(h.LoadErrors[dir], "no job file (*.yaml) in "+dir) {
		t.Errorf("after removing the last file: %+v", h)
	}
	var settled int
	s.waitFor("the last run to end", 30*time.Second, func() bool {
		runs := s.runs()
		settled = len(runs)
		return len(runs) > 0 && runs[0].Finished != nil
	})
	time.Sleep(3 * time.Second) // three fires' worth
	if n := len(s.runs()); n != settled {
		t.Errorf("%d runs started after the job's file was removed", n-settled)
	}
	if m := s.get("/metrics", nil); !strings.Contains(m, "batchscore_job_load_errors 1") {
		t.Errorf("/metrics after the folder emptied:\n%s", m)
	}
	serveJob(t, dir, "every.yaml", "every", "@every 1s", 0, o)
	h = s.reload("the job to come back", func(h healthBody) bool { return len(h.Jobs) == 1 })
	if h.Status != "ok" {
		t.Errorf("after putting the file back: %+v", h)
	}
	s.waitFor("a run after the file came back", 30*time.Second, func() bool { return len(s.runs()) > settled })
	// A folder that is gone (unmounted) says nothing about which jobs are
	// meant: they keep running, and /healthz says why it is degraded.
	must(t, os.Rename(dir, dir+".moved"))
	h = s.reload("the missing folder to be reported", func(h healthBody) bool { return len(h.LoadErrors) > 0 })
	if h.Status != "degraded" || strings.Join(h.Jobs, ",") != "every" || !strings.Contains(h.LoadErrors[dir], "jobs folder "+dir+" does not exist") {
		t.Errorf("after the folder went away: %+v", h)
	}
	s.stop()
}

// Catch-up reruns a date whose only executions failed, or were
// interrupted, when no date ever succeeded.
func TestI18DaemonCatchupAfterFailuresOnly(t *testing.T) {
	tmp := t.TempDir()
	today := time.Now().UTC().Format("2006-01-02")
	snap := filepath.Join(tmp, "snap")
	source := filepath.Join(snap, "snapshot_date={{ .Date }}", "*.parquet")
	dir := filepath.Join(tmp, "jobs")
	os.MkdirAll(dir, 0o755)
	tables := map[string]string{}
	for _, name := range []string{"failed_only", "interrupted_only"} {
		tables[name] = filepath.Join(tmp, name)
		job := serveJob(t, dir, name+".yaml", name, "0 0 * * *", 1, jobOpts{table: tables[name], source: source})
		// Today's snapshot is not there yet: the run fails.
		if res := bs(t, "run", job, "--date", today); res.code != 1 {
			t.Fatalf("run without a snapshot: %s", res)
		}
	}
	// The second job's failure becomes an interruption (a stop that
	// outlasted --grace leaves the same manifest).
	for _, m := range manifests(t, tables["interrupted_only"], today) {
		path := filepath.Join(tables["interrupted_only"], "runs", today, m.Version+".json")
		var raw map[string]any
		if err := json.Unmarshal(mustRead(t, path), &raw); err != nil {
			t.Fatal(err)
		}
		raw["status"], raw["exit_code"] = "interrupted", 130
		data, _ := json.Marshal(raw)
		must(t, os.WriteFile(path, data, 0o644))
	}
	if res := runWith(t, gensnapshot, baseEnv(), "--date", today, "--rows", "2000", "--out", snap, "-q"); res.code != 0 {
		t.Fatal(res)
	}

	s := startServe(t, dir)
	s.waitFor("both jobs to catch up today", 90*time.Second, func() bool {
		done := map[string]bool{}
		for _, r := range s.runs() {
			if r.Date == today && r.Status == "succeeded" {
				done[r.Job] = true
			}
		}
		return done["failed_only"] && done["interrupted_only"]
	})
	if strings.Contains(s.stderr.String(), "no run history: no catch-up") {
		t.Errorf("serve said there was no history to catch up from:\n%s", clip(s.stderr.String()))
	}
	s.stop()
	for name, table := range tables {
		if v := currentVersion(t, table, today); v == "" {
			t.Errorf("%s: today is not current after catch-up", name)
		}
	}
}

var metricLine = regexp.MustCompile(`(?m)^(batchscore_\w+)\{batchscore_job="noop"(?:,status="(\w+)")?\} (\S+)$`)

// An already-current no-op does not overwrite the run duration or the last
// success in /metrics; it is counted under runs_total{status="already_current"}.
func TestI18DaemonNoOpMetrics(t *testing.T) {
	tmp := t.TempDir()
	today := time.Now().UTC().Format("2006-01-02")
	snap := filepath.Join(tmp, "snap")
	if res := runWith(t, gensnapshot, baseEnv(), "--date", today, "--rows", "2000", "--out", snap, "-q"); res.code != 0 {
		t.Fatal(res)
	}
	dir := filepath.Join(tmp, "jobs")
	os.MkdirAll(dir, 0o755)
	serveJob(t, dir, "noop.yaml", "noop", "@every 1s", 0,
		jobOpts{table: filepath.Join(tmp, "table"), source: filepath.Join(snap, "snapshot_date={{ .Date }}", "*.parquet")})
	s := startServe(t, dir)
	var work runRecord
	s.waitFor("a run, then two no-ops", 90*time.Second, func() bool {
		noops := 0
		for _, r := range s.runs() { // newest first
			switch {
			case r.Status == "already_current":
				noops++
			case r.Status == "succeeded" && noops >= 2:
				work = r
				return true
			}
		}
		return false
	})
	got := map[string]float64{}
	for _, m := range metricLine.FindAllStringSubmatch(s.get("/metrics", nil), -1) {
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatal(err)
		}
		got[m[1]+"/"+m[2]] = v
	}
	s.stop()
	wantDur := work.Finished.Sub(work.Started).Seconds()
	if d := got["batchscore_run_duration_seconds/"]; d < wantDur-1e-3 || d > wantDur+1e-3 {
		t.Errorf("run_duration_seconds %v, want the publishing run's %v", d, wantDur)
	}
	wantLast := float64(work.Finished.UnixNano()) / 1e9
	if l := got["batchscore_last_success_timestamp_seconds/"]; l < wantLast-1e-3 || l > wantLast+1e-3 {
		t.Errorf("last_success_timestamp_seconds %v, want the publishing run's %v", l, wantLast)
	}
	if n := got["batchscore_runs_total/already_current"]; n < 2 {
		t.Errorf("runs_total{status=already_current} %v, want >= 2 (%v)", n, got)
	}
}

// The same for `run --metrics-file`: a rerun found already current keeps
// the duration of the run that published, and says exit 0, already_current.
func TestI18DaemonNoOpMetricsFile(t *testing.T) {
	table := filepath.Join(t.TempDir(), "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table})
	prom := filepath.Join(t.TempDir(), "batchscore.prom")
	for i := range 2 {
		if res := bs(t, "run", job, "--date", date20, "--metrics-file", prom); res.code != 0 || (i == 1) != strings.Contains(res.stdout, "already current") {
			t.Fatalf("run %d: %s", i+1, res)
		}
	}
	var work float64
	for _, m := range manifests(t, table, date20) {
		if m.Status == "succeeded" {
			work = m.FinishedAt.Sub(m.StartedAt).Seconds()
		}
	}
	data := string(mustRead(t, prom))
	m := regexp.MustCompile(`(?m)^batchscore_run_duration_seconds\{batchscore_job="churn_nightly"\} (\S+)$`).FindStringSubmatch(data)
	if m == nil {
		t.Fatalf("no run duration in\n%s", data)
	}
	if d, _ := strconv.ParseFloat(m[1], 64); d < work-1e-6 || d > work+1e-6 {
		t.Errorf("run_duration_seconds %v after a no-op, want the publishing run's %v", d, work)
	}
	if !strings.Contains(data, `batchscore_exit_code{batchscore_job="churn_nightly",status="already_current"} 0`) {
		t.Errorf("the no-op's exit code and status are not exported:\n%s", data)
	}
}
