package projection

import (
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
)

// Correlate copies the correlation keys a provider payload carries (room_id, session_id,
// peer_id, beam_id, ingest_id, stream_id; Amity's streamId) onto the event envelope. It reads
// them by field name, which is the providers' own key.
func Correlate(ev *livegatev1.Event, p proto.Message) {
	for _, key := range []struct {
		dst  *string
		name string
	}{
		{&ev.RoomId, "room_id"},
		{&ev.SessionId, "session_id"},
		{&ev.PeerId, "peer_id"},
		{&ev.BeamId, "beam_id"},
		{&ev.IngestId, "ingest_id"},
		{&ev.StreamId, "stream_id"},
	} {
		if *key.dst == "" {
			*key.dst = stringField(p, key.name)
		}
	}
}

func field(m proto.Message, name string) (protoreflect.Message, protoreflect.FieldDescriptor) {
	if m == nil {
		return nil, nil
	}
	r := m.ProtoReflect()
	fd := r.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil || !r.Has(fd) {
		return nil, nil
	}
	return r, fd
}

// stringField returns a set string field of m by name, or "".
func stringField(m proto.Message, name string) string {
	r, fd := field(m, name)
	if fd == nil || fd.Kind() != protoreflect.StringKind || fd.IsList() {
		return ""
	}
	return r.Get(fd).String()
}

// numberField returns a set numeric field of m by name.
func numberField(m proto.Message, name string) (float64, bool) {
	r, fd := field(m, name)
	if fd == nil || fd.IsList() {
		return 0, false
	}
	v := r.Get(fd)
	switch fd.Kind() {
	case protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Sint32Kind, protoreflect.Sint64Kind,
		protoreflect.Sfixed32Kind, protoreflect.Sfixed64Kind:
		return float64(v.Int()), true
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.Fixed32Kind, protoreflect.Fixed64Kind:
		return float64(v.Uint()), true
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return v.Float(), true
	}
	return 0, false
}

// timeField returns a set google.protobuf.Timestamp field of m by name.
func timeField(m proto.Message, name string) (time.Time, bool) {
	r, fd := field(m, name)
	if fd == nil || fd.Kind() != protoreflect.MessageKind || fd.IsList() {
		return time.Time{}, false
	}
	ts, ok := r.Get(fd).Message().Interface().(*timestamppb.Timestamp)
	if !ok || ts.AsTime().Year() <= 1 { // 100ms writes 0001-01-01 for "never"
		return time.Time{}, false
	}
	return ts.AsTime(), true
}
