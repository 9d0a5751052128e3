package amity

import (
	"path/filepath"
	"testing"

	amityv1 "github.com/livegate/livegate/gen/go/livegate/amity/v1"
	"google.golang.org/protobuf/proto"
)

func TestSplit(t *testing.T) {
	two, err := DecodeStrict(readFile(t, filepath.Join(fixtureDir, "video-streaming.didRecord.two-streams.json")))
	if err != nil {
		t.Fatal(err)
	}
	seed, err := DecodeStrict(readFile(t, filepath.Join(fixtureDir, "video-streaming.didStop.json")))
	if err != nil {
		t.Fatal(err)
	}
	noStreams, err := DecodeStrict([]byte(`{"event":"video-streaming.didStop","data":{"users":[{"userId":"u"}]}}`))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		in        *amityv1.Webhook
		wantIDs   []string
		wantEvent string
	}{
		{"two streams", two, []string{"6650a1b2c3d4e5f601234567", "6650a1b2c3d4e5f689abcdef"}, EventDidRecord},
		{"seed", seed, []string{"<string>"}, EventDidStop},
		{"no streams", noStreams, nil, ""},
		{"nil delivery", nil, nil, ""},
		{"nil data", &amityv1.Webhook{Event: EventDidStart}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events := Split(tt.in)
			if len(events) != len(tt.wantIDs) {
				t.Fatalf("Split gave %d events, want %d", len(events), len(tt.wantIDs))
			}
			for i, ev := range events {
				if got := ev.GetEvent(); got != tt.wantEvent {
					t.Errorf("event %d: type %q, want %q", i, got, tt.wantEvent)
				}
				if got := ev.GetVideoStreaming().GetStreamId(); got != tt.wantIDs[i] {
					t.Errorf("event %d: streamId %q, want %q", i, got, tt.wantIDs[i])
				}
				if !proto.Equal(ev.GetVideoStreaming(), tt.in.GetData().GetVideoStreamings()[i]) {
					t.Errorf("event %d: stream differs from the delivery's", i)
				}
				if !equalAll(ev.GetUsers(), tt.in.GetData().GetUsers()) {
					t.Errorf("event %d: users differ from the delivery's", i)
				}
				if !equalAll(ev.GetFiles(), tt.in.GetData().GetFiles()) {
					t.Errorf("event %d: files differ from the delivery's", i)
				}
			}
		})
	}

	// The events are independent copies.
	events := Split(two)
	events[0].GetUsers()[0].DisplayName = proto.String("changed")
	events[0].GetVideoStreaming().Title = proto.String("changed")
	if two.GetData().GetUsers()[0].GetDisplayName() == "changed" || events[1].GetUsers()[0].GetDisplayName() == "changed" {
		t.Error("events share users with the delivery or with each other")
	}
	if two.GetData().GetVideoStreamings()[0].GetTitle() == "changed" {
		t.Error("event shares its stream with the delivery")
	}
}

func equalAll[M proto.Message](a, b []M) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
