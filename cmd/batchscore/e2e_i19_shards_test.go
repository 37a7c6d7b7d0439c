package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
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
