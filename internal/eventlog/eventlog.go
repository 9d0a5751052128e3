// Package eventlog writes livegate.v1.Event messages into the store's feed and reads them
// back: the one place that knows an event's stored form (its columns and a protobuf body).
package eventlog

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/limits"
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
