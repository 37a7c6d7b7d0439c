package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// runs lists executions newest first with the current one marked; show
// finds one by version or run id; a run exports its metrics to a textfile
// and to a Pushgateway.
func TestRunsShowAndMetrics(t *testing.T) {
	table := filepath.Join(t.TempDir(), "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table})

	var mu sync.Mutex
	var pushed, path string
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		pushed, path = string(body), r.Method+" "+r.URL.Path
		mu.Unlock()
	}))
	defer gateway.Close()
	prom := filepath.Join(t.TempDir(), "batchscore.prom")

	for _, d := range []string{"2026-11-19", date20} {
		if res := bs(t, "run", job, "--date", d, "--metrics-file", prom, "--pushgateway", gateway.URL); res.code != 0 {
			t.Fatal(res)
		}
	}
	data, err := os.ReadFile(prom)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`batchscore_rows{batchscore_job="churn_nightly",outcome="written"} 2000`, `batchscore_exit_code{batchscore_job="churn_nightly",status="succeeded"} 0`, "batchscore_last_success_timestamp_seconds{"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("metrics file lacks %q:\n%s", want, data)
		}
	}
	mu.Lock()
	if path != "PUT /metrics/job/batchscore/batchscore_job/churn_nightly" || pushed != string(data) {
		t.Errorf("pushgateway got %s:\n%s", path, pushed)
	}
	mu.Unlock()

	res := bs(t, "runs", job, "--json")
	if res.code != 0 {
		t.Fatal(res)
	}
	var runs []struct {
		LogicalDate string `json:"logical_date"`
		Version     string `json:"version"`
		RunID       string `json:"run_id"`
		Current     bool   `json:"current"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &runs); err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].LogicalDate != date20 || !runs[0].Current || !runs[1].Current {
		t.Fatalf("runs: %+v", runs)
	}
	if res := bs(t, "runs", job); res.code != 0 || !strings.Contains(res.stdout, runs[0].Version) {
		t.Errorf("runs table:\n%s", res)
	}

	show := bs(t, "show", job, runs[0].RunID[:8])
	if show.code != 0 || !strings.Contains(show.stdout, runs[0].Version+" (current: true)") || !strings.Contains(show.stdout, "read 2000") {
		t.Errorf("show by run id:\n%s", show)
	}
	showJSON := bs(t, "show", job, runs[1].Version, "--json")
	if m := parseManifest(t, []byte(showJSON.stdout)); m.Version != runs[1].Version {
		t.Errorf("show --json gave version %s", m.Version)
	}
	if res := bs(t, "show", job, "nope"); res.code != 2 {
		t.Errorf("show of an unknown id: exit %d, want 2", res.code)
	}
}
