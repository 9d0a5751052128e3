package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/livegate/livegate/gateway"
	"github.com/livegate/livegate/internal/auth"
	"github.com/livegate/livegate/internal/server"
	"github.com/livegate/livegate/internal/store/groupcommit"
	"github.com/livegate/livegate/internal/telemetry"
)

// otlpReceiver is an OTLP/HTTP trace endpoint (what a collector serves on :4318): it decodes
// each export request's protobuf and keeps its spans with their resource's service name.
type otlpReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	spans []receivedSpan
}

type receivedSpan struct {
	service string
	*tracepb.Span
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	r := &otlpReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "not an OTLP/HTTP protobuf trace export", http.StatusNotFound)
			return
		}
		var body io.Reader = req.Body
		if req.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(req.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		raw, err := io.ReadAll(body)
		var export coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(raw, &export)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, rs := range export.GetResourceSpans() {
			service := attrString(rs.GetResource().GetAttributes(), "service.name")
			for _, ss := range rs.GetScopeSpans() {
				for _, sp := range ss.GetSpans() {
					r.spans = append(r.spans, receivedSpan{service: service, Span: sp})
				}
			}
		}
		r.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(r.Close)
	return r
}

// trace is the spans received of the trace with this (hex) id.
func (r *otlpReceiver) trace(id string) []receivedSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []receivedSpan
	for _, sp := range r.spans {
		if hex.EncodeToString(sp.GetTraceId()) == id {
			out = append(out, sp)
		}
	}
	return out
}

func attrString(attrs []*commonpb.KeyValue, key string) string {
	for _, kv := range attrs {
		if kv.GetKey() == key {
			return kv.GetValue().GetStringValue()
		}
	}
	return ""
}

func attrInt(attrs []*commonpb.KeyValue, key string) (int64, bool) {
	for _, kv := range attrs {
		if kv.GetKey() == key {
			return kv.GetValue().GetIntValue(), true
		}
	}
	return 0, false
}

// tracingFromEnv configures tracing as `livegate serve` does, from OTEL_* variables sending
// to endpoint (the variables are the test's alone: t.Setenv).
func tracingFromEnv(t *testing.T, endpoint string) *telemetry.Tracing {
	t.Helper()
	for _, v := range []string{"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_PROTOCOL",
		"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_SAMPLER",
		"OTEL_TRACES_SAMPLER_ARG", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_EXPORTER_OTLP_HEADERS"} {
		t.Setenv(v, "")
	}
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
	t.Setenv("OTEL_SERVICE_NAME", "livegate-under-test")
	tracing, err := telemetry.FromEnv(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !tracing.Enabled() {
		t.Fatal("OTEL_EXPORTER_OTLP_ENDPOINT is set but tracing is off")
	}
	return tracing
}

// TestTracingOneTraceFromRESTToCommit: with OTEL_EXPORTER_OTLP_ENDPOINT pointing at an
// OTLP/HTTP receiver, a REST create that arrives with a traceparent header is one trace, the
// caller's: the HTTP server span (named after its route, child of the caller's span), the
// gateway's gRPC client span, the gRPC server span, and the store's commit span with its
// batch size, each the child of the one before; the spans reach the receiver when tracing
// is shut down. The HTTP and gRPC access log lines carry the same trace id and request id.
func TestTracingOneTraceFromRESTToCommit(t *testing.T) {
	recv := newOTLPReceiver(t)
	tracing := tracingFromEnv(t, recv.URL)
	s := startServer(t, t.TempDir(), func(c *server.Config) { c.Tracing = tracing })
	creds := s.createApp("acc-trace", "app-trace")

	tracedCreate(t, s, creds.APIToken)
	checkStreamsThroughTracing(t, s, creds)

	s.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tracing.Shutdown(ctx); err != nil {
		t.Fatalf("shut tracing down (flush): %v", err)
	}
	checkTraceRESTToCommit(t, recv.trace(traceTraceID))
	checkLogLinesCarryTrace(t, s)
}

// The caller's trace context in TestTracingOneTraceFromRESTToCommit.
const traceTraceID, traceCallerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"

// tracedCreate creates a livestream over REST in the caller's trace, with a request id.
func tracedCreate(t *testing.T, s *testServer, token string) {
	req, err := http.NewRequest(http.MethodPost, s.base+"/accounts/acc-trace/realtime/kit/app-trace/livestreams", strings.NewReader(`{"name":"traced"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("traceparent", "00-"+traceTraceID+"-"+traceCallerSpan+"-01")
	req.Header.Set("X-Request-Id", "req-traced-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: HTTP %d, want 201", resp.StatusCode)
	}
}

// checkStreamsThroughTracing: streaming answers still stream through the tracing and
// access log wrappers (flushes and http.ResponseController reach the connection).
func checkStreamsThroughTracing(t *testing.T, s *testServer, creds auth.Credentials) {
	seq, err := postHMS(s.base, feedTenant{acc: "acc-trace", app: "app-trace", token: creds.APIToken, secret: creds.WebhookSecret}, hmsBody("peer.join.success", "r1", 1))
	if err != nil {
		t.Fatal(err)
	}
	stream := func(path string, header http.Header) *http.Response {
		sctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		req, _ := http.NewRequestWithContext(sctx, http.MethodGet, s.base+"/accounts/acc-trace/realtime/kit/app-trace"+path, nil)
		req.Header = header
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	after := fmt.Sprint(seq - 1)
	nd := stream("/events:stream?after_sequence="+after, http.Header{"Authorization": {"Bearer " + creds.APIToken}})
	wantNDJSONEvent(t, ndjsonLines(t, nd.Body), seq, "peer.join.success")
	sse := stream("/events/sse?after_sequence="+after+"&access_token="+creds.APIToken, http.Header{})
	wantSSEEvent(t, sseOK(t, sse), seq, "peer.join.success")
}

// checkTraceRESTToCommit: the caller's trace holds the HTTP server span, the gRPC client and
// server spans and the commit span, each the child of the one before, from this service.
func checkTraceRESTToCommit(t *testing.T, spans []receivedSpan) {
	find := func(what string, kind tracepb.Span_SpanKind, name string, parent []byte) *tracepb.Span {
		t.Helper()
		for _, sp := range spans {
			if sp.GetKind() == kind && sp.GetName() == name && bytes.Equal(sp.GetParentSpanId(), parent) {
				if sp.service != "livegate-under-test" {
					t.Errorf("%s: service.name %q, want OTEL_SERVICE_NAME's", what, sp.service)
				}
				return sp.Span
			}
		}
		var got []string
		for _, sp := range spans {
			got = append(got, sp.GetKind().String()+" "+sp.GetName()+" parent "+hex.EncodeToString(sp.GetParentSpanId()))
		}
		t.Fatalf("no %s span %s %q child of %x in the trace; got:\n%s", what, kind, name, parent, strings.Join(got, "\n"))
		return nil
	}
	caller, _ := hex.DecodeString(traceCallerSpan)
	httpSpan := find("HTTP", tracepb.Span_SPAN_KIND_SERVER, "POST /accounts/{account_id}/realtime/kit/{app_id}/livestreams", caller)
	const method = "livegate.v1.LivestreamService/CreateLivestream"
	client := find("gRPC client", tracepb.Span_SPAN_KIND_CLIENT, method, httpSpan.GetSpanId())
	srv := find("gRPC server", tracepb.Span_SPAN_KIND_SERVER, method, client.GetSpanId())
	commit := find("commit", tracepb.Span_SPAN_KIND_INTERNAL, "sqlite commit", srv.GetSpanId())
	if n, ok := attrInt(commit.GetAttributes(), groupcommit.BatchSizeAttribute); !ok || n < 1 {
		t.Errorf("commit span: %s = %d (present %v), want the batch's size", groupcommit.BatchSizeAttribute, n, ok)
	}
	if route := attrString(httpSpan.GetAttributes(), "http.route"); route != "/accounts/{account_id}/realtime/kit/{app_id}/livestreams" {
		t.Errorf("HTTP span http.route = %q", route)
	}
}

// checkLogLinesCarryTrace: the access log and the gRPC log line of the traced request carry
// its request id and the caller's trace id.
func checkLogLinesCarryTrace(t *testing.T, s *testServer) {
	for _, msg := range []string{"http request", "finished call"} {
		var found bool
		for _, l := range s.logLines(t, msg) {
			if l["request_id"] == "req-traced-1" {
				found = true
				if l["trace_id"] != traceTraceID {
					t.Errorf("%q line: trace_id %v, want the caller's %s", msg, l["trace_id"], traceTraceID)
				}
			}
		}
		if !found {
			t.Errorf("no %q log line with request_id req-traced-1:\n%s", msg, s.log.String())
		}
	}
}

// TestTracingHidesWhatClientsChoose: a request's span carries neither the RTMP callback secret
// (every tenant's: the path is masked as in the access log), nor a client address taken from
// an X-Forwarded-For no trusted proxy sent, nor a span name a client chose with an
// unusual method (the conventions' "HTTP" instead; otelhttp keeps it as an attribute).
func TestTracingHidesWhatClientsChoose(t *testing.T) {
	recv := newOTLPReceiver(t)
	tracing := tracingFromEnv(t, recv.URL)
	s := startServer(t, t.TempDir(), func(c *server.Config) { c.Tracing = tracing })
	secret := rtmpSecret(t, s)
	send := func(traceID, method, path string, body string, header http.Header) {
		t.Helper()
		req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header[k] = v
		}
		req.Header.Set("traceparent", "00-"+traceID+"-"+traceCallerSpan+"-01")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	const rtmpTrace, methodTrace, xffTrace = "11111111111111111111111111111111", "22222222222222222222222222222222", "33333333333333333333333333333333"
	send(rtmpTrace, http.MethodPost, "/rtmp/"+secret+"/on_update", "call=update_publish&app=live&name=x&clientid=999",
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	send(methodTrace, "WEIRDMETHOD-19788", "/nothing", "", nil)
	send(xffTrace, http.MethodGet, "/nothing", "", http.Header{"X-Forwarded-For": {"203.0.113.99"}})

	s.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tracing.Shutdown(ctx); err != nil {
		t.Fatalf("shut tracing down (flush): %v", err)
	}
	server := func(traceID string) *tracepb.Span {
		t.Helper()
		caller, _ := hex.DecodeString(traceCallerSpan)
		for _, sp := range recv.trace(traceID) {
			if sp.GetKind() == tracepb.Span_SPAN_KIND_SERVER && bytes.Equal(sp.GetParentSpanId(), caller) {
				return sp.Span
			}
		}
		t.Fatalf("no HTTP server span in trace %s", traceID)
		return nil
	}
	recv.mu.Lock()
	for _, sp := range recv.spans {
		if strings.Contains(sp.GetName(), secret) || strings.Contains(sp.String(), secret) {
			t.Errorf("span %q holds the RTMP callback secret: %v", sp.GetName(), sp.Span)
		}
	}
	recv.mu.Unlock()
	rtmpSpan := server(rtmpTrace)
	if p := attrString(rtmpSpan.GetAttributes(), "url.path"); p != "/rtmp/***/on_update" {
		t.Errorf("RTMP callback span url.path = %q, want /rtmp/***/on_update", p)
	}
	if sp := server(methodTrace); sp.GetName() != "HTTP "+gateway.UnmatchedRoute || attrString(sp.GetAttributes(), "http.request.method_original") != "WEIRDMETHOD-19788" {
		t.Errorf("a request with method WEIRDMETHOD-19788: span %q (method_original %q), want %q",
			sp.GetName(), attrString(sp.GetAttributes(), "http.request.method_original"), "HTTP "+gateway.UnmatchedRoute)
	}
	if c := attrString(server(xffTrace).GetAttributes(), "client.address"); c != "127.0.0.1" {
		t.Errorf("client.address = %q with an X-Forwarded-For from no trusted proxy, want 127.0.0.1", c)
	}
}
