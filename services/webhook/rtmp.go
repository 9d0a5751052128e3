package webhook

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	rtmpv1 "github.com/livegate/livegate/gen/go/livegate/rtmp/v1"
	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/decode"
	"github.com/livegate/livegate/internal/eventlog"
	"github.com/livegate/livegate/internal/nginxconf"
	"github.com/livegate/livegate/internal/payload"
	"github.com/livegate/livegate/internal/projection"
	"github.com/livegate/livegate/internal/rtmp"
	"github.com/livegate/livegate/internal/store"
)

// RTMP configures the nginx-rtmp callbacks.
type RTMP struct {
	// Secret is the callback secret nginx puts in the callback URLs (rtmp.CallbackSecret).
	// Empty: every callback is refused.
	Secret string
	// Ingest tunes the ingest rules: the reconnect window, when a publisher is stale.
	Ingest projection.Ingest
}

// DeliverRtmpCallback takes one nginx-rtmp callback and says what nginx should do.
//
//   - publish (name = stream key): PERMISSION_DENIED for a key that is unknown (never issued,
//     or reset), of a livestream not ingested over RTMP, or of a disabled livestream;
//     ALREADY_EXISTS while another publisher is live. Otherwise the livestream goes LIVE and
//     rename_to is its id: nginx renames the stream, so the HLS output and the playback URL
//     never carry the key.
//   - play (name = livestream id): PERMISSION_DENIED for an unknown or disabled livestream.
//   - publish_done, play_done, done: the client's time is accounted for (see
//     projection.Ingest); the publisher's livestream goes IDLE.
//   - update_publish, update_play: nginx reports a client still connected (for the
//     publisher, through nginx's relay to the playback application, which publishes under
//     the livestream id); nothing goes in the feed, and the answer is always 200.
//
// Every callback that changes something is stored as an `rtmp.<call>` event, with the
// status change it caused, in one transaction before the answer; in stored events `name` is
// the livestream id, never the stream key. Callbacks about no registered client (a done
// after its publish_done, connect, disconnect, record_done) change nothing, are stored
// nowhere, and are answered with sequence 0. nginx-rtmp does not retry callbacks, so each
// is one delivery; repeats are harmless because the rules are keyed by clientid.
func (s *Server) DeliverRtmpCallback(ctx context.Context, req *livegatev1.DeliverRtmpCallbackRequest) (*livegatev1.DeliverRtmpCallbackResponse, error) {
	if s.rtmp.Secret == "" || subtle.ConstantTimeCompare([]byte(req.GetCallbackSecret()), []byte(s.rtmp.Secret)) != 1 {
		return nil, apierror.New(apierror.ReasonSignatureMismatch, "wrong RTMP callback secret in the callback URL: generate nginx's configuration with `livegate rtmp nginx-conf` on this installation's data")
	}
	if err := validate(req); err != nil {
		return nil, err
	}
	cb := req.GetCallback()
	if cb.GetCall() == "" {
		return nil, apierror.InvalidArgument("callback.call", "required")
	}
	var handle rtmpHandler
	switch cb.GetCall() {
	case rtmp.CallPublish:
		handle = s.rtmpAdmit(s.publishAdmission())
	case rtmp.CallPlay:
		handle = s.rtmpAdmit(s.playAdmission())
	case rtmp.CallPublishDone, rtmp.CallPlayDone, rtmp.CallDone:
		handle = s.rtmpDone
	case rtmp.CallUpdatePublish, rtmp.CallUpdatePlay, rtmp.CallUpdate:
		handle = s.rtmpUpdate
	default:
		return &livegatev1.DeliverRtmpCallbackResponse{}, nil
	}
	id, err := clientID(cb)
	if err != nil {
		return nil, err
	}
	if cb.GetCall() == rtmp.CallPublish || cb.GetCall() == rtmp.CallPlay {
		if err := nameRequired(cb); err != nil {
			return nil, err
		}
	}
	now := s.now().UTC()
	var resp *livegatev1.DeliverRtmpCallbackResponse
	err = s.store.Update(ctx, func(w store.Writer) error {
		var err error
		resp, err = handle(ctx, w, cb, id, now)
		return err
	})
	if err != nil {
		return nil, rtmpError(err, cb)
	}
	return resp, nil
}

// rtmpHandler does what one kind of callback, from client id, does, inside the transaction
// that stores it.
type rtmpHandler func(ctx context.Context, w store.Writer, cb *rtmpv1.Callback, id uint64, now time.Time) (*livegatev1.DeliverRtmpCallbackResponse, error)

// clientID is the callback's clientid: every call livegate acts on carries one. Its refusal
// reads as every provider's do (FIELD: KIND: REASON), naming the form key.
func clientID(cb *rtmpv1.Callback) (uint64, error) {
	if cb.Clientid == nil {
		return 0, missing("clientid", cb)
	}
	return cb.GetClientid(), nil
}

func nameRequired(cb *rtmpv1.Callback) error {
	if cb.GetName() == "" {
		return missing("name", cb)
	}
	return nil
}

// missing is the refusal of a callback without field, which its call needs.
func missing(field string, cb *rtmpv1.Callback) error {
	return (&decode.FieldError{Kind: decode.ErrMissingField, Field: field, Reason: "required for call " + strconv.Quote(cb.GetCall())}).APIError()
}

// admission is how one kind of client (publisher, player) is let in: which livestream the
// callback's name names, and the rule that registers the client.
type admission struct {
	// find returns the livestream, or an error to answer with (the refusal).
	find func(ctx context.Context, w store.Writer, name string) (store.Livestream, error)
	// admit registers client id on l; a status change it causes is recorded as caused by
	// cause (the callback's stored event).
	admit func(ctx context.Context, w store.Writer, l *store.Livestream, id uint64, cause projection.Cause, now time.Time) error
	// rename: answer with the livestream id as the stream's new name.
	rename bool
	// publisher: the client is admitted as l's publisher (else as a viewer).
	publisher bool
}

func (s *Server) publishAdmission() admission {
	return admission{
		find: func(ctx context.Context, w store.Writer, key string) (store.Livestream, error) {
			l, err := w.LivestreamByStreamKey(ctx, key)
			switch {
			case errors.Is(err, store.ErrNotFound):
				// The key is a secret: it is not repeated back, nor logged.
				return l, apierror.New(apierror.ReasonPermissionDenied, "unknown stream key: it was never issued, or it was reset")
			case err != nil:
				return l, err
			case l.Provider != payload.SourceRTMP:
				return l, apierror.New(apierror.ReasonPermissionDenied, "livestream %q is driven by %s, not RTMP ingest", l.ID, l.Provider).With("livestream_id", l.ID)
			case l.Disabled:
				return l, apierror.New(apierror.ReasonPermissionDenied, "livestream %q is disabled; enable it to publish", l.ID).With("livestream_id", l.ID)
			}
			return l, nil
		},
		admit: func(ctx context.Context, w store.Writer, l *store.Livestream, id uint64, cause projection.Cause, now time.Time) error {
			_, err := s.rtmp.Ingest.Publish(ctx, w, l, id, cause, now)
			if errors.Is(err, projection.ErrPublishing) {
				return apierror.New(apierror.ReasonAlreadyActive, "livestream %q already has a publisher", l.ID).With("livestream_id", l.ID)
			}
			return err
		},
		rename:    true,
		publisher: true,
	}
}

func (s *Server) playAdmission() admission {
	return admission{
		find: func(ctx context.Context, w store.Writer, id string) (store.Livestream, error) {
			l, err := w.LivestreamByID(ctx, id)
			switch {
			case errors.Is(err, store.ErrNotFound):
				// The name may be a stream key played by mistake: it is not repeated back.
				return l, apierror.New(apierror.ReasonPermissionDenied, "no livestream with that id to play: play a livestream by its id, never by its stream key")
			case err != nil:
				return l, err
			case l.Provider != payload.SourceRTMP:
				// nginx has nothing of it to serve: its viewers would count watch time of a
				// stream no one received.
				return l, apierror.New(apierror.ReasonPermissionDenied, "livestream %q is driven by %s, not RTMP ingest: play it at its playback_url", l.ID, l.Provider).With("livestream_id", l.ID)
			case l.Disabled:
				return l, apierror.New(apierror.ReasonPermissionDenied, "livestream %q is disabled", l.ID).With("livestream_id", l.ID)
			}
			return l, nil
		},
		admit: func(ctx context.Context, w store.Writer, l *store.Livestream, id uint64, cause projection.Cause, now time.Time) error {
			return s.rtmp.Ingest.Play(ctx, w, l, id, cause, now)
		},
	}
}

// rtmpAdmit lets a publisher or player in, and stores the callback with what it caused (a
// refusal undoes the whole transaction, the stored callback with it).
func (s *Server) rtmpAdmit(a admission) rtmpHandler {
	return func(ctx context.Context, w store.Writer, cb *rtmpv1.Callback, id uint64, now time.Time) (*livegatev1.DeliverRtmpCallbackResponse, error) {
		l, err := a.find(ctx, w, cb.GetName())
		if err != nil {
			return nil, err
		}
		resp := &livegatev1.DeliverRtmpCallbackResponse{}
		if a.rename {
			resp.RenameTo = l.ID
		}
		// A repeat (the same client admitted the same way) changes nothing: it is answered
		// as before, with sequence 0, and stored nowhere.
		switch c, err := w.RtmpClient(ctx, id); {
		case err == nil && projection.SameRegistration(c, &l, a.publisher):
			return resp, nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
		ev, err := s.appendRtmp(ctx, w, l, cb, now)
		if err != nil {
			return nil, err
		}
		if err := a.admit(ctx, w, &l, id, projection.CausedBy(ev), now); err != nil {
			return nil, err
		}
		resp.Sequence = ev.GetSequence()
		return resp, nil
	}
}

func (s *Server) rtmpDone(ctx context.Context, w store.Writer, cb *rtmpv1.Callback, id uint64, now time.Time) (*livegatev1.DeliverRtmpCallbackResponse, error) {
	nothing := &livegatev1.DeliverRtmpCallbackResponse{}
	c, err := w.RtmpClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nothing, nil // not registered (any more): nothing to account for
	}
	if err != nil {
		return nil, err
	}
	// publish_done is about a publisher, play_done about a viewer; done about either.
	if (cb.GetCall() == rtmp.CallPublishDone && !c.Publishing) || (cb.GetCall() == rtmp.CallPlayDone && c.Publishing) {
		return nothing, nil
	}
	l, err := w.Livestream(ctx, c.Tenant, c.LivestreamID)
	if err != nil {
		return nil, err
	}
	ev, err := s.appendRtmp(ctx, w, l, cb, now)
	if err != nil {
		return nil, err
	}
	if _, err := s.rtmp.Ingest.Done(ctx, w, c, &l, now, projection.CausedBy(ev), now); err != nil {
		return nil, err
	}
	return &livegatev1.DeliverRtmpCallbackResponse{Sequence: ev.GetSequence()}, nil
}

func (s *Server) rtmpUpdate(ctx context.Context, w store.Writer, cb *rtmpv1.Callback, id uint64, now time.Time) (*livegatev1.DeliverRtmpCallbackResponse, error) {
	nothing := &livegatev1.DeliverRtmpCallbackResponse{}
	c, err := w.RtmpClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) && cb.GetCall() == rtmp.CallUpdatePublish && cb.GetName() != "" {
		// nginx's own relay from the ingest application to the playback one publishes under
		// the livestream's id: its reports say that the livestream's publisher is still there.
		c, err = publisherOf(ctx, w, cb.GetName())
	}
	if errors.Is(err, store.ErrNotFound) {
		return nothing, nil
	}
	if err != nil {
		return nil, err
	}
	return nothing, projection.Seen(ctx, w, c, now)
}

// publisherOf returns the publisher of the livestream with this id, of any tenant.
func publisherOf(ctx context.Context, w store.Writer, livestreamID string) (store.RtmpClient, error) {
	l, err := w.LivestreamByID(ctx, livestreamID)
	if err != nil {
		return store.RtmpClient{}, err
	}
	return w.RtmpPublisher(ctx, l.Tenant, l.ID)
}

// reapBatch is how many stale clients one transaction of ReapRtmpClients accounts for.
const reapBatch = 100

// ReapRtmpClients accounts for the nginx-rtmp clients not reported for the stale time (see
// projection.Ingest.Reap): a publisher's livestream goes IDLE, with a
// `livestream.status_changed` event giving the reason. It returns how many it reaped.
func (s *Server) ReapRtmpClients(ctx context.Context) (int, error) {
	total := 0
	for {
		n := 0
		err := s.store.Update(ctx, func(w store.Writer) error {
			now := s.now().UTC()
			reaped, err := s.rtmp.Ingest.Reap(ctx, w, now, reapBatch)
			n = len(reaped)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("reap stale RTMP clients: %w", err)
		}
		total += n
		if n < reapBatch {
			return total, nil
		}
	}
}

// appendRtmp stores the callback as an `rtmp.<call>` event about l, before what it causes, and
// returns the stored event.
func (s *Server) appendRtmp(ctx context.Context, w store.Writer, l store.Livestream, cb *rtmpv1.Callback, now time.Time) (*livegatev1.Event, error) {
	stored := storedCallback(cb, l.ID)
	id := uuid.NewString()
	ev := &livegatev1.Event{
		Id:              id,
		Type:            "rtmp." + cb.GetCall(),
		Source:          payload.SourceRTMP,
		AccountId:       l.AccountID,
		AppId:           l.AppID,
		ProviderEventId: id, // nginx-rtmp sends no id, and does not redeliver
		OccurredAt:      timestamppb.New(now),
		ReceivedAt:      timestamppb.New(now),
		LivestreamId:    l.ID,
		StreamId:        l.ID,
	}
	if err := payload.Set(ev, payload.SourceRTMP, cb.GetCall(), stored); err != nil {
		return nil, err
	}
	if err := eventlog.Append(ctx, w, ev, id, id); err != nil {
		return nil, err
	}
	return ev, nil
}

// storedCallback is the callback as events keep it: without what may carry a credential.
// name is the livestream id, never the stream key; the client's query arguments (args, e.g.
// the `key` of rtmp://host/live/stream?key=secret) are dropped, names and values alike, since
// either may be a secret (`?s3cr3t`) and livegate acts on none of them; and the query strings
// of the client's URLs (tcurl, swfurl, pageurl), where an encoder can put the same, are cut.
func storedCallback(cb *rtmpv1.Callback, livestreamID string) *rtmpv1.Callback {
	stored := proto.CloneOf(cb)
	stored.Name = livestreamID
	stored.Args = nil
	stored.Tcurl = withoutQuery(stored.Tcurl)
	stored.Swfurl = withoutQuery(stored.Swfurl)
	stored.Pageurl = withoutQuery(stored.Pageurl)
	return stored
}

// withoutQuery cuts a URL at its query string (or fragment).
func withoutQuery(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i]
	}
	return u
}

// rtmpError passes apierrors through and wraps the rest with the call.
func rtmpError(err error, cb *rtmpv1.Callback) error {
	var ae *apierror.Error
	if errors.As(err, &ae) {
		return err
	}
	return fmt.Errorf("nginx-rtmp %s callback from client %d: %w", cb.GetCall(), cb.GetClientid(), err)
}

// ReaperLease is the lease (store.Leaser) under which one node at a time reaps RTMP clients.
const ReaperLease = "rtmp-reaper"

// Reaper is the RTMP reaper, background work: the publishers and viewers whose done callback
// never came (nginx crashed, or livegate was down) are accounted for (ReapRtmpClients) once
// nginx-rtmp has not reported them for a while. It runs every Interval on one node at a time
// (under the lease ReaperLease; see store.RunExclusive), and not in the first interval after
// it starts: nginx-rtmp has not reported to this process yet, and after downtime every client
// would look stale.
type Reaper struct {
	Webhooks *Server
	Log      *slog.Logger
	// Interval between reaps (zero: nginxconf.UpdateInterval, how often nginx-rtmp reports
	// each client).
	Interval time.Duration
}

// Run reaps until ctx ends, then returns nil. Failures are logged, and the next interval
// tries again.
func (r Reaper) Run(ctx context.Context) error {
	interval := r.Interval
	if interval <= 0 {
		interval = nginxconf.UpdateInterval
	}
	// The first interval, less some slack for the ticker (a second, at the default).
	grace := interval - min(time.Second, interval/10)
	started := time.Now()
	store.RunExclusive(ctx, r.Webhooks.store, ReaperLease, interval, func(ctx context.Context) {
		if time.Since(started) < grace {
			return
		}
		n, err := r.Webhooks.ReapRtmpClients(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			r.Log.Error("reap stale RTMP clients", "error", err)
		case n > 0:
			r.Log.Info("reaped stale RTMP clients", "count", n)
		}
	}, func(err error) { r.Log.Error("take the RTMP reaper lease", "error", err) })
	return nil
}
