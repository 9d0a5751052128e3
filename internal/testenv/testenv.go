// Package testenv finds and runs the real programs livegate's tests run beside it (nginx
// with the RTMP module, ffmpeg). A missing program fails the test, never skips it: a test that skips
// is a test that does not run. `.ci/run` installs them (Debian: nginx libnginx-mod-rtmp
// ffmpeg).
package testenv

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// LookPath returns the path of the program name, or fails t saying how to install it.
func LookPath(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is needed by this test and is not installed (%v); on Debian: apt-get install -y nginx libnginx-mod-rtmp ffmpeg, or run bash scripts/test.sh", name, err)
	}
	return path
}

// NginxRTMP returns the nginx binary, or fails t when nginx or the RTMP module at module
// (nginxconf.DefaultModule, where Debian's libnginx-mod-rtmp installs it) is missing.
func NginxRTMP(t testing.TB, module string) (nginx string) {
	t.Helper()
	nginx = LookPath(t, "nginx")
	if _, err := os.Stat(module); err != nil {
		t.Fatalf("the nginx RTMP module is needed by this test and is not installed (%v); on Debian: apt-get install -y libnginx-mod-rtmp", err)
	}
	return nginx
}

// Deadline bounds every wait of the end-to-end tests: anything expected arrives long before.
const Deadline = 30 * time.Second

// WaitFor polls cond until it holds, failing the test if it does not within Deadline.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	WaitWithin(t, Deadline, what, cond)
}

// WaitWithin polls cond until it holds, failing the test if it does not within d.
func WaitWithin(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// FreeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Nginx is an nginx running in the foreground for a test.
type Nginx struct {
	exited chan struct{}
	log    SyncBuffer
}

// StartNginx runs nginx in the foreground on conf with prefix, and waits until it accepts
// connections on every one of addrs. It stops when the test ends: SIGQUIT (graceful), then
// SIGKILL to its whole process group after 5 s. Its log is shown when the test failed.
func StartNginx(t testing.TB, nginx, conf, prefix string, addrs ...string) *Nginx {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, nginx, "-c", conf, "-p", prefix, "-g", "daemon off;")
	n := &Nginx{exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &n.log, &n.log
	// Its own process group, so that its workers can be killed with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGQUIT) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		close(n.exited)
	}()
	t.Cleanup(func() {
		cancel()
		<-n.exited
		if !cmd.ProcessState.Exited() {
			// SIGQUIT did not stop it in time and WaitDelay killed the master: kill the
			// workers it may have left.
			if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				t.Errorf("kill nginx's process group: %v", err)
			}
			t.Errorf("nginx did not stop on SIGQUIT: %v", cmd.ProcessState)
		}
		if t.Failed() {
			t.Logf("nginx's log:\n%s", n.Log())
		}
	})
	for _, addr := range addrs {
		n.waitDial(t, addr, 15*time.Second)
	}
	return n
}

// Log is what nginx wrote so far (its error_log goes to stderr).
func (n *Nginx) Log() string { return n.log.String() }

// waitDial waits until addr accepts TCP connections.
func (n *Nginx) waitDial(t testing.TB, addr string, within time.Duration) {
	t.Helper()
	waitListening(t, "nginx", addr, within, n.exited, n.Log)
}

// waitListening waits until addr accepts TCP connections, failing t when the program (what)
// exits first (exited closes), showing its log, or when within has passed.
func waitListening(t testing.TB, what, addr string, within time.Duration, exited <-chan struct{}, log func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("%s exited before it listened on %s:\n%s", what, addr, log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not accept connections on %s after %v: %v\n%s", what, addr, within, err, log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SyncBuffer is a bytes.Buffer that a program (a command's output, a server's log) writes
// while the test reads it: safe for concurrent writes and reads.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Take returns what was written since the last Take (or since the start) and empties the
// buffer, in one step: nothing written meanwhile is lost.
func (s *SyncBuffer) Take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	text := s.b.String()
	s.b.Reset()
	return text
}

// Lines returns the lines written so far that contain match ("": every line), without the
// newline that ends the last one.
func (s *SyncBuffer) Lines(match string) []string {
	text := strings.TrimSuffix(s.String(), "\n")
	if text == "" {
		return nil
	}
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, match) {
			out = append(out, line)
		}
	}
	return out
}
