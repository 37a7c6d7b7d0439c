package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A real `batchscore serve` on a seconds schedule: runs happen and show
// in /runs; SIGTERM in the middle of a run cancels it cleanly after the
// grace, the daemon exits 0, and the previous version stays current.
func TestServeRunsAndStopsCleanly(t *testing.T) {
	tmp := t.TempDir()
	table := filepath.Join(tmp, "scores")
	today := time.Now().UTC().Format("2006-01-02")
	// Today's snapshot is big enough that a run takes seconds.
	big := filepath.Join(tmp, "big")
	if res := runWith(t, gensnapshot, baseEnv(), "--date", today, "--rows", "600000", "--files", "3", "--out", big, "-q"); res.code != 0 {
		t.Fatal(res)
	}
	// The version readers rely on, from a small snapshot of today.
	small := filepath.Join(tmp, "small")
	if res := runWith(t, gensnapshot, baseEnv(), "--date", today, "--rows", "2000", "--out", small, "-q"); res.code != 0 {
		t.Fatal(res)
	}
	noChecks := func(s string) string { // the snapshots differ in size on purpose
		return removeLine(t, s, "    max_row_change_pct: 50")
	}
	// Named as the daemon's job below: a table belongs to one job.
	first := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, source: filepath.Join(small, "snapshot_date={{ .Date }}", "*.parquet"), edit: func(s string) string {
		return strings.Replace(noChecks(s), "name: churn_nightly", "name: churn", 1)
	}})
	if res := bs(t, "run", first, "--date", today); res.code != 0 {
		t.Fatal(res)
	}
	before := snapshotTable(t, table, today)

	jobs := filepath.Join(tmp, "jobs")
	os.MkdirAll(jobs, 0o755)
	every := func(name string) func(string) string {
		return func(s string) string {
			s = strings.Replace(noChecks(s), `schedule: "0 2 * * *"`, `schedule: "@every 1s"`, 1)
			s = strings.Replace(s, "name: churn_nightly", "name: "+name, 1)
			return insertAfter(t, s, "timezone: UTC", "catchup: 0")
		}
	}
	for name, o := range map[string]jobOpts{
		// A quick job whose runs show up in /runs while the big one runs.
		"quick": {table: filepath.Join(tmp, "quick"), source: filepath.Join(small, "snapshot_date={{ .Date }}", "*.parquet")},
		"churn": {table: table, chunkRows: 4096, source: filepath.Join(big, "snapshot_date={{ .Date }}", "*.parquet")},
	} {
		o.edit = every(name)
		data, err := os.ReadFile(writeJob(t, "churn_nightly.yaml", o))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(jobs, name+".yaml"), data, 0o644)
	}

	port := freePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, batchscore, "serve", "--jobs", jobs, "--listen", "127.0.0.1:"+strconv.Itoa(port), "--grace", "500ms")
	cmd.Env = ortEnv(t)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the quick job has run and the big one is staging files.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var runs []map[string]any
		if resp, err := client.Get(base + "/runs"); err == nil {
			json.NewDecoder(resp.Body).Decode(&runs)
			resp.Body.Close()
		}
		quickRan := false
		for _, r := range runs {
			if r["job"] == "quick" && r["exit_code"] == float64(0) {
				quickRan = true
			}
		}
		staged, _ := filepath.Glob(filepath.Join(table, "_staging", "*", "part-00000.parquet"))
		if quickRan && len(staged) > 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("no quick run in /runs (%v) or no big run staging (%v)\n%s", runs, staged, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	checkBrokenReload(t, cmd.Process, client, base, filepath.Join(jobs, "quick.yaml"))
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	if err != nil {
		t.Fatalf("serve exited with %v, want 0\n%s", err, stderr.String())
	}
	before.unchanged(t, table, today)
	var interrupted bool
	for _, m := range manifests(t, table, today) {
		if m.Trigger == "schedule" && m.Status == "interrupted" && !m.Output.Published {
			interrupted = true
			// The manifest says why: the signal and the grace period.
			if !strings.Contains(m.Error, "SIGTERM") || !strings.Contains(m.Error, "--grace") {
				t.Errorf("interrupted run's error %q names neither SIGTERM nor --grace", m.Error)
			}
		}
	}
	if !interrupted {
		t.Errorf("no interrupted scheduled run in the history\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "scheduler stopped") {
		t.Errorf("serve did not say it stopped:\n%s", stderr.String())
	}
}

// checkBrokenReload breaks the job file broken and sends SIGHUP: /healthz
// reports the load error and both jobs go on.
func checkBrokenReload(t *testing.T, proc *os.Process, client *http.Client, base, broken string) {
	t.Helper()
	if err := os.WriteFile(broken, []byte("name: quick\nbogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	proc.Signal(syscall.SIGHUP)
	var health struct {
		Jobs       []string          `json:"jobs"`
		LoadErrors map[string]string `json:"load_errors"`
	}
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		resp, err := client.Get(base + "/healthz")
		if err != nil {
			continue
		}
		json.NewDecoder(resp.Body).Decode(&health)
		resp.Body.Close()
		if len(health.LoadErrors) > 0 {
			break
		}
	}
	if len(health.LoadErrors) != 1 || len(health.Jobs) != 2 {
		t.Errorf("after a broken reload /healthz says jobs %v, load errors %v; want both jobs kept and one error", health.Jobs, health.LoadErrors)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
