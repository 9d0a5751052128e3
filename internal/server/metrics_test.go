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
	"google.golang.org/grpc"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/auth"
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
	m := newMetricsScenario(t)
	m.subscribeOnEveryFace()
	m.deliverEveryOutcome()
	m.refuseRequests()
	after := scrapeMetrics(t, m.admin)
	m.checkMoved(after)
	m.checkGauges(after)
	m.endSubscriptions()
	m.checkPromtool()
}

// metricsScenario is TestMetricsScrape's one server, its app and the scrape taken before
// the traffic; the methods are the steps, called in order.
type metricsScenario struct {
	t        *testing.T
	s        *testServer
	admin    string
	promtool string
	creds    auth.Credentials
	before   scrape
	grpcSub  grpc.ServerStreamingClient[livegatev1.SubscribeResponse]
	ndjson   *http.Response
	sse      *http.Response
	cancels  []context.CancelFunc
	seq      string // the second accepted delivery's sequence
	feedBase string
}

const mAcc, mApp = "acc-metrics", "app-metrics"

func newMetricsScenario(t *testing.T) *metricsScenario {
	promtool := testenv.LookPath(t, "promtool")
	s := startServer(t, t.TempDir(), func(c *server.Config) {
		c.AdminAddr = "127.0.0.1:0"
		// NDJSON answers its headers with the first message: let a progress message come soon.
		c.Feed.ProgressEvery = 100 * time.Millisecond
	})
	m := &metricsScenario{t: t, s: s, admin: s.srv.AdminAddr(), promtool: promtool}
	if m.admin == "" {
		t.Fatal("no admin listener")
	}
	m.creds = s.createApp(mAcc, mApp)
	if _, err := s.livestreams.CreateLivestream(withToken(m.creds.APIToken), &livegatev1.CreateLivestreamRequest{AccountId: mAcc, AppId: mApp, Name: "m"}); err != nil {
		t.Fatal(err)
	}
	m.before = scrapeMetrics(t, m.admin)
	return m
}

func (m *metricsScenario) delta(after scrape, name string, labels ...string) float64 {
	return after.get(m.t, name, labels...) - m.before.get(m.t, name, labels...)
}

// waitSubscriptions waits until every face's subscription gauge reads n.
func (m *metricsScenario) waitSubscriptions(what string, n float64) {
	testenv.WaitFor(m.t, what, func() bool {
		sc := scrapeMetrics(m.t, m.admin)
		return sc.get(m.t, "livegate_feed_subscriptions", "face=grpc") == n &&
			sc.get(m.t, "livegate_feed_subscriptions", "face=ndjson") == n &&
			sc.get(m.t, "livegate_feed_subscriptions", "face=sse") == n
	})
}

// subscribeOnEveryFace opens subscriptions on the three faces, from now on.
func (m *metricsScenario) subscribeOnEveryFace() {
	t := m.t
	events := livegatev1.NewEventServiceClient(m.s.conn)
	gctx, gcancel := context.WithTimeout(withToken(m.creds.APIToken), 30*time.Second)
	t.Cleanup(gcancel)
	grpcSub, err := events.Subscribe(gctx, &livegatev1.SubscribeRequest{AccountId: mAcc, AppId: mApp, OnlyNew: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := grpcSub.Header(); err != nil {
		t.Fatal(err)
	}
	m.grpcSub = grpcSub
	m.feedBase = m.s.base + "/accounts/" + mAcc + "/realtime/kit/" + mApp
	var ndjsonCancel, sseCancel context.CancelFunc
	m.ndjson, ndjsonCancel = mOpen(t, m.feedBase+"/events:stream?only_new=true", m.creds.APIToken)
	m.sse, sseCancel = mOpen(t, m.feedBase+"/events/sse?only_new=true", m.creds.APIToken)
	m.cancels = []context.CancelFunc{gcancel, ndjsonCancel, sseCancel}
	m.waitSubscriptions("a subscription on every face", 1)
}

// deliverEveryOutcome posts deliveries of every outcome; every subscriber receives both
// accepted events (3 faces × 2 = 6 events sent).
func (m *metricsScenario) deliverEveryOutcome() {
	t, s, secret := m.t, m.s, m.creds.WebhookSecret
	first := mHMSBody(uuid.NewString())
	if code, body := mDeliver(t, s, mAcc, mApp, secret, first); code != 200 {
		t.Fatalf("accepted: %d %s", code, body)
	}
	if code, body := mDeliver(t, s, mAcc, mApp, secret, first); code != 200 || !strings.Contains(body, `"duplicate":true`) {
		t.Fatalf("duplicate: %d %s", code, body)
	}
	if code, body := mDeliver(t, s, mAcc, mApp, "wrong-secret", mHMSBody(uuid.NewString())); code != 401 {
		t.Fatalf("unauthenticated: %d %s", code, body)
	}
	if code, body := mDeliver(t, s, mAcc, mApp, secret, []byte(`{"version":"2.0","id":"x","type":`)); code != 400 {
		t.Fatalf("invalid: %d %s", code, body)
	}
	if code, body := mDeliver(t, s, mAcc, mApp, secret, bytes.Repeat([]byte(" "), 2<<20)); code != 413 {
		t.Fatalf("too large: %d %s", code, body)
	}
	// A path that only ends like a provider route is no delivery: 413, not counted as one.
	resp, err := http.Post(s.base+"/nothing/here/1/webhooks/100ms", "application/json", bytes.NewReader(bytes.Repeat([]byte(" "), 2<<20)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("too large, on no route: %d", resp.StatusCode)
	}
	code, body := mDeliver(t, s, mAcc, mApp, secret, mHMSBody(uuid.NewString()))
	if code != 200 {
		t.Fatalf("accepted: %d %s", code, body)
	}
	seq := regexp.MustCompile(`"sequence":"(\d+)"`).FindStringSubmatch(body)
	if seq == nil {
		t.Fatalf("no sequence in %s", body)
	}
	m.seq = seq[1]
	for {
		msg, err := m.grpcSub.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if msg.GetEvent().GetSequence() == mustUint(t, m.seq) {
			break
		}
	}
	mWaitLine(t, bufio.NewReader(m.ndjson.Body), `"sequence":"`+m.seq+`"`)
	mWaitLine(t, bufio.NewReader(m.sse.Body), "id: "+m.seq)
}

// refuseRequests: a route that does not exist, a call without a token.
func (m *metricsScenario) refuseRequests() {
	if r := m.s.rest(http.MethodGet, "/no/such/route", "", nil); r.Status != 404 {
		m.t.Fatalf("unknown route: %d", r.Status)
	}
	if r := m.s.rest(http.MethodGet, "/accounts/"+mAcc+"/realtime/kit/"+mApp+"/livestreams", "", nil); r.Status != 401 {
		m.t.Fatalf("no token: %d", r.Status)
	}
}

// checkMoved: every counter and histogram moved by what the traffic did, no more.
func (m *metricsScenario) checkMoved(after scrape) {
	t := m.t
	const hmsRoute = "/accounts/{account_id}/realtime/kit/{app_id}/webhooks/100ms"
	type moved struct {
		what   string
		name   string
		labels []string
		want   float64
	}
	var cases []moved
	for outcome, n := range map[string]float64{"accepted": 2, "duplicate": 1, "unauthenticated": 1, "invalid": 1, "too_large": 1, "ignored": 0, "error": 0} {
		cases = append(cases, moved{"deliveries " + outcome, "livegate_ingest_deliveries_total", []string{"source=hms", "outcome=" + outcome}, n})
	}
	cases = append(cases, []moved{
		{"amity deliveries", "livegate_ingest_deliveries_total", []string{"source=amity", "outcome=accepted"}, 0},
		{"request-to-commit observations", "livegate_ingest_request_to_commit_seconds_count", []string{"source=hms"}, 2},
		{"events appended (hms)", "livegate_feed_events_appended_total", []string{"source=hms"}, 2},
		{"events sent", "livegate_feed_events_sent_total", nil, 6},
		{"lag observations", "livegate_feed_send_lag_events_count", nil, 6},
		{"fallbacks", "livegate_feed_fallbacks_total", nil, 0},
		{"HTTP 200 on the 100ms route", "livegate_http_requests_total", []string{"route=" + hmsRoute, "method=POST", "code=200"}, 3},
		{"HTTP 401 on the 100ms route", "livegate_http_requests_total", []string{"route=" + hmsRoute, "method=POST", "code=401"}, 1},
		{"HTTP 400 on the 100ms route", "livegate_http_requests_total", []string{"route=" + hmsRoute, "method=POST", "code=400"}, 1},
		{"HTTP 413 before routing", "livegate_http_requests_total", []string{"route=unmatched", "method=POST", "code=413"}, 2},
		{"HTTP 404 unmatched", "livegate_http_requests_total", []string{"route=unmatched", "method=GET", "code=404"}, 1},
		{"HTTP 401 listing", "livegate_http_requests_total", []string{"route=/accounts/{account_id}/realtime/kit/{app_id}/livestreams", "method=GET", "code=401"}, 1},
		{"HTTP duration observations (100ms route)", "livegate_http_request_duration_seconds_count", []string{"route=" + hmsRoute, "method=POST"}, 5},
		{"gRPC DeliverHmsWebhook OK", "grpc_server_handled_total", []string{"grpc_service=livegate.v1.WebhookService", "grpc_method=DeliverHmsWebhook", "grpc_code=OK"}, 3},
		{"gRPC DeliverHmsWebhook InvalidArgument", "grpc_server_handled_total", []string{"grpc_method=DeliverHmsWebhook", "grpc_code=InvalidArgument"}, 1},
		{"gRPC ListLivestreams Unauthenticated", "grpc_server_handled_total", []string{"grpc_method=ListLivestreams", "grpc_code=Unauthenticated"}, 1},
		{"gRPC handling-time observations (DeliverHmsWebhook)", "grpc_server_handling_seconds_count", []string{"grpc_method=DeliverHmsWebhook"}, 4},
	}...)
	for _, c := range cases {
		if got := m.delta(after, c.name, c.labels...); got != c.want {
			t.Errorf("%s: moved by %v, want %v", c.what, got, c.want)
		}
	}
	// Subscribe sends on the transport's stream, past the interceptors (metrics.SubscribeSender):
	// its messages are still counted, on the gRPC face and on the gateway's: the 6 events and
	// the progress messages.
	if n := m.delta(after, "grpc_server_msg_sent_total", "grpc_service=livegate.v1.EventService", "grpc_method=Subscribe"); n < 6 {
		t.Errorf("gRPC Subscribe messages sent: moved by %v, want at least the 6 events", n)
	}
	if n := m.delta(after, "livegate_store_commit_batch_size_count"); n < 1 {
		t.Errorf("commit batches: moved by %v, want at least 1", n)
	}
	if n := m.delta(after, "livegate_store_commit_duration_seconds_count"); n < 1 {
		t.Errorf("commit durations: moved by %v, want at least 1", n)
	}
}

// checkGauges: the gauges read the server's state, the process metrics are there, and no
// label names a tenant or a secret.
func (m *metricsScenario) checkGauges(after scrape) {
	t := m.t
	for _, c := range []struct {
		what   string
		name   string
		labels []string
		want   float64
	}{
		{"head", "livegate_feed_head_sequence", nil, float64(mustUint(t, m.seq))},
		{"ready", "livegate_ready", nil, 1},
		{"IDLE livestreams", "livegate_livestreams", []string{"status=IDLE"}, 1},
		{"LIVE livestreams", "livegate_livestreams", []string{"status=LIVE"}, 0},
		{"RTMP publishers", "livegate_rtmp_clients", []string{"role=publisher"}, 0},
	} {
		if got := after.get(t, c.name, c.labels...); got != c.want {
			t.Errorf("%s: moved by %v, want %v", c.what, got, c.want)
		}
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "livegate_build_info"} {
		if !after.has(name) {
			t.Errorf("no %s in the scrape", name)
		}
	}
	for _, s := range after.samples {
		for k, v := range s.labels {
			if strings.Contains(v, mAcc) || strings.Contains(v, mApp) || strings.Contains(v, m.creds.WebhookSecret) {
				t.Errorf("%s: label %s=%q names a tenant or a secret", s.name, k, v)
			}
		}
	}
}

// endSubscriptions: the subscriptions end, the gauges go back to zero.
func (m *metricsScenario) endSubscriptions() {
	for _, cancel := range m.cancels {
		cancel()
	}
	m.waitSubscriptions("the subscriptions to end", 0)
}

// checkPromtool: promtool finds nothing to say about the exposition.
func (m *metricsScenario) checkPromtool() {
	cmd := exec.Command(m.promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(scrapeMetrics(m.t, m.admin).text)
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		m.t.Errorf("promtool check metrics: %v\n%s", err, out)
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
