package outbound_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/apierror"
	"github.com/livegate/livegate/internal/eventlog"
	"github.com/livegate/livegate/internal/netguard"
	"github.com/livegate/livegate/internal/outbound"
	"github.com/livegate/livegate/internal/payload"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/sqlite"
	"github.com/livegate/livegate/internal/testenv"
	"github.com/livegate/livegate/internal/webhookevents"
)

var tenant = store.Tenant{AccountID: "acc-out", AppID: "app-out"}

// parse reads a stored events list as the server's engine does.
func parse(events []string) (outbound.Filter, error) { return webhookevents.ParseStored(events) }

// fixture is a SQLite store, an app, and an engine running on it.
type fixture struct {
	t   *testing.T
	st  store.Store
	eng *outbound.Engine
}

func newFixture(t *testing.T, opt outbound.Options) *fixture {
	t.Helper()
	return newFixtureOn(t, opt, func(s store.Store) store.Store { return s }, io.Discard)
}

// newFixtureOn is newFixture with the engine's store the real one as wrap makes it, and its
// log written to log.
func newFixtureOn(t *testing.T, opt outbound.Options, wrap func(store.Store) store.Store, log io.Writer) *fixture {
	t.Helper()
	ctx := context.Background()
	real, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = real.Close() })
	st := wrap(real)
	if err := st.Update(ctx, func(w store.Writer) error {
		return w.CreateApp(ctx, store.App{Tenant: tenant, TokenID: uuid.NewString(), TokenHash: []byte("x"), WebhookSecret: "s", CreatedAt: time.Now()})
	}); err != nil {
		t.Fatal(err)
	}
	opt.Policy = netguard.Policy{AllowHTTP: true, AllowPrivate: true}
	f := &fixture{t: t, st: st}
	f.eng = outbound.New(st, parse, opt, slog.New(slog.NewTextHandler(log, nil)))
	real.OnCommit(f.eng.Notify)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = f.eng.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return f
}

func (f *fixture) endpoint(url string, events ...string) store.WebhookEndpoint {
	f.t.Helper()
	now := time.Now()
	e := store.WebhookEndpoint{Tenant: tenant, ID: uuid.NewString(), Name: "test", URL: url, Events: events, Enabled: true,
		Secret: newSecret(f.t), CreatedAt: now, UpdatedAt: now}
	ctx := context.Background()
	if err := f.st.Update(ctx, func(w store.Writer) error { return w.CreateWebhookEndpoint(ctx, e) }); err != nil {
		f.t.Fatal(err)
	}
	f.eng.Wake(tenant, e.ID)
	return e
}

// appendStatus appends a livestream.status_changed event and returns its sequence.
func (f *fixture) appendStatus(livestream string) uint64 {
	f.t.Helper()
	ctx := context.Background()
	id := uuid.NewString()
	ev := &livegatev1.Event{Id: id, Type: payload.TypeStatusChanged, Source: payload.SourceLivegate, AccountId: tenant.AccountID, AppId: tenant.AppID,
		ReceivedAt: timestamppb.Now(), LivestreamId: livestream,
		Payload: &livegatev1.Event_LivestreamStatusChanged{LivestreamStatusChanged: &livegatev1.LivestreamStatusChanged{
			LivestreamId: livestream, OldStatus: livegatev1.LivestreamStatus_IDLE, NewStatus: livegatev1.LivestreamStatus_LIVE}}}
	if err := f.st.Update(ctx, func(w store.Writer) error { return eventlog.Append(ctx, w, ev, id, id) }); err != nil {
		f.t.Fatal(err)
	}
	return ev.GetSequence()
}

func (f *fixture) load(id string) store.WebhookEndpoint {
	f.t.Helper()
	var e store.WebhookEndpoint
	ctx := context.Background()
	if err := f.st.View(ctx, func(r store.Reader) error {
		var err error
		e, err = r.WebhookEndpoint(ctx, tenant, id)
		return err
	}); err != nil {
		f.t.Fatal(err)
	}
	return e
}

func (f *fixture) attempts(id string) []store.WebhookAttempt {
	f.t.Helper()
	var as []store.WebhookAttempt
	ctx := context.Background()
	if err := f.st.View(ctx, func(r store.Reader) error {
		var err error
		as, err = r.WebhookAttempts(ctx, tenant, id, 0, 1000)
		return err
	}); err != nil {
		f.t.Fatal(err)
	}
	return as
}

// delivery is a request a receiver got.
type delivery struct {
	header http.Header
	body   []byte
}

// receiver answers with answer(n) (n counts requests from 0) after verifying the request
// with the Standard Webhooks library; verifying failures fail the test.
func receiver(t *testing.T, secret func() string, answer func(n int) int) (*httptest.Server, func() []delivery) {
	var mu sync.Mutex
	var got []delivery
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		wh, err := standardwebhooks.NewWebhook(secret())
		if err != nil {
			t.Error(err)
		} else if err := wh.Verify(body, r.Header); err != nil {
			t.Errorf("delivery does not verify with the Standard Webhooks library: %v", err)
		}
		mu.Lock()
		n := len(got)
		got = append(got, delivery{r.Header.Clone(), body})
		mu.Unlock()
		w.WriteHeader(answer(n))
	}))
	t.Cleanup(srv.Close)
	return srv, func() []delivery {
		mu.Lock()
		defer mu.Unlock()
		return append([]delivery(nil), got...)
	}
}

func TestPingSendsASignedTestEvent(t *testing.T) {
	f := newFixture(t, outbound.Options{})
	var secret string
	srv, got := receiver(t, func() string { return secret }, func(int) int { return 202 })
	e := f.endpoint(srv.URL+"/hook", "hls.")
	secret = e.Secret
	a, err := f.eng.Ping(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	if a.Outcome != store.WebhookSucceeded || a.StatusCode != 202 || a.EventType != outbound.TypeTest || a.Sequence != 0 || a.ID == 0 {
		t.Errorf("ping attempt = %+v", a)
	}
	ds := got()
	if len(ds) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(ds))
	}
	var ev map[string]any
	if err := json.Unmarshal(ds[0].body, &ev); err != nil || ev["type"] != outbound.TypeTest || ev["app_id"] != tenant.AppID {
		t.Errorf("ping body %s", ds[0].body)
	}
	if ds[0].header.Get("webhook-id") != a.EventID || ds[0].header.Get("User-Agent") == "" {
		t.Errorf("headers %v, attempt event id %s", ds[0].header, a.EventID)
	}
	if as := f.attempts(e.ID); len(as) != 1 || as[0].ID != a.ID {
		t.Errorf("delivery log %+v, want the ping", as)
	}
}

// A 410 is not retried: the event is given up at once, and the endpoint moves on to the next.
func TestGoneIsGivenUpAndTheEndpointMovesOn(t *testing.T) {
	f := newFixture(t, outbound.Options{Schedule: outbound.Schedule{Steps: []time.Duration{10 * time.Millisecond}, For: time.Hour}})
	var secret string
	srv, got := receiver(t, func() string { return secret }, func(n int) int {
		if n == 0 {
			return http.StatusGone
		}
		return 200
	})
	e := f.endpoint(srv.URL, "livestreaming.statusUpdate")
	secret = e.Secret
	s1, s2 := f.appendStatus("ls-1"), f.appendStatus("ls-2")
	testenv.WaitFor(t, "both events tried", func() bool { return f.load(e.ID).Cursor == s2 })
	ds := got()
	if len(ds) != 2 {
		t.Fatalf("receiver got %d requests, want 2 (the 410 not retried)", len(ds))
	}
	var b struct {
		Event    string `json:"event"`
		StreamID string `json:"streamId"`
		Status   string `json:"status"`
	}
	if err := json.Unmarshal(ds[1].body, &b); err != nil || b.Event != "livestreaming.statusUpdate" || b.StreamID != "ls-2" || b.Status != "LIVE" {
		t.Errorf("RealtimeKit body %s", ds[1].body)
	}
	as := f.attempts(e.ID)
	if len(as) != 2 || as[1].Sequence != s1 || as[1].Outcome != store.WebhookFailed || as[1].StatusCode != 410 ||
		as[0].Sequence != s2 || as[0].Outcome != store.WebhookSucceeded {
		t.Errorf("delivery log (newest first) %+v", as)
	}
	if !f.load(e.ID).FailingSince.IsZero() {
		t.Error("FailingSince is set after a success")
	}
}

// An endpoint whose attempts all failed for --webhooks-disable-after is disabled, and that
// is an event in its app's feed, written with it.
func TestDisableAfterAppendsTheFeedEvent(t *testing.T) {
	f := newFixture(t, outbound.Options{
		Schedule:     outbound.Schedule{Steps: []time.Duration{20 * time.Millisecond}, For: time.Hour},
		DisableAfter: time.Second, // room for two attempts (20 ms apart) however loaded the machine
	})
	var secret string
	srv, got := receiver(t, func() string { return secret }, func(int) int { return 503 })
	e := f.endpoint(srv.URL, "livestream.status_changed")
	secret = e.Secret
	seq := f.appendStatus("ls-1")
	testenv.WaitFor(t, "the endpoint disabled", func() bool { return !f.load(e.ID).Enabled })
	cur := f.load(e.ID)
	if cur.DisabledReason == "" || cur.FailingSince.IsZero() {
		t.Errorf("disabled endpoint: reason %q, failing since %v", cur.DisabledReason, cur.FailingSince)
	}
	as := f.attempts(e.ID)
	if len(as) < 2 || as[0].Outcome != store.WebhookRetrying || as[0].Sequence != seq {
		t.Errorf("delivery log (newest first) %+v", as)
	}
	// The last attempt says its retry is not made, and why.
	if len(as) > 0 && !strings.Contains(as[0].Error, "the endpoint is disabled") {
		t.Errorf("the attempt that disabled the endpoint reads %q: want it to say the endpoint is disabled", as[0].Error)
	}
	n := len(got())
	ctx := context.Background()
	var recs []store.Event
	if err := f.st.View(ctx, func(r store.Reader) error {
		var err error
		recs, err = r.EventsAfter(ctx, tenant, seq, store.EventFilter{Types: []string{payload.TypeWebhookEndpointDisabled}}, 10)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("%d webhook_endpoint.disabled events in the feed, want 1", len(recs))
	}
	ev, err := eventlog.Decode(recs[0])
	if err != nil {
		t.Fatal(err)
	}
	d := ev.GetWebhookEndpointDisabled()
	if ev.GetSource() != "livegate" || d.GetEndpointId() != e.ID || d.GetReason() != cur.DisabledReason || d.GetUrl() != e.URL || d.GetCursor() != cur.Cursor {
		t.Errorf("webhook_endpoint.disabled = %v", ev)
	}
	// Disabled, it is sent nothing more.
	time.Sleep(200 * time.Millisecond)
	if m := len(got()); m != n {
		t.Errorf("a disabled endpoint got %d more requests", m-n)
	}
}

// A retry in progress is resumed from the delivery log after a restart: the attempts go on
// numbered after the last one logged.
func TestRetryResumesFromTheLog(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Update(ctx, func(w store.Writer) error {
		return w.CreateApp(ctx, store.App{Tenant: tenant, TokenID: "tok", TokenHash: []byte("x"), WebhookSecret: "s", CreatedAt: time.Now()})
	}); err != nil {
		t.Fatal(err)
	}
	fail := true
	var mu sync.Mutex
	var secret string
	srv, _ := receiver(t, func() string { return secret }, func(int) int {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return 500
		}
		return 200
	})
	f := &fixture{t: t, st: st}
	now := time.Now()
	e := store.WebhookEndpoint{Tenant: tenant, ID: uuid.NewString(), Name: "n", URL: srv.URL, Events: []string{"livestream."}, Enabled: true,
		Secret: newSecret(t), CreatedAt: now, UpdatedAt: now}
	secret = e.Secret
	if err := st.Update(ctx, func(w store.Writer) error { return w.CreateWebhookEndpoint(ctx, e) }); err != nil {
		t.Fatal(err)
	}
	seq := f.appendStatus("ls-1")
	run := func() (stop func()) {
		eng := outbound.New(st, parse, outbound.Options{Policy: netguard.Policy{AllowHTTP: true, AllowPrivate: true},
			Schedule: outbound.Schedule{Steps: []time.Duration{50 * time.Millisecond}, For: time.Hour}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		c, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { _ = eng.Run(c); close(done) }()
		return func() { cancel(); <-done }
	}
	stop := run()
	testenv.WaitFor(t, "3 attempts", func() bool { return len(f.attempts(e.ID)) >= 3 })
	stop()
	before := f.attempts(e.ID)
	mu.Lock()
	fail = false
	mu.Unlock()
	stop = run()
	defer stop()
	testenv.WaitFor(t, "delivered after the restart", func() bool { return f.load(e.ID).Cursor == seq })
	as := f.attempts(e.ID)
	if as[0].Outcome != store.WebhookSucceeded || as[0].Attempt != before[0].Attempt+1 {
		t.Errorf("after the restart the attempt is numbered %d (%s), the last logged before was %d", as[0].Attempt, as[0].Outcome, before[0].Attempt)
	}
}

// The delivery log keeps Options.LogRetention: older entries are pruned.
func TestDeliveryLogIsPruned(t *testing.T) {
	f := newFixture(t, outbound.Options{LogRetention: 300 * time.Millisecond, PruneEvery: 50 * time.Millisecond})
	var secret string
	srv, _ := receiver(t, func() string { return secret }, func(int) int { return 200 })
	e := f.endpoint(srv.URL, "hls.")
	secret = e.Secret
	if _, err := f.eng.Ping(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if n := len(f.attempts(e.ID)); n != 1 {
		t.Fatalf("%d attempts logged, want 1", n)
	}
	testenv.WaitFor(t, "the old attempt pruned", func() bool { return len(f.attempts(e.ID)) == 0 })
}

// TestEventsChangeStopsARetry: an endpoint retrying an event is changed to events that
// exclude it: the retry stops at the change. (The
// outbound audit's endpoint went on retrying the excluded event for the whole budget; the
// README says a change of events applies from the next attempt on.)
func TestEventsChangeStopsARetry(t *testing.T) {
	f := newFixture(t, outbound.Options{Schedule: outbound.Schedule{Steps: []time.Duration{time.Second}, For: time.Hour}})
	var secret string
	srv, got := receiver(t, func() string { return secret }, func(int) int { return 500 })
	e := f.endpoint(srv.URL, "livestream.status_changed")
	secret = e.Secret
	f.appendStatus("ls-1")
	testenv.WaitFor(t, "the first attempt", func() bool { return len(got()) >= 1 })
	ctx := context.Background()
	cur := f.load(e.ID)
	cur.Events = []string{"peer."}
	if err := f.st.Update(ctx, func(w store.Writer) error { return w.UpdateWebhookEndpoint(ctx, cur) }); err != nil {
		t.Fatal(err)
	}
	f.eng.Wake(tenant, e.ID)
	time.Sleep(2500 * time.Millisecond) // two retry steps
	if n := len(got()); n != 1 {
		t.Errorf("%d requests for the event the endpoint no longer wants, want the 1 before the change", n)
	}
}

// TestCursorStepsOverEventsThatNeverMatch: the cursor of an endpoint whose events its app
// never sends moves past the app's events (once they are a batch or more), and an event it
// takes later is still delivered.
// (The API audit's endpoints, of events "zzz.", kept the cursor they were created with, and
// every event of their app made each of them read all of the app's events since: the app's
// calls went from 2 ms to 25 ms after 9,600 events, and another tenant's from 2.4 ms to 55 ms.)
func TestCursorStepsOverEventsThatNeverMatch(t *testing.T) {
	f := newFixture(t, outbound.Options{})
	var secret string
	srv, got := receiver(t, func() string { return secret }, func(int) int { return 200 })
	e := f.endpoint(srv.URL, "peer.")
	secret = e.Secret
	var last uint64
	for range 100 { // more than a batch (64): the cursor moves a batch or more at a time
		last = f.appendStatus("ls-1")
	}
	// It moves when the head is a batch (64) or more ahead: at least once in 100 events.
	testenv.WaitFor(t, "the cursor past the events", func() bool { c := f.load(e.ID).Cursor; return c >= 64 && c <= last })

	ctx := context.Background()
	cur := f.load(e.ID)
	cur.Events = []string{"livestream."}
	if err := f.st.Update(ctx, func(w store.Writer) error { return w.UpdateWebhookEndpoint(ctx, cur) }); err != nil {
		t.Fatal(err)
	}
	f.eng.Wake(tenant, e.ID)
	s2 := f.appendStatus("ls-2")
	// The endpoint now takes every event after its cursor: those it had not stepped over,
	// then ls-2's, each once and in order.
	want := int(s2 - cur.Cursor)
	testenv.WaitFor(t, "the deliveries of the events the endpoint takes", func() bool { return len(got()) >= want })
	time.Sleep(100 * time.Millisecond)
	d := got()
	if len(d) != want {
		t.Fatalf("%d deliveries after the cursor moved to %d, want %d (through ls-2's event, %d)", len(d), cur.Cursor, want, s2)
	}
	for i, x := range d {
		var ev struct {
			Sequence uint64 `json:"sequence,string"`
		}
		if err := json.Unmarshal(x.body, &ev); err != nil || ev.Sequence != cur.Cursor+uint64(i)+1 {
			t.Errorf("delivery %d: sequence %d (%v), want %d", i, ev.Sequence, err, cur.Cursor+uint64(i)+1)
		}
	}
}

// pausingStore pauses the engine once, after the first read (View) that saw the feed's head
// at 64 or more with armed set, until release is closed: between a worker's read and the
// write that follows it.
type pausingStore struct {
	store.Store
	armed   atomic.Bool
	reached chan struct{}
	release chan struct{}
	once    sync.Once
}

type headSeen struct {
	store.Reader
	hit *bool
}

func (r headSeen) FeedBounds(ctx context.Context) (uint64, uint64, error) {
	h, p, err := r.Reader.FeedBounds(ctx)
	if h >= 64 {
		*r.hit = true
	}
	return h, p, err
}

func (g *pausingStore) View(ctx context.Context, fn func(store.Reader) error) error {
	hit := false
	err := g.Store.View(ctx, func(r store.Reader) error { return fn(headSeen{r, &hit}) })
	if hit && g.armed.Load() {
		g.once.Do(func() {
			close(g.reached)
			<-g.release
		})
	}
	return err
}

// TestStepOverLosesNothingToAnEventsEdit: the app changes an endpoint's events between the
// worker's read (nothing matched, the head 64 or more ahead) and its step over those events:
// the step does not happen, and every event after the cursor that the new events take is
// delivered. (The review's case: the step landed, and 64 events the new list took were never
// sent, with nothing in the delivery log.)
func TestStepOverLosesNothingToAnEventsEdit(t *testing.T) {
	g := &pausingStore{reached: make(chan struct{}), release: make(chan struct{})}
	f := newFixtureOn(t, outbound.Options{}, func(s store.Store) store.Store { g.Store = s; return g }, io.Discard)
	var secret string
	srv, got := receiver(t, func() string { return secret }, func(int) int { return 200 })
	e := f.endpoint(srv.URL, "peer.")
	secret = e.Secret
	g.armed.Store(true)
	for range 70 {
		f.appendStatus("ls-1")
	}
	<-g.reached // the worker has read: nothing for "peer.", the head 64 or more ahead
	ctx := context.Background()
	cur := f.load(e.ID)
	cur.Events = []string{"livestream."}
	cur.UpdatedAt = time.Now() // as the management API's edit sets it
	if err := f.st.Update(ctx, func(w store.Writer) error { return w.UpdateWebhookEndpoint(ctx, cur) }); err != nil {
		t.Fatal(err)
	}
	f.eng.Wake(tenant, e.ID)
	close(g.release)
	last := f.appendStatus("ls-2")
	want := int(last - cur.Cursor)
	testenv.WaitFor(t, "the events after the cursor at the edit", func() bool { return len(got()) >= want })
	time.Sleep(100 * time.Millisecond)
	if n := len(got()); n != want {
		t.Errorf("%d deliveries, want %d: every event after the cursor at the edit (%d) through %d", n, want, cur.Cursor, last)
	}
}

// appendPeerJoin appends a 100ms peer.join.success event (its payload kept raw) and returns
// its sequence.
func (f *fixture) appendPeerJoin(room string) uint64 {
	f.t.Helper()
	ctx := context.Background()
	id := uuid.NewString()
	raw, err := structpb.NewStruct(map[string]any{"type": "peer.join.success", "data": map[string]any{"room_id": room}})
	if err != nil {
		f.t.Fatal(err)
	}
	ev := &livegatev1.Event{Id: id, Type: "peer.join.success", Source: payload.SourceHMS, AccountId: tenant.AccountID, AppId: tenant.AppID,
		ReceivedAt: timestamppb.Now(), RoomId: room, Payload: &livegatev1.Event_Unknown{Unknown: &livegatev1.UnknownPayload{Raw: raw}}}
	if err := f.st.Update(ctx, func(w store.Writer) error { return eventlog.Append(ctx, w, ev, id, id) }); err != nil {
		f.t.Fatal(err)
	}
	return ev.GetSequence()
}

// TestDeliveryLosesNothingToAnEventsEdit: the app adds to an endpoint's events while an
// attempt is in flight for an event after one the old events left out: once the attempt is
// done, that event is sent too (and the one in flight again: at least once). (The second
// review: the attempt's cursor move passed over it, and it was never sent.)
func TestDeliveryLosesNothingToAnEventsEdit(t *testing.T) {
	f := newFixture(t, outbound.Options{})
	var secret string
	inFlight, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	srv, got := receiver(t, func() string { return secret }, func(n int) int {
		if n == 0 {
			once.Do(func() { close(inFlight) })
			<-release
		}
		return 200
	})
	e := f.endpoint(srv.URL, "livestream.")
	secret = e.Secret
	join := f.appendPeerJoin("room-1") // not the endpoint's, as its events are at first
	status := f.appendStatus("ls-1")
	<-inFlight // the attempt for the status event
	ctx := context.Background()
	cur := f.load(e.ID)
	cur.Events, cur.UpdatedAt = []string{"livestream.", "peer."}, time.Now()
	if err := f.st.Update(ctx, func(w store.Writer) error { return w.UpdateWebhookEndpoint(ctx, cur) }); err != nil {
		t.Fatal(err)
	}
	f.eng.Wake(tenant, e.ID)
	close(release)
	seqOf := func(d delivery) uint64 {
		var ev struct {
			Sequence uint64 `json:"sequence,string"`
		}
		_ = json.Unmarshal(d.body, &ev)
		return ev.Sequence
	}
	testenv.WaitFor(t, "the peer.join event the new events take", func() bool {
		for _, d := range got() {
			if seqOf(d) == join {
				return true
			}
		}
		return false
	})
	testenv.WaitFor(t, "the cursor past the status event", func() bool { return f.load(e.ID).Cursor == status })
}

// TestStoredListWithAnEntryNowRefused: an endpoint stored before the API refused entries that
// can match nothing ("peer.*") still gets what its other entries take. (With the API's strict
// parse, the deliverer found the whole list unparsable and sent nothing: the review.)
func TestStoredListWithAnEntryNowRefused(t *testing.T) {
	f := newFixture(t, outbound.Options{})
	var secret string
	srv, got := receiver(t, func() string { return secret }, func(int) int { return 200 })
	e := f.endpoint(srv.URL, "livestream.", "peer.*")
	secret = e.Secret
	f.appendStatus("ls-1")
	testenv.WaitFor(t, "the delivery of the livestream. event", func() bool { return len(got()) == 1 })
}

// TestOnePingAtATime: an endpoint has one test ping in flight at a time: five sent at once
// make one request, and four TOO_MANY_REQUESTS with a Retry-After (they made five requests
// beside the delivery in flight, to the one receiver: the outbound audit). Then a ping goes.
func TestOnePingAtATime(t *testing.T) {
	f := newFixture(t, outbound.Options{})
	var secret string
	release := make(chan struct{})
	srv, got := receiver(t, func() string { return secret }, func(n int) int {
		if n == 0 {
			<-release
		}
		return 200
	})
	e := f.endpoint(srv.URL, "hls.")
	secret = e.Secret
	errs := make(chan error, 5)
	for range 5 {
		go func() {
			_, err := f.eng.Ping(context.Background(), e)
			errs <- err
		}()
	}
	for range 4 {
		err := <-errs
		var api *apierror.Error
		if !errors.As(err, &api) || api.Reason != apierror.ReasonTooManyRequests || api.Metadata[apierror.RetryAfterKey] != "1" {
			t.Errorf("a ping beside one in flight: %v, want TOO_MANY_REQUESTS with retry_after_seconds 1", err)
		}
	}
	close(release)
	if err := <-errs; err != nil {
		t.Errorf("the ping in flight: %v", err)
	}
	if _, err := f.eng.Ping(context.Background(), e); err != nil {
		t.Errorf("a ping after it: %v", err)
	}
	if n := len(got()); n != 2 {
		t.Errorf("the receiver got %d requests, want 2 (one ping at a time)", n)
	}
}
