package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/testenv"
)

// storedEvents counts the app acme/web's stored events (all of them: one per delivery).
func storedEvents(t *testing.T, s *liveServer) int {
	t.Helper()
	db := s.db()
	tenant := store.Tenant{AccountID: "acme", AppID: "web"}
	n, after := 0, uint64(0)
	for {
		var evs []store.Event
		err := db.View(bounded(t), func(r store.Reader) (err error) {
			evs, err = r.EventsAfter(bounded(t), tenant, after, store.EventFilter{}, 10000)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return n
		}
		for _, e := range evs {
			if e.Type != "peer.join.success" {
				t.Errorf("stored event %d is %q, want only peer.join.success", e.Sequence, e.Type)
			}
		}
		n += len(evs)
		after = evs[len(evs)-1].Sequence
	}
}

// TestBenchIngest: a second of `bench ingest --json` against a real server reports as
// accepted exactly the deliveries the store holds (each its own event: unique ids), with
// its figures in the JSON; a wrong secret fails the run with a non-zero exit naming 401.
func TestBenchIngest(t *testing.T) {
	s := startLive(t, t.TempDir(), "127.0.0.1:0")
	creds := s.createApp()
	base := "http://" + s.srv.HTTPAddr()

	var out, errOut bytes.Buffer
	err := run(bounded(t), []string{"bench", "ingest", "--url", base, "--account", "acme", "--app", "web",
		"--secret", creds.WebhookSecret, "--senders", "4", "--duration", "1s", "--json"}, &out, &errOut)
	if err != nil {
		t.Fatalf("bench ingest: %v\n%s", err, errOut.String())
	}
	var res struct {
		URL       string  `json:"url"`
		Senders   int     `json:"senders"`
		Seconds   float64 `json:"seconds"`
		Accepted  int64   `json:"accepted"`
		Failed    int64   `json:"failed"`
		PerSecond float64 `json:"per_second"`
		LatencyMS struct {
			P50, P90, P99, Max float64
			Samples            int64
		} `json:"latency_ms"`
	}
	dec := json.NewDecoder(&out)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("bench ingest --json printed %q: %v", out.String(), err)
	}
	if want := base + "/accounts/acme/realtime/kit/web/webhooks/100ms"; res.URL != want {
		t.Errorf("url %q, want %q", res.URL, want)
	}
	if res.Senders != 4 || res.Seconds < 1 || res.Failed != 0 || res.Accepted == 0 || res.PerSecond <= 0 {
		t.Errorf("result %+v: want 4 senders, at least 1 s, some accepted, none failed", res)
	}
	l := res.LatencyMS
	if l.Samples != res.Accepted || !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
		t.Errorf("latency %+v: want one sample per accepted delivery and 0 < p50 ≤ p90 ≤ p99 ≤ max", l)
	}
	if n := storedEvents(t, s); int64(n) != res.Accepted {
		t.Errorf("the store holds %d events, bench ingest reported %d accepted", n, res.Accepted)
	}

	// A wrong secret: every delivery refused, the run fails naming the answer.
	out.Reset()
	errOut.Reset()
	err = run(bounded(t), []string{"bench", "ingest", "--url", base + "/accounts/acme/realtime/kit/web/webhooks/100ms",
		"--secret", "whsec_wrong", "--senders", "2", "--duration", "200ms", "--quiet"}, &out, &errOut)
	var exit *exitError
	if !errors.As(err, &exit) || exit.code == 0 || !strings.Contains(exit.msg, "HTTP 401") {
		t.Fatalf("bench ingest with a wrong secret: %v, want a non-zero exit naming HTTP 401", err)
	}
	if !strings.Contains(out.String(), "failed") || strings.Contains(out.String(), "failed      0\n") {
		t.Errorf("bench ingest with a wrong secret printed %q: want its failures counted", out.String())
	}
}

// TestBenchFeed: `bench feed` with a few subscribers posts at its rate and reports every
// accepted delivery received by every subscriber.
func TestBenchFeed(t *testing.T) {
	s := startLive(t, t.TempDir(), "127.0.0.1:0")
	creds := s.createApp()
	var out, errOut bytes.Buffer
	// feed runs bench feed against s with these flags after the connection's and the app's.
	feed := func(flags ...string) error {
		out.Reset()
		errOut.Reset()
		return run(bounded(t), append([]string{"bench", "feed", "--url", "http://" + s.srv.HTTPAddr(), "--server", s.srv.GRPCAddr(),
			"--token", creds.APIToken, "--secret", creds.WebhookSecret, "--account", "acme", "--app", "web"}, flags...), &out, &errOut)
	}
	err := feed("--subscribers", "12", "--streams-per-conn", "5", "--rate", "40", "--duration", "1s", "--json")
	if err != nil {
		t.Fatalf("bench feed: %v\n%s", err, errOut.String())
	}
	var res feedResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("bench feed --json printed %q: %v", out.String(), err)
	}
	if res.Posted != 40 || res.PostFailed != 0 || res.Delivered != 40*12 || res.Missing != 0 {
		t.Errorf("result %+v: want 40 posted, 480 delivered, none missing", res)
	}
	if res.LatencyMS.Samples != 480 || res.LatencyMS.P50 <= 0 || res.LatencyMS.Max < res.LatencyMS.P99 {
		t.Errorf("latency %+v: want 480 samples, positive", res.LatencyMS)
	}
	if n := storedEvents(t, s); n != 40 {
		t.Errorf("the store holds %d events, want the 40 posted", n)
	}

	// --admin: the server's memory per subscription, from its metrics. Server and client
	// share this process, so both sides count (a goroutine each at least).
	err = feed("--subscribers", "12", "--streams-per-conn", "5", "--rate", "20", "--duration", "500ms", "--quiet",
		"--admin", "http://"+s.srv.AdminAddr())
	if err != nil {
		t.Fatalf("bench feed --admin: %v\n%s", err, errOut.String())
	}
	if !regexp.MustCompile(`\n  server      [0-9.]+ KB a subscription \(heap -?[0-9.]+ KB, goroutine stacks -?[0-9.]+ KB, [0-9.]+ goroutines\), from 12 open\n`).Match(out.Bytes()) {
		t.Errorf("bench feed --admin printed %q: want a line of the server's memory per subscription", out.String())
	}
	err = feed("--subscribers", "12", "--streams-per-conn", "5", "--rate", "20", "--duration", "500ms", "--json",
		"--admin", "http://"+s.srv.AdminAddr())
	if err != nil {
		t.Fatalf("bench feed --admin --json: %v\n%s", err, errOut.String())
	}
	res = feedResult{}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("bench feed --admin --json printed %q: %v", out.String(), err)
	}
	// Heap and stacks may even shrink here: the first run's goroutines left stacks for reuse,
	// and its garbage is collected before the first read. Goroutines are counted exactly.
	if c := res.Idle; c == nil || c.OpenSubscribers != 12 || c.Goroutines < 2 ||
		math.Abs(c.TotalKB-(c.HeapBytes+c.StackBytes)/1e3) > 0.051 {
		t.Errorf("bench feed --admin --json: server_idle_per_subscription %+v, want 12 open, 2 goroutines or more, total = heap + stacks", c)
	}
	// Not an admin base URL, or not livegate's admin listener: refused, saying so.
	for _, tc := range []struct{ admin, want string }{
		{"localhost:9091", "want the admin listener's base URL"},
		{"http://" + s.srv.HTTPAddr(), "GET /debug/pprof/heap?gc=1: 404"},
	} {
		err = feed("--subscribers", "1", "--rate", "1", "--duration", "100ms", "--admin", tc.admin)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("bench feed --admin %s: %v, want %q", tc.admin, err, tc.want)
		}
	}

	// A receive window gRPC would ignore is refused, naming the bounds.
	err = feed("--conn-window", "1000")
	if err == nil || !strings.Contains(err.Error(), "--conn-window and --stream-window must be 0 or from 65535") {
		t.Errorf("bench feed --conn-window 1000: %v, want the bounds named", err)
	}
}

// TestBenchBareServer: `bench bare-server` prints its URL, `bench ingest` against it
// succeeds, and an interrupt stops it cleanly.
func TestBenchBareServer(t *testing.T) {
	ctx, cancel := context.WithCancel(bounded(t))
	defer cancel()
	stdout := &testenv.SyncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"bench", "bare-server", "--addr", "127.0.0.1:0"}, stdout, io.Discard)
	}()
	var url string
	for deadline := time.Now().Add(tailWait); url == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if line, ok := strings.CutSuffix(stdout.String(), "\n"); ok {
			url = line
		}
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("bench bare-server printed %q, want its URL", stdout.String())
	}
	var out, errOut bytes.Buffer
	if err := run(bounded(t), []string{"bench", "ingest", "--url", url, "--senders", "2", "--duration", "300ms", "--quiet"}, &out, &errOut); err != nil {
		t.Fatalf("bench ingest against the bare server: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "failed      0") {
		t.Errorf("bench ingest printed %q", out.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("bare-server: %v", err)
		}
	case <-time.After(tailWait):
		t.Fatal("bare-server did not stop")
	}
}
