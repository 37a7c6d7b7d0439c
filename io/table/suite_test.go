package table

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/batchscore/batchscore/internal/testkit/miniotest"
	"github.com/batchscore/batchscore/io/blob"
)

// The conformance suite of the Store contract: every implementation runs
// every test below, through a kind that makes its tables and reads them
// the way a reader does (current/<date> for a folder, the pointer object
// for a bucket), never through the Table under test.
var suite = []struct {
	name string
	test func(t *testing.T, k kind)
}{
	{"Open", testOpen},
	{"StagePublish", testStagePublish},
	{"VersionsOldestFirst", testVersionsOldestFirst},
	{"Discard", testDiscard},
	{"WriteManifest", testWriteManifest},
	{"PublishWhileReading", testPublishWhileReading},
	{"PublishLeavesOnlyDateLinksAndPrivateManifests", testPublishLeavesOnlyDateLinksAndPrivateManifests},
	{"ManifestsSkipCompanions", testManifestsSkipCompanions},
	{"DropRunFiles", testDropRunFiles},
	{"PublishUndoesTheRenameWhenCommitFails", testPublishUndoesTheRenameWhenCommitFails},
	{"Own", testOwn},
	{"OwnerRecordUnreadable", testOwnerRecordUnreadable},
	{"OpenRemovesLeftoversOfKilledRuns", testOpenRemovesLeftoversOfKilledRuns},
	{"OpenKeepsStagingOfLiveExecutions", testOpenKeepsStagingOfLiveExecutions},
	{"CleanStaleSkipsOutside", testCleanStaleSkipsOutside},
	{"OpenRefusesSymlinksOutside", testOpenRefusesSymlinksOutside},
	{"WritesRefuseSymlinksOutside", testWritesRefuseSymlinksOutside},
	{"CurrentLinkOutsideIsReplaced", testCurrentLinkOutsideIsReplaced},
	{"NamesCannotEscape", testNamesCannotEscape},
	{"Modes", testModes},
	{"Shards", testShards},
	{"CrashPoints", testCrashPoints},
	{"CrashPrune", testCrashPrune},
}

func TestFolderStore(t *testing.T) { runSuite(t, folderKind) }
func TestS3Store(t *testing.T)     { runSuite(t, s3Kind) }

func runSuite(t *testing.T, k kind) {
	for _, tc := range suite {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, k) })
	}
}

// kind makes the tables of one Store implementation and reads them.
type kind struct {
	name string
	// rootUnder returns the root of a fresh table whose local folder is
	// in (or, for a folder, is) dir.
	rootUnder func(t *testing.T, dir string) string
	// machine makes the next Open act as another machine: its own work
	// folder for a bucket; a folder is one machine's.
	machine func(t *testing.T)
	// reader reads the table at root as readers do.
	reader func(t *testing.T, root string) reader
	// pointer names what a reader follows in current/ for a date.
	pointer func(date string) string
	// uploads: Commit copies the version to the store before naming it
	// (crash point publish-uploaded in between).
	uploads bool
	// breakCommit makes the next Commit of date by tb fail.
	breakCommit func(t *testing.T, tb *Table, root, date string)
}

// reader is what someone who knows only a table's root sees of it.
type reader interface {
	// current is the date's current version, "" none.
	current(date string) (string, error)
	// read reads a file of the date's current version.
	read(date, name string) ([]byte, error)
	// runFile reads runs/<date>/<name>; fs.ErrNotExist when missing.
	runFile(date, name string) ([]byte, error)
	// put writes rel in the store, as someone else would.
	put(rel string, data []byte)
	// files lists what the store holds under the folder rel.
	files(rel string) []string
}

// root is a fresh table of kind k.
func (k kind) root(t *testing.T) string {
	return k.rootUnder(t, filepath.Join(t.TempDir(), "t"))
}

// open opens a fresh table, closed when the test ends.
func (k kind) open(t *testing.T) *Table {
	t.Helper()
	return openRoot(t, k.root(t))
}

func openRoot(t *testing.T, root string) *Table {
	t.Helper()
	tb, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tb.Close() })
	return tb
}

// localRoot is the folder a Table of root works in on this machine.
func localRoot(t *testing.T, root string) string {
	t.Helper()
	local, err := LocalRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	return local
}

var folderKind = kind{
	name:      "folder",
	rootUnder: func(t *testing.T, dir string) string { return dir },
	machine:   func(*testing.T) {},
	pointer:   func(date string) string { return date },
	reader:    func(t *testing.T, root string) reader { return folderReader{t, root} },
	breakCommit: func(t *testing.T, tb *Table, _, date string) {
		// Renaming a link over a folder is EISDIR, for root as for anyone.
		link := tb.CurrentLink(date)
		if err := os.Remove(link); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(link, "x"), 0o750); err != nil {
			t.Fatal(err)
		}
	},
}

type folderReader struct {
	t    *testing.T
	root string
}

func (r folderReader) current(date string) (string, error) {
	target, err := os.Readlink(filepath.Join(r.root, "current", date))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil || filepath.Dir(target) != filepath.Join("..", "versions", date) {
		return "", err
	}
	return filepath.Base(target), nil
}

func (r folderReader) read(date, name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(r.root, "current", date, name))
}

func (r folderReader) runFile(date, name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(r.root, "runs", date, name))
}

func (r folderReader) put(rel string, data []byte) {
	if err := os.WriteFile(filepath.Join(r.root, filepath.FromSlash(rel)), data, 0o640); err != nil {
		r.t.Fatal(err)
	}
}

func (r folderReader) files(rel string) []string {
	var out []string
	base := filepath.Join(r.root, filepath.FromSlash(rel))
	_ = filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(base, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out
}

var s3Kind = kind{
	name:    "s3",
	uploads: true,
	rootUnder: func(t *testing.T, dir string) string {
		base, query, _ := strings.Cut(miniotest.Bucket(t), "?")
		t.Setenv("BATCHSCORE_WORK_DIR", dir)
		return base + "/tables/churn?" + query
	},
	machine: otherMachine,
	pointer: func(date string) string { return date + ".json" },
	reader:  newBucketReader,
	breakCommit: func(t *testing.T, _ *Table, root, date string) {
		// Another machine publishes the date after tb read its pointer.
		work := os.Getenv("BATCHSCORE_WORK_DIR")
		otherMachine(t)
		other := openRoot(t, root)
		publish(t, other, NewVersion(time.Now()), "other machine")
		t.Setenv("BATCHSCORE_WORK_DIR", work)
	},
}

// otherMachine gives the next Open of a bucket's table a work folder of
// its own.
func otherMachine(t *testing.T) { t.Setenv("BATCHSCORE_WORK_DIR", t.TempDir()) }

type bucketReader struct {
	t      *testing.T
	bucket *blob.Bucket
	prefix string
}

func newBucketReader(t *testing.T, root string) reader {
	t.Helper()
	bucketURL, key, err := blob.Split(root)
	if err != nil {
		t.Fatal(err)
	}
	b, err := blob.Open(context.Background(), bucketURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return bucketReader{t, b, strings.Trim(key, "/") + "/"}
}

func (r bucketReader) pointer(date string) (*Pointer, error) {
	data, err := r.bucket.ReadAll(context.Background(), r.prefix+"current/"+date+".json")
	if errors.Is(err, blob.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var p Pointer
	return &p, json.Unmarshal(data, &p)
}

func (r bucketReader) current(date string) (string, error) {
	p, err := r.pointer(date)
	if p == nil || err != nil {
		return "", err
	}
	return p.Version, nil
}

func (r bucketReader) read(date, name string) ([]byte, error) {
	p, err := r.pointer(date)
	if err != nil {
		return nil, err
	}
	if p == nil || !slices.Contains(p.Files, name) {
		return nil, fs.ErrNotExist
	}
	return r.bucket.ReadAll(context.Background(), r.prefix+path.Join(p.Path, name))
}

func (r bucketReader) runFile(date, name string) ([]byte, error) {
	data, err := r.bucket.ReadAll(context.Background(), r.prefix+path.Join("runs", date, name))
	if errors.Is(err, blob.ErrNotFound) {
		return nil, fs.ErrNotExist
	}
	return data, err
}

func (r bucketReader) put(rel string, data []byte) {
	f := filepath.Join(r.t.TempDir(), "object")
	if err := os.WriteFile(f, data, 0o640); err != nil {
		r.t.Fatal(err)
	}
	if err := r.bucket.Upload(context.Background(), r.prefix+rel, f); err != nil {
		r.t.Fatal(err)
	}
}

func (r bucketReader) files(rel string) []string {
	prefix := r.prefix + strings.Trim(rel, "/") + "/"
	objs, err := r.bucket.List(context.Background(), prefix)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, o := range objs {
		out = append(out, strings.TrimPrefix(o.Key, prefix))
	}
	return out
}

// seen fails the test unless a reader of root sees version current for
// date, holding part-00000.parquet with content.
func seen(t *testing.T, k kind, root, version, content string) {
	t.Helper()
	r := k.reader(t, root)
	if v, err := r.current(date); err != nil || v != version {
		t.Errorf("a reader sees current %q (%v), want %q", v, err, version)
	}
	if version == "" {
		return
	}
	if data, err := r.read(date, "part-00000.parquet"); err != nil || string(data) != content {
		t.Errorf("a reader reads %q (%v), want %q", data, err, content)
	}
}
