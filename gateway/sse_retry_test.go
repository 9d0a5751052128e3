package gateway

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/livegate/livegate/internal/accesslog"
	"github.com/livegate/livegate/internal/apierror"
)

// TestSSERefusals: a refusal that waiting may end is a 200 event stream with a retry (the
// Retry-After, or 3 s, plus up to as much at random) and the error event (EventSource
// reconnects), logged and counted as the refusal; any other is its status (EventSource
// stops).
func TestSSERefusals(t *testing.T) {
	for _, c := range []struct {
		name   string
		st     *status.Status
		status int
		retry  int64 // the least retry: in ms (at most twice that); 0: no event stream
	}{
		{"shutting down", status.New(codes.Unavailable, "the server is shutting down"), 200, 3000},
		{"database unreachable", apierror.ToStatus(apierror.New(apierror.ReasonStorageUnavailable, "the database cannot be reached")), 200, 3000},
		{"subscription limit", apierror.ToStatus(apierror.New(apierror.ReasonTooManyRequests, "full").With(apierror.RetryAfterKey, "5")), 200, 5000},
		{"Retry-After 0", apierror.ToStatus(apierror.New(apierror.ReasonTooManyRequests, "full").With(apierror.RetryAfterKey, "0")), 200, 1000},
		{"a 429 that waiting does not end", apierror.ToStatus(apierror.New(apierror.ReasonTooManyRequests, "full")), 429, 0},
		{"no token", status.New(codes.Unauthenticated, "no token"), 401, 0},
		{"bad parameter", apierror.ToStatus(apierror.InvalidArgument("source", "bad")), 400, 0},
		{"unreadable event", status.New(codes.DataLoss, "unreadable"), 500, 0},
		{"internal", status.New(codes.Internal, "internal error"), 500, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			seen := map[int64]bool{}
			for range 20 {
				info := &accesslog.Info{}
				r := httptest.NewRequest("GET", "/events/sse", nil).WithContext(accesslog.WithInfo(context.Background(), info))
				w := httptest.NewRecorder()
				writeRefusal(w, r, c.st)
				body := w.Body.String()
				if w.Code != c.status {
					t.Fatalf("status %d, want %d: %s", w.Code, c.status, body)
				}
				if c.retry == 0 {
					if ct := w.Header().Get("Content-Type"); ct != "application/json" || info.Refused != 0 {
						t.Errorf("Content-Type %q, Refused %d; want the error envelope's, and none", ct, info.Refused)
					}
					return
				}
				var ms int64
				n, err := fmt.Sscanf(body, "retry: %d\nevent: error\ndata: {", &ms)
				if ct := w.Header().Get("Content-Type"); ct != SSEContentType || n != 1 || err != nil || !strings.HasSuffix(body, "}\n\n") {
					t.Fatalf("Content-Type %q, body %q; want an event stream of a retry and the error event", ct, body)
				}
				if ms < c.retry || ms >= 2*c.retry {
					t.Errorf("retry: %d, want at least %d and less than %d", ms, c.retry, 2*c.retry)
				}
				if want := HTTPStatus(c.st); info.Refused != want {
					t.Errorf("Refused %d, want %d: the access log counts the refusal", info.Refused, want)
				}
				seen[ms] = true
			}
			if len(seen) < 2 {
				t.Errorf("20 refusals all said retry: %v; want them spread", seen)
			}
		})
	}
}
