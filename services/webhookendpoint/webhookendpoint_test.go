package webhookendpoint_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/auth"
	"github.com/livegate/livegate/internal/netguard"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/sqlite"
	"github.com/livegate/livegate/internal/testenv"
	"github.com/livegate/livegate/services/webhookendpoint"
)

const acc, app, otherApp = "acc", "app", "other"

var (
	tenant = store.Tenant{AccountID: acc, AppID: app}
	other  = store.Tenant{AccountID: acc, AppID: otherApp}
	t0     = time.Date(2026, 11, 29, 5, 0, 0, 0, time.UTC)
)

// publicURL is a URL on a public address, accepted without DNS and without the
// development flags.
const publicURL = "https://93.184.215.14/hooks/livegate"

// deliverer records what the service tells it; Ping answers with a canned attempt.
type deliverer struct {
	mu    sync.Mutex
	woken []string
	pings []store.WebhookEndpoint
}

func (d *deliverer) Wake(t store.Tenant, id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.woken = append(d.woken, t.AppID+"/"+id)
}

func (d *deliverer) Ping(_ context.Context, e store.WebhookEndpoint) (store.WebhookAttempt, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pings = append(d.pings, e)
	return store.WebhookAttempt{Tenant: e.Tenant, EndpointID: e.ID, ID: 7, At: t0, EventID: "msg_ping", EventType: "webhook.test",
		Attempt: 1, StatusCode: 204, Latency: 1500 * time.Microsecond, Outcome: store.WebhookSucceeded}, nil
}

func (d *deliverer) wakes() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.woken)
}

// rig is a WebhookEndpointService on a real SQLite store with two apps, served on an
// in-memory gRPC connection behind livegate's interceptor chain; client calls as app,
// otherClient as the other app.
type rig struct {
	st          store.Store
	d           *deliverer
	client      livegatev1.WebhookEndpointServiceClient
	otherClient livegatev1.WebhookEndpointServiceClient
	// now is the clock; each reading advances it by tick (0: it stands still).
	mu   sync.Mutex
	now  time.Time
	tick time.Duration
}

func newRig(t *testing.T, opts webhookendpoint.Options, noDeliverer ...bool) *rig {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	creds, err := auth.CreateApp(t.Context(), st, tenant, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	otherCreds, err := auth.CreateApp(t.Context(), st, other, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{st: st, d: &deliverer{}, now: t0}
	if len(noDeliverer) == 0 {
		opts.Deliverer = r.d
	}
	opts.Now = func() time.Time {
		r.mu.Lock()
		defer r.mu.Unlock()
		now := r.now
		r.now = r.now.Add(r.tick)
		return now
	}
	srv := webhookendpoint.NewServer(st, opts)
	conn := testenv.ServeGRPC(t, st, func(s *grpc.Server) { livegatev1.RegisterWebhookEndpointServiceServer(s, srv) })
	c := livegatev1.NewWebhookEndpointServiceClient(conn)
	r.client = tokenClient{c, creds.APIToken}
	r.otherClient = tokenClient{c, otherCreds.APIToken}
	return r
}

// tokenClient calls with a bearer token.
type tokenClient struct {
	livegatev1.WebhookEndpointServiceClient
	token string
}

func (c tokenClient) ctx(ctx context.Context) context.Context { return testenv.WithToken(ctx, c.token) }

func (c tokenClient) CreateWebhook(ctx context.Context, in *livegatev1.CreateWebhookRequest, o ...grpc.CallOption) (*livegatev1.CreateWebhookResponse, error) {
	return c.WebhookEndpointServiceClient.CreateWebhook(c.ctx(ctx), in, o...)
}
func (c tokenClient) ListWebhooks(ctx context.Context, in *livegatev1.ListWebhooksRequest, o ...grpc.CallOption) (*livegatev1.ListWebhooksResponse, error) {
	return c.WebhookEndpointServiceClient.ListWebhooks(c.ctx(ctx), in, o...)
}
func (c tokenClient) GetWebhook(ctx context.Context, in *livegatev1.GetWebhookRequest, o ...grpc.CallOption) (*livegatev1.GetWebhookResponse, error) {
	return c.WebhookEndpointServiceClient.GetWebhook(c.ctx(ctx), in, o...)
}
func (c tokenClient) EditWebhook(ctx context.Context, in *livegatev1.EditWebhookRequest, o ...grpc.CallOption) (*livegatev1.EditWebhookResponse, error) {
	return c.WebhookEndpointServiceClient.EditWebhook(c.ctx(ctx), in, o...)
}
func (c tokenClient) ReplaceWebhook(ctx context.Context, in *livegatev1.ReplaceWebhookRequest, o ...grpc.CallOption) (*livegatev1.ReplaceWebhookResponse, error) {
	return c.WebhookEndpointServiceClient.ReplaceWebhook(c.ctx(ctx), in, o...)
}
func (c tokenClient) DeleteWebhook(ctx context.Context, in *livegatev1.DeleteWebhookRequest, o ...grpc.CallOption) (*livegatev1.DeleteWebhookResponse, error) {
	return c.WebhookEndpointServiceClient.DeleteWebhook(c.ctx(ctx), in, o...)
}
func (c tokenClient) RotateWebhookSecret(ctx context.Context, in *livegatev1.RotateWebhookSecretRequest, o ...grpc.CallOption) (*livegatev1.RotateWebhookSecretResponse, error) {
	return c.WebhookEndpointServiceClient.RotateWebhookSecret(c.ctx(ctx), in, o...)
}
func (c tokenClient) ListWebhookDeliveries(ctx context.Context, in *livegatev1.ListWebhookDeliveriesRequest, o ...grpc.CallOption) (*livegatev1.ListWebhookDeliveriesResponse, error) {
	return c.WebhookEndpointServiceClient.ListWebhookDeliveries(c.ctx(ctx), in, o...)
}
func (c tokenClient) ReplayWebhook(ctx context.Context, in *livegatev1.ReplayWebhookRequest, o ...grpc.CallOption) (*livegatev1.ReplayWebhookResponse, error) {
	return c.WebhookEndpointServiceClient.ReplayWebhook(c.ctx(ctx), in, o...)
}
func (c tokenClient) TestWebhook(ctx context.Context, in *livegatev1.TestWebhookRequest, o ...grpc.CallOption) (*livegatev1.TestWebhookResponse, error) {
	return c.WebhookEndpointServiceClient.TestWebhook(c.ctx(ctx), in, o...)
}

func createReq(name, url string, events ...string) *livegatev1.CreateWebhookRequest {
	return &livegatev1.CreateWebhookRequest{AccountId: acc, AppId: app, Name: name, Url: url, Events: events}
}

func (r *rig) create(t *testing.T, name string, events ...string) *livegatev1.WebhookEndpoint {
	t.Helper()
	resp, err := r.client.CreateWebhook(t.Context(), createReq(name, publicURL, events...))
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return resp.GetData()
}

// appendEvents appends n events of the tenant to the feed and returns the head.
func (r *rig) appendEvents(t *testing.T, tn store.Tenant, n int) uint64 {
	t.Helper()
	var head uint64
	err := r.st.Update(t.Context(), func(w store.Writer) error {
		for range n {
			e := &store.Event{Tenant: tn, Source: "hms", Type: "peer.join.success", DeliveryID: uuid.NewString(), DedupeKey: uuid.NewString(), ReceivedAt: r.now, Body: []byte{}}
			if err := w.AppendEvent(t.Context(), e); err != nil {
				return err
			}
			head = e.Sequence
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return head
}

func (r *rig) stored(t *testing.T, tn store.Tenant, id string) store.WebhookEndpoint {
	t.Helper()
	var e store.WebhookEndpoint
	if err := r.st.View(t.Context(), func(rd store.Reader) error {
		var err error
		e, err = rd.WebhookEndpoint(t.Context(), tn, id)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return e
}

// wantError checks err's code, ErrorInfo reason, metadata and words in the message.
func wantError(t *testing.T, what string, err error, code codes.Code, reason apierror.Reason, metadata map[string]string, words ...string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Errorf("%s: got %v %q, want %v", what, st.Code(), st.Message(), code)
		return
	}
	if reason != "" {
		info := apierror.Info(st)
		if info.GetReason() != string(reason) || info.GetDomain() != apierror.Domain {
			t.Errorf("%s: ErrorInfo %v, want reason %s", what, info, reason)
		}
		for k, v := range metadata {
			if got, ok := info.GetMetadata()[k]; !ok || (v != "*" && got != v) {
				t.Errorf("%s: metadata %s = %q, want %q (%v)", what, k, got, v, info.GetMetadata())
			}
		}
	}
	for _, w := range words {
		if !strings.Contains(st.Message(), w) {
			t.Errorf("%s: message %q lacks %q", what, st.Message(), w)
		}
	}
}

// TestCreateAndRead: a created webhook has RealtimeKit's fields as given (enabled by
// default), a Standard Webhooks secret shown only in the create answer, its cursor at the
// feed's head (so it gets the events after its creation), state enabled; get and list show
// it without the secret, list oldest first; the deliverer is woken.
func TestCreateAndRead(t *testing.T) {
	r := newRig(t, webhookendpoint.Options{})
	head := r.appendEvents(t, tenant, 3)
	r.appendEvents(t, other, 2) // the feed's head is every tenant's
	head += 2

	got := r.create(t, "first", "livestreaming.statusUpdate", "hls.", "meeting.started")
	if _, err := uuid.Parse(got.GetId()); err != nil {
		t.Errorf("id %q is not a UUID", got.GetId())
	}
	if got.GetName() != "first" || got.GetUrl() != publicURL || !slices.Equal(got.GetEvents(), []string{"livestreaming.statusUpdate", "hls.", "meeting.started"}) || !got.GetEnabled() {
		t.Errorf("created %v", got)
	}
	if !got.GetCreatedAt().AsTime().Equal(t0) || !got.GetUpdatedAt().AsTime().Equal(t0) {
		t.Errorf("created_at %v updated_at %v, want %v", got.GetCreatedAt().AsTime(), got.GetUpdatedAt().AsTime(), t0)
	}
	secret, ok := strings.CutPrefix(got.GetSecret(), "whsec_")
	if key, err := base64.StdEncoding.DecodeString(secret); !ok || err != nil || len(key) != 24 {
		t.Errorf("secret %q: want whsec_ and the base64 of 24 bytes", got.GetSecret())
	}
	if got.GetCursor() != head || got.GetState() != webhookendpoint.StateEnabled || got.GetDisabledReason() != "" || got.GetFailingSince() != nil || got.GetPreviousSecretExpiresAt() != nil {
		t.Errorf("cursor %d (want the head %d), state %q, reason %q, failing_since %v, previous secret until %v",
			got.GetCursor(), head, got.GetState(), got.GetDisabledReason(), got.GetFailingSince(), got.GetPreviousSecretExpiresAt())
	}
	if s := r.stored(t, tenant, got.GetId()); s.Secret != got.GetSecret() || s.Cursor != head {
		t.Errorf("stored secret %q cursor %d", s.Secret, s.Cursor)
	}

	r.now = t0.Add(time.Minute)
	off := false
	resp, err := r.client.CreateWebhook(t.Context(), &livegatev1.CreateWebhookRequest{AccountId: acc, AppId: app, Name: "second", Url: publicURL, Events: []string{"peer."}, Enabled: &off})
	if err != nil {
		t.Fatal(err)
	}
	second := resp.GetData()
	if second.GetEnabled() || second.GetState() != webhookendpoint.StateDisabled || second.GetSecret() == got.GetSecret() {
		t.Errorf("created disabled: %v", second)
	}

	g, err := r.client.GetWebhook(t.Context(), &livegatev1.GetWebhookRequest{AccountId: acc, AppId: app, WebhookId: got.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	want := proto.Clone(got).(*livegatev1.WebhookEndpoint)
	want.Secret = nil
	if !g.GetSuccess() || !proto.Equal(g.GetData(), want) {
		t.Errorf("get: success %v, %v; want %v", g.GetSuccess(), g.GetData(), want)
	}
	l, err := r.client.ListWebhooks(t.Context(), &livegatev1.ListWebhooksRequest{AccountId: acc, AppId: app})
	if err != nil {
		t.Fatal(err)
	}
	if !l.GetSuccess() || len(l.GetData()) != 2 || l.GetData()[0].GetId() != got.GetId() || l.GetData()[1].GetId() != second.GetId() {
		t.Fatalf("list: %v", l)
	}
	for _, e := range l.GetData() {
		if e.Secret != nil {
			t.Errorf("list shows the secret of %s", e.GetId())
		}
	}
	l, err = r.otherClient.ListWebhooks(t.Context(), &livegatev1.ListWebhooksRequest{AccountId: acc, AppId: otherApp})
	if err != nil || len(l.GetData()) != 0 {
		t.Errorf("the other app's list: %v, %v", l, err)
	}
	if w := r.d.wakes(); !slices.Equal(w, []string{app + "/" + got.GetId(), app + "/" + second.GetId()}) {
		t.Errorf("woken %v", w)
	}
}

// TestCreateRefused: what a create refuses, with INVALID_ARGUMENT naming the field and the
// rule; nothing is stored.
func TestCreateRefused(t *testing.T) {
	r := newRig(t, webhookendpoint.Options{})
	ctx := t.Context()
	ev := []string{"livestream.status_changed"}
	for _, tc := range []struct {
		name  string
		req   *livegatev1.CreateWebhookRequest
		field string
		words []string
	}{
		{"no name", createReq("", publicURL, ev...), "", []string{"name"}},
		{"name too long", createReq(strings.Repeat("n", 257), publicURL, ev...), "", []string{"name"}},
		{"no url", createReq("x", "", ev...), "url", []string{"url: is required"}},
		{"http", createReq("x", "http://93.184.215.14/h", ev...), "url", []string{"must be https", "--webhooks-allow-http"}},
		{"ftp", createReq("x", "ftp://93.184.215.14/h", ev...), "url", []string{"https"}},
		{"loopback", createReq("x", "https://127.0.0.1/h", ev...), "url", []string{"127.0.0.1", "public addresses only", "--webhooks-allow-private"}},
		{"private", createReq("x", "https://10.1.2.3:8443/h", ev...), "url", []string{"10.1.2.3", "public addresses only"}},
		{"metadata service", createReq("x", "https://169.254.169.254/latest/meta-data", ev...), "url", []string{"169.254.169.254"}},
		{"IPv6 loopback", createReq("x", "https://[::1]:8443/h", ev...), "url", []string{"::1"}},
		{"a name resolving to loopback", createReq("x", "https://localhost/h", ev...), "url", []string{"localhost"}},
		{"url too long", createReq("x", "https://93.184.215.14/"+strings.Repeat("a", netguard.MaxURLBytes), ev...), "url", []string{"at most 2048"}},
		{"no events", createReq("x", publicURL), "events", []string{"at least 1"}},
		{"chat", createReq("x", publicURL, "meeting.started", "meeting.chatSynced"), "events", []string{"meeting.chatSynced (livegate has no chat source)"}},
		{"duplicate", createReq("x", publicURL, "hls.", "hls."), "events[1]", []string{"listed twice"}},
		{"entry too long", createReq("x", publicURL, strings.Repeat("a", 129)), "events[0]", []string{"at most 128 bytes"}},
	} {
		_, err := r.client.CreateWebhook(ctx, tc.req)
		if tc.field == "" { // the proto's rules (protovalidate): INVALID_ARGUMENT naming the field
			wantError(t, tc.name, err, codes.InvalidArgument, "", nil, tc.words...)
			continue
		}
		wantError(t, tc.name, err, codes.InvalidArgument, apierror.ReasonInvalidArgument, map[string]string{"field": tc.field}, tc.words...)
	}
	l, err := r.client.ListWebhooks(ctx, &livegatev1.ListWebhooksRequest{AccountId: acc, AppId: app})
	if err != nil || len(l.GetData()) != 0 {
		t.Errorf("after refused creates: %v, %v", l, err)
	}
}

// TestDevelopmentFlags: --webhooks-allow-http and --webhooks-allow-private let a create
// name an http URL on loopback or a private address.
func TestDevelopmentFlags(t *testing.T) {
	r := newRig(t, webhookendpoint.Options{Policy: netguard.Policy{AllowHTTP: true, AllowPrivate: true}})
	for _, u := range []string{"http://127.0.0.1:9/h", "https://10.0.0.1/h", "http://[::1]:8080/", "https://169.254.169.254/", "http://localhost:3000/hook"} {
		if _, err := r.client.CreateWebhook(t.Context(), createReq("dev", u, "hls.")); err != nil {
			t.Errorf("create on %s with the development flags: %v", u, err)
		}
	}
	// AllowPrivate alone still wants https.
	r = newRig(t, webhookendpoint.Options{Policy: netguard.Policy{AllowPrivate: true}})
	_, err := r.client.CreateWebhook(t.Context(), createReq("dev", "http://127.0.0.1:9/h", "hls."))
	wantError(t, "http with AllowPrivate alone", err, codes.InvalidArgument, apierror.ReasonInvalidArgument, map[string]string{"field": "url"}, "https")
}

// TestMaxPerApp: past the app's limit a create is TOO_MANY_REQUESTS (RESOURCE_EXHAUSTED,
// HTTP 429) naming the limit, without a retry delay (waiting frees nothing); another app
// is not held to this app's count; a delete makes room.
func TestMaxPerApp(t *testing.T) {
	r := newRig(t, webhookendpoint.Options{MaxPerApp: 2})
	a := r.create(t, "a", "hls.")
	r.create(t, "b", "hls.")
	_, err := r.client.CreateWebhook(t.Context(), createReq("c", publicURL, "hls."))
	wantError(t, "a third webhook", err, codes.ResourceExhausted, apierror.ReasonTooManyRequests,
		map[string]string{"limit": "2", "scope": "app"}, "limit of 2 webhooks", "delete one")
	if _, ok := apierror.Info(status.Convert(err)).GetMetadata()[apierror.RetryAfterKey]; ok {
		t.Errorf("the limit's error carries %s: waiting frees nothing", apierror.RetryAfterKey)
	}
	if _, err := r.otherClient.CreateWebhook(t.Context(), &livegatev1.CreateWebhookRequest{AccountId: acc, AppId: otherApp, Name: "o", Url: publicURL, Events: []string{"hls."}}); err != nil {
		t.Errorf("another app's create: %v", err)
	}
	if _, err := r.client.DeleteWebhook(t.Context(), &livegatev1.DeleteWebhookRequest{AccountId: acc, AppId: app, WebhookId: a.GetId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.client.CreateWebhook(t.Context(), createReq("c", publicURL, "hls.")); err != nil {
		t.Errorf("a create after a delete: %v", err)
	}

	// The default is 20.
	r = newRig(t, webhookendpoint.Options{})
	for i := range webhookendpoint.DefaultMaxPerApp {
		r.create(t, fmt.Sprint(i), "hls.")
	}
	_, err = r.client.CreateWebhook(t.Context(), createReq("one too many", publicURL, "hls."))
	wantError(t, "webhook 21", err, codes.ResourceExhausted, apierror.ReasonTooManyRequests, map[string]string{"limit": "20"})
}

// TestEditAndReplace: an edit changes only the fields it sets; a replace sets them all
// (enabled by default); neither touches the id, secret, cursor or creation time; enabling an
// endpoint livegate disabled clears its reason and its run of failures; a refused edit
// changes nothing.
func TestEditAndReplace(t *testing.T) {
	r := newRig(t, webhookendpoint.Options{})
	ctx := t.Context()
	created := r.create(t, "orig", "hls.", "peer.")
	id := created.GetId()
	before := r.stored(t, tenant, id)

	r.now = t0.Add(time.Minute)
	name := "renamed"
	resp, err := r.client.EditWebhook(ctx, &livegatev1.EditWebhookRequest{AccountId: acc, AppId: app, WebhookId: id, Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	e := resp.GetData()
	if e.GetName() != "renamed" || e.GetUrl() != publicURL || !slices.Equal(e.GetEvents(), []string{"hls.", "peer."}) || !e.GetEnabled() ||
		!e.GetCreatedAt().AsTime().Equal(t0) || !e.GetUpdatedAt().AsTime().Equal(r.now) || e.Secret != nil {
		t.Errorf("after editing the name: %v", e)
	}

	off := false
	url := "https://93.184.215.15/other"
	resp, err = r.client.EditWebhook(ctx, &livegatev1.EditWebhookRequest{AccountId: acc, AppId: app, WebhookId: id, Enabled: &off, Url: &url, Events: []string{"meeting.ended"}})
	if err != nil {
		t.Fatal(err)
	}
	e = resp.GetData()
	if e.GetName() != "renamed" || e.GetUrl() != url || !slices.Equal(e.GetEvents(), []string{"meeting.ended"}) || e.GetEnabled() || e.GetState() != webhookendpoint.StateDisabled {
		t.Errorf("after editing url, events, enabled: %v", e)
	}

	for _, tc := range []struct {
		what  string
		req   *livegatev1.EditWebhookRequest
		field string
	}{
		{"a private url", &livegatev1.EditWebhookRequest{AccountId: acc, AppId: app, WebhookId: id, Url: proto.String("https://192.168.1.1/")}, "url"},
		{"an empty url", &livegatev1.EditWebhookRequest{AccountId: acc, AppId: app, WebhookId: id, Url: proto.String("")}, "url"},
		{"transcripts", &livegatev1.EditWebhookRequest{AccountId: acc, AppId: app, WebhookId: id, Events: []string{"meeting.transcript"}}, "events"},
	} {
		_, err := r.client.EditWebhook(ctx, tc.req)
		wantError(t, "edit to "+tc.what, err, codes.InvalidArgument, apierror.ReasonInvalidArgument, map[string]string{"field": tc.field})
	}
	_, err = r.client.EditWebhook(ctx, &livegatev1.EditWebhookRequest{AccountId: acc, AppId: app, WebhookId: id, Name: proto.String("")})
	wantError(t, "edit to an empty name", err, codes.InvalidArgument, "", nil, "name")

	// livegate disabled it after a run of failures; the app enables it again.
	if err := r.st.Update(ctx, func(w store.Writer) error {
		s, err := w.WebhookEndpoint(ctx, tenant, id)
		if err != nil {
			return err
		}
		s.DisabledReason = "every delivery failed for 3 days"
		if err := w.UpdateWebhookEndpoint(ctx, s); err != nil {
			return err
		}
		_, err = w.MoveWebhookCursor(ctx, tenant, id, s.Cursor, s.Cursor, t0.Add(-72*time.Hour))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	g, _ := r.client.GetWebhook(ctx, &livegatev1.GetWebhookRequest{AccountId: acc, AppId: app, WebhookId: id})
	if g.GetData().GetDisabledReason() == "" || g.GetData().GetFailingSince() == nil || g.GetData().GetState() != webhookendpoint.StateDisabled {
		t.Errorf("disabled by livegate: %v", g.GetData())
	}
	// Disabling it again keeps livegate's reason.
	_, err = r.client.EditWebhook(ctx, &livegatev1.EditWebhookRequest{AccountId: acc, AppId: app, WebhookId: id, Enabled: &off})
	if err != nil {
		t.Fatal(err)
	}
	if s := r.stored(t, tenant, id); s.DisabledReason == "" {
		t.Errorf("disabling an endpoint livegate disabled dropped its reason")
	}
	on := true
	resp, err = r.client.EditWebhook(ctx, &livegatev1.EditWebhookRequest{AccountId: acc, AppId: app, WebhookId: id, Enabled: &on})
	if err != nil {
		t.Fatal(err)
	}
	if e := resp.GetData(); !e.GetEnabled() || e.GetDisabledReason() != "" || e.GetFailingSince() != nil || e.GetState() != webhookendpoint.StateEnabled {
		t.Errorf("enabled again: %v", e)
	}

	r.now = t0.Add(time.Hour)
	rresp, err := r.client.ReplaceWebhook(ctx, &livegatev1.ReplaceWebhookRequest{AccountId: acc, AppId: app, WebhookId: id, Name: "replaced", Url: publicURL, Events: []string{"recording.statusUpdate"}})
	if err != nil {
		t.Fatal(err)
	}
	e = rresp.GetData()
	if e.GetName() != "replaced" || e.GetUrl() != publicURL || !slices.Equal(e.GetEvents(), []string{"recording.statusUpdate"}) || !e.GetEnabled() ||
		!e.GetCreatedAt().AsTime().Equal(t0) || !e.GetUpdatedAt().AsTime().Equal(r.now) || e.GetId() != id {
		t.Errorf("replaced: %v", e)
	}
	_, err = r.client.ReplaceWebhook(ctx, &livegatev1.ReplaceWebhookRequest{AccountId: acc, AppId: app, WebhookId: id, Name: "x", Url: publicURL})
	wantError(t, "replace without events", err, codes.InvalidArgument, apierror.ReasonInvalidArgument, map[string]string{"field": "events"})
	_, err = r.client.ReplaceWebhook(ctx, &livegatev1.ReplaceWebhookRequest{AccountId: acc, AppId: app, WebhookId: id, Name: "x", Events: []string{"hls."}})
	wantError(t, "replace without url", err, codes.InvalidArgument, apierror.ReasonInvalidArgument, map[string]string{"field": "url"})

	after := r.stored(t, tenant, id)
	if after.Secret != before.Secret || after.Cursor != before.Cursor || !after.CreatedAt.Equal(before.CreatedAt) || after.Name != "replaced" {
		t.Errorf("the edits changed what they must not: before %+v, after %+v", before, after)
	}
	if n := len(r.d.wakes()); n != 6 { // create, 3 edits that passed, enable, replace
		t.Errorf("woken %d times, want 6: %v", n, r.d.wakes())
	}
}

// TestDelete: a delete answers with the webhook as it was, and removes it and its
// delivery log; a second delete is NOT_FOUND.
func TestDelete(t *testing.T) {
	r := newRig(t, webhookendpoint.Options{})
	ctx := t.Context()
	e := r.create(t, "gone", "hls.")
	keep := r.create(t, "kept", "hls.")
	if err := r.st.Update(ctx, func(w store.Writer) error {
		a := store.WebhookAttempt{Tenant: tenant, EndpointID: e.GetId(), At: t0, EventID: "x", EventType: "hls.started.success", Attempt: 1, StatusCode: 200, Outcome: store.WebhookSucceeded}
		return w.AppendWebhookAttempt(ctx, &a)
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := r.client.DeleteWebhook(ctx, &livegatev1.DeleteWebhookRequest{AccountId: acc, AppId: app, WebhookId: e.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	want := proto.Clone(e).(*livegatev1.WebhookEndpoint)
	want.Secret = nil
	if !resp.GetSuccess() || !proto.Equal(resp.GetData(), want) {
		t.Errorf("delete answered %v, want %v", resp.GetData(), want)
	}
	_, err = r.client.DeleteWebhook(ctx, &livegatev1.DeleteWebhookRequest{AccountId: acc, AppId: app, WebhookId: e.GetId()})
	wantError(t, "delete twice", err, codes.NotFound, apierror.ReasonNotFound, map[string]string{"resource": "webhook", "id": e.GetId()})
	_, err = r.client.GetWebhook(ctx, &livegatev1.GetWebhookRequest{AccountId: acc, AppId: app, WebhookId: e.GetId()})
	wantError(t, "get after delete", err, codes.NotFound, apierror.ReasonNotFound, nil)
	if err := r.st.View(ctx, func(rd store.Reader) error {
		as, err := rd.WebhookAttempts(ctx, tenant, e.GetId(), 0, 10)
		if len(as) != 0 {
			t.Errorf("the deleted webhook's log has %d attempts", len(as))
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	l, _ := r.client.ListWebhooks(ctx, &livegatev1.ListWebhooksRequest{AccountId: acc, AppId: app})
	if len(l.GetData()) != 1 || l.GetData()[0].GetId() != keep.GetId() {
		t.Errorf("list after delete: %v", l.GetData())
	}
	if w := r.d.wakes(); w[len(w)-1] != app+"/"+e.GetId() {
		t.Errorf("the delete did not wake the deliverer: %v", w)
	}
}

// TestTenantIsolation: another app's webhook is NOT_FOUND on every call (by its id, on the
// caller's own path), and an app's token on another app's path is PERMISSION_DENIED.
func TestTenantIsolation(t *testing.T) {
	r := newRig(t, webhookendpoint.Options{})
	ctx := t.Context()
	e := r.create(t, "mine", "hls.")
	id := e.GetId()
	c := r.otherClient
	nf := map[string]string{"resource": "webhook", "id": id}
	calls := map[string]func() error{
		"get": func() error {
			_, err := c.GetWebhook(ctx, &livegatev1.GetWebhookRequest{AccountId: acc, AppId: otherApp, WebhookId: id})
			return err
		},
		"edit": func() error {
			_, err := c.EditWebhook(ctx, &livegatev1.EditWebhookRequest{AccountId: acc, AppId: otherApp, WebhookId: id, Name: proto.String("x")})
			return err
		},
		"replace": func() error {
			_, err := c.ReplaceWebhook(ctx, &livegatev1.ReplaceWebhookRequest{AccountId: acc, AppId: otherApp, WebhookId: id, Name: "x", Url: publicURL, Events: []string{"hls."}})
			return err
		},
		"delete": func() error {
			_, err := c.DeleteWebhook(ctx, &livegatev1.DeleteWebhookRequest{AccountId: acc, AppId: otherApp, WebhookId: id})
			return err
		},
		"rotate": func() error {
			_, err := c.RotateWebhookSecret(ctx, &livegatev1.RotateWebhookSecretRequest{AccountId: acc, AppId: otherApp, WebhookId: id})
			return err
		},
		"deliveries": func() error {
			_, err := c.ListWebhookDeliveries(ctx, &livegatev1.ListWebhookDeliveriesRequest{AccountId: acc, AppId: otherApp, WebhookId: id})
			return err
		},
		"replay": func() error {
			_, err := c.ReplayWebhook(ctx, &livegatev1.ReplayWebhookRequest{AccountId: acc, AppId: otherApp, WebhookId: id})
			return err
		},
		"test": func() error {
			_, err := c.TestWebhook(ctx, &livegatev1.TestWebhookRequest{AccountId: acc, AppId: otherApp, WebhookId: id})
			return err
		},
	}
	for name, call := range calls {
		wantError(t, "another app's "+name, call(), codes.NotFound, apierror.ReasonNotFound, nf)
	}
	_, err := c.GetWebhook(ctx, &livegatev1.GetWebhookRequest{AccountId: acc, AppId: app, WebhookId: id})
	wantError(t, "a token on another app's path", err, codes.PermissionDenied, apierror.ReasonPermissionDenied, nil)
	_, err = c.CreateWebhook(ctx, createReq("intruder", publicURL, "hls."))
	wantError(t, "a create on another app's path", err, codes.PermissionDenied, apierror.ReasonPermissionDenied, nil)
	_, err = r.client.GetWebhook(ctx, &livegatev1.GetWebhookRequest{AccountId: acc, AppId: app, WebhookId: "100ms"})
	wantError(t, "an id that is not a UUID", err, codes.InvalidArgument, "", nil, "webhook_id")
	if s := r.stored(t, tenant, id); s.Name != "mine" || len(r.d.pings) != 0 {
		t.Errorf("the refused calls changed the webhook (%+v) or pinged it (%d)", s, len(r.d.pings))
	}
}

// TestRotateSecret: a rotation answers with a new secret and until when the previous one
// still signs (24 hours by default, as asked, none for a zero grace; at most 7 days); the
// store keeps both; get shows the expiry but no secret.
func TestRotateSecret(t *testing.T) {
	r := newRig(t, webhookendpoint.Options{})
	ctx := t.Context()
	e := r.create(t, "rot", "hls.")
	id := e.GetId()
	resp, err := r.client.RotateWebhookSecret(ctx, &livegatev1.RotateWebhookSecretRequest{AccountId: acc, AppId: app, WebhookId: id})
	if err != nil {
		t.Fatal(err)
	}
	d := resp.GetData()
	if !strings.HasPrefix(d.GetSecret(), "whsec_") || d.GetSecret() == e.GetSecret() || !d.GetPreviousSecretExpiresAt().AsTime().Equal(d.GetUpdatedAt().AsTime().Add(24*time.Hour)) ||
		!d.GetUpdatedAt().AsTime().Equal(t0) {
		t.Errorf("rotated: secret %q (was %q), previous until %v", d.GetSecret(), e.GetSecret(), d.GetPreviousSecretExpiresAt())
	}
	s := r.stored(t, tenant, id)
	if s.Secret != d.GetSecret() || s.PrevSecret != e.GetSecret() || !s.PrevSecretExpiresAt.Equal(t0.Add(24*time.Hour)) {
		t.Errorf("stored after rotation: %+v", s)
	}
	g, _ := r.client.GetWebhook(ctx, &livegatev1.GetWebhookRequest{AccountId: acc, AppId: app, WebhookId: id})
	if g.GetData().Secret != nil || g.GetData().GetPreviousSecretExpiresAt() == nil {
		t.Errorf("get after rotation: %v", g.GetData())
	}
	r.now = t0.Add(25 * time.Hour) // the grace is over: get shows no expiry
	g, _ = r.client.GetWebhook(ctx, &livegatev1.GetWebhookRequest{AccountId: acc, AppId: app, WebhookId: id})
	if g.GetData().GetPreviousSecretExpiresAt() != nil {
		t.Errorf("get after the grace: previous secret until %v", g.GetData().GetPreviousSecretExpiresAt())
	}

	resp, err = r.client.RotateWebhookSecret(ctx, &livegatev1.RotateWebhookSecretRequest{AccountId: acc, AppId: app, WebhookId: id, Grace: durationpb.New(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.GetData().GetPreviousSecretExpiresAt().AsTime().Equal(r.now.Add(time.Hour)) {
		t.Errorf("a 1h grace: previous until %v", resp.GetData().GetPreviousSecretExpiresAt())
	}
	resp, err = r.client.RotateWebhookSecret(ctx, &livegatev1.RotateWebhookSecretRequest{AccountId: acc, AppId: app, WebhookId: id, Grace: durationpb.New(0)})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetData().GetPreviousSecretExpiresAt() != nil {
		t.Errorf("a zero grace: previous until %v", resp.GetData().GetPreviousSecretExpiresAt())
	}
	if s := r.stored(t, tenant, id); s.PrevSecret != "" || s.Secret != resp.GetData().GetSecret() {
		t.Errorf("stored after a zero grace: %+v", s)
	}
	for _, g := range []time.Duration{8 * 24 * time.Hour, -time.Second} {
		_, err := r.client.RotateWebhookSecret(ctx, &livegatev1.RotateWebhookSecretRequest{AccountId: acc, AppId: app, WebhookId: id, Grace: durationpb.New(g)})
		wantError(t, fmt.Sprintf("a grace of %v", g), err, codes.InvalidArgument, "", nil, "grace")
	}
}

// TestDeliveries: the delivery log pages newest first with next_page_token; every field of
// an attempt shows; a malformed token is INVALID_ARGUMENT.
func TestDeliveries(t *testing.T) {
	r := newRig(t, webhookendpoint.Options{})
	ctx := t.Context()
	e := r.create(t, "log", "hls.")
	var ids []uint64
	if err := r.st.Update(ctx, func(w store.Writer) error {
		for i := range 5 {
			a := store.WebhookAttempt{Tenant: tenant, EndpointID: e.GetId(), At: t0.Add(time.Duration(i) * time.Second), Sequence: uint64(10 + i),
				EventID: fmt.Sprint("evt-", i), EventType: "hls.started.success", Attempt: i + 1, StatusCode: 500, Latency: 2500 * time.Microsecond,
				Error: "HTTP 500", ResponseBody: "oops", Outcome: store.WebhookRetrying}
			if err := w.AppendWebhookAttempt(ctx, &a); err != nil {
				return err
			}
			ids = append(ids, a.ID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var got []uint64
	token := ""
	for range 5 {
		resp, err := r.client.ListWebhookDeliveries(ctx, &livegatev1.ListWebhookDeliveriesRequest{AccountId: acc, AppId: app, WebhookId: e.GetId(), PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range resp.GetData() {
			got = append(got, d.GetId())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	slices.Reverse(ids)
	if !slices.Equal(got, ids) {
		t.Errorf("paged by 2: %v, want %v", got, ids)
	}
	resp, err := r.client.ListWebhookDeliveries(ctx, &livegatev1.ListWebhookDeliveriesRequest{AccountId: acc, AppId: app, WebhookId: e.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	want := &livegatev1.WebhookDelivery{Id: ids[0], Sequence: 14, EventId: "evt-4", EventType: "hls.started.success", Attempt: 5, StatusCode: 500,
		LatencyMs: 2.5, Error: "HTTP 500", ResponseBody: "oops", Outcome: "retrying"}
	first := resp.GetData()[0]
	if !first.GetAt().AsTime().Equal(t0.Add(4*time.Second)) || resp.GetNextPageToken() != "" || len(resp.GetData()) != 5 || !resp.GetSuccess() {
		t.Errorf("the whole log: %v", resp)
	}
	first.At = nil
	if !proto.Equal(first, want) {
		t.Errorf("newest attempt %v, want %v", first, want)
	}
	for _, tok := range []string{"x", "-1", "0"} {
		_, err := r.client.ListWebhookDeliveries(ctx, &livegatev1.ListWebhookDeliveriesRequest{AccountId: acc, AppId: app, WebhookId: e.GetId(), PageToken: tok})
		wantError(t, "page_token "+tok, err, codes.InvalidArgument, apierror.ReasonInvalidArgument, map[string]string{"field": "page_token"})
	}
	_, err = r.client.ListWebhookDeliveries(ctx, &livegatev1.ListWebhookDeliveriesRequest{AccountId: acc, AppId: app, WebhookId: e.GetId(), PageSize: 201})
	wantError(t, "page_size 201", err, codes.InvalidArgument, "", nil, "page_size")
	_, err = r.client.ListWebhookDeliveries(ctx, &livegatev1.ListWebhookDeliveriesRequest{AccountId: acc, AppId: app, WebhookId: uuid.NewString()})
	wantError(t, "an unknown webhook's log", err, codes.NotFound, apierror.ReasonNotFound, nil)
}

// TestReplay: a replay moves the cursor (back, or forward) within what the feed holds, and
// wakes the deliverer; a sequence beyond the head is CURSOR_AHEAD naming the head, one older
// than retention kept is CURSOR_COMPACTED naming the oldest kept; 0 is the oldest kept.
func TestReplay(t *testing.T) {
	r := newRig(t, webhookendpoint.Options{})
	ctx := t.Context()
	r.appendEvents(t, tenant, 10)
	e := r.create(t, "replay", "hls.")
	if e.GetCursor() != 10 {
		t.Fatalf("cursor at creation %d, want 10", e.GetCursor())
	}
	replay := func(after uint64) (*livegatev1.WebhookEndpoint, error) {
		resp, err := r.client.ReplayWebhook(ctx, &livegatev1.ReplayWebhookRequest{AccountId: acc, AppId: app, WebhookId: e.GetId(), AfterSequence: after})
		return resp.GetData(), err
	}
	got, err := replay(3)
	if err != nil || got.GetCursor() != 3 || r.stored(t, tenant, e.GetId()).Cursor != 3 {
		t.Fatalf("replay from 3: %v, %v", got, err)
	}
	if w := r.d.wakes(); len(w) != 2 {
		t.Errorf("woken %v, want the create and the replay", w)
	}
	if got, err := replay(10); err != nil || got.GetCursor() != 10 {
		t.Errorf("replay to the head: %v, %v", got, err)
	}
	_, err = replay(11)
	wantError(t, "replay beyond the head", err, codes.OutOfRange, apierror.ReasonCursorAhead, map[string]string{"head_sequence": "10"}, "after_sequence 11", "at most 10")

	// Retention prunes events 1..4.
	if err := r.st.Update(ctx, func(w store.Writer) error {
		_, err := w.PruneEvents(ctx, time.Time{}, 6, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	_, err = replay(3)
	wantError(t, "replay from before retention", err, codes.OutOfRange, apierror.ReasonCursorCompacted, map[string]string{"oldest_sequence": "5"}, "oldest still available is 5")
	if got, err := replay(4); err != nil || got.GetCursor() != 4 {
		t.Errorf("replay from the watermark: %v, %v", got, err)
	}
	if got, err := replay(0); err != nil || got.GetCursor() != 4 {
		t.Errorf("replay from 0 (the oldest kept): %v, %v", got, err)
	}
	if s := r.stored(t, tenant, e.GetId()); s.Cursor != 4 {
		t.Errorf("stored cursor %d, want 4", s.Cursor)
	}
}

// TestPing: the test call pings through the deliverer and answers with its attempt; with no
// deliverer it is UNAVAILABLE.
func TestPing(t *testing.T) {
	r := newRig(t, webhookendpoint.Options{})
	e := r.create(t, "ping", "hls.")
	resp, err := r.client.TestWebhook(t.Context(), &livegatev1.TestWebhookRequest{AccountId: acc, AppId: app, WebhookId: e.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if d := resp.GetData(); !resp.GetSuccess() || d.GetEventType() != "webhook.test" || d.GetStatusCode() != 204 || d.GetLatencyMs() != 1.5 || d.GetOutcome() != "succeeded" || d.GetId() != 7 {
		t.Errorf("ping answered %v", resp)
	}
	if len(r.d.pings) != 1 || r.d.pings[0].ID != e.GetId() || r.d.pings[0].Secret != e.GetSecret() {
		t.Errorf("the deliverer was asked to ping %+v", r.d.pings)
	}

	r = newRig(t, webhookendpoint.Options{}, true)
	e = r.create(t, "ping", "hls.")
	_, err = r.client.TestWebhook(t.Context(), &livegatev1.TestWebhookRequest{AccountId: acc, AppId: app, WebhookId: e.GetId()})
	wantError(t, "a ping with no deliverer", err, codes.Unavailable, apierror.ReasonUnavailable, nil, "delivery is not running")
}

// TestOneTimePerAnswer: the times of one change agree with each other (created_at and
// updated_at of a create; a rotation's previous secret expiry is its updated_at plus the
// grace), also when the clock moves between readings, and they are what a later read shows
// (stores keep microseconds).
func TestOneTimePerAnswer(t *testing.T) {
	r := newRig(t, webhookendpoint.Options{})
	r.now, r.tick = t0.Add(123456789*time.Nanosecond), time.Microsecond
	e := r.create(t, "clock", "hls.")
	if !e.GetCreatedAt().AsTime().Equal(e.GetUpdatedAt().AsTime()) || e.GetCreatedAt().AsTime().Nanosecond()%1000 != 0 {
		t.Errorf("create: created_at %v, updated_at %v", e.GetCreatedAt().AsTime(), e.GetUpdatedAt().AsTime())
	}
	resp, err := r.client.RotateWebhookSecret(t.Context(), &livegatev1.RotateWebhookSecretRequest{AccountId: acc, AppId: app, WebhookId: e.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	d := resp.GetData()
	if !d.GetPreviousSecretExpiresAt().AsTime().Equal(d.GetUpdatedAt().AsTime().Add(webhookendpoint.DefaultGrace)) {
		t.Errorf("rotation: updated_at %v, previous secret until %v: want 24h apart", d.GetUpdatedAt().AsTime(), d.GetPreviousSecretExpiresAt().AsTime())
	}
	g, err := r.client.GetWebhook(t.Context(), &livegatev1.GetWebhookRequest{AccountId: acc, AppId: app, WebhookId: e.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(g.GetData().GetUpdatedAt(), d.GetUpdatedAt()) || !proto.Equal(g.GetData().GetCreatedAt(), e.GetCreatedAt()) ||
		!proto.Equal(g.GetData().GetPreviousSecretExpiresAt(), d.GetPreviousSecretExpiresAt()) {
		t.Errorf("a read shows other times than the answers: %v; create %v, rotate %v", g.GetData(), e, d)
	}
}
