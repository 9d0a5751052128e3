package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/accesslog"
	"github.com/livegate/livegate/internal/amity"
	"github.com/livegate/livegate/internal/server"
)

// logged sends one HTTP request and returns its answer's status, body and X-Request-Id.
func logged(t *testing.T, method, u string, header http.Header, body string) (int, string, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, r)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw), resp.Header.Get("X-Request-Id")
}

// lineWith is the one line with this message and request id, failing the test unless
// there is exactly one.
func lineWith(t *testing.T, s *testServer, msg, requestID string) map[string]any {
	t.Helper()
	var found []map[string]any
	for _, l := range s.logLines(t, msg) {
		if l["request_id"] == requestID {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %q lines with request_id %q, want 1; log:\n%s", len(found), msg, requestID, s.log.String())
	}
	return found[0]
}

// wantFields checks a log line's fields.
func wantFields(t *testing.T, what string, line map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if got := line[k]; fmt.Sprint(got) != fmt.Sprint(v) {
			t.Errorf("%s: %s = %v, want %v (line %v)", what, k, got, v, line)
		}
	}
}

// TestAccessLogLines: every HTTP request is one line (route pattern, masked path, status,
// bytes, duration, client, tenant, request id), including those answered before any gRPC
// call (unknown route, preflight, unparsable query, wrong content type); the gRPC call behind
// a REST request logs the same request id and the HTTP client's address, not the gateway's;
// X-Forwarded-For counts only from a trusted proxy; a caller's X-Request-Id is kept when it
// is safe and replaced otherwise; forged gateway metadata is ignored, on both faces.
func TestAccessLogLines(t *testing.T) {
	proxies, err := accesslog.ParseProxies("10.0.0.0/8, 127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, t.TempDir(), func(c *server.Config) { c.TrustedProxies = proxies })
	creds := s.createApp("acc-log", "app-log")
	const route = "/accounts/{account_id}/realtime/kit/{app_id}/livestreams"
	base := s.base + "/accounts/acc-log/realtime/kit/app-log/livestreams"
	auth := http.Header{"Authorization": {"Bearer " + creds.APIToken}, "Content-Type": {"application/json"}}
	with := func(h http.Header, kv ...string) http.Header {
		h = h.Clone()
		if h == nil {
			h = http.Header{}
		}
		for i := 0; i < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}

	// A REST create through two trusted proxies (127.0.0.1, then 10.1.2.3), with a forged
	// gateway client and request id in Grpc-Metadata-* headers.
	code, body, id := logged(t, http.MethodPost, base, with(auth,
		"X-Request-Id", "req-create-1",
		"X-Forwarded-For", "192.0.2.1, 198.51.100.9",
		"X-Forwarded-For", "10.1.2.3",
		"Grpc-Metadata-Livegate-Gateway-Client", "6.6.6.6",
		"Grpc-Metadata-Livegate-Gateway-Request-Id", "forged"), `{"name":"logged"}`)
	if code != http.StatusCreated || id != "req-create-1" {
		t.Fatalf("create: HTTP %d, X-Request-Id %q; want 201 and the caller's id", code, id)
	}
	line := lineWith(t, s, "http request", "req-create-1")
	wantFields(t, "create's HTTP line", line, map[string]any{
		"method": "POST", "route": route, "path": "/accounts/acc-log/realtime/kit/app-log/livestreams",
		"status": 201, "bytes": len(body), "client": "198.51.100.9", "account_id": "acc-log", "app_id": "app-log",
	})
	if d, ok := line["duration_ms"].(float64); !ok || d <= 0 {
		t.Errorf("create's HTTP line: duration_ms %v", line["duration_ms"])
	}
	wantFields(t, "create's gRPC line", lineWith(t, s, "finished call", "req-create-1"), map[string]any{
		"grpc.method": "CreateLivestream", "grpc.code": "OK", "peer.address": "198.51.100.9",
		"account_id": "acc-log", "app_id": "app-log",
	})

	// A request id that is not safe to log is replaced by a generated one.
	code, _, id = logged(t, http.MethodGet, base, with(auth, "X-Request-Id", "no spaces\tor tabs"), "")
	if code != http.StatusOK || !accesslog.ValidRequestID(id) || strings.Contains(id, "spaces") {
		t.Fatalf("list with a bad request id: HTTP %d, X-Request-Id %q", code, id)
	}
	wantFields(t, "list's HTTP line", lineWith(t, s, "http request", id), map[string]any{"route": route, "status": 200, "client": "127.0.0.1"})
	lineWith(t, s, "finished call", id)

	// Refused before any gRPC call: each still has its line, and no gRPC line.
	for _, c := range []struct {
		name, method, url string
		header            http.Header
		body              string
		status            int
		route             string
	}{
		{"unknown route", http.MethodGet, s.base + "/no/such/route", nil, "", 404, "unmatched"},
		{"preflight", http.MethodOptions, base, http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"POST"}}, "", 0, "unmatched"},
		{"unparsable query", http.MethodGet, base + "?per_page=many", auth, "", 400, route},
		{"wrong content type", http.MethodPost, base, with(http.Header{"Authorization": auth["Authorization"]}, "Content-Type", "text/plain"), "name", 415, route},
		{"body over the limit", http.MethodPost, base, auth, strings.Repeat("x", 1<<20+1), 413, "unmatched"},
	} {
		reqID := "req-" + strings.ReplaceAll(c.name, " ", "-")
		code, _, _ := logged(t, c.method, c.url, with(c.header, "X-Request-Id", reqID), c.body)
		if c.status != 0 && code != c.status {
			t.Errorf("%s: HTTP %d, want %d", c.name, code, c.status)
		}
		wantFields(t, c.name, lineWith(t, s, "http request", reqID), map[string]any{"method": c.method, "route": c.route, "status": code})
		if n := len(linesWithID(t, s, "finished call", reqID)); n != 0 {
			t.Errorf("%s: %d gRPC lines, want none", c.name, n)
		}
	}

	// A gRPC client's x-request-id is kept and answered; gateway metadata from a public gRPC
	// client is ignored.
	var header metadata.MD
	ctx := metadata.AppendToOutgoingContext(withToken(creds.APIToken), "x-request-id", "grpc-req-1",
		"livegate-gateway-client", "6.6.6.6", "livegate-gateway-request-id", "forged")
	if _, err := s.livestreams.ListLivestreams(ctx, &livegatev1.ListLivestreamsRequest{AccountId: "acc-log", AppId: "app-log"}, grpc.Header(&header)); err != nil {
		t.Fatal(err)
	}
	if got := header.Get("x-request-id"); len(got) != 1 || got[0] != "grpc-req-1" {
		t.Errorf("gRPC answer's x-request-id %v, want the caller's", got)
	}
	wantFields(t, "gRPC caller's line", lineWith(t, s, "finished call", "grpc-req-1"), map[string]any{
		"peer.address": "127.0.0.1", "grpc.method": "ListLivestreams", "account_id": "acc-log",
	})
	if strings.Contains(s.log.String(), "forged") || strings.Contains(s.log.String(), "6.6.6.6") {
		t.Errorf("forged gateway metadata reached the log:\n%s", s.log.String())
	}
}

func linesWithID(t *testing.T, s *testServer, msg, requestID string) []map[string]any {
	var out []map[string]any
	for _, l := range s.logLines(t, msg) {
		if l["request_id"] == requestID {
			out = append(out, l)
		}
	}
	return out
}

// TestAccessLogHasNoSecrets runs a whole flow (an app's API token on REST, gRPC and SSE's
// access_token query parameter, 100ms and Amity webhook secrets, an RTMP stream key in
// nginx-rtmp callbacks, the callback path secret on matched, refused and unmatched callback
// paths) and then searches the log for each secret: none is there, and the callback path is
// logged masked.
func TestAccessLogHasNoSecrets(t *testing.T) {
	f := &rtmpFixture{acc: "acc-sec", app: "app-sec"}
	f.s = startServer(t, t.TempDir())
	s := f.s
	creds := s.createApp(f.acc, f.app)
	f.token = creds.APIToken
	f.secret = rtmpSecret(t, s)
	auth := http.Header{"Authorization": {"Bearer " + f.token}, "Content-Type": {"application/json"}}

	code, body, _ := logged(t, http.MethodPost, s.base+"/accounts/acc-sec/realtime/kit/app-sec/livestreams", auth, `{"name":"secret-flow"}`)
	if code != http.StatusCreated {
		t.Fatalf("create: HTTP %d %s", code, body)
	}
	f.ls = f.create(t, "over-grpc")
	key := f.ls.GetStreamKey()
	if pub := f.publish(t, key, 7); pub.Status != http.StatusFound && pub.Status != http.StatusOK {
		t.Fatalf("on_publish: HTTP %d %s", pub.Status, pub.Raw)
	}
	if done := f.publishDone(t, key, 7); done.Status != http.StatusOK {
		t.Fatalf("on_publish_done: HTTP %d %s", done.Status, done.Raw)
	}
	// A hook livegate does not serve, a path no route matches, and the wrong letter case.
	f.callback(t, f.secret, "on_bogus", client(8))
	logged(t, http.MethodPost, s.base+"/rtmp/"+f.secret+"/on_publish/extra", nil, "call=publish")
	logged(t, http.MethodPost, s.base+"/RTMP/"+f.secret+"/on_publish", nil, "call=publish")

	hms := fmt.Appendf(nil, `{"version":"2.0","id":"evt-sec-1","account_id":"x","app_id":"y","timestamp":%q,"type":"peer.join.success","data":{"room_id":"room-sec","session_id":"s","peer_id":"p"}}`,
		time.Now().UTC().Format(time.RFC3339))
	if code, body, _ := logged(t, http.MethodPost, s.base+hmsPath(f.acc, f.app), http.Header{"X-Webhook-Secret": {creds.WebhookSecret}, "Content-Type": {"application/json"}}, string(hms)); code != http.StatusOK {
		t.Fatalf("100ms delivery: HTTP %d %s", code, body)
	}
	amityBody := `{"event":"video-streaming.didStart","data":{"stream":{"streamId":"st-sec","title":"t"}}}`
	logged(t, http.MethodPost, s.base+amityPath(f.acc, f.app), http.Header{
		amity.SignatureHeader: {amity.Sign([]byte(creds.WebhookSecret), []byte(amityBody))}, "Content-Type": {"application/json"},
	}, amityBody)

	// SSE with the token in the query, as EventSource sends it; closed once answered.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/accounts/acc-sec/realtime/kit/app-sec/events/sse?access_token="+url.QueryEscape(f.token), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("SSE: HTTP %d", resp.StatusCode)
	}
	cancel()
	resp.Body.Close()

	s.stop()
	log := s.log.String()
	for name, secret := range map[string]string{
		"API token": f.token, "webhook secret": creds.WebhookSecret, "stream key": key, "RTMP callback secret": f.secret,
	} {
		if secret == "" {
			t.Fatalf("%s is empty", name)
		}
		if strings.Contains(log, secret) {
			t.Errorf("the log holds the %s %q:\n%s", name, secret, log)
		}
	}
	for _, want := range []string{`"path":"/rtmp/***/on_publish"`, `"path":"/rtmp/***/on_bogus"`, `"path":"/rtmp/***/on_publish/extra"`, `"path":"/RTMP/***/on_publish"`, `"route":"/rtmp/{secret}/{hook}"`} {
		if !strings.Contains(log, want) {
			t.Errorf("no %s in the log", want)
		}
	}
	if n := len(s.logLines(t, "http request")); n != 9 {
		t.Errorf("%d HTTP lines, want one per request (9)", n)
	}
}

// TestRefusedRequestsLogBounded: the access and call log lines of refused requests are
// bounded (100 a second, bursts of 1,000), with a line saying how many were left out, while
// served requests are always logged; a long path is logged cut short. Until 2026-11-30 each
// refused request wrote its lines: the network audit's client with no token wrote 151 MB of
// log in 18 s.
func TestRefusedRequestsLogBounded(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp("acc-rl", "app-rl")
	const refused = 3000
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	c := &http.Client{Transport: tr}
	// First (the bound is not reached yet): a 404 with a 50,000-byte path, and a refused
	// list and a refused 100ms delivery for a 5,000-byte account id.
	longAcc := strings.Repeat("a", 5000)
	for _, u := range []string{"/" + strings.Repeat("x", 50_000), "/accounts/" + longAcc + "/realtime/kit/app-rl/livestreams"} {
		if resp, err := c.Get(s.base + u); err != nil {
			t.Fatal(err)
		} else {
			resp.Body.Close()
		}
	}
	if got := s.rawPost(t, hmsPath(longAcc, "app-rl"), "application/json", "{}", "X-Webhook-Secret", "nope"); got.Status != http.StatusBadRequest {
		t.Fatalf("a delivery for a 5,000-byte account id: %d %s", got.Status, got.Raw)
	}
	for _, l := range s.log.Lines("") {
		if len(l) > 2000 {
			t.Errorf("a %d-byte log line (a 5,000-byte account id, a 50,000-byte path): %.300s…", len(l), l)
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < refused; i += 8 {
				resp, err := c.Get(s.base + "/accounts/acc-rl/realtime/kit/app-rl/livestreams")
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	// And deliveries refused before their body is read (wrong secret).
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < refused; i += 8 {
				req, _ := http.NewRequest(http.MethodPost, s.base+hmsPath("acc-rl", "app-rl"), strings.NewReader("{}"))
				req.Header.Set("X-Webhook-Secret", "nope")
				resp, err := c.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if got := s.rest(http.MethodGet, "/accounts/acc-rl/realtime/kit/app-rl/livestreams", creds.APIToken, nil); got.Status != http.StatusOK {
		t.Fatalf("a served request: %d %s", got.Status, got.Raw)
	}
	var logged, served int
	var longLine map[string]any
	for _, l := range s.logLines(t, "http request") {
		switch {
		case l["status"] == float64(http.StatusUnauthorized):
			logged++
		case l["status"] == float64(http.StatusOK):
			served++
		case l["status"] == float64(http.StatusNotFound):
			longLine = l
		}
	}
	// The burst, what the rate refills meanwhile, and a margin for the call log's lines,
	// which draw on the same bound.
	most := accesslog.DefaultRefusedLinesBurst + int(elapsed.Seconds()*accesslog.DefaultRefusedLinesPerSecond) + 1
	if logged > most || logged == 0 {
		t.Errorf("%d of %d refused requests logged in %v, want 1 to %d", logged, refused, elapsed, most)
	}
	if served == 0 {
		t.Error("a served request was not logged")
	}
	if n := len(s.logLines(t, "refused before reading the body")); n > most {
		t.Errorf("%d of %d deliveries refused before their body logged in %v, want at most %d", n, refused, elapsed, most)
	}
	var left float64
	for _, l := range s.logLines(t, "access log lines of refused requests left out") {
		left += l["count"].(float64)
	}
	if left == 0 {
		t.Error("no line says how many lines were left out")
	}
	if longLine == nil {
		t.Error("the long path's request was not logged")
	} else if p, _ := longLine["path"].(string); len(p) > 300 || !strings.HasPrefix(p, "/xxx") {
		t.Errorf("a 50,000-byte path logged as %d bytes, want it cut to about 256", len(p))
	}
	t.Logf("%d of %d refused requests logged in %v; %v left out", logged, refused, elapsed, left)
}
