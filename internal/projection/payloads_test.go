package projection

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	hmsv1 "github.com/livegate/livegate/gen/go/livegate/hms/v1"
	"github.com/livegate/livegate/internal/hms"
)

// The typed readers (payloads.go) against the payloads' descriptors: for every 100ms event
// type, every field the rules name is read where it exists, and nothing is read where it
// does not. A new event type in hmsEffects, or a field added to a payload under a name the
// rules use, that the readers do not list fails here.

// ruleFields are the payload fields the rules use, by the effect they serve ("keys": every
// type's correlation keys).
var ruleFields = map[effect][]string{
	goLive:        {"started_at"},
	goIdle:        {"started_at", "stopped_at", "completed_at", "duration", "reason"},
	goErrored:     {"error_message"},
	recorded:      {"duration"},
	meetingOpened: {"session_id", "room_id", "session_started_at"},
	meetingClosed: {"session_id", "room_id", "session_started_at", "session_stopped_at", "session_duration"},
}

var keyFields = []string{"room_id", "session_id", "peer_id", "beam_id", "ingest_id", "stream_id"}

// filled returns the payload of an event type with every field the rules might read set
// to a value of its own (strings: their name; numbers: 100 + the field number; times: that
// many hours after t0).
func filled(t *testing.T, eventType string) proto.Message {
	t.Helper()
	m, ok := hms.NewPayload(eventType)
	if !ok {
		t.Fatalf("%s: not a 100ms event type", eventType)
	}
	r := m.ProtoReflect()
	fields := r.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.IsList():
		case fd.Kind() == protoreflect.StringKind:
			r.Set(fd, protoreflect.ValueOfString(string(fd.Name())))
		case fd.Kind() == protoreflect.Int64Kind:
			r.Set(fd, protoreflect.ValueOfInt64(100+int64(fd.Number())))
		case fd.Kind() == protoreflect.MessageKind && fd.Message().FullName() == "google.protobuf.Timestamp":
			r.Set(fd, protoreflect.ValueOfMessage(timestamppb.New(fieldTime(fd)).ProtoReflect()))
		}
	}
	return m
}

func fieldTime(fd protoreflect.FieldDescriptor) time.Time {
	return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(fd.Number()) * time.Hour)
}

// has returns the value filled put in field name of m's type, if the type has that field.
func has(m proto.Message, name string) (any, bool) {
	fd := m.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil {
		return nil, false
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		return name, true
	case protoreflect.Int64Kind:
		return 100 + int64(fd.Number()), true
	}
	return fieldTime(fd), true
}

func TestTypedReadersReadEveryRuleField(t *testing.T) {
	for _, typ := range hms.Types() {
		m := filled(t, typ)
		eff := hmsEffects[typ]
		// What each field reads as through the typed readers (ok false: not read).
		got := map[string]any{}
		put := func(name string, v any, ok bool) {
			if ok {
				got[name] = v
			}
		}
		k := keysOf(m)
		for name, v := range map[string]string{"room_id": k.room, "session_id": k.session, "peer_id": k.peer, "beam_id": k.beam, "ingest_id": k.ingest, "stream_id": k.stream} {
			put("keys."+name, v, v != "")
		}
		switch eff {
		case goLive:
			at, ok := hmsStartedAt(m)
			put("started_at", at, ok)
		case goIdle:
			s := hmsStopped(m)
			start, ok := when(s.startedAt)
			put("started_at", start, ok)
			at, ok := when(s.at)
			if _, isStop := has(m, "stopped_at"); isStop {
				put("stopped_at", at, ok)
			} else {
				put("completed_at", at, ok)
			}
			if s.duration != nil {
				put("duration", *s.duration, true)
			}
			put("reason", s.reason, s.reason != "")
		case goErrored:
			msg := hmsFailure(m)
			put("error_message", msg, msg != "")
		case recorded:
			d := hmsRecordedSeconds(m)
			put("duration", d, d != 0)
		case meetingOpened, meetingClosed:
			mt := hmsMeeting(m)
			put("session_id", mt.id, mt.id != "")
			put("room_id", mt.room, mt.room != "")
			at, ok := when(mt.startedAt)
			put("session_started_at", at, ok)
			if eff == meetingClosed {
				at, ok := when(mt.stopped)
				put("session_stopped_at", at, ok)
				if mt.duration != nil {
					put("session_duration", *mt.duration, true)
				}
			}
		}
		// What the descriptor says they should read as.
		want := map[string]any{}
		for _, name := range keyFields {
			if v, ok := has(m, name); ok {
				want["keys."+name] = v
			}
		}
		for _, name := range ruleFields[eff] {
			if v, ok := has(m, name); ok {
				want[name] = v
			}
		}
		for name, w := range want {
			if g, ok := got[name]; !ok || g != w {
				t.Errorf("%s: %s reads as %v (read: %v), want %v", typ, name, g, ok, w)
			}
		}
		for name, g := range got {
			if _, ok := want[name]; !ok {
				t.Errorf("%s: %s reads as %v, but the payload has no such field", typ, name, g)
			}
		}
	}
}

// TestTypedReadersPresence: an absent field is not read (a stop without duration counts its
// session's own time; 0001-01-01 is 100ms's "never"), and an explicit zero is.
func TestTypedReadersPresence(t *testing.T) {
	if s := hmsStopped(&hmsv1.HlsStoppedSuccess{}); s.duration != nil || s.at != nil || s.reason != "" {
		t.Errorf("an empty stop reads as %+v", s)
	}
	zero := int64(0)
	if s := hmsStopped(&hmsv1.HlsStoppedSuccess{Duration: &zero}); s.duration == nil || *s.duration != 0 {
		t.Errorf("a stop with duration 0 reads as %+v, want duration 0", s)
	}
	if _, ok := when(timestamppb.New(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC))); ok {
		t.Error("0001-01-01 reads as a time")
	}
	if _, ok := when(nil); ok {
		t.Error("no timestamp reads as a time")
	}
	if k := keysOf(nil); k != (keys{}) {
		t.Errorf("no payload has keys %+v", k)
	}
}
