package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The Kubernetes sharded example's two Jobs, run as they are written (the
// job file and date swapped for the test's): one process per completion
// index with $(JOB_COMPLETION_INDEX) expanded as Kubernetes does, then the
// commit Job's args. What the README shows works.
func TestKubernetesShardedExample(t *testing.T) {
	type container struct {
		Args []string `yaml:"args"`
	}
	type job struct {
		Kind string `yaml:"kind"`
		Spec struct {
			CompletionMode       string `yaml:"completionMode"`
			Completions          int    `yaml:"completions"`
			BackoffLimitPerIndex *int   `yaml:"backoffLimitPerIndex"`
			Template             struct {
				Spec struct {
					Containers []container `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	f, err := os.Open(filepath.Join(repoRoot(t), "configs", "examples", "kubernetes_sharded.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var docs []job
	dec := yaml.NewDecoder(f)
	for {
		var j job
		if err := dec.Decode(&j); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, j)
	}
	if len(docs) != 2 || docs[0].Spec.CompletionMode != "Indexed" || docs[0].Spec.BackoffLimitPerIndex == nil {
		t.Fatalf("want an Indexed Job with backoffLimitPerIndex, then a commit Job; got %+v", docs)
	}
	table := filepath.Join(t.TempDir(), "scores")
	jobFile := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, source: shardSnapshot(t)})
	argsOf := func(j job, index string) []string {
		var out []string
		for _, a := range j.Spec.Template.Spec.Containers[0].Args {
			switch {
			case strings.HasSuffix(a, ".yaml"):
				a = jobFile
			case len(a) == len("2006-01-02") && a[4] == '-' && a[7] == '-':
				a = date20
			}
			out = append(out, strings.ReplaceAll(a, "$(JOB_COMPLETION_INDEX)", index))
		}
		return out
	}
	for i := range docs[0].Spec.Completions {
		index := strconv.Itoa(i)
		if res := bs(t, argsOf(docs[0], index)...); res.code != 0 {
			t.Fatalf("completion index %s: %s", index, res)
		}
	}
	res := bs(t, argsOf(docs[1], "")...)
	if res.code != 0 || !bytes.Contains([]byte(res.stdout), []byte("published version")) {
		t.Fatalf("commit Job: %s", res)
	}
	if m := onlyCommit(t, table); m.Counts.Written != shardRows || len(m.Shards) != docs[0].Spec.Completions {
		t.Errorf("committed %d rows from %d shards", m.Counts.Written, len(m.Shards))
	}
}
