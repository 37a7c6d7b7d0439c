// Package miniotest runs a throwaway MinIO server for tests.
//
// A test package that uses it calls Main from its TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(miniotest.Main(m)) }
//
// or, with goleak, goleak.VerifyTestMain(miniotest.Wrap(m)).
//
// The first call to Bucket starts one server for the whole test binary
// (minio server on a free port of 127.0.0.1, its data under a temp dir, a
// random root user and password); every call to Bucket creates a fresh
// bucket on it. Main stops the server and removes its folder after m.Run.
//
// The binary is $MINIO_BIN, else minio on PATH, else $(go env GOPATH)/bin/minio,
// else third_party/minio/minio at the module root (make minio puts it
// there). When there is none, Bucket skips the test on a developer's
// machine and fails it in CI (CI set), so CI never counts a skipped test as
// a pass. A MINIO_BIN that names no file always fails.
//
// If the test binary is killed before Main returns, Linux kills the server
// with it (Pdeathsig); its folder /tmp/miniotest-* stays behind.
package miniotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/batchscore/batchscore/internal/testkit"
	"github.com/batchscore/batchscore/internal/testkit/onnxtest"
)

// Region is the region the server and the bucket URLs use.
const Region = "us-east-1"

type server struct {
	dir      string // temp folder: data/ and log
	cmd      *exec.Cmd
	exited   chan struct{}
	endpoint string // http://127.0.0.1:PORT
	user     string
	password string
	http     *http.Client
}

var (
	mainCalled atomic.Bool
	once       sync.Once
	srv        *server
	startErr   error
	missing    string // what to tell when there is no binary
	bucketSeq  atomic.Int64
)

// Main runs the tests and then stops the server, if one was started.
func Main(m interface{ Run() int }) int {
	mainCalled.Store(true)
	return testkit.RunThenStop(m, "miniotest: stopping MinIO", func() error { return srv.stop() })
}

// Wrap is m with a Run that also stops the server, for a TestMain that
// hands m to goleak.VerifyTestMain.
func Wrap(m interface{ Run() int }) interface{ Run() int } { return wrapped{m} }

type wrapped struct{ m interface{ Run() int } }

func (w wrapped) Run() int { return Main(w.m) }

// Bucket creates a fresh bucket and returns its URL,
// s3://NAME?endpoint=http://127.0.0.1:PORT&region=us-east-1&use_path_style=true.
// It points the AWS SDK at the server's root user for the rest of the test
// (t.Setenv: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, and no shared config
// or instance metadata), so the test cannot run in parallel.
func Bucket(t testing.TB) string {
	t.Helper()
	s := shared(t)
	Env(t)
	name := fmt.Sprintf("test-%d-%s", bucketSeq.Add(1), randomHex(3))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("miniotest: create bucket %s: %v", name, err)
	}
	return s.bucketURL(name, s.endpoint)
}

// Env sets the AWS SDK's environment to the server's root user for the
// rest of the test, and keeps the SDK off the developer's ~/.aws and off
// the instance metadata service.
func Env(t testing.TB) {
	t.Helper()
	s := shared(t)
	t.Setenv("AWS_ACCESS_KEY_ID", s.user)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s.password)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(s.dir, "no-aws-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(s.dir, "no-aws-credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// Credentials are the server's root user and password.
func Credentials(t testing.TB) (user, password string) {
	t.Helper()
	s := shared(t)
	return s.user, s.password
}

// Endpoint is the server's http://127.0.0.1:PORT.
func Endpoint(t testing.TB) string {
	t.Helper()
	return shared(t).endpoint
}

func (s *server) bucketURL(name, endpoint string) string {
	return fmt.Sprintf("s3://%s?endpoint=%s&region=%s&use_path_style=true", name, endpoint, Region)
}

func (s *server) client() *s3.Client {
	return s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.endpoint),
		UsePathStyle: true,
		HTTPClient:   s.http,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: s.user, SecretAccessKey: s.password}, nil
		}),
	})
}

func shared(t testing.TB) *server {
	t.Helper()
	if !mainCalled.Load() {
		t.Fatal("miniotest: call miniotest.Main(m) (or goleak.VerifyTestMain(miniotest.Wrap(m))) from TestMain, or the server outlives the tests")
	}
	once.Do(func() {
		var bin string
		bin, startErr = findBinary()
		if startErr != nil || bin == "" {
			return
		}
		// A free port can be taken between the probe and the start: try again.
		for try := 0; try < 3; try++ {
			srv, startErr = start(bin)
			if startErr == nil {
				return
			}
		}
	})
	if missing != "" {
		onnxtest.Missing(t, missing)
	}
	if startErr != nil {
		t.Fatalf("miniotest: starting MinIO: %v", startErr)
	}
	return srv
}

// findBinary returns "" (and sets missing) when there is no MinIO.
func findBinary() (string, error) {
	if p := os.Getenv("MINIO_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("MINIO_BIN: %w", err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	var candidates []string
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			candidates = append(candidates, filepath.Join(dir, "bin", "minio"))
		}
	}
	if root := moduleRoot(); root != "" {
		candidates = append(candidates, filepath.Join(root, "third_party", "minio", "minio"))
	}
	for _, p := range candidates {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	missing = "MinIO (run 'make minio', or set MINIO_BIN)"
	return "", nil
}

// moduleRoot is the folder of the go.mod above the working directory.
func moduleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func start(bin string) (_ *server, err error) {
	dir, err := os.MkdirTemp("", "miniotest-")
	if err != nil {
		return nil, err
	}
	s := &server{dir: dir, user: "test" + randomHex(6), password: randomHex(16),
		http: &http.Client{Transport: &http.Transport{}}}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.stop())
		}
	}()
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s.endpoint = fmt.Sprintf("http://127.0.0.1:%d", port)
	log, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	// Output goes to a file, never a pipe that Wait would wait on.
	s.cmd = exec.Command(bin, "server", "--quiet", "--address", fmt.Sprintf("127.0.0.1:%d", port), filepath.Join(dir, "data"))
	s.cmd.Stdout, s.cmd.Stderr = log, log
	s.cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+s.user,
		"MINIO_ROOT_PASSWORD="+s.password,
		"MINIO_BROWSER=off",         // no console, no second port
		"MINIO_UPDATE=off",          // no update check: no network
		"MINIO_CALLHOME_ENABLE=off", // likewise
	)
	s.cmd.SysProcAttr = procAttr()
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	s.exited = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	if err := s.waitLive(60 * time.Second); err != nil {
		msg, _ := os.ReadFile(filepath.Join(dir, "log"))
		return nil, fmt.Errorf("%w\n%s", err, msg)
	}
	return s, nil
}

// waitLive polls /minio/health/live until the server answers 200.
func (s *server) waitLive(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("minio exited: %v", s.cmd.ProcessState)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.endpoint+"/minio/health/live", nil)
		resp, err := s.http.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		cancel()
		if err == nil && resp.StatusCode == http.StatusOK {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer on %s/minio/health/live after %s (last: %v)", s.endpoint, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) stop() error {
	if s == nil { // never started
		return nil
	}
	if t, ok := s.http.Transport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
	if s.cmd != nil && s.cmd.Process != nil && s.exited != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(15 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	}
	return os.RemoveAll(s.dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
