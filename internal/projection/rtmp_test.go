package projection_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/projection"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/store/sqlite"
)

var (
	tenant = store.Tenant{AccountID: "acc", AppID: "app"}
	t0     = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
)

// ingestRig is a real store with one RTMP livestream, and the rules under test.
type ingestRig struct {
	t  *testing.T
	st store.Store
	in projection.Ingest
	id string
}

func newIngestRig(t *testing.T, in projection.Ingest) *ingestRig {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := &ingestRig{t: t, st: st, in: in, id: "ls-1"}
	r.update(func(ctx context.Context, w store.Writer) error {
		return w.CreateLivestream(ctx, store.Livestream{Tenant: tenant, ID: r.id, Name: "n", StreamKey: "k", Status: store.StatusIdle, Provider: "rtmp", CreatedAt: t0, UpdatedAt: t0})
	})
	return r
}

// another stores one more RTMP livestream, id, and returns a rig for it on the same store.
func (r *ingestRig) another(id string) *ingestRig {
	r.t.Helper()
	o := *r
	o.id = id
	o.update(func(ctx context.Context, w store.Writer) error {
		return w.CreateLivestream(ctx, store.Livestream{Tenant: tenant, ID: id, Name: id, StreamKey: "k-" + id, Status: store.StatusIdle, Provider: "rtmp", CreatedAt: t0, UpdatedAt: t0})
	})
	return &o
}

func (r *ingestRig) update(fn func(ctx context.Context, w store.Writer) error) {
	r.t.Helper()
	if err := r.st.Update(context.Background(), func(w store.Writer) error { return fn(context.Background(), w) }); err != nil {
		r.t.Fatal(err)
	}
}

func (r *ingestRig) livestream(ctx context.Context, w store.Writer) *store.Livestream {
	l, err := w.Livestream(ctx, tenant, r.id)
	if err != nil {
		r.t.Fatal(err)
	}
	return &l
}

// publish registers client at `at`, and returns the error of the rule (not fatal).
func (r *ingestRig) publish(client uint64, at time.Time) (change *projection.Change, err error) {
	r.t.Helper()
	_ = r.st.Update(context.Background(), func(w store.Writer) error {
		change, err = r.in.Publish(context.Background(), w, r.livestream(context.Background(), w), client, projection.Cause{}, at)
		return err
	})
	return change, err
}

func (r *ingestRig) play(client uint64, at time.Time) {
	r.t.Helper()
	r.update(func(ctx context.Context, w store.Writer) error {
		return r.in.Play(ctx, w, r.livestream(ctx, w), client, projection.Cause{}, at)
	})
}

func (r *ingestRig) done(client uint64, at time.Time) {
	r.t.Helper()
	r.update(func(ctx context.Context, w store.Writer) error {
		c, err := w.RtmpClient(ctx, client)
		if err != nil {
			return err
		}
		_, err = r.in.Done(ctx, w, c, r.livestream(ctx, w), at, projection.Cause{}, at)
		return err
	})
}

func (r *ingestRig) seen(client uint64, at time.Time) {
	r.t.Helper()
	r.update(func(ctx context.Context, w store.Writer) error {
		c, err := w.RtmpClient(ctx, client)
		if err != nil {
			return err
		}
		return projection.Seen(ctx, w, c, at)
	})
}

func (r *ingestRig) state() (store.Livestream, []store.Session) {
	r.t.Helper()
	var l store.Livestream
	var ss []store.Session
	err := r.st.View(context.Background(), func(rd store.Reader) error {
		var err error
		if l, err = rd.Livestream(context.Background(), tenant, r.id); err != nil {
			return err
		}
		ss, _, err = rd.ListSessions(context.Background(), tenant, r.id, 0, 100)
		return err
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return l, ss
}

func at(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }

func TestIngestReconnectWindow(t *testing.T) {
	tests := []struct {
		name         string
		window       time.Duration
		gap          float64 // seconds between disconnect and reconnect
		wantSessions int
		wantIngest   float64 // of the latest session
	}{
		{"just inside", 30 * time.Second, 30, 1, 10 + 5},
		{"just outside", 30 * time.Second, 30.001, 2, 5},
		{"default window", 0, 29, 1, 15},
		{"never", -1, 0.5, 2, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newIngestRig(t, projection.Ingest{ReconnectWindow: tc.window})
			if c, err := r.publish(1, at(0)); err != nil || c == nil || c.New != store.StatusLive {
				t.Fatalf("publish: %v %v", c, err)
			}
			r.done(1, at(10))
			if l, _ := r.state(); l.Status != store.StatusIdle {
				t.Fatalf("after done: %s", l.Status)
			}
			if c, err := r.publish(2, at(10+tc.gap)); err != nil || c == nil || c.New != store.StatusLive {
				t.Fatalf("reconnect: %v %v", c, err)
			}
			r.done(2, at(10+tc.gap+5))
			l, ss := r.state()
			if l.Status != store.StatusIdle || len(ss) != tc.wantSessions {
				t.Fatalf("%s with %d sessions, want IDLE with %d", l.Status, len(ss), tc.wantSessions)
			}
			if got := ss[0].IngestSeconds; got < tc.wantIngest-0.01 || got > tc.wantIngest+0.01 {
				t.Errorf("ingest_seconds %.3f, want %.3f (the gap is not counted)", got, tc.wantIngest)
			}
			if !ss[0].StoppedAt.Equal(at(10 + tc.gap + 5)) {
				t.Errorf("stopped at %v, want %v", ss[0].StoppedAt, at(10+tc.gap+5))
			}
		})
	}
}

func TestIngestSecondPublisher(t *testing.T) {
	r := newIngestRig(t, projection.Ingest{StaleAfter: 90 * time.Second})
	if _, err := r.publish(1, at(0)); err != nil {
		t.Fatal(err)
	}
	r.seen(1, at(60))
	// Reported 30 s ago: live, so a second publisher is refused and changes nothing.
	if _, err := r.publish(2, at(90)); !errors.Is(err, projection.ErrPublishing) {
		t.Fatalf("second publisher while the first is live: %v, want ErrPublishing", err)
	}
	// The same client again is a repeat.
	if c, err := r.publish(1, at(91)); err != nil || c != nil {
		t.Fatalf("repeat publish: %v %v", c, err)
	}
	// Not reported for 90 s: gone without a done (nginx crashed). The next publisher takes
	// over the same session; the stale one counts until it was last reported.
	if c, err := r.publish(3, at(150)); err != nil || c != nil {
		t.Fatalf("take-over: %v %v, want no status change", c, err)
	}
	r.done(3, at(160))
	l, ss := r.state()
	if l.Status != store.StatusIdle || len(ss) != 1 {
		t.Fatalf("%s with %d sessions, want IDLE with 1", l.Status, len(ss))
	}
	if got := ss[0].IngestSeconds; got != 60+10 {
		t.Errorf("ingest_seconds %v, want 70 (60 until last seen, then 10)", got)
	}
	err := r.st.View(context.Background(), func(rd store.Reader) error {
		_, err := rd.RtmpClient(context.Background(), 1)
		return err
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the stale publisher is still registered: %v", err)
	}
}

func TestIngestViewers(t *testing.T) {
	r := newIngestRig(t, projection.Ingest{})
	r.play(10, at(0)) // waits for the publisher
	if _, err := r.publish(1, at(5)); err != nil {
		t.Fatal(err)
	}
	r.play(11, at(6))
	r.play(12, at(7))
	r.done(11, at(9))  // 3 s
	r.done(1, at(15))  // the session stops
	r.done(12, at(20)) // 8 s counted, to the stop
	r.done(10, at(30)) // 10 s counted: from the start to the stop
	r.play(13, at(40)) // no session started while it watched
	r.done(13, at(50))
	_, ss := r.state()
	if len(ss) != 1 {
		t.Fatalf("%d sessions", len(ss))
	}
	if got := ss[0].ViewerSeconds; got != 3+8+10 {
		t.Errorf("viewer_seconds %v, want 21", got)
	}
	if got := ss[0].IngestSeconds; got != 10 {
		t.Errorf("ingest_seconds %v, want 10", got)
	}
}

func TestIngestReap(t *testing.T) {
	r := newIngestRig(t, projection.Ingest{StaleAfter: 90 * time.Second})
	if _, err := r.publish(1, at(0)); err != nil {
		t.Fatal(err)
	}
	r.play(2, at(10))
	r.play(3, at(20))
	r.seen(1, at(60))
	r.seen(2, at(50))
	r.seen(3, at(150)) // still reported: stays

	reap := func(now time.Time) (reaped []projection.Reaped) {
		t.Helper()
		r.update(func(ctx context.Context, w store.Writer) error {
			var err error
			reaped, err = r.in.Reap(ctx, w, now, 10)
			return err
		})
		return reaped
	}
	if got := reap(at(140)); len(got) != 0 {
		t.Fatalf("reaped %d clients seen within 90 s", len(got))
	}
	got := reap(at(200))
	if len(got) != 2 || got[0].Client.ClientID != 2 || got[1].Client.ClientID != 1 {
		t.Fatalf("reaped %+v, want viewer 2 then publisher 1", got)
	}
	if got[0].Change != nil || got[1].Change == nil || got[1].Change.New != store.StatusIdle || got[1].Change.Reason == "" {
		t.Errorf("changes %+v / %+v, want none for the viewer and → IDLE with a reason for the publisher", got[0].Change, got[1].Change)
	}
	l, ss := r.state()
	if l.Status != store.StatusIdle || len(ss) != 1 {
		t.Fatalf("%s with %d sessions, want IDLE with 1", l.Status, len(ss))
	}
	// Counted until last seen: the publisher 60 s, viewer 2 from 10 to 50.
	if ss[0].IngestSeconds != 60 || !ss[0].StoppedAt.Equal(at(60)) || ss[0].ViewerSeconds != 40 {
		t.Errorf("session: ingest %v stopped %v viewers %v; want 60, %v, 40", ss[0].IngestSeconds, ss[0].StoppedAt, ss[0].ViewerSeconds, at(60))
	}
	// Viewer 3, still reported, is accounted when it is done: until the session stopped.
	r.done(3, at(160))
	if _, ss := r.state(); ss[0].ViewerSeconds != 40+40 {
		t.Errorf("viewer_seconds %v, want 80", ss[0].ViewerSeconds)
	}
	if got := reap(at(1000)); len(got) != 0 {
		t.Errorf("reaped %d clients after all were accounted for", len(got))
	}
	// Without StaleAfter, nothing is ever reaped.
	r2 := newIngestRig(t, projection.Ingest{})
	if _, err := r2.publish(1, at(0)); err != nil {
		t.Fatal(err)
	}
	r2.update(func(ctx context.Context, w store.Writer) error {
		reaped, err := r2.in.Reap(ctx, w, at(1e6), 10)
		if len(reaped) != 0 {
			t.Errorf("reaped %d without StaleAfter", len(reaped))
		}
		return err
	})
}

// TestIngestClientIDReused: nginx-rtmp numbers its clients from 1 again when it restarts, so
// a client id livegate holds can come again for a new client. The one registered under it is
// gone: it is accounted for as done when last seen, and the new one registered. Until
// 2026-11-29 the new registration replaced the old, and the old publisher's livestream stayed
// LIVE with an open session for good: nothing held its client any more, so not even the
// reaper could close it.
func TestIngestClientIDReused(t *testing.T) {
	registered := func(t *testing.T, r *ingestRig, client uint64) store.RtmpClient {
		t.Helper()
		var c store.RtmpClient
		err := r.st.View(context.Background(), func(rd store.Reader) error {
			var err error
			c, err = rd.RtmpClient(context.Background(), client)
			return err
		})
		if err != nil {
			t.Fatalf("client %d: %v", client, err)
		}
		return c
	}
	// stopped checks that r's livestream is IDLE with one session that stopped at `stop`
	// with ingest and viewer seconds.
	stopped := func(t *testing.T, r *ingestRig, stop time.Time, ingest, viewers float64) {
		t.Helper()
		l, ss := r.state()
		if l.Status != store.StatusIdle || len(ss) != 1 {
			t.Fatalf("%s: %s with %d sessions, want IDLE with 1", r.id, l.Status, len(ss))
		}
		if !ss[0].StoppedAt.Equal(stop) || ss[0].IngestSeconds != ingest || ss[0].ViewerSeconds != viewers {
			t.Errorf("%s: session stopped %v with ingest %v, viewers %v; want %v, %v, %v", r.id, ss[0].StoppedAt, ss[0].IngestSeconds, ss[0].ViewerSeconds, stop, ingest, viewers)
		}
	}
	t.Run("a publisher's id, for another livestream's publisher", func(t *testing.T) {
		a := newIngestRig(t, projection.Ingest{StaleAfter: 90 * time.Second})
		b := a.another("ls-2")
		if _, err := a.publish(1, at(0)); err != nil {
			t.Fatal(err)
		}
		a.seen(1, at(10))
		if c, err := b.publish(1, at(20)); err != nil || c == nil || c.New != store.StatusLive {
			t.Fatalf("publish to ls-2: %+v %v", c, err)
		}
		stopped(t, a, at(10), 10, 0)
		if c := registered(t, a, 1); c.LivestreamID != "ls-2" || !c.Publishing || !c.Since.Equal(at(20)) {
			t.Errorf("client 1 registered as %+v, want ls-2's publisher since %v", c, at(20))
		}
	})
	t.Run("a publisher's id, for a viewer of its own livestream", func(t *testing.T) {
		a := newIngestRig(t, projection.Ingest{StaleAfter: 90 * time.Second})
		if _, err := a.publish(1, at(0)); err != nil {
			t.Fatal(err)
		}
		a.seen(1, at(10))
		a.play(1, at(20))
		stopped(t, a, at(10), 10, 0)
		if c := registered(t, a, 1); c.LivestreamID != a.id || c.Publishing {
			t.Errorf("client 1 registered as %+v, want a viewer of %s", c, a.id)
		}
	})
	t.Run("a viewer's id, for another livestream's publisher", func(t *testing.T) {
		a := newIngestRig(t, projection.Ingest{StaleAfter: 90 * time.Second})
		b := a.another("ls-2")
		if _, err := a.publish(1, at(0)); err != nil {
			t.Fatal(err)
		}
		a.play(2, at(5))
		a.seen(2, at(8))
		if _, err := b.publish(2, at(20)); err != nil {
			t.Fatal(err)
		}
		a.done(1, at(30))
		stopped(t, a, at(30), 30, 3) // the viewer counts from 5 to when it was last seen, 8
		if c := registered(t, a, 2); c.LivestreamID != "ls-2" || !c.Publishing {
			t.Errorf("client 2 registered as %+v, want ls-2's publisher", c)
		}
	})
	t.Run("a viewer's play, repeated", func(t *testing.T) {
		a := newIngestRig(t, projection.Ingest{StaleAfter: 90 * time.Second})
		if _, err := a.publish(1, at(0)); err != nil {
			t.Fatal(err)
		}
		a.play(2, at(0))
		a.play(2, at(50)) // the same callback again: it watches since 0 all the same
		a.done(2, at(60))
		a.done(1, at(60))
		stopped(t, a, at(60), 60, 60)
	})
}
