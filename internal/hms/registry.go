package hms

import (
	"maps"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	hmsv1 "github.com/livegate/livegate/gen/go/livegate/hms/v1"
)

// payloadTypes maps each documented 100ms event type to the message its `data` decodes into: the
// message named after the type (session.open.success → SessionOpenSuccess). It is a read-only
// table, never written after initialization.
var payloadTypes = map[string]protoreflect.MessageType{
	"session.open.success":            (*hmsv1.SessionOpenSuccess)(nil).ProtoReflect().Type(),
	"session.close.success":           (*hmsv1.SessionCloseSuccess)(nil).ProtoReflect().Type(),
	"peer.join.success":               (*hmsv1.PeerJoinSuccess)(nil).ProtoReflect().Type(),
	"peer.leave.success":              (*hmsv1.PeerLeaveSuccess)(nil).ProtoReflect().Type(),
	"peer.join.failure":               (*hmsv1.PeerJoinFailure)(nil).ProtoReflect().Type(),
	"peer.leave.failure":              (*hmsv1.PeerLeaveFailure)(nil).ProtoReflect().Type(),
	"room.end.success":                (*hmsv1.RoomEndSuccess)(nil).ProtoReflect().Type(),
	"room.end.failure":                (*hmsv1.RoomEndFailure)(nil).ProtoReflect().Type(),
	"track.recording.started.success": (*hmsv1.TrackRecordingStartedSuccess)(nil).ProtoReflect().Type(),
	"track.recording.success":         (*hmsv1.TrackRecordingSuccess)(nil).ProtoReflect().Type(),
	"track.recording.failure":         (*hmsv1.TrackRecordingFailure)(nil).ProtoReflect().Type(),
	"stream.recording.success":        (*hmsv1.StreamRecordingSuccess)(nil).ProtoReflect().Type(),
	"stream.recording.failure":        (*hmsv1.StreamRecordingFailure)(nil).ProtoReflect().Type(),
	"recording.success":               (*hmsv1.RecordingSuccess)(nil).ProtoReflect().Type(),
	"recording.failed":                (*hmsv1.RecordingFailed)(nil).ProtoReflect().Type(),
	"beam.started.success":            (*hmsv1.BeamStartedSuccess)(nil).ProtoReflect().Type(),
	"beam.stopped.success":            (*hmsv1.BeamStoppedSuccess)(nil).ProtoReflect().Type(),
	"beam.recording.success":          (*hmsv1.BeamRecordingSuccess)(nil).ProtoReflect().Type(),
	"beam.failure":                    (*hmsv1.BeamFailure)(nil).ProtoReflect().Type(),
	"hls.started.success":             (*hmsv1.HlsStartedSuccess)(nil).ProtoReflect().Type(),
	"hls.stopped.success":             (*hmsv1.HlsStoppedSuccess)(nil).ProtoReflect().Type(),
	"hls.recording.success":           (*hmsv1.HlsRecordingSuccess)(nil).ProtoReflect().Type(),
	"hls.failure":                     (*hmsv1.HlsFailure)(nil).ProtoReflect().Type(),
	"role.change.success":             (*hmsv1.RoleChangeSuccess)(nil).ProtoReflect().Type(),
	"role.change.failure":             (*hmsv1.RoleChangeFailure)(nil).ProtoReflect().Type(),
	"transcription.started.success":   (*hmsv1.TranscriptionStartedSuccess)(nil).ProtoReflect().Type(),
	"transcription.success":           (*hmsv1.TranscriptionSuccess)(nil).ProtoReflect().Type(),
	"transcription.failure":           (*hmsv1.TranscriptionFailure)(nil).ProtoReflect().Type(),
	"ingest.start.success":            (*hmsv1.IngestStartSuccess)(nil).ProtoReflect().Type(),
	"ingest.end.success":              (*hmsv1.IngestEndSuccess)(nil).ProtoReflect().Type(),
	"ingest.start.failure":            (*hmsv1.IngestStartFailure)(nil).ProtoReflect().Type(),
	"ingest.failure":                  (*hmsv1.IngestFailure)(nil).ProtoReflect().Type(),
}

// NewPayload returns a new, empty message for the `data` of a delivery of the given event type
// (e.g. *hmsv1.PeerJoinSuccess for "peer.join.success"), and false if the type is not one of the
// documented 100ms event types.
func NewPayload(eventType string) (proto.Message, bool) {
	mt, ok := payloadTypes[eventType]
	if !ok {
		return nil, false
	}
	return mt.New().Interface(), true
}

// Types returns the event types NewPayload knows, sorted.
func Types() []string {
	return slices.Sorted(maps.Keys(payloadTypes))
}
