package server

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/tap"
)

// TestRequestTimerDisarmedWhenCallEnds: a unary call whose stream ends before its message
// arrives (a client's RST_STREAM) never reaches the interceptor, and its request timer is
// disarmed all the same, so that nothing holds the call for the rest of the timeout. Until
// 2026-11-30 the timer stayed armed: a rapid-reset client grew the server by gigabytes.
func TestRequestTimerDisarmedWhenCallEnds(t *testing.T) {
	rt := &requestTimeout{d: time.Hour, streaming: map[string]bool{}}
	parent, reset := context.WithCancel(context.Background())
	ctx, err := rt.tap(parent, &tap.Info{FullMethodName: "/livegate.v1.LivestreamService/ListLivestreams"})
	if err != nil {
		t.Fatal(err)
	}
	a := ctx.Value(requestTimerKey{}).(*armed)
	reset()
	deadline := time.Now().Add(5 * time.Second)
	for !a.disarmed.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the request timer is still armed 5 s after the call's stream ended")
		}
		time.Sleep(time.Millisecond)
	}
	if a.timer.Stop() {
		t.Fatal("disarmed, and the timer still armed")
	}

	// A call that reaches the interceptor is disarmed there, and the end of its context then
	// has nothing left to do.
	parent, end := context.WithCancel(context.Background())
	defer end()
	ctx, _ = rt.tap(parent, &tap.Info{FullMethodName: "/livegate.v1.LivestreamService/ListLivestreams"})
	a = ctx.Value(requestTimerKey{}).(*armed)
	if _, err := rt.unary(ctx, nil, &grpc.UnaryServerInfo{}, func(context.Context, any) (any, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	if a.timer.Stop() {
		t.Error("the request timer is still armed once the call reached the interceptor")
	}
	if a.stopOnEnd() {
		t.Error("the hook on the call's end is still registered once the call reached the interceptor")
	}
}
