package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/livegate/livegate/internal/store"
)

// RunShared runs the cases where several processes share one database and race to apply
// the same rule: open must return n stores (n handles, as n processes would have) on one new,
// empty database, each closed at t's cleanup.
//
//	func TestShared(t *testing.T) {
//		storetest.RunShared(t, func(t *testing.T, n int) []store.Store { return openN(t, n) })
//	}
//
// Each case races two Updates on two handles, over and over, each Update doing what the
// service does ("read, then write if absent"), and checks that the rule held every time:
// whatever a backend does (one writer at a time, constraints), two nodes never both win.
func RunShared(t *testing.T, open func(t *testing.T, n int) []store.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b store.Store)
	}{
		{"RaceDedupe", testRaceDedupe},
		{"RaceFirstAmityEvent", testRaceFirstAmityEvent},
		{"RacePublishers", testRacePublishers},
		{"RaceMeetingStart", testRaceMeetingStart},
		{"AppsVersionShared", testAppsVersionShared},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ss := open(t, 2)
			if len(ss) != 2 {
				t.Fatalf("open returned %d stores, want 2", len(ss))
			}
			tc.fn(t, ss[0], ss[1])
		})
	}
}

// raceRounds is how many times each case races its two Updates.
const raceRounds = 25

// race runs f(a) and f(b) at once and returns their results (a's first).
func race[T any](a, b store.Store, f func(s store.Store, who int) T) (T, T) {
	var ra, rb T
	var ready, wg sync.WaitGroup
	start := make(chan struct{})
	ready.Add(2)
	wg.Go(func() { ready.Done(); <-start; ra = f(a, 0) })
	wg.Go(func() { ready.Done(); <-start; rb = f(b, 1) })
	ready.Wait()
	close(start)
	wg.Wait()
	return ra, rb
}

type outcome struct {
	id  string // what the Update found or made (a sequence, a livestream id, ...)
	won bool   // it wrote (rather than found what the other one wrote)
	err error
}

// testRaceDedupe: two nodes receive the same delivery at once. Each Update reads the
// delivery's events and appends only if there are none (the webhook service's commit). One
// event is stored, and both Updates succeed with its sequence: one appended, one found it.
func testRaceDedupe(t *testing.T, a, b store.Store) {
	ctx := ctxT(t)
	for round := range raceRounds {
		key := fmt.Sprintf("race-%02d", round)
		deliver := func(s store.Store, _ int) (o outcome) {
			o.err = s.Update(ctx, func(w store.Writer) error {
				o = outcome{}
				prior, err := w.DeliveryEvents(ctx, tenantA, "hms", "delivery-"+key)
				if err != nil {
					return err
				}
				if len(prior) > 0 {
					o.id = fmt.Sprint(prior[0].Sequence)
					return nil
				}
				e := feedEvent(tenantA, "hms", "hls.started", key)
				if err := w.AppendEvent(ctx, e); err != nil {
					return err
				}
				o.id, o.won = fmt.Sprint(e.Sequence), true
				return nil
			})
			return o
		}
		oa, ob := race(a, b, deliver)
		checkRace(t, fmt.Sprintf("round %d: delivery %s", round, key), oa, ob, true)
		view(t, a, func(r store.Reader) error {
			evs, err := r.DeliveryEvents(ctx, tenantA, "hms", "delivery-"+key)
			mustNil(t, "DeliveryEvents", err)
			if len(evs) != 1 {
				t.Errorf("round %d: %d events stored for one delivery, want 1", round, len(evs))
			}
			return nil
		})
	}
}

// checkRace: both Updates succeeded, exactly one wrote, and they agree on what is there
// (sameID), or exactly one succeeded and the other failed with a rule's error (!sameID is
// checked by the caller).
func checkRace(t *testing.T, what string, oa, ob outcome, sameID bool) {
	t.Helper()
	if oa.err != nil || ob.err != nil {
		t.Fatalf("%s: Updates returned %v and %v, want both to succeed", what, oa.err, ob.err)
	}
	if oa.won == ob.won {
		t.Errorf("%s: wrote %v and %v, want exactly one to write", what, oa.won, ob.won)
	}
	if sameID && oa.id != ob.id {
		t.Errorf("%s: the Updates answered %s and %s, want the same", what, oa.id, ob.id)
	}
}

// testRaceFirstAmityEvent: the first event of an Amity stream reaches two nodes at once.
// Each Update looks the livestream up by streamId and creates it if there is none. One
// livestream is created, and both Updates get it.
func testRaceFirstAmityEvent(t *testing.T, a, b store.Store) {
	ctx := ctxT(t)
	for round := range raceRounds {
		streamID := fmt.Sprintf("amity-stream-%02d", round)
		target := func(s store.Store, who int) (o outcome) {
			o.err = s.Update(ctx, func(w store.Writer) error {
				o = outcome{}
				l, err := w.LivestreamByProviderID(ctx, tenantA, "amity", streamID)
				if err == nil {
					o.id = l.ID
					return nil
				}
				if !errors.Is(err, store.ErrNotFound) {
					return err
				}
				l = livestream(tenantA, fmt.Sprintf("ls-%02d-by-%d", round, who), t0)
				l.Provider, l.ProviderID = "amity", streamID
				if err := w.CreateLivestream(ctx, l); err != nil {
					return err
				}
				o.id, o.won = l.ID, true
				return nil
			})
			return o
		}
		oa, ob := race(a, b, target)
		checkRace(t, fmt.Sprintf("round %d: stream %s", round, streamID), oa, ob, true)
	}
	view(t, a, func(r store.Reader) error {
		_, total, err := r.ListLivestreams(ctx, tenantA, store.LivestreamFilter{})
		mustNil(t, "ListLivestreams", err)
		if total != raceRounds {
			t.Errorf("%d livestreams for %d Amity streams, want one each", total, raceRounds)
		}
		return nil
	})
}

var (
	errRacePublishing = errors.New("the livestream already has a publisher")
	errRaceActive     = errors.New("the meeting already has an active livestream")
)

// testRacePublishers: two nginx-rtmp clients publish to one livestream at once (on two
// nodes). Each Update registers its client unless the livestream has a publisher (the RTMP
// ingest's Publish). One is registered; the other is refused.
func testRacePublishers(t *testing.T, a, b store.Store) {
	ctx := ctxT(t)
	for round := range raceRounds {
		ls := livestream(tenantA, fmt.Sprintf("ls-%02d", round), t0)
		update(t, a, func(w store.Writer) error { return w.CreateLivestream(ctx, ls) })
		publish := func(s store.Store, who int) (o outcome) {
			id := uint64(100*round + who + 1)
			o.err = s.Update(ctx, func(w store.Writer) error {
				o = outcome{}
				pub, err := w.RtmpPublisher(ctx, tenantA, ls.ID)
				if err == nil && pub.ClientID != id {
					return errRacePublishing
				}
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
				if err := w.PutRtmpClient(ctx, rtmpClient(ls, id, "s-1", true, t0)); err != nil {
					return err
				}
				o.id, o.won = fmt.Sprint(id), true
				return nil
			})
			return o
		}
		oa, ob := race(a, b, publish)
		what := fmt.Sprintf("round %d: two publishers of %s", round, ls.ID)
		checkOneWins(t, what, oa, ob, errRacePublishing)
		view(t, b, func(r store.Reader) error {
			pub, err := r.RtmpPublisher(ctx, tenantA, ls.ID)
			mustNil(t, "RtmpPublisher", err)
			if winner := map[bool]string{true: oa.id, false: ob.id}[oa.err == nil]; fmt.Sprint(pub.ClientID) != winner {
				t.Errorf("%s: the publisher is %d, want the winner %s", what, pub.ClientID, winner)
			}
			return nil
		})
	}
}

// checkOneWins: exactly one Update succeeded, and the other failed with the rule's error.
func checkOneWins(t *testing.T, what string, oa, ob outcome, ruleErr error) {
	t.Helper()
	ok, lost := oa, ob
	if oa.err != nil {
		ok, lost = ob, oa
	}
	if ok.err != nil || !ok.won {
		t.Errorf("%s: Updates returned %v and %v, want one to succeed", what, oa.err, ob.err)
		return
	}
	if !errors.Is(lost.err, ruleErr) {
		t.Errorf("%s: the other Update returned %v, want %q", what, lost.err, ruleErr)
	}
}

// testRaceMeetingStart: a meeting's livestream is started twice at once (on two nodes).
// Each Update finds the meeting's livestream, refuses if it is active, and otherwise makes
// it INVOKED with a new session (creating the livestream if the meeting has none: the
// livestream service's StartMeetingLivestream). One start wins; the other is refused; the
// livestream has one session for the start.
func testRaceMeetingStart(t *testing.T, a, b store.Store) {
	ctx := ctxT(t)
	for round := range raceRounds {
		meeting := fmt.Sprintf("m-%02d", round)
		existing := round%2 == 1 // an IDLE livestream from an earlier start, or none
		if existing {
			l := livestream(tenantA, "ls-"+meeting, t0)
			l.MeetingID = meeting
			update(t, a, func(w store.Writer) error { return w.CreateLivestream(ctx, l) })
		}
		start := func(s store.Store, who int) (o outcome) {
			o.err = s.Update(ctx, func(w store.Writer) error {
				o = outcome{}
				l, err := w.LivestreamByMeeting(ctx, tenantA, meeting)
				switch {
				case errors.Is(err, store.ErrNotFound):
					l = livestream(tenantA, fmt.Sprintf("ls-%s-by-%d", meeting, who), t0)
					l.MeetingID, l.Status = meeting, store.StatusInvoked
					if err := w.CreateLivestream(ctx, l); err != nil {
						return err
					}
				case err != nil:
					return err
				case l.Status.Active():
					return errRaceActive
				default:
					l.Status = store.StatusInvoked
					if err := w.UpdateLivestream(ctx, l); err != nil {
						return err
					}
				}
				if err := w.CreateSession(ctx, session(l, fmt.Sprintf("s-%s-by-%d", meeting, who), t0)); err != nil {
					return err
				}
				o.id, o.won = l.ID, true
				return nil
			})
			return o
		}
		oa, ob := race(a, b, start)
		what := fmt.Sprintf("round %d: two starts of meeting %s (livestream existed: %v)", round, meeting, existing)
		checkOneWins(t, what, oa, ob, errRaceActive)
		view(t, b, func(r store.Reader) error {
			l, err := r.LivestreamByMeeting(ctx, tenantA, meeting)
			mustNil(t, "LivestreamByMeeting", err)
			if l.Status != store.StatusInvoked {
				t.Errorf("%s: status %s, want INVOKED", what, l.Status)
			}
			_, n, err := r.ListSessions(ctx, tenantA, l.ID, 0, 0)
			mustNil(t, "ListSessions", err)
			if n != 1 {
				t.Errorf("%s: %d sessions, want 1", what, n)
			}
			return nil
		})
	}
}

// testAppsVersionShared: a change to apps committed by one process changes AppsVersion for
// the other, at once.
func testAppsVersionShared(t *testing.T, a, b store.Store) {
	ctx := ctxT(t)
	app := store.App{Tenant: tenantA, TokenID: "tok-1", TokenHash: []byte{1}, WebhookSecret: "whsec-1", CreatedAt: t0}
	v0 := appsVersion(t, b)
	update(t, a, func(w store.Writer) error { return w.CreateApp(ctx, app) })
	v1 := appsVersion(t, b)
	if v1 == v0 {
		t.Errorf("AppsVersion %d on b before and after a created an app", v0)
	}
	app.WebhookSecret = "whsec-2"
	update(t, a, func(w store.Writer) error { return w.UpdateAppCredentials(ctx, app) })
	if v2 := appsVersion(t, b); v2 == v1 || v2 == v0 {
		t.Errorf("AppsVersion on b: %d, %d, then %d after a rotated the app's secret", v0, v1, v2)
	}
}
