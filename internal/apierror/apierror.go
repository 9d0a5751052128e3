// Package apierror declares livegate's domain errors once and translates them to gRPC
// status, with a google.rpc.ErrorInfo detail, in one place (ToStatus), at the boundary.
//
// Services return *Error values (or wrap them); the server's interceptors call ToStatus, and
// the REST gateway turns the status into RealtimeKit's error envelope.
package apierror

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/livegate/livegate/internal/store"
)

// Domain is the ErrorInfo domain of every livegate error.
const Domain = "livegate"

// Reason is an UPPER_SNAKE machine-readable cause, carried in ErrorInfo.reason.
type Reason string

// The reasons livegate returns, each with its gRPC code.
const (
	ReasonUnauthenticated    Reason = "UNAUTHENTICATED"     // no or unknown credentials
	ReasonPermissionDenied   Reason = "PERMISSION_DENIED"   // credentials of another tenant
	ReasonInvalidArgument    Reason = "INVALID_ARGUMENT"    // a field is malformed
	ReasonNotFound           Reason = "NOT_FOUND"           // the resource does not exist
	ReasonAlreadyActive      Reason = "ALREADY_ACTIVE"      // a meeting already has an active livestream
	ReasonAlreadyExists      Reason = "ALREADY_EXISTS"      // a unique key is taken
	ReasonLivestreamActive   Reason = "LIVESTREAM_ACTIVE"   // an operation needs an inactive livestream
	ReasonLivestreamDisabled Reason = "LIVESTREAM_DISABLED" // the livestream is disabled
	ReasonCursorCompacted    Reason = "CURSOR_COMPACTED"    // a feed cursor older than retention
	ReasonPayloadTooLarge    Reason = "PAYLOAD_TOO_LARGE"   // a body (or what it encodes to) over a size limit: HTTP 413
	ReasonTooManyRequests    Reason = "TOO_MANY_REQUESTS"   // a limit on what a client may hold at once (subscriptions, streams): HTTP 429 with Retry-After
	ReasonCursorAhead        Reason = "CURSOR_AHEAD"        // a feed cursor beyond the head
	ReasonSubscriberStalled  Reason = "SUBSCRIBER_STALLED"  // a subscriber that did not read for too long; resume from its cursor
	ReasonEventUnreadable    Reason = "EVENT_UNREADABLE"    // a stored event that cannot be decoded; the stream ends before it
	ReasonStorageUnavailable Reason = "STORAGE_UNAVAILABLE" // the store cannot write (disk full, read-only): HTTP 503
	ReasonUnavailable        Reason = "UNAVAILABLE"         // shutting down; retry
	ReasonInternal           Reason = "INTERNAL"            // a bug or a broken dependency
	ReasonSignatureMismatch  Reason = "SIGNATURE_MISMATCH"  // a webhook secret or signature is wrong
)

var codeOf = map[Reason]codes.Code{
	ReasonUnauthenticated:    codes.Unauthenticated,
	ReasonPermissionDenied:   codes.PermissionDenied,
	ReasonInvalidArgument:    codes.InvalidArgument,
	ReasonNotFound:           codes.NotFound,
	ReasonAlreadyActive:      codes.AlreadyExists,
	ReasonAlreadyExists:      codes.AlreadyExists,
	ReasonLivestreamActive:   codes.FailedPrecondition,
	ReasonLivestreamDisabled: codes.FailedPrecondition,
	ReasonCursorCompacted:    codes.OutOfRange,
	ReasonPayloadTooLarge:    codes.ResourceExhausted,
	ReasonTooManyRequests:    codes.ResourceExhausted,
	ReasonCursorAhead:        codes.OutOfRange,
	ReasonSubscriberStalled:  codes.Unavailable,
	ReasonEventUnreadable:    codes.DataLoss,
	ReasonStorageUnavailable: codes.Unavailable,
	ReasonUnavailable:        codes.Unavailable,
	ReasonInternal:           codes.Internal,
	ReasonSignatureMismatch:  codes.Unauthenticated,
}

// RetryAfterKey is the ErrorInfo metadata key of a TOO_MANY_REQUESTS error: whole seconds to
// wait before trying again (the REST face sends it as Retry-After).
const RetryAfterKey = "retry_after_seconds"

// Error is a domain error: a reason, a message for people (naming the field or resource),
// and the dynamic values as metadata.
type Error struct {
	Reason   Reason
	Message  string
	Metadata map[string]string
}

func (e *Error) Error() string { return e.Message }

// Code is the gRPC code of the error's reason.
func (e *Error) Code() codes.Code {
	if c, ok := codeOf[e.Reason]; ok {
		return c
	}
	return codes.Unknown
}

// New returns an error with a reason and a formatted message.
func New(reason Reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// With returns a copy of e with a metadata entry added.
func (e *Error) With(key, value string) *Error {
	c := *e
	c.Metadata = maps.Clone(e.Metadata)
	if c.Metadata == nil {
		c.Metadata = map[string]string{}
	}
	c.Metadata[key] = value
	return &c
}

// NotFound says a resource of a kind does not exist (in the caller's tenant).
func NotFound(kind, id string) *Error {
	return New(ReasonNotFound, "%s %q not found", kind, id).With("resource", kind).With("id", id)
}

// InvalidArgument says a field is wrong and why.
func InvalidArgument(field, why string) *Error {
	return New(ReasonInvalidArgument, "%s: %s", field, why).With("field", field)
}

// CursorAhead says a feed cursor (field) is beyond the newest event, head; use says what the
// client does with a sequence it received instead ("use", "replay from").
func CursorAhead(field string, after, head uint64, use string) *Error {
	h := strconv.FormatUint(head, 10)
	return New(ReasonCursorAhead,
		"%s %d is beyond the newest event (sequence %s): %s a sequence received from this server, at most %s",
		field, after, h, use, h).With("head_sequence", h)
}

// CursorCompacted says a feed cursor (the request field field: after_sequence, page_token)
// is older than the events retention keeps (all up to pruned are gone); resume says how the
// client goes on ("resume", "replay", "list").
func CursorCompacted(field string, after, pruned uint64, resume string) *Error {
	oldest := strconv.FormatUint(pruned+1, 10)
	return New(ReasonCursorCompacted,
		"%s %d is older than the events kept: the oldest still available is %s; %s from %s=%d or 0",
		field, after, oldest, resume, field, pruned).With("oldest_sequence", oldest)
}

// ToStatus translates any error into a gRPC status. *Error values (also wrapped) keep their
// code and message and gain an ErrorInfo; a status error passes through; a write a unique key
// refused (store.ErrAlreadyExists) is ALREADY_EXISTS (HTTP 409) naming the write, without the
// driver's text; context errors become Canceled/DeadlineExceeded; anything else is INTERNAL
// with a generic message (the cause is logged, not sent).
func ToStatus(err error) *status.Status {
	if err == nil {
		return status.New(codes.OK, "")
	}
	var e *Error
	if !errors.As(err, &e) && errors.Is(err, store.ErrAlreadyExists) {
		e = alreadyExists(err)
	}
	if e != nil {
		st := status.New(e.Code(), e.Message)
		withInfo, derr := st.WithDetails(&errdetails.ErrorInfo{
			Reason:   string(e.Reason),
			Domain:   Domain,
			Metadata: e.Metadata,
		})
		if derr != nil {
			return st
		}
		return withInfo
	}
	if st, ok := status.FromError(err); ok {
		return withValidationInfo(st)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.New(codes.Canceled, "request canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.New(codes.DeadlineExceeded, "deadline exceeded")
	}
	return status.New(codes.Internal, "internal error")
}

// alreadyExists is the domain error of a store's unique-key conflict: the store's
// AlreadyExistsError names the write ("create app acme/web: already exists"); its driver
// error (a constraint's name, SQL state) stays in the logs.
func alreadyExists(err error) *Error {
	var conflict *store.AlreadyExistsError
	if errors.As(err, &conflict) {
		return New(ReasonAlreadyExists, "%s: %s", conflict.Op, store.ErrAlreadyExists)
	}
	return New(ReasonAlreadyExists, "%s", store.ErrAlreadyExists)
}

// Info returns the ErrorInfo detail of a status, if it has one.
func Info(st *status.Status) *errdetails.ErrorInfo {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

// withValidationInfo gives a validation failure (protovalidate's INVALID_ARGUMENT, with its
// buf.validate.Violations) the ErrorInfo every livegate error carries: reason
// INVALID_ARGUMENT, and the first violation's field path as metadata "field", as a failure
// found by livegate's own checks has. Any other status is returned as it is.
func withValidationInfo(st *status.Status) *status.Status {
	if st.Code() != codes.InvalidArgument {
		return st
	}
	var field string
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			return st // one is enough
		case *validate.Violations:
			if vs := d.GetViolations(); len(vs) > 0 && field == "" {
				field = protovalidate.FieldPathString(vs[0].GetField())
			}
		}
	}
	if field == "" {
		return st
	}
	withInfo, err := st.WithDetails(&errdetails.ErrorInfo{
		Reason:   string(ReasonInvalidArgument),
		Domain:   Domain,
		Metadata: map[string]string{"field": field},
	})
	if err != nil {
		return st
	}
	return withInfo
}
