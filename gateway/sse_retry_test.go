package gateway

import (
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/livegate/livegate/internal/apierror"
)

// TestSSERefusals: a refusal that waiting may end is a 200 event stream with a retry and the
// error event (EventSource reconnects); any other is its status (EventSource stops).
func TestSSERefusals(t *testing.T) {
	for _, c := range []struct {
		name   string
		st     *status.Status
		status int
		retry  string // "": no event stream
	}{
		{"shutting down", status.New(codes.Unavailable, "the server is shutting down"), 200, "3000"},
		{"database unreachable", apierror.ToStatus(apierror.New(apierror.ReasonStorageUnavailable, "the database cannot be reached")), 200, "3000"},
		{"subscription limit", apierror.ToStatus(apierror.New(apierror.ReasonTooManyRequests, "full").With(apierror.RetryAfterKey, "5")), 200, "5000"},
		{"a 429 that waiting does not end", apierror.ToStatus(apierror.New(apierror.ReasonTooManyRequests, "full")), 429, ""},
		{"no token", status.New(codes.Unauthenticated, "no token"), 401, ""},
		{"bad parameter", apierror.ToStatus(apierror.InvalidArgument("source", "bad")), 400, ""},
		{"unreadable event", status.New(codes.DataLoss, "unreadable"), 500, ""},
		{"internal", status.New(codes.Internal, "internal error"), 500, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			writeRefusal(w, c.st)
			body := w.Body.String()
			if w.Code != c.status {
				t.Fatalf("status %d, want %d: %s", w.Code, c.status, body)
			}
			if c.retry == "" {
				if ct := w.Header().Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q, want the error envelope's", ct)
				}
				return
			}
			want := "retry: " + c.retry + "\nevent: error\ndata: {"
			if ct := w.Header().Get("Content-Type"); ct != SSEContentType || !strings.HasPrefix(body, want) || !strings.HasSuffix(body, "}\n\n") {
				t.Errorf("Content-Type %q, body %q; want an event stream beginning %q", ct, body, want)
			}
		})
	}
}
