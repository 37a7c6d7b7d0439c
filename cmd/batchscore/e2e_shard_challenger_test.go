package main

// End-to-end tests of what a sharded run does with model rollouts: it
// refuses a challenger, shadow or canary, in its shards and in its commit,
// rather than publish a version without the _shadow table or the canary's
// counts; A/B arms are committed as one run.

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestShardsRefuseAChallengerShadowOrCanary(t *testing.T) {
	challenger := "challenger:\n  path: " + strconv.Quote(modelPath(t, "churn_logreg.onnx")) + "\n  version: logreg-next\n" +
		inputsBlock(t, "churn_logreg.yaml", "  ")
	for _, c := range []struct{ name, section, key string }{
		{"shadow", challenger, "challenger: a sharded run cannot take a shadow challenger"},
		{"canary", challenger + "\n  label: {output: label}\n  rollout: {share: 0.3, salt: s1}", "challenger.rollout: a sharded run cannot take a canary"},
	} {
		table := filepath.Join(t.TempDir(), "scores")
		job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: appendSection(c.section)})
		for _, args := range [][]string{
			{"run", job, "--date", date20, "--shard", "0/2"},
			{"run", job, "--date", date20, "--shard", "1/2"},
			{"commit", job, "--date", date20, "--shards", "2"},
		} {
			res := bs(t, args...)
			if msg := res.stdout + res.messages(); res.code != 2 || !strings.Contains(msg, c.key) || !strings.Contains(msg, "without --shard") {
				t.Errorf("%s: %s: want exit 2 naming %q, got %s", c.name, strings.Join(args[:1], " "), c.key, res)
			}
		}
		// Nothing staged for a commit, nothing published.
		for _, dir := range []string{"_shards", "current", "versions"} {
			if entries, _ := os.ReadDir(filepath.Join(table, dir)); len(entries) > 0 {
				t.Errorf("%s: %s holds %d entries after refused shards and commit", c.name, dir, len(entries))
			}
		}
	}
}

// TestShardedArmsCommitAsOneRun: A/B arms run as 2 shards and committed
// publish, for every key, the arm, score and model_version the same job
// gives unsharded, and the commit's arms counts are the single run's.
func TestShardedArmsCommitAsOneRun(t *testing.T) {
	root := filepath.Join(t.TempDir(), "snap")
	if res := runWith(t, gensnapshot, baseEnv(), "--date", date20, "--rows", "6000", "--files", "3", "--out", root, "-q"); res.code != 0 {
		t.Fatalf("gensnapshot failed\n%s", res)
	}
	table := filepath.Join(t.TempDir(), "scores")
	job := armsJob(t, table, "parquet: "+strconv.Quote(filepath.Join(root, "snapshot_date={{ .Date }}", "*.parquet")), "", false, 0.1)
	if res := bs(t, "run", job, "--date", date20); res.code != 0 {
		t.Fatalf("single-process run: %s", res)
	}
	single := onlyManifest(t, table, date20)
	wantCols, wantRows := versionRows(t, single.Output.Path)
	for k, res := range runShards(t, job, 2, []int{0, 1}, nil, "--force") {
		if res.code != 0 {
			t.Fatalf("shard %d: %s", k, res)
		}
	}
	res := bs(t, "commit", job, "--date", date20, "--shards", "2", "--json", "--force")
	if res.code != 0 {
		t.Fatalf("commit: %s", res)
	}
	m := parseManifest(t, []byte(res.stdout))
	if !m.Output.Published || len(m.Shards) != 2 || m.Shards[0].Rows == 0 || m.Shards[1].Rows == 0 || m.RunID != single.RunID {
		t.Fatalf("commit manifest: published %v, shards %+v, run id %s (single %s)", m.Output.Published, m.Shards, m.RunID, single.RunID)
	}
	gotCols, gotRows := versionRows(t, m.Output.Path)
	if !slices.Contains(wantCols, "arm") || !slices.Contains(wantCols, "model_version") || !slices.Equal(gotCols, wantCols) {
		t.Fatalf("columns %v, single run %v", gotCols, wantCols)
	}
	// Compared as sets of rows (key, arm, score, model_version and the rest).
	slices.Sort(gotRows)
	slices.Sort(wantRows)
	if !slices.Equal(gotRows, wantRows) {
		t.Errorf("the commit's %d rows differ from the single run's %d", len(gotRows), len(wantRows))
	}
	if m.Arms == nil || single.Arms == nil || len(m.Arms.Arms) != len(armNames) || len(single.Arms.Arms) != len(armNames) {
		t.Fatalf("arms: commit %+v, single %+v", m.Arms, single.Arms)
	}
	for i, a := range m.Arms.Arms {
		s := single.Arms.Arms[i]
		if a.Name != s.Name || a.Status != s.Status || a.Assigned != s.Assigned || a.Published != s.Published || a.FellBack != s.FellBack || a.Assigned == 0 {
			t.Errorf("arm %d: commit %s %s assigned %d published %d fell back %d; single run %s %s %d %d %d",
				i, a.Name, a.Status, a.Assigned, a.Published, a.FellBack, s.Name, s.Status, s.Assigned, s.Published, s.FellBack)
		}
	}
}
