package webhookendpoint_test

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/services/webhookendpoint"
)

// TestURLPortRefused: a url whose port is not a number from 1 to 65535 is INVALID_ARGUMENT
// naming url on create, edit and replace (url.Parse lets :0 and :99999 through, and every
// delivery to them would fail); a valid port is accepted. Nothing refused is stored.
func TestURLPortRefused(t *testing.T) {
	r := newRig(t, webhookendpoint.Options{})
	ctx := t.Context()
	ev := []string{"livestream.status_changed"}
	bad := []struct {
		url   string
		words []string
	}{
		{"https://8.8.8.8:0/", []string{"url:", `port "0"`, "1 to 65535"}},
		{"https://8.8.8.8:99999/", []string{"url:", `port "99999"`, "1 to 65535"}},
		{"https://8.8.8.8:-1/", []string{"url:", "port"}},
		{"https://8.8.8.8:abc/", []string{"url:", "port"}},
	}
	field := map[string]string{"field": "url"}
	for _, tc := range bad {
		_, err := r.client.CreateWebhook(ctx, createReq("x", tc.url, ev...))
		wantError(t, "create with "+tc.url, err, codes.InvalidArgument, apierror.ReasonInvalidArgument, field, tc.words...)
	}
	l, err := r.client.ListWebhooks(ctx, &livegatev1.ListWebhooksRequest{AccountId: acc, AppId: app})
	if err != nil || len(l.GetData()) != 0 {
		t.Errorf("after refused creates: %v, %v", l, err)
	}

	const good = "https://8.8.8.8:8443/hooks"
	c, err := r.client.CreateWebhook(ctx, createReq("x", good, ev...))
	if err != nil {
		t.Fatalf("create with %s: %v", good, err)
	}
	id := c.GetData().GetId()
	for _, tc := range bad {
		_, err := r.client.EditWebhook(ctx, &livegatev1.EditWebhookRequest{AccountId: acc, AppId: app, WebhookId: id, Url: proto.String(tc.url)})
		wantError(t, "edit to "+tc.url, err, codes.InvalidArgument, apierror.ReasonInvalidArgument, field, tc.words...)
		_, err = r.client.ReplaceWebhook(ctx, &livegatev1.ReplaceWebhookRequest{AccountId: acc, AppId: app, WebhookId: id, Name: "x", Url: tc.url, Events: ev})
		wantError(t, "replace with "+tc.url, err, codes.InvalidArgument, apierror.ReasonInvalidArgument, field, tc.words...)
	}
	if got := r.stored(t, tenant, id).URL; got != good {
		t.Errorf("after refused edits and replaces the url is %q, want %q", got, good)
	}
	if _, err := r.client.EditWebhook(ctx, &livegatev1.EditWebhookRequest{AccountId: acc, AppId: app, WebhookId: id, Url: proto.String("https://8.8.8.8:65535/")}); err != nil {
		t.Errorf("edit to port 65535: %v", err)
	}
}
