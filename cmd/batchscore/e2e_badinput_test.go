package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/jobs/report"
)

// rewriteSnapshot rewrites the Parquet files in dir, record by record,
// through change (which receives the file name and the file's record).
func rewriteSnapshot(t *testing.T, dir string, change func(name string, rec arrow.Record) arrow.Record) {
	t.Helper()
	for _, name := range listDir(t, dir) {
		rec := sampleRecord(t, date20, name)
		out := change(name, rec)
		if out == nil {
			continue
		}
		writeParquet(t, filepath.Join(dir, name), out)
	}
}

// replaceColumn returns rec with column name replaced by arr (or dropped
// when arr is nil), keeping the order of the others.
func replaceColumn(t *testing.T, rec arrow.Record, name string, arr arrow.Array, typ arrow.DataType) arrow.Record {
	t.Helper()
	var fields []arrow.Field
	var cols []arrow.Array
	found := false
	for i, f := range rec.Schema().Fields() {
		if f.Name == name {
			found = true
			if arr == nil {
				continue
			}
			fields = append(fields, arrow.Field{Name: name, Type: typ, Nullable: true})
			cols = append(cols, arr)
			continue
		}
		fields = append(fields, f)
		cols = append(cols, rec.Column(i))
	}
	if !found {
		t.Fatalf("no column %q", name)
	}
	out := array.NewRecord(arrow.NewSchema(fields, nil), cols, rec.NumRows())
	t.Cleanup(out.Release)
	return out
}

func float64Column(t *testing.T, rec arrow.Record, name string) *array.Float64 {
	t.Helper()
	idx := rec.Schema().FieldIndices(name)
	if len(idx) == 0 {
		t.Fatalf("no column %q", name)
	}
	return rec.Column(idx[0]).(*array.Float64)
}

// nullAt returns rec with the float64 column name set to null at row.
func nullAt(t *testing.T, rec arrow.Record, name string, row int) arrow.Record {
	t.Helper()
	arr := mapFloat64(t, float64Column(t, rec, name), array.NewFloat64Builder(memory.DefaultAllocator), func(b *array.Float64Builder, i int, v float64) {
		if i == row {
			b.AppendNull()
		} else {
			b.Append(v)
		}
	})
	return replaceColumn(t, rec, name, arr, arrow.PrimitiveTypes.Float64)
}

// mapFloat64 builds a new column from a float64 one, value by value;
// emit appends to the builder b.
func mapFloat64[B array.Builder](t *testing.T, col *array.Float64, b B, emit func(b B, i int, v float64)) arrow.Array {
	t.Helper()
	defer b.Release()
	for i := 0; i < col.Len(); i++ {
		emit(b, i, col.Value(i))
	}
	arr := b.NewArray()
	t.Cleanup(arr.Release)
	return arr
}

// lineOf returns the 1-based line of the first line of text holding s.
func lineOf(t *testing.T, text, s string) int {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("no line holds %q", s)
	return 0
}

func insertAfter(t *testing.T, text, after, line string) string {
	t.Helper()
	i := strings.Index(text, after)
	if i < 0 {
		t.Fatalf("no %q in the job file", after)
	}
	j := i + len(after)
	return text[:j] + "\n" + line + text[j:]
}

func removeLine(t *testing.T, text, line string) string {
	t.Helper()
	if !strings.Contains(text, line+"\n") {
		t.Fatalf("no line %q in the job file", line)
	}
	return strings.Replace(text, line+"\n", "", 1)
}

// badCase is one kind of bad input. The snapshot is a copy of the samples
// of date20 that setup may spoil; a good version of date20 is published
// into the same table first, and must stay current and intact.
type badCase struct {
	name   string
	config string                              // default churn_nightly.yaml
	setup  func(t *testing.T, snapshot string) // spoils the copied snapshot
	opts   func(t *testing.T, o *jobOpts)      // changes the job file
	args   func(job string) []string           // default: run job --date date20 --json
	env    func(t *testing.T) []string         // default: ortEnv
	bin    func(t *testing.T) string           // default: the built binary
	code   int
	// want are substrings that the error must hold, in the messages on
	// stderr and, when a run started, in the manifest's error.
	want []string
	// wantJobLine: the error names this line of the job file (found by content).
	wantJobLine string
	// noManifest: the command fails before an execution starts.
	noManifest bool
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	cases := append(badSnapshotCases(), badJobCases()...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runBadCase(t, tc)
		})
	}
}

// badSnapshotCases damage the snapshot: its files, columns, values and rows.
func badSnapshotCases() []badCase {
	return []badCase{
		{
			name: "truncated parquet", code: 1,
			setup: func(t *testing.T, dir string) {
				p := filepath.Join(dir, "part-00001.parquet")
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, b[:len(b)/2], 0o644); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"part-00001.parquet", "Parquet"},
		},
		{
			name: "garbage bytes", code: 1,
			setup: func(t *testing.T, dir string) {
				junk := bytes.Repeat([]byte("this is not a parquet file\x00\xff"), 500)
				if err := os.WriteFile(filepath.Join(dir, "part-00000.parquet"), junk, 0o644); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"part-00000.parquet", "Parquet"},
		},
		{
			name: "missing column", code: 3,
			setup: func(t *testing.T, dir string) {
				rewriteSnapshot(t, dir, func(_ string, rec arrow.Record) arrow.Record {
					return replaceColumn(t, rec, "credit_score", nil, nil)
				})
			},
			want: []string{"part-00000.parquet", `"credit_score"`, "missing"},
		},
		{
			name: "wrong column type", code: 3,
			setup: func(t *testing.T, dir string) {
				rewriteSnapshot(t, dir, func(_ string, rec arrow.Record) arrow.Record {
					col := float64Column(t, rec, "monthly_charges")
					arr := mapFloat64(t, col, array.NewStringBuilder(memory.DefaultAllocator), func(b *array.StringBuilder, _ int, v float64) {
						b.Append(fmt.Sprint(v))
					})
					return replaceColumn(t, rec, "monthly_charges", arr, arrow.BinaryTypes.String)
				})
			},
			want: []string{"part-00000.parquet", `"monthly_charges"`, "utf8"},
		},
		{
			// Row 300 of the second file, read in chunks of 256: the error
			// must give the row in the file, not in the chunk.
			name: "null in a feature", code: 3,
			opts: func(_ *testing.T, o *jobOpts) { o.chunkRows = 256 },
			setup: func(t *testing.T, dir string) {
				rewriteSnapshot(t, dir, func(name string, rec arrow.Record) arrow.Record {
					if name != "part-00001.parquet" {
						return nil
					}
					return nullAt(t, rec, "avg_call_minutes", 300)
				})
			},
			want: []string{"part-00001.parquet", "row 300", `"avg_call_minutes"`, "null"},
		},
		{
			name: "schema differs between files", code: 3,
			setup: func(t *testing.T, dir string) {
				rewriteSnapshot(t, dir, func(name string, rec arrow.Record) arrow.Record {
					if name != "part-00001.parquet" {
						return nil
					}
					col := float64Column(t, rec, "monthly_charges")
					arr := mapFloat64(t, col, array.NewFloat32Builder(memory.DefaultAllocator), func(b *array.Float32Builder, _ int, v float64) {
						b.Append(float32(v))
					})
					return replaceColumn(t, rec, "monthly_charges", arr, arrow.PrimitiveTypes.Float32)
				})
			},
			want: []string{"part-00001.parquet", `"monthly_charges"`, "part-00000.parquet"},
		},
		{
			name: "files with zero rows", code: 3,
			setup: func(t *testing.T, dir string) {
				rewriteSnapshot(t, dir, func(_ string, rec arrow.Record) arrow.Record {
					empty := rec.NewSlice(0, 0)
					t.Cleanup(empty.Release)
					return empty
				})
			},
			want: []string{"no rows", "snapshot_date=" + date20},
		},
		{
			name: "no files match the glob", code: 1,
			setup: func(t *testing.T, dir string) {
				for _, name := range listDir(t, dir) {
					if err := os.Remove(filepath.Join(dir, name)); err != nil {
						t.Fatal(err)
					}
				}
			},
			want: []string{"snapshot_date=" + date20 + "/*.parquet"},
		},
	}
}

// badJobCases break the job file, the model, the ORT library or the flags.
func badJobCases() []badCase {
	features := "      - months_to_contract_end"
	return []badCase{
		{
			name: "model input takes 30 columns, job lists 29", code: 2,
			opts: func(t *testing.T, o *jobOpts) {
				o.edit = func(s string) string { return removeLine(t, s, features) }
			},
			want: []string{"features", "30", "29 columns"},
		},
		{
			name: "job names an input the model lacks", code: 2,
			opts: func(t *testing.T, o *jobOpts) {
				o.edit = func(s string) string { return strings.Replace(s, "    features:\n", "    feature_vector:\n", 1) }
			},
			want: []string{`"feature_vector"`, "features"},
		},
		{
			name: "job leaves a per-column input unfed", code: 2, config: "churn_logreg.yaml",
			opts: func(t *testing.T, o *jobOpts) {
				o.edit = func(s string) string { return removeLine(t, s, "    age: [age]") }
			},
			want: []string{"model input age", "model.inputs"},
		},
		{
			name: "missing model file", code: 2,
			opts: func(t *testing.T, o *jobOpts) { o.model = filepath.Join(t.TempDir(), "churn_gbm_v2.onnx") },
			want: []string{"churn_gbm_v2.onnx", "model.path"},
		},
		{
			name: "ORT library path in BATCHSCORE_ORT_LIB does not exist", code: 1,
			env: func(t *testing.T) []string {
				return append(baseEnv(), "BATCHSCORE_ORT_LIB=/nonexistent/libonnxruntime.so")
			},
			want: []string{"BATCHSCORE_ORT_LIB", "/nonexistent/libonnxruntime.so"},
		},
		{
			name: "ORT library path in --ort-lib does not exist", code: 1,
			args: func(job string) []string {
				return []string{"--ort-lib", "/nonexistent/libonnxruntime.so", "run", job, "--date", date20, "--json"}
			},
			want: []string{"--ort-lib", "/nonexistent/libonnxruntime.so"},
		},
		{
			name: "no ORT library anywhere", code: 1,
			env: func(*testing.T) []string { return baseEnv() },
			bin: func(t *testing.T) string {
				// A copy of the binary in a folder with no library next to it.
				b, err := os.ReadFile(batchscore)
				if err != nil {
					t.Fatal(err)
				}
				p := filepath.Join(t.TempDir(), "batchscore")
				if err := os.WriteFile(p, b, 0o755); err != nil {
					t.Fatal(err)
				}
				return p
			},
			want: []string{"BATCHSCORE_ORT_LIB", "--ort-lib"},
		},
		{
			name: "unknown top-level key", code: 2, noManifest: true,
			opts: func(t *testing.T, o *jobOpts) {
				o.edit = func(s string) string { return insertAfter(t, s, "timezone: UTC", "retries: 3") }
			},
			want:        []string{`unknown key "retries"`},
			wantJobLine: "retries: 3",
		},
		{
			name: "unknown key in a section", code: 2, noManifest: true,
			opts: func(t *testing.T, o *jobOpts) {
				o.edit = func(s string) string { return insertAfter(t, s, "  keys: [customer_id]", "  format: csv") }
			},
			want:        []string{`unknown key "format"`, "output"},
			wantJobLine: "  format: csv",
		},
		{
			name: "bad --date", code: 2, noManifest: true,
			args: func(job string) []string { return []string{"run", job, "--date", "2026-13-45", "--json"} },
			want: []string{"--date", "2026-13-45", "YYYY-MM-DD"},
		},
		{
			name: "--date not in YYYY-MM-DD", code: 2, noManifest: true,
			args: func(job string) []string { return []string{"run", job, "--date", "20/11/2026"} },
			want: []string{"--date", "20/11/2026"},
		},
	}
}

func runBadCase(t *testing.T, tc badCase) {
	config := tc.config
	if config == "" {
		config = "churn_nightly.yaml"
	}
	tmp := t.TempDir()
	table := filepath.Join(tmp, "scores")

	// A good version, published first.
	good := writeJob(t, config, jobOpts{table: table})
	if res := bs(t, "run", good, "--date", date20); res.code != 0 {
		t.Fatalf("publishing the good version failed\n%s", res)
	}
	before := snapshotTable(t, table, date20)
	if before.current == "" || len(before.files) == 0 {
		t.Fatalf("no current version after the good run: %+v", before)
	}
	goodRuns := manifests(t, table, date20)

	// The spoiled snapshot and job file.
	srcRoot := filepath.Join(tmp, "src")
	snap := copySamples(t, srcRoot, date20)
	if tc.setup != nil {
		tc.setup(t, snap)
	}
	o := jobOpts{table: table, source: filepath.Join(srcRoot, "snapshot_date={{ .Date }}", "*.parquet")}
	if tc.opts != nil {
		tc.opts(t, &o)
	}
	job := writeJob(t, config, o)
	args := []string{"run", job, "--date", date20, "--json"}
	if tc.args != nil {
		args = tc.args(job)
	}
	env := ortEnv(t)
	if tc.env != nil {
		env = tc.env(t)
	}
	bin := batchscore
	if tc.bin != nil {
		bin = tc.bin(t)
	}
	res := runWith(t, bin, env, args...)

	if res.code != tc.code {
		t.Errorf("exit %d, want %d\n%s", res.code, tc.code, res)
	}
	msgs := res.messages()
	t.Logf("exit %d: %s", res.code, strings.TrimSpace(msgs))
	for _, w := range tc.want {
		if !strings.Contains(msgs, w) {
			t.Errorf("the error on stderr does not mention %q:\n%s", w, msgs)
		}
	}
	if tc.wantJobLine != "" {
		jobText, err := os.ReadFile(job)
		if err != nil {
			t.Fatal(err)
		}
		line := fmt.Sprintf("line %d", lineOf(t, string(jobText), tc.wantJobLine))
		if !strings.Contains(msgs, line) {
			t.Errorf("the error does not name %s of the job file:\n%s", line, msgs)
		}
	}
	for _, bad := range []string{"panic:", "goroutine ", "SIGSEGV"} {
		if strings.Contains(res.stderr, bad) {
			t.Errorf("stderr shows %q:\n%s", bad, clip(res.stderr))
		}
	}

	// Runs: the good one, plus one failed manifest if an execution started.
	runs := manifests(t, table, date20)
	var failed []*report.Manifest
	for v, m := range runs {
		if goodRuns[v] == nil {
			failed = append(failed, m)
		}
	}
	switch {
	case tc.noManifest && len(failed) != 0:
		t.Errorf("an execution that never started left %d manifests", len(failed))
	case !tc.noManifest && len(failed) != 1:
		t.Errorf("runs/%s holds %d new manifests, want one failed manifest", date20, len(failed))
	case !tc.noManifest:
		m := failed[0]
		if m.Status != report.StatusFailed || m.ExitCode != tc.code {
			t.Errorf("manifest: status %q exit_code %d, want failed %d", m.Status, m.ExitCode, tc.code)
		}
		if m.Output.Published || m.LogicalDate != date20 || m.Version == "" {
			t.Errorf("manifest: published %v date %q version %q", m.Output.Published, m.LogicalDate, m.Version)
		}
		for _, w := range tc.want {
			if w == "BATCHSCORE_ORT_LIB" || w == "--ort-lib" { // hints for the command line, not the run's error
				continue
			}
			if !strings.Contains(m.Error, w) {
				t.Errorf("manifest error does not mention %q: %s", w, m.Error)
			}
		}
		// --json prints that manifest, even for a failed run.
		if contains(args, "--json") {
			if printed := parseManifest(t, []byte(res.stdout)); printed.Version != m.Version || printed.Status != m.Status {
				t.Errorf("--json printed version %s status %s, runs/ has %s %s", printed.Version, printed.Status, m.Version, m.Status)
			}
		}
	}

	before.unchanged(t, table, date20)
	if left := listDir(t, filepath.Join(table, "_staging")); len(left) != 0 {
		t.Errorf("_staging holds %v after a failed run", left)
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
