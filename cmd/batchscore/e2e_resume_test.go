package main

import (
	"path/filepath"
	"testing"

	"github.com/batchscore/batchscore/jobs/report"
)

// A run killed after some chunks were scored and saved: the next
// execution of the same run id reuses them, verified, and publishes files
// byte-identical to a clean run's.
func TestResumeReusesScoredChunks(t *testing.T) {
	table := filepath.Join(t.TempDir(), "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, chunkRows: 200})
	if res := bs(t, "run", job, "--date", date20); res.code != 0 {
		t.Fatalf("clean run: %s", res)
	}
	clean := onlyManifest(t, table, date20)
	cleanFiles := readFiles(t, clean.Output.Path)

	killed := runWith(t, batchscore, append(ortEnv(t), "BATCHSCORE_CRASHPOINT=checkpointed:4"), "run", job, "--date", date20, "--force")
	if killed.code != -1 {
		t.Fatalf("the run was not killed at the 4th saved chunk: %s", killed)
	}
	saved, _ := filepath.Glob(filepath.Join(table, "_resume", clean.RunID, "chunk-*.sha256"))
	if len(saved) < 4 {
		t.Fatalf("%d chunks saved before the kill, want at least 4", len(saved))
	}

	res := bs(t, "run", job, "--date", date20, "--force")
	if res.code != 0 {
		t.Fatalf("resumed run: %s", res)
	}
	var resumed *report.Manifest
	for _, m := range manifests(t, table, date20) {
		if m.Version != clean.Version {
			resumed = m
		}
	}
	if resumed.Output.ReusedChunks < 4 || resumed.Output.ReusedChunks >= int64(len(saved))+2 || resumed.RunID != clean.RunID {
		t.Fatalf("reused %d chunks (saved %d), run id %s vs %s", resumed.Output.ReusedChunks, len(saved), resumed.RunID, clean.RunID)
	}
	booksBalance(t, resumed)
	sameFiles(t, "resumed version", readFiles(t, resumed.Output.Path), cleanFiles)
	if left, _ := filepath.Glob(filepath.Join(table, "_resume", "*")); len(left) != 0 {
		t.Errorf("saved chunks left after publishing: %v", left)
	}
}

// A saved chunk that changed is not trusted: it is scored again and the
// result is still identical.
func TestResumeRefusesATamperedChunk(t *testing.T) {
	table := filepath.Join(t.TempDir(), "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, chunkRows: 200})
	if res := bs(t, "run", job, "--date", date20); res.code != 0 {
		t.Fatalf("clean run: %s", res)
	}
	clean := onlyManifest(t, table, date20)
	cleanFiles := readFiles(t, clean.Output.Path)
	runWith(t, batchscore, append(ortEnv(t), "BATCHSCORE_CRASHPOINT=checkpointed:3"), "run", job, "--date", date20, "--force")
	chunks, _ := filepath.Glob(filepath.Join(table, "_resume", clean.RunID, "chunk-*.arrow"))
	if len(chunks) == 0 {
		t.Fatal("nothing saved")
	}
	for _, c := range chunks {
		writeParquet(t, c, sampleRecord(t, date20, "part-00000.parquet")) // a file of the right size class, not the one saved
	}
	res := bs(t, "run", job, "--date", date20, "--force")
	if res.code != 0 {
		t.Fatalf("run after tampering: %s", res)
	}
	for _, m := range manifests(t, table, date20) {
		if m.Version != clean.Version {
			if m.Output.ReusedChunks != 0 {
				t.Errorf("reused %d tampered chunks", m.Output.ReusedChunks)
			}
			sameFiles(t, "rescored version", readFiles(t, m.Output.Path), cleanFiles)
		}
	}
}
