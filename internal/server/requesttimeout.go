package server

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/tap"
)

// requestTimeout bounds how long a unary call on the public gRPC server waits for its
// request message. gRPC reads a unary call's request before any interceptor runs, so before
// it is authenticated: a caller that opened calls and never sent their messages, with no
// token, held each (its stream, its goroutine, its metadata) for as long as the connection
// lived. The tap arms a timer on each new unary call that cancels the call's context (the
// wait for the message then ends with CANCELLED); reaching the interceptors, which happens
// once the message has arrived, disarms it, and so does the end of the call's context: a
// stream the client resets before its message never reaches them, and its armed timer held
// it (its context, its metadata) for the whole timeout. A rapid-reset client (HEADERS then
// RST_STREAM, with no token) took the server from 66 MB to 1.9 GB that way.
//
// Streaming calls are left out: the auth interceptor judges their token before they read a
// message, and a wrapper of their own would deepen every subscription's parked stack past
// 8 KiB, doubling its stack (BenchmarkFeed/idle: 12.2 -> 20.6 KB of stack a subscription).
type requestTimeout struct {
	d         time.Duration
	streaming map[string]bool // full method names of the streaming methods, filled before serving
}

type requestTimerKey struct{}

var errRequestTimeout = errors.New("the call's request message did not arrive within the request timeout")

func (rt *requestTimeout) options() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.InTapHandle(rt.tap), grpc.ChainUnaryInterceptor(rt.unary)}
}

// learn records the streaming methods of the services registered on g.
func (rt *requestTimeout) learn(g *grpc.Server) {
	for svc, info := range g.GetServiceInfo() {
		for _, m := range info.Methods {
			if m.IsClientStream || m.IsServerStream {
				rt.streaming["/"+svc+"/"+m.Name] = true
			}
		}
	}
}

func (rt *requestTimeout) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	if rt.streaming[info.FullMethodName] {
		return ctx, nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	a := &armed{timer: time.AfterFunc(rt.d, func() { cancel(errRequestTimeout) })}
	a.stopOnEnd = context.AfterFunc(ctx, a.disarm)
	return context.WithValue(ctx, requestTimerKey{}, a), nil
}

// armed is a call's request timer, and the hook that disarms it when the call's context
// ends first.
type armed struct {
	timer     *time.Timer
	stopOnEnd func() bool
	disarmed  atomic.Bool // for tests: disarm ran
}

func (a *armed) disarm() {
	a.timer.Stop()
	a.disarmed.Store(true)
}

func (*requestTimeout) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if a, ok := ctx.Value(requestTimerKey{}).(*armed); ok {
		a.stopOnEnd()
		a.disarm()
	}
	return handler(ctx, req)
}
