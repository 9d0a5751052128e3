package interceptors

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/structpb"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/apierror"
)

func TestRefuseNUL(t *testing.T) {
	nested, _ := structpb.NewStruct(map[string]any{"a": map[string]any{"b": []any{"ok", "x\x00"}}})
	key, _ := structpb.NewStruct(map[string]any{"k\x00": "v"})
	for _, c := range []struct {
		method string
		req    any
		field  string // "": passed to the handler
	}{
		{"/livegate.v1.EventService/ListEvents", &livegatev1.ListEventsRequest{AccountId: "a", AppId: "b", RoomId: "r\x00"}, "room_id"},
		{"/livegate.v1.EventService/ListEvents", &livegatev1.ListEventsRequest{AccountId: "a", AppId: "b", Type: []string{"hls.", "x\x00"}}, "type[1]"},
		{"/livegate.v1.EventService/ListEvents", &livegatev1.ListEventsRequest{AccountId: "a", AppId: "b", Type: []string{"hls."}}, ""},
		{"/x.Y/Z", nested, `fields["a"].struct_value.fields["b"].list_value.values[1].string_value`},
		{"/x.Y/Z", key, "fields"},
		// WebhookService checks its requests itself, after the provider's secret.
		{"/livegate.v1.WebhookService/DeliverRtmpCallback", &livegatev1.DeliverRtmpCallbackRequest{CallbackSecret: "a\x00"}, ""},
		{"/x.Y/Z", "not a message", ""},
	} {
		called := false
		_, err := refuseNUL(context.Background(), c.req, &grpc.UnaryServerInfo{FullMethod: c.method}, func(context.Context, any) (any, error) {
			called = true
			return nil, nil
		})
		var ae *apierror.Error
		switch {
		case c.field == "" && (err != nil || !called):
			t.Errorf("%s %v: %v, handler called %v; want it passed", c.method, c.req, err, called)
		case c.field != "" && (called || !errors.As(err, &ae) || ae.Reason != apierror.ReasonInvalidArgument || ae.Metadata["field"] != c.field):
			t.Errorf("%s %v: %v, handler called %v; want INVALID_ARGUMENT naming %s", c.method, c.req, err, called, c.field)
		}
	}
}
