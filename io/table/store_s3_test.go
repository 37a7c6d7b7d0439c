package table

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/batchscore/batchscore/internal/testkit/miniotest"
	"github.com/batchscore/batchscore/io/blob"
)

// openRemote opens the table at url with its own work folder, as a run
// on another machine would.
func openRemote(t *testing.T, url string) *Table {
	t.Helper()
	t.Setenv("BATCHSCORE_WORK_DIR", t.TempDir())
	tb, err := Open(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tb.Close() })
	return tb
}

func pointerOf(t *testing.T, url, date string) (*Pointer, []string) {
	t.Helper()
	bucketURL, key, _ := blob.Split(url)
	b, err := blob.Open(context.Background(), bucketURL)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	data, err := b.ReadAll(context.Background(), key+"/current/"+date+".json")
	if err != nil {
		t.Fatal(err)
	}
	var p Pointer
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	objs, err := b.List(context.Background(), key+"/")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, strings.TrimPrefix(o.Key, key+"/"))
	}
	return &p, keys
}

// A version published to a table on S3 is uploaded, then named by the
// date's pointer; another machine's Table sees it current; of two
// machines publishing from the same pointer, the second gets
// ErrConcurrent and changes nothing.
func TestRemotePublish(t *testing.T) {
	bucketURL := miniotest.Bucket(t)
	base, query, _ := strings.Cut(bucketURL, "?")
	url := base + "/tables/churn?" + query

	a := openRemote(t, url)
	if IsRemote(a.Root) || a.URL() != url || !strings.HasPrefix(a.Root, filepath.Clean(os.Getenv("BATCHSCORE_WORK_DIR"))) {
		t.Fatalf("work folder %s for %s", a.Root, a.URL())
	}
	publish(t, a, "v1", "one")
	if _, err := a.WriteManifest(date, "v1", []byte(`{"version":"v1"}`)); err != nil {
		t.Fatal(err)
	}
	p, keys := pointerOf(t, url, date)
	if p.Version != "v1" || len(p.Files) != 1 || p.Files[0] != "part-00000.parquet" || p.Path != "versions/"+date+"/v1" || p.Manifest != "runs/"+date+"/v1.json" {
		t.Errorf("pointer %+v: want locations relative to the table", p)
	}
	if folder, manifest := p.Resolve(base + "/tables/churn"); folder != base+"/tables/churn/versions/"+date+"/v1" || manifest != base+"/tables/churn/runs/"+date+"/v1.json" {
		t.Errorf("the pointer resolves to %s and %s", folder, manifest)
	}
	for _, want := range []string{"versions/" + date + "/v1/part-00000.parquet", "runs/" + date + "/v1.json", "current/" + date + ".json"} {
		if !contains(keys, want) {
			t.Errorf("%s is not in the bucket: %v", want, keys)
		}
	}

	// Two other machines read the table; both would publish v2/v3.
	b := openRemote(t, url)
	c := openRemote(t, url)
	for _, tb := range []*Table{b, c} {
		if v, err := tb.Current(date); err != nil || v != "v1" {
			t.Fatalf("another machine sees current %q (%v), want v1", v, err)
		}
		if _, err := tb.Manifests(); err != nil {
			t.Fatal(err)
		}
	}
	publish(t, b, "v2", "two")
	stageFiles(t, c, "v3", map[string][]byte{"part-00000.parquet": []byte("three")})
	err := c.Publish(date, "v3")
	if !errors.Is(err, ErrConcurrent) {
		t.Fatalf("the second publisher: %v, want ErrConcurrent", err)
	}
	if p, keys := pointerOf(t, url, date); p.Version != "v2" || hasPrefix(keys, "versions/"+date+"/v3/") {
		t.Errorf("after the lost race the pointer names %s; v3 objects left: %v", p.Version, hasPrefix(keys, "versions/"+date+"/v3/"))
	}
	if v, _ := c.Current(date); v != "v1" {
		t.Errorf("the loser's local current is %s, want v1 (as it was)", v)
	}
	if vs, _ := c.versions(date); contains(vs, "v3") {
		t.Error("the loser's v3 stayed in its versions/")
	}
	// The winner publishes again: its Table knows the pointer it wrote.
	publish(t, b, "v4", "four")
	if p, _ := pointerOf(t, url, date); p.Version != "v4" {
		t.Errorf("pointer %s, want v4", p.Version)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func hasPrefix(list []string, prefix string) bool {
	for _, x := range list {
		if strings.HasPrefix(x, prefix) {
			return true
		}
	}
	return false
}

// Two machines that both found no pointer for a date: the first version
// wins, the second gets ErrConcurrent, and the winner's objects stay.
func TestRemoteFirstVersionRace(t *testing.T) {
	bucketURL := miniotest.Bucket(t)
	base, query, _ := strings.Cut(bucketURL, "?")
	url := base + "/t?" + query
	a, b := openRemote(t, url), openRemote(t, url)
	publish(t, a, "v1", "one")
	stageFiles(t, b, "v2", map[string][]byte{"part-00000.parquet": []byte("two")})
	if err := b.Publish(date, "v2"); !errors.Is(err, ErrConcurrent) {
		t.Fatalf("the second first version: %v, want ErrConcurrent", err)
	}
	p, keys := pointerOf(t, url, date)
	if p.Version != "v1" || !contains(keys, "versions/"+date+"/v1/part-00000.parquet") || hasPrefix(keys, "versions/"+date+"/v2/") {
		t.Errorf("pointer %s, objects %v", p.Version, keys)
	}
}

// The pointer's PUT reaches the store but its response is lost (a 503):
// the SDK retries, the retry fails its own condition, and the publish must
// still count as done, its objects kept, since the pointer names them.
func TestRemoteLostPointerResponse(t *testing.T) {
	bucketURL := miniotest.Bucket(t)
	var lost atomic.Int32
	proxied, _ := miniotest.FaultProxy(t, bucketURL, func(resp *http.Response) bool {
		r := resp.Request
		return r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/current/"+date+".json") &&
			resp.StatusCode == http.StatusOK && lost.Add(1) == 1
	})
	base, query, _ := strings.Cut(proxied, "?")
	url := base + "/t?" + query
	a := openRemote(t, url)
	publish(t, a, "v1", "one")
	if lost.Load() < 1 {
		t.Fatal("no pointer response was lost: the test proves nothing")
	}
	p, keys := pointerOf(t, url, date)
	if p.Version != "v1" || !contains(keys, "versions/"+date+"/v1/part-00000.parquet") {
		t.Fatalf("pointer %s, objects %v", p.Version, keys)
	}
	if v, _ := a.Current(date); v != "v1" {
		t.Errorf("local current %q", v)
	}
	// The Table knows the pointer it wrote: it publishes again.
	publish(t, a, "v2", "two")
	if p, _ := pointerOf(t, url, date); p.Version != "v2" {
		t.Errorf("pointer %s, want v2", p.Version)
	}
}

// Pointers written before locations were relative hold absolute URLs with
// the writer's query: they resolve with the reader's query instead.
func TestPointerResolveOld(t *testing.T) {
	p := Pointer{Path: "s3://b/t/versions/d/v?endpoint=http://writer:9000&region=x", Manifest: "s3://b/t/runs/d/v.json?endpoint=http://writer:9000"}
	folder, manifest := p.Resolve("s3://b/t?endpoint=http://reader:9000")
	if folder != "s3://b/t/versions/d/v?endpoint=http://reader:9000" || manifest != "s3://b/t/runs/d/v.json?endpoint=http://reader:9000" {
		t.Errorf("old pointer resolves to %s, %s", folder, manifest)
	}
	p = Pointer{Path: "versions/d/v", Manifest: "runs/d/v.json"}
	if folder, _ := p.Resolve("s3://b/t/"); folder != "s3://b/t/versions/d/v" {
		t.Errorf("relative pointer resolves to %s", folder)
	}
}
