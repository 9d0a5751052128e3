// Package gateway is livegate's HTTP face: the grpc-gateway mux that turns REST/JSON into
// calls on the gRPC server (dialed, so auth, validation, logging and recovery apply to both
// faces alike), RealtimeKit's error envelope, and routes that are not RPCs (OpenAPI).
package gateway

import (
	"context"
	"fmt"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/livegate/livegate"
	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	livegatev1gw "github.com/livegate/livegate/gen/gw/livegate/v1"
)

// MaxBodyBytes is the largest request body the gateway reads.
const MaxBodyBytes = 1 << 20

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
// (and an error answered before the first line) stay application/json.
type streamLabeled struct{ *runtime.JSONPb }

func (streamLabeled) StreamContentType(any) string { return NDJSONContentType }

// New returns the HTTP handler serving the REST face over conn, a client of livegate's gRPC
// server.
func New(ctx context.Context, conn *grpc.ClientConn) (http.Handler, error) {
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, streamLabeled{Marshaler}),
		runtime.WithErrorHandler(errorHandler),
		runtime.WithRoutingErrorHandler(routingErrorHandler),
		runtime.WithForwardResponseOption(successStatus),
	)
	for _, register := range []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		livegatev1gw.RegisterLivestreamServiceHandler,
		livegatev1gw.RegisterAnalyticsServiceHandler,
		livegatev1gw.RegisterEventServiceHandler,
	} {
		if err := register(ctx, mux, conn); err != nil {
			return nil, fmt.Errorf("register gateway handler: %w", err)
		}
	}
	if err := registerWebhooks(mux, conn); err != nil {
		return nil, err
	}
	if err := registerRTMP(mux, conn); err != nil {
		return nil, err
	}
	if err := registerSSE(mux, conn); err != nil {
		return nil, err
	}
	if err := mux.HandlePath(http.MethodGet, "/openapi.json", serveOpenAPI); err != nil {
		return nil, fmt.Errorf("register /openapi.json: %w", err)
	}
	return limitBody(mux), nil
}

func serveOpenAPI(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(livegate.OpenAPI)
}

// successStatus sets the HTTP status of successful responses that are not 200: creating an
// independent livestream answers 201, as RealtimeKit does.
func successStatus(_ context.Context, w http.ResponseWriter, m proto.Message) error {
	if _, ok := m.(*livegatev1.CreateLivestreamResponse); ok {
		w.WriteHeader(http.StatusCreated)
	}
	return nil
}

// limitBody refuses bodies over MaxBodyBytes: 413 when the length is declared, and a read
// error (reported as 400) when a chunked body runs over.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > MaxBodyBytes {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is %d bytes; the limit is %d", r.ContentLength, MaxBodyBytes))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}
