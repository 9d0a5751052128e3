package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PgBouncerInstallHint is how to get PgBouncer on Debian.
const PgBouncerInstallHint = "install Debian's PgBouncer: apt-get install -y pgbouncer (or run bash scripts/test.sh, which does)"

// StartPgBouncer starts Debian's PgBouncer in front of c, on a free 127.0.0.1 port, pooling
// in mode ("session" or "transaction") and logging in to every database as the cluster's
// superuser; settings are more lines of its [pgbouncer] section ("name = value"). It is
// stopped at t's cleanup. Its Via turns a database's URL into one through it.
func (c *Cluster) StartPgBouncer(t testing.TB, mode string, settings ...string) *PgBouncer {
	t.Helper()
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/pgbouncer"); serr != nil {
			t.Fatalf("PgBouncer is needed by this test and is not installed (%v): %s", err, PgBouncerInstallHint)
		}
		bin = "/usr/sbin/pgbouncer"
	}
	// In the cluster's directory: PgBouncer refuses to run as root, and runs as the
	// cluster's user, who owns it.
	dir, err := os.MkdirTemp(c.dir, "pgbouncer-")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.chown(dir); err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`[databases]
* = host=127.0.0.1 port=%d user=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = any
pool_mode = %s
max_client_conn = 500
default_pool_size = 50
logfile = %s
%s
`, c.port, port, mode, filepath.Join(dir, "pgbouncer.log"), strings.Join(settings, "\n"))
	ini := filepath.Join(dir, "pgbouncer.ini")
	if err := os.WriteFile(ini, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.chown(ini); err != nil {
		t.Fatal(err)
	}

	// Stopped at t's cleanup with SIGINT (PgBouncer's immediate shutdown), killed if it has
	// not exited 10 s later.
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, ini)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Credential: c.credential()}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = 10 * time.Second
	var out SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start PgBouncer: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cancel()
		<-exited
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	waitListening(t, "PgBouncer", addr, Deadline, exited, func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
		return tail(out.String()+string(b), 2000)
	})
	return &PgBouncer{addr: addr, server: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port))}
}

// PgBouncer is a running PgBouncer (StartPgBouncer).
type PgBouncer struct {
	addr   string // where it listens
	server string // the cluster's address, which it connects to
}

// Via turns dsn, a URL of a database on the cluster (Cluster.CreateDatabase, PostgresDB),
// into the same database's URL through this PgBouncer.
func (p *PgBouncer) Via(dsn string) string {
	return strings.Replace(dsn, p.server, p.addr, 1)
}
