package main

// End-to-end tests of the built binary. TestMain builds batchscore (and
// gensnapshot, for the big snapshot of the atomicity test) once into a
// temporary folder; every test runs the binary as a scheduler would, with
// job files copied into t.TempDir() so nothing is written into the repo.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/batchscore/batchscore/internal/testkit/mariadbtest"
	"github.com/batchscore/batchscore/internal/testkit/miniotest"
	"github.com/batchscore/batchscore/internal/testkit/onnxtest"
	"github.com/batchscore/batchscore/internal/testkit/pgtest"
)

const (
	date20 = "2026-11-20"
	date19 = "2026-11-19"
)

var (
	binDir       string // holds the built batchscore and gensnapshot, and no ORT library
	batchscore   string
	gensnapshot  string
	repoRootPath string
)

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	root := wd
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			fmt.Fprintln(os.Stderr, "e2e: no go.mod above", wd)
			return 1
		}
		root = parent
	}
	repoRootPath = root
	binDir, err = os.MkdirTemp("", "batchscore-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(binDir)
	batchscore = filepath.Join(binDir, "batchscore")
	gensnapshot = filepath.Join(binDir, "gensnapshot")
	for _, b := range []struct{ out, pkg string }{{batchscore, "./cmd/batchscore"}, {gensnapshot, "./cmd/gensnapshot"}} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: go build %s: %v\n%s", b.pkg, err, out)
			return 1
		}
	}
	// Runs the tests, then stops the PostgreSQL, MariaDB and MinIO servers
	// they shared.
	code := miniotest.Main(runner(func() int { return mariadbtest.Main(runner(func() int { return pgtest.Main(m) })) }))
	fmt.Printf("e2e: xitongsys checked %d published Parquet files (%d distinct) of %d tables, %d rows\n",
		xitongsysFiles.Load(), xitongsysDistinct.Load(), xitongsysTables.Load(), xitongsysRows.Load())
	// Every background run and reader a test started must be gone.
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: leaked goroutines:", err)
			code = 1
		}
	}
	return code
}

type runner func() int

func (r runner) Run() int { return r() }

// ---------------------------------------------------------------------------
// Running the binary

type result struct {
	code   int
	stdout string
	stderr string
}

// messages is what a user reads on stderr: the text lines as they are and,
// for JSON log lines, the msg and err values unescaped.
func (r result) messages() string {
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(r.stderr))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil {
			for _, k := range []string{"msg", "err", "error"} {
				if v, ok := rec[k]; ok {
					fmt.Fprintf(&b, "%v\n", v)
				}
			}
			continue
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s\n--- stderr:\n%s", r.code, clip(r.stdout), clip(r.stderr))
}

func clip(s string) string {
	if len(s) > 6000 {
		return s[:3000] + "\n...\n" + s[len(s)-3000:]
	}
	return s
}

// baseEnv is the environment without anything that points batchscore at
// an ONNX Runtime library, so each test says which one it wants.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "BATCHSCORE_ORT_LIB=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// ortEnv is baseEnv plus BATCHSCORE_ORT_LIB for the test's library.
func ortEnv(t *testing.T) []string {
	t.Helper()
	return append(baseEnv(), "BATCHSCORE_ORT_LIB="+onnxtest.Lib(t))
}

// run runs bin with args and env, with a generous deadline, and returns
// what it left. Nothing is given on stdin.
func runWith(t *testing.T, bin string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var watched []*tableWatch
	if bin == batchscore {
		watched = watchTables(t, env, args)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Dir = t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s %v: %v", bin, args, err)
		}
		res.code = ee.ExitCode()
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not finish in time\n%s", bin, args, res)
	}
	// What the run published, read by a second Parquet implementation.
	for _, w := range watched {
		w.checkPublished(t)
	}
	return res
}

// bs runs the built batchscore with the test's ORT library.
func bs(t *testing.T, args ...string) result {
	t.Helper()
	return runWith(t, batchscore, ortEnv(t), args...)
}

// ---------------------------------------------------------------------------
// Job files
