package server_test

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/testenv"
)

// runHealth runs `livegate health` with args (and env, if any) and returns its exit code,
// stdout and stderr.
func runHealth(t *testing.T, bin string, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"health", "--timeout", "10s"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("run livegate health: %v", err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// TestHealthAndVersionCommands runs the real binary: `livegate health` exits 0 against a
// serving livegate (address from --admin-addr or LIVEGATE_ADMIN_ADDR), 1 with the reason on
// stderr when nothing listens there, and 1 naming "shutting down" while the server shuts down
// (held open by an unfinished upload); `livegate version` prints the version, the commit and
// the Go version.
func TestHealthAndVersionCommands(t *testing.T) {
	bin := buildLivegate(t)
	p := startProcess(t, bin, t.TempDir())
	if p.admin == "" {
		t.Fatal("the serving line names no admin address")
	}

	if code, out, errOut := runHealth(t, bin, nil, "--admin-addr", p.admin); code != 0 || strings.TrimSpace(out) != "ok" {
		t.Errorf("health --admin-addr %s: exit %d, stdout %q, stderr %q; want 0, ok", p.admin, code, out, errOut)
	}
	if code, _, errOut := runHealth(t, bin, []string{"LIVEGATE_ADMIN_ADDR=" + p.admin}); code != 0 {
		t.Errorf("health with LIVEGATE_ADMIN_ADDR: exit %d, stderr %q; want 0", code, errOut)
	}
	closed := testenv.FreeAddr(t)
	if code, _, errOut := runHealth(t, bin, nil, "--admin-addr", closed); code != 1 || !strings.Contains(errOut, "livegate is not ready") {
		t.Errorf("health against %s (nobody listens): exit %d, stderr %q; want 1 and the reason", closed, code, errOut)
	}

	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("version: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "livegate ") || !strings.HasPrefix(lines[1], "commit ") || lines[2] != "go "+runtime.Version() {
		t.Errorf("version printed %q; want livegate <version>, commit <commit>, go %s", out, runtime.Version())
	}

	// An upload that never finishes holds the graceful shutdown open: meanwhile the server is
	// not ready.
	conn, err := net.Dial("tcp", p.http)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("POST /accounts/a/realtime/kit/b/livestreams HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the request is being read
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, _, errOut := runHealth(t, bin, nil, "--admin-addr", p.admin)
		if code == 1 && strings.Contains(errOut, "shutting down") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("health while shutting down: exit %d, stderr %q; want 1 naming the shutdown", code, errOut)
		}
		time.Sleep(20 * time.Millisecond)
	}
	conn.Close()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("livegate did not exit after SIGTERM")
	}
}
