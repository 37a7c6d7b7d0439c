package table

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/batchscore/batchscore/internal/testkit/miniotest"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashStepEnv) != "" {
		os.Exit(crashChild()) // a child of testCrashPoints, not a test run
	}
	goleak.VerifyTestMain(miniotest.Wrap(m))
}

const date = "2026-11-20"

// stageFiles stages a version holding the given files and returns its folder.
func stageFiles(t *testing.T, tb *Table, version string, files map[string][]byte) string {
	t.Helper()
	dir, err := tb.Stage(version)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func publish(t *testing.T, tb *Table, version string, content string) {
	t.Helper()
	stageFiles(t, tb, version, map[string][]byte{"part-00000.parquet": []byte(content)})
	if err := tb.Publish(date, version); err != nil {
		t.Fatal(err)
	}
}

func readCurrent(t *testing.T, tb *Table) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(tb.CurrentLink(date), "part-00000.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func testOpen(t *testing.T, k kind) {
	root := k.rootUnder(t, filepath.Join(t.TempDir(), "a", "b"))
	local := localRoot(t, root)
	tb := openRoot(t, root)
	for _, d := range []string{"", "_staging", "versions", "current", "runs"} {
		if st, err := os.Stat(filepath.Join(local, d)); err != nil || !st.IsDir() {
			t.Errorf("%s/%s: %v", local, d, err)
		}
	}
	if tb.Root != local {
		t.Errorf("Root = %s", tb.Root)
	}
	t.Run("again", func(t *testing.T) {
		tb, err := Open(root)
		if err != nil {
			t.Fatalf("second Open: %v", err)
		}
		tb.Close()
	})
	t.Run("under a file", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "f")
		os.WriteFile(f, nil, 0o644)
		if _, err := Open(k.rootUnder(t, filepath.Join(f, "t"))); err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("Open under a file = %v, want an error naming the table", err)
		}
	})
}

func testStagePublish(t *testing.T, k kind) {
	root := k.root(t)
	tb := openRoot(t, root)
	if v, err := tb.Current(date); err != nil || v != "" {
		t.Fatalf("Current before any publish = %q, %v; want \"\"", v, err)
	}
	if vs, err := tb.versions(date); err != nil || len(vs) != 0 {
		t.Fatalf("Versions before any publish = %q, %v", vs, err)
	}

	t0 := time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC)
	v1, v2 := NewVersion(t0), NewVersion(t0.Add(time.Minute))
	staged := stageFiles(t, tb, v1, map[string][]byte{"part-00000.parquet": []byte("one-0"), "part-00001.parquet": []byte("one-1")})
	if staged != filepath.Join(tb.Root, "_staging", v1) {
		t.Errorf("Stage = %s", staged)
	}
	if _, err := tb.Stage(v1); err == nil {
		t.Error("staging the same version twice: no error")
	}
	if v, _ := tb.Current(date); v != "" {
		t.Errorf("staged version visible as current: %s", v)
	}
	if err := tb.Publish(date, v1); err != nil {
		t.Fatal(err)
	}

	t.Run("first publish", func(t *testing.T) {
		if _, err := os.Stat(staged); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("staging folder still there: %v", err)
		}
		for name, want := range map[string]string{"part-00000.parquet": "one-0", "part-00001.parquet": "one-1"} {
			data, err := os.ReadFile(filepath.Join(tb.VersionDir(date, v1), name))
			if err != nil || string(data) != want {
				t.Errorf("versions/%s/%s/%s = %q, %v", date, v1, name, data, err)
			}
		}
		target, err := os.Readlink(tb.CurrentLink(date))
		if err != nil || target != filepath.Join("..", "versions", date, v1) {
			t.Errorf("current/%s -> %q, %v", date, target, err)
		}
		if got := readCurrent(t, tb); got != "one-0" {
			t.Errorf("through current: %q", got)
		}
		if v, err := tb.Current(date); err != nil || v != v1 {
			t.Errorf("Current = %q, %v; want %s", v, err, v1)
		}
		seen(t, k, root, v1, "one-0")
	})

	publish(t, tb, v2, "two")
	t.Run("second publish flips current", func(t *testing.T) {
		if v, err := tb.Current(date); err != nil || v != v2 {
			t.Errorf("Current = %q, %v; want %s", v, err, v2)
		}
		if got := readCurrent(t, tb); got != "two" {
			t.Errorf("through current: %q", got)
		}
		seen(t, k, root, v2, "two")
		data, err := os.ReadFile(filepath.Join(tb.VersionDir(date, v1), "part-00000.parquet"))
		if err != nil || string(data) != "one-0" {
			t.Errorf("first version no longer readable: %q, %v", data, err)
		}
		if vs, err := tb.versions(date); err != nil || !slices.Equal(vs, []string{v1, v2}) {
			t.Errorf("Versions = %q, %v; want [%s %s]", vs, err, v1, v2)
		}
		tmp, _ := filepath.Glob(filepath.Join(tb.Root, "current", ".*"))
		if len(tmp) != 0 {
			t.Errorf("temporary links left: %q", tmp)
		}
	})
	t.Run("other dates untouched", func(t *testing.T) {
		if v, err := tb.Current("2026-11-19"); err != nil || v != "" {
			t.Errorf("Current(other date) = %q, %v", v, err)
		}
	})
	t.Run("publish of an unstaged version", func(t *testing.T) {
		if err := tb.Publish(date, NewVersion(t0.Add(time.Hour))); err == nil {
			t.Error("no error")
		}
		if v, _ := tb.Current(date); v != v2 {
			t.Errorf("current moved to %q", v)
		}
		seen(t, k, root, v2, "two")
	})
	t.Run("publish of a version that exists", func(t *testing.T) {
		stageFiles(t, tb, v1, map[string][]byte{"part-00000.parquet": []byte("impostor")})
		if err := tb.Publish(date, v1); err == nil {
			t.Error("published over an existing version folder")
		}
		data, _ := os.ReadFile(filepath.Join(tb.VersionDir(date, v1), "part-00000.parquet"))
		if string(data) != "one-0" {
			t.Errorf("published version changed: %q", data)
		}
		seen(t, k, root, v2, "two")
		tb.Discard(v1)
	})
}

func testVersionsOldestFirst(t *testing.T, k kind) {
	root := k.root(t)
	tb := openRoot(t, root)
	t0 := time.Date(2026, 11, 21, 23, 59, 59, 998_000_000, time.UTC)
	var want []string
	for i := range 5 {
		want = append(want, NewVersion(t0.Add(time.Duration(i)*time.Millisecond)))
	}
	// Published newest first: the listing follows time, not publish order.
	for _, v := range slices.Backward(want) {
		publish(t, tb, v, v)
	}
	os.WriteFile(filepath.Join(tb.Root, "versions", date, "stray-file"), nil, 0o644)
	got, err := tb.versions(date)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Versions = %q\nwant %q", got, want)
	}
	if v, _ := tb.Current(date); v != want[0] {
		t.Errorf("Current = %s, want the last published %s", v, want[0])
	}
	seen(t, k, root, want[0], want[0])
}

var versionForm = regexp.MustCompile(`^\d{8}T\d{6}\.\d{3}Z-[0-9a-f]+$`)

func TestNewVersion(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	tests := []struct {
		name       string
		start      time.Time
		wantPrefix string
	}{
		{name: "utc", start: time.Date(2026, 11, 21, 23, 55, 29, 29_500_000, time.UTC), wantPrefix: "20261121T235529.029Z-"},
		{name: "zone converted to utc", start: time.Date(2026, 11, 22, 0, 55, 29, 29_000_000, berlin), wantPrefix: "20261121T235529.029Z-"},
		{name: "whole second", start: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), wantPrefix: "20260102T030405.000Z-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := NewVersion(tt.start)
			if !strings.HasPrefix(v, tt.wantPrefix) || !versionForm.MatchString(v) {
				t.Errorf("NewVersion = %s, want %s<hex>", v, tt.wantPrefix)
			}
		})
	}
}

func TestNewVersionOrder(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 9, 59, 59, 0, time.UTC)
	var prev string
	for i := range 1000 {
		// Steps of 7ms cross second, minute and hour boundaries.
		v := NewVersion(t0.Add(time.Duration(i) * 7 * time.Millisecond))
		if prev != "" && v <= prev {
			t.Fatalf("call %d: %s sorts before %s", i, v, prev)
		}
		prev = v
	}
}

func TestNewVersionUnique(t *testing.T) {
	start := time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC)
	seen := map[string]int{}
	var dups []string
	for i := range 1000 {
		v := NewVersion(start) // all in the same millisecond
		if j, ok := seen[v]; ok {
			dups = append(dups, fmt.Sprintf("%s (calls %d and %d)", v, j, i))
		}
		seen[v] = i
	}
	if len(dups) > 0 {
		t.Fatalf("duplicate versions %q", dups)
	}
}

func testDiscard(t *testing.T, k kind) {
	root := k.root(t)
	tb := openRoot(t, root)
	v := NewVersion(time.Now())
	dir := stageFiles(t, tb, v, map[string][]byte{"part-00000.parquet": []byte("x")})
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	if err := tb.Discard(v); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("staging folder still there: %v", err)
	}
	if err := tb.Discard(v); err != nil {
		t.Errorf("second Discard: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(tb.Root, "_staging")); len(entries) != 0 {
		t.Errorf("_staging not empty: %v", entries)
	}
	if _, err := os.Stat(filepath.Join(tb.Root, "versions", date)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("discarded version reached versions/: %v", err)
	}
	seen(t, k, root, "", "")
}

func testWriteManifest(t *testing.T, k kind) {
	root := k.root(t)
	tb := openRoot(t, root)
	v := NewVersion(time.Now())
	tests := []struct {
		name string
		data []byte
	}{
		{name: "first", data: []byte(`{"status":"running"}`)},
		{name: "overwrite", data: []byte(`{"status":"published","rows":2000}`)},
		{name: "shorter overwrite", data: []byte(`{}`)},
		{name: "empty", data: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, err := tb.WriteManifest(date, v, tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if path != filepath.Join(tb.Root, "runs", date, v+".json") || path != tb.ManifestPath(date, v) {
				t.Errorf("path = %s", path)
			}
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, tt.data) {
				t.Errorf("content %q, %v; want %q", got, err, tt.data)
			}
			if got, err := k.reader(t, root).runFile(date, v+".json"); err != nil || !bytes.Equal(got, tt.data) {
				t.Errorf("a reader reads %q, %v; want %q", got, err, tt.data)
			}
			entries, _ := os.ReadDir(filepath.Dir(path))
			if len(entries) != 1 {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("runs/%s holds %q, want only %s.json", date, names, v)
			}
		})
	}
}

func TestWriteFileAtomicFailure(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "m.json")
	os.Mkdir(target, 0o755) // rename over a folder fails
	if err := writeFileAtomic(target, []byte("x"), "manifest-temp"); err == nil || !strings.Contains(err.Error(), target) {
		t.Fatalf("writeFileAtomic over a folder = %v, want an error naming it", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary file left behind: %v", entries)
	}
}

// A reader that follows current/<date> while versions are published sees
// a whole file of some version every time, and never an older version
// after a newer one.
func testPublishWhileReading(t *testing.T, k kind) {
	const publishes = 50
	root := k.root(t)
	tb := openRoot(t, root)
	view := k.reader(t, root)
	contents := map[string]int{} // content -> publish index
	body := func(i int) []byte {
		return append([]byte(fmt.Sprintf("version %02d|", i)), bytes.Repeat([]byte{byte('a' + i%26)}, 64<<10)...)
	}
	for i := range publishes {
		contents[string(body(i))] = i
	}

	var published atomic.Int32 // publishes finished
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads, problems atomic.Int64
	var mu sync.Mutex
	var report []string
	fail := func(format string, args ...any) {
		if problems.Add(1) <= 5 {
			mu.Lock()
			report = append(report, fmt.Sprintf(format, args...))
			mu.Unlock()
		}
	}
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := -1
			for {
				select {
				case <-stop:
					return
				default:
				}
				done := int(published.Load())
				data, err := view.read(date, "part-00000.parquet")
				reads.Add(1)
				if err != nil {
					if done > 0 {
						fail("reader %d: after %d publishes: %v", r, done, err)
					}
					continue
				}
				i, ok := contents[string(data)]
				switch {
				case !ok:
					fail("reader %d: partial or unknown content, %d bytes starting %q", r, len(data), data[:min(len(data), 12)])
				case i < last:
					fail("reader %d: saw version %d after %d", r, i, last)
				case i < done-1:
					fail("reader %d: saw version %d after publish %d returned", r, i, done-1)
				default:
					last = i
				}
			}
		}()
	}
	for i := range publishes {
		v := NewVersion(time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second))
		dir, err := tb.Stage(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "part-00000.parquet"), body(i), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := tb.Publish(date, v); err != nil {
			t.Fatal(err)
		}
		published.Add(1)
		time.Sleep(time.Millisecond) // let the readers in between publishes
	}
	close(stop)
	wg.Wait()
	for _, r := range report {
		t.Error(r)
	}
	if n := problems.Load(); n > 0 {
		t.Errorf("%d bad reads of %d", n, reads.Load())
	}
	if vs, _ := tb.versions(date); len(vs) != publishes {
		t.Errorf("%d versions, want %d", len(vs), publishes)
	}
	t.Logf("%d reads across %d publishes", reads.Load(), publishes)
}

// Nothing but the date links may ever be in current/: a leftover would
// match the documented current/*/*.parquet glob. Manifests are for the
// owner and group only, like the result files.
func testPublishLeavesOnlyDateLinksAndPrivateManifests(t *testing.T, k kind) {
	root := k.root(t)
	tb := openRoot(t, root)
	for range 3 {
		v := NewVersion(time.Now())
		dir, err := tb.Stage(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "part-00000.parquet"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := tb.Publish("2026-11-20", v); err != nil {
			t.Fatal(err)
		}
		path, err := tb.WriteManifest("2026-11-20", v, []byte("{}"))
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o640 {
			t.Errorf("manifest mode %v, want 0640", st.Mode().Perm())
		}
	}
	entries, err := os.ReadDir(filepath.Join(tb.Root, "current"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "2026-11-20" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("current/ holds %v, want only 2026-11-20", names)
	}
	if got, want := k.reader(t, root).files("current"), []string{k.pointer("2026-11-20")}; !slices.Equal(got, want) {
		t.Errorf("the store's current/ holds %v, want %v", got, want)
	}
}

func testManifestsSkipCompanions(t *testing.T, k kind) {
	root := k.root(t)
	tb := openRoot(t, root)
	v1 := NewVersion(time.Date(2026, 11, 19, 2, 0, 0, 0, time.UTC))
	v2 := NewVersion(time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC))
	for _, f := range []struct{ date, version, suffix string }{
		{"2026-11-20", v2, ".json"}, {"2026-11-20", v2, ".report.json"}, {"2026-11-20", v2, ".profile.json"},
		{"2026-11-19", v1, ".json"}, {"2026-11-19", v1, ".report.html"},
	} {
		if _, err := tb.WriteRunFile(f.date, f.version, f.suffix, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	got, err := tb.Manifests()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{tb.ManifestPath("2026-11-19", v1), tb.ManifestPath("2026-11-20", v2)}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Manifests = %v, want %v", got, want)
	}
	// Another machine lists the same executions.
	k.machine(t)
	other, err := Mirror(root)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	got, err = other.Manifests()
	want = []string{other.ManifestPath("2026-11-19", v1), other.ManifestPath("2026-11-20", v2)}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("another machine's Manifests = %v, %v; want %v", got, err, want)
	}
}

// RunDates and DateManifests list what Manifests lists, one date at a
// time: dates in order, a date's manifests oldest first, companions and
// temporary files left out.
func TestDateManifests(t *testing.T) {
	root := t.TempDir()
	tb := &Table{Root: root}
	files := map[string][]string{
		"2026-11-21": {"20261121T010000.000Z-bb.json", "20261121T010000.000Z-bb.report.html", "20261121T000000.000Z-aa.json", ".20261121T020000.000Z-cc.json.1.tmp"},
		"2026-11-19": {"20261119T000000.000Z-aa.json", "20261119T000000.000Z-aa.profile.json"},
		"2026-11-20": {"20261120T000000.000Z-aa.report.json"},
	}
	for d, names := range files {
		for _, n := range names {
			if err := os.MkdirAll(filepath.Join(root, "runs", d), 0o750); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, "runs", d, n), []byte("{}"), 0o640); err != nil {
				t.Fatal(err)
			}
		}
	}
	dates, err := tb.RunDates()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"2026-11-19", "2026-11-20", "2026-11-21"}; !slices.Equal(dates, want) {
		t.Errorf("RunDates = %v, want %v", dates, want)
	}
	var each []string
	for _, d := range dates {
		ps, err := tb.DateManifests(d)
		if err != nil {
			t.Fatal(err)
		}
		each = append(each, ps...)
	}
	all, err := tb.Manifests()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(each, all) || len(all) != 3 {
		t.Errorf("DateManifests over RunDates = %v; Manifests = %v; want the 3 manifests", each, all)
	}
	if got, _ := tb.DateManifests("2026-11-21"); len(got) != 2 || filepath.Base(got[0]) != "20261121T000000.000Z-aa.json" {
		t.Errorf("DateManifests(2026-11-21) = %v, want aa then bb", got)
	}
}

// DropRunFiles removes an execution's companions (and its manifest when
// asked) from the local folder and from what readers see; another
// machine's Open does not bring them back; other executions' files stay.
func testDropRunFiles(t *testing.T, k kind) {
	root := k.root(t)
	tb := openRoot(t, root)
	old, kept := NewVersion(time.Now()), NewVersion(time.Now().Add(time.Second))
	for _, v := range []string{old, kept} {
		for _, suffix := range []string{".json", ".report.json", ".report.html", ".profile.json"} {
			if _, err := tb.WriteRunFile(date, v, suffix, []byte("{}")); err != nil {
				t.Fatal(err)
			}
		}
	}
	removed, err := tb.DropRunFiles(date, old, false)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	if want := []string{old + ".profile.json", old + ".report.html", old + ".report.json"}; !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	r := k.reader(t, root)
	if _, err := r.runFile(date, old+".json"); err != nil {
		t.Errorf("the manifest went too: %v", err)
	}
	if _, err := r.runFile(date, old+".report.html"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a reader still reads the report: %v", err)
	}
	if _, err := tb.DropRunFiles(date, old, true); err != nil {
		t.Fatal(err)
	}
	if _, err := r.runFile(date, old+".json"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a reader still reads the manifest: %v", err)
	}
	tb.Close()
	k.machine(t)
	again := openRoot(t, root)
	ps, err := again.DateManifests(date)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || filepath.Base(ps[0]) != kept+".json" {
		t.Errorf("after another Open the date's manifests are %v, want only %s.json", ps, kept)
	}
	for _, suffix := range []string{".report.json", ".report.html", ".profile.json"} {
		if _, err := r.runFile(date, kept+suffix); err != nil {
			t.Errorf("%s%s went: %v", kept, suffix, err)
		}
	}
}

// An outcomes evaluation's files (runs/<date>/outcomes-<time>.json and
// .html, see jobs/outcomes) are not manifests to Manifests and
// DateManifests, and neither retention (DropRunFiles of any version,
// manifest included) nor the stale sweep of an idle Open removes them.
func TestOutcomesFilesAreNotManifests(t *testing.T) {
	root := t.TempDir()
	tb, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	date, version := "2026-11-20", "20261120T000000.000Z-aa"
	for _, n := range []string{version + ".json", version + ".report.html"} {
		if _, err := tb.WriteRunFile(date, strings.TrimSuffix(strings.TrimSuffix(n, ".json"), ".report.html"), n[len(version):], []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	outcomes := []string{"outcomes-20261221T020000Z.json", "outcomes-20261221T020000Z.html"}
	for _, n := range outcomes {
		stem, suffix, _ := strings.Cut(n, ".")
		if _, err := tb.WriteRunFile(date, stem, "."+suffix, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	all, err := tb.Manifests()
	if err != nil {
		t.Fatal(err)
	}
	day, err := tb.DateManifests(date)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || len(day) != 1 || filepath.Base(all[0]) != version+".json" {
		t.Errorf("Manifests = %v, DateManifests = %v; want only %s.json", all, day, version)
	}
	if _, err := tb.DropRunFiles(date, version, true); err != nil {
		t.Fatal(err)
	}
	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}
	// The stamp is removed so that the sweep lists every date folder.
	_ = os.Remove(filepath.Join(root, "_locks", sweptStamp))
	again, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	for _, n := range outcomes {
		if _, err := os.Stat(filepath.Join(root, "runs", date, n)); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	if left := listNames(t, filepath.Join(root, "runs", date)); len(left) != 2 {
		t.Errorf("runs/%s holds %v, want the two outcomes files", date, left)
	}
}

func listNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}
