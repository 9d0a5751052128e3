package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/store"
)

func withInfo(t *testing.T, code codes.Code, domain, reason string, md map[string]string) *status.Status {
	t.Helper()
	st, err := status.New(code, "limit").WithDetails(&errdetails.ErrorInfo{Domain: domain, Reason: reason, Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestStatusMapping: RESOURCE_EXHAUSTED is 413 for size limits (livegate's
// PAYLOAD_TOO_LARGE, and gRPC's own message-size errors, which carry no livegate
// ErrorInfo), 429 with Retry-After for TOO_MANY_REQUESTS, or x-should-retry: false when it
// names no wait; a store's unique-key conflict is 409 ALREADY_EXISTS, not to be retried.
func TestStatusMapping(t *testing.T) {
	for _, tc := range []struct {
		name       string
		st         *status.Status
		code       int
		reason     string
		retryAfter string
		noRetry    bool
	}{
		{"payload too large", apierror.ToStatus(apierror.New(apierror.ReasonPayloadTooLarge, "too big")), 413, "PAYLOAD_TOO_LARGE", "", false},
		{"too many requests", apierror.ToStatus(apierror.New(apierror.ReasonTooManyRequests, "slow down").With(apierror.RetryAfterKey, "7")), 429, "TOO_MANY_REQUESTS", "7", false},
		{"too many requests, no retry", apierror.ToStatus(apierror.New(apierror.ReasonTooManyRequests, "slow down")), 429, "TOO_MANY_REQUESTS", "", true},
		{"too many requests, bad retry", apierror.ToStatus(apierror.New(apierror.ReasonTooManyRequests, "slow down").With(apierror.RetryAfterKey, "soon")), 429, "TOO_MANY_REQUESTS", "", true},
		{"gRPC message size", status.New(codes.ResourceExhausted, "grpc: received message larger than max (5 vs. 4)"), 413, "PAYLOAD_TOO_LARGE", "", false},
		{"foreign ErrorInfo", withInfo(t, codes.ResourceExhausted, "googleapis.com", "RATE_LIMIT_EXCEEDED", map[string]string{apierror.RetryAfterKey: "3"}), 413, "PAYLOAD_TOO_LARGE", "", false},
		{"not found", apierror.ToStatus(apierror.NotFound("app", "x")), 404, "NOT_FOUND", "", false},
		{"store conflict", apierror.ToStatus(fmt.Errorf("create: %w", &store.AlreadyExistsError{Op: "create app a/b", Err: errors.New("UNIQUE constraint failed: apps.app_id")})), 409, "ALREADY_EXISTS", "", true},
		{"invalid, no info", status.New(codes.InvalidArgument, "bad"), 400, "INVALID_ARGUMENT", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := HTTPStatus(tc.st); got != tc.code {
				t.Errorf("HTTPStatus: %d, want %d", got, tc.code)
			}
			rec := httptest.NewRecorder()
			WriteStatus(rec, tc.st)
			var env Envelope
			if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || len(env.Errors) != 1 {
				t.Fatalf("body %s: %v", rec.Body, err)
			}
			e := env.Errors[0]
			if rec.Code != tc.code || e.Code != tc.code || e.Reason != tc.reason || e.Message != tc.st.Message() {
				t.Errorf("wrote %d %s, want %d %s %q", rec.Code, rec.Body, tc.code, tc.reason, tc.st.Message())
			}
			if got := rec.Header().Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
			}
			if got := rec.Header().Get("X-Should-Retry") == "false"; got != tc.noRetry {
				t.Errorf("x-should-retry: false %v, want %v", got, tc.noRetry)
			}
			// A stream that had started ends with the same code and reason in its error event.
			sse := strings.TrimSuffix(strings.TrimPrefix(string(appendSSEError(nil, tc.st)), "event: error\ndata: "), "\n\n")
			var d ErrorDetail
			if err := json.Unmarshal([]byte(sse), &d); err != nil || d.Code != tc.code || d.Reason != tc.reason {
				t.Errorf("SSE error event %q", sse)
			}
		})
	}
}
