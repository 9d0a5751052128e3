package payload_test

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	amityv1 "github.com/livegate/livegate/gen/go/livegate/amity/v1"
	rtmpv1 "github.com/livegate/livegate/gen/go/livegate/rtmp/v1"
	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/amity"
	"github.com/livegate/livegate/internal/hms"
	"github.com/livegate/livegate/internal/payload"
	"github.com/livegate/livegate/internal/rtmp"
)

// TestOneofCoversEveryType proves Event.payload has a case, of the right message type, for
// every event type the decoders know, and no case that no decoder produces.
func TestOneofCoversEveryType(t *testing.T) {
	want := map[protoreflect.Name]protoreflect.FullName{}
	for _, typ := range hms.Types() {
		msg, ok := hms.NewPayload(typ)
		if !ok {
			t.Fatalf("hms.Types lists %q but NewPayload has none", typ)
		}
		want[protoreflect.Name(payload.FieldName(payload.SourceHMS, typ))] = msg.ProtoReflect().Descriptor().FullName()
	}
	if n := len(hms.Types()); n != 32 {
		t.Errorf("hms knows %d types, want the 32 documented", n)
	}
	for _, typ := range amity.Types() {
		want[protoreflect.Name(payload.FieldName(payload.SourceAmity, typ))] = (&amityv1.VideoStreamingEvent{}).ProtoReflect().Descriptor().FullName()
	}
	if n := len(amity.Types()); n != 5 {
		t.Errorf("amity knows %d types, want 5", n)
	}
	for _, call := range []string{rtmp.CallPublish, rtmp.CallPublishDone, rtmp.CallPlay, rtmp.CallPlayDone, rtmp.CallDone, rtmp.CallRecordDone} {
		want[protoreflect.Name(payload.FieldName(payload.SourceRTMP, call))] = (&rtmpv1.Callback{}).ProtoReflect().Descriptor().FullName()
	}
	want[protoreflect.Name(payload.FieldName(payload.SourceLivegate, payload.TypeStatusChanged))] = (&livegatev1.LivestreamStatusChanged{}).ProtoReflect().Descriptor().FullName()
	want[protoreflect.Name(payload.FieldName(payload.SourceLivegate, payload.TypeWebhookEndpointDisabled))] = (&livegatev1.WebhookEndpointDisabled{}).ProtoReflect().Descriptor().FullName()
	want["unknown"] = (&livegatev1.UnknownPayload{}).ProtoReflect().Descriptor().FullName()

	fields := (&livegatev1.Event{}).ProtoReflect().Descriptor().Oneofs().ByName("payload").Fields()
	got := map[protoreflect.Name]protoreflect.FullName{}
	for i := range fields.Len() {
		got[fields.Get(i).Name()] = fields.Get(i).Message().FullName()
	}
	for name, msg := range want {
		if got[name] != msg {
			t.Errorf("Event.payload case %s: has %q, want %s", name, got[name], msg)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("Event.payload case %s matches no known event type", name)
		}
	}
}

func TestFieldName(t *testing.T) {
	for _, tc := range []struct{ source, typ, want string }{
		{"hms", "peer.join.success", "hms_peer_join_success"},
		{"amity", "video-streaming.didStop", "amity_video_streaming_did_stop"},
		{"rtmp", "publish_done", "rtmp_publish_done"},
		{"livegate", "livestream.status_changed", "livestream_status_changed"},
	} {
		if got := payload.FieldName(tc.source, tc.typ); got != tc.want {
			t.Errorf("FieldName(%q, %q) = %q, want %q", tc.source, tc.typ, got, tc.want)
		}
	}
}

func TestSet(t *testing.T) {
	msg, _ := hms.NewPayload("hls.started.success")
	ev := &livegatev1.Event{}
	if err := payload.Set(ev, payload.SourceHMS, "hls.started.success", msg); err != nil {
		t.Fatal(err)
	}
	if got := ev.GetHmsHlsStartedSuccess(); got == nil || !proto.Equal(got, msg) {
		t.Errorf("payload not set as hms_hls_started_success: %v", ev)
	}
	if err := payload.Set(ev, payload.SourceHMS, "hls.stopped.success", msg); err == nil {
		t.Error("Set accepted a message of the wrong type")
	}
	if err := payload.Set(ev, payload.SourceHMS, "no.such.type", msg); err == nil {
		t.Error("Set accepted an unknown type")
	}
}
