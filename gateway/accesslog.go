package gateway

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	"github.com/livegate/livegate/internal/accesslog"
	"github.com/livegate/livegate/internal/metrics"
	"github.com/livegate/livegate/internal/telemetry"
)

// UnmatchedRoute is the route of a request no route matched (answered 404 or 405).
const UnmatchedRoute = "unmatched"

// accessLog writes one line per HTTP request once it has been answered, whatever answered
// it: the gRPC call behind it, or the gateway itself (unknown route, preflight, unparsable
// query, a body too large or of the wrong type, a webhook caller refused before its body was
// read). It gives each request its id (X-Request-Id: the caller's when valid, otherwise a new
// one), sets it on the answer, and passes it with the client's address to the gRPC call
// (accesslog.GatewayClientInterceptors), so that both lines name the same request.
//
// The same measurements (route, status, duration) go to the metrics (m; nil: none).
//
// Nothing secret is logged: no query string (the SSE route takes the token there), no
// header, no body; the path has the RTMP callback secret masked (accesslog.MaskedPath), here
// and in the request's trace span.
//
// The lines of refused requests (4xx) are bounded by refused (nil: not bounded), and the
// path and tenant ids are logged up to accesslog.MaxValue bytes.
func accessLog(next http.Handler, log *slog.Logger, proxies *accesslog.Proxies, m *metrics.Metrics, refused *accesslog.RefusedLines) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &accesslog.Info{
			RequestID: accesslog.RequestID(r.Header.Get(accesslog.RequestIDHeader)),
			Client:    proxies.Client(r.RemoteAddr, r.Header.Values("X-Forwarded-For")),
		}
		w.Header().Set(accesslog.RequestIDHeader, info.RequestID)
		rec := &recordingWriter{ResponseWriter: w}
		ctx := accesslog.WithInfo(r.Context(), info)
		next.ServeHTTP(rec, r.WithContext(ctx))

		route := info.Route
		if route == "" {
			route = UnmatchedRoute
		}
		path := accesslog.MaskedPath(r.URL.Path)
		path = accesslog.Cut(path)
		telemetry.SetRoute(ctx, r.Method, route, path, info.Client)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		status := rec.status
		if info.Refused != 0 {
			status = info.Refused // an SSE refusal answered 200 (writeRefusal)
		}
		took := time.Since(start)
		m.HTTPRequest(route, r.Method, status, took)
		if !refused.Allow(ctx, log, status >= 400 && status < 500) {
			return
		}
		attrs := make([]slog.Attr, 0, 13)
		attrs = append(attrs,
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.String("path", path),
			slog.Int("status", status),
			slog.Int64("bytes", rec.bytes),
			// Milliseconds to the microsecond, as a number (gRPC lines have grpc.time_ms).
			slog.Float64("duration_ms", float64(took.Microseconds())/1000),
			slog.String("client", info.Client),
		)
		if status != rec.status {
			attrs = append(attrs, slog.Int("answered", rec.status))
		}
		if info.AccountID != "" {
			attrs = append(attrs, slog.String("account_id", accesslog.Cut(info.AccountID)))
		}
		if info.AppID != "" {
			attrs = append(attrs, slog.String("app_id", accesslog.Cut(info.AppID)))
		}
		attrs = append(attrs, slog.String("request_id", info.RequestID))
		if id := telemetry.TraceID(ctx); id != "" {
			attrs = append(attrs, slog.String("trace_id", id))
		}
		log.LogAttrs(ctx, slog.LevelInfo, "http request", attrs...)
	})
}

// recordRoute notes the matched route's pattern and the tenant it addresses on the
// request's accesslog.Info. It is the first of the mux's middlewares, which run for matched
// routes only.
func recordRoute(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		if info := accesslog.InfoFrom(r.Context()); info != nil {
			if p, ok := runtime.HTTPPattern(r.Context()); ok {
				info.Route = routePattern(p)
			}
			info.AccountID, info.AppID = params["account_id"], params["app_id"]
		}
		next(w, r, params)
	}
}

// routePattern writes a grpc-gateway pattern as it was registered: "{account_id}" rather
// than its canonical "{account_id=*}".
func routePattern(p runtime.Pattern) string {
	return strings.ReplaceAll(p.String(), "=*}", "}")
}

// recordingWriter records an answer's status and size. It passes flushes through and
// unwraps to the writer it wraps, so that streaming answers (SSE, NDJSON) flush and
// http.ResponseController reaches the connection's deadlines.
type recordingWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *recordingWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Flush and FlushError flush through to the connection (grpc-gateway's streaming answers
// need an http.Flusher).
func (w *recordingWriter) Flush() { _ = w.FlushError() }

func (w *recordingWriter) FlushError() error {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap gives http.ResponseController the writer underneath.
func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
