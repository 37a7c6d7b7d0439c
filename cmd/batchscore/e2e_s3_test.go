package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/batchscore/batchscore/io/blob"
	"github.com/batchscore/batchscore/io/blob/miniotest"
)

// uploadSnapshot copies a local snapshot's files under prefix/ in a fresh
// MinIO bucket and returns the s3:// glob of the copies, {{ .Date }} kept.
func uploadSnapshot(t *testing.T, localGlob, prefix string) string {
	t.Helper()
	bucketURL := miniotest.Bucket(t)
	ctx := context.Background()
	b, err := blob.Open(ctx, bucketURL)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	paths, err := filepath.Glob(strings.ReplaceAll(localGlob, "{{ .Date }}", date20))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no files in %s (%v)", localGlob, err)
	}
	for _, p := range paths {
		if err := b.Upload(ctx, prefix+"/snapshot_date="+date20+"/"+filepath.Base(p), p); err != nil {
			t.Fatal(err)
		}
	}
	base, query, _ := strings.Cut(bucketURL, "?")
	return base + "/" + prefix + "/snapshot_date={{ .Date }}/*.parquet?" + query
}

// A snapshot on S3 (MinIO): the run reads it with ranged reads and
// publishes the same rows and scores as from local disk, its fingerprint
// the objects' ETags; sharded, the commit gives the same again.
func TestSnapshotOnS3(t *testing.T) {
	local := shardSnapshot(t)
	remote := uploadSnapshot(t, local, "customers")

	localTable := filepath.Join(t.TempDir(), "local")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: localTable, source: local})
	if res := bs(t, "run", job, "--date", date20); res.code != 0 {
		t.Fatalf("local run: %s", res)
	}
	_, want := versionRows(t, onlyManifest(t, localTable, date20).Output.Path)

	table := filepath.Join(t.TempDir(), "s3")
	job = writeJob(t, "churn_nightly.yaml", jobOpts{table: table, source: remote})
	res := bs(t, "run", job, "--date", date20, "--json")
	if res.code != 0 {
		t.Fatalf("run from S3: %s", res)
	}
	m := parseManifest(t, []byte(res.stdout))
	if len(m.Source.Files) != 3 || !strings.HasPrefix(m.Source.Files[0].SHA256, "etag:") {
		t.Errorf("source files %+v: want 3 objects checksummed by ETag", m.Source.Files)
	}
	if strings.Contains(res.stdout+res.stderr, os.Getenv("AWS_SECRET_ACCESS_KEY")) {
		t.Error("the secret key is in the output")
	}
	_, got := versionRows(t, m.Output.Path)
	// The run id covers the fingerprint, which differs (ETags, not
	// sha256): compare everything but run_id.
	strip := func(rows []string) []string {
		out := make([]string, len(rows))
		for i, r := range rows {
			out[i] = strings.Replace(r, m.RunID, "", 1)
		}
		return out
	}
	localID := onlyManifest(t, localTable, date20).RunID
	for i := range want {
		want[i] = strings.Replace(want[i], localID, "", 1)
	}
	if !slices.Equal(strip(got), want) {
		t.Fatalf("rows from S3 differ from the local run's (%d vs %d rows)", len(got), len(want))
	}

	// Sharded over the same objects.
	for k, r := range runShards(t, job, 2, []int{0, 1}, nil, "--force") {
		if r.code != 0 {
			t.Fatalf("shard %d: %s", k, r)
		}
	}
	res = bs(t, "commit", job, "--date", date20, "--shards", "2", "--force", "--json")
	if res.code != 0 {
		t.Fatalf("commit: %s", res)
	}
	c := parseManifest(t, []byte(res.stdout))
	if _, rows := versionRows(t, c.Output.Path); !slices.Equal(strip(rows), want) {
		t.Fatalf("the commit of 2 S3 shards differs from the local run")
	}
}
