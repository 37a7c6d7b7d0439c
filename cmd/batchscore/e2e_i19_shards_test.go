package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	neturl "net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/batchscore/batchscore/internal/testkit/miniotest"
	"github.com/batchscore/batchscore/jobs/report"
)

// A shard rerun after its commit finds the date already current and
// stages nothing; the orchestrator's retried commit is then a no-op too
// (exit 0, already current), not a failure naming the other shards as
// missing, and publishes nothing new.
func TestI19ShardsRerunAfterCommit(t *testing.T) {
	table := filepath.Join(t.TempDir(), "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table})
	for k, res := range runShards(t, job, 3, []int{0, 1, 2}, nil) {
		if res.code != 0 {
			t.Fatalf("shard %d: %s", k, res)
		}
	}
	if res := bs(t, "commit", job, "--date", date20, "--shards", "3"); res.code != 0 {
		t.Fatalf("commit: %s", res)
	}
	current := currentVersion(t, table, date20)
	versions := listDir(t, filepath.Join(table, "versions", date20))

	res := runShards(t, job, 3, []int{1}, nil)[1]
	if res.code != 0 || !strings.Contains(res.stdout+res.stderr, "already current") {
		t.Fatalf("shard 1 rerun after the commit: want exit 0, already current, got %s", res)
	}
	for attempt := range 2 { // the retried commit, and a retry of it
		res = bs(t, "commit", job, "--date", date20, "--shards", "3")
		if res.code != 0 || !strings.Contains(res.stdout+res.stderr, "already current") {
			t.Fatalf("commit %d after shard 1 reran: want exit 0, already current, got %s", attempt, res)
		}
		if got := currentVersion(t, table, date20); got != current {
			t.Fatalf("current version %s, was %s", got, current)
		}
		if got := listDir(t, filepath.Join(table, "versions", date20)); strings.Join(got, ",") != strings.Join(versions, ",") {
			t.Fatalf("versions %v, were %v: the no-op commit published", got, versions)
		}
	}
	if _, err := os.Stat(filepath.Join(table, "_shards", date20)); !os.IsNotExist(err) {
		t.Errorf("_shards/%s left behind after the no-op commit (%v)", date20, err)
	}

	// A shard that staged since the commit (forced) is not hidden by the
	// rerun note of another: the commit has work, and names what is missing.
	if res := runShards(t, job, 3, []int{1}, nil)[1]; res.code != 0 {
		t.Fatalf("shard 1 rerun: %s", res)
	}
	if res := runShards(t, job, 3, []int{0}, nil, "--force")[0]; res.code != 0 {
		t.Fatalf("shard 0 forced: %s", res)
	}
	res = bs(t, "commit", job, "--date", date20, "--shards", "3")
	if res.code != 1 || !strings.Contains(res.stdout+res.stderr, "shard 2 of 3") {
		t.Fatalf("commit with shard 0 staged anew: want exit 1 naming shard 2, got %s", res)
	}
	if got := currentVersion(t, table, date20); got != current {
		t.Fatalf("current version %s, was %s", got, current)
	}
}

// Shards that ran on different inputs: the commit names every shard that
// differs and the field it differs in, not only the first.
func TestI19ShardsCommitNamesEveryDisagreement(t *testing.T) {
	table := filepath.Join(t.TempDir(), "scores")
	model := filepath.Join(t.TempDir(), "churn_gbm.onnx")
	original, err := os.ReadFile(modelPath(t, "churn_gbm.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(model, original, 0o644); err != nil {
		t.Fatal(err)
	}
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, model: model})
	edited := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, model: model,
		edit: func(s string) string { return s + "# edited after shard 0 ran\n" }})

	run := func(k int, file string) {
		t.Helper()
		res := runWith(t, batchscore, ortEnv(t), "run", file, "--date", date20, "--shard", strconv.Itoa(k)+"/4")
		if res.code != 0 {
			t.Fatalf("shard %d: %s", k, res)
		}
	}
	run(0, job)
	run(1, edited)
	run(2, edited)
	// The model retrained in place between shards 2 and 3.
	if err := os.WriteFile(model, withMetadata(t, original, "retrained", "2026-11-20"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(3, job)

	res := bs(t, "commit", job, "--date", date20, "--shards", "4")
	out := res.stdout + res.stderr
	if res.code != 1 {
		t.Fatalf("commit of disagreeing shards: want exit 1, got %s", res)
	}
	for _, want := range []string{
		"shard 1 of 4: job file sha256",
		"shard 2 of 4: job file sha256",
		"shard 3 of 4: model sha256",
		"where shards 0, 1, 2 have",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("commit output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "shard 0 of 4:") {
		t.Errorf("commit names shard 0, which ran with the commit's job file and the shards' model:\n%s", out)
	}
	if v := listDir(t, filepath.Join(table, "versions", date20)); len(v) != 0 {
		t.Errorf("versions/%s holds %v after a refused commit", date20, v)
	}
}

// runsOf is `runs --json` for a job, from the machine whose work folder
// env names: every execution, by version.
func runsOf(t *testing.T, env []string, job string) map[string]*report.Manifest {
	t.Helper()
	res := runWith(t, batchscore, env, "runs", job, "--json")
	if res.code != 0 {
		t.Fatalf("runs --json: %s", res)
	}
	var rows []*report.Manifest
	if err := json.Unmarshal([]byte(res.stdout), &rows); err != nil {
		t.Fatalf("runs --json: %v\n%s", err, res.stdout)
	}
	out := map[string]*report.Manifest{}
	for _, m := range rows {
		out[m.Version] = m
	}
	return out
}

// checkHistoryText checks that `runs` and `show` print no overflowing or
// negative duration and show version as want.
func checkHistoryText(t *testing.T, env []string, job, version, want string) {
	t.Helper()
	res := runWith(t, batchscore, env, "runs", job)
	var line string
	for _, l := range strings.Split(res.stdout, "\n") {
		if strings.Contains(l, version) {
			line = l
		}
	}
	if res.code != 0 || !strings.Contains(line, " "+want+" ") || strings.Contains(res.stdout, "-9223372036") || strings.Contains(line, "publishing") {
		t.Errorf("runs: want %s shown %s, no overflowing duration, got line %q\n%s", version, want, line, res)
	}
	res = runWith(t, batchscore, env, "show", job, version)
	if res.code != 0 || !strings.Contains(res.stdout, want+", exit") || strings.Contains(res.stdout, "-9223372036") {
		t.Errorf("show %s: want status %s, no overflowing duration, got %s", version, want, res)
	}
}

// An S3 table: a run killed after uploading its version, before the
// pointer, shows in history as interrupted (its version not current, the
// date's lock free), with no duration; a run that failed because the
// store went away after its provisional manifest shows as failed on its
// machine (its local failed manifest wins over the bucket's provisional
// one, and goes up once the store is back, for every other machine).
func TestI19ShardsHistoryOfUnfinishedPublishes(t *testing.T) {
	url := remoteTable(t)
	machine := append(ortEnv(t), workDir(t))
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: url})
	if res := runWith(t, batchscore, machine, "run", job, "--date", date20); res.code != 0 {
		t.Fatalf("run: %s", res)
	}
	first := readPointerVersion(t, url)
	killed := runWith(t, batchscore, append(machine, "BATCHSCORE_CRASHPOINT=publish-uploaded"), "run", job, "--date", date20, "--force")
	if killed.code != -1 {
		t.Fatalf("not killed at publish-uploaded: %s", killed)
	}
	var version string
	for v, m := range runsOf(t, machine, job) {
		if v != first {
			version = v
			if m.Status != report.StatusInterrupted || m.ExitCode != 130 || !strings.Contains(m.Error, "ended while publishing") {
				t.Errorf("killed run in runs --json: status %s, exit %d, error %q; want interrupted, 130", m.Status, m.ExitCode, m.Error)
			}
		}
	}
	if version == "" {
		t.Fatal("the killed run is not in the history")
	}
	checkHistoryText(t, machine, job, version, report.StatusInterrupted)
	// Another machine sees the bucket's provisional manifest the same way.
	if m := runsOf(t, append(ortEnv(t), workDir(t)), job)[version]; m == nil || m.Status != report.StatusInterrupted {
		t.Errorf("the killed run on another machine: %+v", m)
	}

	// The store goes away once the provisional manifest is up: requests
	// no longer reach it.
	var away atomic.Bool
	proxied := awayProxy(t, url, &away)
	cut := writeJob(t, "churn_nightly.yaml", jobOpts{table: proxied})
	machine2 := append(ortEnv(t), workDir(t))
	res := runWith(t, batchscore, machine2, "run", cut, "--date", date20, "--force", "--json")
	if res.code != 1 || !away.Load() {
		t.Fatalf("run with the store gone while publishing: want exit 1, got %s", res)
	}
	failed := parseManifest(t, []byte(res.stdout)).Version
	away.Store(false) // the store is back
	if m := runsOf(t, machine2, cut)[failed]; m == nil || m.Status != report.StatusFailed || m.ExitCode != 1 {
		t.Fatalf("the failed run on its machine: %+v; want failed, exit 1", m)
	}
	checkHistoryText(t, machine2, cut, failed, report.StatusFailed)
	if m := runsOf(t, append(ortEnv(t), workDir(t)), job)[failed]; m == nil || m.Status != report.StatusFailed {
		t.Errorf("the failed run on another machine, once the store is back: %+v; want failed", m)
	}
	if got := readPointerVersion(t, url); got != first {
		t.Errorf("the pointer names %s, want %s", got, first)
	}
}

// awayProxy puts a proxy between the client and MinIO that, once the
// provisional manifest (the first runs/*.json) is up, answers every
// request 503 without passing it on, until away is cleared: the store
// has gone away.
func awayProxy(t *testing.T, tableURL string, away *atomic.Bool) string {
	t.Helper()
	endpoint := miniotest.Endpoint(t)
	target, err := neturl.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	base := &http.Transport{}
	var armed atomic.Bool // the store goes away once
	armed.Store(true)
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host // the client signed this Host (SigV4)
		},
		Transport: roundTripper(func(req *http.Request) (*http.Response, error) {
			if away.Load() {
				body := "<Error><Code>ServiceUnavailable</Code><Message>the store went away</Message></Error>"
				return &http.Response{StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
					Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req}, nil
			}
			resp, err := base.RoundTrip(req)
			if err == nil && req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/runs/") && strings.HasSuffix(req.URL.Path, ".json") && armed.CompareAndSwap(true, false) {
				away.Store(true)
			}
			return resp, err
		}),
	}
	ps := httptest.NewServer(rp)
	t.Cleanup(func() {
		ps.Close()
		base.CloseIdleConnections()
	})
	return strings.Replace(tableURL, "endpoint="+endpoint, "endpoint="+ps.URL, 1)
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A run killed after its version became current, before its final
// manifest: history cannot say how it ended, only that its version is
// current, and gives it no exit code and no duration.
func TestI19ShardsHistoryKilledAfterPublish(t *testing.T) {
	table := filepath.Join(t.TempDir(), "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table})
	killed := runWith(t, batchscore, append(ortEnv(t), "BATCHSCORE_CRASHPOINT=manifest"), "run", job, "--date", date20)
	if killed.code != -1 {
		t.Fatalf("not killed before its final manifest: %s", killed)
	}
	version := currentVersion(t, table, date20)
	m := runsOf(t, ortEnv(t), job)[version]
	if m == nil || m.Status != report.StatusUnknown || m.ExitCode != -1 || !strings.Contains(m.Error, "current and whole") {
		t.Fatalf("killed after publishing, in runs --json: %+v; want unknown, -1", m)
	}
	checkHistoryText(t, ortEnv(t), job, version, report.StatusUnknown)
}
