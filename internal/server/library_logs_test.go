package server_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/testenv"
)

// TestLibraryLogsAreJSON: with tracing on and its collector down, every line livegate writes
// on stderr is JSON, the trace exporter's failures included, as a WARN "OpenTelemetry" line.
// (They were plain-text lines from OpenTelemetry's default error handler among the JSON
// ones, every 5 s: the operations audit.)
func TestLibraryLogsAreJSON(t *testing.T) {
	bin := buildLivegate(t)
	dataDir := t.TempDir()
	creds := createAppCLI(t, bin, dataDir, accA, appA)
	collector := testenv.FreeAddr(t) // nothing listens there
	cmd := exec.Command(bin, "serve", "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--data-dir", dataDir)
	cmd.Env = append(os.Environ(), "OTEL_EXPORTER_OTLP_ENDPOINT=http://"+collector, "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_BSP_SCHEDULE_DELAY=100", "OTEL_EXPORTER_OTLP_TIMEOUT=1000")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		lines []string
	)
	served := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
			var l struct{ Msg, HTTP string }
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "livegate serving" {
				served <- l.HTTP
			}
		}
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var addr string
	select {
	case addr = <-served:
	case <-time.After(60 * time.Second):
		t.Fatal("livegate did not start serving within 60s")
	}
	text := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(lines, "\n")
	}
	// Requests make spans; their export fails.
	testenv.WaitFor(t, "a failed export in the log", func() bool {
		req, _ := http.NewRequest("GET", "http://"+addr+"/accounts/"+accA+"/realtime/kit/"+appA+"/livestreams", nil)
		req.Header.Set("Authorization", "Bearer "+creds.APIToken)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		return strings.Contains(text(), collector)
	})
	_ = cmd.Process.Signal(syscall.SIGTERM)
	<-done
	failures := 0
	for _, l := range strings.Split(text(), "\n") {
		var line struct{ Level, Msg, Error string }
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Errorf("not a JSON line: %q", l)
			continue
		}
		if line.Msg == "OpenTelemetry" && line.Level == "WARN" && strings.Contains(line.Error, collector) {
			failures++
		}
	}
	if failures == 0 {
		t.Errorf("no WARN OpenTelemetry line naming the collector %s:\n%s", collector, text())
	}
}
