package interceptors

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
)

func TestLowerUUIDs(t *testing.T) {
	for _, c := range []struct {
		req, want any
	}{
		{&livegatev1.GetLivestreamRequest{AccountId: "Acc", AppId: "App", LivestreamId: "0D2F6E2C-AAAA-4BBB-8CCC-DDDDEEEEFFFF"},
			&livegatev1.GetLivestreamRequest{AccountId: "Acc", AppId: "App", LivestreamId: "0d2f6e2c-aaaa-4bbb-8ccc-ddddeeeeffff"}},
		{&livegatev1.GetWebhookRequest{AccountId: "A", AppId: "B", WebhookId: "ABCDEF01-0000-4000-8000-000000000000"},
			&livegatev1.GetWebhookRequest{AccountId: "A", AppId: "B", WebhookId: "abcdef01-0000-4000-8000-000000000000"}},
		// Not UUIDs by their schema: left as sent.
		{&livegatev1.StartMeetingLivestreamRequest{AccountId: "A", AppId: "B", MeetingId: "Standup-ABC"},
			&livegatev1.StartMeetingLivestreamRequest{AccountId: "A", AppId: "B", MeetingId: "Standup-ABC"}},
		{"not a message", "not a message"},
	} {
		var got any
		_, _ = lowerUUIDs(context.Background(), c.req, &grpc.UnaryServerInfo{}, func(_ context.Context, req any) (any, error) {
			got = req
			return nil, nil
		})
		if s, ok := c.want.(string); ok {
			if got != s {
				t.Errorf("%v: handler got %v", c.req, got)
			}
			continue
		}
		if g, ok := got.(proto.Message); !ok || !proto.Equal(g, c.want.(proto.Message)) {
			t.Errorf("handler got %v, want %v", got, c.want)
		}
	}
}
