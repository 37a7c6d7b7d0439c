package main

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/internal/testkit/miniotest"
	"github.com/batchscore/batchscore/io/blob"
	"github.com/batchscore/batchscore/io/parquetio"
	"github.com/batchscore/batchscore/io/table"
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

// remoteTable is a table URL in a fresh bucket; workDir makes the next
// commands run as on a machine of their own.
func remoteTable(t *testing.T) string {
	bucketURL := miniotest.Bucket(t)
	base, query, _ := strings.Cut(bucketURL, "?")
	return base + "/tables/churn_scores?" + query
}

func workDir(t *testing.T) string { return "BATCHSCORE_WORK_DIR=" + t.TempDir() }

// readPointer reads a date's current pointer from the bucket.
func readPointer(t *testing.T, url, date string) (table.Pointer, []string) {
	t.Helper()
	bucketURL, key, _ := blob.Split(url)
	ctx := context.Background()
	b, err := blob.Open(ctx, bucketURL)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var p table.Pointer
	data, err := b.ReadAll(ctx, key+"/current/"+date+".json")
	if err == nil {
		err = json.Unmarshal(data, &p)
	}
	if err != nil && !errors.Is(err, blob.ErrNotFound) {
		t.Fatal(err)
	}
	objs, err := b.List(ctx, key+"/versions/")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, strings.TrimPrefix(o.Key, key+"/"))
	}
	return p, keys
}

// A result table on S3 (MinIO): the version's files go up first, the
// pointer current/<date>.json last. A run killed between the two leaves
// the previous version current; another machine (work folder) sees the
// table's history, is "already current" on a rerun, and shards on
// separate machines commit from a third.
func TestTableOnS3(t *testing.T) {
	url := remoteTable(t)
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: url, source: shardSnapshot(t)})
	env := func(extra ...string) []string { return append(append(ortEnv(t), workDir(t)), extra...) }

	res := runWith(t, batchscore, env(), "run", job, "--date", date20, "--json")
	if res.code != 0 {
		t.Fatalf("run: %s", res)
	}
	first := parseManifest(t, []byte(res.stdout))
	p, keys := readPointer(t, url, date20)
	folder, _ := p.Resolve(url)
	if p.Version != first.Version || first.Output.URL != blob.Redact(folder) || first.Output.CurrentURL == "" {
		t.Fatalf("pointer %+v, manifest output %+v", p, first.Output)
	}
	for _, f := range p.Files {
		if !slices.Contains(keys, "versions/"+date20+"/"+first.Version+"/"+f) {
			t.Errorf("the pointer names %s, which is not in the bucket", f)
		}
	}
	// The published rows, read back from the bucket.
	got := bucketRows(t, folder)
	if got != first.Counts.Written {
		t.Errorf("%d rows in the bucket's version, the manifest says %d", got, first.Counts.Written)
	}

	// Another machine: the same snapshot, model and job file are current.
	if res := runWith(t, batchscore, env(), "run", job, "--date", date20); res.code != 0 || !strings.Contains(res.stdout, "already current") {
		t.Errorf("rerun on another machine: %s", res)
	}

	// Killed after the upload, before the pointer: the pointer stays.
	killed := runWith(t, batchscore, env("BATCHSCORE_CRASHPOINT=publish-uploaded"), "run", job, "--date", date20, "--force")
	if killed.code != -1 {
		t.Fatalf("not killed at publish-uploaded: %s", killed)
	}
	if p2, keys := readPointer(t, url, date20); p2.Version != first.Version || len(keys) <= len(p.Files) {
		t.Errorf("after the kill the pointer names %s (want %s); %d objects under versions/", p2.Version, first.Version, len(keys))
	}
	if res := runWith(t, batchscore, env(), "run", job, "--date", date20, "--force", "--json"); res.code != 0 {
		t.Fatalf("run after the kill: %s", res)
	} else if m := parseManifest(t, []byte(res.stdout)); readPointerVersion(t, url) != m.Version {
		t.Errorf("the pointer does not name the new version %s", m.Version)
	}

	// 4 shards, each on a machine of its own, shard 2 killed mid-way; the
	// commit on yet another machine.
	before := readPointerVersion(t, url)
	shard := func(k int, extra ...string) result {
		return runWith(t, batchscore, env(extra...), "run", job, "--date", date20, "--shard", strconv.Itoa(k)+"/4", "--force")
	}
	for _, k := range []int{0, 1, 3} {
		if res := shard(k); res.code != 0 {
			t.Fatalf("shard %d: %s", k, res)
		}
	}
	if res := shard(2, "BATCHSCORE_CRASHPOINT=staged-chunk:1"); res.code != -1 {
		t.Fatalf("shard 2 was not killed: %s", res)
	}
	if keys := bucketKeys(t, url, "_shards/"); len(keys) == 0 {
		t.Fatal("the shards uploaded nothing to _shards/")
	}
	if res := runWith(t, batchscore, env(), "commit", job, "--date", date20, "--shards", "4", "--force"); res.code != 1 || !strings.Contains(res.stdout, "shard 2 of 4") {
		t.Fatalf("commit with shard 2 missing from the bucket: want exit 1 naming it, got %s", res)
	}
	if readPointerVersion(t, url) != before {
		t.Fatal("a commit with a shard missing moved the pointer")
	}
	if res := shard(2); res.code != 0 {
		t.Fatalf("shard 2 retried: %s", res)
	}
	res = runWith(t, batchscore, env(), "commit", job, "--date", date20, "--shards", "4", "--json")
	if res.code != 0 {
		t.Fatalf("commit: %s", res)
	}
	c := parseManifest(t, []byte(res.stdout))
	if readPointerVersion(t, url) != c.Version || c.Counts != first.Counts {
		t.Errorf("commit %s (counts %+v); first run counts %+v", c.Version, c.Counts, first.Counts)
	}
	if got, want := bucketScores(t, withQuery(c.Output.URL, url)), bucketScores(t, withQuery(first.Output.URL, url)); !maps.Equal(got, want) || len(got) != int(first.Counts.Written) {
		t.Errorf("the committed version's %d keys and scores differ from the single run's %d", len(got), len(want))
	}
	if keys := bucketKeys(t, url, "_shards/"); len(keys) != 0 {
		t.Errorf("the bucket still holds %d shard objects after the commit: %v", len(keys), keys)
	}
}

// withQuery gives a manifest's URL (recorded without a query, as every
// reader brings its own endpoint) the table URL's query, to reach MinIO.
func withQuery(u, tableURL string) string {
	_, query, _ := strings.Cut(tableURL, "?")
	return u + "?" + query
}

// bucketKeys lists the table's keys under prefix.
func bucketKeys(t *testing.T, url, prefix string) []string {
	t.Helper()
	bucketURL, key, _ := blob.Split(url)
	b, err := blob.Open(context.Background(), bucketURL)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	objs, err := b.List(context.Background(), key+"/"+prefix)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	return keys
}

func readPointerVersion(t *testing.T, url string) string {
	p, _ := readPointer(t, url, date20)
	return p.Version
}

// bucketRows counts the rows of a version folder's part files in the
// bucket, through parquetio's S3 reader.
func bucketRows(t *testing.T, folderURL string) int64 {
	t.Helper()
	base, query, _ := strings.Cut(folderURL, "?")
	src, err := parquetio.Open(base + "/part-*.parquet?" + query)
	if err != nil {
		t.Fatal(err)
	}
	return src.Rows()
}

// bucketScores reads key → score of a version folder in the bucket.
func bucketScores(t *testing.T, folderURL string) map[int64]float64 {
	t.Helper()
	base, query, _ := strings.Cut(folderURL, "?")
	src, err := parquetio.Open(base + "/part-*.parquet?" + query)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]float64{}
	err = src.Read(context.Background(), []string{"customer_id", "score"}, 4096, memory.DefaultAllocator, func(rec arrow.Record, _ string, _ int64) error {
		defer rec.Release()
		ids, scores := rec.Column(0).(*array.Int64), rec.Column(1).(*array.Float64)
		for i := 0; i < ids.Len(); i++ {
			out[ids.Value(i)] = scores.Value(i)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// carry_forward on a table in the bucket, run on another machine than the
// version it carries: the scores come from the bucket's copy.
func TestCarryForwardOnS3(t *testing.T) {
	url := remoteTable(t)
	fallback := "fallback:\n  kind: carry_forward\n  value: 0.5\n  max_fallback_fraction: 1\n"
	good := writeJob(t, "churn_nightly.yaml", jobOpts{table: url, edit: appendSection(fallback)})
	res := runWith(t, batchscore, append(ortEnv(t), workDir(t)), "run", good, "--date", date19, "--json")
	if res.code != 0 {
		t.Fatalf("run %s: %s", date19, res)
	}
	yesterday := parseManifest(t, []byte(res.stdout))

	corrupt := filepath.Join(t.TempDir(), "churn_gbm.onnx")
	if err := os.WriteFile(corrupt, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	broken := writeJob(t, "churn_nightly.yaml", jobOpts{table: url, model: corrupt, edit: appendSection(fallback)})
	res = runWith(t, batchscore, append(ortEnv(t), workDir(t)), "run", broken, "--date", date20, "--json")
	if res.code != 0 {
		t.Fatalf("carry-forward run on another machine: %s", res)
	}
	m := parseManifest(t, []byte(res.stdout))
	if f := m.Fallback; f == nil || f.CarriedFrom != yesterday.Version || f.Triggers["model_load"] != m.Counts.Valid {
		t.Fatalf("fallback %+v, want every row carried from %s", m.Fallback, yesterday.Version)
	}
	before, after := bucketScores(t, withQuery(yesterday.Output.URL, url)), bucketScores(t, withQuery(m.Output.URL, url))
	carried := 0
	for id, score := range after {
		if want, ok := before[id]; ok {
			carried++
			if score != want {
				t.Fatalf("customer %d: %v, yesterday %v", id, score, want)
			}
		} else if score != 0.5 {
			t.Fatalf("customer %d: %v, want the default 0.5", id, score)
		}
	}
	if carried == 0 {
		t.Fatal("no score was carried: the test proves nothing")
	}
}
