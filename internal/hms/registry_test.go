package hms

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// documentedTypes are the 32 event types of the 100ms webhook documentation.
var documentedTypes = []string{
	"session.open.success", "session.close.success",
	"peer.join.success", "peer.leave.success", "peer.join.failure", "peer.leave.failure",
	"room.end.success", "room.end.failure",
	"track.recording.started.success", "track.recording.success", "track.recording.failure",
	"stream.recording.success", "stream.recording.failure",
	"recording.success", "recording.failed",
	"beam.started.success", "beam.stopped.success", "beam.recording.success", "beam.failure",
	"hls.started.success", "hls.stopped.success", "hls.recording.success", "hls.failure",
	"role.change.success", "role.change.failure",
	"transcription.started.success", "transcription.success", "transcription.failure",
	"ingest.start.success", "ingest.end.success", "ingest.start.failure", "ingest.failure",
}

// pascalCase turns an event type into its message name: "hls.started.success" → "HlsStartedSuccess".
func pascalCase(eventType string) string {
	var b strings.Builder
	for part := range strings.SplitSeq(eventType, ".") {
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

func TestTypes(t *testing.T) {
	want := slices.Clone(documentedTypes)
	slices.Sort(want)
	if got := Types(); !slices.Equal(got, want) {
		t.Fatalf("Types() = %v\nwant %v", got, want)
	}
	if len(want) != 32 {
		t.Fatalf("%d documented types, want 32", len(want))
	}

	seen := make(map[protoreflect.FullName]string)
	for _, eventType := range Types() {
		msg, ok := NewPayload(eventType)
		if !ok || msg == nil {
			t.Fatalf("NewPayload(%q) = %v, %v", eventType, msg, ok)
		}
		name := msg.ProtoReflect().Descriptor().FullName()
		if want := protoreflect.FullName("livegate.hms.v1." + pascalCase(eventType)); name != want {
			t.Errorf("NewPayload(%q) is %s, want %s", eventType, name, want)
		}
		if other, dup := seen[name]; dup {
			t.Errorf("%q and %q both map to %s", other, eventType, name)
		}
		seen[name] = eventType
	}
}

func TestTypesReturnsACopy(t *testing.T) {
	Types()[0] = "mutated"
	if slices.Contains(Types(), "mutated") {
		t.Fatal("Types() shares its slice")
	}
}

func TestNewPayload(t *testing.T) {
	a, _ := NewPayload("peer.join.success")
	b, _ := NewPayload("peer.join.success")
	if a == b {
		t.Fatal("NewPayload returned the same message twice")
	}
	if !proto.Equal(a, b) || proto.Size(a) != 0 {
		t.Fatal("NewPayload returned a non-empty message")
	}
	for _, unknown := range []string{"", "peer.join", "PEER.JOIN.SUCCESS", "peer.join.success ", "recording.failure"} {
		if msg, ok := NewPayload(unknown); ok || msg != nil {
			t.Errorf("NewPayload(%q) = %v, %v; want nil, false", unknown, msg, ok)
		}
	}
}
