package server_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"os/exec"
	"strings"
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
	p := startProcessWith(t, procOptions{env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + collector, "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_BSP_SCHEDULE_DELAY=100", "OTEL_EXPORTER_OTLP_TIMEOUT=1000"}}, bin, dataDir)
	// Requests make spans; their export fails.
	testenv.WaitFor(t, "a failed export in the log", func() bool {
		req, _ := http.NewRequest("GET", "http://"+p.http+"/accounts/"+accA+"/realtime/kit/"+appA+"/livestreams", nil)
		req.Header.Set("Authorization", "Bearer "+creds.APIToken)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		return strings.Contains(p.text(), collector)
	})
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
	failures := 0
	for _, l := range strings.Split(p.text(), "\n") {
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
		t.Errorf("no WARN OpenTelemetry line naming the collector %s:\n%s", collector, p.text())
	}
}

// TestSIGHUPStopsGracefully: SIGHUP stops serve as SIGTERM does, exit status 0, with a WARN
// line saying why. (It killed serve at once, with no graceful stop and no line: the
// operations audit.)
func TestSIGHUPStopsGracefully(t *testing.T) {
	bin := buildLivegate(t)
	p := startProcess(t, bin, t.TempDir())
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30 s of SIGHUP")
	}
	var exit *exec.ExitError
	if p.err != nil {
		t.Errorf("serve after SIGHUP: %v (exited: %v), want exit status 0", p.err, errors.As(p.err, &exit))
	}
	if !strings.Contains(p.text(), `"level":"WARN","msg":"SIGHUP: livegate has nothing to reload`) ||
		!strings.Contains(p.text(), `"msg":"livegate shutting down"`) {
		t.Errorf("no WARN line about the SIGHUP, or no graceful shutdown's line:\n%s", p.text())
	}
}

// TestSIGHUPIgnoredUnderNohup: a serve started with SIGHUP ignored (nohup) keeps ignoring it
// and goes on serving: nohup is there to keep it running when its terminal hangs up. (The
// review found SIGHUP handling had undone that.)
func TestSIGHUPIgnoredUnderNohup(t *testing.T) {
	bin := buildLivegate(t)
	p := startProcessWith(t, procOptions{via: []string{"nohup"}}, bin, t.TempDir())
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	resp, err := http.Get("http://" + p.http + "/openapi.json")
	if err != nil {
		t.Fatalf("after SIGHUP under nohup: %v; want it still serving\n%s", err, p.text())
	}
	resp.Body.Close()
	select {
	case <-p.done:
		t.Fatalf("serve under nohup exited after SIGHUP: %v", p.err)
	default:
	}
	if strings.Contains(p.text(), "SIGHUP: livegate has nothing to reload") {
		t.Errorf("a line about SIGHUP under nohup:\n%s", p.text())
	}
}
