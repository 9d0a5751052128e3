// Package interceptors is the chain every livegate gRPC call passes through, whichever face it
// came in by (the gateway dials the same server, so REST calls pass through it too). The
// server (internal/server) and the services' own tests (through testenv.ServeGRPC) use this
// one chain, so a test of a service sees the codes and details a client sees.
package interceptors

import (
	"context"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	middleware "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	grpcprotovalidate "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/protovalidate"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/accesslog"
	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/auth"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/validation"
)

// Chain returns the server's chains, outermost first: panic recovery, logging, domain
// error translation, authentication and authorization, validation (except of WebhookService
// requests, which are validated after their secret is checked), strings with a NUL refused
// (refuseNUL, unary calls), and UUIDs made lowercase (lowerUUIDs). AdminService calls are
// authenticated by operators' tokens instead (nil operators: the admin API is off). The
// lines of calls a client's own error ended are bounded by refused (nil: not bounded).
func Chain(log *slog.Logger, authn *auth.Authenticator, operators *auth.Operators, refused *accesslog.RefusedLines) ([]grpc.UnaryServerInterceptor, []grpc.StreamServerInterceptor, error) {
	validator, err := validation.Validator()
	if err != nil {
		return nil, nil, err
	}
	recoverOpt := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in handler", "panic", p, "stack", string(debug.Stack()))
		return status.Error(codes.Internal, "internal error")
	})
	// Calls finish as a log line each; payloads are never logged (they hold secrets).
	calls := callLog{log: log, refused: refused}
	a := &authInterceptor{authn: authn, operators: operators}
	t := &errorTranslator{log: log, storage: newRateLimitedLog(storageLogEvery)}
	// WebhookService validates its requests itself, after checking the provider's secret: a
	// wrong secret is 401 whatever the request holds.
	skipWebhooks := grpcprotovalidate.WithIgnoreMessages(
		(&livegatev1.DeliverHmsWebhookRequest{}).ProtoReflect().Type(),
		(&livegatev1.DeliverAmityWebhookRequest{}).ProtoReflect().Type(),
		(&livegatev1.DeliverRtmpCallbackRequest{}).ProtoReflect().Type(),
	)
	return []grpc.UnaryServerInterceptor{
			recovery.UnaryServerInterceptor(recoverOpt),
			middleware.UnaryServerInterceptor(calls),
			t.unary,
			a.unary,
			grpcprotovalidate.UnaryServerInterceptor(validator, skipWebhooks),
			refuseNUL,
			lowerUUIDs,
		}, []grpc.StreamServerInterceptor{
			recovery.StreamServerInterceptor(recoverOpt),
			middleware.StreamServerInterceptor(calls),
			t.stream,
			a.stream,
			grpcprotovalidate.StreamServerInterceptor(validator, skipWebhooks),
		}, nil
}

// errorTranslator turns domain errors into gRPC statuses (apierror.ToStatus), logging the
// cause of every INTERNAL one, since its message is not sent to the client, and of
// STORAGE_UNAVAILABLE ones (a full or read-only disk) at most once per storageLogEvery per
// kind: every request fails the same way then, and one line per request would flood the log.
type errorTranslator struct {
	log     *slog.Logger
	storage *rateLimitedLog
}

// storageLogEvery is how often the same kind of storage failure is logged at most.
const storageLogEvery = 10 * time.Second

func (t *errorTranslator) translate(ctx context.Context, method string, err error) error {
	if err == nil {
		return nil
	}
	st := apierror.ToStatus(err)
	switch info := apierror.Info(st); {
	case st.Code() == codes.Internal || st.Code() == codes.Unknown:
		t.log.ErrorContext(ctx, "internal error", "method", method, "error", err)
	case info.GetReason() == string(apierror.ReasonStorageUnavailable):
		kind := info.GetMetadata()["kind"]
		if ok, suppressed := t.storage.allow(kind); ok {
			t.log.ErrorContext(ctx, "storage unavailable: writes fail", "kind", kind, "method", method, "error", err,
				"suppressed", suppressed, "suppressed_for", storageLogEvery.String())
		}
	}
	return st.Err()
}

// rateLimitedLog lets one line per key through per period, and counts the others.
type rateLimitedLog struct {
	every      time.Duration
	now        func() time.Time
	mu         sync.Mutex
	last       map[string]time.Time
	suppressed map[string]int
}

func newRateLimitedLog(every time.Duration) *rateLimitedLog {
	return &rateLimitedLog{every: every, now: time.Now, last: map[string]time.Time{}, suppressed: map[string]int{}}
}

// allow says whether to log a line of this key now, and how many were suppressed since the
// last one.
func (r *rateLimitedLog) allow(key string) (bool, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if last, ok := r.last[key]; ok && now.Sub(last) < r.every {
		r.suppressed[key]++
		return false, 0
	}
	n := r.suppressed[key]
	r.last[key], r.suppressed[key] = now, 0
	return true, n
}

func (t *errorTranslator) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	return resp, t.translate(ctx, info.FullMethod, err)
}

func (t *errorTranslator) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return t.translate(ss.Context(), info.FullMethod, handler(srv, ss))
}

// authInterceptor authenticates the bearer token of every livegate API call and checks that
// the request addresses the token's tenant. Webhook deliveries authenticate with the
// provider's own secret inside WebhookService; health is open. Server reflection takes any
// valid token, an app's or an operator's: its answers are the whole schema, hundreds of
// kilobytes a call, which a client with no token held in the server by never reading them
// (the network audit: 2.1 GB for 2,000 streams). AdminService
// calls authenticate with an operator token instead (never an app token); without operators,
// the admin API is off.
type authInterceptor struct {
	authn     *auth.Authenticator
	operators *auth.Operators // nil: the admin API is off
}

const adminPrefix = "/livegate.v1.AdminService/"

// reflectionPrefix begins the methods of gRPC server reflection (v1 and v1alpha).
const reflectionPrefix = "/grpc.reflection."

func needsToken(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/livegate.v1.") && !strings.HasPrefix(fullMethod, "/livegate.v1.WebhookService/") &&
		!strings.HasPrefix(fullMethod, adminPrefix)
}

// authenticateOperator authenticates an AdminService call by its operator token.
func (a *authInterceptor) authenticateOperator(ctx context.Context, fullMethod string) (context.Context, error) {
	if a.operators == nil {
		return nil, status.Errorf(codes.Unimplemented, "unknown method %s: the admin API is off (start livegate with --admin-token-file)", fullMethod)
	}
	var header string
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("authorization"); len(v) > 0 {
			header = v[0]
		}
	}
	actor, err := a.operators.Authenticate(header)
	if err != nil {
		return nil, apierror.ToStatus(err).Err()
	}
	return auth.WithActor(ctx, actor), nil
}

func (a *authInterceptor) authenticate(ctx context.Context) (context.Context, error) {
	ctx, _, _, err := a.authenticateHeader(ctx)
	return ctx, err
}

// authenticateHeader is authenticate, also returning the header and its tenant.
func (a *authInterceptor) authenticateHeader(ctx context.Context) (context.Context, string, store.Tenant, error) {
	var header string
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("authorization"); len(v) > 0 {
			header = v[0]
		}
	}
	tenant, err := a.authn.Authenticate(ctx, header)
	if err != nil {
		return nil, "", store.Tenant{}, apierror.ToStatus(err).Err()
	}
	return auth.WithTenant(ctx, tenant), header, tenant, nil
}

func (a *authInterceptor) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if strings.HasPrefix(info.FullMethod, adminPrefix) {
		ctx, err := a.authenticateOperator(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
	if !needsToken(info.FullMethod) {
		return handler(ctx, req)
	}
	ctx, err := a.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	if err := authorize(ctx, req); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (a *authInterceptor) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if strings.HasPrefix(info.FullMethod, adminPrefix) { // none yet; kept behind the operator token
		ctx, err := a.authenticateOperator(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, &operatorStream{ServerStream: ss, ctx: ctx})
	}
	if strings.HasPrefix(info.FullMethod, reflectionPrefix) {
		if err := a.anyToken(ss.Context(), info.FullMethod); err != nil {
			return err
		}
		return handler(srv, ss)
	}
	if !needsToken(info.FullMethod) {
		return handler(srv, ss)
	}
	ctx, header, tenant, err := a.authenticateHeader(ss.Context())
	if err != nil {
		return err
	}
	// A stream may outlive its credentials: the handler can check them again (Subscribe
	// does, while it follows the feed).
	ctx = auth.WithRecheck(ctx, a.authn.Recheck(header, tenant))
	return handler(srv, &authorizedStream{ServerStream: ss, ctx: ctx})
}

// anyToken accepts a call that carries any valid token: an app's, or an operator's.
func (a *authInterceptor) anyToken(ctx context.Context, fullMethod string) error {
	_, _, _, err := a.authenticateHeader(ctx)
	if err == nil || a.operators == nil {
		return err
	}
	if _, opErr := a.authenticateOperator(ctx, fullMethod); opErr == nil {
		return nil
	}
	return err
}

func authorize(ctx context.Context, req any) error {
	tenant, _ := auth.TenantFrom(ctx)
	scoped, ok := req.(auth.TenantScoped)
	if !ok {
		return status.Errorf(codes.Internal, "request %T names no tenant", req)
	}
	if err := auth.Authorize(tenant, scoped); err != nil {
		return apierror.ToStatus(err).Err()
	}
	return nil
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

// operatorStream carries the authenticated operator.
type operatorStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *operatorStream) Context() context.Context { return s.ctx }
