package testenv

import (
	"context"
	"log/slog"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"

	"github.com/livegate/livegate/internal/auth"
	"github.com/livegate/livegate/internal/interceptors"
	"github.com/livegate/livegate/internal/store"
)

// ServeGRPC serves the services register adds on an in-memory connection (bufconn) until
// the test ends, and returns a client connection to it, dialled with dial. The server has
// livegate's own interceptor chain (interceptors.Chain: panic recovery, logging to nowhere,
// domain errors as statuses with ErrorInfo, bearer tokens authenticated against st and held
// to their own tenant, proto validation), so a service package tests the codes and details
// its clients get without a whole server.
func ServeGRPC(t testing.TB, st store.Store, register func(*grpc.Server), dial ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	unary, streams, err := interceptors.Chain(slog.New(slog.DiscardHandler), auth.NewAuthenticator(st), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(unary...), grpc.ChainStreamInterceptor(streams...))
	register(srv)
	lis := bufconn.Listen(1 << 20)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	conn, err := grpc.NewClient("passthrough:///bufconn", append([]grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	}, dial...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
		<-served
	})
	return conn
}

// WithToken returns ctx sending token as gRPC bearer credentials (none if token is empty).
func WithToken(ctx context.Context, token string) context.Context {
	if token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// Token is a dial option that sends token as bearer credentials on every call that carries
// none of its own (WithToken).
func Token(token string) grpc.DialOption {
	return grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if md, _ := metadata.FromOutgoingContext(ctx); len(md.Get("authorization")) == 0 {
			ctx = WithToken(ctx, token)
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	})
}
