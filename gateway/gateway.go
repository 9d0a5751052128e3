// Package gateway is livegate's HTTP face: the grpc-gateway mux that turns REST/JSON into
// calls on the gRPC server (dialed, so auth, validation, logging and recovery apply to both
// faces alike), RealtimeKit's error envelope, and routes that are not RPCs (OpenAPI).
package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/livegate/livegate"
	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	livegatev1gw "github.com/livegate/livegate/gen/gw/livegate/v1"
	"github.com/livegate/livegate/internal/accesslog"
	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/limits"
	"github.com/livegate/livegate/internal/metrics"
)

// MaxBodyBytes is the largest request body the gateway reads.
const MaxBodyBytes = limits.MaxBodyBytes

// Marshaler is the REST face's JSON: proto field names (RealtimeKit's snake_case), default
// values written out (`"disabled": false`), unknown input fields ignored.
var Marshaler = &runtime.JSONPb{
	MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true},
	UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
}

// NDJSONContentType labels server-streaming answers (Subscribe's `events:stream`): one JSON
// object per line, each written and flushed as its message arrives.
const NDJSONContentType = "application/x-ndjson"

// streamLabeled is Marshaler with streamed answers labelled NDJSONContentType; single answers
// (and an error answered before the first line) stay application/json. A streamed event
// (Subscribe's `events:stream`) is rendered once for all subscribers (events).
type streamLabeled struct {
	*runtime.JSONPb
	events *eventJSON
}

func (streamLabeled) StreamContentType(any) string { return NDJSONContentType }

// NewDecoder is JSONPb's, except that a request body must be one JSON value, as
// encoding/json.Unmarshal has it: `{"name":"x"}{"name":"y"}` was a 201 for "x" (the API
// audit). Whitespace after the value is fine; an empty body is still io.EOF, which routes
// without a required body take as none.
func (m streamLabeled) NewDecoder(r io.Reader) runtime.Decoder {
	d := json.NewDecoder(r)
	return oneValue{runtime.DecoderWrapper{Decoder: d, UnmarshalOptions: m.UnmarshalOptions}}
}

type oneValue struct{ runtime.DecoderWrapper }

func (d oneValue) Decode(v any) error {
	if err := d.DecoderWrapper.Decode(v); err != nil {
		return err
	}
	switch _, err := d.Token(); {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return fmt.Errorf("the body is not JSON after its first value: %v", err)
	}
	return errors.New("the body holds more than one JSON value; send one object")
}

// Marshal is JSONPb's, except for a streamed event message ({"result": SubscribeResponse
// carrying an event}: the same line, with the event's JSON from the shared cache.
func (m streamLabeled) Marshal(v any) ([]byte, error) {
	if r, ok := v.(map[string]any); ok && len(r) == 1 {
		if resp, ok := r["result"].(*livegatev1.SubscribeResponse); ok && resp.GetEvent() != nil {
			e, err := m.events.get(resp.GetEvent())
			if err != nil {
				return nil, err
			}
			return e.line, nil
		}
	}
	return m.JSONPb.Marshal(v)
}

// Options tunes the gateway.
type Options struct {
	// Admitter refuses webhook and RTMP callback callers from their headers and path, before
	// their body is read (see WebhookAdmitter). Nil: every body is read and only the services
	// check; livegate's server always sets it.
	Admitter WebhookAdmitter
	// StallTimeout is how long one write of a streaming answer (SSE `events/sse`, NDJSON
	// `events:stream`) may block before the client is cut: a subscriber that stopped reading
	// is let go after this long instead of being held for ever. Zero: no limit.
	StallTimeout time.Duration
	// MaxBodyBytesInFlight bounds the request body bytes received and not yet answered, all
	// routes together: a request holds what it has read of its body until it has been
	// answered, and one whose read finds no room is answered 429 with Retry-After. Zero:
	// DefaultMaxBodyBytesInFlight; negative: no limit.
	MaxBodyBytesInFlight int64
	// RefusedLines bounds the access log lines of refused requests (4xx), shared with the
	// gRPC call log. Nil: not bounded.
	RefusedLines *accesslog.RefusedLines
	// MaxBodyBytesInFlightPerClient bounds the same bytes for one client, the address the
	// access log names (TrustedProxies), IPv6 addresses by their /64: a client whose read
	// finds no room in its share is answered 429 with Retry-After, so that no one client
	// can take the whole budget. Zero: DefaultMaxBodyBytesInFlightPerClient; negative: no
	// limit.
	MaxBodyBytesInFlightPerClient int64
	// Log records one access log line per request (see accessLog) and callers refused by
	// Admitter. Nil: not recorded.
	Log *slog.Logger
	// Metrics is told each request's route pattern (metrics.SetRoute) and counts the
	// deliveries refused before they reach the gRPC server (which counts the others). Nil:
	// nothing is counted.
	Metrics *metrics.Metrics
	// TrustedProxies are the proxies whose X-Forwarded-For names the client in the access
	// log. Nil: none; the client is the connection's peer.
	TrustedProxies *accesslog.Proxies
	// CORSOrigins are the origins whose browser pages may call the REST API and the SSE
	// route (see ParseCORSOrigins and withCORS). Empty: CORS off, same-origin only.
	CORSOrigins []string
	// AdminAPI serves the admin API's routes (/admin/v1/...); false: they answer 404.
	AdminAPI bool
	// Webhooks is the connection the webhook and RTMP callback routes call WebhookService's
	// unary methods on (livegate's server: an in-process one, see internal/inproc). Nil: conn.
	Webhooks grpc.ClientConnInterface
}

// New returns the HTTP handler serving the REST face over conn, a client of livegate's gRPC
// server.
func New(ctx context.Context, conn *grpc.ClientConn, opts Options) (http.Handler, error) {
	events := newEventJSON(eventJSONEntries, eventJSONBytes) // shared by NDJSON and SSE
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, streamLabeled{JSONPb: Marshaler, events: events}),
		runtime.WithErrorHandler(errorHandler),
		runtime.WithStreamErrorHandler(streamErrorHandler),
		runtime.WithRoutingErrorHandler(routingErrorHandler),
		runtime.WithForwardResponseOption(successStatus),
		// gRPC metadata is not sent as Grpc-Metadata-*/Grpc-Trailer-* headers: what the
		// server sends in it (content-type application/grpc, ...) means nothing to an HTTP
		// caller. X-Request-Id is the access log's own header.
		runtime.WithOutgoingHeaderMatcher(noHeaders),
		runtime.WithOutgoingTrailerMatcher(noHeaders),
		// Only matched routes pass through these (unknown routes answer 404/405 first).
		runtime.WithMiddlewares(recordRoute, streaming(opts.StallTimeout), requireJSON),
	)
	for _, register := range []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		livegatev1gw.RegisterLivestreamServiceHandler,
		livegatev1gw.RegisterAnalyticsServiceHandler,
		livegatev1gw.RegisterEventServiceHandler,
		livegatev1gw.RegisterWebhookEndpointServiceHandler,
	} {
		if err := register(ctx, mux, conn); err != nil {
			return nil, fmt.Errorf("register gateway handler: %w", err)
		}
	}
	if opts.AdminAPI {
		if err := livegatev1gw.RegisterAdminServiceHandler(ctx, mux, conn); err != nil {
			return nil, fmt.Errorf("register gateway handler: %w", err)
		}
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var admit *admission
	if opts.Admitter != nil {
		admit = &admission{admitter: opts.Admitter, log: log, metrics: opts.Metrics, lines: opts.RefusedLines}
	}
	webhooks := opts.Webhooks
	if webhooks == nil {
		webhooks = conn
	}
	if err := registerWebhooks(mux, webhooks, admit, opts.Metrics); err != nil {
		return nil, err
	}
	if err := registerRTMP(mux, webhooks, admit, opts.Metrics); err != nil {
		return nil, err
	}
	if err := registerSSE(mux, conn, events); err != nil {
		return nil, err
	}
	if err := handlePath(mux, http.MethodGet, openAPIPath, serveOpenAPI); err != nil {
		return nil, fmt.Errorf("register /openapi.json: %w", err)
	}
	// CORS inside the access log (preflights are logged) and before the body limit and the
	// 415 check (a preflight has no body to judge).
	h, err := withCORS(limitBody(utf8URL(postOnlyWebhooksIn(mux)), newBodyBudget(opts.MaxBodyBytesInFlight, opts.MaxBodyBytesInFlightPerClient), opts.Metrics), opts.CORSOrigins)
	if err != nil {
		return nil, err
	}
	return accessLog(h, log, opts.TrustedProxies, opts.Metrics, opts.RefusedLines), nil
}

// utf8URL answers 400 a request whose path or query, percent-decoded, is not UTF-8: every
// path parameter and query parameter becomes a protobuf string, which must be UTF-8, and
// the call would fail marshalling it, a 500.
func utf8URL(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !utf8.ValidString(r.URL.Path) || !validQuery(r.URL.RawQuery) {
			writeError(w, http.StatusBadRequest, "the URL's path and query must be UTF-8 (once percent-decoded)", string(apierror.ReasonInvalidArgument))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// validQuery reports whether every key and value of a raw query decodes to UTF-8 (one that
// does not decode at all is left to the handler's own parsing).
func validQuery(raw string) bool {
	if raw == "" {
		return true
	}
	q, _ := url.ParseQuery(raw)
	for k, vs := range q {
		if !utf8.ValidString(k) {
			return false
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return false
			}
		}
	}
	return true
}

// providerSource is the delivery source of a webhook or RTMP callback path ("" for others):
// the one place that tells provider routes from the rest (isProviderRoute).
func providerSource(path string) string {
	switch {
	case strings.HasPrefix(path, "/rtmp/"):
		return metrics.SourceRTMP
	case strings.HasSuffix(path, "/webhooks/100ms"):
		return metrics.SourceHMS
	case strings.HasSuffix(path, "/webhooks/amity"):
		return metrics.SourceAmity
	}
	return ""
}

// deliverySource is providerSource for a path of exactly a provider route's shape
// (/accounts/{account_id}/realtime/kit/{app_id}/webhooks/100ms or amity,
// /rtmp/{secret}/{hook}), "" for others: what the delivery metrics count as a delivery
// refused before routing. Any path that merely ends like one (/x/webhooks/100ms) is not a
// delivery, and counting it let anyone skew the per-source ingest figures.
func deliverySource(path string) string {
	src := providerSource(path)
	parts := strings.Split(path, "/")
	for _, p := range parts[1:] {
		if p == "" {
			return ""
		}
	}
	switch {
	case src == metrics.SourceRTMP && len(parts) == 4,
		src != "" && src != metrics.SourceRTMP && len(parts) == 8 && parts[1] == "accounts" && parts[3] == "realtime" && parts[4] == "kit" && parts[6] == "webhooks":
		return src
	}
	return ""
}

// postOnlyWebhooksIn answers 405 to any method but POST on the inbound webhook routes
// (webhooks/100ms, webhooks/amity). The outbound webhooks API's webhooks/{webhook_id}
// (GET, PUT, PATCH, DELETE) would otherwise take them for a webhook id and answer 400 (not
// a UUID): they are provider routes, whatever the method.
func postOnlyWebhooksIn(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			if src := providerSource(r.URL.Path); src == metrics.SourceHMS || src == metrics.SourceAmity {
				routingErrorHandler(r.Context(), nil, nil, w, r, http.StatusMethodNotAllowed)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// refusedBeforeCall counts a delivery the gateway answered itself, before calling the gRPC
// server, because its body could not be read (or read as a callback): too large, not
// received in time, or malformed.
func refusedBeforeCall(m *metrics.Metrics, r *http.Request, source string) {
	switch bodyFailure(r.Context()) {
	case bodyTooLarge:
		m.Delivery(source, metrics.OutcomeTooLarge)
	case bodyTimedOut, bodyOverBudget, bodyOverClientBudget:
		m.Delivery(source, metrics.OutcomeError)
	default:
		m.Delivery(source, metrics.OutcomeInvalid)
	}
}

// bodyRetryAfter is the Retry-After of a request refused for want of body budget: bodies in
// flight are answered within the server's read timeout, usually far sooner.
const bodyRetryAfter = "1"

// openAPIPath serves the OpenAPI document.
const openAPIPath = "/openapi.json"

// Route is a route of the REST face: an HTTP method and a path template.
type Route struct{ Method, Path string }

// HandRoutes are the routes the gateway registers by hand, not generated from the protos'
// google.api.http annotations. The OpenAPI document describes each of them (they come from
// scripts/openapi/supplement.json); handlePath registers nothing that is not listed here.
func HandRoutes() []Route {
	return []Route{
		{http.MethodPost, hmsWebhookPath},
		{http.MethodPost, amityWebhookPath},
		{http.MethodPost, rtmpCallbackPath},
		{http.MethodGet, ssePath},
		{http.MethodGet, openAPIPath},
	}
}

// handlePath registers a route that HandRoutes lists.
func handlePath(mux *runtime.ServeMux, method, path string, h runtime.HandlerFunc) error {
	if !slices.Contains(HandRoutes(), Route{method, path}) {
		return fmt.Errorf("%s %s is not in HandRoutes (add it there and to scripts/openapi/supplement.json)", method, path)
	}
	return mux.HandlePath(method, path, h)
}

// openAPIDocument is the served OpenAPI document: the generated one, versioned as the binary
// is (`livegate version`).
var openAPIDocument = sync.OnceValue(func() []byte {
	v, _ := metrics.Build()
	return livegate.OpenAPIDocument(v)
})

func serveOpenAPI(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDocument())
}

// noHeaders forwards no gRPC metadata as HTTP headers.
func noHeaders(string) (string, bool) { return "", false }

// successStatus sets the HTTP status of successful responses that are not 200: creating an
// independent livestream or a webhook answers 201, as RealtimeKit does.
func successStatus(_ context.Context, w http.ResponseWriter, m proto.Message) error {
	switch m.(type) {
	case *livegatev1.CreateLivestreamResponse, *livegatev1.CreateAppResponse, *livegatev1.CreateWebhookResponse:
		w.WriteHeader(http.StatusCreated)
	}
	return nil
}

// limitBody bounds request bodies. One over MaxBodyBytes is refused: at once when the
// length is declared, and when a chunked body runs over, by the read error. The body bytes
// received and not yet answered, all requests together, are bounded by budget (nil: not
// bounded), and so are those of one client: each request holds what it has read of its
// body until it is answered, so that slow or stalled uploads hold a bounded amount of memory
// whoever sends them, and one client's cannot take all of it. A read that finds no room
// fails, and the request is answered 429 with Retry-After (errorHandler, readBody). What counts is what arrived, not what a request declares: a connection that
// declares a body and sends nothing holds nothing.
//
// grpc-gateway turns a body read error into INVALID_ARGUMENT and loses it, so what went
// wrong (over the limit or the budget, or not received within the server's read timeout) is
// recorded on the request too (see bodyFailure), and errorHandler answers 413, 429 or 408.
func limitBody(next http.Handler, budget *bodyBudget, m *metrics.Metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > MaxBodyBytes {
			if src := deliverySource(r.URL.Path); src != "" && r.Method == http.MethodPost {
				m.Delivery(src, metrics.OutcomeTooLarge)
			}
			writeTooLarge(w)
			return
		}
		hasBody := r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody
		if isStreamRoute(r) && hasBody {
			// A subscription is a GET with no body, and its stream clears the read deadline
			// (streaming): one waiting for a declared body would wait for ever. The
			// connection closes after the answer: net/http would otherwise read a chunked
			// body up to the read timeout before it.
			w.Header().Set("Connection", "close")
			writeError(w, http.StatusBadRequest, "a feed subscription (GET) has no request body", string(apierror.ReasonInvalidArgument))
			return
		}
		failed := new(atomic.Int32)
		r = r.WithContext(context.WithValue(r.Context(), bodyFailureKey{}, failed))
		body := &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, MaxBodyBytes), failed: failed}
		if budget != nil && hasBody {
			body.budget = budget
			if info := accesslog.InfoFrom(r.Context()); info != nil {
				body.client = clientKey(info.Client)
			}
			defer func() { budget.release(body.client, body.held) }()
		}
		r.Body = body
		next.ServeHTTP(w, r)
	})
}

// errBodyBudget and errClientBodyBudget fail a body read that found no room in the
// bodies-in-flight budget, or in its client's share of it.
var (
	errBodyBudget       = errors.New("too many request bodies are being received at once")
	errClientBodyBudget = errors.New("too many request bodies are being received at once from this client")
)

// writeBodyBusy answers a request whose body found no room in the budget (err is
// errBodyBudget or errClientBodyBudget): 429 with Retry-After (bodies in flight are answered
// within the server's read timeout, usually far sooner), and the connection closed after it:
// the rest of the body is not read (net/http would otherwise read a remainder under 256 KiB
// before answering, for as long as the read timeout when it does not come).
func writeBodyBusy(w http.ResponseWriter, err error) {
	w.Header().Set("Connection", "close")
	w.Header().Set("Retry-After", bodyRetryAfter)
	writeError(w, http.StatusTooManyRequests, err.Error()+": retry after "+bodyRetryAfter+"s", string(apierror.ReasonTooManyRequests))
}

type bodyFailureKey struct{}

// How reading a request body failed, as recorded by limitedBody.
const (
	bodyOK               int32 = iota
	bodyTooLarge               // read past MaxBodyBytes
	bodyTimedOut               // not received within the server's read timeout
	bodyOverBudget             // no room in the bodies-in-flight budget
	bodyOverClientBudget       // no room in the client's share of it
)

// limitedBody records how its reader failed, and holds what it read in the budget (if any)
// until limitBody releases it.
type limitedBody struct {
	io.ReadCloser
	failed *atomic.Int32
	budget *bodyBudget
	client string // the client's key in budget
	held   int64  // read, and held in budget; read by limitBody once the handler has returned
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 && b.budget != nil {
		if err := b.budget.take(b.client, int64(n)); err != nil {
			b.failed.CompareAndSwap(bodyOK, classifyBodyError(err))
			return 0, err
		}
		b.held += int64(n)
	}
	if err != nil {
		if f := classifyBodyError(err); f != bodyOK {
			b.failed.CompareAndSwap(bodyOK, f)
		}
	}
	return n, err
}

func classifyBodyError(err error) int32 {
	var tooBig *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.Is(err, errBodyBudget):
		return bodyOverBudget
	case errors.Is(err, errClientBodyBudget):
		return bodyOverClientBudget
	case errors.As(err, &tooBig):
		return bodyTooLarge
	case errors.As(err, &netErr) && netErr.Timeout():
		return bodyTimedOut
	}
	return bodyOK
}

// bodyFailure says how reading the request's body failed (bodyOK: it did not).
func bodyFailure(ctx context.Context) int32 {
	failed, _ := ctx.Value(bodyFailureKey{}).(*atomic.Int32)
	if failed == nil {
		return bodyOK
	}
	return failed.Load()
}

// writeBodyTimeout answers a body that did not arrive within the server's read timeout.
func writeBodyTimeout(w http.ResponseWriter) {
	writeError(w, http.StatusRequestTimeout, "the request body did not arrive within the server's read timeout", "REQUEST_TIMEOUT")
}

// writeTooLarge answers a body over MaxBodyBytes: 413, PAYLOAD_TOO_LARGE, on every route.
func writeTooLarge(w http.ResponseWriter) {
	writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is over the %d-byte limit", MaxBodyBytes), "PAYLOAD_TOO_LARGE")
}

// isStreamRoute says whether r asks for a streaming answer: SSE or NDJSON subscriptions.
func isStreamRoute(r *http.Request) bool {
	return r.Method == http.MethodGet &&
		(strings.HasSuffix(r.URL.Path, "/events/sse") || strings.HasSuffix(r.URL.Path, "/events:stream"))
}

// streaming lifts the server's whole-request deadlines off streaming answers, which live as
// long as the subscription: the read deadline is cleared (the request has no body; left in
// place, net/http's background read would cancel the request when it fired), and the write
// deadline becomes a rolling one, renewed before each write and flush, so the stream is cut
// only when one write blocks for stall (a client that stopped reading).
func streaming(stall time.Duration) runtime.Middleware {
	return func(next runtime.HandlerFunc) runtime.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
			if !isStreamRoute(r) {
				next(w, r, params)
				return
			}
			rc := http.NewResponseController(w)
			_ = rc.SetReadDeadline(time.Time{})
			ended := new(atomic.Pointer[status.Status])
			r = r.WithContext(context.WithValue(r.Context(), streamErrorKey{}, ended))
			sw := &stallWriter{ResponseWriter: w, rc: rc, stall: stall, ended: ended}
			sw.renew()
			next(sw, r, params)
			sw.renew() // what net/http writes after the handler (the last chunk)
		}
	}
}

// stallWriter renews the connection's write deadline before each write and flush. It also
// answers a stream that ended before its first message with livegate's HTTP status for the
// error (see streamErrorHandler).
type stallWriter struct {
	http.ResponseWriter
	rc    *http.ResponseController
	stall time.Duration
	ended *atomic.Pointer[status.Status]
}

func (w *stallWriter) WriteHeader(code int) {
	if st := w.ended.Load(); st != nil && code >= 400 {
		code = HTTPStatus(st)
		setRetryAfter(w.Header(), code, st)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *stallWriter) renew() {
	var deadline time.Time
	if w.stall > 0 {
		deadline = time.Now().Add(w.stall)
	}
	_ = w.rc.SetWriteDeadline(deadline)
}

func (w *stallWriter) Write(p []byte) (int, error) {
	w.renew()
	return w.ResponseWriter.Write(p)
}

// Flush and FlushError let http.ResponseController and grpc-gateway flush through.
func (w *stallWriter) Flush() { _ = w.FlushError() }

func (w *stallWriter) FlushError() error {
	w.renew()
	return w.rc.Flush()
}

// Unwrap gives http.ResponseController the writer underneath (deadlines, hijacking).
func (w *stallWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// AcceptedContentType is the body type REST API routes take.
const AcceptedContentType = "application/json"

// requireJSON refuses, with 415, a body of a REST API route (POST, PUT, PATCH) whose
// Content-Type is not JSON: application/json (with any parameters) or any type ending in
// +json. A body without Content-Type is read as JSON. Webhook and RTMP routes take their
// providers' bodies as they come and are not checked.
func requireJSON(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
		default:
			next(w, r, params)
			return
		}
		ct := r.Header.Get("Content-Type")
		if ct == "" || r.ContentLength == 0 || isProviderRoute(r.URL.Path) || isJSON(ct) {
			next(w, r, params)
			return
		}
		writeError(w, http.StatusUnsupportedMediaType,
			fmt.Sprintf("Content-Type %q is not supported: send the body as %s", ct, AcceptedContentType),
			"UNSUPPORTED_MEDIA_TYPE")
	}
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// isProviderRoute says whether path is a webhook or RTMP callback route.
func isProviderRoute(path string) bool { return providerSource(path) != "" }
