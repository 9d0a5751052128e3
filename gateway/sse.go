package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/accesslog"
	"github.com/livegate/livegate/internal/metrics"
)

// The event feed as Server-Sent Events, for browsers' EventSource. It is a client of
// EventService.Subscribe like every other route (auth, validation and logging apply), with
// the same query parameters as `events:stream`, plus what EventSource needs: the
// Last-Event-ID header to resume, and the token as a query parameter (EventSource cannot set
// headers).
const (
	ssePath = "/accounts/{account_id}/realtime/kit/{app_id}/events/sse"

	// SSEContentType is the answer's content type.
	SSEContentType = "text/event-stream"
	// SSEHeartbeat is the longest the stream stays silent: past it a comment line is sent, so
	// proxies and browsers keep the connection open.
	SSEHeartbeat = 15 * time.Second
	// sseStartWait bounds how long the handler waits to learn whether Subscribe was accepted
	// before it answers 200 (see serve).
	sseStartWait = 2 * time.Second
)

type sseHandler struct {
	mux       *runtime.ServeMux
	client    livegatev1.EventServiceClient
	heartbeat time.Duration
	startWait time.Duration
	events    *eventJSON // events rendered once for every subscriber (nil: each renders)
}

func registerSSE(mux *runtime.ServeMux, conn *grpc.ClientConn, events *eventJSON) error {
	h := &sseHandler{
		mux:       mux,
		client:    livegatev1.NewEventServiceClient(conn),
		events:    events,
		heartbeat: SSEHeartbeat,
		startWait: sseStartWait,
	}
	if err := handlePath(mux, http.MethodGet, ssePath, h.serve); err != nil {
		return fmt.Errorf("register %s: %w", ssePath, err)
	}
	return nil
}

// sseSubscribeRequest reads the subscription from the path and query. The cursor is the
// Last-Event-ID header (what EventSource sends when it reconnects) or, without it, the
// after_sequence parameter; Last-Event-ID wins because it is newer than the URL. A resume by
// Last-Event-ID also turns only_new off: EventSource reconnects to the same URL, and only_new
// would skip what was committed while it was away.
func sseSubscribeRequest(r *http.Request, params map[string]string) (*livegatev1.SubscribeRequest, error) {
	q := r.URL.Query()
	req := &livegatev1.SubscribeRequest{
		AccountId:    params["account_id"],
		AppId:        params["app_id"],
		Type:         q["type"],
		Source:       q["source"],
		LivestreamId: q.Get("livestream_id"),
		RoomId:       q.Get("room_id"),
	}
	if v := q.Get("only_new"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("only_new %q: must be true or false", v)
		}
		req.OnlyNew = b
	}
	name, cursor := "after_sequence", q.Get("after_sequence")
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		name, cursor = "Last-Event-ID", id
		req.OnlyNew = false
	}
	if cursor != "" {
		n, err := strconv.ParseUint(cursor, 10, 64) // as strict as NDJSON's: " 8" is no sequence
		if err != nil {
			return nil, fmt.Errorf("%s %q: must be an event sequence (a non-negative integer)", name, cursor)
		}
		req.AfterSequence = n
	}
	return req, nil
}

type recvResult struct {
	msg *livegatev1.SubscribeResponse
	err error
}

// serve answers one SSE subscription.
//
// Errors that end the call before it streams (bad or missing token, another tenant, a bad
// filter, a cursor older than retention) must be answered with their HTTP status and the
// error envelope, not with 200 and an error event: EventSource gives up on a non-200 answer
// but keeps reconnecting after a 200 that ends (refusals that waiting ends, such as the
// database unreachable or the subscription limit, are the other way round: writeRefusal).
// So the handler learns how the call started before it writes the status. stream.Header()
// returns once the server has sent its header (the call is accepted and streaming) or the
// call has ended (Header gives nil and Recv the error). gRPC servers send the header with the first message at the latest; a healthy
// subscription that has nothing to send yet may send no header for a while, so the wait is
// bounded by startWait, after which the call has passed authentication, validation and the
// cursor check in practice (they take milliseconds), and the handler answers 200. An error
// later than that arrives as an `error` event.
func (h *sseHandler) serve(w http.ResponseWriter, r *http.Request, params map[string]string) {
	req, err := sseSubscribeRequest(r, params)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), "INVALID_ARGUMENT")
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	// The same outgoing metadata as generated routes: the Authorization header, forwarding
	// headers, the route.
	ctx, err = runtime.AnnotateContext(ctx, h.mux, r, livegatev1.EventService_Subscribe_FullMethodName, runtime.WithHTTPPathPattern(ssePath))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), "INVALID_ARGUMENT")
		return
	}
	// The server counts this subscription as the SSE face's (metrics.Subscriptions).
	ctx = metadata.AppendToOutgoingContext(ctx, metrics.FaceMetadataKey, metrics.FaceSSE)
	if r.Header.Get("Authorization") == "" {
		if tok := r.URL.Query().Get("access_token"); tok != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
		}
	}
	stream, err := h.client.Subscribe(ctx, req)
	if err != nil {
		writeRefusal(w, r, status.Convert(err))
		return
	}

	accepted := make(chan bool, 1)
	msgs := make(chan recvResult)
	go func() {
		md, _ := stream.Header()
		accepted <- md != nil
		for {
			m, err := stream.Recv()
			select {
			case msgs <- recvResult{m, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()

	start := time.NewTimer(h.startWait)
	defer start.Stop()
	select {
	case ok := <-accepted:
		if !ok {
			// The call ended before it sent anything: its status is what Recv returns.
			select {
			case res := <-msgs:
				if res.err != nil && !errors.Is(res.err, io.EOF) {
					writeRefusal(w, r, status.Convert(res.err))
				}
			case <-ctx.Done():
			}
			return
		}
	case <-start.C:
		// Not refused within startWait: a healthy subscription with nothing to send yet.
	case <-ctx.Done():
		return
	}

	writeSSEHeader(w)
	rc := http.NewResponseController(w)
	if rc.Flush() != nil {
		return
	}

	heartbeat := time.NewTicker(h.heartbeat)
	defer heartbeat.Stop()
	var frame []byte
	for {
		frame = frame[:0]
		select {
		case <-ctx.Done():
			return
		case <-heartbeat.C:
			frame = append(frame, ": heartbeat\n\n"...)
		case res := <-msgs:
			switch {
			case errors.Is(res.err, io.EOF):
				return
			case res.err != nil:
				if ctx.Err() != nil {
					return // the client went away
				}
				frame = appendSSEError(frame, status.Convert(res.err))
				_, _ = w.Write(frame)
				_ = rc.Flush()
				return
			}
			if frame, err = appendSSEMessage(frame, res.msg, h.events); err != nil {
				frame = appendSSEError(frame[:0], status.Convert(err))
				_, _ = w.Write(frame)
				_ = rc.Flush()
				return
			}
			if len(frame) == 0 {
				continue
			}
		}
		if _, err := w.Write(frame); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		heartbeat.Reset(h.heartbeat)
	}
}

// writeSSEHeader writes the 200 of an event stream.
func writeSSEHeader(w http.ResponseWriter) {
	hdr := w.Header()
	hdr.Set("Content-Type", SSEContentType)
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
}

// writeRefusal answers a subscription refused before it streamed. A refusal that the same
// request may get past later (sseRetry) is a 200 event stream holding a `retry:` field and
// the `error` event, then its end: EventSource reconnects after that many milliseconds (with
// its Last-Event-ID) and gets on. Any other one is its HTTP status and the error envelope,
// at which EventSource stops. (A browser that reconnected while the database was down got
// 503 and stopped for good, as did one past the app's subscription limit, 429: EventSource
// never retries an answer that is not 200, whatever its Retry-After.)
//
// The access log and the HTTP metrics count such an answer with the refusal's status
// (accesslog.Info.Refused), so it shows as what it is, and the lines of 429s stay bounded.
func writeRefusal(w http.ResponseWriter, r *http.Request, st *status.Status) {
	ms, ok := sseRetry(st)
	if !ok {
		WriteStatus(w, st)
		return
	}
	if info := accesslog.InfoFrom(r.Context()); info != nil {
		info.Refused = HTTPStatus(st)
	}
	writeSSEHeader(w)
	b := fmt.Appendf(nil, "retry: %d\n", ms)
	_, _ = w.Write(appendSSEError(b, st))
}

// sseDefaultRetry is the least `retry:` of a passing refusal that names no time to wait:
// about what browsers wait by themselves.
const sseDefaultRetry = 3 * time.Second

// sseRetry says whether st refuses a subscription only for now, and after how many
// milliseconds to try again: UNAVAILABLE (the server is shutting down, the database cannot be
// reached or written: 503) and a 429 that names a time to wait (Retry-After: a limit on
// subscriptions held at once). The others (the token, a bad parameter, a cursor out of range,
// an event that cannot be read, a 429 that waiting does not end) get the same answer again.
// The wait is the Retry-After (sseDefaultRetry without one, at least a second), plus up to as
// much again at random, so that browsers refused together do not all come back together.
func sseRetry(st *status.Status) (int64, bool) {
	switch HTTPStatus(st) {
	case http.StatusServiceUnavailable:
	case http.StatusTooManyRequests:
		if retryAfter(st) == "" {
			return 0, false
		}
	default:
		return 0, false
	}
	wait := sseDefaultRetry
	if secs, err := strconv.ParseUint(retryAfter(st), 10, 32); err == nil {
		wait = max(time.Duration(secs)*time.Second, time.Second)
	}
	return (wait + rand.N(wait)).Milliseconds(), true
}

// appendSSEMessage appends one Subscribe message as SSE, the event's JSON from events:
//
//	id: <sequence>
//	event: <type>
//	data: <the Event as JSON, one line>
//
// A progress message is a comment naming the head, with an `id:` line and no data: the
// browser dispatches nothing but moves its Last-Event-ID, so a filtered subscriber resumes
// from the head rather than from its last matching event.
func appendSSEMessage(b []byte, m *livegatev1.SubscribeResponse, events *eventJSON) ([]byte, error) {
	switch k := m.GetKind().(type) {
	case *livegatev1.SubscribeResponse_Event:
		ev := k.Event
		e, err := events.get(ev)
		if err != nil {
			return b, err
		}
		data := e.json
		b = fmt.Appendf(b, "id: %d\n", ev.GetSequence())
		b = fmt.Appendf(b, "event: %s\n", sseEventName(ev.GetType()))
		b = appendSSEData(b, data)
	case *livegatev1.SubscribeResponse_Progress:
		head := k.Progress.GetHeadSequence()
		b = fmt.Appendf(b, ": progress %d\nid: %d\n\n", head, head)
	}
	return b, nil
}

// appendSSEError appends the `error` event that ends a stream that had started:
// data is {"code": <HTTP status>, "message": ..., "reason": ...}, as in the error envelope.
func appendSSEError(b []byte, st *status.Status) []byte {
	d := ErrorDetail{Code: HTTPStatus(st), Message: st.Message(), Reason: statusReason(st)}
	data, err := json.Marshal(d)
	if err != nil {
		data = []byte(`{"code":500,"message":"internal error"}`)
	}
	b = append(b, "event: error\n"...)
	return appendSSEData(b, data)
}

// appendSSEData appends data as `data:` lines (one per line of data) and the blank line that
// ends the event. JSON is one line (line breaks inside strings are escaped); the split only
// guards the framing.
func appendSSEData(b, data []byte) []byte {
	for line := range strings.Lines(string(data)) {
		b = append(b, "data: "...)
		b = append(b, strings.TrimRight(line, "\r\n")...)
		b = append(b, '\n')
	}
	return append(b, '\n')
}

// sseEventName is the SSE event name of an event of type typ: the type (one line, sseField),
// except where a provider's type (stored as it arrived) would be taken for EventSource's own
// events: "error" (livegate's stream errors and connection failures), "message" and an empty
// one (onmessage, which the README says sees none), "open". Those are named "x-" + the
// type ("x-" alone for an empty one), which no listener of EventSource's own receives.
func sseEventName(typ string) string {
	t := sseField(typ)
	switch t {
	case "", "error", "message", "open":
		return "x-" + t
	}
	return t
}

// sseField makes a value safe for a one-line SSE field: provider event types are stored as
// they arrived, and a line break in one would forge fields.
func sseField(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, s)
}
