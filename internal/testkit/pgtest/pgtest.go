// Package pgtest runs a throwaway PostgreSQL 15 server for tests.
//
// A test package that uses it calls Main from its TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// The first call to DSN starts one server for the whole test binary (initdb
// and pg_ctl under a temp dir, on a free port on 127.0.0.1, fsync off, as the
// postgres user when the tests run as root); every call to DSN creates a
// fresh database on it. Main stops the server and removes its folder after
// m.Run. When PostgreSQL 15 is not installed, DSN skips the test on a
// developer's machine and fails it in CI (CI set), so CI never counts a
// skipped test as a pass.
//
// If the test binary is killed before Main returns (a -timeout panic, kill
// -9) the server outlives it; its folder is /tmp/pgtest-* and `pg_ctl stop
// -D /tmp/pgtest-*/data -m immediate` ends it.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/batchscore/batchscore/internal/testkit"
	"github.com/batchscore/batchscore/internal/testkit/onnxtest"
)

// BinDir holds initdb, pg_ctl and postgres (Debian's postgresql-15 package).
const BinDir = "/usr/lib/postgresql/15/bin"

// server is the one server of this test binary.
type server struct {
	dir     string // temp folder: data/, sock/, log
	port    int
	cred    *syscall.Credential // nil when not root
	adminMu sync.Mutex          // admin is one connection: one user at a time
	admin   *pgx.Conn           // superuser connection to database postgres
}

var (
	mainCalled atomic.Bool
	once       sync.Once
	srv        *server
	startErr   error
	missing    bool
	dbSeq      atomic.Int64
)

// Main runs the tests and then stops the server, if one was started.
func Main(m *testing.M) int {
	mainCalled.Store(true)
	return testkit.RunThenStop(m, "pgtest: stopping PostgreSQL", func() error { return srv.stop() })
}

// DSN returns the URL of a fresh, empty database on the test server, e.g.
// postgres://postgres@127.0.0.1:PORT/test_3?sslmode=disable. The caller
// connects as the superuser postgres (trust authentication).
func DSN(t testing.TB) string {
	t.Helper()
	s := shared(t)
	name := fmt.Sprintf("test_%d", dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.adminMu.Lock()
	defer s.adminMu.Unlock()
	if _, err := s.admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	return s.url(name)
}

// SuperuserDSN is the URL of the server's postgres database, for
// terminating backends, reading pg_stat_activity and the like.
func SuperuserDSN(t testing.TB) string {
	t.Helper()
	return shared(t).url("postgres")
}

// Connect opens a connection to dsn that is closed when the test ends.
// A *pgx.Conn is not safe for concurrent use.
func Connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// Exec runs statements on the database at dsn and fails the test on error.
func Exec(t testing.TB, dsn string, stmts ...string) {
	t.Helper()
	c := Connect(t, dsn)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, q := range stmts {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("pgtest: %s: %v", q, err)
		}
	}
}

func shared(t testing.TB) *server {
	t.Helper()
	if !mainCalled.Load() {
		t.Fatal("pgtest: call os.Exit(pgtest.Main(m)) from TestMain, or the server outlives the tests")
	}
	once.Do(func() {
		if _, err := os.Stat(filepath.Join(BinDir, "initdb")); err != nil {
			missing = true
			return
		}
		// A free port can be taken between the probe and the start: try again.
		for try := 0; try < 3; try++ {
			srv, startErr = start()
			if startErr == nil {
				return
			}
		}
	})
	if missing {
		onnxtest.Missing(t, "PostgreSQL 15 (apt-get install postgresql-15)")
	}
	if startErr != nil {
		t.Fatalf("pgtest: starting PostgreSQL: %v", startErr)
	}
	return srv
}

func start() (_ *server, err error) {
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	s := &server{dir: dir}
	defer func() {
		if err != nil {
			_ = s.stop()
		}
	}()
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs the postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	if err := s.run(2*time.Minute, "initdb", "-D", s.data(), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"); err != nil {
		return nil, err
	}
	if err := s.run(0, "mkdir", "-p", s.sock()); err != nil { // as postgres, so it owns the folder
		return nil, err
	}
	if s.port, err = freePort(); err != nil {
		return nil, err
	}
	opts := fmt.Sprintf("-F -p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=200", s.port, s.sock())
	if err := s.run(time.Minute, "pg_ctl", "start", "-w", "-D", s.data(), "-l", filepath.Join(dir, "log"), "-o", opts); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		return nil, fmt.Errorf("%w\n%s", err, log)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		s.admin, err = pgx.Connect(ctx, s.url("postgres"))
		cancel()
		if err == nil {
			return s, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("server does not accept connections: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) data() string { return filepath.Join(s.dir, "data") }
func (s *server) sock() string { return filepath.Join(s.dir, "sock") }

func (s *server) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// run runs a PostgreSQL program (or a plain command by name) as the
// server's user. Output goes to a file, never a pipe: pg_ctl's postgres
// child would keep a pipe open and Wait would never return.
func (s *server) run(timeout time.Duration, prog string, args ...string) error {
	path := prog
	if p := filepath.Join(BinDir, prog); fileExists(p) {
		path = p
	}
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	out, err := os.CreateTemp("", "pgtest-out-")
	if err != nil {
		return err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setpgid: true}
	if err := cmd.Run(); err != nil {
		msg, _ := os.ReadFile(out.Name())
		return fmt.Errorf("%s %v: %w\n%s", prog, args, err, msg)
	}
	return nil
}

func (s *server) stop() error {
	if s == nil { // never started
		return nil
	}
	var errs []error
	if s.admin != nil {
		errs = append(errs, s.admin.Close(context.Background()))
	}
	if fileExists(filepath.Join(s.data(), "postmaster.pid")) {
		errs = append(errs, s.run(time.Minute, "pg_ctl", "stop", "-D", s.data(), "-m", "immediate", "-w"))
	}
	errs = append(errs, os.RemoveAll(s.dir))
	return errors.Join(errs...)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
