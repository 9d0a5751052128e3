package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
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

	"github.com/google/uuid"

	"github.com/livegate/livegate/internal/auth"
)

// buildLivegate compiles the livegate binary into a temporary directory.
func buildLivegate(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "livegate")
	out, err := exec.Command("go", "build", "-o", bin, "../../cmd/livegate").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// process is livegate running as a child process.
type process struct {
	cmd   *exec.Cmd
	http  string
	grpc  string        // set before http is
	admin string        // the admin listener's address; set before http is
	done  chan struct{} // closed when its stderr has ended and it has exited
	err   error         // its exit status, once done

	mu    sync.Mutex
	lines []string // what it wrote on stderr
}

// maxProcessLines bounds the stderr lines a process keeps (text).
const maxProcessLines = 20000

// text is what the process has written on stderr so far (its newest lines, past
// maxProcessLines).
func (p *process) text() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// createAppCLI creates an app with `livegate apps create`.
func createAppCLI(t *testing.T, bin, dataDir, acc, app string) auth.Credentials {
	t.Helper()
	out, err := exec.Command(bin, "apps", "create", "--create", "--data-dir", dataDir, "--account", acc, "--app", app).Output()
	if err != nil {
		t.Fatalf("apps create %s/%s: %v", acc, app, err)
	}
	var creds auth.Credentials
	if err := json.Unmarshal(out, &creds); err != nil || creds.APIToken == "" || creds.WebhookSecret == "" {
		t.Fatalf("apps create printed %q: %v", out, err)
	}
	return creds
}

// startProcess runs `livegate serve` on free loopback ports, with more flags if given, and
// waits until it serves.
func startProcess(t *testing.T, bin, dataDir string, flags ...string) *process {
	t.Helper()
	return startProcessWith(t, procOptions{}, bin, dataDir, flags...)
}

// procOptions are how startProcessWith runs serve: through the program and arguments of via
// (such as nohup), if any, with env added to the environment.
type procOptions struct {
	via, env []string
}

// startProcessWith is startProcess run as o says.
func startProcessWith(t *testing.T, o procOptions, bin, dataDir string, flags ...string) *process {
	t.Helper()
	argv := append(append([]string(nil), o.via...), bin, "serve", "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--data-dir", dataDir)
	argv = append(argv, flags...)
	cmd := exec.Command(argv[0], argv[1:]...)
	if o.env != nil {
		cmd.Env = append(os.Environ(), o.env...)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			if len(p.lines) == maxProcessLines { // a long run under load: keep the newest
				p.lines = append(p.lines[:0], p.lines[maxProcessLines/2:]...)
			}
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
			var line struct {
				Msg   string `json:"msg"`
				HTTP  string `json:"http"`
				GRPC  string `json:"grpc"`
				Admin string `json:"admin"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "livegate serving" {
				p.grpc, p.admin = line.GRPC, line.Admin
				addr <- line.HTTP
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		p.err = cmd.Wait() // once stderr is read to its end, as os/exec asks
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	select {
	case p.http = <-addr:
	case <-p.done:
		t.Fatalf("livegate exited before serving: %v\n%s", p.err, p.text())
	case <-time.After(60 * time.Second):
		t.Fatal("livegate did not start serving within 60s")
	}
	return p
}

// TestCrashLosesNothingAcknowledged: concurrent senders deliver to a livegate process that is
// killed with SIGKILL mid-stream. After a restart, every delivery that was answered 200 is
// stored exactly once, and redeliveries of them are recognised as duplicates.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	bin := buildLivegate(t)
	dataDir := t.TempDir()
	creds := createAppCLI(t, bin, dataDir, accA, appA)
	acked := sigkillWhileSending(t, startProcess(t, bin, dataDir), creds)
	t.Logf("%d deliveries acknowledged before SIGKILL", len(acked))

	// Restart on the same data and read everything back.
	p2 := startProcess(t, bin, dataDir)
	s := &testServer{t: t, base: "http://" + p2.http}
	stored := storedByProviderID(s, creds.APIToken)
	for id := range acked {
		if stored[id] != 1 {
			t.Errorf("acknowledged delivery %s stored %d times", id, stored[id])
		}
	}
	for id, n := range stored {
		if n != 1 {
			t.Errorf("delivery %s stored %d times", id, n)
		}
	}
	// A provider retry of an acknowledged delivery is a duplicate after the crash too.
	for id := range acked {
		body := withID(t, hmsDelivery("peer.join.success", time.Now(), `{"room_id":"room-crash","peer_id":"`+id+`"}`), id)
		r := s.post(hmsPath(accA, appA), map[string]string{"X-Webhook-Secret": creds.WebhookSecret}, body)
		if r.Status != 200 || r.Body["duplicate"] != true {
			t.Errorf("redelivery of %s after restart: HTTP %d %s", id, r.Status, r.Raw)
		}
		break
	}
	_ = p2.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p2.done:
		if p2.err != nil {
			t.Errorf("graceful shutdown: %v", p2.err)
		}
	case <-time.After(30 * time.Second):
		t.Error("no graceful shutdown within 30s")
	}
}

// sigkillWhileSending has 8 senders post deliveries to p until it is gone, SIGKILLs it once
// 300 are acknowledged, and returns the ids answered 200.
func sigkillWhileSending(t *testing.T, p *process, creds auth.Credentials) map[string]bool {
	var (
		mu     sync.Mutex
		acked  = map[string]bool{}
		nAcked atomic.Int64
		wg     sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client := &http.Client{Timeout: 10 * time.Second}
	url := "http://" + p.http + hmsPath(accA, appA)
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				id := uuid.NewString()
				body := hmsDelivery("peer.join.success", time.Now(), `{"room_id":"room-crash","peer_id":"`+id+`"}`)
				body = withID(t, body, id)
				req, _ := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
				req.Header.Set("X-Webhook-Secret", creds.WebhookSecret)
				resp, err := client.Do(req)
				if err != nil {
					return // the server is gone
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					mu.Lock()
					acked[id] = true
					mu.Unlock()
					nAcked.Add(1)
				}
			}
		})
	}
	for nAcked.Load() < 300 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	wg.Wait()
	return acked
}

// storedByProviderID lists every stored event over REST: how many times each provider
// event id is stored.
func storedByProviderID(s *testServer, token string) map[string]int {
	stored := map[string]int{}
	pageToken := ""
	for {
		r := s.rest("GET", fmt.Sprintf("/accounts/%s/realtime/kit/%s/events?page_size=1000&page_token=%s", accA, appA, pageToken), token, nil)
		if r.Status != 200 {
			s.t.Fatalf("list events: HTTP %d %s", r.Status, r.Raw)
		}
		for _, ev := range r.Body["events"].([]any) {
			stored[ev.(map[string]any)["provider_event_id"].(string)]++
		}
		pageToken, _ = r.Body["next_page_token"].(string)
		if pageToken == "" {
			return stored
		}
	}
}
