package outbound

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	hmsv1 "github.com/livegate/livegate/gen/go/livegate/hms/v1"
	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
)

func ptr(s string) *string { return &s }

// An endpoint that asked by RealtimeKit name gets RealtimeKit's payload shape; one that asked
// by livegate type gets the event as the REST API writes it.
func TestBodies(t *testing.T) {
	at := time.Date(2026, 11, 29, 5, 30, 0, 0, time.UTC)
	join := &livegatev1.Event{Id: "e1", Sequence: 7, Type: "peer.join.success", Source: "hms", RoomId: "room-1", SessionId: "s1", PeerId: "p1",
		OccurredAt: timestamppb.New(at),
		Payload:    &livegatev1.Event_HmsPeerJoinSuccess{HmsPeerJoinSuccess: &hmsv1.PeerJoinSuccess{UserName: ptr("Ana"), UserId: ptr("u-9")}}}
	status := &livegatev1.Event{Id: "e2", Type: "livestream.status_changed", Source: "livegate", RoomId: "room-1",
		Payload: &livegatev1.Event_LivestreamStatusChanged{LivestreamStatusChanged: &livegatev1.LivestreamStatusChanged{
			LivestreamId: "ls-1", NewStatus: livegatev1.LivestreamStatus_ERRORED, SessionId: "sess-1", Reason: "ingest lost"}}}
	for _, tc := range []struct {
		ev   *livegatev1.Event
		rtk  string
		want map[string]any
	}{
		{join, "meeting.participantJoined", map[string]any{"event": "meeting.participantJoined",
			"meeting":     map[string]any{"id": "room-1", "sessionId": "s1"},
			"participant": map[string]any{"peerId": "p1", "userDisplayName": "Ana", "customParticipantId": "u-9", "joinedAt": "2026-11-29T05:30:00Z"}}},
		{status, "livestreaming.statusUpdate", map[string]any{"event": "livestreaming.statusUpdate",
			"meeting":  map[string]any{"id": "room-1", "sessionId": "sess-1"},
			"streamId": "ls-1", "status": "ERRORED", "reason": "ingest lost"}},
	} {
		b, err := body(tc.ev, tc.rtk)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s body\n%s\nwant %v", tc.rtk, b, tc.want)
		}
	}
	b, err := body(join, "")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got["sequence"] != "7" || got["type"] != "peer.join.success" || got["hms_peer_join_success"] == nil || got["beam_id"] != "" {
		t.Errorf("livegate body (as REST and SSE write it: proto names, defaults emitted, 64-bit as strings) %s", b)
	}
}
