package main

// Faults of the machine around a run (issue 7): an output folder that
// cannot be written, a full disk, a model or ONNX Runtime library that is
// not what it should be, a snapshot that changes under the run, a database
// that drops the connection, a clock that jumps. Each must end with the
// documented exit code, a failed manifest where one can be written, a
// message that names the cause, and what was published before untouched.
//
// Tests run as root in CI, and root ignores file permissions: a read-only
// folder is made with chattr +i there (chmod a-w otherwise), and the tests
// that need it are skipped where the file system does not support it.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/batchscore/batchscore/internal/testkit/pgtest"
	"github.com/batchscore/batchscore/jobs/report"
)

// ---------------------------------------------------------------------------
// What a fault must leave

// denied stands for the error of a write the file system refuses: EPERM
// for an immutable file (root), EACCES for a read-only one (anyone else).
const denied = "<write refused>"

func hasMsg(text, want string) bool {
	if want == denied {
		return strings.Contains(text, "operation not permitted") || strings.Contains(text, "permission denied")
	}
	return strings.Contains(text, want)
}

type faultWant struct {
	code int
	// msgs must all appear in the messages on stderr and, when a failed
	// manifest is written, in its error.
	msgs []string
	// noManifest says why no failed manifest can be written; "" expects one.
	noManifest string
}

// checkFault checks what a failed run left in table for date20. before is
// what readers saw before the run (nil when the table could not exist or
// had nothing published); known are the manifests that were there.
func checkFault(t *testing.T, table string, before *tableState, known map[string]*report.Manifest, res result, w faultWant) {
	t.Helper()
	if res.code != w.code {
		t.Errorf("exit %d, want %d\n%s", res.code, w.code, res)
	}
	msgs := res.messages()
	t.Logf("exit %d: %s", res.code, strings.TrimSpace(msgs))
	for _, s := range w.msgs {
		if !hasMsg(msgs, s) {
			t.Errorf("the error on stderr does not mention %q:\n%s", s, msgs)
		}
	}
	for _, bad := range []string{"panic:", "goroutine ", "SIGSEGV"} {
		if strings.Contains(res.stderr, bad) {
			t.Errorf("stderr shows %q:\n%s", bad, clip(res.stderr))
		}
	}
	// --json prints how the run ended even when it could write nothing.
	printed := parseManifest(t, []byte(res.stdout))
	if printed.Status != report.StatusFailed || printed.ExitCode != w.code || printed.Output.Published || printed.Error == "" {
		t.Errorf("--json printed status %q exit_code %d published %v error %q; want failed %d, not published, an error",
			printed.Status, printed.ExitCode, printed.Output.Published, printed.Error, w.code)
	}

	var failed []*report.Manifest
	for v, m := range manifests(t, table, date20) {
		if known[v] == nil {
			failed = append(failed, m)
		}
	}
	switch {
	case w.noManifest != "":
		if len(failed) != 0 {
			t.Errorf("%d new manifests, where none can be written (%s)", len(failed), w.noManifest)
		}
		t.Logf("no failed manifest, as expected: %s", w.noManifest)
	case len(failed) != 1:
		t.Errorf("runs/%s holds %d new manifests, want one failed manifest", date20, len(failed))
	default:
		m := failed[0]
		if m.Status != report.StatusFailed || m.ExitCode != w.code || m.Output.Published || m.Version != printed.Version {
			t.Errorf("manifest %s: status %q exit_code %d published %v; want failed %d, not published, version %s",
				m.Version, m.Status, m.ExitCode, m.Output.Published, w.code, printed.Version)
		}
		for _, s := range w.msgs {
			if !hasMsg(m.Error, s) {
				t.Errorf("the manifest's error does not mention %q: %s", s, m.Error)
			}
		}
	}
	if before != nil {
		before.unchanged(t, table, date20)
	}
	staging := filepath.Join(table, "_staging")
	if st, err := os.Stat(staging); err == nil && st.IsDir() {
		if left := listDir(t, staging); len(left) != 0 {
			t.Errorf("_staging holds %v after a failed run", left)
		}
	}
}

// published runs job for date20 and returns what readers then see and the
// manifests, for checkFault.
func published(t *testing.T, job, table string) (*tableState, map[string]*report.Manifest) {
	t.Helper()
	if res := bs(t, "run", job, "--date", date20); res.code != 0 {
		t.Fatalf("publishing the good version failed\n%s", res)
	}
	before := snapshotTable(t, table, date20)
	if before.current == "" || len(before.files) == 0 {
		t.Fatalf("no current version after the good run: %+v", before)
	}
	return &before, manifests(t, table, date20)
}

// withoutRowChange drops the check against the previous run's row count,
// for jobs that read a big snapshot after a small one.
func withoutRowChange(t *testing.T) func(string) string {
	return func(s string) string { return removeLine(t, s, "    max_row_change_pct: 50") }
}

// ---------------------------------------------------------------------------
// 1. Output folder not writable

// readOnly makes path (and, with all, everything below it but symlinks)
// unwritable until the test ends: chattr +i as root, who ignores modes,
// chmod a-w otherwise. It skips the test where neither can be done.
func readOnly(t *testing.T, path string, all bool) {
	t.Helper()
	paths := []string{path}
	if all {
		paths = nil
		err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type()&fs.ModeSymlink == 0 {
				paths = append(paths, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if os.Geteuid() != 0 {
		for _, p := range paths {
			st, err := os.Lstat(p)
			if err != nil {
				t.Fatal(err)
			}
			mode := st.Mode().Perm()
			if err := os.Chmod(p, mode&^0o222); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = os.Chmod(p, mode) })
		}
	} else {
		chattr, err := exec.LookPath("chattr")
		if err != nil {
			t.Skip("root ignores file modes and there is no chattr to make a folder immutable (apt-get install e2fsprogs)")
		}
		// Undone before t.TempDir's own cleanup (cleanups run last first).
		t.Cleanup(func() { _ = exec.Command(chattr, append([]string{"-i"}, paths...)...).Run() })
		if out, err := exec.Command(chattr, append([]string{"+i"}, paths...)...).CombinedOutput(); err != nil {
			t.Skipf("chattr +i is not supported on this file system, and root ignores file modes: %v\n%s", err, out)
		}
	}
	// The fault must be real: nothing can be created in the folder.
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		probe := filepath.Join(path, ".probe")
		if f, err := os.Create(probe); err == nil {
			f.Close()
			os.Remove(probe)
			t.Fatalf("%s is still writable", path)
		}
	}
}

func TestFaultOutputNotWritable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// good publishes a version of date20 into the table first.
		good bool
		// spoil makes the fault and returns the output.table of the job
		// (table itself, or a path that cannot be made).
		spoil func(t *testing.T, tmp, table string) string
		want  func(tmp, table string) faultWant
	}{
		{
			name: "table path under a regular file",
			spoil: func(t *testing.T, tmp, _ string) string {
				if err := os.WriteFile(filepath.Join(tmp, "afile"), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
				return filepath.Join(tmp, "afile", "scores")
			},
			want: func(tmp, _ string) faultWant {
				return faultWant{code: 1, msgs: []string{"result table " + filepath.Join(tmp, "afile", "scores"), "not a directory"},
					noManifest: "the table's folder cannot be made, so there is nowhere to put one"}
			},
		},
		{
			name: "parent of a new table read-only",
			spoil: func(t *testing.T, tmp, _ string) string {
				ro := filepath.Join(tmp, "ro")
				if err := os.Mkdir(ro, 0o755); err != nil {
					t.Fatal(err)
				}
				readOnly(t, ro, false)
				return filepath.Join(ro, "scores")
			},
			want: func(tmp, _ string) faultWant {
				return faultWant{code: 1, msgs: []string{"result table " + filepath.Join(tmp, "ro", "scores"), denied},
					noManifest: "the table's folder cannot be made, so there is nowhere to put one"}
			},
		},
		{
			name: "whole table read-only", good: true,
			spoil: func(t *testing.T, _, table string) string { readOnly(t, table, true); return table },
			want: func(_, table string) faultWant {
				return faultWant{code: 1, msgs: []string{filepath.Join(table, "_locks", date20+".lock"), denied},
					noManifest: "runs/ is read-only too; the run stops at the date lock, before anything"}
			},
		},
		{
			name: "versions is a file",
			spoil: func(t *testing.T, _, table string) string {
				if err := os.MkdirAll(table, 0o750); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(table, "versions"), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
				return table
			},
			want: func(_, _ string) faultWant { return faultWant{code: 1, msgs: []string{"versions is not a folder"}} },
		},
		{
			name: "versions of the date read-only", good: true,
			spoil: func(t *testing.T, _, table string) string {
				readOnly(t, filepath.Join(table, "versions", date20), false)
				return table
			},
			want: func(_, table string) faultWant {
				return faultWant{code: 1, msgs: []string{"publishing", filepath.Join(table, "versions", date20), denied}}
			},
		},
		{
			// The version is renamed into versions/, then the switch of
			// current/ fails: the version must go back out.
			name: "current read-only", good: true,
			spoil: func(t *testing.T, _, table string) string {
				readOnly(t, filepath.Join(table, "current"), false)
				return table
			},
			want: func(_, table string) faultWant {
				return faultWant{code: 1, msgs: []string{"pointing current at", filepath.Join(table, "current", date20), denied}}
			},
		},
		{
			name: "runs of the date read-only", good: true,
			spoil: func(t *testing.T, _, table string) string {
				readOnly(t, filepath.Join(table, "runs", date20), false)
				return table
			},
			want: func(_, table string) faultWant {
				return faultWant{code: 1, msgs: []string{"writing the provisional manifest", filepath.Join(table, "runs", date20), denied},
					noManifest: "runs/<date> is where it goes; the run stops before publishing"}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			table := filepath.Join(tmp, "scores")
			var before *tableState
			known := map[string]*report.Manifest{}
			if tc.good {
				before, known = published(t, writeJob(t, "churn_nightly.yaml", jobOpts{table: table}), table)
			}
			out := tc.spoil(t, tmp, table)
			job := writeJob(t, "churn_nightly.yaml", jobOpts{table: out})
			res := bs(t, "run", job, "--date", date20, "--json", "--force")
			checkFault(t, out, before, known, res, tc.want(tmp, table))
		})
	}
}

// ---------------------------------------------------------------------------
// 2. Disk full mid-write

func TestFaultDiskFull(t *testing.T) {
	t.Parallel()

	// RLIMIT_FSIZE makes every write past the limit fail with EFBIG (Go
	// ignores SIGXFSZ), in whichever file reaches it first: the result
	// file, which is the biggest, unless the limit is below the others.
	t.Run("file size limit", func(t *testing.T) {
		t.Parallel()
		prlimit, err := exec.LookPath("prlimit")
		if err != nil {
			t.Skip("no prlimit (util-linux)")
		}
		tmp := t.TempDir()
		table := filepath.Join(tmp, "scores")
		// 20,000 rows: result files are written in row groups of 65,536
		// rows, so the 2,000-row sample's is barely twice a manifest.
		snap := filepath.Join(tmp, "snap")
		if res := runWith(t, gensnapshot, baseEnv(), "--date", date20, "--rows", "20000", "--out", snap, "-q"); res.code != 0 {
			t.Fatalf("gensnapshot failed\n%s", res)
		}
		job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, chunkRows: 2048,
			source: filepath.Join(snap, "snapshot_date={{ .Date }}", "*.parquet")})
		before, known := published(t, job, table)
		var good *report.Manifest
		for _, m := range known {
			good = m
		}
		part := good.Output.Files[0].Bytes
		manifestSize := int64(len(mustRead(t, filepath.Join(table, "runs", date20, good.Version+".json"))))
		if part < 3*manifestSize {
			t.Fatalf("the test needs a result file well above a manifest: %d and %d bytes", part, manifestSize)
		}
		for _, tc := range []struct {
			name  string
			limit int64
		}{
			{"limit half way through the result file", part / 2},
			{"limit in the result file's last row group or footer", part - 64},
			{"limit below a manifest's size", manifestSize / 3},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := runWith(t, prlimit, ortEnv(t), "--fsize="+strconv.FormatInt(tc.limit, 10), batchscore,
					"run", job, "--date", date20, "--json", "--force")
				w := faultWant{code: 1, msgs: []string{filepath.Join(table, "_staging"), "part-00000.parquet"}}
				if tc.limit < manifestSize {
					w.noManifest = "the manifest is bigger than the limit too"
					if !strings.Contains(res.messages(), "could not write the run manifest") {
						t.Errorf("the log does not say the manifest could not be written:\n%s", res.messages())
					}
					// Nor does the summary name a manifest it could not write.
					text := runWith(t, prlimit, ortEnv(t), "--fsize="+strconv.FormatInt(tc.limit, 10), batchscore,
						"run", job, "--date", date20, "--force")
					if text.code != 1 || strings.Contains(text.stdout, "manifest:") {
						t.Errorf("the summary names a manifest that was not written\n%s", text)
					}
				}
				checkFault(t, table, before, known, res, w)
				known = manifests(t, table, date20)
				// Nothing half written is left where runs/ is read.
				for _, name := range listDir(t, filepath.Join(table, "runs", date20)) {
					if strings.HasSuffix(name, ".tmp") {
						t.Errorf("runs/%s/%s left behind", date20, name)
					}
				}
			})
		}
	})

	// A real ENOSPC, where the machine allows mounting a tmpfs.
	t.Run("tmpfs full", func(t *testing.T) {
		t.Parallel()
		mnt := filepath.Join(t.TempDir(), "mnt")
		if err := os.Mkdir(mnt, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", mnt).CombinedOutput(); err != nil {
			t.Skipf("cannot mount a tmpfs here (%v: %s); the file size limit covers the same path", err, bytes.TrimSpace(out))
		}
		t.Cleanup(func() {
			if err := exec.Command("umount", mnt).Run(); err != nil {
				_ = exec.Command("umount", "-l", mnt).Run()
			}
		})
		table := filepath.Join(mnt, "scores")
		before, known := published(t, writeJob(t, "churn_nightly.yaml", jobOpts{table: table}), table)

		bigRoot := filepath.Join(t.TempDir(), "big")
		if res := runWith(t, gensnapshot, baseEnv(), "--date", date20, "--rows", "200000", "--files", "2", "--out", bigRoot, "-q"); res.code != 0 {
			t.Fatalf("gensnapshot failed\n%s", res)
		}
		big := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, chunkRows: 4096, edit: withoutRowChange(t),
			source: filepath.Join(bigRoot, "snapshot_date={{ .Date }}", "*.parquet")})
		res := bs(t, "run", big, "--date", date20, "--json")
		checkFault(t, table, before, known, res, faultWant{code: 1, msgs: []string{"part-00000.parquet", filepath.Join(table, "_staging")}})
		if !strings.Contains(res.messages(), "no space left on device") {
			t.Logf("the error does not say ENOSPC itself (a write failed unreported, found by reading the file back)")
		}
	})
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ---------------------------------------------------------------------------
// 3. The model and the ONNX Runtime library

// systemLib finds a shared library of the system, "" if none.
func systemLib(name string) string {
	for _, dir := range []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"} {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func TestFaultModelAndRuntime(t *testing.T) {
	t.Parallel()
	model := func(content func(t *testing.T) []byte) func(t *testing.T, o *jobOpts) {
		return func(t *testing.T, o *jobOpts) {
			o.model = filepath.Join(t.TempDir(), "garbage-model.onnx")
			if err := os.WriteFile(o.model, content(t), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	realModel := func(t *testing.T) []byte { return mustRead(t, modelPath(t, "churn_gbm.onnx")) }
	lib := func(path string) func(t *testing.T) []string {
		return func(*testing.T) []string { return append(baseEnv(), "BATCHSCORE_ORT_LIB="+path) }
	}
	// README, exit codes: 1 for "model that ONNX Runtime cannot load" and
	// "ONNX Runtime library missing or of the wrong version (a manifest is
	// still written)"; a missing model file is 2 (TestBadInput).
	cases := []badCase{
		{name: "model replaced by random bytes", code: 1, opts: model(func(t *testing.T) []byte {
			b := make([]byte, 64<<10)
			_, _ = rand.Read(b)
			return b
		}), want: []string{"garbage-model.onnx", "model cannot be loaded"}},
		{name: "model emptied", code: 1, opts: model(func(*testing.T) []byte { return nil }),
			want: []string{"garbage-model.onnx", "model cannot be loaded"}},
		{name: "model cut in half", code: 1, opts: model(func(t *testing.T) []byte { b := realModel(t); return b[:len(b)/2] }),
			want: []string{"garbage-model.onnx", "model cannot be loaded"}},
		{name: "model replaced by a job file", code: 1, opts: model(func(t *testing.T) []byte {
			return mustRead(t, filepath.Join(repoRoot(t), "configs", "churn_nightly.yaml"))
		}), want: []string{"garbage-model.onnx", "model cannot be loaded"}},
		{name: "ORT library missing", code: 1, env: lib("/nonexistent/libonnxruntime.so.1"),
			want: []string{"ONNX Runtime", "BATCHSCORE_ORT_LIB", "/nonexistent/libonnxruntime.so.1", "no such file"}},
		{name: "ORT library is not a shared library", code: 1,
			env:  lib(filepath.Join(repoRootPath, "configs", "churn_nightly.yaml")),
			want: []string{"ONNX Runtime", filepath.Join(repoRootPath, "configs", "churn_nightly.yaml"), "invalid ELF header"}},
	}
	for _, name := range []string{"libz.so.1", "libm.so.6"} {
		if p := systemLib(name); p != "" {
			cases = append(cases, badCase{name: "ORT library is " + name, code: 1, env: lib(p),
				want: []string{"ONNX Runtime", p, "OrtGetApiBase"}})
		} else {
			t.Logf("no %s on this machine: that case is left out", name)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runBadCase(t, tc)
		})
	}
}

// ---------------------------------------------------------------------------
// 4. A snapshot file that disappears or changes mid-run

// recordOf reads a whole Parquet file as one record.
func recordOf(t *testing.T, path string) arrow.Record {
	t.Helper()
	tbl := readParquet(t, path)
	cols := make([]arrow.Array, tbl.NumCols())
	for i := range cols {
		cols[i] = column(t, tbl, tbl.Schema().Field(i).Name)
	}
	rec := array.NewRecord(tbl.Schema(), cols, tbl.NumRows())
	t.Cleanup(rec.Release)
	return rec
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range listDir(t, src) {
		if err := os.WriteFile(filepath.Join(dst, name), mustRead(t, filepath.Join(src, name)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFaultSourceChangesMidRun(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	gen := filepath.Join(tmp, "gen")
	if res := runWith(t, gensnapshot, baseEnv(), "--date", date20, "--rows", "200000", "--files", "4", "--out", gen, "-q"); res.code != 0 {
		t.Fatalf("gensnapshot failed\n%s", res)
	}
	genDir := filepath.Join(gen, "snapshot_date="+date20)
	files := listDir(t, genDir)
	last := files[len(files)-1]

	table := filepath.Join(tmp, "scores")
	published(t, writeJob(t, "churn_nightly.yaml", jobOpts{table: table}), table)

	cases := []struct {
		name string
		// prepare runs before the run starts, change while it reads the
		// first files; both get the path of the snapshot's last file.
		prepare func(t *testing.T, path string)
		change  func(t *testing.T, path string)
	}{
		{
			name:   "last file removed",
			change: func(t *testing.T, p string) { must(t, os.Remove(p)) },
		},
		{
			// Same rows, other values, no compression: a valid Parquet
			// file, bigger, renamed over the old one.
			name: "last file replaced by a bigger Parquet file",
			prepare: func(t *testing.T, p string) {
				rec := recordOf(t, p)
				col := float64Column(t, rec, "monthly_charges")
				arr := mapFloat64(t, col, array.NewFloat64Builder(memory.DefaultAllocator), func(b *array.Float64Builder, _ int, v float64) {
					b.Append(v + 1)
				})
				writeParquet(t, p+".next", replaceColumn(t, rec, "monthly_charges", arr, arrow.PrimitiveTypes.Float64))
				if a, b := mustStat(t, p).Size(), mustStat(t, p+".next").Size(); b <= a {
					t.Fatalf("the replacement is not bigger: %d bytes, was %d", b, a)
				}
			},
			change: func(t *testing.T, p string) { must(t, os.Rename(p+".next", p)) },
		},
		{
			// Same rows and columns, the charges rounded to whole units
			// (too small a change for the drift gate), zstd: smaller. Only
			// the size tells the run that this is not the file it hashed.
			name: "last file replaced by a smaller Parquet file",
			prepare: func(t *testing.T, p string) {
				rec := recordOf(t, p)
				for _, name := range []string{"monthly_charges", "total_charges"} {
					round := mapFloat64(t, float64Column(t, rec, name), array.NewFloat64Builder(memory.DefaultAllocator), func(b *array.Float64Builder, _ int, v float64) {
						b.Append(math.Round(v))
					})
					rec = replaceColumn(t, rec, name, round, arrow.PrimitiveTypes.Float64)
				}
				writeParquetZstd(t, p+".next", rec)
				if a, b := mustStat(t, p).Size(), mustStat(t, p+".next").Size(); b >= a {
					t.Fatalf("the replacement is not smaller: %d bytes, was %d", b, a)
				}
			},
			change: func(t *testing.T, p string) { must(t, os.Rename(p+".next", p)) },
		},
		{
			name:   "last file truncated in place",
			change: func(t *testing.T, p string) { must(t, os.Truncate(p, mustStat(t, p).Size()/2)) },
		},
	}
	for _, tc := range cases { // one after the other: one table, one date lock
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			snap := filepath.Join(root, "snapshot_date="+date20)
			copyDir(t, genDir, snap)
			path := filepath.Join(snap, last)
			if tc.prepare != nil {
				tc.prepare(t, path)
			}
			job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, chunkRows: 4096, edit: withoutRowChange(t),
				source: filepath.Join(root, "snapshot_date={{ .Date }}", "*.parquet")})
			before, known := snapshotTable(t, table, date20), manifests(t, table, date20)
			p := startRun(t, job, table)
			p.waitForStagedPart(t, table) // reading the first file
			tc.change(t, path)
			code, stdout, stderr := p.wait(t)
			checkFault(t, table, &before, known, result{code: code, stdout: stdout, stderr: stderr},
				faultWant{code: 1, msgs: []string{path}})
		})
	}
}

func writeParquetZstd(t *testing.T, path string, rec arrow.Record) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd))
	w, err := pqarrow.NewFileWriter(rec.Schema(), f, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil { // closes f
		t.Fatal(err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustStat(t *testing.T, p string) os.FileInfo {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// ---------------------------------------------------------------------------
// 5. The database drops the connection

// startWith starts batchscore with env and args in the background.
func startWith(t *testing.T, env []string, table string, args ...string) *process {
	t.Helper()
	p := &process{waited: make(chan struct{}), oldStaging: listDir(t, filepath.Join(table, "_staging")), watched: watchTables(t, env, args)}
	p.cmd = exec.Command(batchscore, args...)
	p.cmd.Env = env
	p.cmd.Dir = t.TempDir()
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.waited)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.waited
		}
	})
	return p
}

// backendOf polls pg_stat_activity until a backend other than the
// caller's matches where, and returns its pid.
func backendOf(t *testing.T, dsn, where string, p *process) int32 {
	t.Helper()
	conn := pgtest.Connect(t, dsn)
	deadline := time.Now().Add(90 * time.Second)
	for {
		var pid int32
		err := conn.QueryRow(context.Background(), "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND "+where+" LIMIT 1").Scan(&pid)
		if err == nil {
			return pid
		}
		if p.exited() {
			t.Fatalf("the run ended before a backend matched %s: %v\nstderr:\n%s", where, p.err, clip(p.stderr.String()))
		}
		if time.Now().After(deadline) {
			t.Fatalf("no backend matched %s in 90 s: %v", where, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func terminate(t *testing.T, dsn string, pid int32) {
	t.Helper()
	var ok bool
	if err := pgtest.Connect(t, dsn).QueryRow(context.Background(), "SELECT pg_terminate_backend($1)", pid).Scan(&ok); err != nil || !ok {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, ok, err)
	}
}

var reSQLSource = regexp.MustCompile(`(?m)^  parquet: .*$`)

func TestFaultDatabaseDropsTheConnection(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	loadCustomers(t, dsn, date20)
	// 200,000 rows with distinct ids: scoring them takes seconds, so the
	// query is still streaming when its backend is terminated.
	pgtest.Exec(t, dsn,
		"CREATE TABLE big AS SELECT c.*, g FROM customers c, generate_series(0, 99) g",
		"UPDATE big SET customer_id = customer_id + g * 10000000",
		"ALTER TABLE big DROP COLUMN g")
	env := append(ortEnv(t), "CHURN_DSN="+dsn)
	sqlJob := func(t *testing.T, table, from string, sink bool) string {
		return writeJob(t, "churn_nightly.yaml", jobOpts{table: table, chunkRows: 4096, edit: func(s string) string {
			s = withoutRowChange(t)(s)
			s = reSQLSource.ReplaceAllString(s, `  sql: {driver: postgres, dsn_env: CHURN_DSN, query: "SELECT * FROM `+from+` WHERE snapshot_date = :date"}`)
			if sink {
				s = insertAfter(t, s, "  keys: [customer_id]", "  sql: {driver: postgres, dsn_env: CHURN_DSN, table: churn_scores}")
			}
			return s
		}})
	}

	t.Run("source connection terminated mid-stream", func(t *testing.T) {
		table := filepath.Join(t.TempDir(), "scores")
		if res := runWith(t, batchscore, env, "run", sqlJob(t, table, "customers", false), "--date", date20); res.code != 0 {
			t.Fatalf("the good run failed\n%s", res)
		}
		before := snapshotTable(t, table, date20)
		known := manifests(t, table, date20)

		p := startWith(t, env, table, "run", sqlJob(t, table, "big", false), "--date", date20, "--json")
		pid := backendOf(t, dsn, "state = 'active' AND query LIKE '%FROM big%'", p)
		p.waitForStagedPart(t, table) // rows are flowing
		terminate(t, dsn, pid)
		code, stdout, stderr := p.wait(t)
		checkFault(t, table, &before, known, result{code: code, stdout: stdout, stderr: stderr},
			faultWant{code: 1, msgs: []string{"postgres query: row ", "database connection failed"}})
	})

	t.Run("sink connection terminated during COPY", func(t *testing.T) {
		table := filepath.Join(t.TempDir(), "scores")
		job := sqlJob(t, table, "customers", true)
		res := runWith(t, batchscore, env, "run", job, "--date", date20, "--json")
		if res.code != 0 {
			t.Fatalf("the good run failed\n%s", res)
		}
		good := parseManifest(t, []byte(res.stdout))
		before := snapshotTable(t, table, date20)
		known := manifests(t, table, date20)

		// COPY takes ROW EXCLUSIVE: a SHARE lock held here stops it (and
		// nothing the sink does before it), so the terminate hits it.
		lock := pgtest.Connect(t, dsn)
		ctx := context.Background()
		if _, err := lock.Exec(ctx, "BEGIN"); err != nil {
			t.Fatal(err)
		}
		if _, err := lock.Exec(ctx, "LOCK TABLE churn_scores IN SHARE MODE"); err != nil {
			t.Fatal(err)
		}
		p := startWith(t, env, table, "run", job, "--date", date20, "--json")
		pid := backendOf(t, dsn, "query ILIKE 'copy%' AND wait_event_type = 'Lock'", p)
		terminate(t, dsn, pid)
		if _, err := lock.Exec(ctx, "ROLLBACK"); err != nil { // the run's clean-up may delete now
			t.Fatal(err)
		}
		code, stdout, stderr := p.wait(t)
		checkFault(t, table, &before, known, result{code: code, stdout: stdout, stderr: stderr},
			faultWant{code: 1, msgs: []string{"output.sql", "churn_scores"}})
		// The server's FATAL reaches the sink first, or its next write
		// finds the socket closed: which one depends on timing (seen under
		// load), and both name the lost connection.
		if !regexp.MustCompile(`terminating connection|closed network connection|connection reset|broken pipe|unexpected EOF`).MatchString(stderr) {
			t.Errorf("the error does not say the connection was lost:\n%s", stderr)
		}

		// The SQL table's readers still see the good version, whole; the
		// failed one left no rows and no registry entry.
		failed := parseManifest(t, []byte(stdout)).Version
		conn := pgtest.Connect(t, dsn)
		var n, stray, runs int64
		var version string
		err := conn.QueryRow(ctx, "SELECT count(*), coalesce(min(version), '') FROM churn_scores_current WHERE score_date = $1", date20).Scan(&n, &version)
		if err == nil {
			err = conn.QueryRow(ctx, "SELECT count(*) FROM churn_scores WHERE version = $1", failed).Scan(&stray)
		}
		if err == nil {
			err = conn.QueryRow(ctx, "SELECT count(*) FROM churn_scores_runs WHERE version = $1", failed).Scan(&runs)
		}
		if err != nil {
			t.Fatal(err)
		}
		if n != 2000 || version != good.Version {
			t.Errorf("churn_scores_current shows %d rows of version %q, want 2000 of %s", n, version, good.Version)
		}
		if stray != 0 || runs != 0 {
			t.Errorf("the failed version %s left %d rows and %d registry entries", failed, stray, runs)
		}
	})
}

// ---------------------------------------------------------------------------
// 6. A clock that jumps

// What a jumping clock can break here. Version ids are the start time, so
// after the clock is stepped back a new execution gets an id that sorts
// before one made while the clock was ahead. Correctness must not hang on
// that order: current/<date> is switched by each publish to its own
// version, so it points at the last one published whatever the ids; the
// already-current check reads the link; the stale clean-up goes by locks,
// not by age. What does follow the ids: `runs` lists by id (newest first),
// backfill's "last execution" of a date, and the previous run the drift and
// row-count checks compare with (which now prefers that date's current
// version). The daemon keeps its own cursor (jobs/schedule, fake clock).
//
// There is no libfaketime; the test builds the state a clock that was
// ahead leaves: a published version whose id lies in the future.

// backdate renames version v of date (its folder, manifest and companions,
// and current/<date> if it points there) to newID, as if it had been made
// when the clock read newID's time.
func backdate(t *testing.T, table, date, v, newID string) {
	t.Helper()
	must(t, os.Rename(filepath.Join(table, "versions", date, v), filepath.Join(table, "versions", date, newID)))
	runs := filepath.Join(table, "runs", date)
	for _, name := range listDir(t, runs) {
		if !strings.HasPrefix(name, v) {
			continue
		}
		data := bytes.ReplaceAll(mustRead(t, filepath.Join(runs, name)), []byte(v), []byte(newID))
		must(t, os.WriteFile(filepath.Join(runs, newID+strings.TrimPrefix(name, v)), data, 0o640))
		must(t, os.Remove(filepath.Join(runs, name)))
	}
	if currentVersion(t, table, date) == v {
		tmp := filepath.Join(table, "current", "."+date+".tmp")
		must(t, os.Symlink(filepath.Join("..", "versions", date, newID), tmp))
		must(t, os.Rename(tmp, filepath.Join(table, "current", date)))
	}
}

type runsRow struct {
	Version string `json:"version"`
	Date    string `json:"logical_date"`
	RunID   string `json:"run_id"`
	Current bool   `json:"current"`
}

func TestFaultClockJumps(t *testing.T) {
	t.Parallel()
	table := filepath.Join(t.TempDir(), "scores")
	jobA := writeJob(t, "churn_nightly.yaml", jobOpts{table: table})
	// The same job with another byte: another run id.
	jobB := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: func(s string) string { return s + "# B\n" }})
	run := func(job, date string, args ...string) *report.Manifest {
		t.Helper()
		res := bs(t, append([]string{"run", job, "--date", date, "--json"}, args...)...)
		if res.code != 0 {
			t.Fatalf("run %s %s: %s", filepath.Base(job), date, res)
		}
		return parseManifest(t, []byte(res.stdout))
	}

	// While the clock was a long way ahead, A published date19.
	a := run(jobA, date19)
	future := "20991231T235959.000Z-" + a.Version[strings.LastIndex(a.Version, "-")+1:]
	backdate(t, table, date19, a.Version, future)

	// The clock is back: B's version sorts before A's, but B published last.
	b := run(jobB, date19)
	if b.Version >= future || !b.Output.Published {
		t.Fatalf("version %s (published %v), want one before %s", b.Version, b.Output.Published, future)
	}
	if cur := currentVersion(t, table, date19); cur != b.Version {
		t.Fatalf("current/%s -> %s, want the last published %s", date19, cur, b.Version)
	}

	// Already current follows the link, not the newest id: B again is a
	// no-op, A again is not (its run id is on a version that is no longer
	// current) and publishes.
	if again := run(jobB, date19); again.Status != report.StatusAlreadyCurrent {
		t.Errorf("B again: status %q, want already current", again.Status)
	}
	a2 := run(jobA, date19)
	if a2.Status != report.StatusSucceeded || !a2.Output.Published || currentVersion(t, table, date19) != a2.Version {
		t.Fatalf("A again: status %q published %v, current %s; want %s published and current",
			a2.Status, a2.Output.Published, currentVersion(t, table, date19), a2.Version)
	}

	// runs and show mark the current version by the link.
	res := bs(t, "runs", jobB, "--json")
	if res.code != 0 {
		t.Fatal(res)
	}
	var rows []runsRow
	if err := json.Unmarshal([]byte(res.stdout), &rows); err != nil {
		t.Fatalf("runs --json: %v\n%s", err, res.stdout)
	}
	var order []string
	for _, r := range rows {
		order = append(order, r.Version)
		if want := r.Version == a2.Version; r.Current != want {
			t.Errorf("runs: %s current=%v, want %v", r.Version, r.Current, want)
		}
	}
	t.Logf("runs lists, newest id first: %v (the version made while the clock was ahead comes first)", order)
	if len(rows) == 0 || rows[0].Version != future {
		t.Errorf("runs lists %v, want it ordered by version id", order)
	}
	for v, want := range map[string]string{future: "(current: false)", a2.Version: "(current: true)", b.Version: "(current: false)"} {
		res := bs(t, "show", jobB, v)
		if res.code != 0 || !strings.Contains(res.stdout, v+" "+want) {
			t.Errorf("show %s: want %q\n%s", v, want, res)
		}
	}

	// The next date compares with date19's current version, not with the
	// one whose id is newest.
	m := run(jobB, date20)
	if m.Validation.PreviousVersion != a2.Version {
		t.Errorf("%s compared with %s of %s, want its current version %s (not %s, the newest id)",
			date20, m.Validation.PreviousVersion, date19, a2.Version, future)
	}

	// A backfill's plan sees date19 as current.
	res = bs(t, "run", jobB, "--from", date19, "--to", date19, "--dry-run")
	if res.code != 0 || !strings.Contains(res.stdout, a2.Version) {
		t.Errorf("backfill plan does not name %s as current\n%s", a2.Version, res)
	}
	if got := listDir(t, filepath.Join(table, "versions", date19)); !slices.Equal(got, sortedCopy(b.Version, a2.Version, future)) {
		t.Errorf("versions/%s: %v", date19, got)
	}
}

func sortedCopy(s ...string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
