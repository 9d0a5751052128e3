// Package testenv starts what livegate's tests run beside it. This file: a throwaway
// PostgreSQL cluster (Debian's server binaries, PostgreSQL 15 preferred), initialised in a
// temporary directory, listening on a free 127.0.0.1 port and on a unix socket inside that
// directory, and stopped by the test that started it.
//
// A cluster costs one to two seconds to start; a database on it a few milliseconds. Packages
// with many PostgreSQL tests share one cluster per test binary:
//
//	func TestMain(m *testing.M) { testenv.RunMain(m) }
//
//	func TestX(t *testing.T) {
//		dsn := testenv.PostgresDB(t) // a new, empty database on the shared cluster
//	}
//
// StartPostgres starts a cluster of its own for one test.
//
// Missing binaries fail the test with the command that installs them (scripts/test.sh
// installs them when run as root); tests never skip for want of PostgreSQL.
package testenv

import (
	"context"
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
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// InstallHint is how to get the PostgreSQL server binaries on Debian.
const InstallHint = "install Debian's PostgreSQL server: apt-get install -y postgresql (or run bash scripts/test.sh, which does)"

// Cluster is a running throwaway PostgreSQL cluster.
type Cluster struct {
	dir     string // temporary directory: data/ and sock/
	bin     string // directory of initdb, pg_ctl, postgres
	port    int
	asUser  *user.User // the user the server runs as when we are root; nil otherwise
	version int        // server_version_num
	stopped atomic.Bool
	dbs     atomic.Int64
	durable bool     // fsync and full page writes on (see NewDurableCluster)
	env     []string // more environment for the server (NewClusterWithClock)
}

// findBin returns the directory holding initdb and pg_ctl: Debian's
// /usr/lib/postgresql/<version>/bin, version 15 if present, else the newest; else the
// directory of an initdb on PATH that has pg_ctl beside it.
func findBin() (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if has("/usr/lib/postgresql/15/bin") {
		return "/usr/lib/postgresql/15/bin", nil
	}
	entries, _ := os.ReadDir("/usr/lib/postgresql")
	var versions []int
	for _, e := range entries {
		if v, err := strconv.Atoi(e.Name()); err == nil && has(filepath.Join("/usr/lib/postgresql", e.Name(), "bin")) {
			versions = append(versions, v)
		}
	}
	if len(versions) > 0 {
		sort.Ints(versions)
		return filepath.Join("/usr/lib/postgresql", strconv.Itoa(versions[len(versions)-1]), "bin"), nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil && has(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
	}
	return "", fmt.Errorf("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in /usr/lib/postgresql/*/bin or on PATH: %s", InstallHint)
}

// NewCluster initialises and starts a cluster in a new temporary directory. Stop it with
// Stop, which also removes the directory. Its data is throwaway: it runs without fsync.
func NewCluster() (*Cluster, error) { return newCluster(false) }

// NewDurableCluster is NewCluster with PostgreSQL's durability on (fsync, full page writes,
// as a production server runs): for benchmarks that compare what a durable commit costs.
func NewDurableCluster() (*Cluster, error) { return newCluster(true) }

// FaketimeInstallHint says how to get libfaketime, which NewClusterWithClock needs.
const FaketimeInstallHint = "install Debian's faketime: apt-get install -y faketime (or run bash scripts/test.sh, which does)"

// NewClusterWithClock is NewCluster whose server's clock is offset from this machine's (a
// database server whose clock differs from a node's): PostgreSQL runs under libfaketime
// (LD_PRELOAD, FAKETIME), which moves what its time functions, clock_timestamp() among them,
// return. No libfaketime is an error naming the package.
func NewClusterWithClock(offset time.Duration) (*Cluster, error) {
	libs, _ := filepath.Glob("/usr/lib/*/faketime/libfaketime.so.1")
	if len(libs) == 0 {
		return nil, errors.New("postgres: no libfaketime.so.1 under /usr/lib/*/faketime: " + FaketimeInstallHint)
	}
	return newCluster(false, "LD_PRELOAD="+libs[0], fmt.Sprintf("FAKETIME=%+ds", int64(offset/time.Second)), "FAKETIME_NO_CACHE=1")
}

func newCluster(durable bool, env ...string) (*Cluster, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin, durable: durable, env: env}
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root: run them as the postgres user that
		// Debian's package creates.
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, and there is no postgres user to run the server as (%v): %s", err, InstallHint)
		}
		c.asUser = u
	}
	// Not t.TempDir(): its parent directory is 0700 and root's, which the postgres user
	// cannot traverse. os.TempDir() (/tmp) is world-traversable.
	c.dir, err = os.MkdirTemp("", "livegate-pg-")
	if err != nil {
		return nil, fmt.Errorf("postgres: temporary directory: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			c.Stop()
		}
	}()
	for _, d := range []string{c.dir, filepath.Join(c.dir, "sock")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
		if err := c.chown(d); err != nil {
			return nil, err
		}
	}
	if c.asUser != nil {
		if err := c.run(exec.Command("test", "-w", c.dir)); err != nil {
			return nil, fmt.Errorf("postgres: the postgres user cannot reach %s (is a parent directory not traversable? set TMPDIR to one that is): %w", c.dir, err)
		}
	}
	if err := c.run(exec.Command(filepath.Join(bin, "initdb"), "-D", c.data(), "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync")); err != nil {
		return nil, fmt.Errorf("postgres: initdb: %w", err)
	}
	// Start on a free port; another process may take it between our probe and the
	// server's bind, so try a few.
	for attempt := 0; ; attempt++ {
		c.port, err = freePort()
		if err != nil {
			return nil, err
		}
		err = c.start()
		if err == nil {
			break
		}
		if attempt == 4 {
			return nil, err
		}
	}
	ok = true
	return c, nil
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

// chown gives path to the user the server runs as (nothing to do when not root).
func (c *Cluster) chown(path string) error {
	if c.asUser == nil {
		return nil
	}
	uid, _ := strconv.Atoi(c.asUser.Uid)
	gid, _ := strconv.Atoi(c.asUser.Gid)
	if err := os.Chown(path, uid, gid); err != nil {
		return fmt.Errorf("postgres: chown %s to postgres: %w", path, err)
	}
	return nil
}

// credential is the server's user's, for a command run as that user (nil when not root).
func (c *Cluster) credential() *syscall.Credential {
	if c.asUser == nil {
		return nil
	}
	uid, _ := strconv.ParseUint(c.asUser.Uid, 10, 32)
	gid, _ := strconv.ParseUint(c.asUser.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// run runs cmd as the server's user, returning its output in the error when it fails.
func (c *Cluster) run(cmd *exec.Cmd) error {
	cmd.Env = append(os.Environ(), c.env...)
	if c.asUser != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.credential()}
		cmd.Env = append(cmd.Env, "HOME="+c.asUser.HomeDir, "USER=postgres", "LOGNAME=postgres")
	}
	cmd.Dir = c.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// start runs pg_ctl start and waits until the server accepts connections.
func (c *Cluster) start() error {
	args := []string{
		"-c listen_addresses=127.0.0.1",
		"-p " + strconv.Itoa(c.port),
		"-c unix_socket_directories=" + filepath.Join(c.dir, "sock"),
		"-c max_connections=200",
	}
	if !c.durable {
		// Throwaway data: no fsync (a test asserts nothing about power loss).
		args = append(args, "-c fsync=off", "-c full_page_writes=off")
	}
	opts := strings.Join(args, " ")
	logFile := filepath.Join(c.dir, "server.log")
	err := c.run(exec.Command(filepath.Join(c.bin, "pg_ctl"), "start", "-D", c.data(), "-w", "-t", "60",
		"-l", logFile, "-o", opts))
	if err != nil {
		log, _ := os.ReadFile(logFile)
		return fmt.Errorf("postgres: start on 127.0.0.1:%d: %w\nserver log:\n%s", c.port, err, tail(string(log), 2000))
	}
	// pg_ctl -w waits for the server; make sure it answers over TCP too.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, c.DSN("postgres"))
		if err == nil {
			defer conn.Close(ctx)
			return conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&c.version)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("postgres: started, but 127.0.0.1:%d does not accept connections: %w", c.port, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// freePort returns a TCP port on 127.0.0.1 nobody listens on at the moment.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("postgres: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Port is the TCP port the server listens on, on 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// Dir is the cluster's temporary directory (data/ holds the data directory, sock/ the unix
// socket, server.log the server's log).
func (c *Cluster) Dir() string { return c.dir }

// DSN is the postgres:// URL of database db, as the superuser postgres (no password).
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// CreateDatabase creates a new, empty database and returns its DSN.
func (c *Cluster) CreateDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), c.dbs.Add(1))
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return "", fmt.Errorf("postgres: connect to create a database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	q := "CREATE DATABASE " + name
	if c.version >= 150000 {
		// Copying template1's files is faster here than WAL-logging every block (the
		// default since 15): about 120 ms a database against 200.
		q += " STRATEGY = FILE_COPY"
	}
	if _, err := conn.Exec(ctx, q); err != nil {
		return "", fmt.Errorf("postgres: create database %s: %w", name, err)
	}
	return c.DSN(name), nil
}

// Stop stops the server (pg_ctl stop -m fast) and removes the cluster's directory. It may
// be called more than once.
func (c *Cluster) Stop() error {
	if c == nil || c.stopped.Swap(true) {
		return nil
	}
	var err error
	if _, statErr := os.Stat(filepath.Join(c.data(), "postmaster.pid")); statErr == nil {
		err = c.run(exec.Command(filepath.Join(c.bin, "pg_ctl"), "stop", "-D", c.data(), "-m", "fast", "-w", "-t", "60"))
	}
	if rmErr := os.RemoveAll(c.dir); rmErr != nil && err == nil {
		err = rmErr
	}
	return err
}

// Restart stops the server and starts it again on the same port (for tests of what
// survives a database restart).
func (c *Cluster) Restart() error {
	if err := c.run(exec.Command(filepath.Join(c.bin, "pg_ctl"), "stop", "-D", c.data(), "-m", "fast", "-w", "-t", "60")); err != nil {
		return err
	}
	return c.start()
}

// Halt stops the server and keeps its data (for tests of what happens while the database
// is down); Resume starts it again on the same port.
func (c *Cluster) Halt() error {
	return c.run(exec.Command(filepath.Join(c.bin, "pg_ctl"), "stop", "-D", c.data(), "-m", "fast", "-w", "-t", "60"))
}

// Resume starts the server Halt stopped, and waits until it accepts connections.
func (c *Cluster) Resume() error { return c.start() }

// StartPostgres starts a cluster of t's own, stopped at t's cleanup, and returns the DSN of
// a new database on it. A missing PostgreSQL fails t with the install hint.
func StartPostgres(t testing.TB) (dsn string) {
	t.Helper()
	c, err := NewCluster()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop PostgreSQL: %v", err)
		}
	})
	dsn, err = c.CreateDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// The shared cluster of a test binary (RunMain, PostgresDB).
var shared struct {
	inMain  bool
	once    sync.Once
	cluster *Cluster
	err     error
}

// RunMain runs the tests of a package whose tests use PostgresDB, stops the shared cluster
// (if a test started it) and exits. Call it from TestMain.
func RunMain(m *testing.M) {
	shared.inMain = true
	code := m.Run()
	if shared.cluster != nil {
		if err := shared.cluster.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: stop the shared PostgreSQL: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// SharedCluster returns the test binary's shared cluster, starting it on first use. The
// package's TestMain must call RunMain, which stops it.
func SharedCluster(t testing.TB) *Cluster {
	t.Helper()
	if !shared.inMain {
		t.Fatal("testenv: the shared PostgreSQL needs func TestMain(m *testing.M) { testenv.RunMain(m) } in the test package")
	}
	shared.once.Do(func() { shared.cluster, shared.err = NewCluster() })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.cluster
}

// PostgresDB returns the DSN of a new, empty database on the test binary's shared cluster
// (see RunMain).
func PostgresDB(t testing.TB) (dsn string) {
	t.Helper()
	dsn, err := SharedCluster(t).CreateDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}
