// Package pgtest runs throwaway PostgreSQL servers for tests.
//
// A test that needs PostgreSQL starts a real one (STYLE.md: real parts in
// tests) rather than mocking it. Start gives a test its own server; Shared
// gives every test of a package one server started lazily and stopped by Main,
// because starting a cluster costs a second or two and a package may have many
// tests. Each test then takes its own database with CreateDB.
//
// When no PostgreSQL server binaries are installed the test is skipped, except
// when the environment says CI=true: CI must never pass by skipping.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Superuser is the name of the bootstrap superuser of every cluster; DSNs
// connect as it without a password (the cluster trusts local connections).
const Superuser = "postgres"

// startTimeout bounds how long a fresh cluster may take to accept
// connections; on a loaded 2-core machine with the race detector this can be
// several seconds.
const startTimeout = 60 * time.Second

// stopTimeout bounds a fast shutdown before the server is killed.
const stopTimeout = 20 * time.Second

// versionedBinGlob is where Debian and Ubuntu install each PostgreSQL
// version; a variable so that tests can simulate a machine without them.
var versionedBinGlob = "/usr/lib/postgresql/*/bin"

// ErrNoBinaries is returned (wrapped) when no PostgreSQL server binaries are
// found on PATH or under /usr/lib/postgresql.
var ErrNoBinaries = errors.New("no PostgreSQL server binaries (initdb, postgres) on PATH or in /usr/lib/postgresql/*/bin")

// Server is a running throwaway PostgreSQL cluster listening on 127.0.0.1.
type Server struct {
	// Host is the address the server listens on (always 127.0.0.1).
	Host string
	// Port is the TCP port the server listens on.
	Port int
	// Dir is the directory holding the cluster's data, socket and log.
	Dir string

	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd.Wait returns
	waitErr error         // set before exited is closed
	logPath string
	ownDir  bool // Dir was made by this package and is removed by Stop

	// What Up needs to start the same cluster again.
	binDir, dataDir, sockDir string
	cred                     *syscall.Credential

	stopOnce sync.Once
	stopErr  error
	dbSeq    atomic.Int64
}

// Start starts a PostgreSQL server for tb and stops it when tb's cleanup runs.
// It skips tb when PostgreSQL is not installed (fails it when CI=true).
func Start(tb testing.TB) *Server {
	tb.Helper()
	binDir := binariesOrSkip(tb)
	dir := tb.TempDir()
	s, err := start(binDir, dir, false)
	if err != nil {
		tb.Fatalf("start PostgreSQL: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Errorf("stop PostgreSQL: %v", err)
		}
	})
	return s
}

// New is Start under the name some callers expect.
func New(tb testing.TB) *Server {
	tb.Helper()
	return Start(tb)
}

var shared struct {
	mu  sync.Mutex // guards the fields below
	srv *Server
	err error
}

// Shared returns the test binary's shared server, starting it on first use.
// The server outlives tb: the package's TestMain must call Main so that it is
// stopped when the tests finish. It skips tb when PostgreSQL is not installed
// (fails it when CI=true).
func Shared(tb testing.TB) *Server {
	tb.Helper()
	binDir := binariesOrSkip(tb)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil && shared.err == nil {
		dir, err := os.MkdirTemp("", "pgtest-")
		if err != nil {
			shared.err = fmt.Errorf("make temp dir: %w", err)
		} else {
			shared.srv, shared.err = start(binDir, dir, true)
			if shared.err != nil {
				os.RemoveAll(dir)
			}
		}
	}
	if shared.err != nil {
		// Remembered so that every test reports the one start failure
		// instead of each retrying a slow start.
		tb.Fatalf("start shared PostgreSQL: %v", shared.err)
	}
	return shared.srv
}

// Main runs the tests of m, stops the shared server if one was started, and
// exits with the tests' status. Call it from TestMain of any package that
// uses Shared.
func Main(m *testing.M) {
	code := m.Run()
	if err := StopShared(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: stop shared PostgreSQL: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// StopShared stops the shared server if one is running. Main calls it; it is
// exported for TestMain functions that do more than Main.
func StopShared() error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil {
		return nil
	}
	err := shared.srv.Stop()
	shared.srv = nil
	return err
}

// DSN returns a pgx connection string for database dbname on s.
func (s *Server) DSN(dbname string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(Superuser),
		Host:     net.JoinHostPort(s.Host, strconv.Itoa(s.Port)),
		Path:     "/" + dbname,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

var unsafeName = regexp.MustCompile(`[^a-z0-9_]+`)

// CreateDB creates a fresh, empty database on s and returns its DSN. An empty
// name derives one from tb's name; either way a per-server counter is appended
// so that repeated and parallel tests never collide.
func (s *Server) CreateDB(tb testing.TB, name string) string {
	tb.Helper()
	if name == "" {
		name = tb.Name()
	}
	name = strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(name), "_"), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	name = fmt.Sprintf("%s_%d", name, s.dbSeq.Add(1))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		tb.Fatalf("connect to postgres database: %v", err)
	}
	defer conn.Close(context.Background())
	// The name is sanitised above to [a-z0-9_], so quoting it is enough.
	if _, err := conn.Exec(ctx, `CREATE DATABASE "`+name+`"`); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	return s.DSN(name)
}

// Stop shuts the server down (fast shutdown, then kill after a timeout) and,
// for a shared server, removes its directory. It is safe to call more than
// once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.stopErr = s.stop()
		if s.ownDir {
			if err := os.RemoveAll(s.Dir); err != nil && s.stopErr == nil {
				s.stopErr = fmt.Errorf("remove %s: %w", s.Dir, err)
			}
		}
	})
	return s.stopErr
}

func (s *Server) stop() error {
	select {
	case <-s.exited:
		return nil
	default:
	}
	// SIGINT to the postmaster is PostgreSQL's "fast shutdown", exactly what
	// `pg_ctl stop -m fast` sends; signalling directly saves a process start
	// and needs no second credential switch when running as root.
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal postmaster: %w", err)
	}
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-s.exited:
		return nil
	case <-timer.C:
	}
	// The postmaster runs in its own process group, so this also reaches any
	// backend it failed to stop.
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
	return fmt.Errorf("postmaster did not stop within %s; killed", stopTimeout)
}

// Down shuts the server down (fast shutdown) and keeps its cluster, so that Up can
// start it again: a test sees what clients see when a plant's database is stopped for
// maintenance. Stop still cleans up afterwards.
func (s *Server) Down() error {
	return s.stop()
}

// Up starts a server stopped by Down again, on the same port and data.
func (s *Server) Up() error {
	select {
	case <-s.exited:
	default:
		return errors.New("pgtest: Up: the server is running")
	}
	n, err := launch(s.binDir, s.Dir, s.dataDir, s.sockDir, s.cred, s.Port)
	if err != nil {
		return err
	}
	s.cmd, s.exited = n.cmd, n.exited
	return nil
}

// LogPath is the server's log file, which every run of the server appends to.
func (s *Server) LogPath() string { return s.logPath }

// binariesOrSkip returns the directory of the server binaries or ends tb.
func binariesOrSkip(tb testing.TB) string {
	tb.Helper()
	dir, err := FindBinaries()
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("PostgreSQL is required when CI=true: %v", err)
			return ""
		}
		tb.Skipf("skipping: %v (install PostgreSQL, e.g. Debian package postgresql-15)", err)
	}
	return dir
}

// FindBinaries returns the directory holding initdb and postgres: the one on
// PATH if any, otherwise the highest version under /usr/lib/postgresql.
func FindBinaries() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if isExecutable(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob(versionedBinGlob)
	// Highest version first; the version is the directory name, compared as
	// a number so that 9.6 < 15.
	sort.Slice(dirs, func(i, j int) bool {
		return versionOf(dirs[i]) > versionOf(dirs[j])
	})
	for _, dir := range dirs {
		if isExecutable(filepath.Join(dir, "initdb")) && isExecutable(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	return "", ErrNoBinaries
}

func versionOf(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// start initialises a cluster under dir and starts it.
func start(binDir, dir string, ownDir bool) (*Server, error) {
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	dataDir := filepath.Join(dir, "data")
	sockDir := filepath.Join(dir, "sock")
	if cred != nil {
		// PostgreSQL refuses to run as root, so the cluster belongs to an
		// unprivileged user, who needs to reach dir and, for a test's temp
		// dir, its per-test parent (both made 0700 by the test framework).
		// A shared server's parent is the system temp dir, left alone.
		open := []string{filepath.Dir(dir), dir}
		if ownDir {
			open = open[1:]
		}
		for _, d := range open {
			if err := os.Chmod(d, 0o711); err != nil {
				return nil, fmt.Errorf("open %s to the cluster user: %w", d, err)
			}
		}
	}
	for _, d := range []string{dataDir, sockDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, fmt.Errorf("make %s: %w", d, err)
		}
		if cred != nil {
			if err := os.Chown(d, int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, fmt.Errorf("chown %s: %w", d, err)
			}
		}
	}

	var out bytes.Buffer
	initdb := exec.Command(filepath.Join(binDir, "initdb"),
		"-D", dataDir, "-U", Superuser, "--auth=trust", "--encoding=UTF8", "--locale=C",
		// A throwaway cluster never needs to survive a crash.
		"--no-sync")
	initdb.Stdout, initdb.Stderr = &out, &out
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Env = clusterEnv()
	if err := initdb.Run(); err != nil {
		return nil, fmt.Errorf("initdb: %w: %s", err, strings.TrimSpace(out.String()))
	}

	// A port picked here may be taken by someone else before postgres binds
	// it; retry with a new one rather than fail the test.
	var lastErr error
	for range 3 {
		s, err := launch(binDir, dir, dataDir, sockDir, cred, 0)
		if err == nil {
			s.ownDir = ownDir
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// launch starts postgres on an initialised cluster, on port (0: a free one).
func launch(binDir, dir, dataDir, sockDir string, cred *syscall.Credential, port int) (*Server, error) {
	if port == 0 {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		port = p
	}
	logPath := filepath.Join(dir, "postgres.log")
	// Appended to: a server started again by Up keeps the log of its earlier runs.
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open server log: %w", err)
	}
	defer logf.Close() // the child holds its own descriptor

	cmd := exec.Command(filepath.Join(binDir, "postgres"),
		"-D", dataDir,
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+sockDir,
		// Durability is worthless for a throwaway cluster and costs most of
		// the time of bulk loads.
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=100",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = dir
	cmd.Env = clusterEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: cred,
		Setpgid:    true,
		// If the test binary dies without cleaning up (kill -9, a panic in
		// TestMain), immediate shutdown stops the cluster instead of leaving
		// it running.
		Pdeathsig: syscall.SIGQUIT,
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	s := &Server{
		Host:    "127.0.0.1",
		Port:    port,
		Dir:     dir,
		cmd:     cmd,
		exited:  make(chan struct{}),
		logPath: logPath,
		binDir:  binDir,
		dataDir: dataDir,
		sockDir: sockDir,
		cred:    cred,
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(); err != nil {
		_ = s.stop()
		return nil, err
	}
	return s, nil
}

// waitReady polls until the server accepts a query, it exits, or the
// deadline passes.
func (s *Server) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := pgx.Connect(ctx, s.DSN("postgres")+"&connect_timeout=5")
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(context.Background())
			if err == nil {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("postgres exited during start: %v: %s", s.waitErr, s.logTail())
		case <-ctx.Done():
			return fmt.Errorf("postgres not ready after %s: %v: %s", startTimeout, err, s.logTail())
		case <-tick.C:
		}
	}
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// credential returns the unprivileged user to run the cluster as when this
// process is root, and nil otherwise.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
	}
	return nil, errors.New("running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as")
}

// clusterEnv is the environment for initdb and postgres: the caller's, minus
// variables that would point libpq-style tools at another server, with a
// locale that initdb accepts everywhere.
func clusterEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C")
}
