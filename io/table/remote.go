package table

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/batchscore/batchscore/internal/crashpoint"
	"github.com/batchscore/batchscore/io/blob"
)

// A table whose root is an object URL (s3://bucket/prefix?endpoint=...)
// keeps the local layout in a work folder and mirrors it to the bucket:
//
//	<prefix>/versions/<date>/<version>/...    uploaded before the pointer
//	<prefix>/runs/<date>/<version>.json ...   manifests, reports, profiles
//	<prefix>/current/<date>.json              the pointer: written last
//	<prefix>/_shards/<date>/of-<n>/shard-<k>/ shards waiting for a commit
//
// Object stores have no rename, so the pointer object is the commit: a
// version's files and its provisional manifest are uploaded first, then
// current/<date>.json is written naming the version and its files, with a
// conditional PUT on the pointer's ETag as this execution first read it
// (If-None-Match: * for a date's first version). A reader that goes
// through the pointer never sees a partial version; a crash before the
// pointer leaves the previous one current; two executions that raced
// from different machines cannot both publish: the second gets
// ErrConcurrent and publishes nothing. A lost response to the pointer's
// PUT is settled by reading the pointer back.
//
// Locks (flock) hold on one machine only: across machines the pointer's
// condition is the guard, after both did the work, and shards and their
// commit rely on the orchestrator to run the commit after the shards.

// ErrConcurrent marks a publish that lost the race for a date's pointer:
// another execution published the date while this one ran.
var ErrConcurrent = errors.New("another execution published this date meanwhile")

// Pointer is the content of current/<date>.json. Path and Manifest are
// relative to the table (the prefix that holds current/), so that a
// reader behind another endpoint finds them in its own view of the
// bucket; pointers written before were absolute URLs, with the writer's
// query, and Resolve reads both.
type Pointer struct {
	Version  string    `json:"version"`
	Path     string    `json:"path"`     // the version folder: versions/<date>/<version>
	Manifest string    `json:"manifest"` // its manifest: runs/<date>/<version>.json
	Files    []string  `json:"files"`    // every file of the version, relative to Path
	Written  time.Time `json:"written"`
}

// Resolve returns the URLs of the pointer's version folder and manifest
// under the table at tableURL (s3://bucket/prefix, with or without a
// query, which the results keep). An absolute location (an older
// pointer's) is taken with the table's query in place of its own.
func (p Pointer) Resolve(tableURL string) (folder, manifest string) {
	base, query, _ := strings.Cut(tableURL, "?")
	resolve := func(loc string) string {
		if blob.IsURL(loc) {
			loc, _, _ = strings.Cut(loc, "?")
		} else {
			loc = strings.TrimSuffix(base, "/") + "/" + strings.TrimPrefix(loc, "/")
		}
		if query != "" {
			loc += "?" + query
		}
		return loc
	}
	return resolve(p.Path), resolve(p.Manifest)
}

type remote struct {
	url       string // the table's root as configured
	bucketURL string
	prefix    string // "" or ending in "/"
	bucket    *blob.Bucket

	mu    sync.Mutex
	etags map[string]string // date → the pointer's ETag when pulled ("" none)
}

// IsRemote says whether a table root is an object URL.
func IsRemote(root string) bool { return blob.IsURL(root) }

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// LocalRoot is where a table keeps its files on this machine: the root
// itself, or for an object URL a work folder named after it under
// $BATCHSCORE_WORK_DIR (default: the user's cache folder, batchscore/tables).
func LocalRoot(root string) (string, error) {
	if !IsRemote(root) {
		return root, nil
	}
	base := os.Getenv("BATCHSCORE_WORK_DIR")
	if base == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("result table %s: no work folder: set BATCHSCORE_WORK_DIR (%v)", blob.Redact(root), err)
		}
		base = filepath.Join(cache, "batchscore", "tables")
	}
	sum := sha256.Sum256([]byte(root))
	name := unsafeName.ReplaceAllString(path.Base(blob.Redact(root)), "_")
	return filepath.Join(base, name+"-"+hex.EncodeToString(sum[:6])), nil
}

// Mirror is a Table for reading a table's history (manifests and current
// pointers), pulled from the bucket first for an object URL. It stages
// nothing.
func Mirror(root string) (*Table, error) {
	if !IsRemote(root) {
		return &Table{Root: root}, nil
	}
	local, err := LocalRoot(root)
	if err != nil {
		return nil, err
	}
	t := &Table{Root: local}
	for _, d := range []string{"runs", "current", "_staging"} {
		if _, err := t.Dir(d); err != nil {
			return nil, err
		}
	}
	if err := t.attach(root); err != nil {
		return nil, err
	}
	return t, nil
}

// URL is the table's object URL, "" for a local table.
func (t *Table) URL() string {
	if t.remote == nil {
		return ""
	}
	return t.remote.url
}

// Location is the object URL of a path of the table, with the table's
// query (endpoint, region), as this machine reaches it; "" for a local
// table.
func (t *Table) Location(rel ...string) string {
	if t.remote == nil {
		return ""
	}
	return blob.Join(t.remote.bucketURL, t.remote.prefix+path.Join(rel...))
}

// ReaderURL is where readers find a path of the table: s3://bucket/key,
// without the query, since the endpoint is the writer's view of the store
// and every reader brings its own; "" for a local table.
func (t *Table) ReaderURL(rel ...string) string {
	if t.remote == nil {
		return ""
	}
	return blob.Redact(t.Location(rel...))
}

// PointerLocation is the object URL of a date's current pointer.
func (t *Table) PointerLocation(date string) string {
	return t.Location("current", date+".json")
}

func (t *Table) attach(root string) error {
	bucketURL, key, err := blob.Split(root)
	if err != nil {
		return err
	}
	ctx := context.Background()
	b, err := blob.Open(ctx, bucketURL)
	if err != nil {
		return err
	}
	prefix := strings.Trim(key, "/")
	if prefix != "" {
		prefix += "/"
	}
	t.remote = &remote{url: root, bucketURL: bucketURL, prefix: prefix, bucket: b, etags: map[string]string{}}
	if err := t.pull(ctx); err != nil {
		b.Close()
		t.remote = nil
		return fmt.Errorf("result table %s: %w", blob.Redact(root), err)
	}
	return nil
}

// pull brings the bucket's manifests, reports and profiles into runs/ and
// points the local current/ links where the bucket's pointers point, so
// that history, idempotency and drift read what every machine published.
func (t *Table) pull(ctx context.Context) error {
	r := t.remote
	objs, err := r.bucket.List(ctx, r.prefix+"runs/")
	if err != nil {
		return err
	}
	for _, o := range objs {
		rel := strings.TrimPrefix(o.Key, r.prefix)
		parts := strings.Split(rel, "/")
		if len(parts) != 3 || !strings.HasSuffix(rel, ".json") || checkName("date", parts[1]) != nil || checkName("file", parts[2]) != nil {
			continue
		}
		local := filepath.Join(t.Root, filepath.FromSlash(rel))
		fi, statErr := os.Stat(local)
		if statErr == nil && !o.ModTime.After(fi.ModTime()) && fi.Size() == o.Size {
			continue
		}
		data, err := r.bucket.ReadAll(ctx, o.Key)
		if err != nil {
			return err
		}
		if statErr == nil && localWins(local, data) {
			// The bucket's copy is the provisional one and this machine
			// wrote the execution's end after it (a failed manifest when
			// the store went away): this copy goes up if the store takes
			// it. Decided by status, not by clocks of two machines.
			_ = r.bucket.Upload(ctx, o.Key, local)
			continue
		}
		dir, err := t.dir(true, "runs", parts[1])
		if err != nil {
			return err
		}
		path := filepath.Join(dir, parts[2])
		if err := writeFileAtomic(path, data, ""); err != nil {
			return err
		}
		// Dated as the bucket's copy, so that a later update of it there
		// is newer than this one, and this machine's own later writes are
		// newer than it.
		_ = os.Chtimes(path, o.ModTime, o.ModTime)
	}
	pointers, err := r.bucket.List(ctx, r.prefix+"current/")
	if err != nil {
		return err
	}
	for _, o := range pointers {
		date, ok := strings.CutSuffix(strings.TrimPrefix(o.Key, r.prefix+"current/"), ".json")
		if !ok || checkName("date", date) != nil {
			continue
		}
		p, etag, err := t.readPointer(ctx, date)
		if err != nil {
			return err
		}
		r.setETag(date, etag)
		if cur, _ := t.Current(date); p != nil && cur != p.Version && checkName("version", p.Version) == nil {
			if err := t.point(date, p.Version); err != nil {
				return err
			}
		}
	}
	return t.pullOwner()
}

func (t *Table) readPointer(ctx context.Context, date string) (*Pointer, string, error) {
	r := t.remote
	key := r.prefix + "current/" + date + ".json"
	attrs, err := r.bucket.Attributes(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	data, err := r.bucket.ReadAll(ctx, key)
	if err != nil {
		return nil, "", err
	}
	var p Pointer
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, "", fmt.Errorf("%s: not a pointer: %w", t.PointerLocation(date), err)
	}
	return &p, attrs.ETag, nil
}

func (r *remote) setETag(date, etag string) {
	r.mu.Lock()
	r.etags[date] = etag
	r.mu.Unlock()
}

// forget drops a date's ETag after a write whose outcome was not read
// back: a later publish from this Table then fails its condition rather
// than replace a pointer it never saw.
func (r *remote) forget(date string) {
	r.setETag(date, "unknown")
}

func (r *remote) etag(date string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.etags[date]
	return e, ok
}

// upload copies every file under the local folder dir to the bucket under
// the same relative key; last, when not "", goes up after the others.
func (t *Table) upload(ctx context.Context, dir, last string) ([]string, error) {
	rootRel, err := filepath.Rel(t.Root, dir)
	if err != nil {
		return nil, err
	}
	var files []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err == nil && filepath.ToSlash(rel) != last {
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	if last != "" {
		files = append(files, last)
	}
	for _, rel := range files {
		key := t.remote.prefix + filepath.ToSlash(rootRel) + "/" + rel
		if err := t.remote.bucket.Upload(ctx, key, filepath.Join(dir, filepath.FromSlash(rel))); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// publishRemote uploads a version already renamed into versions/ and then
// writes the date's pointer, conditionally on the ETag this Table saw when
// it pulled (none seen: If-None-Match, the date's first version). It
// returns written true once the pointer names the version, even with an
// error after that; with written false the caller may take the version's
// objects back.
func (t *Table) publishRemote(date, version, dir string) (written bool, err error) {
	ctx := context.Background()
	r := t.remote
	files, err := t.upload(ctx, dir, "")
	if err != nil {
		return false, fmt.Errorf("publishing %s to %s: %w", version, blob.Redact(r.url), err)
	}
	crashpoint.Hit("publish-uploaded")
	data, err := json.MarshalIndent(Pointer{
		Version: version, Path: path.Join("versions", date, version),
		Manifest: path.Join("runs", date, version+".json"), Files: files, Written: time.Now().UTC(),
	}, "", "  ")
	if err != nil {
		return false, err
	}
	key := r.prefix + "current/" + date + ".json"
	expected, _ := r.etag(date) // "" when the pull saw no pointer: this is the first version
	if expected == "" {
		err = r.bucket.WriteIfAbsent(ctx, key, data)
	} else {
		err = r.bucket.WriteIfMatch(ctx, key, data, expected)
	}
	// The pointer as the store has it now decides, not the error alone: a
	// PUT that reached the store but whose response was lost is retried by
	// the SDK and fails its own condition.
	p, etag, rerr := t.readPointer(ctx, date)
	switch {
	case rerr == nil && p != nil && p.Version == version:
		r.setETag(date, etag)
		return true, nil
	case err == nil && rerr != nil:
		// Written, but not confirmed: the next publish reads it again.
		r.forget(date)
		return true, nil
	case err == nil:
		// Replaced already by another writer: ours was current a moment.
		r.forget(date)
		return true, nil
	case rerr != nil:
		// Neither the write nor the check answered: whether the pointer
		// names this version is unknown, so its objects stay.
		r.forget(date)
		return true, fmt.Errorf("publishing %s: writing %s: %w (and reading it back: %v)", version, t.PointerLocation(date), err, rerr)
	case errors.Is(err, blob.ErrExists) || errors.Is(err, blob.ErrChanged) || errors.Is(err, blob.ErrNotFound):
		return false, fmt.Errorf("publishing %s: %w: %s names %s since this run read it; nothing was published by this run", version, ErrConcurrent, t.PointerLocation(date), pointerVersion(p))
	default:
		return false, fmt.Errorf("publishing %s: writing %s: %w", version, t.PointerLocation(date), err)
	}
}

func pointerVersion(p *Pointer) string {
	if p == nil {
		return "no version"
	}
	return p.Version
}

// unpublishRemote removes the objects of a version whose pointer was
// never written, best effort: no reader follows a pointer to them.
func (t *Table) unpublishRemote(date, version string) {
	ctx := context.Background()
	prefix := t.remote.prefix + "versions/" + date + "/" + version + "/"
	objs, err := t.remote.bucket.List(ctx, prefix)
	if err != nil {
		return
	}
	for _, o := range objs {
		_ = t.remote.bucket.Delete(ctx, o.Key)
	}
}

// uploadRunFile mirrors a manifest or report written to runs/.
func (t *Table) uploadRunFile(date, name, local string) error {
	key := t.remote.prefix + "runs/" + date + "/" + name
	return t.remote.bucket.Upload(context.Background(), key, local)
}

// PullShards replaces the local shard folders of a date's n shards with
// the bucket's, for a commit on another machine than its shards. A shard
// counts once its state file (last, uploaded after its files) is there.
func (t *Table) PullShards(date string, n int, last string) error {
	if t.remote == nil {
		return nil
	}
	ctx := context.Background()
	r := t.remote
	for k := range n {
		local, err := t.ShardDir(date, n, k)
		if err != nil {
			return err
		}
		prefix := fmt.Sprintf("%s_shards/%s/of-%d/shard-%d/", r.prefix, date, n, k)
		objs, err := r.bucket.List(ctx, prefix)
		if err != nil {
			return err
		}
		complete := false
		for _, o := range objs {
			complete = complete || o.Key == prefix+last
		}
		if err := os.RemoveAll(local); err != nil {
			return err
		}
		if !complete {
			continue // missing: the commit names it
		}
		for _, o := range objs {
			rel := strings.TrimPrefix(o.Key, prefix)
			if rel == "" || strings.HasSuffix(rel, "/") {
				continue // a folder marker some tools write
			}
			dst := filepath.Join(local, filepath.FromSlash(rel))
			if !strings.HasPrefix(dst, local+string(filepath.Separator)) || strings.Contains(rel, "..") {
				return fmt.Errorf("%s: %q leads outside the shard's folder", t.Location(strings.TrimPrefix(prefix, r.prefix)), rel)
			}
			if err := os.MkdirAll(filepath.Dir(dst), DirMode); err != nil {
				return err
			}
			if err := r.bucket.Download(ctx, o.Key, dst, FileMode); err != nil {
				return err
			}
		}
	}
	return nil
}

func (t *Table) dropRemoteShards(date string, n int) error {
	return t.dropRemote(fmt.Sprintf("%s_shards/%s/of-%d/", t.remote.prefix, date, n))
}

func (t *Table) dropRemoteShard(date string, n, k int) error {
	return t.dropRemote(fmt.Sprintf("%s_shards/%s/of-%d/shard-%d/", t.remote.prefix, date, n, k))
}

func (t *Table) dropRemote(prefix string) error {
	ctx := context.Background()
	objs, err := t.remote.bucket.List(ctx, prefix)
	if err != nil {
		return err
	}
	// A shard's state file goes first: a commit listing meanwhile sees the
	// shard missing, not complete with files gone.
	sort.SliceStable(objs, func(i, j int) bool {
		return strings.HasSuffix(objs[i].Key, "/_shard.json") && !strings.HasSuffix(objs[j].Key, "/_shard.json")
	})
	var errs []error
	for _, o := range objs {
		if err := t.remote.bucket.Delete(ctx, o.Key); err != nil && !errors.Is(err, blob.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// statusPublishing is jobs/report's StatusPublishing: a provisional
// manifest, written before the publish and replaced after it.
const statusPublishing = "publishing"

// localWins says whether the local manifest at path ends an execution
// whose copy in the bucket (remote) still says it is publishing.
func localWins(path string, remote []byte) bool {
	var r, l struct {
		Status string `json:"status"`
	}
	local, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(remote, &r) != nil || json.Unmarshal(local, &l) != nil {
		return false
	}
	return r.Status == statusPublishing && l.Status != "" && l.Status != statusPublishing
}
