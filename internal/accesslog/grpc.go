package accesslog

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// Metadata the REST gateway sends its gRPC server with each call it makes for an HTTP
// request. The gRPC server believes them only on the gateway's own in-memory connection
// (ServerInterceptors(true)); on the public gRPC listener they are ignored. The gateway sets
// them on every call, replacing any an HTTP client slipped in (grpc-gateway forwards
// Grpc-Metadata-* headers as metadata).
const (
	gatewayRequestID = "livegate-gateway-request-id"
	gatewayClient    = "livegate-gateway-client"
)

// GatewayClientInterceptors send the Info of the HTTP request behind each call (see
// WithInfo) as metadata, for ServerInterceptors(true) on the other end.
func GatewayClientInterceptors() (grpc.UnaryClientInterceptor, grpc.StreamClientInterceptor) {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(outgoing(ctx), method, req, reply, cc, opts...)
		}, func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			return streamer(outgoing(ctx), desc, cc, method, opts...)
		}
}

func outgoing(ctx context.Context) context.Context {
	info := InfoFrom(ctx)
	if info == nil {
		return ctx
	}
	md, _ := metadata.FromOutgoingContext(ctx)
	md = md.Copy()
	md.Set(gatewayRequestID, info.RequestID)
	md.Set(gatewayClient, info.Client)
	return metadata.NewOutgoingContext(ctx, md)
}

// ServerInterceptors give each call an Info (see InfoFrom) for its log line: the request id
// and client of the HTTP request it serves when fromGateway (the gateway's connection, whose
// metadata is trusted), otherwise the caller's x-request-id metadata (when valid; a new id
// otherwise, sent back as header metadata) and the connection's peer address. The tenant is
// the one the request message addresses, once received.
func ServerInterceptors(fromGateway bool) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			info := callInfo(ctx, fromGateway)
			if !fromGateway {
				_ = grpc.SetHeader(ctx, metadata.Pairs(RequestIDMetadata, info.RequestID))
			}
			info.noteTenant(req)
			return handler(WithInfo(ctx, info), req)
		}, func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			info := callInfo(ss.Context(), fromGateway)
			if !fromGateway {
				_ = ss.SetHeader(metadata.Pairs(RequestIDMetadata, info.RequestID))
			}
			return handler(srv, &infoStream{ServerStream: ss, ctx: WithInfo(ss.Context(), info), info: info})
		}
}

func callInfo(ctx context.Context, fromGateway bool) *Info {
	md, _ := metadata.FromIncomingContext(ctx)
	first := func(key string) string {
		if v := md.Get(key); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	info := &Info{}
	if fromGateway {
		info.RequestID, info.Client = first(gatewayRequestID), first(gatewayClient)
		if info.RequestID != "" {
			return info
		}
		// A call on the gateway's connection not made for an HTTP request: none today.
	}
	info.RequestID = RequestID(first(RequestIDMetadata))
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		info.Client = p.Addr.String()
		if a, ok := parseHost(info.Client); ok {
			info.Client = a.String()
		}
	}
	return info
}

// noteTenant records the tenant req addresses, if it is a tenant's request and the tenant
// is not known yet.
func (info *Info) noteTenant(req any) {
	if info.AccountID != "" {
		return
	}
	if t, ok := req.(interface {
		GetAccountId() string
		GetAppId() string
	}); ok {
		info.AccountID, info.AppID = t.GetAccountId(), t.GetAppId()
	}
}

// infoStream carries the call's Info and notes the tenant of the first message received.
type infoStream struct {
	grpc.ServerStream
	ctx  context.Context
	info *Info
}

func (s *infoStream) Context() context.Context { return s.ctx }

func (s *infoStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	s.info.noteTenant(m)
	return nil
}
