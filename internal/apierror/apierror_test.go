package apierror_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/livegate/livegate/internal/apierror"
)

// TestToStatus: what a client gets for each kind of error a service returns.
func TestToStatus(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		code     codes.Code
		message  string
		reason   string // "": no ErrorInfo
		metadata map[string]string
	}{
		{"nil", nil, codes.OK, "", "", nil},
		{"domain error", apierror.New(apierror.ReasonCursorAhead, "after %d is beyond the head", 9),
			codes.OutOfRange, "after 9 is beyond the head", "CURSOR_AHEAD", nil},
		{"wrapped domain error", fmt.Errorf("subscribe: %w", apierror.New(apierror.ReasonSubscriberStalled, "stalled")),
			codes.Unavailable, "stalled", "SUBSCRIBER_STALLED", nil},
		{"not found", apierror.NotFound("livestream", "ls-1"),
			codes.NotFound, `livestream "ls-1" not found`, "NOT_FOUND", map[string]string{"resource": "livestream", "id": "ls-1"}},
		{"invalid argument", apierror.InvalidArgument("page_size", "must not be negative"),
			codes.InvalidArgument, "page_size: must not be negative", "INVALID_ARGUMENT", map[string]string{"field": "page_size"}},
		{"too many requests", apierror.New(apierror.ReasonTooManyRequests, "too many").With(apierror.RetryAfterKey, "1"),
			codes.ResourceExhausted, "too many", "TOO_MANY_REQUESTS", map[string]string{"retry_after_seconds": "1"}},
		{"payload too large", apierror.New(apierror.ReasonPayloadTooLarge, "big"), codes.ResourceExhausted, "big", "PAYLOAD_TOO_LARGE", nil},
		{"event unreadable", apierror.New(apierror.ReasonEventUnreadable, "bad"), codes.DataLoss, "bad", "EVENT_UNREADABLE", nil},
		{"storage unavailable", apierror.New(apierror.ReasonStorageUnavailable, "full"), codes.Unavailable, "full", "STORAGE_UNAVAILABLE", nil},
		{"signature mismatch", apierror.New(apierror.ReasonSignatureMismatch, "no"), codes.Unauthenticated, "no", "SIGNATURE_MISMATCH", nil},
		{"unknown reason", apierror.New("NO_SUCH_REASON", "odd"), codes.Unknown, "odd", "NO_SUCH_REASON", nil},
		{"status error passes through", status.Error(codes.Aborted, "aborted"), codes.Aborted, "aborted", "", nil},
		{"canceled", fmt.Errorf("read: %w", context.Canceled), codes.Canceled, "request canceled", "", nil},
		{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded, "deadline exceeded", "", nil},
		{"anything else: internal, cause not sent", errors.New("disk /var/secret broke"), codes.Internal, "internal error", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := apierror.ToStatus(tc.err)
			if st.Code() != tc.code || st.Message() != tc.message {
				t.Fatalf("status %v %q, want %v %q", st.Code(), st.Message(), tc.code, tc.message)
			}
			info := apierror.Info(st)
			if tc.reason == "" {
				if info != nil {
					t.Fatalf("ErrorInfo %v, want none", info)
				}
				return
			}
			if info == nil {
				t.Fatal("no ErrorInfo")
			}
			if info.GetReason() != tc.reason || info.GetDomain() != apierror.Domain {
				t.Errorf("ErrorInfo reason %q domain %q, want %q %q", info.GetReason(), info.GetDomain(), tc.reason, apierror.Domain)
			}
			if len(info.GetMetadata()) != len(tc.metadata) {
				t.Errorf("metadata %v, want %v", info.GetMetadata(), tc.metadata)
			}
			for k, v := range tc.metadata {
				if info.GetMetadata()[k] != v {
					t.Errorf("metadata %v, want %v", info.GetMetadata(), tc.metadata)
				}
			}
		})
	}
}

// TestEveryReasonHasACode: each declared reason maps to a code other than Unknown or OK.
func TestEveryReasonHasACode(t *testing.T) {
	for _, r := range []apierror.Reason{
		apierror.ReasonUnauthenticated, apierror.ReasonPermissionDenied, apierror.ReasonInvalidArgument,
		apierror.ReasonNotFound, apierror.ReasonAlreadyActive, apierror.ReasonAlreadyExists,
		apierror.ReasonLivestreamActive, apierror.ReasonLivestreamDisabled, apierror.ReasonCursorCompacted,
		apierror.ReasonPayloadTooLarge, apierror.ReasonTooManyRequests, apierror.ReasonCursorAhead,
		apierror.ReasonSubscriberStalled, apierror.ReasonEventUnreadable, apierror.ReasonStorageUnavailable,
		apierror.ReasonUnavailable, apierror.ReasonInternal, apierror.ReasonSignatureMismatch,
	} {
		if c := apierror.New(r, "x").Code(); c == codes.Unknown || c == codes.OK {
			t.Errorf("reason %s has code %v", r, c)
		}
	}
}

// TestWithCopies: With leaves the error it is called on unchanged (errors are shared values).
func TestWithCopies(t *testing.T) {
	base := apierror.New(apierror.ReasonInvalidArgument, "bad").With("field", "a")
	derived := base.With("field", "b").With("extra", "1")
	if base.Metadata["field"] != "a" || len(base.Metadata) != 1 {
		t.Errorf("base metadata changed to %v", base.Metadata)
	}
	if derived.Metadata["field"] != "b" || derived.Metadata["extra"] != "1" {
		t.Errorf("derived metadata %v", derived.Metadata)
	}
}
