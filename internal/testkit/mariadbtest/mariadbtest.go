// Package mariadbtest runs a throwaway MariaDB server for tests: the MySQL
// protocol, as the io/sqlio "mysql" driver speaks it.
//
// A test package that uses it calls Main from its TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(mariadbtest.Main(m)) }
//
// or, with another harness, mariadbtest.Main(mariadbtest.Runner(func() int
// { return pgtest.Main(m) })).
//
// The first call to DSN starts one server for the whole test binary
// (Debian's mariadb-server 10.11: mariadb-install-db, then mariadbd with a
// private datadir and unix socket under a temp dir, on a free port on
// 127.0.0.1, as root with --user=root when the tests run as root); every
// call to DSN creates a fresh database on it. The server runs with the
// compiled-in defaults (--no-defaults): latin1 as the server's character
// set, as on a MariaDB nobody configured, so that a sink which relies on
// the server's defaults for Unicode text fails here and not in production.
// Main stops the server and removes its folder after m.Run. When MariaDB is
// not installed, DSN skips the test on a developer's machine and fails it
// in CI (CI set), so CI never counts a skipped test as a pass.
//
// If the test binary is killed before Main returns, Linux kills the server
// with it (Pdeathsig); its folder /tmp/mariadbtest-* is left behind.
package mariadbtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/batchscore/batchscore/internal/testkit"
	"github.com/batchscore/batchscore/internal/testkit/onnxtest"
)

// Where Debian's mariadb-server puts its programs; PATH is searched too.
var (
	installDBPaths = []string{"/usr/bin/mariadb-install-db", "/usr/bin/mysql_install_db"}
	serverPaths    = []string{"/usr/sbin/mariadbd", "/usr/sbin/mysqld"}
)

// server is the one server of this test binary.
type server struct {
	dir   string // temp folder: data/, sock, log
	port  int
	cmd   *exec.Cmd
	done  chan struct{} // closed when mariadbd exits
	admin *sql.DB       // root, no default database; safe for concurrent use
}

var (
	mainCalled atomic.Bool
	once       sync.Once
	srv        *server
	startErr   error
	missing    bool
	dbSeq      atomic.Int64
)

// Runner adapts a func to the m that Main takes, to nest harnesses.
type Runner func() int

// Run calls r.
func (r Runner) Run() int { return r() }

// Main runs the tests and then stops the server, if one was started.
func Main(m interface{ Run() int }) int {
	mainCalled.Store(true)
	return testkit.RunThenStop(m, "mariadbtest: stopping MariaDB", func() error { return srv.stop() })
}

// DSN returns the go-sql-driver/mysql DSN of a fresh, empty database on
// the test server, e.g. root@tcp(127.0.0.1:PORT)/test_3. The caller
// connects as root with no password. The DSN carries no parameters: what
// a test needs (parseTime=true) it appends itself.
func DSN(t testing.TB) string {
	t.Helper()
	s := shared(t)
	name := fmt.Sprintf("test_%d", dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("mariadbtest: create database %s: %v", name, err)
	}
	return s.dsn(name)
}

// RootDSN is the DSN of the server with no default database, for creating
// users, reading information_schema.PROCESSLIST and the like.
func RootDSN(t testing.TB) string {
	t.Helper()
	return shared(t).dsn("")
}

// Open opens a pool on dsn that is closed when the test ends.
func Open(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatalf("mariadbtest: open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// Exec runs statements, one at a time on one connection, on the database
// at dsn and fails the test on error.
func Exec(t testing.TB, dsn string, stmts ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := Open(t, dsn).Conn(ctx)
	if err != nil {
		t.Fatalf("mariadbtest: connect: %v", err)
	}
	defer conn.Close()
	for _, q := range stmts {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("mariadbtest: %s: %v", q, err)
		}
	}
}

func shared(t testing.TB) *server {
	t.Helper()
	if !mainCalled.Load() {
		t.Fatal("mariadbtest: call mariadbtest.Main(m) from TestMain, or the server outlives the tests")
	}
	once.Do(func() {
		installDB, serverBin := findProgram(installDBPaths), findProgram(serverPaths)
		if installDB == "" || serverBin == "" {
			missing = true
			return
		}
		// A free port can be taken between the probe and the start: try again.
		for try := 0; try < 3; try++ {
			srv, startErr = start(installDB, serverBin)
			if startErr == nil {
				return
			}
		}
	})
	if missing {
		onnxtest.Missing(t, "MariaDB (apt-get install mariadb-server)")
	}
	if startErr != nil {
		t.Fatalf("mariadbtest: starting MariaDB: %v", startErr)
	}
	return srv
}

func findProgram(paths []string) string {
	for _, p := range paths {
		if fileExists(p) {
			return p
		}
		if p, err := exec.LookPath(filepath.Base(p)); err == nil {
			return p
		}
	}
	return ""
}

func start(installDB, serverBin string) (_ *server, err error) {
	dir, err := os.MkdirTemp("", "mariadbtest-")
	if err != nil {
		return nil, err
	}
	s := &server{dir: dir}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.stop())
		}
	}()
	// mariadbd refuses to run as root unless told to.
	var asRoot []string
	if os.Geteuid() == 0 {
		asRoot = []string{"--user=root"}
	}
	// normal: root@localhost and root@127.0.0.1 without a password, so
	// that the driver logs in over TCP (no unix_socket plugin needed).
	install := append([]string{"--no-defaults", "--datadir=" + s.data(), "--auth-root-authentication-method=normal",
		"--skip-test-db", "--skip-name-resolve"}, asRoot...)
	if err := runLogged(filepath.Join(dir, "install.log"), 2*time.Minute, installDB, install...); err != nil {
		return nil, err
	}
	if s.port, err = freePort(); err != nil {
		return nil, err
	}
	if err := s.launch(serverBin, asRoot); err != nil {
		return nil, err
	}
	return s, s.waitReady(time.Minute)
}

// launch starts mariadbd in the foreground of a child process. The
// settings trade durability for speed (a test server's data dies with it)
// and keep the buffer pool small: the tests share the machine.
func (s *server) launch(bin string, asRoot []string) error {
	args := append([]string{"--no-defaults",
		"--datadir=" + s.data(),
		"--socket=" + filepath.Join(s.dir, "sock"),
		"--pid-file=" + filepath.Join(s.dir, "mariadbd.pid"),
		"--log-error=" + s.log(),
		"--port=" + fmt.Sprint(s.port),
		"--bind-address=127.0.0.1",
		"--skip-name-resolve",
		"--innodb-buffer-pool-size=64M",
		"--innodb-flush-log-at-trx-commit=0",
		"--innodb-doublewrite=0",
		"--max-connections=200",
	}, asRoot...)
	out, err := os.Create(filepath.Join(s.dir, "stdout"))
	if err != nil {
		return err
	}
	defer out.Close() // the child has its own descriptor
	s.cmd = exec.Command(bin, args...)
	s.cmd.Dir = s.dir
	s.cmd.Stdout, s.cmd.Stderr = out, out
	s.cmd.SysProcAttr = procAttr()
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.done = make(chan struct{})
	go func() {
		_ = s.cmd.Wait()
		close(s.done)
	}()
	return nil
}

// waitReady connects until the server answers, or it exits, or timeout.
func (s *server) waitReady(timeout time.Duration) error {
	db, err := sql.Open("mysql", s.dsn(""))
	if err != nil {
		return err
	}
	s.admin = db
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = db.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("mariadbd exited: %s\n%s", s.cmd.ProcessState, s.tail())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server does not accept connections: %w\n%s", err, s.tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) data() string { return filepath.Join(s.dir, "data") }
func (s *server) log() string  { return filepath.Join(s.dir, "error.log") }

// tail is the end of the server's error log, for a start that failed.
func (s *server) tail() string {
	b, _ := os.ReadFile(s.log())
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func (s *server) dsn(db string) string {
	c := mysql.NewConfig()
	c.User = "root"
	c.Net = "tcp"
	c.Addr = fmt.Sprintf("127.0.0.1:%d", s.port)
	c.DBName = db
	return c.FormatDSN()
}

// stop ends the server (SIGTERM: a clean shutdown; SIGKILL after 30 s)
// and removes its folder.
func (s *server) stop() error {
	if s == nil { // never started
		return nil
	}
	var errs []error
	if s.admin != nil {
		errs = append(errs, s.admin.Close())
	}
	if s.cmd != nil && s.done != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
			errs = append(errs, fmt.Errorf("mariadbd did not stop within 30 s of SIGTERM"))
		}
	}
	errs = append(errs, os.RemoveAll(s.dir))
	return errors.Join(errs...)
}

// runLogged runs a program with its output in logFile, never a pipe, and
// quotes the log in the error.
func runLogged(logFile string, timeout time.Duration, prog string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := os.Create(logFile)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = procAttr()
	if err := cmd.Run(); err != nil {
		msg, _ := os.ReadFile(logFile)
		return fmt.Errorf("%s %v: %w\n%s", prog, args, err, msg)
	}
	return nil
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
