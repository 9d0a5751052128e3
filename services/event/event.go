// Package event implements livegate.v1.EventService: the event feed, read back (ListEvents,
// GetEvent) and followed live (Subscribe).
package event

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/grpc"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/auth"
	"github.com/livegate/livegate/internal/eventlog"
	"github.com/livegate/livegate/internal/feed"
	"github.com/livegate/livegate/internal/rawcodec"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/validation"
)

// Page sizes of ListEvents: at most this many events, and past the first, at most
// MaxPageBytes of stored event bodies (a page of large events stays well under the REST
// gateway's 4 MiB gRPC receive limit).
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
	MaxPageBytes    = 2 << 20
)

// Server implements EventService.
type Server struct {
	livegatev1.UnsafeEventServiceServer

	store store.Store
	hub   *feed.Hub
	opts  feed.Options
	subs  *limiter
	// encoded: the servers it is registered on send a *rawcodec.Message as it is.
	encoded bool
}

// NewServer returns an EventService over st, following live events through hub.
func NewServer(st store.Store, hub *feed.Hub, opts feed.Options) *Server {
	if opts.StallTimeout <= 0 {
		opts.StallTimeout = feed.DefaultStallTimeout
	}
	if opts.MaxPerApp == 0 {
		opts.MaxPerApp = feed.DefaultMaxPerApp
	}
	if opts.MaxSubscriptions == 0 {
		opts.MaxSubscriptions = feed.DefaultMaxSubscriptions
	}
	return &Server{store: st, hub: hub, opts: opts, subs: newLimiter(opts.MaxPerApp, opts.MaxSubscriptions)}
}

var _ livegatev1.EventServiceServer = (*Server)(nil)

// SendEncoded says that every gRPC server the service is registered on uses rawcodec
// (rawcodec.ServerOption): Subscribe then sends each event as encoded once, by the hub for
// all its subscribers or from the stored body on replay, not decoded and encoded again for
// each stream. Call it before serving.
func (s *Server) SendEncoded() { s.encoded = true }

type filterRequest interface {
	GetAccountId() string
	GetAppId() string
	GetType() []string
	GetSource() []string
	GetLivestreamId() string
	GetRoomId() string
}

// tenantAndFilter reads a request's tenant and filter. A livestream id is a UUID livegate
// made, in lowercase, and read in either case (as the API's UUID fields are, lowerUUIDs): an
// uppercase one matched nothing.
func tenantAndFilter(r filterRequest) (store.Tenant, feed.Filter) {
	return store.TenantOf(r), feed.Filter{
		Types:        r.GetType(),
		Sources:      r.GetSource(),
		LivestreamID: strings.ToLower(r.GetLivestreamId()),
		RoomID:       r.GetRoomId(),
	}
}

// ListEvents lists stored events in sequence order. The page token is the last sequence of
// the previous page. A page ends at page_size events or, past its first event, at
// MaxPageBytes of stored events. An event that cannot be decoded ends the page before it;
// asked for first, it answers EVENT_UNREADABLE naming its sequence (page_token=<sequence>
// goes past it). A token older than retention keeps (events after it were pruned) is
// CURSOR_COMPACTED naming the oldest kept, as a feed cursor is.
func (s *Server) ListEvents(ctx context.Context, req *livegatev1.ListEventsRequest) (*livegatev1.ListEventsResponse, error) {
	t, f := tenantAndFilter(req)
	var after uint64
	if tok := req.GetPageToken(); tok != "" {
		n, err := strconv.ParseUint(tok, 10, 64)
		if err != nil {
			return nil, apierror.InvalidArgument("page_token", "is not a token from next_page_token")
		}
		after = n
	}
	size := int(req.GetPageSize())
	if size <= 0 {
		size = DefaultPageSize
	}
	size = min(size, MaxPageSize)
	var (
		recs []store.Event
		more bool
		head uint64
	)
	err := s.store.View(ctx, func(r store.Reader) error {
		var err error
		if after > 0 {
			var pruned uint64
			if head, pruned, err = r.FeedBounds(ctx); err != nil {
				return err
			}
			if head = max(head, s.hub.Head()); after > head {
				return apierror.CursorAhead("page_token", after, head, "use")
			}
			// Events after the token were pruned before this page: a page would skip them
			// without a word.
			if after < pruned {
				return apierror.CursorCompacted("page_token", after, pruned, "list")
			}
		}
		// One more than the page tells whether a next page exists.
		recs, more, err = r.EventsAfterBytes(ctx, t, after, f, size+1, MaxPageBytes)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	if len(recs) > size {
		recs, more = recs[:size], true
	}
	resp := &livegatev1.ListEventsResponse{Events: make([]*livegatev1.Event, 0, len(recs))}
	for _, rec := range recs {
		ev, err := eventlog.Decode(rec)
		if err != nil {
			if len(resp.Events) == 0 {
				return nil, unreadable(rec, err)
			}
			more = true // the next page starts with it, and says so
			break
		}
		resp.Events = append(resp.Events, ev)
	}
	if more {
		resp.NextPageToken = strconv.FormatUint(resp.Events[len(resp.Events)-1].GetSequence(), 10)
	}
	return resp, nil
}

// GetEvent returns one stored event.
func (s *Server) GetEvent(ctx context.Context, req *livegatev1.GetEventRequest) (*livegatev1.GetEventResponse, error) {
	t := store.TenantOf(req)
	var rec store.Event
	err := s.store.View(ctx, func(r store.Reader) error {
		var err error
		rec, err = r.Event(ctx, t, req.GetSequence())
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, apierror.NotFound("event", strconv.FormatUint(req.GetSequence(), 10))
	}
	if err != nil {
		return nil, fmt.Errorf("get event %d: %w", req.GetSequence(), err)
	}
	ev, err := eventlog.Decode(rec)
	if err != nil {
		return nil, unreadable(rec, err)
	}
	return &livegatev1.GetEventResponse{Event: ev}, nil
}

// unreadable is the error for a stored event that cannot be decoded. The cause is not sent
// (it may echo the stored body); the event's sequence is.
func unreadable(rec store.Event, _ error) error {
	seq := strconv.FormatUint(rec.Sequence, 10)
	return apierror.New(apierror.ReasonEventUnreadable,
		"event %s (%s) is stored but cannot be read back; events before it were delivered: to skip it, resume after sequence %s",
		seq, rec.Type, seq).With("sequence", seq)
}

// Subscribe replays stored events after the cursor and follows live ones.
func (s *Server) Subscribe(req *livegatev1.SubscribeRequest, stream grpc.ServerStreamingServer[livegatev1.SubscribeResponse]) error {
	if err := validation.NoNUL(req); err != nil { // as the unary requests' interceptor does
		return err
	}
	ctx := stream.Context()
	t, f := tenantAndFilter(req)
	release, err := s.subs.acquire(t)
	if err != nil {
		return err
	}
	defer release()
	var head, pruned uint64
	err = s.store.View(ctx, func(r store.Reader) error {
		var err error
		head, pruned, err = r.FeedBounds(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	// The greatest committed sequence: the store's, or the hub's if it has published a
	// commit the read did not see. Every sequence a client was ever told is at or below it.
	head = max(head, s.hub.Head())
	after := req.GetAfterSequence()
	switch {
	case req.GetOnlyNew():
		after = head
	case after > head:
		return apierror.CursorAhead("after_sequence", after, head, "use")
	case after > 0 && after < pruned:
		return apierror.CursorCompacted("after_sequence", after, pruned, "resume")
	}
	opts := s.opts
	snd := newSender(ctx, stream, after, s.opts.StallTimeout)
	if !req.GetOnlyNew() {
		// The header goes after the first store read, so HTTP faces answer 200 at once
		// instead of waiting for the first event or progress message; but a cursor at an
		// event that cannot be read back (or overtaken by retention meanwhile) is answered
		// with its status alone (feed.Options.Accepted).
		opts.Accepted = func(readErr error) error {
			if refusedAtCursor(readErr) {
				return nil
			}
			return sendHeader(stream)
		}
	} else {
		// Its cursor, at once: a client that reconnects before its first event or progress
		// (4-5 s) resumes from it and misses nothing committed meanwhile. Without it, a
		// browser's EventSource, which reconnects with only_new again when no id came, lost
		// what was committed while it was away (this stop's feed audit).
		if err := snd.Progress(after); err != nil {
			return err
		}
	}
	var send feed.Sender = snd
	if s.encoded {
		send = encodedSender{snd}
	}
	if recheck, ok := auth.RecheckFrom(ctx); ok {
		opts.Recheck = func() error { return stillAuthenticated(ctx, recheck) }
	}
	err = feed.Follow(ctx, s.hub, replayer{s.store}, t, f, after, send, opts)
	var stalled *apierror.Error
	if ctx.Err() == nil && !(errors.As(err, &stalled) && stalled.Reason == apierror.ReasonSubscriberStalled) {
		// What Follow delivered before it ended goes out before the status.
		snd.flush()
	}
	switch {
	case errors.Is(err, feed.ErrShutdown):
		return apierror.New(apierror.ReasonUnavailable, "the server is shutting down: resume from the last sequence received")
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return nil // the client went away
	}
	return err
}

// stillAuthenticated checks a subscription's credentials again: an error when they no longer
// authenticate (UNAUTHENTICATED, which ends the stream), nil when they do or when the check
// itself failed (a store error: the next check tries again; a flaky store does not cut
// every stream).
func stillAuthenticated(ctx context.Context, recheck auth.Recheck) error {
	err := recheck(ctx)
	var ae *apierror.Error
	if errors.As(err, &ae) && ae.Reason == apierror.ReasonUnauthenticated {
		return apierror.New(apierror.ReasonUnauthenticated,
			"the API token this subscription was opened with no longer authenticates (its app was deleted, or the token was rotated and its grace period is over): resume with a valid token from the last sequence received")
	}
	return nil
}

// replayer reads stored events for feed.Follow.
type replayer struct{ store store.Store }

func (r replayer) EventsAfter(ctx context.Context, t store.Tenant, after uint64, f feed.Filter, limit, maxBytes int) ([]*livegatev1.Event, bool, error) {
	recs, more, err := r.read(ctx, t, after, f, limit, maxBytes)
	if err != nil {
		return nil, false, err
	}
	events := make([]*livegatev1.Event, 0, len(recs))
	for _, rec := range recs {
		ev, err := eventlog.Decode(rec)
		if err != nil {
			return events, false, unreadable(rec, err)
		}
		events = append(events, ev)
	}
	return events, more, nil
}

// ItemsAfter is EventsAfter with the events checked and encoded as the stream sends them,
// not decoded (and encoded again for the stream). It reads only the sequence and body of
// each event (store.Reader.EachEventAfter), and builds each response straight from the
// stored body.
func (r replayer) ItemsAfter(ctx context.Context, t store.Tenant, after uint64, f feed.Filter, limit, maxBytes int) ([]feed.Item, bool, error) {
	var (
		items []feed.Item
		more  bool
		bad   *store.Event // the first event whose body does not decode: the page ends before it
	)
	err := r.store.View(ctx, func(rd store.Reader) error {
		items, bad = items[:0], nil // a fresh start, should the read run again
		if err := checkPruned(ctx, rd, after); err != nil {
			return err
		}
		var err error
		var arena []byte // the page's responses, back to back
		more, err = rd.EachEventAfter(ctx, t, after, f, limit, maxBytes, func(seq uint64, body []byte) error {
			if eventlog.Check(store.Event{Sequence: seq, Body: body}) != nil {
				bad = &store.Event{Sequence: seq}
				return errStopRead
			}
			if items == nil {
				items = make([]feed.Item, 0, min(limit, 512))
			}
			// The responses are encoded into shared chunks: one allocation per chunk, not
			// one per event (body is the driver's, valid only during this call).
			if need := eventlog.MaxResponseLen(body); cap(arena)-len(arena) < need {
				arena = make([]byte, 0, max(arenaChunk, need))
			}
			start := len(arena)
			arena = eventlog.AppendResponse(arena, seq, body)
			items = append(items, feed.Item{Sequence: seq, Encoded: rawcodec.NewMessage(arena[start:len(arena):len(arena)])})
			return nil
		})
		if bad != nil {
			// Its type, for the error: read in the same snapshot.
			rec, err := rd.Event(ctx, t, bad.Sequence)
			if err != nil {
				return err
			}
			bad = &rec
			return nil
		}
		return err
	})
	if err != nil {
		return nil, false, err
	}
	if bad != nil {
		return items, false, unreadable(*bad, nil)
	}
	return items, more, nil
}

// arenaChunk is the size of the chunks a replayed page's responses are encoded into.
const arenaChunk = 64 << 10

// errStopRead ends an EachEventAfter read at an event that cannot be read back.
var errStopRead = errors.New("event: stop reading")

// checkPruned fails when retention has pruned past the cursor since the subscription began
// (a long replay, a catch-up after an overflow): it says so, in the snapshot of the read,
// rather than go on after the gap. Cursor 0 means "from the oldest kept".
func checkPruned(ctx context.Context, rd store.Reader, after uint64) error {
	if after == 0 {
		return nil
	}
	_, pruned, err := rd.FeedBounds(ctx)
	if err != nil {
		return err
	}
	if after < pruned {
		return apierror.CursorCompacted("after_sequence", after, pruned, "resume")
	}
	return nil
}

func (r replayer) read(ctx context.Context, t store.Tenant, after uint64, f feed.Filter, limit, maxBytes int) ([]store.Event, bool, error) {
	var (
		recs []store.Event
		more bool
	)
	err := r.store.View(ctx, func(rd store.Reader) error {
		if err := checkPruned(ctx, rd, after); err != nil {
			return err
		}
		var err error
		recs, more, err = rd.EventsAfterBytes(ctx, t, after, f, limit, maxBytes)
		return err
	})
	return recs, more, err
}

// refusedAtCursor reports whether err, from a subscription's first store read, is its
// cursor's own: an event there cannot be read back, or retention overtook it. Sent again,
// the same request gets the same error, so it is the call's only answer (its status, not
// 200 and an error event a browser's EventSource would reconnect after, forever). Any other
// failure (a storage error, shutdown) comes after the header, and the client retries.
func refusedAtCursor(err error) bool {
	var api *apierror.Error
	return errors.As(err, &api) && (api.Reason == apierror.ReasonEventUnreadable || api.Reason == apierror.ReasonCursorCompacted)
}

// sendHeader sends the call's header from a goroutine of its own, and waits for it. Sent
// from deep in Follow, gRPC's header path took the handler's stack past 8 KiB, and an idle
// subscription kept 16 KiB of stack for good (BenchmarkFeed/idle: 12.9 KB of stacks per
// subscription, both sides, became 21.1 KB). Nothing else sends on the stream meanwhile:
// Follow calls Accepted before it hands anything to the sender.
func sendHeader(stream grpc.ServerStream) error {
	done := make(chan error, 1)
	go func() { done <- stream.SendHeader(nil) }()
	return <-done
}
