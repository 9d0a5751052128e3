package projection

import (
	"context"
	"fmt"
	"time"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/eventlog"
	"github.com/livegate/livegate/internal/payload"
	"github.com/livegate/livegate/internal/store"
)

// Cause is what caused a status change, as its `livestream.status_changed` event names it
// (cause_sequence, cause): a stored event (its sequence and type), an API call (sequence 0
// and the call's name, see APICall), or nothing livegate can point at (the zero Cause: the
// RTMP reaper, whose event gives the reason instead).
type Cause struct {
	Sequence uint64
	Type     string
}

// CausedBy is the cause that is the stored event ev (its sequence set by eventlog.Append).
func CausedBy(ev *livegatev1.Event) Cause {
	return Cause{Sequence: ev.GetSequence(), Type: ev.GetType()}
}

// APICall is the cause that is an API call, e.g. "api.StopMeetingLivestream".
func APICall(name string) Cause { return Cause{Type: name} }

// StatusToProto converts a stored status to the API enum.
func StatusToProto(s store.Status) livegatev1.LivestreamStatus {
	return livegatev1.LivestreamStatus(livegatev1.LivestreamStatus_value[string(s)])
}

// transition moves l to status `to` (nothing when it is there already), stores it, and
// records the change in the feed. It is the one way a stored livestream's status changes.
func transition(ctx context.Context, w store.Writer, l *store.Livestream, to store.Status, sessionID, reason string, cause Cause, now time.Time) (*Change, error) {
	if l.Status == to {
		return nil, nil
	}
	c := &Change{LivestreamID: l.ID, Old: l.Status, New: to, SessionID: sessionID, Reason: reason}
	l.Status = to
	l.UpdatedAt = now
	if err := w.UpdateLivestream(ctx, *l); err != nil {
		return nil, err
	}
	if err := record(ctx, w, *l, *c, cause, now); err != nil {
		return nil, err
	}
	return c, nil
}

// record appends livegate's own `livestream.status_changed` event for change c of
// livestream l: the feed's promise that every status change is in it, with its cause. It is
// the only place that appends one.
func record(ctx context.Context, w store.Writer, l store.Livestream, c Change, cause Cause, now time.Time) error {
	ev := payload.Own(payload.TypeStatusChanged, l.AccountID, l.AppID, now)
	ev.LivestreamId, ev.RoomId = l.ID, l.MeetingID
	ev.Payload = &livegatev1.Event_LivestreamStatusChanged{LivestreamStatusChanged: &livegatev1.LivestreamStatusChanged{
		LivestreamId:  c.LivestreamID,
		OldStatus:     StatusToProto(c.Old),
		NewStatus:     StatusToProto(c.New),
		CauseSequence: cause.Sequence,
		Cause:         cause.Type,
		SessionId:     c.SessionID,
		Reason:        c.Reason,
	}}
	if l.Provider == payload.SourceAmity {
		ev.StreamId = l.ProviderID
	}
	if err := eventlog.Append(ctx, w, ev, ev.GetId(), ev.GetId()); err != nil {
		return fmt.Errorf("append status change of livestream %s: %w", l.ID, err)
	}
	return nil
}
