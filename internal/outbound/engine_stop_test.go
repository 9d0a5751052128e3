package outbound_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/eventlog"
	"github.com/livegate/livegate/internal/netguard"
	"github.com/livegate/livegate/internal/outbound"
	"github.com/livegate/livegate/internal/payload"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/testenv"
)

// update changes endpoint id with change, stores it, and tells the engine, as the API does.
func (f *fixture) update(id string, change func(*store.WebhookEndpoint)) {
	f.t.Helper()
	ctx := context.Background()
	err := f.st.Update(ctx, func(w store.Writer) error {
		e, err := w.WebhookEndpoint(ctx, tenant, id)
		if err != nil {
			return err
		}
		change(&e)
		e.UpdatedAt = time.Now()
		return w.UpdateWebhookEndpoint(ctx, e)
	})
	if err != nil {
		f.t.Fatal(err)
	}
	f.eng.Wake(tenant, id)
}

// TestChangeAppliesToTheRestOfTheBatch: an endpoint changed while it works through a backlog
// (here its URL) is used changed from the next attempt on, not after the batch of events the
// worker had read. Until 2026-11-29 the rest of the batch (up to 64 events) still went to
// the old URL, signed with the old secret, through the old filter.
func TestChangeAppliesToTheRestOfTheBatch(t *testing.T) {
	f := newFixture(t, outbound.Options{})
	var mu sync.Mutex
	var secret string
	sec := func() string { mu.Lock(); defer mu.Unlock(); return secret }
	oldURL, toOld := receiver(t, sec, func(int) int { time.Sleep(30 * time.Millisecond); return 200 })
	newURL, toNew := receiver(t, sec, func(int) int { return 200 })
	var last uint64
	for i := range 30 {
		last = f.appendStatus("ls-" + string(rune('a'+i)))
	}
	e := f.endpoint(oldURL.URL, "livestream.status_changed")
	mu.Lock()
	secret = e.Secret
	mu.Unlock()
	testenv.WaitFor(t, "3 deliveries to the old URL", func() bool { return len(toOld()) >= 3 })
	f.update(e.ID, func(e *store.WebhookEndpoint) { e.URL = newURL.URL })
	n := len(toOld())
	testenv.WaitFor(t, "every event delivered", func() bool { return f.load(e.ID).Cursor == last })
	old, fresh := toOld(), toNew()
	if len(old) > n+1 {
		t.Errorf("the old URL got %d requests after the change was made (at most the one in flight may finish there)", len(old)-n)
	}
	if len(old)+len(fresh) != 30 {
		t.Errorf("%d deliveries to the old URL and %d to the new one, want 30 in all, each event once", len(old), len(fresh))
	}
}

// TestBatchHoldsBoundedBytes: an endpoint that keeps failing holds what it read of its
// app's feed for as long as it retries. What it holds is bounded in bytes, not only in
// events: until 2026-11-29, each endpoint held up to 64 events of up to 1 MiB, so an app's
// 10 endpoints and 64 big events of its own held about 330 MB of heap, for the whole retry
// window (24 h by default).
func TestBatchHoldsBoundedBytes(t *testing.T) {
	f := newFixture(t, outbound.Options{Schedule: outbound.Schedule{Steps: []time.Duration{time.Hour}, For: 24 * time.Hour}})
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(500)
	}))
	t.Cleanup(failing.Close)
	ctx := context.Background()
	reason := strings.Repeat("x", 512<<10)
	for i := range 64 {
		id := uuid.NewString()
		ev := &livegatev1.Event{Id: id, Type: payload.TypeStatusChanged, Source: payload.SourceLivegate, AccountId: tenant.AccountID, AppId: tenant.AppID,
			ReceivedAt: timestamppb.Now(), Payload: &livegatev1.Event_LivestreamStatusChanged{LivestreamStatusChanged: &livegatev1.LivestreamStatusChanged{
				LivestreamId: "ls", Reason: reason[:len(reason)-i]}}}
		if err := f.st.Update(ctx, func(w store.Writer) error { return eventlog.Append(ctx, w, ev, id, id) }); err != nil {
			t.Fatal(err)
		}
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	var ids []string
	for range 10 {
		ids = append(ids, f.endpoint(failing.URL, "livestream.status_changed").ID)
	}
	testenv.WaitFor(t, "every endpoint retrying its first event", func() bool {
		for _, id := range ids {
			if as := f.attempts(id); len(as) == 0 || as[0].Outcome != store.WebhookRetrying {
				return false
			}
		}
		return true
	})
	if grew := int64(heap()) - int64(before); grew > 64<<20 {
		t.Errorf("10 retrying endpoints hold %d MB of heap, want a bounded batch each (a few MB in all)", grew>>20)
	}
}

// TestDisableFinishesTheAttemptInFlight: an endpoint disabled while an attempt is in flight
// lets that attempt finish and logs it; enabled again, it does not send that event twice.
// Until 2026-11-29 the attempt was cut off, not logged, and sent again after the enable.
func TestDisableFinishesTheAttemptInFlight(t *testing.T) {
	f := newFixture(t, outbound.Options{})
	var mu sync.Mutex
	var secret string
	entered, release := make(chan struct{}, 10), make(chan struct{})
	srv, got := receiver(t, func() string { mu.Lock(); defer mu.Unlock(); return secret }, func(n int) int {
		entered <- struct{}{}
		if n == 0 {
			<-release
		}
		return 200
	})
	seq := f.appendStatus("ls-1")
	e := f.endpoint(srv.URL, "livestream.status_changed")
	mu.Lock()
	secret = e.Secret
	mu.Unlock()
	<-entered
	f.update(e.ID, func(e *store.WebhookEndpoint) { e.Enabled = false })
	time.Sleep(100 * time.Millisecond) // time for the engine to act on the disable
	close(release)
	testenv.WaitFor(t, "the attempt in flight logged", func() bool { return len(f.attempts(e.ID)) == 1 })
	if as := f.attempts(e.ID); as[0].Outcome != store.WebhookSucceeded || as[0].Sequence != seq {
		t.Errorf("delivery log %+v, want the attempt in flight, succeeded", as)
	}
	if c := f.load(e.ID).Cursor; c != seq {
		t.Errorf("cursor %d after the attempt in flight succeeded, want %d", c, seq)
	}
	f.update(e.ID, func(e *store.WebhookEndpoint) { e.Enabled = true })
	next := f.appendStatus("ls-2")
	testenv.WaitFor(t, "the next event delivered", func() bool { return f.load(e.ID).Cursor == next })
	if n := len(got()); n != 2 {
		t.Errorf("the receiver got %d requests, want 2: the first event once, then the next", n)
	}
}

// TestStopFinishesTheAttemptInFlight: when the engine stops (livegate shutting down), an
// attempt in flight finishes and is logged before Run returns, so it is not sent again after
// the restart. Until 2026-11-29 it was cut off, not logged, and sent again: a duplicate for
// every SIGTERM during a delivery.
func TestStopFinishesTheAttemptInFlight(t *testing.T) {
	f := newFixture(t, outbound.Options{}) // its own engine is not used here
	entered, release := make(chan struct{}, 1), make(chan struct{})
	var secret string
	srv, _ := receiver(t, func() string { return secret }, func(int) int {
		entered <- struct{}{}
		<-release
		return 200
	})
	seq := f.appendStatus("ls-1")
	eng := outbound.New(f.st, parse, outbound.Options{Policy: netguard.Policy{AllowHTTP: true, AllowPrivate: true}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	now := time.Now()
	e := store.WebhookEndpoint{Tenant: tenant, ID: uuid.NewString(), Name: "n", URL: srv.URL, Events: []string{"livestream."}, Enabled: true,
		Secret: newSecret(t), CreatedAt: now, UpdatedAt: now}
	secret = e.Secret
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = eng.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	// Created after the fixture's engine had listed the endpoints, and woken only here: only
	// eng delivers it.
	if err := f.st.Update(ctx, func(w store.Writer) error { return w.CreateWebhookEndpoint(ctx, e) }); err != nil {
		t.Fatal(err)
	}
	eng.Wake(tenant, e.ID)
	<-entered
	cancel()
	time.Sleep(100 * time.Millisecond)
	close(release)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after the attempt in flight finished")
	}
	as := f.attempts(e.ID)
	if len(as) != 1 || as[0].Outcome != store.WebhookSucceeded || as[0].Sequence != seq {
		t.Errorf("delivery log %+v, want the attempt in flight, succeeded", as)
	}
	if c := f.load(e.ID).Cursor; c != seq {
		t.Errorf("cursor %d, want %d: the event would be sent again after the restart", c, seq)
	}
}

// TestEnabledAgainStartsAfresh: an endpoint enabled again (which clears its run of failures)
// does not carry on the retry it was disabled in: the event gets a full retry budget, its
// attempts numbered from 1. Until 2026-11-29 the retry resumed from the log, with its first
// attempt days old: one more failure and the event was given up.
func TestEnabledAgainStartsAfresh(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, outbound.Options{Schedule: outbound.Schedule{Steps: []time.Duration{time.Hour}, For: 24 * time.Hour}})
	var secret string
	srv, _ := receiver(t, func() string { return secret }, func(int) int { return 503 })
	seq := f.appendStatus("ls-1")
	now := time.Now()
	e := store.WebhookEndpoint{Tenant: tenant, ID: uuid.NewString(), Name: "n", URL: srv.URL, Events: []string{"livestream."},
		Secret: newSecret(t), CreatedAt: now, UpdatedAt: now} // disabled
	secret = e.Secret
	err := f.st.Update(ctx, func(w store.Writer) error {
		if err := w.CreateWebhookEndpoint(ctx, e); err != nil {
			return err
		}
		// It was retrying the event two days ago when it was disabled.
		return w.AppendWebhookAttempt(ctx, &store.WebhookAttempt{Tenant: tenant, EndpointID: e.ID, At: now.Add(-48 * time.Hour), Sequence: seq,
			EventType: payload.TypeStatusChanged, Attempt: 7, StatusCode: 503, Error: "HTTP 503", Outcome: store.WebhookRetrying})
	})
	if err != nil {
		t.Fatal(err)
	}
	f.update(e.ID, func(e *store.WebhookEndpoint) { e.Enabled = true })
	testenv.WaitFor(t, "a new attempt", func() bool { return len(f.attempts(e.ID)) == 2 })
	if a := f.attempts(e.ID)[0]; a.Outcome != store.WebhookRetrying || a.Attempt != 1 || a.Sequence != seq {
		t.Errorf("the first attempt after the enable: %s, attempt %d (%q); want retrying, attempt 1", a.Outcome, a.Attempt, a.Error)
	}
}

// TestRetentionGapIsLogged: events pruned by retention before a (disabled) endpoint was sent
// them are not sent when it is enabled again, and its delivery log says which were skipped,
// before the attempts of those that were kept. Until 2026-11-29 the endpoint went on after the
// gap with nothing in its log, while the feed and replays said CURSOR_COMPACTED for the same
// gap.
func TestRetentionGapIsLogged(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, outbound.Options{})
	var mu sync.Mutex
	var secret string
	srv, got := receiver(t, func() string { mu.Lock(); defer mu.Unlock(); return secret }, func(int) int { return 200 })
	e := f.endpoint(srv.URL, "livestream.status_changed")
	mu.Lock()
	secret = e.Secret
	mu.Unlock()
	f.update(e.ID, func(e *store.WebhookEndpoint) { e.Enabled = false })
	var seqs []uint64
	for i := range 20 {
		seqs = append(seqs, f.appendStatus("ls-"+string(rune('a'+i))))
	}
	if err := f.st.Update(ctx, func(w store.Writer) error {
		_, err := w.PruneEvents(ctx, time.Time{}, 5, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	f.update(e.ID, func(e *store.WebhookEndpoint) { e.Enabled = true })
	testenv.WaitFor(t, "the events kept delivered", func() bool { return f.load(e.ID).Cursor == seqs[19] })
	if n := len(got()); n != 5 {
		t.Errorf("the receiver got %d events, want the 5 kept", n)
	}
	as := f.attempts(e.ID) // newest first
	if len(as) != 6 {
		t.Fatalf("delivery log %+v, want the skipped events' entry and 5 attempts", as)
	}
	if skip := as[5]; skip.Outcome != store.WebhookFailed || skip.Sequence != seqs[14] || !strings.Contains(skip.Error, "deleted by retention") {
		t.Errorf("the first entry: %+v, want the events through %d skipped", skip, seqs[14])
	}
}

// TestSlowRefusalsBackOff: an endpoint that answers slowly (half the timeout or more) with a
// status that is not retried (a 4xx or 3xx) backs off before its next event, by the retry
// schedule, as one that times out does; a fast refusal does not. Until 2026-11-29 such an
// endpoint took the next event at once, holding a request slot for most of a timeout on every
// event of its backlog: eight such apps held all 64 slots.
func TestSlowRefusalsBackOff(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer time.Duration // how long the receiver takes to answer 400
		gap    time.Duration // the least time between the first two attempts' starts
	}{
		// Margins wide enough for -race on 2 loaded cores: the slow answer is 200 ms past half
		// the timeout and 800 ms short of it; a fast one would have to take a second to be
		// slow. (With a 200 ms timeout and a 150 ms answer, 3 runs in about 160 failed under
		// load: the flake hunt of 2026-11-30.)
		{"slow", 1200 * time.Millisecond, 1200*time.Millisecond + 3*time.Second},
		{"fast", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, outbound.Options{Timeout: 2 * time.Second,
				Schedule: outbound.Schedule{Steps: []time.Duration{3 * time.Second, 5 * time.Second}, For: time.Hour}})
			var mu sync.Mutex
			var secret string
			srv, _ := receiver(t, func() string { mu.Lock(); defer mu.Unlock(); return secret }, func(int) int {
				time.Sleep(tc.answer)
				return http.StatusBadRequest
			})
			e := f.endpoint(srv.URL, "livestream.status_changed")
			mu.Lock()
			secret = e.Secret
			mu.Unlock()
			f.appendStatus("ls-1")
			last := f.appendStatus("ls-2")
			testenv.WaitFor(t, "both events tried", func() bool { return f.load(e.ID).Cursor == last })
			as := f.attempts(e.ID) // newest first
			if len(as) != 2 || as[0].Outcome != store.WebhookFailed || as[1].Outcome != store.WebhookFailed {
				t.Fatalf("delivery log %+v, want two failed attempts", as)
			}
			gap := as[0].At.Sub(as[1].At)
			if gap < tc.gap || (tc.gap == 0 && gap >= 3*time.Second) {
				t.Errorf("the second attempt started %v after the first, want at least %v (and, for a fast refusal, no pause)", gap, tc.gap)
			}
		})
	}
}
