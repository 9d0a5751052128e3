package gateway

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/livegate/livegate/internal/apierror"
)

// Envelope is RealtimeKit's (Cloudflare API v4) error body, which its SDK parses:
// {"success": false, "errors": [{"code": <HTTP status>, "message": "..."}]}.
type Envelope struct {
	Success bool          `json:"success"`
	Errors  []ErrorDetail `json:"errors"`
}

// ErrorDetail is one error of the envelope. Reason is livegate's ErrorInfo reason
// (e.g. ALREADY_ACTIVE), for programs; clients that do not know it ignore it.
type ErrorDetail struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Reason  string `json:"reason,omitempty"`
}

func writeError(w http.ResponseWriter, httpStatus int, message string, reason ...string) {
	d := ErrorDetail{Code: httpStatus, Message: message}
	if len(reason) > 0 {
		d.Reason = reason[0]
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(Envelope{Success: false, Errors: []ErrorDetail{d}})
}

// HTTPStatus maps a gRPC code to the HTTP status livegate answers with: grpc-gateway's
// mapping, except that a request body over the limit is 413.
func HTTPStatus(st *status.Status) int {
	if info := apierror.Info(st); info != nil && info.GetReason() == string(apierror.ReasonPayloadTooLarge) {
		return http.StatusRequestEntityTooLarge
	}
	return runtime.HTTPStatusFromCode(st.Code())
}

// WriteStatus writes a gRPC status as RealtimeKit's error envelope.
func WriteStatus(w http.ResponseWriter, st *status.Status) {
	reason := ""
	if info := apierror.Info(st); info != nil {
		reason = info.GetReason()
	}
	if st.Code() == codes.InvalidArgument && reason == "" {
		reason = string(apierror.ReasonInvalidArgument)
	}
	writeError(w, HTTPStatus(st), st.Message(), reason)
}

func errorHandler(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, err error) {
	st, ok := status.FromError(err)
	if !ok {
		// Errors raised by the gateway itself before the call: body or parameter parsing.
		st = status.New(codes.InvalidArgument, err.Error())
	}
	WriteStatus(w, st)
}

func routingErrorHandler(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	switch httpStatus {
	case http.StatusMethodNotAllowed:
		writeError(w, httpStatus, r.Method+" is not allowed on "+r.URL.Path, "METHOD_NOT_ALLOWED")
	case http.StatusNotFound:
		writeError(w, httpStatus, "no such route: "+r.Method+" "+r.URL.Path, "NOT_FOUND")
	default:
		writeError(w, httpStatus, http.StatusText(httpStatus))
	}
}
