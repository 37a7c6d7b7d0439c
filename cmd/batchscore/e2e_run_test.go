package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/parquet/file"

	"github.com/batchscore/batchscore/jobs/report"
)

type resultColumn struct {
	name string
	typ  arrow.DataType
}

var resultColumns = []resultColumn{
	{"customer_id", arrow.PrimitiveTypes.Int64},
	{"score", arrow.PrimitiveTypes.Float64},
	{"label", arrow.PrimitiveTypes.Int64},
	{"score_date", arrow.FixedWidthTypes.Date32},
	{"run_id", arrow.BinaryTypes.String},
	{"model_version", arrow.BinaryTypes.String},
}

// withFlags is the result schema of a job with impute, clip or warn rules.
var withFlags = append(append(append([]resultColumn(nil), resultColumns[:3]...),
	resultColumn{"flags", arrow.BinaryTypes.String}), resultColumns[3:]...)

// TestRunPublishesReferenceScores runs the shipped configs for one date and
// checks the published files row by row against scikit-learn's reference
// probabilities, and the manifest against the files on disk.
func TestRunPublishesReferenceScores(t *testing.T) {
	t.Parallel()
	cases := []struct {
		config       string
		p1           func(reference) float64
		label        func(reference) int64
		modelFile    string
		modelVersion func(sha string) string
	}{
		{
			config: "churn_nightly.yaml", modelFile: "churn_gbm.onnx",
			p1:           func(r reference) float64 { return r.gbmP1 },
			label:        func(r reference) int64 { return r.gbmLabel },
			modelVersion: func(string) string { return "churn_gbm-2026.11" },
		},
		{
			config: "churn_logreg.yaml", modelFile: "churn_logreg.onnx",
			p1:           func(r reference) float64 { return r.logregP1 },
			label:        func(r reference) int64 { return r.logregLabel },
			modelVersion: func(sha string) string { return "sha256:" + sha[:12] }, // no model.version in the file
		},
	}
	for _, tc := range cases {
		t.Run(tc.config, func(t *testing.T) {
			t.Parallel()
			table := filepath.Join(t.TempDir(), "scores")
			job := writeJob(t, tc.config, jobOpts{table: table})
			res := bs(t, "run", job, "--date", date20, "--json")
			if res.code != 0 {
				t.Fatalf("run failed\n%s", res)
			}
			m := parseManifest(t, []byte(res.stdout))
			checkJSONLogs(t, res.stderr, "run succeeded")

			// The manifest on stdout is the one stored under runs/.
			stored, err := os.ReadFile(filepath.Join(table, "runs", date20, m.Version+".json"))
			if err != nil {
				t.Fatalf("no manifest under runs/: %v", err)
			}
			if !bytes.Equal(stored, []byte(res.stdout)) {
				t.Errorf("--json printed a different manifest than runs/%s/%s.json", date20, m.Version)
			}

			checkSucceededManifest(t, m, table, date20, 2000)
			modelSHA := fileSHA(t, modelPath(t, tc.modelFile))
			if m.Model.SHA256 != modelSHA {
				t.Errorf("model sha256 %q, file has %q", m.Model.SHA256, modelSHA)
			}
			if want := tc.modelVersion(modelSHA); m.Model.Version != want {
				t.Errorf("model version %q, want %q", m.Model.Version, want)
			}
			if m.Model.Signature == nil || len(m.Model.Signature.Inputs) == 0 {
				t.Errorf("manifest has no model signature: %+v", m.Model)
			}
			checkSourceManifest(t, m, date20)

			// The published rows.
			ref := readReference(t, date20)
			ids := snapshotIDs(t, date20)
			rows := readResults(t, filepath.Join(table, "current", date20))
			if len(rows.ids) != 2000 {
				t.Fatalf("%d result rows, want 2000", len(rows.ids))
			}
			seen := map[int64]bool{}
			var worst float64
			for i, id := range rows.ids {
				if seen[id] {
					t.Errorf("customer %d appears twice", id)
				}
				seen[id] = true
				if !ids[id] {
					t.Errorf("customer %d is not in the snapshot", id)
					continue
				}
				r, ok := ref[id]
				if !ok {
					t.Fatalf("customer %d has no reference row", id)
				}
				d := math.Abs(rows.scores[i] - tc.p1(r))
				worst = max(worst, d)
				if d > 1e-5 || math.IsNaN(rows.scores[i]) {
					t.Errorf("customer %d: score %v, reference %v", id, rows.scores[i], tc.p1(r))
				}
				if rows.labels[i] != tc.label(r) {
					t.Errorf("customer %d: label %d, reference %d", id, rows.labels[i], tc.label(r))
				}
			}
			if len(seen) != len(ids) {
				t.Errorf("%d distinct customers scored, snapshot has %d", len(seen), len(ids))
			}
			if !sort.SliceIsSorted(rows.ids, func(i, j int) bool { return rows.ids[i] < rows.ids[j] }) {
				t.Errorf("result rows are not in snapshot order")
			}
			t.Logf("max |score - reference| = %.2g", worst)
			for i := range rows.ids {
				if rows.dates[i] != date20 || rows.runIDs[i] != m.RunID || rows.versions[i] != m.Model.Version {
					t.Fatalf("row %d: score_date %s run_id %s model_version %s; want %s %s %s",
						i, rows.dates[i], rows.runIDs[i], rows.versions[i], date20, m.RunID, m.Model.Version)
				}
			}
		})
	}
}

// checkSucceededManifest checks a successful run's manifest against the
// table on disk: status, counts, the current link and every output file.
func checkSucceededManifest(t *testing.T, m *report.Manifest, table, date string, rows int64) {
	t.Helper()
	if m.Status != report.StatusSucceeded || m.ExitCode != 0 || m.Error != "" {
		t.Errorf("status %q exit %d error %q, want succeeded 0", m.Status, m.ExitCode, m.Error)
	}
	if m.LogicalDate != date {
		t.Errorf("logical_date %q, want %s", m.LogicalDate, date)
	}
	if m.RunID == "" || m.Version == "" {
		t.Errorf("run_id %q version %q", m.RunID, m.Version)
	}
	c := m.Counts
	if c.Read != rows || c.Valid != rows || c.Scored != rows || c.Written != rows || c.Quarantined != 0 || c.Fallback != 0 {
		t.Errorf("counts %+v, want read=valid=scored=written=%d", c, rows)
	}
	if m.Source.Rows != rows {
		t.Errorf("source rows %d, want %d", m.Source.Rows, rows)
	}
	if !m.Output.Published || m.Output.Version != m.Version {
		t.Errorf("output %+v: want published version %s", m.Output, m.Version)
	}
	vdir := filepath.Join(table, "versions", date, m.Version)
	if m.Output.Path != vdir {
		t.Errorf("output path %q, want %q", m.Output.Path, vdir)
	}
	if cur := currentVersion(t, table, date); cur != m.Version {
		t.Errorf("current/%s -> %q, want %q", date, cur, m.Version)
	}
	if len(m.Output.Files) == 0 {
		t.Fatal("manifest lists no output files")
	}
	var listed []string
	var total int64
	for _, f := range m.Output.Files {
		listed = append(listed, f.Name)
		path := filepath.Join(vdir, f.Name)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("manifest lists %s: %v", f.Name, err)
			continue
		}
		if f.SHA256 != sha(data) {
			t.Errorf("%s: sha256 %s in the manifest, %s on disk", f.Name, f.SHA256, sha(data))
		}
		if f.Bytes != int64(len(data)) {
			t.Errorf("%s: %d bytes in the manifest, %d on disk", f.Name, f.Bytes, len(data))
		}
		pf, err := file.OpenParquetFile(path, false)
		if err != nil {
			t.Errorf("%s: %v", f.Name, err)
			continue
		}
		if pf.NumRows() != f.Rows {
			t.Errorf("%s: %d rows in the manifest, %d in the file", f.Name, f.Rows, pf.NumRows())
		}
		pf.Close()
		total += f.Rows
	}
	if total != rows {
		t.Errorf("output files hold %d rows, want %d", total, rows)
	}
	sort.Strings(listed)
	if onDisk := listDir(t, vdir); !slices.Equal(onDisk, listed) {
		t.Errorf("version folder holds %v, manifest lists %v", onDisk, listed)
	}
	for _, name := range listed {
		if ok, _ := filepath.Match("part-[0-9][0-9][0-9][0-9][0-9].parquet", name); !ok {
			t.Errorf("output file %q is not named part-NNNNN.parquet", name)
		}
	}
}

// checkSourceManifest checks the manifest's snapshot files against the samples.
func checkSourceManifest(t *testing.T, m *report.Manifest, date string) {
	t.Helper()
	dir := filepath.Join(samples(t), "snapshot_date="+date)
	names := listDir(t, dir)
	if len(m.Source.Files) != len(names) {
		t.Fatalf("manifest lists %d source files, snapshot has %v", len(m.Source.Files), names)
	}
	if m.Source.Fingerprint == "" {
		t.Error("no source fingerprint")
	}
	for i, f := range m.Source.Files {
		path := filepath.Join(dir, names[i])
		if f.Name != names[i] {
			t.Errorf("source file %d is %q, want %q", i, f.Name, names[i])
		}
		// The checksum of the footer and the column chunks the job reads
		// (parquetio.Source.Fingerprint), not of the whole file.
		if sum, ok := strings.CutPrefix(f.SHA256, "read:"); !ok || len(sum) != 64 || sum == fileSHA(t, path) {
			t.Errorf("source %s: checksum %s is not read:<hex> of what the job reads", f.Name, f.SHA256)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if f.Size != st.Size() {
			t.Errorf("source %s: size %d, file has %d", f.Name, f.Size, st.Size())
		}
		if f.Rows != 1000 {
			t.Errorf("source %s: %d rows, want 1000", f.Name, f.Rows)
		}
	}
}

type resultRows struct {
	ids                     []int64
	scores                  []float64
	labels                  []int64
	dates, runIDs, versions []string
}

// readResults reads every part file of a version folder, in name order,
// checking the schema of each.
func readResults(t *testing.T, dir string) resultRows {
	t.Helper()
	var out resultRows
	names := listDir(t, dir)
	if len(names) == 0 {
		t.Fatalf("%s is empty", dir)
	}
	for _, name := range names {
		if name == "_quarantine" {
			continue // rejected rows, read by the validation tests
		}
		tbl := readParquet(t, filepath.Join(dir, name))
		fields := tbl.Schema().Fields()
		want := resultColumns
		if len(tbl.Schema().FieldIndices("flags")) > 0 {
			want = withFlags
		}
		if len(fields) != len(want) {
			t.Fatalf("%s: columns %v, want %v", name, tbl.Schema(), want)
		}
		for i, want := range want {
			if fields[i].Name != want.name || !arrow.TypeEqual(fields[i].Type, want.typ) {
				t.Fatalf("%s: column %d is %s %s, want %s %s", name, i, fields[i].Name, fields[i].Type, want.name, want.typ)
			}
		}
		ids := column(t, tbl, "customer_id").(*array.Int64)
		scores := column(t, tbl, "score").(*array.Float64)
		labels := column(t, tbl, "label").(*array.Int64)
		dates := column(t, tbl, "score_date").(*array.Date32)
		runs := column(t, tbl, "run_id").(*array.String)
		versions := column(t, tbl, "model_version").(*array.String)
		for i := 0; i < ids.Len(); i++ {
			for _, a := range []arrow.Array{ids, scores, labels, dates, runs, versions} {
				if a.IsNull(i) {
					t.Fatalf("%s: row %d has a null", name, i)
				}
			}
			out.ids = append(out.ids, ids.Value(i))
			out.scores = append(out.scores, scores.Value(i))
			out.labels = append(out.labels, labels.Value(i))
			out.dates = append(out.dates, dates.Value(i).FormattedString())
			out.runIDs = append(out.runIDs, runs.Value(i))
			out.versions = append(out.versions, versions.Value(i))
		}
	}
	return out
}

// TestRerunIsDeterministic runs one date twice, with different worker
// counts and small chunks so that chunks finish out of order: both versions
// stay readable, their files are byte-identical, and current points at the
// newer one.
func TestRerunIsDeterministic(t *testing.T) {
	t.Parallel()
	table := filepath.Join(t.TempDir(), "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, chunkRows: 97})
	var ms []*report.Manifest
	for _, workers := range []string{"1", "2"} {
		res := bs(t, "run", job, "--date", date20, "--json", "--workers", workers, "--force")
		if res.code != 0 {
			t.Fatalf("run with %s workers failed\n%s", workers, res)
		}
		m := parseManifest(t, []byte(res.stdout))
		checkSucceededManifest(t, m, table, date20, 2000)
		ms = append(ms, m)
	}
	first, second := ms[0], ms[1]
	if first.Version == second.Version {
		t.Fatalf("both executions got version %s", first.Version)
	}
	if !(first.Version < second.Version) {
		t.Errorf("versions do not sort by start: %s then %s", first.Version, second.Version)
	}
	if first.RunID != second.RunID {
		t.Errorf("run ids differ for the same snapshot, model and job: %s, %s", first.RunID, second.RunID)
	}
	versions := listDir(t, filepath.Join(table, "versions", date20))
	if want := []string{first.Version, second.Version}; !slices.Equal(versions, want) {
		t.Errorf("versions/%s holds %v, want %v", date20, versions, want)
	}
	if cur := currentVersion(t, table, date20); cur != second.Version {
		t.Errorf("current/%s -> %s, want the newer %s", date20, cur, second.Version)
	}
	runs := manifests(t, table, date20)
	if len(runs) != 2 || runs[first.Version] == nil || runs[second.Version] == nil {
		t.Errorf("runs/%s holds %d manifests, want the two executions'", date20, len(runs))
	}
	a := readFiles(t, filepath.Join(table, "versions", date20, first.Version))
	b := readFiles(t, filepath.Join(table, "versions", date20, second.Version))
	if len(a) == 0 {
		t.Fatal("first version has no files")
	}
	sameFiles(t, "second version vs first", b, a)
	for i := range first.Output.Files {
		if i < len(second.Output.Files) && first.Output.Files[i] != second.Output.Files[i] {
			t.Errorf("manifests list different files: %+v vs %+v", first.Output.Files[i], second.Output.Files[i])
		}
	}
	if n := len(listDir(t, filepath.Join(table, "_staging"))); n != 0 {
		t.Errorf("_staging holds %d entries after two successful runs", n)
	}
}

// checkJSONLogs checks that stderr, which is not a terminal here, holds
// only JSON log records, one of them with message want.
func checkJSONLogs(t *testing.T, stderr, want string) {
	t.Helper()
	found := false
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("stderr line is not a JSON log record: %q", line)
			continue
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("log record without %q: %s", k, line)
			}
		}
		if rec["msg"] == want {
			found = true
		}
	}
	if !found {
		t.Errorf("no %q log record on stderr:\n%s", want, stderr)
	}
}
