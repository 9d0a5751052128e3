// Package eventlog writes livegate.v1.Event messages into the store's feed and reads them
// back: the one place that knows an event's stored form (its columns and a protobuf body).
package eventlog

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/limits"
	"github.com/livegate/livegate/internal/payload"
	"github.com/livegate/livegate/internal/projection"
	"github.com/livegate/livegate/internal/store"
)

// Append stores ev (which must carry its tenant, source, type and payload) as part of the
// delivery deliveryID under dedupeKey, and sets ev.Sequence.
// store.ErrAlreadyExists when the dedupe key is taken; PAYLOAD_TOO_LARGE (and nothing
// stored) when the event encodes to more than limits.MaxEventBytes, so that every stored event
// can be read back through gRPC.
func Append(ctx context.Context, w store.Writer, ev *livegatev1.Event, deliveryID, dedupeKey string) error {
	ev.Sequence = 0
	body, err := proto.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", ev.GetType(), err)
	}
	if len(body) > limits.MaxEventBytes {
		return limits.EventTooLarge(ev.GetType(), len(body))
	}
	rec := &store.Event{
		Tenant:       store.Tenant{AccountID: ev.GetAccountId(), AppID: ev.GetAppId()},
		Source:       ev.GetSource(),
		Type:         ev.GetType(),
		DeliveryID:   deliveryID,
		DedupeKey:    dedupeKey,
		LivestreamID: ev.GetLivestreamId(),
		RoomID:       ev.GetRoomId(),
		ReceivedAt:   ev.GetReceivedAt().AsTime(),
		Body:         body,
	}
	if err := w.AppendEvent(ctx, rec); err != nil {
		return err
	}
	ev.Sequence = rec.Sequence
	return nil
}

// Decode turns a stored event back into its message.
func Decode(rec store.Event) (*livegatev1.Event, error) {
	ev := &livegatev1.Event{}
	if err := proto.Unmarshal(rec.Body, ev); err != nil {
		return nil, fmt.Errorf("decode event %d: %w", rec.Sequence, err)
	}
	ev.Sequence = rec.Sequence
	return ev, nil
}

// DecodeAll decodes stored events.
func DecodeAll(recs []store.Event) ([]*livegatev1.Event, error) {
	out := make([]*livegatev1.Event, 0, len(recs))
	for _, r := range recs {
		ev, err := Decode(r)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// statusToProto converts a stored status to the API enum.
func statusToProto(s store.Status) livegatev1.LivestreamStatus {
	return livegatev1.LivestreamStatus(livegatev1.LivestreamStatus_value[string(s)])
}

// AppendStatusChanged records livegate's own `livestream.status_changed` event for a change
// of livestream l caused by the event with sequence causeSeq (0: an API call) of type cause.
func AppendStatusChanged(ctx context.Context, w store.Writer, l store.Livestream, c projection.Change, causeSeq uint64, cause string, now time.Time) (*livegatev1.Event, error) {
	id := uuid.NewString()
	ev := &livegatev1.Event{
		Id:           id,
		Type:         payload.TypeStatusChanged,
		Source:       payload.SourceLivegate,
		AccountId:    l.AccountID,
		AppId:        l.AppID,
		OccurredAt:   timestamppb.New(now),
		ReceivedAt:   timestamppb.New(now),
		LivestreamId: l.ID,
		RoomId:       l.MeetingID,
		Payload: &livegatev1.Event_LivestreamStatusChanged{LivestreamStatusChanged: &livegatev1.LivestreamStatusChanged{
			LivestreamId:  c.LivestreamID,
			OldStatus:     statusToProto(c.Old),
			NewStatus:     statusToProto(c.New),
			CauseSequence: causeSeq,
			Cause:         cause,
			SessionId:     c.SessionID,
			Reason:        c.Reason,
		}},
	}
	if l.Provider == payload.SourceAmity {
		ev.StreamId = l.ProviderID
	}
	if err := Append(ctx, w, ev, id, id); err != nil {
		return nil, fmt.Errorf("append status change of livestream %s: %w", l.ID, err)
	}
	return ev, nil
}
