package parquetio

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/parquet/compress"

	"github.com/batchscore/batchscore/internal/testkit/miniotest"
	"github.com/batchscore/batchscore/io/blob"
)

// s3Snapshot is a bucket on the test server and a local copy of what was
// uploaded to it.
type s3Snapshot struct {
	bucketURL string // s3://NAME?endpoint=…
	bucket    *blob.Bucket
	dir       string // local copies, by key
}

func newS3Snapshot(t *testing.T) *s3Snapshot {
	t.Helper()
	bucketURL := miniotest.Bucket(t)
	b, err := blob.Open(context.Background(), bucketURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return &s3Snapshot{bucketURL: bucketURL, bucket: b, dir: t.TempDir()}
}

// put writes ids start..start+n-1 as a local file and uploads it to key.
func (s *s3Snapshot) put(t *testing.T, key string, start, n int64, o fileOpts) string {
	t.Helper()
	local := filepath.Join(s.dir, filepath.FromSlash(key))
	writeRows(t, local, start, n, o)
	s.upload(t, key, local)
	return local
}

func (s *s3Snapshot) upload(t *testing.T, key, local string) {
	t.Helper()
	if err := s.bucket.Upload(context.Background(), key, local); err != nil {
		t.Fatal(err)
	}
}

// url is the object URL of a key (or key pattern) in the snapshot's bucket.
func (s *s3Snapshot) url(key string) string {
	i := strings.Index(s.bucketURL, "?")
	return s.bucketURL[:i] + "/" + key + s.bucketURL[i:]
}

// readAll reads every row of src as (id, x, s) and the offsets emitted.
func readAll(t *testing.T, src *Source) (ids []int64, xs []float64, ss []string, offsets []int64) {
	t.Helper()
	mem := checkedAlloc(t)
	err := src.Read(context.Background(), []string{"id", "x", "s"}, 700, mem, func(rec arrow.Record, _ string, off int64) error {
		defer rec.Release()
		offsets = append(offsets, off)
		id := rec.Column(0).(*array.Int64)
		x := rec.Column(1).(*array.Float64)
		s := rec.Column(2).(*array.String)
		for i := range int(rec.NumRows()) {
			ids, xs, ss = append(ids, id.Value(i)), append(xs, x.Value(i)), append(ss, s.Value(i))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids, xs, ss, offsets
}

func TestRemoteReadMatchesLocal(t *testing.T) {
	s := newS3Snapshot(t)
	const day = "snap/2026-11-20/"
	s.put(t, day+"part-0.parquet", 0, 3000, fileOpts{rowGroup: 1000})
	s.put(t, day+"part-1.parquet", 3000, 2500, fileOpts{rowGroup: 999, codec: compress.Codecs.Zstd})
	s.put(t, day+"part-2.parquet", 5500, 10, fileOpts{codec: compress.Codecs.Snappy})
	// Keys the glob must not match.
	s.put(t, day+"sub/part-9.parquet", 9000, 5, fileOpts{})
	s.put(t, "snap/2026-11-21/part-0.parquet", 9100, 5, fileOpts{})
	if err := s.bucket.WriteIfAbsent(context.Background(), day+"_SUCCESS", nil); err != nil {
		t.Fatal(err)
	}

	remote, err := Open(s.url(day + "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	local, err := Open(filepath.Join(s.dir, "snap", "2026-11-20", "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if len(remote.Files()) != 3 {
		t.Fatalf("remote files: %+v", remote.Files())
	}
	for i, rf := range remote.Files() {
		lf := local.Files()[i]
		if rf.Name != lf.Name || rf.Size != lf.Size || rf.Rows != lf.Rows {
			t.Errorf("file %d: remote %s %d bytes %d rows, local %s %d bytes %d rows", i, rf.Name, rf.Size, rf.Rows, lf.Name, lf.Size, lf.Rows)
		}
		if !strings.HasPrefix(rf.Path, "s3://") || !strings.Contains(rf.Path, "/"+day+rf.Name+"?") {
			t.Errorf("file %d: path %s", i, rf.Path)
		}
	}
	if !remote.Schema().Equal(local.Schema()) || remote.Rows() != 5510 {
		t.Fatalf("schema %s, %d rows", remote.Schema(), remote.Rows())
	}
	if err := remote.CheckColumns([]string{"id", "x", "s"}); err != nil {
		t.Fatal(err)
	}

	rIDs, rXs, rSs, rOffsets := readAll(t, remote)
	lIDs, lXs, lSs, lOffsets := readAll(t, local)
	if len(rIDs) != 5510 {
		t.Fatalf("read %d rows", len(rIDs))
	}
	if !reflect.DeepEqual(rIDs, lIDs) || !reflect.DeepEqual(rXs, lXs) || !reflect.DeepEqual(rSs, lSs) || !reflect.DeepEqual(rOffsets, lOffsets) {
		t.Fatal("rows read from S3 differ from the same files read locally")
	}
	for i, id := range rIDs {
		if id != int64(i) || rXs[i] != xOf(id) || rSs[i] != sOf(id) {
			t.Fatalf("row %d: %d %v %q", i, id, rXs[i], rSs[i])
		}
	}

	// The fingerprint takes the ETags, downloads nothing, and is stable.
	fp1, err := remote.Fingerprint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range remote.Files() {
		if !strings.HasPrefix(f.SHA256, "etag:") || strings.Contains(f.SHA256, `"`) {
			t.Fatalf("%s: checksum %q", f.Name, f.SHA256)
		}
	}
	again, err := Open(s.url(day + "part-[0-9].parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if fp2, err := again.Fingerprint(context.Background()); err != nil || fp2 != fp1 {
		t.Fatalf("fingerprint %s then %s (%v)", fp1, fp2, err)
	}
}

// Open reads a footer with ranged reads at the object's ends: a proxy
// counts the bytes on the wire, far below the file's size.
func TestRemoteOpenReadsOnlyTheEnds(t *testing.T) {
	s := newS3Snapshot(t)
	// Uncompressed, so that 2 MiB take few rows (the race detector watches
	// every one written and read).
	big := fileOpts{rowGroup: 15_000, codec: compress.Codecs.Uncompressed}
	s.put(t, "big/part-0.parquet", 0, 45_000, big)
	s.put(t, "big/part-1.parquet", 45_000, 45_000, big)
	proxied, traffic := miniotest.Proxy(t, s.bucketURL)
	i := strings.Index(proxied, "?")
	src, err := Open(proxied[:i] + "/big/*.parquet" + proxied[i:])
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	for _, f := range src.Files() {
		size += f.Size
	}
	if size < 2<<20 { // over ten times what Open may fetch
		t.Fatalf("the files are %d bytes: too small to tell", size)
	}
	// One listing, then the magic at the head and the tail window of each file.
	if got := traffic.GETs(); got != 1+2*2 {
		t.Errorf("Open sent %d GETs", got)
	}
	if got := traffic.GETBytes(); got > 2*blob.DefaultTailWindow+16<<10 {
		t.Errorf("Open fetched %d bytes of %d", got, size)
	}
	t.Logf("Open: %d GETs, %d bytes fetched of %d", traffic.GETs(), traffic.GETBytes(), size)

	traffic.Reset()
	if _, err := src.Fingerprint(context.Background()); err != nil {
		t.Fatal(err)
	}
	if traffic.GETs() != 0 {
		t.Errorf("Fingerprint sent %d GETs", traffic.GETs())
	}

	traffic.Reset()
	ids, _, _, _ := readAll(t, src)
	if len(ids) != 90_000 {
		t.Fatalf("read %d rows", len(ids))
	}
	t.Logf("Read: %d GETs, %d bytes fetched of %d", traffic.GETs(), traffic.GETBytes(), size)
	if got := traffic.GETBytes(); got > size+size/10 {
		t.Errorf("Read fetched %d bytes of %d", got, size)
	}
}

func TestRemoteOpenErrors(t *testing.T) {
	s := newS3Snapshot(t)
	ctx := context.Background()
	good := s.put(t, "ok/part-0.parquet", 0, 100, fileOpts{})
	content, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	for key, data := range map[string][]byte{
		"csv/part-0.parquet":    []byte("id,x,s\n1,0.75,s1\n2,1.25,s2\n"),
		"cut/part-0.parquet":    content[:len(content)-100],
		"tiny/part-0.parquet":   []byte("PAR1"),
		"footer/part-0.parquet": append(append([]byte("PAR1"), make([]byte, 100)...), []byte("\x10\x00\x00\x00PAR1")...),
	} {
		if err := s.bucket.WriteIfAbsent(ctx, key, data); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, pattern string
		is            error
		contains      string
	}{
		{"not parquet", "csv/*.parquet", ErrCorrupt, "csv/part-0.parquet"},
		{"truncated", "cut/*.parquet", ErrCorrupt, "cut/part-0.parquet"},
		{"too small", "tiny/*.parquet", ErrCorrupt, "tiny/part-0.parquet"},
		{"footer garbage", "footer/*.parquet", ErrCorrupt, "footer/part-0.parquet"},
		{"nothing matches", "ok/*.csv", ErrNoFiles, "ok/*.csv"},
		{"no such prefix", "nope/*.parquet", ErrNoFiles, "nope/*.parquet"},
		{"bad pattern", "ok/[.parquet", nil, "syntax error in pattern"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(s.url(tc.pattern))
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) || !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("Open(%s) = %v; want %v naming %q", tc.pattern, err, tc.is, tc.contains)
			}
		})
	}
	t.Run("missing bucket", func(t *testing.T) {
		_, err := Open("s3://no-such-bucket/x/*.parquet?" + strings.SplitN(s.bucketURL, "?", 2)[1])
		if !errors.Is(err, blob.ErrNotFound) || !strings.Contains(err.Error(), "no bucket s3://no-such-bucket") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("unknown query parameter", func(t *testing.T) {
		_, err := Open(s.url("ok/*.parquet") + "&bogus=1")
		if err == nil || !strings.Contains(err.Error(), "bogus") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestRemoteChangedDuringTheRun(t *testing.T) {
	ctx := context.Background()
	cols := []string{"id", "x", "s"}
	drain := func(rec arrow.Record, _ string, _ int64) error { rec.Release(); return nil }
	tests := []struct {
		name   string
		change func(t *testing.T, s *s3Snapshot)
		want   string
	}{
		{"replaced, same size", func(t *testing.T, s *s3Snapshot) {
			// Same rows, other row groups: the same size is likely but not sure;
			// the ETag differs either way.
			s.put(t, "d/part-0.parquet", 1, 1000, fileOpts{rowGroup: 250})
		}, "when the run started"},
		{"removed", func(t *testing.T, s *s3Snapshot) {
			if err := s.bucket.Delete(ctx, "d/part-0.parquet"); err != nil {
				t.Fatal(err)
			}
		}, "removed since the run started"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newS3Snapshot(t)
			s.put(t, "d/part-0.parquet", 0, 1000, fileOpts{rowGroup: 250})
			src, err := Open(s.url("d/*.parquet"))
			if err != nil {
				t.Fatal(err)
			}
			tc.change(t, s)
			err = src.Read(ctx, cols, 100, checkedAlloc(t), drain)
			if !errors.Is(err, ErrChanged) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "d/part-0.parquet") {
				t.Fatalf("Read after the object changed: %v", err)
			}
		})
	}
	t.Run("replaced while its rows are read", func(t *testing.T) {
		s := newS3Snapshot(t)
		// Row groups far larger than the tail window, so that the next one is a GET.
		s.put(t, "d/part-0.parquet", 0, 40_000, fileOpts{rowGroup: 10_000})
		src, err := Open(s.url("d/*.parquet"))
		if err != nil {
			t.Fatal(err)
		}
		replaced := false
		err = src.Read(ctx, cols, 100, checkedAlloc(t), func(rec arrow.Record, _ string, _ int64) error {
			rec.Release()
			if !replaced {
				replaced = true
				s.put(t, "d/part-0.parquet", 50_000, 40_000, fileOpts{rowGroup: 10_000})
			}
			return nil
		})
		// The next row group's GET carries If-Match with the old ETag.
		if !errors.Is(err, ErrChanged) || !strings.Contains(err.Error(), "changed since it was opened") {
			t.Fatalf("Read of an object replaced mid-file: %v", err)
		}
	})
}

func TestLiteralPrefix(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"star", "snap/2026-11-20/*.parquet", "snap/2026-11-20/"},
		{"partial name", "snap/part-*.parquet", "snap/part-"},
		{"class", "snap/part-[0-9].parquet", "snap/part-"},
		{"escape", `snap/a\*b`, "snap/a"},
		{"no wildcard", "snap/x.parquet", "snap/x.parquet"},
		{"all", "*", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := literalPrefix(tc.in); got != tc.want {
				t.Fatalf("literalPrefix(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
