package metrics

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/grpc"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
)

// recordingStream is the transport's stream as the interceptor sees it: it records what is
// sent, and fails the sends it is told to.
type recordingStream struct {
	grpc.ServerStream
	ctx  context.Context
	sent []any
	fail bool
}

func (s *recordingStream) Context() context.Context { return s.ctx }
func (s *recordingStream) SendMsg(m any) error {
	if s.fail {
		return errors.New("stream closed")
	}
	s.sent = append(s.sent, m)
	return nil
}

// gathered is the value of the sample of name whose labels include labels (-1: none).
func gathered(t *testing.T, m *Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, s := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range s.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue next
				}
			}
			if s.GetCounter() != nil {
				return s.GetCounter().GetValue()
			}
			return s.GetGauge().GetValue()
		}
	}
	return -1
}

// TestSubscribeSender: a Subscribe handler's SubscribeSender sends on the stream the
// interceptor was given (the transport's), counts the call as a live subscription, and its
// messages sent appear in grpc_server_msg_sent_total's Subscribe series; a failed send is
// not counted, and another method's call gets no sender.
func TestSubscribeSender(t *testing.T) {
	m := New()
	g := grpc.NewServer()
	livegatev1.RegisterEventServiceServer(g, livegatev1.UnimplementedEventServiceServer{})
	m.GRPC().InitializeMetrics(g)
	subscribeSent := map[string]string{"grpc_service": "livegate.v1.EventService", "grpc_method": "Subscribe"}
	if got := gathered(t, m, "grpc_server_msg_sent_total", subscribeSent); got != 0 {
		t.Fatalf("Subscribe messages sent before any call: %v, want 0", got)
	}

	raw := &recordingStream{ctx: context.Background()}
	intercept := m.Subscriptions(FaceGRPC)
	info := &grpc.StreamServerInfo{FullMethod: livegatev1.EventService_Subscribe_FullMethodName, IsServerStream: true}
	err := intercept(nil, raw, info, func(_ any, ss grpc.ServerStream) error {
		send := SubscribeSender(ss.Context())
		if send == nil {
			t.Fatal("no SubscribeSender in a Subscribe call's context")
		}
		for i := range 3 {
			if err := send.SendMsg(i); err != nil {
				t.Fatal(err)
			}
		}
		if got := gathered(t, m, "livegate_feed_subscriptions", map[string]string{"face": FaceGRPC}); got != 1 {
			t.Errorf("subscriptions while the call is open: %v, want 1", got)
		}
		raw.fail = true
		if err := send.SendMsg(3); err == nil {
			t.Error("a failed send reported no error")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(raw.sent) != 3 {
		t.Errorf("the transport's stream got %d messages, want 3", len(raw.sent))
	}
	if got := gathered(t, m, "grpc_server_msg_sent_total", subscribeSent); got != 3 {
		t.Errorf("Subscribe messages sent: %v, want 3 (the failed one not counted)", got)
	}
	if got := gathered(t, m, "grpc_server_msg_sent_total", map[string]string{"grpc_method": "ListEvents"}); got != 0 {
		t.Errorf("ListEvents messages sent: %v, want 0", got)
	}
	if got := gathered(t, m, "livegate_feed_subscriptions", map[string]string{"face": FaceGRPC}); got != 0 {
		t.Errorf("subscriptions after the call: %v, want 0", got)
	}

	list := &grpc.StreamServerInfo{FullMethod: livegatev1.EventService_ListEvents_FullMethodName}
	_ = intercept(nil, raw, list, func(_ any, ss grpc.ServerStream) error {
		if SubscribeSender(ss.Context()) != nil {
			t.Error("a call other than Subscribe got a SubscribeSender")
		}
		return nil
	})
}
