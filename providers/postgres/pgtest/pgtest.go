// Package pgtest starts private PostgreSQL servers for tests: initdb into
// a temporary directory, postgres on a free loopback port with its unix
// socket inside that directory, trust authentication, stopped when the
// test (or the test binary) ends.
//
// The binaries are looked up on PATH (initdb, pg_ctl, postgres), then in
// /usr/lib/postgresql/*/bin, Debian's layout, newest version first. When
// there are none, a test is skipped with the reason, unless the
// environment sets CONVERGE_REQUIRE_POSTGRES=1 (as CI does): then it fails.
//
// initdb and postgres refuse to run as root. When the tests run as root
// they run as the postgres user instead, and the data directory is given
// to that user (its parents made traversable).
//
// Only tests import this package.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// RequireEnv is the environment variable that turns a missing PostgreSQL
// into a failure rather than a skip.
const RequireEnv = "CONVERGE_REQUIRE_POSTGRES"

// Superuser is the name of the bootstrap superuser of every server, and
// SuperuserPassword its password: connections over TCP authenticate with
// SCRAM-SHA-256, those over the unix socket are trusted.
const (
	Superuser         = "postgres"
	SuperuserPassword = "pgtest-superuser-password"
)

// Server is one running PostgreSQL server.
type Server struct {
	Host      string // 127.0.0.1
	Port      int
	SocketDir string // the unix socket directory
	DataDir   string
	Version   int // the major version, 15 for 15.4

	bin     string
	cmd     *exec.Cmd
	logPath string
	cred    *syscall.Credential
	done    chan struct{} // closed when the postmaster exits
	stop    sync.Once
	cleanup []string // directories to remove on Stop
}

// ConnConfig returns the configuration of a superuser connection to
// database db, over TCP; db may be any name (it is not parsed).
func (s *Server) ConnConfig(db string) *pgx.ConnConfig {
	cfg, err := pgx.ParseConfig(s.DSN("postgres"))
	if err != nil {
		panic(err) // DSN is well formed
	}
	cfg.Database = db
	return cfg
}

// DSN returns a keyword/value connection string to database db as the
// superuser, over TCP. db must be a plain name; see ConnConfig for any.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=%s sslmode=disable", s.Host, s.Port, Superuser, SuperuserPassword, db)
}

// Config returns the spec.config of a ProviderConfig that connects to
// this server as the superuser.
func (s *Server) Config() map[string]any {
	return map[string]any{"host": s.Host, "port": int64(s.Port), "user": Superuser, "password": SuperuserPassword, "sslmode": "disable", "database": "postgres"}
}

// Log returns what the server logged so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

// Connect opens a superuser connection to database db, closed when tb ends.
func (s *Server) Connect(tb testing.TB, db string) *pgx.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, s.ConnConfig(db))
	if err != nil {
		tb.Fatalf("connect to %s: %v", db, err)
	}
	tb.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// Exec runs sql on database db as the superuser, out of band, and fails
// tb on an error.
func (s *Server) Exec(tb testing.TB, db, sql string, args ...any) {
	tb.Helper()
	if err := s.TryExec(db, sql, args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// TryExec runs sql on database db as the superuser and returns its error.
func (s *Server) TryExec(db, sql string, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, s.ConnConfig(db))
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	_, err = c.Exec(ctx, sql, args...)
	return err
}

// QueryRow runs sql on database db and scans its one row into dest.
func (s *Server) QueryRow(tb testing.TB, db, sql string, args []any, dest ...any) error {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, s.ConnConfig(db))
	if err != nil {
		tb.Fatalf("connect to %s: %v", db, err)
	}
	defer c.Close(context.Background())
	return c.QueryRow(ctx, sql, args...).Scan(dest...)
}

// Stop stops the server (an immediate shutdown, then a kill) and removes
// its directories when it made them. It is safe to call more than once.
func (s *Server) Stop() {
	s.stop.Do(func() {
		if pgCtl := filepath.Join(s.bin, "pg_ctl"); fileExists(pgCtl) {
			cmd := exec.Command(pgCtl, "stop", "-D", s.DataDir, "-m", "immediate", "-w", "-t", "10")
			s.asServerUser(cmd)
			_ = cmd.Run()
		}
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		for _, d := range s.cleanup {
			_ = os.RemoveAll(d)
		}
	})
}

// Start starts a private server for tb in tb.TempDir() and stops it when
// tb ends. Without PostgreSQL binaries it skips tb (fails it when
// CONVERGE_REQUIRE_POSTGRES=1).
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := FindBin()
	if err != nil {
		missing(tb, err)
	}
	s, err := Launch(bin, tb.TempDir())
	if err != nil {
		tb.Fatalf("start postgres: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// StartServer is Start.
func StartServer(tb testing.TB) *Server { return Start(tb) }

func missing(tb testing.TB, err error) {
	tb.Helper()
	if os.Getenv(RequireEnv) == "1" {
		tb.Fatalf("%v (%s=1: PostgreSQL is required)", err, RequireEnv)
	}
	tb.Skipf("%v: PostgreSQL tests skipped (set %s=1 to make this a failure)", err, RequireEnv)
}

var (
	shared    *Server
	sharedErr error
)

// Main is a TestMain: it starts one server for the whole test binary, in
// a temporary directory, runs the tests and stops it. Tests get it from
// Shared. Without PostgreSQL binaries the tests still run, and Shared
// skips (or fails) them.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	bin, err := FindBin()
	if err != nil {
		sharedErr = err
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "converge-pg-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	s, err := Launch(bin, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start postgres:", err)
		_ = os.RemoveAll(dir)
		return 1
	}
	s.cleanup = append(s.cleanup, dir)
	shared = s
	code := m.Run()
	s.Stop()
	return code
}

// Shared returns the server Main started. Without one (no binaries), it
// skips tb, or fails it when CONVERGE_REQUIRE_POSTGRES=1.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	if shared == nil {
		if sharedErr == nil {
			sharedErr = errors.New("pgtest.Main is not the package's TestMain")
		}
		missing(tb, sharedErr)
	}
	return shared
}

// Name returns a name no other test of this binary uses: prefix, then a
// random suffix, lower case.
func Name(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// debianBins is where Debian's postgresql packages put the binaries.
var debianBins = "/usr/lib/postgresql/*/bin"

// FindBin returns the directory holding initdb and postgres: the one on
// PATH, else the newest /usr/lib/postgresql/*/bin.
func FindBin() (string, error) {
	if initdb, err := exec.LookPath("initdb"); err == nil {
		// The postgres next to initdb, so that the two are of one version.
		if dir := filepath.Dir(initdb); fileExists(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob(debianBins)
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if fileExists(filepath.Join(d, "initdb")) && fileExists(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", errors.New("no PostgreSQL binaries found (initdb and postgres on PATH or in /usr/lib/postgresql/*/bin)")
}

// versionOf reads 15 from /usr/lib/postgresql/15/bin (0 when it cannot).
func versionOf(dir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
	return v
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

// Launch runs initdb into dir/data and starts postgres from bin on a free
// loopback port, waiting until it accepts connections. The caller stops
// it.
func Launch(bin, dir string) (*Server, error) {
	// Resolve links (/usr/local/bin/postgres -> /usr/lib/postgresql/15/bin):
	// postgres finds its share directory relative to its real path.
	if real, err := filepath.EvalSymlinks(filepath.Join(bin, "postgres")); err == nil {
		bin = filepath.Dir(real)
	}
	s := &Server{Host: "127.0.0.1", bin: bin, DataDir: filepath.Join(dir, "data"), logPath: filepath.Join(dir, "postgres.log")}
	if err := s.prepareUser(dir); err != nil {
		return nil, err
	}
	s.SocketDir = filepath.Join(dir, "s")
	if len(s.SocketDir) > 80 { // a socket path is at most 107 bytes
		short, err := os.MkdirTemp("", "pgs")
		if err != nil {
			return nil, err
		}
		s.SocketDir = short
		s.cleanup = append(s.cleanup, short)
	} else if err := os.Mkdir(s.SocketDir, 0o700); err != nil {
		return nil, err
	}
	if err := s.own(s.SocketDir); err != nil {
		return nil, err
	}
	if err := s.initdb(); err != nil {
		return nil, err
	}
	var err error
	for range 3 { // another process may take the free port first
		if err = s.start(); err == nil {
			return s, nil
		}
	}
	return nil, err
}

// prepareUser, when running as root, makes the server run as the
// postgres user: dir belongs to it and its parents can be traversed.
func (s *Server) prepareUser(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("running as root, and initdb refuses root: need a postgres user to run as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if err := s.own(dir); err != nil {
		return err
	}
	// Every parent up to the root must be traversable by that user.
	for p := filepath.Dir(dir); p != "/" && p != "."; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(p, fi.Mode().Perm()|0o011); err != nil {
				return fmt.Errorf("make %s traversable for the postgres user: %w", p, err)
			}
		}
	}
	return nil
}

// own gives p to the server's user, when it runs as another one.
func (s *Server) own(p string) error {
	if s.cred == nil {
		return nil
	}
	return os.Chown(p, int(s.cred.Uid), int(s.cred.Gid))
}

func (s *Server) asServerUser(cmd *exec.Cmd) {
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
}

func (s *Server) initdb() error {
	pwfile := filepath.Join(filepath.Dir(s.DataDir), "pwfile")
	if err := os.WriteFile(pwfile, []byte(SuperuserPassword+"\n"), 0o600); err != nil {
		return err
	}
	if err := s.own(pwfile); err != nil {
		return err
	}
	defer os.Remove(pwfile)
	args := []string{"-D", s.DataDir, "-U", Superuser, "--pwfile=" + pwfile,
		"--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "-E", "UTF8", "--locale=C"}
	cmd := exec.Command(filepath.Join(s.bin, "initdb"), args...)
	s.asServerUser(cmd)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out.String())
	}
	return s.readVersion()
}

func (s *Server) readVersion() error {
	b, err := os.ReadFile(filepath.Join(s.DataDir, "PG_VERSION"))
	if err != nil {
		return err
	}
	s.Version, _ = strconv.Atoi(strings.TrimSpace(string(b)))
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

func (s *Server) start() error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.Port = port
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(s.bin, "postgres"), "-D", s.DataDir,
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+s.SocketDir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200",
		// Every statement is logged, so that tests can check what
		// reached the server's log.
		"-c", "log_statement=all",
	)
	s.asServerUser(cmd)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("postgres: %w", err)
	}
	logf.Close()
	s.cmd = cmd
	s.done = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := pgx.Connect(ctx, s.DSN("postgres"))
		cancel()
		if err == nil {
			c.Close(context.Background())
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("postgres exited before accepting connections:\n%s", tail(s.Log(), 2000))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-s.done
			return fmt.Errorf("postgres did not accept connections within 60s: %v\n%s", err, tail(s.Log(), 2000))
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
