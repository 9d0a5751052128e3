package interceptors

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	middleware "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/livegate/livegate/internal/accesslog"
	"github.com/livegate/livegate/internal/telemetry"
)

// callLog writes each call's "finished call" line: the line go-grpc-middleware's logging
// interceptor writes with logging.WithLogOnEvents(logging.FinishCall) and
// logging.WithFieldsFromContext(callFields), field for field and in the same order, from a
// reporter on the same library's interceptors.*ServerInterceptor.
//
// The logging package's reporter builds the line's fields when the call starts and keeps
// them, with a copy in the context, until it ends: about 1.4 KB held by every open stream (2
// KB of the server's heap per idle subscription, with the spans it pins) and a dozen
// allocations per unary call, spent even when the line's level is off. This reporter keeps
// the call's context, method and start time, and builds the fields once, at the end, only if
// the line is written.
type callLog struct {
	log     *slog.Logger
	refused *accesslog.RefusedLines
}

// ServerReporter implements middleware.ServerReportable.
func (l callLog) ServerReporter(ctx context.Context, c middleware.CallMeta) (middleware.Reporter, context.Context) {
	return &callReport{log: l.log, refused: l.refused, ctx: ctx, meta: c, start: time.Now()}, ctx
}

type callReport struct {
	log     *slog.Logger
	refused *accesslog.RefusedLines
	ctx     context.Context
	meta    middleware.CallMeta
	start   time.Time
}

func (r *callReport) PostMsgSend(any, error, time.Duration)    {}
func (r *callReport) PostMsgReceive(any, error, time.Duration) {}

func (r *callReport) PostCall(err error, d time.Duration) {
	if errors.Is(err, io.EOF) {
		err = nil
	}
	code := status.Code(err)
	level := slog.Level(logging.DefaultServerCodeToLevel(code))
	if !r.log.Enabled(r.ctx, level) || !r.refused.Allow(r.ctx, r.log, refusedCode(code)) {
		return
	}
	f := make(logging.Fields, 0, 32)
	f, fromInfo := appendCallFields(f, r.ctx)
	f = append(f,
		logging.SystemTag[0], logging.SystemTag[1],
		logging.ComponentFieldKey, logging.KindServerFieldValue,
		logging.ServiceFieldKey, r.meta.Service,
		logging.MethodFieldKey, r.meta.Method,
		logging.MethodTypeFieldKey, string(r.meta.Typ),
	)
	if !fromInfo { // the connection's peer, as the library does
		if p, ok := peer.FromContext(r.ctx); ok {
			f = append(f, "peer.address", p.Addr.String())
		}
	}
	f = append(f, "grpc.start_time", r.start.Format(time.RFC3339))
	if dl, ok := r.ctx.Deadline(); ok {
		f = append(f, "grpc.request.deadline", dl.Format(time.RFC3339))
	}
	f = append(f, "grpc.code", code.String())
	if err != nil {
		f = append(f, "grpc.error", accesslog.Cut(err.Error())) // it may quote what the client sent
	}
	f = append(f, logging.DurationToTimeMillisFields(d)...)
	r.log.Log(r.ctx, level, "finished call", f...)
}

// refusedCode reports whether a call that ended with code was ended by its client's own
// error (or the client itself), not by livegate's failure.
func refusedCode(code codes.Code) bool {
	switch code {
	case codes.Canceled, codes.InvalidArgument, codes.DeadlineExceeded, codes.NotFound, codes.AlreadyExists,
		codes.PermissionDenied, codes.ResourceExhausted, codes.FailedPrecondition, codes.OutOfRange,
		codes.Unimplemented, codes.Unauthenticated:
		return true
	}
	return false
}

// appendCallFields appends a call's access log fields besides the library's: the client's
// address as peer.address (for a REST call, the HTTP client's, not the gateway's in-memory
// connection), the request id and trace id it shares with the HTTP request behind it, and
// the tenant it addresses (once its request is received). False: the call has no
// accesslog.Info (it did not pass accesslog.ServerInterceptors), and f is unchanged.
func appendCallFields(f logging.Fields, ctx context.Context) (logging.Fields, bool) {
	info := accesslog.InfoFrom(ctx)
	if info == nil {
		return f, false
	}
	f = append(f,
		"peer.address", info.Client,
		"account_id", accesslog.Tenant{Info: info},
		"app_id", accesslog.Tenant{Info: info, App: true},
		"request_id", info.RequestID,
	)
	if id := telemetry.TraceID(ctx); id != "" {
		f = append(f, "trace_id", id)
	}
	return f, true
}
