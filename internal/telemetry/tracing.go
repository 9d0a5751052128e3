// Package telemetry sets up livegate's OpenTelemetry tracing from the standard OTEL_*
// environment variables and instruments the HTTP and gRPC faces with it.
//
// Tracing is on when an OTLP endpoint is configured (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), or when OTEL_TRACES_EXPORTER names an exporter other
// than "none"; OTEL_SDK_DISABLED=true turns it off whatever else is set. Everything else is
// read by the OpenTelemetry SDK itself: the exporter and its protocol (autoexport:
// OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_PROTOCOL, default http/protobuf), the endpoint,
// headers, timeout, compression and certificates (the OTLP exporter), the sampler
// (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG; default parentbased_always_on) and span
// limits (the SDK), the service name and resource attributes (OTEL_SERVICE_NAME,
// OTEL_RESOURCE_ATTRIBUTES; the service name defaults to "livegate").
//
// Off, nothing is instrumented: no wrapper on the HTTP handler, no gRPC stats handler, and
// the store's commit spans are not started (they are children of a recording span only), so
// tracing costs nothing on the hot path.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/livegate/livegate/internal/accesslog"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"
)

// ServiceName is the service.name of livegate's spans unless OTEL_SERVICE_NAME says
// otherwise.
const ServiceName = "livegate"

// Tracing is livegate's tracing pipeline. A nil *Tracing is tracing off: every method is
// safe on it and instruments nothing.
type Tracing struct {
	provider   *sdktrace.TracerProvider
	propagator propagation.TextMapPropagator
}

// Environment variables that switch tracing on or off (the rest are the SDK's).
const (
	envEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	envTracesExporter = "OTEL_TRACES_EXPORTER"
	envSDKDisabled    = "OTEL_SDK_DISABLED"
)

// Configured reports whether the environment turns tracing on (see the package doc).
func Configured() bool {
	if v, err := strconv.ParseBool(os.Getenv(envSDKDisabled)); err == nil && v {
		return false
	}
	exporter := strings.TrimSpace(os.Getenv(envTracesExporter))
	if exporter == "none" {
		return false
	}
	return exporter != "" || os.Getenv(envEndpoint) != "" || os.Getenv(envTracesEndpoint) != ""
}

// FromEnv builds the tracing pipeline the OTEL_* environment describes, or returns nil
// (tracing off) when it describes none. Call Shutdown to flush it.
func FromEnv(ctx context.Context) (*Tracing, error) {
	if !Configured() {
		return nil, nil
	}
	exporter, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, fmt.Errorf("OpenTelemetry trace exporter from OTEL_* environment: %w", err)
	}
	if autoexport.IsNoneSpanExporter(exporter) {
		return nil, nil
	}
	return New(ctx, exporter)
}

// New builds a tracing pipeline exporting to exporter in batches, with the SDK's sampler
// and limits from the environment. FromEnv is what livegate uses; New is for tests with an
// exporter of their own.
func New(ctx context.Context, exporter sdktrace.SpanExporter) (*Tracing, error) {
	res, err := resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithAttributes(semconv.ServiceName(ServiceName), semconv.ServiceVersion(version())),
		resource.WithTelemetrySDK(),
		// Last, so that OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override the above.
		resource.WithFromEnv(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("OpenTelemetry resource: %w", err)
	}
	return &Tracing{
		provider: sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res)),
		// W3C trace context and baggage: OTEL_PROPAGATORS' default.
		propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}, nil
}

// version is livegate's module version from the build info ("(devel)" in a source build).
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// Enabled reports whether tracing is on.
func (t *Tracing) Enabled() bool { return t != nil }

// TracerProvider is the pipeline's provider (a no-op one when tracing is off).
func (t *Tracing) TracerProvider() trace.TracerProvider {
	if t == nil {
		return trace.NewNoopTracerProvider()
	}
	return t.provider
}

// Shutdown ends the spans still buffered to the exporter (within ctx) and stops it.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	if err := t.provider.Shutdown(ctx); err != nil {
		return fmt.Errorf("flush OpenTelemetry traces: %w", err)
	}
	return nil
}

// HTTPHandler wraps h in a server span per request, continuing the trace of an incoming
// traceparent header. The span is named after the method (spanMethod) until the route is
// known (see SetRoute). Off: h itself.
func (t *Tracing) HTTPHandler(h http.Handler) http.Handler {
	if t == nil {
		return h
	}
	return otelhttp.NewHandler(h, "livegate.http",
		otelhttp.WithTracerProvider(t.provider),
		otelhttp.WithPropagators(t.propagator),
		// Metrics are Prometheus's (the admin listener), not OpenTelemetry's.
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return spanMethod(r.Method) }),
	)
}

// spanMethod is a method as a span name may carry it: the standard methods, else "HTTP", as
// OpenTelemetry's HTTP conventions ask. A client chooses the method: taken as it is, span
// names would be as many as its requests (otelhttp keeps it in http.request.method_original).
func spanMethod(method string) string {
	if accesslog.StandardMethod(method) {
		return method
	}
	return "HTTP"
}

// SetRoute names the request's server span after its route pattern ("POST /accounts/
// {account_id}/..."), as OpenTelemetry's HTTP conventions ask, once the router has matched
// it, and replaces two attributes otelhttp took from the request as the client sent it:
// url.path by path, the path as the access log shows it (the RTMP callback secret masked:
// it is every tenant's, and a trace backend is no place for it), and client.address by
// client, the client as the access log names it (X-Forwarded-For only from a trusted proxy;
// otelhttp believes any). Without a recording span (tracing off) it does nothing.
func SetRoute(ctx context.Context, method, route, path, client string) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetName(spanMethod(method) + " " + route)
	// A span keeps the last value set for a key.
	span.SetAttributes(semconv.HTTPRoute(route), semconv.URLPath(path), semconv.ClientAddress(client))
}

// ServerOptions instrument a gRPC server: a server span per call, continuing the trace of
// the caller's traceparent metadata. Off: none.
func (t *Tracing) ServerOptions() []grpc.ServerOption {
	if t == nil {
		return nil
	}
	return []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(t.grpcOptions()...))}
}

// DialOptions instrument a gRPC client connection: a client span per call, its context sent
// as traceparent metadata. Off: none.
func (t *Tracing) DialOptions() []grpc.DialOption {
	if t == nil {
		return nil
	}
	return []grpc.DialOption{grpc.WithStatsHandler(otelgrpc.NewClientHandler(t.grpcOptions()...))}
}

// StatsHandlers are the stats handlers of ServerOptions and DialOptions, for a connection
// that runs calls in process (internal/inproc) and tells them of each call itself. Off:
// none.
func (t *Tracing) StatsHandlers() (client, server []stats.Handler) {
	if t == nil {
		return nil, nil
	}
	return []stats.Handler{otelgrpc.NewClientHandler(t.grpcOptions()...)}, []stats.Handler{otelgrpc.NewServerHandler(t.grpcOptions()...)}
}

func (t *Tracing) grpcOptions() []otelgrpc.Option {
	return []otelgrpc.Option{
		otelgrpc.WithTracerProvider(t.provider),
		otelgrpc.WithPropagators(t.propagator),
		otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider()),
	}
}

// TraceID is the trace id of ctx's span, hex-encoded, or "" when there is none.
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}
