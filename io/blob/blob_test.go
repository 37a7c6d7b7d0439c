package blob_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/batchscore/batchscore/internal/testkit/miniotest"
	"github.com/batchscore/batchscore/io/blob"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(miniotest.Wrap(m))
}

func TestIsURLAndSplit(t *testing.T) {
	tests := []struct {
		name, in        string
		isURL           bool
		bucketURL, key  string
		wantErrContains string
	}{
		{name: "local path", in: "/data/snap/x.parquet"},
		{name: "relative path", in: "snap/x.parquet"},
		{name: "windows drive", in: `C:\snap\x.parquet`},
		{name: "plain", in: "s3://b/snap/x.parquet", isURL: true, bucketURL: "s3://b", key: "snap/x.parquet"},
		{name: "query", in: "s3://b/k/x?endpoint=http://127.0.0.1:9000&region=us-east-1", isURL: true,
			bucketURL: "s3://b?endpoint=http://127.0.0.1:9000&region=us-east-1", key: "k/x"},
		{name: "escaped key", in: "s3://b/a%3Fb%25c", isURL: true, bucketURL: "s3://b", key: "a?b%c"},
		{name: "no key", in: "s3://b", isURL: true, bucketURL: "s3://b"},
		{name: "no bucket", in: "s3:///k", isURL: true, wantErrContains: "no bucket"},
		{name: "credentials", in: "s3://AKIA:topsecret@b/k", isURL: true, wantErrContains: "credentials do not belong"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := blob.IsURL(tt.in); got != tt.isURL {
				t.Fatalf("IsURL(%q) = %v", tt.in, got)
			}
			if !tt.isURL {
				return
			}
			b, k, err := blob.Split(tt.in)
			if tt.wantErrContains != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrContains) {
					t.Fatalf("Split(%q) error = %v, want %q", tt.in, err, tt.wantErrContains)
				}
				if strings.Contains(err.Error(), "topsecret") {
					t.Fatalf("error shows the password: %v", err)
				}
				return
			}
			if err != nil || b != tt.bucketURL || k != tt.key {
				t.Fatalf("Split(%q) = %q, %q, %v; want %q, %q", tt.in, b, k, err, tt.bucketURL, tt.key)
			}
			if tt.key != "" {
				if back, _, _ := blob.Split(blob.Join(b, k)); back != b {
					t.Fatalf("Join(%q, %q) does not split back", b, k)
				}
				if _, k2, _ := blob.Split(blob.Join(b, k)); k2 != k {
					t.Fatalf("Join(%q, %q) split back to key %q", b, k, k2)
				}
			}
		})
	}
}

func TestOpenRefusesOtherSchemes(t *testing.T) {
	_, err := blob.Open(context.Background(), "gs://bucket")
	if err == nil || !strings.Contains(err.Error(), "no driver for gs://") {
		t.Fatalf("err = %v", err)
	}
}

// open is a bucket on the test server, closed when the test ends.
func open(t *testing.T, bucketURL string) *blob.Bucket {
	t.Helper()
	b, err := blob.Open(context.Background(), bucketURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	b := open(t, miniotest.Bucket(t))

	data := []byte("hello, bucket")
	if err := b.WriteIfAbsent(ctx, "dir/a.txt", data); err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(t.TempDir(), "big.bin")
	big := randomBytes(12<<20, 1) // above the transfer manager's part size: a multipart upload
	if err := os.WriteFile(local, big, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := b.Upload(ctx, "dir/sub/big.bin", local); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteIfAbsent(ctx, "other/c.txt", []byte("c")); err != nil {
		t.Fatal(err)
	}

	got, err := b.ReadAll(ctx, "dir/a.txt")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
	got, err = b.ReadAll(ctx, "dir/sub/big.bin")
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("ReadAll of the upload: %d bytes, %v", len(got), err)
	}

	objs, err := b.List(ctx, "dir/")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[0].Key != "dir/a.txt" || objs[1].Key != "dir/sub/big.bin" {
		t.Fatalf("List = %+v", objs)
	}
	for _, o := range objs {
		a, err := b.Attributes(ctx, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		if o.ETag == "" || a.ETag != o.ETag || a.Size != o.Size || o.ModTime.IsZero() {
			t.Fatalf("%s: listed %+v, stat %+v", o.Key, o, a)
		}
	}
	if objs[0].Size != int64(len(data)) || objs[1].Size != int64(len(big)) {
		t.Fatalf("sizes %d, %d", objs[0].Size, objs[1].Size)
	}
	if objs[0].MD5 == nil {
		t.Fatalf("a single-part object's ETag is its MD5: %q", objs[0].ETag)
	}

	if err := b.Delete(ctx, "dir/a.txt"); err != nil {
		t.Fatal(err)
	}
	_, err = b.ReadAll(ctx, "dir/a.txt")
	if !errors.Is(err, blob.ErrNotFound) || !strings.Contains(err.Error(), b.Name()+"/dir/a.txt") {
		t.Fatalf("read after delete: %v", err)
	}
	if err := b.Delete(ctx, "dir/a.txt"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := b.Attributes(ctx, "nope"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("stat of a missing key: %v", err)
	}
}

func TestReaderAtMatchesLocalBytes(t *testing.T) {
	ctx := context.Background()
	b := open(t, miniotest.Bucket(t))
	data := randomBytes(3<<20+17, 2)
	local := filepath.Join(t.TempDir(), "obj")
	if err := os.WriteFile(local, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := b.Upload(ctx, "obj", local); err != nil {
		t.Fatal(err)
	}
	obj, err := b.Attributes(ctx, "obj")
	if err != nil {
		t.Fatal(err)
	}
	for _, ra := range []int{0, blob.DefaultTailWindow} {
		r := b.NewReaderAt(ctx, obj, blob.WithTailWindow(ra))
		rng := rand.New(rand.NewPCG(uint64(ra), 3))
		size := int64(len(data))
		for i := range 200 {
			var n int
			switch i % 3 {
			case 0:
				n = rng.IntN(300) // page-header sized
			case 1:
				n = rng.IntN(200 << 10)
			default:
				n = rng.IntN(1 << 20)
			}
			off := rng.Int64N(size)
			if i%10 == 0 {
				off = size - int64(rng.IntN(n+1)) // across the end
			}
			p := make([]byte, n)
			got, err := r.ReadAt(p, off)
			want := int(min(int64(n), size-off))
			if got != want || (want < n && err != io.EOF) || (want == n && err != nil) {
				t.Fatalf("tail window %d: ReadAt(%d bytes, %d) = %d, %v; want %d", ra, n, off, got, err, want)
			}
			if !bytes.Equal(p[:got], data[off:off+int64(got)]) {
				t.Fatalf("tail window %d: ReadAt(%d bytes, %d): other bytes than the file's", ra, n, off)
			}
		}
		if _, err := r.ReadAt(make([]byte, 1), size); err != io.EOF {
			t.Fatalf("read at the end: %v", err)
		}
		// io.ReaderAt allows parallel calls.
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(g), 4))
				for range 20 {
					off, n := rng.Int64N(size-1000), rng.IntN(1000)
					p := make([]byte, n)
					if _, err := r.ReadAt(p, off); err != nil || !bytes.Equal(p, data[off:off+int64(n)]) {
						t.Errorf("parallel ReadAt(%d, %d): %v", n, off, err)
						return
					}
				}
			})
		}
		wg.Wait()
		// Read and Seek, as io.ReadSeeker users do.
		if pos, err := r.Seek(-10, io.SeekEnd); err != nil || pos != size-10 {
			t.Fatalf("Seek = %d, %v", pos, err)
		}
		tail, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(tail, data[size-10:]) {
			t.Fatalf("ReadAll after Seek: %q, %v", tail, err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := r.ReadAt(make([]byte, 1), 0); !errors.Is(err, os.ErrClosed) {
			t.Fatalf("read after Close: %v", err)
		}
	}
}

// A Parquet reader opens a file with four small reads at its ends: the
// tail window makes them two GETs, the proxy counts them on the wire.
func TestTailWindowSavesGETs(t *testing.T) {
	ctx := context.Background()
	bucketURL := miniotest.Bucket(t)
	b := open(t, bucketURL)
	data := randomBytes(1<<20, 5)
	if err := b.WriteIfAbsent(ctx, "f", data); err != nil {
		t.Fatal(err)
	}
	obj, err := b.Attributes(ctx, "f")
	if err != nil {
		t.Fatal(err)
	}
	proxied, traffic := miniotest.Proxy(t, bucketURL)
	pb := open(t, proxied)
	size := int64(len(data))
	reads := []struct{ off, n int64 }{{0, 4}, {size - 4, 4}, {size - 8, 8}, {size - 8 - 20000, 20000}}
	for _, tt := range []struct {
		tail int
		gets int64
	}{{0, 4}, {blob.DefaultTailWindow, 2}} {
		traffic.Reset()
		r := pb.NewReaderAt(ctx, obj, blob.WithTailWindow(tt.tail))
		for _, rd := range reads {
			p := make([]byte, rd.n)
			if _, err := r.ReadAt(p, rd.off); err != nil || !bytes.Equal(p, data[rd.off:rd.off+rd.n]) {
				t.Fatalf("ReadAt(%d, %d): %v", rd.n, rd.off, err)
			}
		}
		gets, n := r.Fetched()
		if traffic.GETs() != tt.gets || gets != tt.gets || traffic.GETBytes() != n {
			t.Fatalf("tail window %d: %d GETs of %d bytes on the wire, %d of %d counted; want %d",
				tt.tail, traffic.GETs(), traffic.GETBytes(), gets, n, tt.gets)
		}
		r.Close()
	}
}

func TestReaderAtRefusesAReplacedObject(t *testing.T) {
	ctx := context.Background()
	b := open(t, miniotest.Bucket(t))
	if err := b.WriteIfAbsent(ctx, "k", randomBytes(1000, 6)); err != nil {
		t.Fatal(err)
	}
	obj, err := b.Attributes(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	r := b.NewReaderAt(ctx, obj, blob.WithTailWindow(0))
	defer r.Close()
	if _, err := r.ReadAt(make([]byte, 10), 0); err != nil {
		t.Fatal(err)
	}
	// Same size, other bytes: only the ETag tells.
	if err := b.WriteIfMatch(ctx, "k", randomBytes(1000, 7), obj.ETag); err != nil {
		t.Fatal(err)
	}
	_, err = r.ReadAt(make([]byte, 10), 0)
	if !errors.Is(err, blob.ErrChanged) || !strings.Contains(err.Error(), b.Name()+"/k") {
		t.Fatalf("read of a replaced object: %v", err)
	}
	// Unpinned, a size other than the one opened with is caught too.
	obj.ETag = ""
	obj.Size = 999
	r2 := b.NewReaderAt(ctx, obj, blob.WithTailWindow(0))
	defer r2.Close()
	if _, err := r2.ReadAt(make([]byte, 10), 0); !errors.Is(err, blob.ErrChanged) {
		t.Fatalf("read of an object of another size: %v", err)
	}
	// Removed.
	if err := b.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadAt(make([]byte, 10), 0); err == nil || !strings.Contains(err.Error(), b.Name()+"/k") {
		t.Fatalf("read of a removed object: %v", err)
	}
}

func TestOpenReaderAt(t *testing.T) {
	ctx := context.Background()
	bucketURL := miniotest.Bucket(t)
	b := open(t, bucketURL)
	data := randomBytes(5000, 8)
	if err := b.WriteIfAbsent(ctx, "a/b.bin", data); err != nil {
		t.Fatal(err)
	}
	bk, _, _ := blob.Split(bucketURL)
	r, err := blob.OpenReaderAt(ctx, blob.Join(bk, "a/b.bin"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Size() != 5000 || r.ETag() == "" {
		t.Fatalf("size %d, ETag %q", r.Size(), r.ETag())
	}
	got, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	_, err = blob.OpenReaderAt(ctx, blob.Join(bk, "a/missing"), nil)
	if !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("missing object: %v", err)
	}
}

func TestWriteIfAbsentRefusesTheSecondWriter(t *testing.T) {
	ctx := context.Background()
	b := open(t, miniotest.Bucket(t))
	for _, size := range []int{10, 12 << 20} { // one PUT; a multipart upload
		key := "marker-" + strings.Repeat("x", size%7)
		first, second := randomBytes(size, 9), randomBytes(size, 10)
		if err := b.WriteIfAbsent(ctx, key, first); err != nil {
			t.Fatal(err)
		}
		err := b.WriteIfAbsent(ctx, key, second)
		if !errors.Is(err, blob.ErrExists) || !strings.Contains(err.Error(), b.Name()+"/"+key) {
			t.Fatalf("%d bytes: second write: %v", size, err)
		}
		if got, err := b.ReadAll(ctx, key); err != nil || !bytes.Equal(got, first) {
			t.Fatalf("%d bytes: the second writer's bytes replaced the first's (%v)", size, err)
		}
	}
	// Racing writers: one wins, the others are told.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, losses := 0, 0
	for i := range 8 {
		wg.Go(func() {
			err := b.WriteIfAbsent(ctx, "race", []byte{byte(i)})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, blob.ErrExists):
				losses++
			default:
				t.Errorf("writer %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if wins != 1 || losses != 7 {
		t.Fatalf("%d writers won, %d lost", wins, losses)
	}
}

func TestWriteIfMatch(t *testing.T) {
	ctx := context.Background()
	b := open(t, miniotest.Bucket(t))
	if err := b.WriteIfAbsent(ctx, "m", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	v1, err := b.Attributes(ctx, "m")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WriteIfMatch(ctx, "m", []byte("v2"), v1.ETag); err != nil {
		t.Fatal(err)
	}
	err = b.WriteIfMatch(ctx, "m", []byte("v3"), v1.ETag) // stale
	if !errors.Is(err, blob.ErrChanged) {
		t.Fatalf("write with a stale ETag: %v", err)
	}
	if got, _ := b.ReadAll(ctx, "m"); string(got) != "v2" {
		t.Fatalf("object is %q", got)
	}
	err = b.WriteIfMatch(ctx, "absent", []byte("x"), v1.ETag)
	t.Logf("WriteIfMatch on a missing key: %v", err)
	if !errors.Is(err, blob.ErrNotFound) && !errors.Is(err, blob.ErrChanged) {
		t.Fatalf("write if match on a missing key: %v", err)
	}
	if _, err := b.Attributes(ctx, "absent"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("a lost WriteIfMatch created the key: %v", err)
	}
}

func TestErrorsHoldNoSecret(t *testing.T) {
	ctx := context.Background()
	bucketURL := miniotest.Bucket(t)
	user, password := miniotest.Credentials(t)
	wrong := "wrong-" + password
	t.Setenv("AWS_SECRET_ACCESS_KEY", wrong)
	b := open(t, bucketURL)
	_, err := b.Attributes(ctx, "k")
	if err == nil {
		t.Fatal("a wrong secret key was accepted")
	}
	_, err2 := b.List(ctx, "")
	t.Logf("errors with a wrong secret:\n%v\n%v", err, err2)
	for _, e := range []error{err, err2} {
		msg := e.Error()
		if strings.Contains(msg, password) || strings.Contains(msg, user) {
			t.Fatalf("error shows a credential: %s", msg)
		}
		if !strings.Contains(msg, b.Name()) {
			t.Fatalf("error does not name the bucket: %s", msg)
		}
	}
}
