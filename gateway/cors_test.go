package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/livegate/livegate/internal/testenv"
)

// corsGateway serves the gateway with CORS for origins; its gRPC server is never reached
// (nothing here gets past the gateway). log has its access log, one JSON object per line.
func corsGateway(t *testing.T, origins ...string) (base string, log *testenv.SyncBuffer) {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///127.0.0.1:1", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	log = &testenv.SyncBuffer{}
	h, err := New(context.Background(), conn, Options{CORSOrigins: origins, Log: slog.New(slog.NewJSONHandler(log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL, log
}

const corsListPath = "/accounts/acc/realtime/kit/app/livestreams"

func corsDo(t *testing.T, method, url string, header map[string]string, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp
}

func preflight(t *testing.T, base, path, origin, method, headers string) *http.Response {
	h := map[string]string{"Origin": origin, "Access-Control-Request-Method": method}
	if headers != "" {
		h["Access-Control-Request-Headers"] = headers
	}
	return corsDo(t, http.MethodOptions, base+path, h, nil)
}

func wantHeader(t *testing.T, resp *http.Response, name, want string) {
	t.Helper()
	if got := resp.Header.Get(name); got != want {
		t.Errorf("%s %s: %s = %q, want %q", resp.Request.Method, resp.Request.URL.Path, name, got, want)
	}
}

func TestCORSPreflightAllowed(t *testing.T) {
	const origin = "https://app.example.com"
	base, log := corsGateway(t, "https://other.example.com", origin)

	for _, tc := range []struct{ path, method, headers string }{
		{corsListPath, http.MethodPost, "authorization,content-type,x-request-id"},
		{corsListPath, http.MethodGet, "authorization"},
		{"/accounts/acc/realtime/kit/app/livestreams/ls/events/sse", http.MethodGet, "authorization,last-event-id"},
		{"/accounts/acc/realtime/kit/app/livestreams/ls", http.MethodPut, "authorization,content-type"},
		{"/accounts/acc/realtime/kit/app/livestreams/ls", http.MethodDelete, "authorization"},
		{"/accounts/acc/realtime/kit/app/webhooks/wh", http.MethodPatch, "authorization,content-type"},
	} {
		resp := preflight(t, base, tc.path, origin, tc.method, tc.headers)
		if resp.StatusCode != http.StatusNoContent {
			t.Errorf("preflight %s %s: HTTP %d, want 204", tc.method, tc.path, resp.StatusCode)
		}
		wantHeader(t, resp, "Access-Control-Allow-Origin", origin)
		wantHeader(t, resp, "Access-Control-Allow-Methods", tc.method)
		wantHeader(t, resp, "Access-Control-Allow-Headers", tc.headers)
		wantHeader(t, resp, "Access-Control-Allow-Credentials", "true")
		wantHeader(t, resp, "Access-Control-Max-Age", "600")
		if vary := strings.Join(resp.Header.Values("Vary"), ","); !strings.Contains(vary, "Origin") {
			t.Errorf("preflight Vary = %q, want Origin in it", vary)
		}
	}

	// The access log has the preflights, by a route of their own.
	var preflights int
	for line := range strings.Lines(log.String()) {
		var rec struct{ Msg, Method, Route string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "http request" && rec.Method == http.MethodOptions {
			if rec.Route != PreflightRoute {
				t.Errorf("access log route of a preflight = %q, want %q", rec.Route, PreflightRoute)
			}
			preflights++
		}
	}
	if preflights != 6 {
		t.Errorf("access log has %d preflights, want 6:\n%s", preflights, log.String())
	}
}

func TestCORSActualRequestsCarryHeaders(t *testing.T) {
	const origin = "http://localhost:3000"
	base, _ := corsGateway(t, origin)

	resp := corsDo(t, http.MethodGet, base+"/openapi.json", map[string]string{"Origin": origin}, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi.json: HTTP %d", resp.StatusCode)
	}
	wantHeader(t, resp, "Access-Control-Allow-Origin", origin)
	wantHeader(t, resp, "Access-Control-Allow-Credentials", "true")
	wantHeader(t, resp, "Access-Control-Expose-Headers", "Retry-After, X-Request-Id")

	// Refusals the gateway answers itself are readable by the page too.
	resp = corsDo(t, http.MethodPost, base+corsListPath, map[string]string{"Origin": origin, "Content-Type": "text/plain"}, []byte("x"))
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("POST text/plain: HTTP %d, want 415", resp.StatusCode)
	}
	wantHeader(t, resp, "Access-Control-Allow-Origin", origin)
	resp = corsDo(t, http.MethodPost, base+corsListPath, map[string]string{"Origin": origin, "Content-Type": "application/json"}, bytes.Repeat([]byte(" "), MaxBodyBytes+1))
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("POST over the body limit: HTTP %d, want 413", resp.StatusCode)
	}
	wantHeader(t, resp, "Access-Control-Allow-Origin", origin)
}

func TestCORSOriginNotAllowed(t *testing.T) {
	base, _ := corsGateway(t, "https://app.example.com")
	for _, origin := range []string{"https://evil.example.com", "http://app.example.com", "https://app.example.com:8443", "null"} {
		resp := preflight(t, base, corsListPath, origin, http.MethodGet, "authorization")
		for _, h := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Allow-Credentials"} {
			wantHeader(t, resp, h, "")
		}
		resp = corsDo(t, http.MethodGet, base+"/openapi.json", map[string]string{"Origin": origin}, nil)
		wantHeader(t, resp, "Access-Control-Allow-Origin", "")
		wantHeader(t, resp, "Access-Control-Expose-Headers", "")
	}
	// A header outside the allowed ones fails the preflight.
	resp := preflight(t, base, corsListPath, "https://app.example.com", http.MethodGet, "authorization,x-custom")
	wantHeader(t, resp, "Access-Control-Allow-Origin", "")
	// Provider routes are for servers, not pages.
	resp = corsDo(t, http.MethodPost, base+"/accounts/acc/realtime/kit/app/webhooks/100ms", map[string]string{"Origin": "https://app.example.com"}, []byte("{}"))
	wantHeader(t, resp, "Access-Control-Allow-Origin", "")
	// Nor is the operators' admin API for pages, whatever origins the app API allows.
	resp = preflight(t, base, "/admin/v1/apps", "https://app.example.com", http.MethodGet, "authorization")
	wantHeader(t, resp, "Access-Control-Allow-Origin", "")
}

func TestCORSWildcardNoCredentials(t *testing.T) {
	base, _ := corsGateway(t, "*")
	resp := preflight(t, base, corsListPath, "https://anywhere.example", http.MethodGet, "authorization")
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("preflight: HTTP %d, want 204", resp.StatusCode)
	}
	wantHeader(t, resp, "Access-Control-Allow-Origin", "*")
	wantHeader(t, resp, "Access-Control-Allow-Credentials", "")
	resp = corsDo(t, http.MethodGet, base+"/openapi.json", map[string]string{"Origin": "https://anywhere.example"}, nil)
	wantHeader(t, resp, "Access-Control-Allow-Origin", "*")
	wantHeader(t, resp, "Access-Control-Allow-Credentials", "")

	// "*" beside listed origins still never allows credentials.
	base, _ = corsGateway(t, "https://app.example.com", "*")
	resp = preflight(t, base, corsListPath, "https://app.example.com", http.MethodGet, "authorization")
	wantHeader(t, resp, "Access-Control-Allow-Credentials", "")
}

func TestCORSOffByDefault(t *testing.T) {
	base, _ := corsGateway(t)
	resp := preflight(t, base, corsListPath, "https://app.example.com", http.MethodGet, "authorization")
	if resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusOK {
		t.Errorf("preflight with CORS off: HTTP %d, want it refused", resp.StatusCode)
	}
	wantHeader(t, resp, "Access-Control-Allow-Origin", "")
	resp = corsDo(t, http.MethodGet, base+"/openapi.json", map[string]string{"Origin": "https://app.example.com"}, nil)
	wantHeader(t, resp, "Access-Control-Allow-Origin", "")
}

func TestParseCORSOrigins(t *testing.T) {
	for in, want := range map[string]string{
		"":    "",
		" , ": "",
		"*":   "*",
		"https://App.Example.com, http://localhost:3000": "https://app.example.com http://localhost:3000",
		"https://*.example.com":                          "https://*.example.com",
		"http://127.0.0.1:8080,http://[::1]:8080":        "http://127.0.0.1:8080 http://[::1]:8080",
	} {
		got, err := ParseCORSOrigins(in)
		if err != nil || strings.Join(got, " ") != want {
			t.Errorf("ParseCORSOrigins(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"app.example.com", "https://app.example.com/", "https://app.example.com/app", "ftp://example.com",
		"https://", "https://app.example.com?x=1", "https://app.example.com#x", "https://user@app.example.com",
		"https://app.example.com:99999", "https://app.example.com:", "https://app.*.com", "https://a.com,bad", "null",
	} {
		if got, err := ParseCORSOrigins(in); err == nil {
			t.Errorf("ParseCORSOrigins(%q) = %q, want an error", in, got)
		}
	}
	// The gateway refuses what the flag would.
	if _, err := New(context.Background(), nil, Options{CORSOrigins: []string{"https://app.example.com/"}}); err == nil {
		t.Error("New with a malformed CORS origin: no error")
	}
}
