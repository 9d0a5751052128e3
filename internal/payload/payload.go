// Package payload connects event types to the typed payload of livegate.v1.Event: each
// (source, type) has one case in the Event.payload oneof, named `<source>_<type>` with the
// type's separators ('.', '-') as underscores and camelCase split (`video-streaming.didStop`
// from amity is `amity_video_streaming_did_stop`).
package payload

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
)

// Event sources.
const (
	SourceHMS      = "hms"
	SourceAmity    = "amity"
	SourceRTMP     = "rtmp"
	SourceLivegate = "livegate"
)

// TypeStatusChanged is livegate's own event: a livestream changed status.
const TypeStatusChanged = "livestream.status_changed"

// TypeWebhookEndpointDisabled is livegate's own event: livegate disabled an outbound webhook
// endpoint whose deliveries all failed for too long.
const TypeWebhookEndpointDisabled = "webhook_endpoint.disabled"

// Own is the envelope of an event livegate itself emits (source livegate): a new id, the
// tenant, and now as both when it happened and when it was received. The caller sets its
// payload and anything else it knows; stored, its id is its delivery id and dedupe key.
func Own(eventType, accountID, appID string, now time.Time) *livegatev1.Event {
	return &livegatev1.Event{
		Id:         uuid.NewString(),
		Type:       eventType,
		Source:     SourceLivegate,
		AccountId:  accountID,
		AppId:      appID,
		OccurredAt: timestamppb.New(now),
		ReceivedAt: timestamppb.New(now),
	}
}

var oneof = (&livegatev1.Event{}).ProtoReflect().Descriptor().Oneofs().ByName("payload")

// FieldName is the Event.payload case for an event of a source and type.
func FieldName(source, eventType string) string {
	var b strings.Builder
	if source != SourceLivegate {
		b.WriteString(source)
		b.WriteByte('_')
	}
	for i, r := range eventType {
		switch {
		case r == '.' || r == '-':
			b.WriteByte('_')
		case unicode.IsUpper(r):
			if i > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Field returns the Event.payload case for a source and type, if there is one.
func Field(source, eventType string) (protoreflect.FieldDescriptor, bool) {
	fd := oneof.Fields().ByName(protoreflect.Name(FieldName(source, eventType)))
	return fd, fd != nil
}

// Set puts msg into ev's payload as the case of (source, type). It fails if there is no such
// case or msg is not of its type.
func Set(ev *livegatev1.Event, source, eventType string, msg proto.Message) error {
	fd, ok := Field(source, eventType)
	if !ok {
		return fmt.Errorf("no Event payload case for %s event %q", source, eventType)
	}
	if got, want := msg.ProtoReflect().Descriptor().FullName(), fd.Message().FullName(); got != want {
		return fmt.Errorf("%s event %q carries %s, not %s", source, eventType, want, got)
	}
	ev.ProtoReflect().Set(fd, protoreflect.ValueOfMessage(msg.ProtoReflect()))
	return nil
}
