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
	"strconv"
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

// bucketStore is the Store of a table whose root is an object URL.
type bucketStore struct {
	t         *Table // the local work folder it mirrors
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

// attach connects the Table's work folder to the bucket at root and
// pulls what the bucket holds.
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
	s := &bucketStore{t: t, url: root, bucketURL: bucketURL, prefix: prefix, bucket: b, etags: map[string]string{}}
	t.backend = s
	if err := s.Pull(ctx); err != nil {
		b.Close()
		t.backend = nil
		return fmt.Errorf("result table %s: %w", blob.Redact(root), err)
	}
	return nil
}

func (s *bucketStore) Name() string { return blob.Redact(s.url) }
func (s *bucketStore) URL() string  { return s.url }
func (s *bucketStore) Close() error { return s.bucket.Close() }

func (s *bucketStore) Location(rel ...string) string {
	return blob.Join(s.bucketURL, s.prefix+path.Join(rel...))
}

func (s *bucketStore) pointerLocation(date string) string {
	return s.Location("current", date+".json")
}

// Pull brings the bucket's manifests, reports and profiles into runs/ and
// points the local current/ links where the bucket's pointers point, so
// that history, idempotency and drift read what every machine published.
func (s *bucketStore) Pull(ctx context.Context) error {
	if err := s.pullRuns(ctx); err != nil {
		return err
	}
	pointers, err := s.bucket.List(ctx, s.prefix+"current/")
	if err != nil {
		return err
	}
	for _, o := range pointers {
		date, ok := strings.CutSuffix(strings.TrimPrefix(o.Key, s.prefix+"current/"), ".json")
		if !ok || checkName("date", date) != nil {
			continue
		}
		p, etag, err := s.readPointer(ctx, date)
		if err != nil {
			return err
		}
		s.setETag(date, etag)
		if cur, _ := s.t.Current(date); p != nil && cur != p.Version && checkName("version", p.Version) == nil {
			if err := s.t.point(date, p.Version); err != nil {
				return err
			}
		}
	}
	return s.pullOwner(ctx)
}

func (s *bucketStore) pullRuns(ctx context.Context) error {
	objs, err := s.bucket.List(ctx, s.prefix+"runs/")
	if err != nil {
		return err
	}
	for _, o := range objs {
		rel := strings.TrimPrefix(o.Key, s.prefix)
		parts := strings.Split(rel, "/")
		if len(parts) != 3 || !strings.HasSuffix(rel, ".json") || checkName("date", parts[1]) != nil || checkName("file", parts[2]) != nil {
			continue
		}
		local := filepath.Join(s.t.Root, filepath.FromSlash(rel))
		fi, statErr := os.Stat(local)
		if statErr == nil && !o.ModTime.After(fi.ModTime()) && fi.Size() == o.Size {
			continue
		}
		data, err := s.bucket.ReadAll(ctx, o.Key)
		if err != nil {
			return err
		}
		if statErr == nil && localWins(local, data) {
			// The bucket's copy is the provisional one and this machine
			// wrote the execution's end after it (a failed manifest when
			// the store went away): this copy goes up if the store takes
			// it. Decided by status, not by clocks of two machines.
			_ = s.bucket.Upload(ctx, o.Key, local)
			continue
		}
		dir, err := s.t.dir(true, "runs", parts[1])
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
	return nil
}

func (s *bucketStore) readPointer(ctx context.Context, date string) (*Pointer, string, error) {
	key := s.prefix + "current/" + date + ".json"
	attrs, err := s.bucket.Attributes(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	data, err := s.bucket.ReadAll(ctx, key)
	if err != nil {
		return nil, "", err
	}
	var p Pointer
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, "", fmt.Errorf("%s: not a pointer: %w", s.pointerLocation(date), err)
	}
	return &p, attrs.ETag, nil
}

func (s *bucketStore) setETag(date, etag string) {
	s.mu.Lock()
	s.etags[date] = etag
	s.mu.Unlock()
}

// forget drops a date's ETag after a write whose outcome was not read
// back: a later publish from this Table then fails its condition rather
// than replace a pointer it never saw.
func (s *bucketStore) forget(date string) {
	s.setETag(date, "unknown")
}

func (s *bucketStore) etag(date string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.etags[date]
	return e, ok
}

// upload copies every file under the local folder dir to the bucket under
// the same relative key; last, when not "", goes up after the others.
func (s *bucketStore) upload(ctx context.Context, dir, last string) ([]string, error) {
	rootRel, err := filepath.Rel(s.t.Root, dir)
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
		key := s.prefix + filepath.ToSlash(rootRel) + "/" + rel
		if err := s.bucket.Upload(ctx, key, filepath.Join(dir, filepath.FromSlash(rel))); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// Commit uploads the version and writes the date's pointer (see
// publishPointer); a version whose pointer was not written has its
// objects removed again. The local current/ link is this machine's
// mirror: set when the pointer names the version, and again by the next
// Pull should that fail.
func (s *bucketStore) Commit(ctx context.Context, date, version string) (bool, error) {
	written, err := s.publishPointer(ctx, date, version)
	switch {
	case err != nil && !written:
		s.unpublish(ctx, date, version)
		return false, err
	case err != nil:
		return true, err // the pointer may name it: it stays, here and there
	}
	_ = s.t.point(date, version)
	return true, nil
}

// publishPointer uploads a version already renamed into versions/ and
// then writes the date's pointer, conditionally on the ETag this Table saw
// when it pulled (none seen: If-None-Match, the date's first version). It
// returns written true once the pointer names the version, even with an
// error after that; with written false the caller may take the version's
// objects back.
func (s *bucketStore) publishPointer(ctx context.Context, date, version string) (written bool, err error) {
	files, err := s.upload(ctx, s.t.VersionDir(date, version), "")
	if err != nil {
		return false, fmt.Errorf("publishing %s to %s: %w", version, blob.Redact(s.url), err)
	}
	crashpoint.Hit("publish-uploaded")
	data, err := json.MarshalIndent(Pointer{
		Version: version, Path: path.Join("versions", date, version),
		Manifest: path.Join("runs", date, version+".json"), Files: files, Written: time.Now().UTC(),
	}, "", "  ")
	if err != nil {
		return false, err
	}
	key := s.prefix + "current/" + date + ".json"
	expected, _ := s.etag(date) // "" when the pull saw no pointer: this is the first version
	if expected == "" {
		err = s.bucket.WriteIfAbsent(ctx, key, data)
	} else {
		err = s.bucket.WriteIfMatch(ctx, key, data, expected)
	}
	// The pointer as the store has it now decides, not the error alone: a
	// PUT that reached the store but whose response was lost is retried by
	// the SDK and fails its own condition.
	p, etag, rerr := s.readPointer(ctx, date)
	switch {
	case rerr == nil && p != nil && p.Version == version:
		s.setETag(date, etag)
		return true, nil
	case err == nil && rerr != nil:
		// Written, but not confirmed: the next publish reads it again.
		s.forget(date)
		return true, nil
	case err == nil:
		// Replaced already by another writer: ours was current a moment.
		s.forget(date)
		return true, nil
	case rerr != nil:
		// Neither the write nor the check answered: whether the pointer
		// names this version is unknown, so its objects stay.
		s.forget(date)
		return true, fmt.Errorf("publishing %s: writing %s: %w (and reading it back: %v)", version, s.pointerLocation(date), err, rerr)
	case errors.Is(err, blob.ErrExists) || errors.Is(err, blob.ErrChanged) || errors.Is(err, blob.ErrNotFound):
		return false, fmt.Errorf("publishing %s: %w: %s names %s since this run read it; nothing was published by this run", version, ErrConcurrent, s.pointerLocation(date), pointerVersion(p))
	default:
		return false, fmt.Errorf("publishing %s: writing %s: %w", version, s.pointerLocation(date), err)
	}
}

func pointerVersion(p *Pointer) string {
	if p == nil {
		return "no version"
	}
	return p.Version
}

// unpublish removes the objects of a version whose pointer was never
// written, best effort: no reader follows a pointer to them.
func (s *bucketStore) unpublish(ctx context.Context, date, version string) {
	objs, err := s.bucket.List(ctx, s.prefix+"versions/"+date+"/"+version+"/")
	if err != nil {
		return
	}
	for _, o := range objs {
		_ = s.bucket.Delete(ctx, o.Key)
	}
}

// PutRunFile mirrors a manifest or report written to runs/.
func (s *bucketStore) PutRunFile(ctx context.Context, date, name string) error {
	key := s.prefix + "runs/" + date + "/" + name
	return s.bucket.Upload(ctx, key, filepath.Join(s.t.Root, "runs", date, name))
}

func (s *bucketStore) DropRunFiles(ctx context.Context, date string, names []string) error {
	var errs []error
	for _, name := range names {
		key := s.prefix + "runs/" + date + "/" + name
		if err := s.bucket.Delete(ctx, key); err != nil && !errors.Is(err, blob.ErrNotFound) {
			errs = append(errs, err)
		}
		errs = append(errs, s.drop(ctx, key+"/")) // a folder's objects, if any
	}
	return errors.Join(errs...)
}

// ReadOwner reads the bucket's record and mirrors it into the work folder.
func (s *bucketStore) ReadOwner(ctx context.Context) ([]byte, string, error) {
	key := s.prefix + ownerFile
	attrs, err := s.bucket.Attributes(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	data, err := s.bucket.ReadAll(ctx, key)
	if err != nil {
		return nil, "", err
	}
	return data, attrs.ETag, writeFileAtomic(filepath.Join(s.t.Root, ownerFile), data, "")
}

// CreateOwner writes with If-None-Match, so that two first runs on two
// machines cannot both claim the table.
func (s *bucketStore) CreateOwner(ctx context.Context, data []byte) error {
	err := s.bucket.WriteIfAbsent(ctx, s.prefix+ownerFile, data)
	if errors.Is(err, blob.ErrExists) {
		return fs.ErrExist
	}
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(s.t.Root, ownerFile), data, "")
}

func (s *bucketStore) ReplaceOwner(ctx context.Context, data []byte, etag string) error {
	if err := s.bucket.WriteIfMatch(ctx, s.prefix+ownerFile, data, etag); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(s.t.Root, ownerFile), data, "")
}

// pullOwner mirrors the bucket's owner record into the work folder (or
// removes the mirror's when the bucket has none). An unreadable record is
// mirrored as it is: Owner and Own then refuse it, as they would a local
// one, instead of every Open failing before reown can mend it.
func (s *bucketStore) pullOwner(ctx context.Context) error {
	data, _, err := s.ReadOwner(ctx)
	if err == nil && data == nil {
		if err := os.Remove(filepath.Join(s.t.Root, ownerFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return err
}

// ShareShard uploads the shard's folder, the file named last after the
// others, over what an earlier attempt of the shard left in the bucket.
func (s *bucketStore) ShareShard(ctx context.Context, date string, n, k int, dir, last string) (string, error) {
	rel := []string{"_shards", date, "of-" + strconv.Itoa(n), "shard-" + strconv.Itoa(k)}
	if err := s.drop(ctx, s.prefix+path.Join(rel...)+"/"); err != nil {
		return "", err
	}
	if _, err := s.upload(ctx, dir, last); err != nil {
		return "", err
	}
	return blob.Redact(s.Location(rel...)), nil
}

// PullShards replaces the local shard folders of a date's n shards with
// the bucket's, for a commit on another machine than its shards. A shard
// counts once its state file (last, uploaded after its files) is there.
func (s *bucketStore) PullShards(ctx context.Context, date string, n int, last string) error {
	for k := range n {
		local, err := s.t.ShardDir(date, n, k)
		if err != nil {
			return err
		}
		prefix := fmt.Sprintf("%s_shards/%s/of-%d/shard-%d/", s.prefix, date, n, k)
		if err := s.pullShard(ctx, prefix, local, last); err != nil {
			return err
		}
	}
	return nil
}

func (s *bucketStore) pullShard(ctx context.Context, prefix, local, last string) error {
	objs, err := s.bucket.List(ctx, prefix)
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
		return nil // missing: the commit names it
	}
	for _, o := range objs {
		rel := strings.TrimPrefix(o.Key, prefix)
		if rel == "" || strings.HasSuffix(rel, "/") {
			continue // a folder marker some tools write
		}
		dst := filepath.Join(local, filepath.FromSlash(rel))
		if !strings.HasPrefix(dst, local+string(filepath.Separator)) || strings.Contains(rel, "..") {
			return fmt.Errorf("%s: %q leads outside the shard's folder", s.Location(strings.TrimPrefix(prefix, s.prefix)), rel)
		}
		if err := os.MkdirAll(filepath.Dir(dst), DirMode); err != nil {
			return err
		}
		if err := s.bucket.Download(ctx, o.Key, dst, FileMode); err != nil {
			return err
		}
	}
	return nil
}

func (s *bucketStore) DropShards(ctx context.Context, date string, n int) error {
	return s.drop(ctx, fmt.Sprintf("%s_shards/%s/of-%d/", s.prefix, date, n))
}

func (s *bucketStore) drop(ctx context.Context, prefix string) error {
	objs, err := s.bucket.List(ctx, prefix)
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
		if err := s.bucket.Delete(ctx, o.Key); err != nil && !errors.Is(err, blob.ErrNotFound) {
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
