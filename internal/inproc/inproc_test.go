package inproc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/accesslog"
	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/auth"
	"github.com/livegate/livegate/internal/inproc"
	"github.com/livegate/livegate/internal/interceptors"
	"github.com/livegate/livegate/internal/testenv"
)

// service answers DeliverHmsWebhook as its WebhookSecret says, to probe what a handler sees
// and what its caller gets back.
type service struct {
	livegatev1.UnimplementedWebhookServiceServer
}

func (service) DeliverHmsWebhook(ctx context.Context, req *livegatev1.DeliverHmsWebhookRequest) (*livegatev1.DeliverHmsWebhookResponse, error) {
	switch req.GetWebhookSecret() {
	case "ok":
		md, _ := metadata.FromIncomingContext(ctx)
		_, hasPeer := peer.FromContext(ctx)
		info := accesslog.InfoFrom(ctx)
		if err := grpc.SetHeader(ctx, metadata.Pairs("echo", strings.Join(md.Get("x-test"), ","))); err != nil {
			return nil, err
		}
		if err := grpc.SendHeader(ctx, metadata.Pairs("request-id", info.RequestID, "client", info.Client, "peer", boolString(hasPeer))); err != nil {
			return nil, err
		}
		if err := grpc.SetHeader(ctx, metadata.Pairs("late", "1")); err == nil {
			return nil, errors.New("SetHeader after SendHeader succeeded")
		}
		if err := grpc.SetTrailer(ctx, metadata.Pairs("trailer", "t", "body-len", string(rune('0'+len(req.GetBody()))))); err != nil {
			return nil, err
		}
		return &livegatev1.DeliverHmsWebhookResponse{Sequence: 7, Duplicate: true}, nil
	case "wrong":
		_ = grpc.SetTrailer(ctx, metadata.Pairs("trailer", "on-error"))
		return nil, apierror.New(apierror.ReasonSignatureMismatch, "wrong webhook secret")
	case "busy":
		return nil, apierror.New(apierror.ReasonTooManyRequests, "too many").With(apierror.RetryAfterKey, "3")
	case "status":
		return nil, status.Error(codes.FailedPrecondition, "plain status")
	case "deadline":
		return nil, context.DeadlineExceeded
	case "plain":
		return nil, errors.New("a bug")
	case "panic":
		panic("boom")
	}
	return nil, apierror.InvalidArgument("webhook_secret", "unknown test case")
}

func boolString(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// takeLogs returns the JSON slog lines written to logs since the last take, as maps.
func takeLogs(t *testing.T, logs *testenv.SyncBuffer) []map[string]any {
	var out []map[string]any
	for _, s := range strings.Split(strings.TrimSpace(logs.Take()), "\n") {
		if s == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("log line %q: %v", s, err)
		}
		out = append(out, m)
	}
	return out
}

// conns returns the same service behind livegate's interceptor chain twice: served by a
// grpc.Server over bufconn (as the gateway's connection was) and in process.
func conns(t testing.TB) (bufConn, inConn grpc.ClientConnInterface, logs *testenv.SyncBuffer) {
	t.Helper()
	logs = &testenv.SyncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	unary, _, err := interceptors.Chain(log, auth.NewAuthenticator(nil), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := accesslog.ServerInterceptors(true)
	unary = append([]grpc.UnaryServerInterceptor{u}, unary...)
	carry, _ := accesslog.GatewayClientInterceptors()

	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(unary...))
	livegatev1.RegisterWebhookServiceServer(srv, service{})
	lis := bufconn.Listen(1 << 20)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	cc, err := grpc.NewClient("passthrough:///test",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(carry))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })

	in := inproc.New(inproc.Options{Unary: unary, ClientUnary: []grpc.UnaryClientInterceptor{carry}, Fallback: cc})
	livegatev1.RegisterWebhookServiceServer(in, service{})
	return cc, in, logs
}

type answer struct {
	resp            *livegatev1.DeliverHmsWebhookResponse
	status          *status.Status
	header, trailer metadata.MD
	log             map[string]any // the call's "finished call" line, without its time fields
}

func call(t *testing.T, conn grpc.ClientConnInterface, logs *testenv.SyncBuffer, secret string) answer {
	t.Helper()
	ctx := accesslog.WithInfo(context.Background(), &accesslog.Info{RequestID: "req-" + secret, Client: "203.0.113.9"})
	ctx = metadata.AppendToOutgoingContext(ctx, "x-test", "a", "x-test", "b")
	var a answer
	req := &livegatev1.DeliverHmsWebhookRequest{AccountId: "acc", AppId: "app", WebhookSecret: secret, Body: []byte("{}")}
	resp, err := livegatev1.NewWebhookServiceClient(conn).DeliverHmsWebhook(ctx, req, grpc.Header(&a.header), grpc.Trailer(&a.trailer))
	a.resp, a.status = resp, status.Convert(err)
	if _, ok := status.FromError(err); !ok {
		t.Errorf("%s: error %v (%T) is not a status", secret, err, err)
	}
	for _, l := range takeLogs(t, logs) {
		if l["msg"] == "finished call" {
			delete(l, "time")
			delete(l, "grpc.start_time")
			delete(l, "grpc.time_ms")
			delete(l, "grpc.deadline")
			a.log = l
		}
	}
	if a.log == nil && secret != "panic" { // recovery is outside logging: "panic in handler" only
		t.Errorf("%s: no finished call log line", secret)
	}
	return a
}

// TestSameAsServer: every answer — reply, code, message, ErrorInfo, header and trailer
// metadata, the access log line — is the one a grpc.Server with the same chain gives.
func TestSameAsServer(t *testing.T) {
	bufConn, inConn, logs := conns(t)
	for _, c := range []struct {
		secret string
		code   codes.Code
		reason apierror.Reason
	}{
		{"ok", codes.OK, ""},
		{"wrong", codes.Unauthenticated, apierror.ReasonSignatureMismatch},
		{"busy", codes.ResourceExhausted, apierror.ReasonTooManyRequests},
		{"status", codes.FailedPrecondition, ""},
		{"deadline", codes.DeadlineExceeded, ""},
		{"plain", codes.Internal, ""},
		{"panic", codes.Internal, ""},
		{"unknown", codes.InvalidArgument, apierror.ReasonInvalidArgument},
	} {
		want := call(t, bufConn, logs, c.secret)
		got := call(t, inConn, logs, c.secret)
		if got.status.Code() != c.code || apierror.Reason(apierror.Info(got.status).GetReason()) != c.reason {
			t.Errorf("%s: in process %v %q reason %q, want %v reason %q", c.secret, got.status.Code(), got.status.Message(),
				apierror.Info(got.status).GetReason(), c.code, c.reason)
		}
		if !proto.Equal(got.status.Proto(), want.status.Proto()) {
			t.Errorf("%s: in process status %v, over the transport %v", c.secret, got.status.Proto(), want.status.Proto())
		}
		if !proto.Equal(got.resp, want.resp) || (got.resp == nil) != (want.resp == nil) {
			t.Errorf("%s: in process reply %v, over the transport %v", c.secret, got.resp, want.resp)
		}
		if !mdEqual(got.header, want.header) || !mdEqual(got.trailer, want.trailer) {
			t.Errorf("%s: in process header %v trailer %v, over the transport header %v trailer %v",
				c.secret, got.header, got.trailer, want.header, want.trailer)
		}
		gl, _ := json.Marshal(got.log)
		wl, _ := json.Marshal(want.log)
		if string(gl) != string(wl) {
			t.Errorf("%s: in process logged\n%s\nover the transport\n%s", c.secret, gl, wl)
		}
	}
	// What the "ok" handler saw: the caller's metadata (both values), the gateway's request
	// id and client carried by its interceptor, a peer; its trailer.
	a := call(t, inConn, logs, "ok")
	for k, v := range map[string]string{"echo": "a,b", "request-id": "req-ok", "client": "203.0.113.9", "peer": "yes"} {
		if got := a.header.Get(k); len(got) != 1 || got[0] != v {
			t.Errorf("header %s = %q, want %q (header %v)", k, got, v, a.header)
		}
	}
	if a.header.Get("late") != nil {
		t.Errorf("header set after SendHeader reached the caller: %v", a.header)
	}
	if got := a.trailer.Get("trailer"); len(got) != 1 || got[0] != "t" {
		t.Errorf("trailer = %v", a.trailer)
	}
	if a.resp.GetSequence() != 7 || !a.resp.GetDuplicate() {
		t.Errorf("reply %v", a.resp)
	}
}

func mdEqual(a, b metadata.MD) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, "\x00") != strings.Join(b[k], "\x00") {
			return false
		}
	}
	return true
}

// TestFallback: streams and methods not registered in process go to the fallback; without
// one, they are Unimplemented.
func TestFallback(t *testing.T) {
	_, inConn, _ := conns(t)
	_, err := livegatev1.NewWebhookServiceClient(inConn).DeliverAmityWebhook(context.Background(), &livegatev1.DeliverAmityWebhookRequest{})
	if status.Code(err) != codes.Unimplemented || !strings.Contains(status.Convert(err).Message(), "not implemented") {
		t.Errorf("unregistered method's own Unimplemented answer through the fallback: %v", err)
	}
	bare := inproc.New(inproc.Options{})
	if err := bare.Invoke(context.Background(), "/x.Y/Z", &livegatev1.DeliverHmsWebhookRequest{}, &livegatev1.DeliverHmsWebhookResponse{}); status.Code(err) != codes.Unimplemented {
		t.Errorf("no fallback: %v", err)
	}
	if _, err := bare.NewStream(context.Background(), &grpc.StreamDesc{}, "/x.Y/Z"); status.Code(err) != codes.Unimplemented {
		t.Errorf("no fallback stream: %v", err)
	}
}

// TestReplyNotShared: the caller's reply is a copy of what the handler returned.
func TestReplyNotShared(t *testing.T) {
	kept := &livegatev1.DeliverHmsWebhookResponse{Sequence: 1}
	in := inproc.New(inproc.Options{})
	in.RegisterService(&livegatev1.WebhookService_ServiceDesc, keeper{resp: kept})
	reply := &livegatev1.DeliverHmsWebhookResponse{Sequence: 99}
	if err := in.Invoke(context.Background(), livegatev1.WebhookService_DeliverHmsWebhook_FullMethodName, &livegatev1.DeliverHmsWebhookRequest{}, reply); err != nil {
		t.Fatal(err)
	}
	reply.Sequence = 2
	if kept.Sequence != 1 || reply == kept {
		t.Errorf("the handler's reply changed with the caller's: %v", kept)
	}
}

type keeper struct {
	livegatev1.UnimplementedWebhookServiceServer
	resp *livegatev1.DeliverHmsWebhookResponse
}

func (k keeper) DeliverHmsWebhook(context.Context, *livegatev1.DeliverHmsWebhookRequest) (*livegatev1.DeliverHmsWebhookResponse, error) {
	return k.resp, nil
}

// BenchmarkDeliver: one unary call through livegate's chain, over bufconn (HTTP/2 framing,
// encoding, transport goroutines) and in process; and what copying the request (proto.Clone)
// would add to the in-process call. A 1 KiB body, as a 100ms delivery.
func BenchmarkDeliver(b *testing.B) {
	bufConn, inConn, _ := conns(b)
	body := bytes.Repeat([]byte("x"), 1024)
	req := func() *livegatev1.DeliverHmsWebhookRequest {
		return &livegatev1.DeliverHmsWebhookRequest{AccountId: "acc", AppId: "app", WebhookSecret: "ok", Body: body}
	}
	ctx := accesslog.WithInfo(context.Background(), &accesslog.Info{RequestID: "req", Client: "203.0.113.9"})
	for _, c := range []struct {
		name string
		conn grpc.ClientConnInterface
	}{{"bufconn", bufConn}, {"inproc", inConn}} {
		b.Run(c.name, func(b *testing.B) {
			client := livegatev1.NewWebhookServiceClient(c.conn)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := client.DeliverHmsWebhook(ctx, req()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("clone", func(b *testing.B) {
		r := req()
		b.ReportAllocs()
		for b.Loop() {
			_ = proto.Clone(r)
		}
	})
}

// recorder is a stats.Handler noting the events of each call.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) note(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, s)
}

func (r *recorder) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	r.note("tag " + info.FullMethodName)
	return ctx
}

func (r *recorder) HandleRPC(_ context.Context, s stats.RPCStats) {
	switch s := s.(type) {
	case *stats.Begin:
		r.note("begin")
	case *stats.InHeader:
		r.note("in-header " + strings.Join(s.Header.Get("x-test"), ","))
	case *stats.OutHeader:
		r.note("out-header")
	case *stats.End:
		r.note("end " + status.Code(s.Error).String())
	}
}

func (*recorder) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (*recorder) HandleConn(context.Context, stats.ConnStats)                       {}

// TestStatsHandlers: the client's and the server's stats handlers (tracing) hear of each call.
func TestStatsHandlers(t *testing.T) {
	client, server := &recorder{}, &recorder{}
	in := inproc.New(inproc.Options{ClientStats: []stats.Handler{client}, ServerStats: []stats.Handler{server}})
	livegatev1.RegisterWebhookServiceServer(in, service{})
	ctx := accesslog.WithInfo(metadata.AppendToOutgoingContext(context.Background(), "x-test", "v"), &accesslog.Info{RequestID: "r"})
	_, err := livegatev1.NewWebhookServiceClient(in).DeliverHmsWebhook(ctx, &livegatev1.DeliverHmsWebhookRequest{WebhookSecret: "status"})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("got %v", err)
	}
	m := livegatev1.WebhookService_DeliverHmsWebhook_FullMethodName
	for _, c := range []struct {
		r    *recorder
		want string
	}{
		{client, "tag " + m + "|begin|out-header|end FailedPrecondition"},
		{server, "tag " + m + "|begin|in-header v|end FailedPrecondition"},
	} {
		if got := strings.Join(c.r.events, "|"); got != c.want {
			t.Errorf("events %q, want %q", got, c.want)
		}
	}
}
