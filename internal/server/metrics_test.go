package server_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/server"
	"github.com/livegate/livegate/internal/testenv"
)

// scrape is one /metrics answer: the text, and each sample's value by name and labels.
type scrape struct {
	text    string
	samples []sample
}

type sample struct {
	name   string
	labels map[string]string
	value  float64
}

var (
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
	labelPair  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

// scrapeMetrics GETs http://admin/metrics and parses the text format.
func scrapeMetrics(t testing.TB, admin string) scrape {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %d %v\n%s", resp.StatusCode, err, raw)
	}
	sc := scrape{text: string(raw)}
	for _, line := range strings.Split(sc.text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("scrape: unparsable line %q", line)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("scrape: value of %q: %v", line, err)
		}
		s := sample{name: m[1], labels: map[string]string{}, value: v}
		for _, p := range labelPair.FindAllStringSubmatch(m[2], -1) {
			s.labels[p[1]] = p[2]
		}
		sc.samples = append(sc.samples, s)
	}
	return sc
}

// get is the value of the one sample named name with these labels (name=value pairs; others
// may be present); 0 when there is none (a series not yet created is a zero counter).
func (sc scrape) get(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	found, v := 0, 0.0
next:
	for _, s := range sc.samples {
		if s.name != name {
			continue
		}
		for _, l := range labels {
			k, want, _ := strings.Cut(l, "=")
			if s.labels[k] != want {
				continue next
			}
		}
		found++
		v = s.value
	}
	if found > 1 {
		t.Fatalf("%s%v: %d samples match", name, labels, found)
	}
	return v
}

// has reports whether a sample named name exists.
func (sc scrape) has(name string) bool {
	for _, s := range sc.samples {
		if s.name == name {
			return true
		}
	}
	return false
}

// mDeliver posts a 100ms delivery with secret and returns the status and body.
func mDeliver(t *testing.T, s *testServer, acc, app, secret string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.base+"/accounts/"+acc+"/realtime/kit/"+app+"/webhooks/100ms", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Webhook-Secret", secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

func mHMSBody(id string) []byte {
	return fmt.Appendf(nil, `{"version":"2.0","id":%q,"account_id":"x","app_id":"y","timestamp":"2026-11-23T10:00:00Z","type":"peer.join.success","data":{"room_id":"room-m","session_id":"s1","peer_id":"p1"}}`, id)
}

// mOpen GETs a streaming route; the body is closed when the test ends.
func mOpen(t *testing.T, url, token string) (*http.Response, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	return resp, cancel
}

// mWaitLine reads lines from r until one contains want.
func mWaitLine(t *testing.T, r *bufio.Reader, want string) {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if strings.Contains(line, want) {
			return
		}
		if err != nil {
			t.Fatalf("stream ended before a line with %q: %v", want, err)
		}
	}
}

// TestMetricsScrape drives deliveries (accepted, duplicate, invalid, unauthenticated, too
// large), one subscription on each face, refused requests (an unknown route, a call without
// a token), scrapes /metrics on the admin listener over HTTP, and checks each counter moved
// by exactly what was done; then `promtool check metrics` finds nothing wrong with the
// scrape.
func TestMetricsScrape(t *testing.T) {
	promtool := testenv.LookPath(t, "promtool")
	s := startServer(t, t.TempDir(), func(c *server.Config) {
		c.AdminAddr = "127.0.0.1:0"
		// NDJSON answers its headers with the first message: let a progress message come soon.
		c.Feed.ProgressEvery = 100 * time.Millisecond
	})
	admin := s.srv.AdminAddr()
	if admin == "" {
		t.Fatal("no admin listener")
	}
	const acc, app = "acc-metrics", "app-metrics"
	creds := s.createApp(acc, app)
	if _, err := s.livestreams.CreateLivestream(withToken(creds.APIToken), &livegatev1.CreateLivestreamRequest{AccountId: acc, AppId: app, Name: "m"}); err != nil {
		t.Fatal(err)
	}
	before := scrapeMetrics(t, admin)
	delta := func(after scrape, name string, labels ...string) float64 {
		return after.get(t, name, labels...) - before.get(t, name, labels...)
	}

	// Subscriptions on the three faces, from now on.
	events := livegatev1.NewEventServiceClient(s.conn)
	gctx, gcancel := context.WithTimeout(withToken(creds.APIToken), 30*time.Second)
	defer gcancel()
	grpcSub, err := events.Subscribe(gctx, &livegatev1.SubscribeRequest{AccountId: acc, AppId: app, OnlyNew: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := grpcSub.Header(); err != nil {
		t.Fatal(err)
	}
	feedBase := s.base + "/accounts/" + acc + "/realtime/kit/" + app
	ndjson, ndjsonCancel := mOpen(t, feedBase+"/events:stream?only_new=true", creds.APIToken)
	sse, sseCancel := mOpen(t, feedBase+"/events/sse?only_new=true", creds.APIToken)
	testenv.WaitFor(t, "a subscription on every face", func() bool {
		sc := scrapeMetrics(t, admin)
		return sc.get(t, "livegate_feed_subscriptions", "face=grpc") == 1 &&
			sc.get(t, "livegate_feed_subscriptions", "face=ndjson") == 1 &&
			sc.get(t, "livegate_feed_subscriptions", "face=sse") == 1
	})

	// Deliveries.
	first := mHMSBody(uuid.NewString())
	if code, body := mDeliver(t, s, acc, app, creds.WebhookSecret, first); code != 200 {
		t.Fatalf("accepted: %d %s", code, body)
	}
	if code, body := mDeliver(t, s, acc, app, creds.WebhookSecret, first); code != 200 || !strings.Contains(body, `"duplicate":true`) {
		t.Fatalf("duplicate: %d %s", code, body)
	}
	if code, body := mDeliver(t, s, acc, app, "wrong-secret", mHMSBody(uuid.NewString())); code != 401 {
		t.Fatalf("unauthenticated: %d %s", code, body)
	}
	if code, body := mDeliver(t, s, acc, app, creds.WebhookSecret, []byte(`{"version":"2.0","id":"x","type":`)); code != 400 {
		t.Fatalf("invalid: %d %s", code, body)
	}
	if code, body := mDeliver(t, s, acc, app, creds.WebhookSecret, bytes.Repeat([]byte(" "), 2<<20)); code != 413 {
		t.Fatalf("too large: %d %s", code, body)
	}
	second := mHMSBody(uuid.NewString())
	code, body := mDeliver(t, s, acc, app, creds.WebhookSecret, second)
	if code != 200 {
		t.Fatalf("accepted: %d %s", code, body)
	}
	seq := regexp.MustCompile(`"sequence":"(\d+)"`).FindStringSubmatch(body)
	if seq == nil {
		t.Fatalf("no sequence in %s", body)
	}
	// Every subscriber receives both accepted events (3 faces × 2 = 6 events sent).
	for {
		m, err := grpcSub.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if m.GetEvent().GetSequence() == mustUint(t, seq[1]) {
			break
		}
	}
	mWaitLine(t, bufio.NewReader(ndjson.Body), `"sequence":"`+seq[1]+`"`)
	mWaitLine(t, bufio.NewReader(sse.Body), "id: "+seq[1])

	// Refused requests: a route that does not exist, a call without a token.
	if r := s.rest(http.MethodGet, "/no/such/route", "", nil); r.Status != 404 {
		t.Fatalf("unknown route: %d", r.Status)
	}
	if r := s.rest(http.MethodGet, "/accounts/"+acc+"/realtime/kit/"+app+"/livestreams", "", nil); r.Status != 401 {
		t.Fatalf("no token: %d", r.Status)
	}

	after := scrapeMetrics(t, admin)
	want := func(what string, got, want float64) {
		t.Helper()
		if got != want {
			t.Errorf("%s: moved by %v, want %v", what, got, want)
		}
	}
	const hmsRoute = "/accounts/{account_id}/realtime/kit/{app_id}/webhooks/100ms"
	for outcome, n := range map[string]float64{"accepted": 2, "duplicate": 1, "unauthenticated": 1, "invalid": 1, "too_large": 1, "ignored": 0, "error": 0} {
		want("deliveries "+outcome, delta(after, "livegate_ingest_deliveries_total", "source=hms", "outcome="+outcome), n)
	}
	want("amity deliveries", delta(after, "livegate_ingest_deliveries_total", "source=amity", "outcome=accepted"), 0)
	want("request-to-commit observations", delta(after, "livegate_ingest_request_to_commit_seconds_count", "source=hms"), 2)
	want("events appended (hms)", delta(after, "livegate_feed_events_appended_total", "source=hms"), 2)
	want("events sent", delta(after, "livegate_feed_events_sent_total"), 6)
	want("lag observations", delta(after, "livegate_feed_send_lag_events_count"), 6)
	want("fallbacks", delta(after, "livegate_feed_fallbacks_total"), 0)
	want("head", after.get(t, "livegate_feed_head_sequence"), float64(mustUint(t, seq[1])))
	want("HTTP 200 on the 100ms route", delta(after, "livegate_http_requests_total", "route="+hmsRoute, "method=POST", "code=200"), 3)
	want("HTTP 401 on the 100ms route", delta(after, "livegate_http_requests_total", "route="+hmsRoute, "method=POST", "code=401"), 1)
	want("HTTP 400 on the 100ms route", delta(after, "livegate_http_requests_total", "route="+hmsRoute, "method=POST", "code=400"), 1)
	want("HTTP 413 before routing", delta(after, "livegate_http_requests_total", "route=unmatched", "method=POST", "code=413"), 1)
	want("HTTP 404 unmatched", delta(after, "livegate_http_requests_total", "route=unmatched", "method=GET", "code=404"), 1)
	want("HTTP 401 listing", delta(after, "livegate_http_requests_total", "route=/accounts/{account_id}/realtime/kit/{app_id}/livestreams", "method=GET", "code=401"), 1)
	want("HTTP duration observations (100ms route)", delta(after, "livegate_http_request_duration_seconds_count", "route="+hmsRoute, "method=POST"), 5)
	want("gRPC DeliverHmsWebhook OK", delta(after, "grpc_server_handled_total", "grpc_service=livegate.v1.WebhookService", "grpc_method=DeliverHmsWebhook", "grpc_code=OK"), 3)
	want("gRPC DeliverHmsWebhook InvalidArgument", delta(after, "grpc_server_handled_total", "grpc_method=DeliverHmsWebhook", "grpc_code=InvalidArgument"), 1)
	want("gRPC ListLivestreams Unauthenticated", delta(after, "grpc_server_handled_total", "grpc_method=ListLivestreams", "grpc_code=Unauthenticated"), 1)
	want("gRPC handling-time observations (DeliverHmsWebhook)", delta(after, "grpc_server_handling_seconds_count", "grpc_method=DeliverHmsWebhook"), 4)
	if n := delta(after, "livegate_store_commit_batch_size_count"); n < 1 {
		t.Errorf("commit batches: moved by %v, want at least 1", n)
	}
	if n := delta(after, "livegate_store_commit_duration_seconds_count"); n < 1 {
		t.Errorf("commit durations: moved by %v, want at least 1", n)
	}
	want("ready", after.get(t, "livegate_ready"), 1)
	want("IDLE livestreams", after.get(t, "livegate_livestreams", "status=IDLE"), 1)
	want("LIVE livestreams", after.get(t, "livegate_livestreams", "status=LIVE"), 0)
	want("RTMP publishers", after.get(t, "livegate_rtmp_clients", "role=publisher"), 0)
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "livegate_build_info"} {
		if !after.has(name) {
			t.Errorf("no %s in the scrape", name)
		}
	}
	for _, s := range after.samples {
		for k, v := range s.labels {
			if strings.Contains(v, acc) || strings.Contains(v, app) || strings.Contains(v, creds.WebhookSecret) {
				t.Errorf("%s: label %s=%q names a tenant or a secret", s.name, k, v)
			}
		}
	}

	// The subscriptions end: the gauges go back to zero.
	gcancel()
	ndjsonCancel()
	sseCancel()
	testenv.WaitFor(t, "the subscriptions to end", func() bool {
		sc := scrapeMetrics(t, admin)
		return sc.get(t, "livegate_feed_subscriptions", "face=grpc") == 0 &&
			sc.get(t, "livegate_feed_subscriptions", "face=ndjson") == 0 &&
			sc.get(t, "livegate_feed_subscriptions", "face=sse") == 0
	})

	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(scrapeMetrics(t, admin).text)
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func mustUint(t testing.TB, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
