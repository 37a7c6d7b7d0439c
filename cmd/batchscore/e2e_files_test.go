package main

// Files, tables and Parquet helpers shared by the end-to-end tests.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/batchscore/batchscore/internal/testkit/onnxtest"
	"github.com/batchscore/batchscore/jobs/report"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	if r := onnxtest.Root(t); r != repoRootPath {
		t.Fatalf("repository root %s, TestMain built from %s", r, repoRootPath)
	}
	return repoRootPath
}

func samples(t *testing.T) string { return filepath.Join(repoRoot(t), "testdata", "customers") }

func modelPath(t *testing.T, name string) string {
	return filepath.Join(repoRoot(t), "testdata", "models", name)
}

// jobOpts say how a copied config is changed. Paths are written absolute.
type jobOpts struct {
	source    string // source.parquet; default: the repo's samples
	model     string // model.path; default: the config's model in the repo
	table     string // output.table; required
	chunkRows int    // scoring.chunk_rows; 0 keeps the config's
	edit      func(string) string
}

var (
	reParquet = regexp.MustCompile(`(?m)^(\s*parquet:\s*).*$`)
	rePath    = regexp.MustCompile(`(?m)^(\s*path:\s*).*$`)
	reTable   = regexp.MustCompile(`(?m)^(\s*table:[ \t]*)\S.*$`) // output.table, not validation.table:
	reBase    = regexp.MustCompile(`(?m)^(\s*baseline:\s*)(\S+)(.*)$`)
	reChunk   = regexp.MustCompile(`(?m)^(\s*chunk_rows:\s*).*$`)
)

// writeJob copies configs/<config> into a new temporary folder with the
// paths rewritten line by line (so line numbers stay those of the config)
// and returns the copy's path.
func writeJob(t *testing.T, config string, o jobOpts) string {
	t.Helper()
	if o.table == "" {
		t.Fatal("writeJob: no output table")
	}
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "configs", config))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	if o.source == "" {
		o.source = filepath.Join(samples(t), "snapshot_date={{ .Date }}", "*.parquet")
	}
	if o.model == "" {
		m := rePath.FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("%s has no model path", config)
		}
		rel := strings.TrimSpace(strings.TrimPrefix(m[0], m[1]))
		o.model = filepath.Join(repoRoot(t), "configs", rel)
	}
	replace := func(re *regexp.Regexp, value string) {
		if !re.MatchString(text) {
			t.Fatalf("%s: no line matches %s", config, re)
		}
		text = re.ReplaceAllString(text, "${1}"+strings.ReplaceAll(value, "$", "$$"))
	}
	replace(reParquet, strconv.Quote(o.source))
	replace(rePath, strconv.Quote(o.model))
	replace(reTable, strconv.Quote(o.table))
	// The baseline is relative to the repository's configs/.
	text = reBase.ReplaceAllStringFunc(text, func(line string) string {
		m := reBase.FindStringSubmatch(line)
		return m[1] + strconv.Quote(filepath.Join(repoRoot(t), "configs", m[2])) + m[3]
	})
	if o.chunkRows > 0 {
		replace(reChunk, strconv.Itoa(o.chunkRows))
	}
	if o.edit != nil {
		text = o.edit(text)
	}
	path := filepath.Join(t.TempDir(), strings.TrimSuffix(config, ".yaml")+".yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// ---------------------------------------------------------------------------
// Manifests and the table on disk

func parseManifest(t *testing.T, data []byte) *report.Manifest {
	t.Helper()
	var m report.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("manifest is not JSON: %v\n%s", err, clip(string(data)))
	}
	return &m
}

// manifests reads runs/<date>/*.json, keyed by version.
func manifests(t *testing.T, table, date string) map[string]*report.Manifest {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(table, "runs", date, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*report.Manifest{}
	for _, p := range paths {
		if strings.HasSuffix(p, ".report.json") || strings.HasSuffix(p, ".profile.json") {
			continue // a manifest's companions
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m := parseManifest(t, data)
		if want := strings.TrimSuffix(filepath.Base(p), ".json"); m.Version != want {
			t.Errorf("%s holds the manifest of version %s", p, m.Version)
		}
		out[m.Version] = m
	}
	return out
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// currentVersion is the version current/<date> points at ("" if none);
// it also checks the link's form: ../versions/<date>/<version>.
func currentVersion(t *testing.T, table, date string) string {
	t.Helper()
	target, err := os.Readlink(filepath.Join(table, "current", date))
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	if dir := filepath.Dir(target); dir != filepath.Join("..", "versions", date) {
		t.Errorf("current/%s -> %s, want ../versions/%s/<version>", date, target, date)
	}
	return filepath.Base(target)
}

// readFiles returns every regular file under dir (following dir itself if
// it is a symlink), relative path -> content.
func readFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	err = filepath.WalkDir(real, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(real, p)
		out[rel] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameFiles(t *testing.T, what string, got, want map[string][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d files, want %d", what, len(got), len(want))
	}
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s: %s is gone", what, name)
		case !bytes.Equal(g, w):
			t.Errorf("%s: %s changed (%d bytes, was %d)", what, name, len(g), len(w))
		}
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha(b)
}

// tableState is what a reader of a table can see for a date.
type tableState struct {
	current  string
	files    map[string][]byte
	versions []string
}

func snapshotTable(t *testing.T, table, date string) tableState {
	t.Helper()
	s := tableState{current: currentVersion(t, table, date), versions: listDir(t, filepath.Join(table, "versions", date))}
	if s.current != "" {
		s.files = readFiles(t, filepath.Join(table, "current", date))
	}
	return s
}

// unchanged asserts that readers see exactly what they saw before.
func (before tableState) unchanged(t *testing.T, table, date string) {
	t.Helper()
	after := snapshotTable(t, table, date)
	if after.current != before.current {
		t.Errorf("current/%s moved from %q to %q", date, before.current, after.current)
	}
	if strings.Join(after.versions, ",") != strings.Join(before.versions, ",") {
		t.Errorf("versions/%s: %v, before %v", date, after.versions, before.versions)
	}
	sameFiles(t, "current/"+date, after.files, before.files)
}

// ---------------------------------------------------------------------------
// Parquet

func readParquet(t *testing.T, path string) arrow.Table {
	t.Helper()
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	t.Cleanup(tbl.Release)
	return tbl
}

// column returns a table column as one array.
func column(t *testing.T, tbl arrow.Table, name string) arrow.Array {
	t.Helper()
	idx := tbl.Schema().FieldIndices(name)
	if len(idx) == 0 {
		t.Fatalf("no column %q in %v", name, tbl.Schema())
	}
	chunks := tbl.Column(idx[0]).Data().Chunks()
	arr, err := array.Concatenate(chunks, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(arr.Release)
	return arr
}

func writeParquet(t *testing.T, path string, rec arrow.Record) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(rec.Schema(), f, parquet.NewWriterProperties(), pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		t.Fatal(err)
	}
	if rec.NumRows() > 0 {
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// sampleRecord reads one sample file of a date as a single record.
func sampleRecord(t *testing.T, date, part string) arrow.Record {
	t.Helper()
	tbl := readParquet(t, filepath.Join(samples(t), "snapshot_date="+date, part))
	cols := make([]arrow.Array, tbl.NumCols())
	for i := range cols {
		cols[i] = column(t, tbl, tbl.Schema().Field(i).Name)
	}
	rec := array.NewRecord(tbl.Schema(), cols, tbl.NumRows())
	t.Cleanup(rec.Release)
	return rec
}

// copySamples copies a date's sample files into root/snapshot_date=<date>/
// and returns that folder.
func copySamples(t *testing.T, root, date string) string {
	t.Helper()
	dst := filepath.Join(root, "snapshot_date="+date)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(samples(t), "snapshot_date="+date)
	for _, name := range listDir(t, src) {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// ---------------------------------------------------------------------------
// Reference scores

type reference struct {
	gbmP1, logregP1       float64
	gbmLabel, logregLabel int64
}

func readReference(t *testing.T, date string) map[int64]reference {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot(t), "testdata", "models", "reference_"+date+".csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rows[0], ","); got != "customer_id,gbm_p1,gbm_label,logreg_p1,logreg_label,ltv" {
		t.Fatalf("reference header %q", got)
	}
	out := map[int64]reference{}
	for _, r := range rows[1:] {
		num := func(s string) float64 {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		id, err := strconv.ParseInt(r[0], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		out[id] = reference{gbmP1: num(r[1]), gbmLabel: int64(num(r[2])), logregP1: num(r[3]), logregLabel: int64(num(r[4]))}
	}
	return out
}

// snapshotIDs reads customer_id from every sample file of a date.
func snapshotIDs(t *testing.T, date string) map[int64]bool {
	t.Helper()
	ids := map[int64]bool{}
	dir := filepath.Join(samples(t), "snapshot_date="+date)
	for _, name := range listDir(t, dir) {
		tbl := readParquet(t, filepath.Join(dir, name))
		col := column(t, tbl, "customer_id").(*array.Int64)
		for i := 0; i < col.Len(); i++ {
			ids[col.Value(i)] = true
		}
	}
	return ids
}
