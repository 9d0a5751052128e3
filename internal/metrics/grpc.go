package metrics

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/apierror"
)

// FaceMetadataKey is the gRPC metadata key by which the REST gateway tells its own server
// which HTTP face a Subscribe call serves (FaceSSE; absent: FaceNDJSON). Only the in-memory
// server the gateway dials reads it.
const FaceMetadataKey = "livegate-face"

// deliverySource maps WebhookService methods to their source.
var deliverySource = map[string]string{
	livegatev1.WebhookService_DeliverHmsWebhook_FullMethodName:   SourceHMS,
	livegatev1.WebhookService_DeliverAmityWebhook_FullMethodName: SourceAmity,
	livegatev1.WebhookService_DeliverRtmpCallback_FullMethodName: SourceRTMP,
}

// Deliveries is a unary interceptor that counts every WebhookService call by source and
// outcome, and observes accepted ones' time to commit (the handler returns once its events
// are committed). Put it outside the error translation: it classifies domain errors and
// gRPC statuses alike.
func (m *Metrics) Deliveries(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	source, ok := deliverySource[info.FullMethod]
	if m == nil || !ok {
		return handler(ctx, req)
	}
	start := time.Now()
	resp, err := handler(ctx, req)
	outcome := OutcomeOf(err)
	if err == nil {
		switch r := resp.(type) {
		case *livegatev1.DeliverHmsWebhookResponse:
			if r.GetDuplicate() {
				outcome = OutcomeDuplicate
			}
		case *livegatev1.DeliverAmityWebhookResponse:
			switch {
			case r.GetIgnored():
				outcome = OutcomeIgnored
			case r.GetDuplicate():
				outcome = OutcomeDuplicate
			}
		case *livegatev1.DeliverRtmpCallbackResponse:
			if r.GetSequence() == 0 {
				outcome = OutcomeIgnored // a call with nothing to record (on_update, on_connect, a client gone)
			}
		}
		if outcome == OutcomeAccepted {
			m.requestToCommit.WithLabelValues(source).Observe(time.Since(start).Seconds())
		}
	}
	m.Delivery(source, outcome)
	return resp, err
}

// OutcomeOf classifies a delivery's error (nil: OutcomeAccepted).
func OutcomeOf(err error) string {
	if err == nil {
		return OutcomeAccepted
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return OutcomeError
	}
	st := apierror.ToStatus(err)
	if apierror.Info(st).GetReason() == string(apierror.ReasonPayloadTooLarge) {
		return OutcomeTooLarge
	}
	switch st.Code() {
	case codes.Unauthenticated, codes.PermissionDenied:
		return OutcomeUnauthenticated
	case codes.InvalidArgument, codes.NotFound, codes.FailedPrecondition, codes.OutOfRange, codes.AlreadyExists:
		return OutcomeInvalid
	}
	return OutcomeError
}

// Subscriptions returns a stream interceptor for EventService/Subscribe calls. It counts the
// live subscriptions (livegate_feed_subscriptions) of one server: each call counts from the
// moment it is accepted (its header is sent) until it ends. face is the face of every call
// (FaceGRPC); empty: the call's FaceMetadataKey (FaceSSE), else FaceNDJSON, for the server
// the gateway dials.
//
// It also gives the handler the transport's own stream to send on (SubscribeSender), so put
// it first in the chain: what it gets is the stream no other interceptor has wrapped.
func (m *Metrics) Subscriptions(face string) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if m == nil || info.FullMethod != livegatev1.EventService_Subscribe_FullMethodName {
			return handler(srv, ss)
		}
		f := face
		if f == "" {
			f = FaceNDJSON
			if md, ok := metadata.FromIncomingContext(ss.Context()); ok {
				if v := md.Get(FaceMetadataKey); len(v) > 0 && v[0] == FaceSSE {
					f = FaceSSE
				}
			}
		}
		cs := &countedStream{ServerStream: ss, gauge: m.face(f)}
		cs.ctx = context.WithValue(ss.Context(), senderKey{}, &subscribeSender{cs: cs, sent: &m.subscribeSent})
		defer cs.end()
		return handler(srv, cs)
	}
}

// countedStream adds one to its gauge when the call is accepted (header or first message
// sent) and takes it away when the call ends. Its context carries the call's
// subscribeSender.
type countedStream struct {
	grpc.ServerStream
	ctx   context.Context
	gauge interface {
		Inc()
		Dec()
	}
	// state: 0 not counted yet, 1 counted, 2 ended (sends may come from another goroutine).
	state atomic.Int32
}

func (s *countedStream) Context() context.Context { return s.ctx }

func (s *countedStream) count() {
	if s.state.CompareAndSwap(0, 1) {
		s.gauge.Inc()
	}
}

func (s *countedStream) end() {
	if s.state.Swap(2) == 1 {
		s.gauge.Dec()
	}
}

func (s *countedStream) SendHeader(md metadata.MD) error {
	err := s.ServerStream.SendHeader(md)
	if err == nil {
		s.count()
	}
	return err
}

func (s *countedStream) SendMsg(m any) error {
	s.count()
	return s.ServerStream.SendMsg(m)
}

// MsgSender sends a stream's messages.
type MsgSender interface {
	SendMsg(m any) error
}

type senderKey struct{}

// SubscribeSender returns where a Subscribe handler whose stream's context is ctx sends its
// messages: the transport's stream itself, past the wrappers of the interceptors between
// (Subscriptions'), or nil when the call did not pass Subscriptions. A message sent through
// the interceptors' wrappers costs two clock reads and a labelled counter's lookup per
// wrapper: in BenchmarkFeed's fan-out to 1,000 subscribers that was almost half of the send
// path's CPU. The messages sent through it are counted in grpc_server_msg_sent_total, as
// they would have been.
func SubscribeSender(ctx context.Context) MsgSender {
	s, _ := ctx.Value(senderKey{}).(*subscribeSender)
	if s == nil {
		return nil
	}
	return s
}

type subscribeSender struct {
	cs   *countedStream
	sent *atomic.Uint64
}

func (s *subscribeSender) SendMsg(m any) error {
	s.cs.count()
	if err := s.cs.ServerStream.SendMsg(m); err != nil {
		return err
	}
	s.sent.Add(1)
	return nil
}

// grpcCollector is the gRPC server's metrics (grpc_server_*), with the Subscribe messages
// sent through a SubscribeSender added to the Subscribe series of grpc_server_msg_sent_total.
// That series exists from the start: the server calls InitializeMetrics.
type grpcCollector struct {
	prometheus.Collector
	subscribeSent *atomic.Uint64
	sentDesc      func() *prometheus.Desc // grpc_server_msg_sent_total's, found once
}

func newGRPCCollector(c prometheus.Collector, subscribeSent *atomic.Uint64) grpcCollector {
	return grpcCollector{Collector: c, subscribeSent: subscribeSent, sentDesc: sync.OnceValue(func() *prometheus.Desc {
		descs := make(chan *prometheus.Desc)
		go func() {
			defer close(descs)
			c.Describe(descs)
		}()
		var sent *prometheus.Desc
		for d := range descs {
			if strings.Contains(d.String(), `"grpc_server_msg_sent_total"`) {
				sent = d
			}
		}
		return sent
	})}
}

func (c grpcCollector) Collect(ch chan<- prometheus.Metric) {
	sent := c.sentDesc()
	inner := make(chan prometheus.Metric)
	go func() {
		defer close(inner)
		c.Collector.Collect(inner)
	}()
	for m := range inner {
		if m.Desc() == sent && isSubscribe(m) {
			m = plusCounter{Metric: m, add: float64(c.subscribeSent.Load())}
		}
		ch <- m
	}
}

// isSubscribe reports whether m is a series of EventService/Subscribe.
func isSubscribe(m prometheus.Metric) bool {
	var d dto.Metric
	if m.Write(&d) != nil {
		return false
	}
	service, method, _ := strings.Cut(strings.TrimPrefix(livegatev1.EventService_Subscribe_FullMethodName, "/"), "/")
	matched := 0
	for _, l := range d.GetLabel() {
		if l.GetName() == "grpc_service" && l.GetValue() == service || l.GetName() == "grpc_method" && l.GetValue() == method {
			matched++
		}
	}
	return matched == 2
}

// plusCounter is a counter's sample with add added.
type plusCounter struct {
	prometheus.Metric
	add float64
}

func (p plusCounter) Write(out *dto.Metric) error {
	if err := p.Metric.Write(out); err != nil {
		return err
	}
	out.Counter.Value = proto.Float64(out.GetCounter().GetValue() + p.add)
	return nil
}
