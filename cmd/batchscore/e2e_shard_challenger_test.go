package main

// End-to-end test: a sharded run refuses a challenger, shadow or canary,
// in its shards and in its commit, rather than publish a version without
// the _shadow table or the canary's counts.

import (
	"os"
	"path/filepath"
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
