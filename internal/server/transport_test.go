package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/accesslog"
	"github.com/livegate/livegate/internal/rtmp"
	"github.com/livegate/livegate/internal/server"
	"github.com/livegate/livegate/internal/testenv"
)

// transportWait bounds every wait of the transport tests for something that must happen:
// the behaviour under test happens in well under a second; the bound only turns a hang
// into a failure.
const transportWait = 10 * time.Second

// rawConn opens a TCP connection to the server's HTTP face and writes head (request line
// and headers, "\r\n"-separated, without the blank line) and then body. The connection is
// closed when the test ends.
func rawConn(t *testing.T, s *testServer, head []string, body string) net.Conn {
	t.Helper()
	return rawConnWith(t, &net.Dialer{}, s, head, body)
}

func rawConnWith(t *testing.T, d *net.Dialer, s *testServer, head []string, body string) net.Conn {
	t.Helper()
	conn, err := d.Dial("tcp", s.srv.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if _, err := io.WriteString(conn, strings.Join(head, "\r\n")+"\r\n\r\n"+body); err != nil {
		t.Fatal(err)
	}
	return conn
}

// readAnswer reads one HTTP response from conn within transportWait.
func readAnswer(t *testing.T, conn net.Conn) (*http.Response, []byte, error) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(transportWait))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// envelope decodes a REST error envelope's first error.
func envelope(t testing.TB, raw []byte) (code int, message, reason string) {
	t.Helper()
	var env struct {
		Success *bool `json:"success"`
		Errors  []struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Reason  string `json:"reason"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(raw, &env); err != nil || env.Success == nil || *env.Success || len(env.Errors) != 1 {
		t.Fatalf("not an error envelope: %s", raw)
	}
	return env.Errors[0].Code, env.Errors[0].Message, env.Errors[0].Reason
}

// TestWebhookRefusedBeforeBody: a webhook or RTMP callback that can never be accepted
// (missing or wrong secret, no Amity signature) is answered from its headers and path, at
// once, while its declared 1 MiB body has not arrived: the server neither buffers nor waits
// for it. A wrong RTMP secret is 401 whatever the form. An unknown tenant is answered as a
// wrong secret is (an Amity delivery to one with a signature, like a wrong signature, after
// its body: TestWebhookUnknownTenantIsAWrongSecret), so as not to tell that it is unknown.
func TestWebhookRefusedBeforeBody(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp("acc-adm", "app-adm")
	secret, err := rtmp.CallbackSecret(context.Background(), s.db())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path  string
		headers     []string
		code        int
		reason      string
		wantMessage string
	}{
		{"100ms wrong secret", hmsPath("acc-adm", "app-adm"), []string{"X-Webhook-Secret: wrong"}, 401, "SIGNATURE_MISMATCH", "X-Webhook-Secret"},
		{"100ms no secret", hmsPath("acc-adm", "app-adm"), nil, 401, "SIGNATURE_MISMATCH", "X-Webhook-Secret"},
		{"100ms unknown tenant", hmsPath("acc-adm", "nope"), []string{"X-Webhook-Secret: " + creds.WebhookSecret}, 401, "SIGNATURE_MISMATCH", "X-Webhook-Secret"},
		{"Amity no signature", amityPath("acc-adm", "app-adm"), nil, 401, "SIGNATURE_MISMATCH", "x-amity-signature"},
		{"Amity unknown tenant, no signature", amityPath("nope", "app-adm"), nil, 401, "SIGNATURE_MISMATCH", "x-amity-signature"},
		{"RTMP wrong secret", "/rtmp/wrong/on_publish", nil, 401, "SIGNATURE_MISMATCH", "callback secret"},
		{"RTMP wrong secret, unknown hook", "/rtmp/wrong/on_nothing", nil, 401, "SIGNATURE_MISMATCH", "callback secret"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			head := append([]string{
				"POST " + c.path + " HTTP/1.1",
				"Host: livegate.test",
				"Content-Type: application/json",
				fmt.Sprintf("Content-Length: %d", 1<<20),
			}, c.headers...)
			conn := rawConn(t, s, head, `{"type":"p`) // 10 of 1 MiB, and the rest never comes
			resp, raw, err := readAnswer(t, conn)
			if err != nil {
				t.Fatalf("no answer while the body is pending: %v", err)
			}
			code, msg, reason := envelope(t, raw)
			if resp.StatusCode != c.code || code != c.code || reason != c.reason || !strings.Contains(msg, c.wantMessage) {
				t.Fatalf("got %d %s, want %d %s naming %q", resp.StatusCode, raw, c.code, c.reason, c.wantMessage)
			}
		})
	}

	// The right secret still gets through to the body: a bad form is the service's 400.
	for _, tc := range []struct {
		secret string
		code   int
		reason string
	}{{"wrong", 401, "SIGNATURE_MISMATCH"}, {secret, 400, "INVALID_ARGUMENT"}} {
		resp := s.rawPost(t, "/rtmp/"+tc.secret+"/on_publish", "application/x-www-form-urlencoded", "%%%not a form")
		if resp.Status != tc.code || resp.Body["errors"].([]any)[0].(map[string]any)["reason"] != tc.reason {
			t.Errorf("bad form with secret %q: %d %s, want %d %s", tc.secret, resp.Status, resp.Raw, tc.code, tc.reason)
		}
	}
}

// rawPost posts body with a Content-Type (or none, if contentType is empty).
func (s *testServer) rawPost(t *testing.T, path, contentType, body string, header ...string) restResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := rfHTTP.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := restResponse{Status: resp.StatusCode, Raw: raw}
	_ = json.Unmarshal(raw, &out.Body)
	return out
}

// TestStalledUploadIsCut: an authenticated client that sends part of a REST body and then
// nothing is cut after the read timeout, instead of holding its connection (and the
// server's buffer) for ever.
func TestStalledUploadIsCut(t *testing.T) {
	s := startServer(t, t.TempDir(), func(c *server.Config) {
		c.Limits.HTTPReadTimeout = 500 * time.Millisecond
	})
	creds := s.createApp("acc-up", "app-up")
	conn := rawConn(t, s, []string{
		"POST /accounts/acc-up/realtime/kit/app-up/livestreams HTTP/1.1",
		"Host: livegate.test",
		"Authorization: Bearer " + creds.APIToken,
		"Content-Type: application/json",
		"Content-Length: 1000",
	}, `{"name":"a`)
	_ = conn.SetReadDeadline(time.Now().Add(transportWait))
	answer, err := io.ReadAll(conn) // whatever the server says, until it closes
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the stalled upload was still open after %v (read %q)", transportWait, answer)
	}
	if got := firstLine(answer); got != "HTTP/1.1 408 Request Timeout" {
		t.Errorf("stalled upload answered %q, want 408", got)
	}
}

// TestStreamWithBodyRefused: a feed subscription (NDJSON or SSE) that declares a request
// body, with or without a token, is answered 400 at once. Its stream clears the read
// deadline, so until 2026-11-29 it waited for the body for ever (no answer after minutes),
// holding its declared length of the bodies-in-flight budget: 64 of them gave every tenant
// 429 on every request with a body.
func TestStreamWithBodyRefused(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp("acc-sb", "app-sb")
	base := "/accounts/acc-sb/realtime/kit/app-sb"
	for _, path := range []string{base + "/events:stream", base + "/events/sse"} {
		for _, framing := range []string{"Content-Length: 1048576", "Transfer-Encoding: chunked"} {
			for _, token := range []string{"", creds.APIToken} {
				head := []string{"GET " + path + " HTTP/1.1", "Host: livegate.test", framing}
				if token != "" {
					head = append(head, "Authorization: Bearer "+token)
				}
				resp, raw, err := readAnswer(t, rawConn(t, s, head, ""))
				if err != nil {
					t.Errorf("GET %s with %s (token: %v): no answer: %v", path, framing, token != "", err)
					continue
				}
				if code, _, reason := envelope(t, raw); resp.StatusCode != http.StatusBadRequest || code != 400 || reason != "INVALID_ARGUMENT" {
					t.Errorf("GET %s with %s (token: %v): %d %s, want 400 INVALID_ARGUMENT", path, framing, token != "", resp.StatusCode, raw)
				}
			}
		}
	}
	// The budget is whole: a delivery with a body is taken.
	if resp := s.post(hmsPath("acc-sb", "app-sb"), map[string]string{"X-Webhook-Secret": creds.WebhookSecret}, hmsBody("peer.join.success", "room-sb", 0)); resp.Status != http.StatusOK {
		t.Errorf("a delivery after the refused streams: %d %s, want 200", resp.Status, resp.Raw)
	}
}

// TestStalledWebhookUploadIs408: a webhook caller admitted from its headers that then stalls
// its body gets 408 after the read timeout, on the raw webhook routes too.
func TestStalledWebhookUploadIs408(t *testing.T) {
	s := startServer(t, t.TempDir(), func(c *server.Config) {
		c.Limits.HTTPReadTimeout = 500 * time.Millisecond
	})
	creds := s.createApp("acc-up", "app-up")
	conn := rawConn(t, s, []string{
		"POST " + hmsPath("acc-up", "app-up") + " HTTP/1.1",
		"Host: livegate.test",
		"X-Webhook-Secret: " + creds.WebhookSecret,
		"Content-Type: application/json",
		"Content-Length: 1000",
	}, `{"type":"p`)
	resp, raw, err := readAnswer(t, conn)
	if err != nil {
		t.Fatalf("no answer to the stalled delivery: %v", err)
	}
	if code, msg, _ := envelope(t, raw); resp.StatusCode != http.StatusRequestTimeout || code != 408 || !strings.Contains(msg, "read timeout") {
		t.Errorf("stalled delivery: %d %s, want 408 naming the read timeout", resp.StatusCode, raw)
	}
}

// stallUpload opens an Amity delivery with a forged signature, which only its body can
// disprove, declaring 1 MiB and stalled one byte short of its end: once the server has read
// it, it holds 1 MiB less a byte of the bodies-in-flight budget until it is answered.
func stallUpload(t *testing.T, s *testServer, ft feedTenant) net.Conn {
	t.Helper()
	return rawConn(t, s, []string{
		"POST " + amityPath(ft.acc, ft.app) + " HTTP/1.1",
		"Host: livegate.test",
		"x-amity-signature: Zm9yZ2Vk",
		"Content-Type: application/json",
		fmt.Sprintf("Content-Length: %d", 1<<20),
	}, `{"event":"`+strings.Repeat("v", 1<<20-11))
}

// answered reports whether the server has answered conn (without waiting for it).
func answered(conn net.Conn) bool {
	_ = conn.SetReadDeadline(time.Now().Add(time.Millisecond))
	n, err := conn.Read(make([]byte, 1))
	_ = conn.SetReadDeadline(time.Time{})
	var ne net.Error
	return n > 0 || err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// holdUploads opens two stalled uploads (stall) and probes with a delivery of ft's until one
// is refused; it returns that answer and the two uploads, which then hold what their bodies
// fill. A probe in flight
// while an upload's last bytes are read may leave that read no room, and the upload is
// refused: it is then opened again, and given time to be read before the next probe (a
// probe right behind it would win the race again and again on a busy machine).
func holdUploads(t *testing.T, s *testServer, ft feedTenant, stall func() net.Conn) (restResponse, []net.Conn) {
	t.Helper()
	stalled := []net.Conn{stall(), stall()}
	var got restResponse
	testenv.WaitFor(t, "a delivery refused while two uploads stall", func() bool {
		reopened := false
		for i, c := range stalled {
			if answered(c) {
				_ = c.Close()
				stalled[i], reopened = stall(), true
			}
		}
		if reopened {
			time.Sleep(100 * time.Millisecond)
			return false
		}
		got = s.rawPost(t, hmsPath(ft.acc, ft.app), "application/json", string(hmsBody("peer.join.success", "r", 1)), "X-Webhook-Secret", ft.secret)
		return got.Status != http.StatusOK
	})
	return got, stalled
}

// TestBodiesInFlightBounded: request body bytes received and not yet answered are bounded,
// whoever sends them (here: Amity deliveries with a forged signature, which only the body
// can disprove, stalled one byte short of their end). Past the budget a request with a body
// is answered 429 with Retry-After; requests without a body are not affected; once the
// stalled uploads are gone, bodies are taken again.
func TestBodiesInFlightBounded(t *testing.T) {
	s := startServer(t, t.TempDir(), func(c *server.Config) {
		c.Limits.HTTPMaxBodyBytesInFlight = 2 << 20
	})
	ft := newFeedTenant(s, "acc-fl", "app-fl")
	stall := func() net.Conn { return stallUpload(t, s, ft) }
	// The two stalled uploads hold the whole budget once the server has read their bodies.
	resp, stalled := holdUploads(t, s, ft, stall)
	if resp.Status != http.StatusTooManyRequests || resp.Body["errors"].([]any)[0].(map[string]any)["reason"] != "TOO_MANY_REQUESTS" {
		t.Fatalf("delivery past the body budget: %d %s, want 429 TOO_MANY_REQUESTS", resp.Status, resp.Raw)
	}
	// A third upload, refused part-way through its body (which it never finishes), is
	// answered at once, not after the read timeout spent reading the rest.
	if r, raw, err := readAnswer(t, stall()); err != nil || r.StatusCode != http.StatusTooManyRequests {
		t.Errorf("an upload refused part-way: %v %s %v, want 429 within %v", r, raw, err, transportWait)
	}
	req, _ := http.NewRequest(http.MethodPost, s.base+hmsPath(ft.acc, ft.app), bytes.NewReader(hmsBody("peer.join.success", "r", 3)))
	req.Header.Set("X-Webhook-Secret", ft.secret)
	r, err := rfHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, r.Body)
	r.Body.Close()
	if r.Header.Get("Retry-After") != "1" {
		t.Errorf("429 for body budget: Retry-After %q, want 1", r.Header.Get("Retry-After"))
	}
	if got := s.rest(http.MethodGet, "/accounts/acc-fl/realtime/kit/app-fl/livestreams", ft.token, nil); got.Status != http.StatusOK {
		t.Errorf("a request without a body while the budget is taken: %d %s", got.Status, got.Raw)
	}
	for _, c := range stalled {
		_ = c.Close()
	}
	testenv.WaitFor(t, "deliveries taken again once the stalled uploads are gone", func() bool {
		_, err := postHMS(s.base, ft, hmsBody("peer.join.success", "r", 2))
		return err == nil
	})
}

// TestBodiesInFlightPerClient: one client (one address) holds at most its share of the
// bodies-in-flight budget, so that its stalled uploads cannot take the budget from everyone
// else. Client A (127.0.0.1) stalls two uploads of almost 1 MiB with a budget of 3 MiB and
// a share of 2 MiB: A's next delivery and a third upload are refused 429 naming the client,
// while client B (127.0.0.2) and a client behind a trusted proxy (A's address with its own
// X-Forwarded-For) deliver. Until 2026-11-30 the budget was one pool: A's three uploads
// held all of it, and every other client was answered 429 until they ended.
func TestBodiesInFlightPerClient(t *testing.T) {
	proxies, err := accesslog.ParseProxies("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, t.TempDir(), func(c *server.Config) {
		c.Limits.HTTPMaxBodyBytesInFlight = 3 << 20
		c.Limits.HTTPMaxBodyBytesInFlightPerClient = 2 << 20
		c.TrustedProxies = proxies
	})
	ft := newFeedTenant(s, "acc-pc", "app-pc")
	stall := func() net.Conn { return stallUpload(t, s, ft) }
	// Two uploads fill A's share (a few bytes short of 2 MiB) once the server has read them.
	got, stalled := holdUploads(t, s, ft, stall)
	if code, msg, _ := envelope(t, []byte(got.Raw)); got.Status != http.StatusTooManyRequests || code != 429 || !strings.Contains(msg, "from this client") {
		t.Errorf("a delivery from the client holding its share: %d %s, want 429 naming the client", got.Status, got.Raw)
	}
	// A third upload is refused at once, not held.
	resp, raw, err := readAnswer(t, stall())
	if err != nil {
		t.Fatalf("a third upload from the client holding its share: no answer: %v", err)
	}
	code, msg, reason := envelope(t, raw)
	if resp.StatusCode != http.StatusTooManyRequests || code != 429 || reason != "TOO_MANY_REQUESTS" ||
		!strings.Contains(msg, "from this client") || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("a third upload from the client holding its share: %d Retry-After %q %s, want 429 naming the client, Retry-After 1",
			resp.StatusCode, resp.Header.Get("Retry-After"), raw)
	}

	// Client B, from another address, and a client behind the trusted proxy, deliver.
	other := &http.Client{Timeout: transportWait, Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext,
	}}
	for i, c := range []struct {
		name   string
		client *http.Client
		header []string
	}{
		{"another address", other, nil},
		{"behind the trusted proxy", rfHTTP, []string{"X-Forwarded-For", "198.51.100.7"}},
	} {
		req, _ := http.NewRequest(http.MethodPost, s.base+hmsPath(ft.acc, ft.app), bytes.NewReader(hmsBody("peer.join.success", "r", 10+i)))
		req.Header.Set("X-Webhook-Secret", ft.secret)
		req.Header.Set("Content-Type", "application/json")
		for j := 0; j < len(c.header); j += 2 {
			req.Header.Set(c.header[j], c.header[j+1])
		}
		r, err := c.client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != http.StatusOK {
			t.Errorf("a delivery from %s while one client holds its share: %d %s, want 200", c.name, r.StatusCode, b)
		}
	}
	for _, c := range stalled {
		_ = c.Close()
	}
	testenv.WaitFor(t, "the client's deliveries taken again once its stalled uploads are gone", func() bool {
		_, err := postHMS(s.base, ft, hmsBody("peer.join.success", "r", 2))
		return err == nil
	})
}

// TestDeclaredBodiesHoldNothing: what counts against the bodies-in-flight budget is what
// has arrived, not what a request declares. Connections that declare 1 MiB bodies, more
// than the whole budget together, and send none of it (no token needed: an Amity delivery
// is only judged by its body) leave every other tenant's deliveries and requests with
// bodies untouched. Until 2026-11-29 each reserved its declared length: 64 of them gave
// every tenant 429 for the 30 s of the read timeout, renewable.
func TestDeclaredBodiesHoldNothing(t *testing.T) {
	s := startServer(t, t.TempDir(), func(c *server.Config) {
		c.Limits.HTTPMaxBodyBytesInFlight = 2 << 20
	})
	ft := newFeedTenant(s, "acc-dh", "app-dh")
	for _, path := range []string{amityPath("acc-x", "app-x"), "/accounts/acc-x/realtime/kit/app-x/livestreams"} {
		for range 4 {
			rawConn(t, s, []string{
				"POST " + path + " HTTP/1.1",
				"Host: livegate.test",
				"x-amity-signature: Zm9yZ2Vk",
				"Authorization: Bearer lgt_nope",
				"Content-Type: application/json",
				fmt.Sprintf("Content-Length: %d", 1<<20),
			}, "")
		}
	}
	time.Sleep(200 * time.Millisecond) // the server has read their headers
	for i := range 5 {
		if _, err := postHMS(s.base, ft, hmsBody("peer.join.success", "r", i)); err != nil {
			t.Fatalf("a delivery while 8 declared 1 MiB bodies were pending: %v", err)
		}
	}
	if got := s.rest(http.MethodPost, "/accounts/acc-dh/realtime/kit/app-dh/livestreams", ft.token, map[string]any{"name": "x"}); got.Status != http.StatusCreated {
		t.Errorf("a create while 8 declared 1 MiB bodies were pending: %d %s", got.Status, got.Raw)
	}
}

func firstLine(b []byte) string {
	line, _, _ := strings.Cut(string(b), "\r\n")
	return line
}

// newStreamApp is an rfApp on a server tuned by tune.
func newStreamApp(t *testing.T, tune func(*server.Config)) *rfApp {
	t.Helper()
	s := startServer(t, t.TempDir(), tune)
	creds := s.createApp("acc-feed", "app-feed")
	return &rfApp{s: s, acc: "acc-feed", app: "app-feed", token: creds.APIToken, secret: creds.WebhookSecret}
}

// TestStreamsOutliveHTTPTimeouts: SSE and NDJSON subscriptions stay open, and deliver, long
// past the server's read and write timeouts (which bound ordinary requests).
func TestStreamsOutliveHTTPTimeouts(t *testing.T) {
	const timeout = 300 * time.Millisecond
	f := newStreamApp(t, func(c *server.Config) {
		c.Limits.HTTPReadTimeout = timeout
		c.Limits.HTTPWriteTimeout = timeout
	})
	first := f.post(t, "peer.join.success", "room-1") // replayed: both streams start at once
	sse := sseOK(t, f.open(t, f.path("/events/sse"), rfBearer(f.token)))
	nd := f.open(t, f.path("/events:stream"), rfBearer(f.token))
	if nd.StatusCode != http.StatusOK {
		t.Fatalf("events:stream: %d", nd.StatusCode)
	}
	lines := ndjsonLines(t, nd.Body)
	wantSSEEvent(t, sse, first, "peer.join.success")
	wantNDJSONEvent(t, lines, first, "peer.join.success")
	for range 2 {
		time.Sleep(4 * timeout)
		seq := f.post(t, "peer.join.success", "room-1")
		wantSSEEvent(t, sse, seq, "peer.join.success")
		wantNDJSONEvent(t, lines, seq, "peer.join.success")
	}
}

// TestStreamReaderThatStopsIsCut: an SSE or NDJSON subscriber that never reads is
// disconnected once a write to it has been blocked for the stall timeout, instead of being
// held for ever. The
// client's receive buffer is small and the events are large, so the server's writes block.
func TestStreamReaderThatStopsIsCut(t *testing.T) {
	f := newStreamApp(t, func(c *server.Config) {
		c.Feed.StallTimeout = 500 * time.Millisecond
		c.AdminAddr = "127.0.0.1:0" // its metrics say when the server has ended the subscriptions
	})
	blob := strings.Repeat("x", 900<<10)
	for i := range 10 { // 9 MB: more than loopback's socket buffers hold
		body := hmsDelivery("custom.big", time.Now(), fmt.Sprintf(`{"n":%d,"blob":%q}`, i, blob))
		if _, err := postHMS(f.s.base, feedTenant{acc: f.acc, app: f.app, secret: f.secret}, body); err != nil {
			t.Fatal(err)
		}
	}
	d := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
	var conns []net.Conn
	for _, route := range []string{"/events/sse", "/events:stream"} {
		conns = append(conns, rawConnWith(t, d, f.s, []string{
			"GET " + f.path(route) + " HTTP/1.1",
			"Host: livegate.test",
			"Authorization: Bearer " + f.token,
		}, ""))
	}
	// Not reading: the server encodes the replay (seconds under -race), fills the socket
	// buffers, and its next write blocks past the stall timeout. The client starts reading only
	// once the server has ended both subscriptions' calls (however long the replay took on a
	// loaded machine); a server that never cuts them fails here.
	testenv.WaitFor(t, "the server to end both stalled subscriptions", func() bool {
		var ended float64
		for _, s := range scrapeMetrics(t, f.s.srv.AdminAddr()).samples {
			if s.name == "grpc_server_handled_total" && s.labels["grpc_method"] == "Subscribe" {
				ended += s.value
			}
		}
		return ended >= 2
	})
	// The answer must end: the connection cut (its write blocked past the deadline), or, when
	// the gRPC side noticed the stall first and the client's reading let the last write
	// through, the chunked answer closed with its error line (the connection may then be
	// kept alive, so reading it to EOF would not tell).
	for i, conn := range conns {
		_, body, err := readAnswer(t, conn)
		n := len(body)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("subscriber %d: its answer has not ended after reading %d bytes for %v", i, n, transportWait)
		}
		if err == nil && !bytes.Contains(body, []byte("SUBSCRIBER_STALLED")) {
			t.Fatalf("subscriber %d: its answer ended after %d bytes without saying why (SUBSCRIBER_STALLED): ...%q", i, n, body[max(0, n-300):])
		}
		if n >= 9*900<<10 {
			t.Fatalf("subscriber %d got all %d bytes: the server's writes never blocked, the test proves nothing", i, n)
		}
		t.Logf("stalled subscriber %d cut after %d bytes: %v", i, n, err)
	}
}

// TestGRPCStreamsPerConnection: the 101st concurrent call on one gRPC connection waits for a
// free stream (gRPC clients queue calls past the server's MAX_CONCURRENT_STREAMS): it does
// not start while 100 are open, and starts as soon as one ends.
func TestGRPCStreamsPerConnection(t *testing.T) {
	s := startServer(t, t.TempDir())
	ft := newFeedTenant(s, "acc-streams", "app-streams")
	conn := dialFeed(t, s.srv.GRPCAddr())
	events := livegatev1.NewEventServiceClient(conn)
	// One call first: the server's SETTINGS (its stream limit) have arrived.
	if _, err := events.ListEvents(withToken(ft.token), &livegatev1.ListEventsRequest{AccountId: ft.acc, AppId: ft.app}); err != nil {
		t.Fatal(err)
	}
	limit := server.DefaultLimits().GRPCMaxStreamsPerConn
	cancels := make([]context.CancelFunc, limit)
	for i := range limit {
		ctx, cancel := context.WithCancel(withToken(ft.token))
		cancels[i] = cancel
		t.Cleanup(cancel)
		stream, err := events.Subscribe(ctx, &livegatev1.SubscribeRequest{AccountId: ft.acc, AppId: ft.app})
		if err != nil {
			t.Fatalf("stream %d: %v", i+1, err)
		}
		if _, err := stream.Header(); err != nil {
			t.Fatalf("stream %d: %v", i+1, err)
		}
	}
	over := func(wait time.Duration) error {
		ctx, cancel := context.WithTimeout(withToken(ft.token), wait)
		defer cancel()
		stream, err := events.Subscribe(ctx, &livegatev1.SubscribeRequest{AccountId: ft.acc, AppId: ft.app})
		if err == nil {
			_, err = stream.Header()
		}
		return err
	}
	if err := over(time.Second); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("call %d on one connection: %v, want it to wait for a stream (DeadlineExceeded)", limit+1, err)
	}
	cancels[0]()
	if err := over(transportWait); err != nil {
		t.Fatalf("call %d after one ended: %v", limit+1, err)
	}
}

// TestRESTStreamsNotCappedPerConnection: the gateway carries every REST subscription over
// its one gRPC connection; the per-connection stream limit of gRPC clients does not cap
// them.
func TestRESTStreamsNotCappedPerConnection(t *testing.T) {
	f := newStreamApp(t, func(c *server.Config) { c.Limits.GRPCMaxStreamsPerConn = 2 })
	seq := f.post(t, "peer.join.success", "room-1")
	var streams []<-chan ndjsonLine
	for range 4 {
		resp := f.open(t, f.path("/events:stream"), rfBearer(f.token))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("events:stream: %d", resp.StatusCode)
		}
		streams = append(streams, ndjsonLines(t, resp.Body))
	}
	for _, lines := range streams {
		wantNDJSONEvent(t, lines, seq, "peer.join.success")
	}
}

// TestConnectionsPerClient: one client address holds at most its share of each listener's
// connections. With HTTP 2 a client (of 8) and gRPC 1 (of 8): a third HTTP connection from
// 127.0.0.1 is answered 429 and closed at once, and a second gRPC client from it fails fast,
// while 127.0.0.2 is served on both; a trusted proxy's connections are not bounded; closing
// one gives its place back. Until 2026-11-30 the bound was for all clients together: the
// network audit's one address held all 4,096 HTTP and 1,024 gRPC connections (idle
// keep-alive, health Watch), and every other client's new connection waited.
func TestConnectionsPerClient(t *testing.T) {
	tune := func(c *server.Config) {
		c.Limits.MaxHTTPConns, c.Limits.HTTPMaxConnsPerClient = 8, 2
		c.Limits.MaxGRPCConns, c.Limits.GRPCMaxConnsPerClient = 8, 1
	}
	s := startServer(t, t.TempDir(), tune)
	from := func(ip byte) *net.Dialer {
		return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, ip)}, Timeout: transportWait}
	}
	get := func(conn net.Conn) (*http.Response, []byte, error) {
		if _, err := io.WriteString(conn, "GET /openapi.json HTTP/1.1\r\nHost: livegate.test\r\n\r\n"); err != nil {
			return nil, nil, err
		}
		return readAnswer(t, conn)
	}
	open := func(d *net.Dialer) net.Conn {
		conn, err := d.Dial("tcp", s.srv.HTTPAddr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return conn
	}
	var held []net.Conn
	for range 2 {
		conn := open(from(1))
		if resp, _, err := get(conn); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("a held connection from 127.0.0.1: %v %v", resp, err)
		}
		held = append(held, conn)
	}
	resp, raw, err := get(open(from(1)))
	if err != nil {
		t.Fatalf("a third connection from 127.0.0.1: %v, want 429", err)
	}
	if code, msg, reason := envelope(t, raw); resp.StatusCode != http.StatusTooManyRequests || code != 429 ||
		reason != "TOO_MANY_REQUESTS" || !strings.Contains(msg, "too many connections from this address") || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("a third connection from 127.0.0.1: %d %s, want 429 naming the address's connections", resp.StatusCode, raw)
	}
	if resp, _, err := get(open(from(2))); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("a connection from 127.0.0.2 while 127.0.0.1 holds its share: %v %v", resp, err)
	}
	_ = held[0].Close()
	testenv.WaitFor(t, "127.0.0.1 served again once one of its connections closed", func() bool {
		resp, _, err := get(open(from(1)))
		return err == nil && resp.StatusCode == http.StatusOK
	})

	// gRPC: the second connection from 127.0.0.1 is closed at once (the call fails fast, not
	// at its deadline); 127.0.0.2 is served.
	check := func(ip byte) error {
		conn := dialFeed(t, s.srv.GRPCAddr(), grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return from(ip).DialContext(ctx, "tcp", addr)
		}))
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}
	if err := check(1); err != nil {
		t.Fatalf("the first gRPC connection from 127.0.0.1: %v", err)
	}
	if err := check(1); status.Code(err) != codes.Unavailable {
		t.Errorf("a second gRPC connection from 127.0.0.1 with a share of 1: %v, want UNAVAILABLE", err)
	}
	if err := check(2); err != nil {
		t.Errorf("a gRPC connection from 127.0.0.2: %v", err)
	}

	// Behind a trusted proxy every client shares its address: the proxy is not bounded.
	proxies, err := accesslog.ParseProxies("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	p := startServer(t, t.TempDir(), func(c *server.Config) { tune(c); c.TrustedProxies = proxies })
	for i := range 4 {
		conn, err := from(1).Dial("tcp", p.srv.HTTPAddr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		if resp, _, err := get(conn); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("connection %d from a trusted proxy: %v %v", i+1, resp, err)
		}
	}
}

// TestHTTPConnectionLimit: past the connection limit, a new connection is not served while
// the limit is held, and is served once a connection closes.
func TestHTTPConnectionLimit(t *testing.T) {
	s := startServer(t, t.TempDir(), func(c *server.Config) {
		c.Limits.MaxHTTPConns = 2
	})
	checkTwoConnLimit(t, s.srv.HTTPAddr(), "/openapi.json")
}

// checkTwoConnLimit checks a listener at addr that accepts 2 connections at once: two
// keep-alive connections, each served a GET of path and then held idle, make a third wait to
// be accepted (a GET on it times out) until one of them closes.
func checkTwoConnLimit(t *testing.T, addr, path string) {
	t.Helper()
	get := func(conn net.Conn) (*http.Response, error) {
		if _, err := io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: livegate.test\r\n\r\n"); err != nil {
			return nil, err
		}
		resp, _, err := readAnswer(t, conn)
		return resp, err
	}
	var held []net.Conn
	for range 2 {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		if resp, err := get(conn); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("held connection: %v %v", resp, err)
		}
		held = append(held, conn)
	}
	fresh := func(wait time.Duration) error {
		c := &http.Client{Timeout: wait, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get("http://" + addr + path)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	if err := fresh(time.Second); err == nil {
		t.Fatal("a third connection was served while two were held with a limit of 2")
	}
	_ = held[0].Close()
	if err := fresh(transportWait); err != nil {
		t.Fatalf("after a held connection closed: %v", err)
	}
}

// TestGRPCMetadataBounded: a gRPC call's metadata, which the server holds for the life of
// the call, is bounded: 12 KiB of it is taken, 32 and 128 KiB refused. Until 2026-11-29
// gRPC's 16 MiB applied: 60 never-read subscriptions with 15 MiB each pinned about 1 GB;
// until 2026-11-30 the bound was 64 KiB (32 KiB was taken).
func TestGRPCMetadataBounded(t *testing.T) {
	s := startServer(t, t.TempDir())
	health := healthpb.NewHealthClient(dialFeed(t, s.srv.GRPCAddr()))
	check := func(pad int) error {
		ctx, cancel := context.WithTimeout(t.Context(), transportWait)
		defer cancel()
		ctx = metadata.AppendToOutgoingContext(ctx, "x-pad", strings.Repeat("p", pad))
		_, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}
	if err := check(1); err != nil { // the connection is up, with the server's settings
		t.Fatal(err)
	}
	if err := check(12 << 10); err != nil {
		t.Errorf("12 KiB of metadata: %v, want it taken", err)
	}
	for _, kib := range []int{32, 128} {
		if err := check(kib << 10); err == nil {
			t.Errorf("%d KiB of metadata was taken", kib)
		} else {
			t.Logf("%d KiB of metadata: %v", kib, err)
		}
	}
}

// TestGRPCRequestNeverSent: a call whose request message never comes, with no token, ends
// after the request timeout (gRPC reads a unary call's request before any interceptor, so
// before authentication). Until 2026-11-29 such calls stayed open as long as the connection
// did, each holding its stream, a goroutine and its metadata. A call that sends its request
// in time, a stream included, runs as before, past the timeout.
func TestGRPCRequestNeverSent(t *testing.T) {
	const timeout = 300 * time.Millisecond
	s := startServer(t, t.TempDir(), func(c *server.Config) {
		c.Limits.GRPCRequestTimeout = timeout
	})
	conn := dialFeed(t, s.srv.GRPCAddr())
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer lgt_nope"), transportWait)
	defer cancel()
	start := time.Now()
	call, err := conn.NewStream(ctx, &grpc.StreamDesc{}, livegatev1.EventService_ListEvents_FullMethodName)
	if err != nil {
		t.Fatal(err)
	}
	// No SendMsg: the request never comes.
	err = call.RecvMsg(new(livegatev1.ListEventsResponse))
	if status.Code(err) == codes.DeadlineExceeded || time.Since(start) >= transportWait {
		t.Fatalf("a call without its request was still open after %v: %v", time.Since(start), err)
	}
	if status.Code(err) != codes.Canceled {
		t.Errorf("a call without its request ended %v, want CANCELLED", err)
	}

	// A subscription that sent its request lives on past the timeout.
	ft := newFeedTenant(s, "acc-rq", "app-rq")
	sub, err := livegatev1.NewEventServiceClient(conn).Subscribe(withToken(ft.token),
		&livegatev1.SubscribeRequest{AccountId: ft.acc, AppId: ft.app})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * timeout)
	seq, err := postHMS(s.base, ft, hmsBody("peer.join.success", "room-rq", 0))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := sub.Recv()
	if err != nil || resp.GetEvent().GetSequence() != seq {
		t.Fatalf("a subscription past the request timeout: %v, %v; want event %d", resp, err, seq)
	}
}

// TestGRPCSilentConnectionClosed: a gRPC connection that never sends its HTTP/2 preface is
// closed after the handshake timeout, freeing its place under MaxGRPCConns for a real
// client. Until 2026-11-29 gRPC's default of 120 s applied: --grpc-max-conns silent sockets
// kept every new gRPC client out for two minutes.
func TestGRPCSilentConnectionClosed(t *testing.T) {
	s := startServer(t, t.TempDir(), func(c *server.Config) {
		c.Limits.MaxGRPCConns = 1
		c.Limits.GRPCHandshakeTimeout = 300 * time.Millisecond
	})
	silent, err := net.Dial("tcp", s.srv.GRPCAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	start := time.Now()
	_ = silent.SetReadDeadline(time.Now().Add(transportWait))
	// The server sends its settings at once; then it closes the connection.
	_, err = io.Copy(io.Discard, silent)
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("a silent gRPC connection was still open after %v", transportWait)
	}
	t.Logf("the silent connection was closed after %v", time.Since(start).Round(time.Millisecond))
	// Its place is free: a client is served.
	ctx, cancel := context.WithTimeout(t.Context(), transportWait)
	defer cancel()
	if _, err := healthpb.NewHealthClient(dialFeed(t, s.srv.GRPCAddr())).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil {
		t.Fatalf("a client after the silent connection: %v", err)
	}
}

// TestAdminListenerBounded: the admin listener (metrics, health, pprof) bounds its clients as
// the public one does: a request that declares a body it never sends is answered and its
// connection closed after the read timeout, and connections past AdminMaxConns wait to be
// accepted. Until 2026-11-29 it had neither: GET /livez with Content-Length: 5 and no body
// was still open after 90 s, and enough of them ran the process out of file descriptors,
// the public listeners too.
func TestAdminListenerBounded(t *testing.T) {
	s := startServer(t, t.TempDir(), func(c *server.Config) {
		c.AdminAddr = "127.0.0.1:0"
		c.Limits.AdminReadTimeout = 300 * time.Millisecond
		c.Limits.AdminMaxConns = 2
	})
	stalled, err := net.Dial("tcp", s.srv.AdminAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	if _, err := io.WriteString(stalled, "GET /livez HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = stalled.SetReadDeadline(time.Now().Add(transportWait))
	answer, err := io.ReadAll(stalled)
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("a request stalled in its body was still open after %v (read %q)", transportWait, answer)
	}

	// Two connections held (each served once, then idle); a third waits until one closes.
	checkTwoConnLimit(t, s.srv.AdminAddr(), "/livez")
}

// TestNonUTF8URLIs400: a path or query parameter that percent-decodes to bytes that are not
// UTF-8 is 400 INVALID_ARGUMENT, with or without a token, on every kind of route. Until
// 2026-11-29 it was a 500 ("grpc: error while marshaling: string field contains invalid
// UTF-8"): anyone could raise the server's 5xx rate.
func TestNonUTF8URLIs400(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp("acc-u8", "app-u8")
	base := "/accounts/acc-u8/realtime/kit/app-u8"
	for _, tc := range []struct{ method, path string }{
		{"GET", "/accounts/%ff/realtime/kit/b/livestreams"},
		{"GET", base + "/meetings/%ff/active-livestream"},
		{"GET", base + "/livestreams/sessions/%ff"},
		{"GET", base + "/events?type=%ff."},
		{"GET", base + "/events?%ff=1"},
		{"GET", base + "/events:stream?room_id=%ff"},
		{"GET", base + "/events/sse?room_id=%ff"},
		{"POST", base + "/webhooks/%ff"},
	} {
		for _, token := range []string{"", creds.APIToken} {
			req, err := http.NewRequest(tc.method, s.base+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if code, _, reason := envelope(t, raw); resp.StatusCode != http.StatusBadRequest || code != 400 || reason != "INVALID_ARGUMENT" {
				t.Errorf("%s %s (token: %v): %d %s, want 400 INVALID_ARGUMENT", tc.method, tc.path, token != "", resp.StatusCode, raw)
			}
		}
	}
}

// TestBodyOverLimitIs413: a body over 1 MiB is 413 PAYLOAD_TOO_LARGE with the same message
// on REST API and webhook routes, declared or chunked.
func TestBodyOverLimitIs413(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp("acc-big", "app-big")
	big := `{"name":"` + strings.Repeat("x", 1<<20) + `"}`
	const want = "request body is over the 1048576-byte limit"
	for _, path := range []string{"/accounts/acc-big/realtime/kit/app-big/livestreams", hmsPath("acc-big", "app-big")} {
		for _, chunked := range []bool{false, true} {
			var body io.Reader = strings.NewReader(big)
			if chunked {
				body = io.MultiReader(body) // no length: sent chunked
			}
			req, err := http.NewRequest(http.MethodPost, s.base+path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+creds.APIToken)
			req.Header.Set("X-Webhook-Secret", creds.WebhookSecret)
			resp, err := rfHTTP.Do(req)
			if err != nil {
				t.Fatalf("POST %s: %v", path, err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			code, msg, reason := envelope(t, raw)
			if resp.StatusCode != 413 || code != 413 || reason != "PAYLOAD_TOO_LARGE" || msg != want {
				t.Errorf("POST %s (chunked %v): %d %s, want 413 PAYLOAD_TOO_LARGE %q", path, chunked, resp.StatusCode, raw, want)
			}
		}
	}
}

// TestContentType: REST API routes take JSON bodies (application/json with parameters, any
// +json type, or no Content-Type); other types are 415 naming the accepted type. Webhook
// routes take their providers' bodies whatever the label.
func TestContentType(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp("acc-ct", "app-ct")
	path := "/accounts/acc-ct/realtime/kit/app-ct/livestreams"
	for _, tc := range []struct {
		contentType string
		code        int
	}{
		{"application/json", 201},
		{"application/json; charset=utf-8", 201},
		{"Application/JSON", 201},
		{"application/vnd.livegate+json", 201},
		{"", 201},
		{"text/plain", 415},
		{"application/x-www-form-urlencoded", 415},
		{"multipart/form-data; boundary=x", 415},
		{"not a media type", 415},
	} {
		resp := s.rawPost(t, path, tc.contentType, `{"name":"ct"}`, "Authorization", "Bearer "+creds.APIToken)
		if resp.Status != tc.code {
			t.Errorf("Content-Type %q: %d %s, want %d", tc.contentType, resp.Status, resp.Raw, tc.code)
			continue
		}
		if tc.code == 415 {
			code, msg, reason := envelope(t, resp.Raw)
			if code != 415 || reason != "UNSUPPORTED_MEDIA_TYPE" || !strings.Contains(msg, "application/json") {
				t.Errorf("Content-Type %q: %s", tc.contentType, resp.Raw)
			}
		}
	}
	// A webhook labelled text/plain is still taken.
	body := hmsBody("peer.join.success", "room-ct", 1)
	resp := s.rawPost(t, hmsPath("acc-ct", "app-ct"), "text/plain", string(body), "X-Webhook-Secret", creds.WebhookSecret)
	if resp.Status != 200 {
		t.Errorf("webhook as text/plain: %d %s", resp.Status, resp.Raw)
	}
}

// TestSizeErrorsAre413: gRPC's own message-size errors (RESOURCE_EXHAUSTED without a
// livegate reason) are 413 with gRPC's message on the REST face, not 429 (which would tell
// the client to retry the same request later). And a gRPC request message over the server's
// limit is refused with RESOURCE_EXHAUSTED before any check.
func TestSizeErrorsAre413(t *testing.T) {
	s := startServer(t, t.TempDir(), func(c *server.Config) { c.Limits.GatewayMaxRecvBytes = 4096 })
	ft := newFeedTenant(s, "acc-size", "app-size")
	body := hmsDelivery("custom.mid", time.Now(), fmt.Sprintf(`{"blob":%q}`, strings.Repeat("y", 8192)))
	if _, err := postHMS(s.base, ft, body); err != nil {
		t.Fatal(err)
	}
	resp := s.rest(http.MethodGet, "/accounts/acc-size/realtime/kit/app-size/events", ft.token, nil)
	code, msg, reason := envelope(t, resp.Raw)
	if resp.Status != 413 || code != 413 || reason != "PAYLOAD_TOO_LARGE" || !strings.Contains(msg, "larger than max") {
		t.Errorf("an answer over the gateway's receive limit: %d %s, want 413 PAYLOAD_TOO_LARGE with gRPC's message", resp.Status, resp.Raw)
	}

	webhooks := livegatev1.NewWebhookServiceClient(s.conn)
	_, err := webhooks.DeliverHmsWebhook(context.Background(), &livegatev1.DeliverHmsWebhookRequest{
		AccountId: ft.acc, AppId: ft.app, WebhookSecret: "wrong", Body: make([]byte, 1<<20+128<<10),
	})
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("a 1.1 MiB gRPC request: %v, want RESOURCE_EXHAUSTED", err)
	}
}

// TestReflectionTakesAToken: gRPC server reflection answers a caller with an app's token (as
// grpcurl -H sends it), and refuses one without a token or with a wrong one before answering.
// Until 2026-11-30 it was open: its answers are the whole schema, and a client with no token
// that never read them held 2.1 GB of the server with 2,000 streams.
func TestReflectionTakesAToken(t *testing.T) {
	s := startServer(t, t.TempDir())
	creds := s.createApp("acc-rf", "app-rf")
	client := reflectionpb.NewServerReflectionClient(dialFeed(t, s.srv.GRPCAddr()))
	list := func(token string) ([]string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), transportWait)
		defer cancel()
		if token != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
		}
		stream, err := client.ServerReflectionInfo(ctx)
		if err != nil {
			return nil, err
		}
		if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
			return nil, err
		}
		resp, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		var names []string
		for _, svc := range resp.GetListServicesResponse().GetService() {
			names = append(names, svc.GetName())
		}
		return names, nil
	}
	for _, token := range []string{"", "lgt_0123456789abcdef_XXXXXXXXXXXXXXXXXXXXXXXXXX"} {
		if names, err := list(token); status.Code(err) != codes.Unauthenticated {
			t.Errorf("reflection with token %q: %v %v, want UNAUTHENTICATED", token, names, err)
		}
	}
	names, err := list(creds.APIToken)
	if err != nil || !slices.Contains(names, "livegate.v1.LivestreamService") {
		t.Errorf("reflection with an app's token: %v %v, want the services listed", names, err)
	}
}
