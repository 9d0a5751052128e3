// Package event implements livegate.v1.EventService: the event feed, read back (ListEvents,
// GetEvent) and followed live (Subscribe).
package event

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/grpc"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/eventlog"
	"github.com/livegate/livegate/internal/feed"
	"github.com/livegate/livegate/internal/store"
)

// Page sizes of ListEvents.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// Server implements EventService.
type Server struct {
	livegatev1.UnsafeEventServiceServer

	store store.Store
	hub   *feed.Hub
	opts  feed.Options
}

// NewServer returns an EventService over st, following live events through hub.
func NewServer(st store.Store, hub *feed.Hub, opts feed.Options) *Server {
	return &Server{store: st, hub: hub, opts: opts}
}

var _ livegatev1.EventServiceServer = (*Server)(nil)

type filterRequest interface {
	GetAccountId() string
	GetAppId() string
	GetType() []string
	GetSource() []string
	GetLivestreamId() string
	GetRoomId() string
}

func tenantAndFilter(r filterRequest) (store.Tenant, feed.Filter) {
	return store.TenantOf(r), feed.Filter{
		Types:        r.GetType(),
		Sources:      r.GetSource(),
		LivestreamID: r.GetLivestreamId(),
		RoomID:       r.GetRoomId(),
	}
}

// ListEvents lists stored events in sequence order. The page token is the last sequence of
// the previous page.
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
	var recs []store.Event
	err := s.store.View(ctx, func(r store.Reader) error {
		var err error
		recs, err = r.EventsAfter(ctx, t, after, f, size+1) // one more tells whether a next page exists
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	resp := &livegatev1.ListEventsResponse{}
	if len(recs) > size {
		recs = recs[:size]
		resp.NextPageToken = strconv.FormatUint(recs[len(recs)-1].Sequence, 10)
	}
	if resp.Events, err = eventlog.DecodeAll(recs); err != nil {
		return nil, err
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
		return nil, err
	}
	return &livegatev1.GetEventResponse{Event: ev}, nil
}

// Subscribe replays stored events after the cursor and follows live ones.
func (s *Server) Subscribe(req *livegatev1.SubscribeRequest, stream grpc.ServerStreamingServer[livegatev1.SubscribeResponse]) error {
	ctx := stream.Context()
	t, f := tenantAndFilter(req)
	var head, pruned uint64
	err := s.store.View(ctx, func(r store.Reader) error {
		var err error
		head, pruned, err = r.FeedBounds(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	after := req.GetAfterSequence()
	switch {
	case req.GetOnlyNew():
		after = max(head, s.hub.Head())
	case after > 0 && after < pruned:
		return cursorCompacted(after, pruned)
	}
	// The subscription is accepted: send the header now, so HTTP faces answer 200 at once
	// instead of waiting for the first event or progress message.
	if err := stream.SendHeader(nil); err != nil {
		return err
	}
	err = feed.Follow(ctx, s.hub, replayer{s.store}, t, f, after, sender{stream}, s.opts)
	switch {
	case errors.Is(err, feed.ErrShutdown):
		return apierror.New(apierror.ReasonUnavailable, "the server is shutting down: resume from the last sequence received")
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return nil // the client went away
	}
	return err
}

// cursorCompacted is the error for a cursor older than the events retention keeps.
func cursorCompacted(after, pruned uint64) error {
	oldest := strconv.FormatUint(pruned+1, 10)
	return apierror.New(apierror.ReasonCursorCompacted,
		"after_sequence %d is older than the events kept: the oldest still available is %s; resume from after_sequence=%d or 0",
		after, oldest, pruned).With("oldest_sequence", oldest)
}

// replayer reads stored events for feed.Follow.
type replayer struct{ store store.Store }

func (r replayer) EventsAfter(ctx context.Context, t store.Tenant, after uint64, f feed.Filter, limit int) ([]*livegatev1.Event, error) {
	var recs []store.Event
	err := r.store.View(ctx, func(rd store.Reader) error {
		// Retention may have pruned past the cursor since the subscription began (a long
		// replay, a catch-up after an overflow): say so, in the snapshot of the read, rather
		// than go on after the gap. Cursor 0 means "from the oldest kept".
		if after > 0 {
			_, pruned, err := rd.FeedBounds(ctx)
			if err != nil {
				return err
			}
			if after < pruned {
				return cursorCompacted(after, pruned)
			}
		}
		var err error
		recs, err = rd.EventsAfter(ctx, t, after, f, limit)
		return err
	})
	if err != nil {
		return nil, err
	}
	return eventlog.DecodeAll(recs)
}

// sender writes feed.Follow's output to the stream.
type sender struct {
	stream grpc.ServerStreamingServer[livegatev1.SubscribeResponse]
}

func (s sender) Event(ev *livegatev1.Event) error {
	return s.stream.Send(&livegatev1.SubscribeResponse{Kind: &livegatev1.SubscribeResponse_Event{Event: ev}})
}

func (s sender) Progress(head uint64) error {
	return s.stream.Send(&livegatev1.SubscribeResponse{Kind: &livegatev1.SubscribeResponse_Progress{Progress: &livegatev1.Progress{HeadSequence: head}}})
}

// Retention says how much of the feed to keep: events younger than MaxAge (0: any age), and
// at most MaxEvents (0: any number).
type Retention struct {
	MaxAge    time.Duration
	MaxEvents uint64
}

// Enforce prunes what retention no longer keeps, every interval, until ctx ends.
func (r Retention) Enforce(ctx context.Context, st store.Store, interval time.Duration, now func() time.Time, onErr func(error)) {
	if r.MaxAge == 0 && r.MaxEvents == 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := r.PruneOnce(ctx, st, now()); err != nil && ctx.Err() == nil {
			onErr(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// PruneOnce deletes what retention no longer keeps, as of now.
func (r Retention) PruneOnce(ctx context.Context, st store.Store, now time.Time) error {
	var before time.Time
	if r.MaxAge > 0 {
		before = now.Add(-r.MaxAge)
	}
	return st.Update(ctx, func(w store.Writer) error {
		_, err := w.PruneEvents(ctx, before, r.MaxEvents)
		return err
	})
}
