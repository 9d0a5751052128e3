package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
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
// mapping, except for RESOURCE_EXHAUSTED, which is two things. A size limit (reason
// PAYLOAD_TOO_LARGE, or gRPC's own message-size errors, which carry no livegate ErrorInfo)
// is 413: retrying the same request cannot help. A limit on what a client holds at once
// (TOO_MANY_REQUESTS) is 429, a back-off signal.
func HTTPStatus(st *status.Status) int {
	info := livegateInfo(st)
	if info.GetReason() == string(apierror.ReasonPayloadTooLarge) {
		return http.StatusRequestEntityTooLarge
	}
	if st.Code() == codes.ResourceExhausted && info == nil {
		return http.StatusRequestEntityTooLarge
	}
	return runtime.HTTPStatusFromCode(st.Code())
}

// livegateInfo is the status's ErrorInfo if livegate set it.
func livegateInfo(st *status.Status) *errdetails.ErrorInfo {
	info := apierror.Info(st)
	if info == nil || info.GetDomain() != apierror.Domain {
		return nil
	}
	return info
}

// statusReason is the envelope's reason for a status: its ErrorInfo reason, or for statuses
// without one (raised by gRPC or the gateway), the reason of their code.
func statusReason(st *status.Status) string {
	if info := livegateInfo(st); info != nil {
		return info.GetReason()
	}
	switch st.Code() {
	case codes.InvalidArgument:
		return string(apierror.ReasonInvalidArgument)
	case codes.ResourceExhausted:
		return string(apierror.ReasonPayloadTooLarge)
	}
	return ""
}

// WriteStatus writes a gRPC status as RealtimeKit's error envelope. A 429 carries
// Retry-After when the error says how long to wait (apierror.RetryAfterKey), and an answer
// that the same request can never change carries `x-should-retry: false` (see noRetry).
func WriteStatus(w http.ResponseWriter, st *status.Status) {
	code := HTTPStatus(st)
	setRetryAfter(w.Header(), code, st)
	if noRetry(st) {
		w.Header().Set("X-Should-Retry", "false")
	}
	writeError(w, code, st.Message(), statusReason(st))
}

// noRetry reports whether st answers a request that sent again can only get the same
// answer, though its HTTP status is one the Cloudflare SDKs retry by default (409, 429 and
// 5xx), unless told otherwise by `x-should-retry`: a conflict (ALREADY_EXISTS: the meeting's
// livestream is active, a key is taken), an event that cannot be read back (DATA_LOSS), and
// a 429 that names no time to wait (a limit only the caller's own action frees, such as the
// app's webhook endpoints). Each retry would cost the caller a back-off (about 1.3 s for the
// Go SDK's two), and a retried start whose first answer was lost would report a conflict for
// the start it made.
func noRetry(st *status.Status) bool {
	switch st.Code() {
	case codes.AlreadyExists, codes.DataLoss:
		return true
	case codes.ResourceExhausted:
		return HTTPStatus(st) == http.StatusTooManyRequests && retryAfter(st) == ""
	}
	return false
}

// setRetryAfter sets Retry-After on a 429 whose error says how long to wait
// (apierror.RetryAfterKey).
func setRetryAfter(h http.Header, code int, st *status.Status) {
	if code != http.StatusTooManyRequests {
		return
	}
	if v := retryAfter(st); v != "" {
		h.Set("Retry-After", v)
	}
}

// retryAfter is the whole seconds st says to wait before a retry, "" when it says none.
func retryAfter(st *status.Status) string {
	v := livegateInfo(st).GetMetadata()[apierror.RetryAfterKey]
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return strconv.FormatUint(n, 10)
	}
	return ""
}

// streamErrorKey holds, on a streaming request's context, the status that ended the stream
// (see streamErrorHandler).
type streamErrorKey struct{}

// streamErrorHandler is grpc-gateway's stream error handler. When a server stream (NDJSON)
// ends before its first message, grpc-gateway writes the HTTP status itself, from the gRPC
// code alone (RESOURCE_EXHAUSTED would always be 429, and without Retry-After); it records
// the status on the request, so that the streaming middleware's writer answers with
// HTTPStatus and Retry-After, as every other route does.
func streamErrorHandler(ctx context.Context, err error) *status.Status {
	st := runtime.DefaultStreamErrorHandler(ctx, err)
	if holder, ok := ctx.Value(streamErrorKey{}).(*atomic.Pointer[status.Status]); ok {
		holder.Store(st)
	}
	return st
}

func errorHandler(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	// grpc-gateway reports a body it could not read as a parse error: over the limit is
	// 413, not received in time is 408, no room in the bodies-in-flight budget is 429.
	switch max(bodyFailure(r.Context()), bodyFailure(ctx)) {
	case bodyTooLarge:
		writeTooLarge(w)
		return
	case bodyTimedOut:
		writeBodyTimeout(w)
		return
	case bodyOverBudget:
		writeBodyBusy(w, errBodyBudget)
		return
	case bodyOverClientBudget:
		writeBodyBusy(w, errClientBodyBudget)
		return
	}
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
