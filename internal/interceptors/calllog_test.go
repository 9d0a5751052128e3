package interceptors

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/livegate/livegate/internal/accesslog"
	"github.com/livegate/livegate/internal/auth"
)

// logChains are Chain's logging interceptors (the second of each chain), writing JSON lines
// at level and above to the returned buffer.
func logChains(t *testing.T, level slog.Level) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: level}))
	unary, stream, err := Chain(log, auth.NewAuthenticator(nil), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return unary[1], stream[1], &buf
}

// logKeys are a JSON log line's keys in the order written, and its values.
func logKeys(t *testing.T, line []byte) ([]string, map[string]any) {
	t.Helper()
	var values map[string]any
	if err := json.Unmarshal(line, &values); err != nil {
		t.Fatalf("log line %q: %v", line, err)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	var keys []string
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	return keys, values
}

type fakeStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s fakeStream) Context() context.Context { return s.ctx }

// A call's line carries the same fields in the same order as go-grpc-middleware's logging
// interceptor writes them (the README shows one): the access log's first, then the
// library's.
func TestCallLogLine(t *testing.T) {
	unary, stream, buf := logChains(t, slog.LevelInfo)
	info := &accesslog.Info{RequestID: "req-1", Client: "203.0.113.7"}
	ctx, cancel := context.WithDeadline(accesslog.WithInfo(context.Background(), info), time.Now().Add(time.Hour))
	defer cancel()
	_, err := unary(ctx, nil, &grpc.UnaryServerInfo{FullMethod: "/livegate.v1.LivestreamService/GetLivestream"},
		func(context.Context, any) (any, error) {
			return nil, status.Error(codes.NotFound, "no such livestream")
		})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("unary call: %v", err)
	}
	keys, v := logKeys(t, buf.Bytes())
	// account_id and app_id are left out while the call's tenant is unknown.
	want := "time level msg peer.address request_id protocol grpc.component grpc.service grpc.method grpc.method_type grpc.start_time grpc.request.deadline grpc.code grpc.error grpc.time_ms"
	if got := strings.Join(keys, " "); got != want {
		t.Errorf("unary line's keys\n got %s\nwant %s", got, want)
	}
	for k, w := range map[string]any{
		"level": "INFO", "msg": "finished call", "peer.address": "203.0.113.7", "request_id": "req-1",
		"protocol": "grpc", "grpc.component": "server", "grpc.service": "livegate.v1.LivestreamService",
		"grpc.method": "GetLivestream", "grpc.method_type": "unary", "grpc.code": "NotFound",
		"grpc.error": "rpc error: code = NotFound desc = no such livestream",
	} {
		if v[k] != w {
			t.Errorf("unary line's %s = %v, want %v", k, v[k], w)
		}
	}
	if _, err := time.Parse(time.RFC3339, v["grpc.start_time"].(string)); err != nil {
		t.Errorf("grpc.start_time: %v", err)
	}

	// Without the access log's fields (a call that did not pass accesslog's interceptors):
	// the connection's peer, after the library's fields.
	buf.Reset()
	ctx = peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}})
	err = stream(nil, fakeStream{ctx: ctx}, &grpc.StreamServerInfo{FullMethod: "/livegate.v1.EventService/Subscribe", IsServerStream: true},
		func(any, grpc.ServerStream) error { return io.EOF })
	if !errors.Is(err, io.EOF) {
		t.Fatalf("stream call: %v", err)
	}
	keys, v = logKeys(t, buf.Bytes())
	want = "time level msg protocol grpc.component grpc.service grpc.method grpc.method_type peer.address grpc.start_time grpc.code grpc.time_ms"
	if got := strings.Join(keys, " "); got != want {
		t.Errorf("stream line's keys\n got %s\nwant %s", got, want)
	}
	if v["grpc.method_type"] != "server_stream" || v["grpc.code"] != "OK" || v["peer.address"] != "127.0.0.1:5000" {
		t.Errorf("stream line: %v", v)
	}
}

// The logging interceptor holds little while a call runs, and builds no line whose level is
// off: an idle subscription keeps what it allocated before the handler for as long as it
// is open, and a unary call at the default level pays for nothing it does not write.
func TestCallLogCostsLittle(t *testing.T) {
	unary, stream, buf := logChains(t, slog.LevelWarn)
	ctx := accesslog.WithInfo(context.Background(), &accesslog.Info{RequestID: "req-1", Client: "203.0.113.7"})
	uinfo := &grpc.UnaryServerInfo{FullMethod: "/livegate.v1.LivestreamService/GetLivestream"}
	ok := func(context.Context, any) (any, error) { return nil, nil }
	if n := testing.AllocsPerRun(200, func() { _, _ = unary(ctx, nil, uinfo, ok) }); n > 2 {
		t.Errorf("a unary call whose line is off: %v allocations, want at most 2", n)
	}
	ss := fakeStream{ctx: ctx}
	sinfo := &grpc.StreamServerInfo{FullMethod: "/livegate.v1.EventService/Subscribe", IsServerStream: true}
	done := func(any, grpc.ServerStream) error { return nil }
	if n := testing.AllocsPerRun(200, func() { _ = stream(nil, ss, sinfo, done) }); n > 3 {
		t.Errorf("a stream whose line is off: %v allocations, want at most 3", n)
	}
	if buf.Len() != 0 {
		t.Errorf("lines written below the level: %s", buf)
	}
}
