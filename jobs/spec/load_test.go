package spec

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// wantOf reads the expected error text from a bad file's first line:
// "# want: <substring>".
func wantOf(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		t.Fatalf("%s: empty; a bad file starts with '# want: <error text>'", path)
	}
	want, ok := strings.CutPrefix(sc.Text(), "# want: ")
	if !ok || want == "" {
		t.Fatalf("%s: first line %q is not '# want: <error text>'", path, sc.Text())
	}
	return want
}

func setTestEnv(t *testing.T) {
	t.Setenv("DATA_ROOT", "/data/root")
	t.Setenv("DATA_ROOT_SUFFIX", "churn")
	t.Setenv("BATCHSCORE_TEST_UNSET", "")
	os.Unsetenv("BATCHSCORE_TEST_UNSET") // t.Setenv restores the original afterwards
}

func TestLoadBadFiles(t *testing.T) {
	setTestEnv(t)
	files, err := filepath.Glob("testdata/*.bad.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad files: %v", err)
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			want := wantOf(t, path)
			job, err := Load(path)
			if err == nil {
				t.Fatalf("Load accepted a bad file: %+v", job)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error\n  %v\nlacks\n  %s", err, want)
			}
			if !strings.HasPrefix(err.Error(), path+": ") {
				t.Errorf("error does not start with the file name %s: %v", path, err)
			}
			if job != nil {
				t.Errorf("job returned with the error: %+v", job)
			}
		})
	}
}

func TestLoadGoodFiles(t *testing.T) {
	setTestEnv(t)
	files, err := filepath.Glob("testdata/*.good.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no good files: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			job, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			abs, _ := filepath.Abs(path)
			if job.File != abs || job.Dir != filepath.Dir(abs) {
				t.Errorf("File, Dir = %q, %q; want %q, %q", job.File, job.Dir, abs, filepath.Dir(abs))
			}
			if len(job.Hash) != 64 {
				t.Errorf("Hash = %q, want 64 hex digits", job.Hash)
			}
			if job.Location == nil {
				t.Error("Location not set")
			}
			for _, p := range []string{job.Source.Parquet, job.Model.Path, job.Output.Table} {
				if p == "" && job.Source.SQL != nil {
					continue // a SQL source has no glob
				}
				if !filepath.IsAbs(p) {
					t.Errorf("path %q not made absolute", p)
				}
			}
		})
	}
}

// The shipped example must stay loadable.
func TestLoadShippedConfigs(t *testing.T) {
	files, _ := filepath.Glob("../../configs/*.yaml")
	if len(files) == 0 {
		t.Skip("no configs/*.yaml")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			if _, err := Load(path); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLoadFields(t *testing.T) {
	setTestEnv(t)
	dir, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	parent := filepath.Dir(dir)
	class1 := int64(1)
	tests := []struct {
		name  string
		file  string
		check func(t *testing.T, j *Job)
	}{
		{
			name: "churn nightly shape",
			file: "churn_nightly.good.yml",
			check: func(t *testing.T, j *Job) {
				eq(t, "Name", j.Name, "churn_nightly")
				eq(t, "Schedule", j.Schedule, "0 2 * * *")
				eq(t, "Location", j.Location.String(), "UTC")
				eq(t, "Source.Parquet", j.Source.Parquet, filepath.Join(parent, "data/customers/snapshot_date={{ .Date }}/*.parquet"))
				eq(t, "Model.Path", j.Model.Path, filepath.Join(parent, "models/churn_gbm.onnx"))
				eq(t, "Output.Table", j.Output.Table, filepath.Join(parent, "out/churn_scores"))
				eq(t, "Model.Version", j.Model.Version, "churn_gbm-2026.11")
				eq(t, "inputs", strings.Join(j.Model.Inputs["features"], ","), "tenure_months,age,monthly_charges")
				eq(t, "InputNames", strings.Join(j.Model.InputNames(), ","), "features")
				eq(t, "Score.Output", j.Model.Score.Output, "probabilities")
				if j.Model.Score.Class == nil || *j.Model.Score.Class != class1 {
					t.Errorf("Score.Class = %v, want 1", j.Model.Score.Class)
				}
				if j.Model.Label == nil || j.Model.Label.Output != "label" || j.Model.Label.Class != nil {
					t.Errorf("Label = %+v, want {label <nil>}", j.Model.Label)
				}
				eq(t, "Keys", strings.Join(j.Output.Keys, ","), "customer_id")
				eq(t, "Workers", j.Scoring.Workers, 0)
			},
		},
		{
			name: "defaults",
			file: "minimal.good.yml",
			check: func(t *testing.T, j *Job) {
				eq(t, "Timezone", j.Timezone, "UTC")
				eq(t, "Location", j.Location, time.UTC)
				eq(t, "ChunkRows", j.Scoring.ChunkRows, 32768)
				eq(t, "IntraOpThreads", j.Scoring.IntraOpThreads, 1)
				eq(t, "Optimization", j.Scoring.Optimization, "all")
				eq(t, "Workers", j.Scoring.Workers, 0)
				eq(t, "Compression", j.Output.Compression, "zstd")
				eq(t, "FileRows", j.Output.FileRows, int64(4_000_000))
				eq(t, "Schedule", j.Schedule, "")
				if j.Model.Label != nil {
					t.Errorf("Label = %+v, want nil", j.Model.Label)
				}
				if j.Model.Score.Class != nil {
					t.Errorf("Score.Class = %v, want nil", *j.Model.Score.Class)
				}
				eq(t, "Source.Parquet", j.Source.Parquet, filepath.Join(dir, "snap/{{ .Compact }}/*.parquet"))
				eq(t, "Model.Path", j.Model.Path, filepath.Join(dir, "m.onnx"))
				eq(t, "Output.Table", j.Output.Table, filepath.Join(dir, "out"))
			},
		},
		{
			name: "daily berlin snappy absolute paths",
			file: "daily_berlin.good.yml",
			check: func(t *testing.T, j *Job) {
				eq(t, "Name", j.Name, "churn.daily-berlin_2")
				eq(t, "Schedule", j.Schedule, "@daily")
				eq(t, "Location", j.Location.String(), "Europe/Berlin")
				eq(t, "Compression", j.Output.Compression, "snappy")
				eq(t, "FileRows", j.Output.FileRows, int64(1000))
				eq(t, "Workers", j.Scoring.Workers, 4)
				eq(t, "ChunkRows", j.Scoring.ChunkRows, 1024)
				eq(t, "IntraOpThreads", j.Scoring.IntraOpThreads, 2)
				eq(t, "Optimization", j.Scoring.Optimization, "basic")
				eq(t, "Source.Parquet", j.Source.Parquet, "/abs/customers/{{ .Year }}/{{ .Month }}/{{ .Day }}/*.parquet")
				eq(t, "Model.Path", j.Model.Path, "/abs/models/m.onnx")
				eq(t, "Output.Table", j.Output.Table, "/abs/out/t")
				eq(t, "InputNames", strings.Join(j.Model.InputNames(), ","), "cat,num")
				eq(t, "Keys", strings.Join(j.Output.Keys, ","), "customer_id,region")
			},
		},
		{
			name: "env expanded in path fields only",
			file: "env_path.good.yml",
			check: func(t *testing.T, j *Job) {
				eq(t, "Source.Parquet", j.Source.Parquet, "/data/root/x/*.parquet")
				eq(t, "Model.Path", j.Model.Path, "/data/root/models/m.onnx")
				eq(t, "Output.Table", j.Output.Table, filepath.Join(dir, "out/churn"))
				// Not a path field: stays literal.
				eq(t, "Model.Version", j.Model.Version, "${DATA_ROOT}")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := Load(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, j)
		})
	}
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

const minimalJob = `name: j
source:
  parquet: d/{{ .Date }}/*.parquet
model:
  path: m.onnx
  inputs: {x: [a]}
  score: {output: y}
output:
  table: out
  keys: [id]
`

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		dir     string
		wantErr string
	}{
		{name: "zero bytes", data: "", wantErr: "the file is empty"},
		{name: "whitespace", data: "\n\n  \n", wantErr: "the file is empty"},
		{name: "null document", data: "null\n", wantErr: "name: is required"},
		{name: "scalar document", data: "hello\n", wantErr: "cannot unmarshal"},
		{name: "not yaml", data: "name: [unclosed\n", wantErr: "line"},
		{name: "tab indentation", data: "name: j\nsource:\n\tparquet: x\n", wantErr: "line 3"},
		{name: "relative dir kept relative", data: minimalJob, dir: "jobs"},
		{name: "absolute dir", data: minimalJob, dir: "/etc/batchscore"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := Parse([]byte(tt.data), tt.dir)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("no error; want %q", tt.wantErr)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("error does not wrap ErrInvalid: %v", err)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q lacks %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			eq(t, "Dir", j.Dir, tt.dir)
			eq(t, "Model.Path", j.Model.Path, filepath.Join(tt.dir, "m.onnx"))
			eq(t, "Output.Table", j.Output.Table, filepath.Join(tt.dir, "out"))
			eq(t, "Source.Parquet", j.Source.Parquet, filepath.Join(tt.dir, "d/{{ .Date }}/*.parquet"))
			eq(t, "File", j.File, "") // only Load knows the file
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yml"))
	if !errors.Is(err, ErrInvalid) || !errors.Is(err, os.ErrNotExist) && !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("err = %v, want ErrInvalid naming the missing file", err)
	}
	if !strings.Contains(err.Error(), "nope.yml") {
		t.Errorf("error does not name the file: %v", err)
	}
}

func TestHash(t *testing.T) {
	a, err := Parse([]byte(minimalJob), "/d")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse([]byte(minimalJob), "/other")
	if err != nil {
		t.Fatal(err)
	}
	if a.Hash != b.Hash {
		t.Errorf("same bytes, different hashes: %s %s", a.Hash, b.Hash)
	}
	tests := []struct {
		name string
		data string
	}{
		{name: "comment added", data: "# note\n" + minimalJob},
		{name: "trailing newline", data: minimalJob + "\n"},
		{name: "value changed", data: strings.Replace(minimalJob, "keys: [id]", "keys: [idx]", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.data), "/d")
			if err != nil {
				t.Fatal(err)
			}
			if c.Hash == a.Hash {
				t.Errorf("bytes changed but Hash did not: %s", c.Hash)
			}
		})
	}
}

func TestErrorAt(t *testing.T) {
	err := ErrorAt("model.inputs.features", "column %q is %s", "age", "a string")
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("ErrorAt does not wrap ErrInvalid: %v", err)
	}
	eq(t, "message", err.Error(), `invalid job file: model.inputs.features: column "age" is a string`)
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yml")
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(minimalJob))
	f.Add([]byte(""))
	f.Add([]byte("schedule: '@every 1h'\n" + minimalJob))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Templates run at Parse time; keep the fuzzer away from inputs
		// that are only slow by design ({{range 1e9}}).
		if bytes.Contains(data, []byte("range")) {
			t.Skip()
		}
		j, err := Parse(data, "/jobs")
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			if j != nil {
				t.Fatalf("job returned with error %v", err)
			}
			return
		}
		if j.Location == nil || j.Name == "" || j.Scoring.ChunkRows < 1 || j.Output.FileRows < 1 {
			t.Fatalf("accepted an incomplete job: %+v", j)
		}
		if _, err := j.SourcePattern(time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC)); err != nil {
			t.Fatalf("accepted a source template that fails: %v", err)
		}
	})
}

// The error text for intra_op_threads promises "0 (ONNX Runtime decides)",
// and scoring/onnx reads 0 that way; an explicit 0 should survive defaults.
func TestExplicitZeroIntraOpThreads(t *testing.T) {
	j, err := Parse([]byte(minimalJob+"scoring:\n  intra_op_threads: 0\n"), "/d")
	if err != nil {
		t.Fatal(err)
	}
	if j.Scoring.IntraOpThreads != 0 {
		t.Errorf("intra_op_threads: 0 became %d", j.Scoring.IntraOpThreads)
	}
}

func TestArmsDefaultIsTheModel(t *testing.T) {
	job, err := Load("testdata/arms_ab.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	if job.Arms.DefaultArm() != 1 || filepath.Base(job.Model.Path) != "b.onnx" || job.ModelKey() != "arms.models.[2]" ||
		!filepath.IsAbs(job.Arms.Models[2].Path) {
		t.Errorf("default arm %d, model %q, key %s, arm paths %q", job.Arms.DefaultArm(), job.Model.Path, job.ModelKey(), job.Arms.Models[2].Path)
	}
}
