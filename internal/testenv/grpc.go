package testenv

import (
	"context"
	"net"
	"testing"

	"buf.build/go/protovalidate"
	grpcprotovalidate "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/protovalidate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/auth"
	"github.com/livegate/livegate/internal/store"
)

// ServeGRPC serves the services register adds on an in-memory connection (bufconn) until
// the test ends, and returns a client connection to it. The server has the chain a
// service's errors meet in livegate (internal/server's interceptors, without logging and
// panic recovery): domain errors become statuses with ErrorInfo (apierror.ToStatus), a
// bearer token is authenticated against st and must address its own tenant, and requests
// are validated against their proto constraints. It lets a service package test its codes
// and details without a whole server.
func ServeGRPC(t testing.TB, st store.Store, register func(*grpc.Server)) *grpc.ClientConn {
	t.Helper()
	validator, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	a := &authChain{authn: auth.NewAuthenticator(st)}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(translateUnary, a.unary, grpcprotovalidate.UnaryServerInterceptor(validator)),
		grpc.ChainStreamInterceptor(translateStream, a.stream, grpcprotovalidate.StreamServerInterceptor(validator)),
	)
	register(srv)
	lis := bufconn.Listen(1 << 20)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
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

func translateUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	resp, err := h(ctx, req)
	if err != nil {
		return nil, apierror.ToStatus(err).Err()
	}
	return resp, nil
}

func translateStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := h(srv, ss); err != nil {
		return apierror.ToStatus(err).Err()
	}
	return nil
}

type authChain struct{ authn *auth.Authenticator }

func (a *authChain) authenticate(ctx context.Context) (context.Context, error) {
	var header string
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("authorization"); len(v) > 0 {
			header = v[0]
		}
	}
	tenant, err := a.authn.Authenticate(ctx, header)
	if err != nil {
		return nil, err
	}
	return auth.WithTenant(ctx, tenant), nil
}

func authorize(ctx context.Context, req any) error {
	tenant, _ := auth.TenantFrom(ctx)
	scoped, ok := req.(auth.TenantScoped)
	if !ok {
		return status.Errorf(codes.Internal, "request %T names no tenant", req)
	}
	return auth.Authorize(tenant, scoped)
}

func (a *authChain) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	ctx, err := a.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	if err := authorize(ctx, req); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (a *authChain) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	ctx, err := a.authenticate(ss.Context())
	if err != nil {
		return err
	}
	return h(srv, &authorizedStream{ServerStream: ss, ctx: ctx})
}

// authorizedStream carries the authenticated tenant and authorizes every received message.
type authorizedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *authorizedStream) Context() context.Context { return s.ctx }

func (s *authorizedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return authorize(s.ctx, m)
}
