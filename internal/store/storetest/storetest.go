// Package storetest is the conformance suite of store.Store: every backend (SQLite,
// PostgreSQL) runs Run from its own tests and must pass it unchanged.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t) })
//	}
//
// open must return an empty store and arrange (t.Cleanup) for it to be closed. Every subtest
// opens its own store, so the subtests do not depend on each other.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/store"
)

// Run runs the conformance suite against stores made by open.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Apps", testApps},
		{"AppsDuplicate", testAppsDuplicate},
		{"LivestreamRoundTrip", testLivestreamRoundTrip},
		{"LivestreamDuplicate", testLivestreamDuplicate},
		{"LivestreamUpdate", testLivestreamUpdate},
		{"LivestreamDelete", testLivestreamDelete},
		{"ListLivestreams", testListLivestreams},
		{"SessionRoundTrip", testSessionRoundTrip},
		{"SessionActiveLatest", testSessionActiveLatest},
		{"ListSessions", testListSessions},
		{"Analytics", testAnalytics},
		{"TenantIsolation", testTenantIsolation},
		{"Rollback", testRollback},
		{"RollbackOnPanic", testRollbackOnPanic},
		{"ViewSnapshot", testViewSnapshot},
		{"ConcurrentUpdates", testConcurrentUpdates},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			tc.fn(t, s)
		})
	}
}

// --- fixtures ---

var (
	tenantA = store.Tenant{AccountID: "acct-a", AppID: "app-1"}
	// Tenants that share one half of tenantA's ids: scoping must use both.
	tenantB  = store.Tenant{AccountID: "acct-a", AppID: "app-2"}
	tenantB2 = store.Tenant{AccountID: "acct-b", AppID: "app-1"}

	// t0 has nanoseconds, which every backend keeps to the microsecond.
	t0 = time.Date(2025, 3, 14, 22, 15, 30, 123456789, time.UTC)
)

func ctxT(t *testing.T) context.Context { return t.Context() }

func update(t *testing.T, s store.Store, fn func(w store.Writer) error) {
	t.Helper()
	if err := s.Update(ctxT(t), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t *testing.T, s store.Store, fn func(r store.Reader) error) {
	t.Helper()
	if err := s.View(ctxT(t), fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// wantErr fails unless err wraps target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v, want one wrapping %q", what, err, target)
	}
}

func mustNil(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func livestream(tn store.Tenant, id string, created time.Time) store.Livestream {
	return store.Livestream{
		Tenant:    tn,
		ID:        id,
		Name:      "name of " + id,
		StreamKey: "key-" + id,
		Status:    store.StatusIdle,
		Provider:  "rtmp",
		CreatedAt: created,
		UpdatedAt: created,
	}
}

func session(ls store.Livestream, id string, created time.Time) store.Session {
	return store.Session{
		Tenant:       ls.Tenant,
		ID:           id,
		LivestreamID: ls.ID,
		InvokedAt:    created,
		CreatedAt:    created,
		UpdatedAt:    created,
	}
}

// us is the time as a backend returns it: UTC, microsecond precision.
func us(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Truncate(time.Microsecond).UTC()
}

// --- comparisons: times by instant, with the location and precision checked ---

type diffs []string

func (d *diffs) time(field string, got, want time.Time) {
	want = us(want)
	switch {
	case got.IsZero() != want.IsZero():
		*d = append(*d, fmt.Sprintf("%s: got %v, want %v", field, got, want))
	case !got.Equal(want):
		*d = append(*d, fmt.Sprintf("%s: got %v, want %v", field, got.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano)))
	case got.Location() != time.UTC:
		*d = append(*d, fmt.Sprintf("%s: location %v, want UTC", field, got.Location()))
	}
}

func (d *diffs) eq(field string, got, want any) {
	if fmt.Sprint(got) != fmt.Sprint(want) {
		*d = append(*d, fmt.Sprintf("%s: got %#v, want %#v", field, got, want))
	}
}

func (d diffs) report(t *testing.T, what string) {
	t.Helper()
	if len(d) > 0 {
		t.Errorf("%s differs:\n  %s", what, strings.Join(d, "\n  "))
	}
}

func checkApp(t *testing.T, what string, got, want store.App) {
	t.Helper()
	var d diffs
	d.eq("Tenant", got.Tenant, want.Tenant)
	d.eq("TokenID", got.TokenID, want.TokenID)
	d.eq("TokenHash", fmt.Sprintf("%x", got.TokenHash), fmt.Sprintf("%x", want.TokenHash))
	d.eq("WebhookSecret", got.WebhookSecret, want.WebhookSecret)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.report(t, what)
}

func checkLivestream(t *testing.T, what string, got, want store.Livestream) {
	t.Helper()
	var d diffs
	d.eq("Tenant", got.Tenant, want.Tenant)
	d.eq("ID", got.ID, want.ID)
	d.eq("Name", got.Name, want.Name)
	d.eq("MeetingID", got.MeetingID, want.MeetingID)
	d.eq("StreamKey", got.StreamKey, want.StreamKey)
	d.eq("Status", got.Status, want.Status)
	d.eq("Disabled", got.Disabled, want.Disabled)
	d.eq("Provider", got.Provider, want.Provider)
	d.eq("ProviderID", got.ProviderID, want.ProviderID)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	d.report(t, what)
}

func checkSession(t *testing.T, what string, got, want store.Session) {
	t.Helper()
	var d diffs
	d.eq("Tenant", got.Tenant, want.Tenant)
	d.eq("ID", got.ID, want.ID)
	d.eq("LivestreamID", got.LivestreamID, want.LivestreamID)
	d.time("InvokedAt", got.InvokedAt, want.InvokedAt)
	d.time("StartedAt", got.StartedAt, want.StartedAt)
	d.time("StoppedAt", got.StoppedAt, want.StoppedAt)
	d.eq("IngestSeconds", got.IngestSeconds, want.IngestSeconds)
	d.eq("ViewerSeconds", got.ViewerSeconds, want.ViewerSeconds)
	d.eq("ErrMessage", got.ErrMessage, want.ErrMessage)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	d.report(t, what)
}

func livestreamIDs(ls []store.Livestream) []string {
	ids := make([]string, len(ls))
	for i, l := range ls {
		ids[i] = l.ID
	}
	return ids
}

func sessionIDs(ss []store.Session) []string {
	ids := make([]string, len(ss))
	for i, s := range ss {
		ids[i] = s.ID
	}
	return ids
}

// --- apps ---

func testApps(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := store.App{
		Tenant:        tenantA,
		TokenID:       "tok-a",
		TokenHash:     []byte{0x00, 0x01, 0xfe, 0xff, 0x00}, // NULs and high bytes survive
		WebhookSecret: "whsec-a",
		CreatedAt:     t0,
	}
	// A second app of the same account: the tenant is the pair.
	b := store.App{Tenant: tenantB, TokenID: "tok-b", TokenHash: []byte("h"), WebhookSecret: "", CreatedAt: t0.Add(time.Hour)}
	update(t, s, func(w store.Writer) error {
		if err := w.CreateApp(ctx, a); err != nil {
			return err
		}
		// Visible inside the transaction that wrote it.
		got, err := w.App(ctx, tenantA)
		if err != nil {
			return err
		}
		checkApp(t, "App in the writing transaction", got, a)
		return w.CreateApp(ctx, b)
	})
	view(t, s, func(r store.Reader) error {
		got, err := r.App(ctx, tenantA)
		mustNil(t, "App", err)
		checkApp(t, "App", got, a)
		got, err = r.AppByTokenID(ctx, "tok-a")
		mustNil(t, "AppByTokenID", err)
		checkApp(t, "AppByTokenID", got, a)
		got, err = r.AppByTokenID(ctx, "tok-b")
		mustNil(t, "AppByTokenID b", err)
		checkApp(t, "AppByTokenID b", got, b)

		_, err = r.App(ctx, tenantB2)
		wantErr(t, "App of an unknown tenant", err, store.ErrNotFound)
		_, err = r.AppByTokenID(ctx, "tok-nope")
		wantErr(t, "AppByTokenID unknown", err, store.ErrNotFound)
		_, err = r.AppByTokenID(ctx, "")
		wantErr(t, "AppByTokenID empty", err, store.ErrNotFound)
		return nil
	})
}

func testAppsDuplicate(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := store.App{Tenant: tenantA, TokenID: "tok-a", TokenHash: []byte("h"), CreatedAt: t0}
	update(t, s, func(w store.Writer) error { return w.CreateApp(ctx, a) })
	for _, tc := range []struct {
		name string
		app  store.App
	}{
		{"same tenant", store.App{Tenant: tenantA, TokenID: "tok-other", TokenHash: []byte("h"), CreatedAt: t0}},
		{"same token id", store.App{Tenant: tenantB, TokenID: "tok-a", TokenHash: []byte("h"), CreatedAt: t0}},
	} {
		err := s.Update(ctx, func(w store.Writer) error { return w.CreateApp(ctx, tc.app) })
		wantErr(t, "CreateApp "+tc.name, err, store.ErrAlreadyExists)
	}
	view(t, s, func(r store.Reader) error {
		_, err := r.App(ctx, tenantB)
		wantErr(t, "App after a failed create", err, store.ErrNotFound)
		got, err := r.AppByTokenID(ctx, "tok-a")
		mustNil(t, "AppByTokenID", err)
		checkApp(t, "original app", got, a)
		return nil
	})
}

// --- livestreams ---

func testLivestreamRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	full := store.Livestream{
		Tenant:     tenantA,
		ID:         "ls-full",
		Name:       "Town hall ✓ 'quoted' \"name\"",
		MeetingID:  "meeting-1",
		StreamKey:  "sk-full",
		Status:     store.StatusLive,
		Disabled:   true,
		Provider:   "amity",
		ProviderID: "amity-stream-1",
		CreatedAt:  t0.In(zone), // any location in, UTC out
		UpdatedAt:  t0.Add(90*time.Minute + 999*time.Nanosecond),
	}
	bare := livestream(tenantA, "ls-bare", t0) // no meeting, no provider id, not disabled
	update(t, s, func(w store.Writer) error {
		mustNil(t, "create full", w.CreateLivestream(ctx, full))
		return w.CreateLivestream(ctx, bare)
	})
	view(t, s, func(r store.Reader) error {
		for _, want := range []store.Livestream{full, bare} {
			got, err := r.Livestream(ctx, tenantA, want.ID)
			mustNil(t, "Livestream "+want.ID, err)
			checkLivestream(t, "Livestream "+want.ID, got, want)
			got, err = r.LivestreamByStreamKey(ctx, want.StreamKey)
			mustNil(t, "LivestreamByStreamKey "+want.ID, err)
			checkLivestream(t, "LivestreamByStreamKey "+want.ID, got, want)
		}
		got, err := r.LivestreamByMeeting(ctx, tenantA, "meeting-1")
		mustNil(t, "LivestreamByMeeting", err)
		checkLivestream(t, "LivestreamByMeeting", got, full)
		got, err = r.LivestreamByProviderID(ctx, tenantA, "amity", "amity-stream-1")
		mustNil(t, "LivestreamByProviderID", err)
		checkLivestream(t, "LivestreamByProviderID", got, full)

		_, err = r.Livestream(ctx, tenantA, "ls-nope")
		wantErr(t, "Livestream unknown", err, store.ErrNotFound)
		_, err = r.LivestreamByMeeting(ctx, tenantA, "meeting-nope")
		wantErr(t, "LivestreamByMeeting unknown", err, store.ErrNotFound)
		_, err = r.LivestreamByMeeting(ctx, tenantA, "")
		wantErr(t, "LivestreamByMeeting empty (independent livestreams have none)", err, store.ErrNotFound)
		_, err = r.LivestreamByStreamKey(ctx, "sk-nope")
		wantErr(t, "LivestreamByStreamKey unknown", err, store.ErrNotFound)
		_, err = r.LivestreamByProviderID(ctx, tenantA, "hms", "amity-stream-1")
		wantErr(t, "LivestreamByProviderID other provider", err, store.ErrNotFound)
		_, err = r.LivestreamByProviderID(ctx, tenantA, "rtmp", "")
		wantErr(t, "LivestreamByProviderID empty id", err, store.ErrNotFound)
		return nil
	})
}

func testLivestreamDuplicate(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	orig := livestream(tenantA, "ls-1", t0)
	orig.MeetingID = "m-1"
	update(t, s, func(w store.Writer) error {
		mustNil(t, "create", w.CreateLivestream(ctx, orig))
		// Independent livestreams (no meeting) never collide on the meeting.
		mustNil(t, "create independent 1", w.CreateLivestream(ctx, livestream(tenantA, "ls-ind-1", t0)))
		mustNil(t, "create independent 2", w.CreateLivestream(ctx, livestream(tenantA, "ls-ind-2", t0)))
		// The same meeting id in another tenant is another meeting.
		other := livestream(tenantB, "ls-b", t0)
		other.MeetingID = "m-1"
		return w.CreateLivestream(ctx, other)
	})

	dupID := livestream(tenantB2, "ls-1", t0) // ids are global
	dupKey := livestream(tenantB2, "ls-2", t0)
	dupKey.StreamKey = orig.StreamKey // stream keys are global
	dupMeeting := livestream(tenantA, "ls-3", t0)
	dupMeeting.MeetingID = "m-1"
	for _, tc := range []struct {
		name string
		l    store.Livestream
	}{{"id", dupID}, {"stream key", dupKey}, {"meeting", dupMeeting}} {
		err := s.Update(ctx, func(w store.Writer) error { return w.CreateLivestream(ctx, tc.l) })
		wantErr(t, "CreateLivestream duplicate "+tc.name, err, store.ErrAlreadyExists)
	}
	view(t, s, func(r store.Reader) error {
		got, err := r.Livestream(ctx, tenantA, "ls-1")
		mustNil(t, "Livestream", err)
		checkLivestream(t, "original after duplicates", got, orig)
		_, err = r.Livestream(ctx, tenantA, "ls-3")
		wantErr(t, "Livestream of a failed create", err, store.ErrNotFound)
		return nil
	})
}

func testLivestreamUpdate(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	orig := livestream(tenantA, "ls-1", t0)
	orig.MeetingID = "m-1"
	orig.Provider = "hms"
	orig.ProviderID = "hms-1"
	other := livestream(tenantA, "ls-2", t0)
	update(t, s, func(w store.Writer) error {
		mustNil(t, "create", w.CreateLivestream(ctx, orig))
		return w.CreateLivestream(ctx, other)
	})

	changed := orig
	changed.Name = "renamed"
	changed.StreamKey = "sk-new"
	changed.Status = store.StatusErrored
	changed.Disabled = true
	changed.UpdatedAt = t0.Add(time.Hour + 7*time.Microsecond)
	// Not mutable: these must not change.
	attempt := changed
	attempt.CreatedAt = t0.Add(-time.Hour)
	attempt.MeetingID = "m-other"
	attempt.Provider = "amity"
	attempt.ProviderID = "amity-x"
	update(t, s, func(w store.Writer) error { return w.UpdateLivestream(ctx, attempt) })
	view(t, s, func(r store.Reader) error {
		got, err := r.Livestream(ctx, tenantA, "ls-1")
		mustNil(t, "Livestream", err)
		checkLivestream(t, "updated livestream", got, changed)
		got, err = r.LivestreamByStreamKey(ctx, "sk-new")
		mustNil(t, "by new stream key", err)
		checkLivestream(t, "by new stream key", got, changed)
		_, err = r.LivestreamByStreamKey(ctx, orig.StreamKey)
		wantErr(t, "by old stream key", err, store.ErrNotFound)
		return nil
	})

	// Disabled back to false, status back.
	changed.Disabled = false
	changed.Status = store.StatusIdle
	update(t, s, func(w store.Writer) error { return w.UpdateLivestream(ctx, changed) })
	view(t, s, func(r store.Reader) error {
		got, err := r.Livestream(ctx, tenantA, "ls-1")
		mustNil(t, "Livestream", err)
		checkLivestream(t, "re-enabled livestream", got, changed)
		return nil
	})

	clash := other
	clash.StreamKey = "sk-new"
	err := s.Update(ctx, func(w store.Writer) error { return w.UpdateLivestream(ctx, clash) })
	wantErr(t, "UpdateLivestream to a taken stream key", err, store.ErrAlreadyExists)

	missing := livestream(tenantA, "ls-nope", t0)
	err = s.Update(ctx, func(w store.Writer) error { return w.UpdateLivestream(ctx, missing) })
	wantErr(t, "UpdateLivestream unknown", err, store.ErrNotFound)

	foreign := changed
	foreign.Tenant = tenantB
	foreign.Name = "hijacked"
	err = s.Update(ctx, func(w store.Writer) error { return w.UpdateLivestream(ctx, foreign) })
	wantErr(t, "UpdateLivestream from another tenant", err, store.ErrNotFound)
	view(t, s, func(r store.Reader) error {
		got, err := r.Livestream(ctx, tenantA, "ls-1")
		mustNil(t, "Livestream", err)
		checkLivestream(t, "livestream after foreign update", got, changed)
		return nil
	})
}

func testLivestreamDelete(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	gone := livestream(tenantA, "ls-gone", t0)
	kept := livestream(tenantA, "ls-kept", t0)
	update(t, s, func(w store.Writer) error {
		mustNil(t, "create gone", w.CreateLivestream(ctx, gone))
		mustNil(t, "create kept", w.CreateLivestream(ctx, kept))
		for i := range 3 {
			mustNil(t, "session", w.CreateSession(ctx, session(gone, fmt.Sprintf("s-gone-%d", i), t0.Add(time.Duration(i)*time.Minute))))
		}
		return w.CreateSession(ctx, session(kept, "s-kept", t0))
	})

	err := s.Update(ctx, func(w store.Writer) error { return w.DeleteLivestream(ctx, tenantB, "ls-gone") })
	wantErr(t, "DeleteLivestream from another tenant", err, store.ErrNotFound)
	err = s.Update(ctx, func(w store.Writer) error { return w.DeleteLivestream(ctx, tenantA, "ls-nope") })
	wantErr(t, "DeleteLivestream unknown", err, store.ErrNotFound)

	update(t, s, func(w store.Writer) error { return w.DeleteLivestream(ctx, tenantA, "ls-gone") })
	view(t, s, func(r store.Reader) error {
		_, err := r.Livestream(ctx, tenantA, "ls-gone")
		wantErr(t, "Livestream deleted", err, store.ErrNotFound)
		for i := range 3 {
			_, err = r.Session(ctx, tenantA, fmt.Sprintf("s-gone-%d", i))
			wantErr(t, "Session of a deleted livestream", err, store.ErrNotFound)
		}
		ss, total, err := r.ListSessions(ctx, tenantA, "ls-gone", 0, 10)
		mustNil(t, "ListSessions", err)
		if len(ss) != 0 || total != 0 {
			t.Errorf("ListSessions of a deleted livestream: %d sessions, total %d", len(ss), total)
		}
		_, err = r.Session(ctx, tenantA, "s-kept")
		mustNil(t, "Session of the kept livestream", err)
		return nil
	})
	err = s.Update(ctx, func(w store.Writer) error { return w.DeleteLivestream(ctx, tenantA, "ls-gone") })
	wantErr(t, "DeleteLivestream twice", err, store.ErrNotFound)

	// The id, stream key and meeting are free again.
	update(t, s, func(w store.Writer) error { return w.CreateLivestream(ctx, gone) })
}

func testListLivestreams(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	// Tenant A: a..f created a minute apart, except b and c created at the same instant (the
	// id breaks the tie). Meetings on b and e; statuses vary.
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	var all []store.Livestream
	mk := func(id string, created time.Time, meeting string, st store.Status) {
		l := livestream(tenantA, id, created)
		l.MeetingID = meeting
		l.Status = st
		all = append(all, l)
	}
	mk("a", at(0), "", store.StatusIdle)
	mk("c", at(1), "", store.StatusLive)
	mk("b", at(1), "m-b", store.StatusLive)
	mk("d", at(2), "", store.StatusIdle)
	mk("e", at(3), "m-e", store.StatusErrored)
	mk("f", at(4), "", store.StatusIdle)
	update(t, s, func(w store.Writer) error {
		for _, l := range all {
			mustNil(t, "create "+l.ID, w.CreateLivestream(ctx, l))
		}
		// Other tenants' rows, interleaved in time: never listed for A.
		for i, tn := range []store.Tenant{tenantB, tenantB2} {
			for j := range 3 {
				l := livestream(tn, fmt.Sprintf("other-%d-%d", i, j), at(j))
				mustNil(t, "create "+l.ID, w.CreateLivestream(ctx, l))
			}
		}
		return nil
	})

	asc := func(f store.LivestreamFilter) store.LivestreamFilter { f.Order = store.Ascending; return f }
	cases := []struct {
		name  string
		f     store.LivestreamFilter
		ids   []string
		total int
	}{
		{"all, newest first (default)", store.LivestreamFilter{}, []string{"f", "e", "d", "c", "b", "a"}, 6},
		{"all, oldest first", asc(store.LivestreamFilter{}), []string{"a", "b", "c", "d", "e", "f"}, 6},
		{"exclude meetings", store.LivestreamFilter{ExcludeMeetings: true}, []string{"f", "d", "c", "a"}, 4},
		{"status LIVE", store.LivestreamFilter{Status: store.StatusLive}, []string{"c", "b"}, 2},
		{"status IDLE, no meetings, asc", asc(store.LivestreamFilter{Status: store.StatusIdle, ExcludeMeetings: true}), []string{"a", "d", "f"}, 3},
		{"status nobody has", store.LivestreamFilter{Status: store.StatusInvoked}, nil, 0},
		{"from inclusive", asc(store.LivestreamFilter{CreatedFrom: at(2)}), []string{"d", "e", "f"}, 3},
		{"to exclusive", asc(store.LivestreamFilter{CreatedTo: at(2)}), []string{"a", "b", "c"}, 3},
		{"from and to", asc(store.LivestreamFilter{CreatedFrom: at(1), CreatedTo: at(3)}), []string{"b", "c", "d"}, 3},
		{"range off by a microsecond", asc(store.LivestreamFilter{CreatedFrom: at(1).Add(time.Microsecond), CreatedTo: at(3).Add(time.Microsecond)}), []string{"d", "e"}, 2},
		{"first page", store.LivestreamFilter{Limit: 2}, []string{"f", "e"}, 6},
		{"second page", store.LivestreamFilter{Offset: 2, Limit: 2}, []string{"d", "c"}, 6},
		{"last page, short", store.LivestreamFilter{Offset: 4, Limit: 4}, []string{"b", "a"}, 6},
		{"page past the end", store.LivestreamFilter{Offset: 10, Limit: 2}, nil, 6},
		{"offset without limit", asc(store.LivestreamFilter{Offset: 4}), []string{"e", "f"}, 6},
		{"filtered page", store.LivestreamFilter{ExcludeMeetings: true, Offset: 1, Limit: 2}, []string{"d", "c"}, 4},
	}
	view(t, s, func(r store.Reader) error {
		for _, tc := range cases {
			got, total, err := r.ListLivestreams(ctx, tenantA, tc.f)
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			if ids := livestreamIDs(got); !slices.Equal(ids, tc.ids) || total != tc.total {
				t.Errorf("%s: got %v total %d, want %v total %d", tc.name, ids, total, tc.ids, tc.total)
			}
		}
		// Rows come back whole.
		got, _, err := r.ListLivestreams(ctx, tenantA, asc(store.LivestreamFilter{}))
		mustNil(t, "list", err)
		byID := map[string]store.Livestream{}
		for _, l := range all {
			byID[l.ID] = l
		}
		for _, l := range got {
			checkLivestream(t, "listed "+l.ID, l, byID[l.ID])
		}
		return nil
	})
}

// --- sessions ---

func testSessionRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	ls := livestream(tenantA, "ls-1", t0)
	full := store.Session{
		Tenant:        tenantA,
		ID:            "s-full",
		LivestreamID:  "ls-1",
		InvokedAt:     t0.Add(1),
		StartedAt:     t0.Add(time.Second + 1500),
		StoppedAt:     t0.Add(time.Hour),
		IngestSeconds: 3599.25,
		ViewerSeconds: 12345.5,
		ErrMessage:    "beam failure: upstream closed",
		CreatedAt:     t0,
		UpdatedAt:     t0.Add(time.Hour),
	}
	bare := store.Session{Tenant: tenantA, ID: "s-bare", LivestreamID: "ls-1", CreatedAt: t0, UpdatedAt: t0}
	update(t, s, func(w store.Writer) error {
		mustNil(t, "create livestream", w.CreateLivestream(ctx, ls))
		mustNil(t, "create full", w.CreateSession(ctx, full))
		return w.CreateSession(ctx, bare)
	})
	view(t, s, func(r store.Reader) error {
		for _, want := range []store.Session{full, bare} {
			got, err := r.Session(ctx, tenantA, want.ID)
			mustNil(t, "Session "+want.ID, err)
			checkSession(t, "Session "+want.ID, got, want)
		}
		_, err := r.Session(ctx, tenantA, "s-nope")
		wantErr(t, "Session unknown", err, store.ErrNotFound)
		return nil
	})

	err := s.Update(ctx, func(w store.Writer) error { return w.CreateSession(ctx, bare) })
	wantErr(t, "CreateSession duplicate id", err, store.ErrAlreadyExists)
	orphan := session(livestream(tenantA, "ls-nope", t0), "s-orphan", t0)
	if err := s.Update(ctx, func(w store.Writer) error { return w.CreateSession(ctx, orphan) }); err == nil {
		t.Errorf("CreateSession for a livestream that does not exist: no error")
	}

	// Update: set every mutable field, then clear the times again.
	upd := bare
	upd.InvokedAt = t0.Add(time.Minute)
	upd.StartedAt = t0.Add(2 * time.Minute)
	upd.StoppedAt = t0.Add(3 * time.Minute)
	upd.IngestSeconds = 60.5
	upd.ViewerSeconds = 121
	upd.ErrMessage = "oops"
	upd.UpdatedAt = t0.Add(3 * time.Minute)
	update(t, s, func(w store.Writer) error { return w.UpdateSession(ctx, upd) })
	view(t, s, func(r store.Reader) error {
		got, err := r.Session(ctx, tenantA, upd.ID)
		mustNil(t, "Session", err)
		checkSession(t, "updated session", got, upd)
		return nil
	})
	upd.StoppedAt = time.Time{}
	upd.ErrMessage = ""
	update(t, s, func(w store.Writer) error { return w.UpdateSession(ctx, upd) })
	view(t, s, func(r store.Reader) error {
		got, err := r.Session(ctx, tenantA, upd.ID)
		mustNil(t, "Session", err)
		checkSession(t, "session with cleared stop", got, upd)
		return nil
	})

	missing := session(ls, "s-nope", t0)
	err = s.Update(ctx, func(w store.Writer) error { return w.UpdateSession(ctx, missing) })
	wantErr(t, "UpdateSession unknown", err, store.ErrNotFound)
	foreign := full
	foreign.Tenant = tenantB
	foreign.ErrMessage = "hijacked"
	err = s.Update(ctx, func(w store.Writer) error { return w.UpdateSession(ctx, foreign) })
	wantErr(t, "UpdateSession from another tenant", err, store.ErrNotFound)
	view(t, s, func(r store.Reader) error {
		got, err := r.Session(ctx, tenantA, full.ID)
		mustNil(t, "Session", err)
		checkSession(t, "session after foreign update", got, full)
		return nil
	})
}

func testSessionActiveLatest(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	ls := livestream(tenantA, "ls-1", t0)
	other := livestream(tenantA, "ls-2", t0)
	update(t, s, func(w store.Writer) error {
		mustNil(t, "create", w.CreateLivestream(ctx, ls))
		return w.CreateLivestream(ctx, other)
	})
	view(t, s, func(r store.Reader) error {
		_, err := r.ActiveSession(ctx, tenantA, "ls-1")
		wantErr(t, "ActiveSession without sessions", err, store.ErrNotFound)
		_, err = r.LatestSession(ctx, tenantA, "ls-1")
		wantErr(t, "LatestSession without sessions", err, store.ErrNotFound)
		return nil
	})

	s1 := session(ls, "s-1", t0)
	s1.StoppedAt = t0.Add(time.Minute)
	s2 := session(ls, "s-2", t0.Add(2*time.Minute)) // active
	sOther := session(other, "s-other", t0.Add(time.Hour))
	update(t, s, func(w store.Writer) error {
		mustNil(t, "s1", w.CreateSession(ctx, s1))
		mustNil(t, "s2", w.CreateSession(ctx, s2))
		return w.CreateSession(ctx, sOther) // newer, but another livestream's
	})
	view(t, s, func(r store.Reader) error {
		got, err := r.ActiveSession(ctx, tenantA, "ls-1")
		mustNil(t, "ActiveSession", err)
		checkSession(t, "ActiveSession", got, s2)
		got, err = r.LatestSession(ctx, tenantA, "ls-1")
		mustNil(t, "LatestSession", err)
		checkSession(t, "LatestSession", got, s2)
		return nil
	})

	s2.StoppedAt = t0.Add(3 * time.Minute)
	s2.UpdatedAt = s2.StoppedAt
	update(t, s, func(w store.Writer) error { return w.UpdateSession(ctx, s2) })
	view(t, s, func(r store.Reader) error {
		_, err := r.ActiveSession(ctx, tenantA, "ls-1")
		wantErr(t, "ActiveSession after stop", err, store.ErrNotFound)
		got, err := r.LatestSession(ctx, tenantA, "ls-1")
		mustNil(t, "LatestSession", err)
		checkSession(t, "LatestSession after stop", got, s2)
		return nil
	})

	// Two unstopped sessions (a crash left one behind): the latest is the active one.
	s3 := session(ls, "s-3", t0.Add(10*time.Minute))
	s4 := session(ls, "s-4", t0.Add(11*time.Minute))
	update(t, s, func(w store.Writer) error {
		mustNil(t, "s4", w.CreateSession(ctx, s4)) // inserted first, created later
		return w.CreateSession(ctx, s3)
	})
	view(t, s, func(r store.Reader) error {
		got, err := r.ActiveSession(ctx, tenantA, "ls-1")
		mustNil(t, "ActiveSession", err)
		checkSession(t, "ActiveSession of two", got, s4)
		got, err = r.LatestSession(ctx, tenantA, "ls-1")
		mustNil(t, "LatestSession", err)
		checkSession(t, "LatestSession of four", got, s4)
		return nil
	})
}

func testListSessions(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	ls := livestream(tenantA, "ls-1", t0)
	other := livestream(tenantA, "ls-2", t0)
	var want []string // newest first
	update(t, s, func(w store.Writer) error {
		mustNil(t, "create", w.CreateLivestream(ctx, ls))
		mustNil(t, "create other", w.CreateLivestream(ctx, other))
		for i := range 5 {
			id := fmt.Sprintf("s-%d", i)
			mustNil(t, "session", w.CreateSession(ctx, session(ls, id, t0.Add(time.Duration(i)*time.Minute))))
			want = append([]string{id}, want...)
		}
		return w.CreateSession(ctx, session(other, "s-other", t0.Add(time.Hour)))
	})
	cases := []struct {
		name          string
		offset, limit int
		ids           []string
	}{
		{"all", 0, 0, want},
		{"first page", 0, 2, want[:2]},
		{"second page", 2, 2, want[2:4]},
		{"last page", 4, 2, want[4:]},
		{"past the end", 5, 2, nil},
	}
	view(t, s, func(r store.Reader) error {
		for _, tc := range cases {
			got, total, err := r.ListSessions(ctx, tenantA, "ls-1", tc.offset, tc.limit)
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			if ids := sessionIDs(got); !slices.Equal(ids, tc.ids) || total != 5 {
				t.Errorf("ListSessions %s: got %v total %d, want %v total 5", tc.name, ids, total, tc.ids)
			}
		}
		got, total, err := r.ListSessions(ctx, tenantA, "ls-nope", 0, 10)
		mustNil(t, "ListSessions unknown livestream", err)
		if len(got) != 0 || total != 0 {
			t.Errorf("ListSessions of an unknown livestream: %v total %d", sessionIDs(got), total)
		}
		got, _, err = r.ListSessions(ctx, tenantA, "ls-1", 0, 1)
		mustNil(t, "ListSessions", err)
		if len(got) == 1 {
			checkSession(t, "listed session", got[0], session(ls, "s-4", t0.Add(4*time.Minute)))
		}
		return nil
	})
}

// --- analytics ---

func testAnalytics(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	day := func(d, h, m int) time.Time { return time.Date(2025, 3, d, h, m, 0, 0, time.UTC) }
	lsA := livestream(tenantA, "ls-a", day(1, 0, 0))
	lsB := livestream(tenantA, "ls-b", day(1, 0, 0))
	lsOther := livestream(tenantB, "ls-other", day(1, 0, 0))
	mkS := func(ls store.Livestream, id string, created time.Time, ingest, viewer float64) store.Session {
		x := session(ls, id, created)
		x.IngestSeconds, x.ViewerSeconds = ingest, viewer
		return x
	}
	sessions := []store.Session{
		// The last microsecond of the 9th, then the first of the 10th.
		mkS(lsA, "s1", day(9, 23, 59).Add(59*time.Second+999999*time.Microsecond), 60, 600),
		mkS(lsA, "s2", day(10, 0, 0), 120, 30),
		mkS(lsB, "s3", day(10, 12, 0), 30, 0),
		// The 11th has none.
		mkS(lsB, "s4", day(12, 8, 0), 90, 90),
		// At `to`, excluded; before `from`, excluded; another tenant's.
		mkS(lsA, "s5", day(13, 0, 0), 1000, 1000),
		mkS(lsA, "s0", day(8, 23, 0), 1000, 1000),
		mkS(lsOther, "s-other", day(10, 1, 0), 5000, 5000),
	}
	mkR := func(tn store.Tenant, id string, at time.Time, dur float64) store.Recording {
		return store.Recording{Tenant: tn, ID: id, LivestreamID: "ls-a", Source: "hms", RecordedAt: at, DurationSeconds: dur}
	}
	recordings := []store.Recording{
		mkR(tenantA, "r1", day(9, 23, 59), 90),
		mkR(tenantA, "r2", day(9, 10, 0), 30),
		mkR(tenantA, "r3", day(10, 0, 0), 600),
		{Tenant: tenantA, ID: "r4", Source: "rtmp", RecordedAt: day(12, 1, 0), DurationSeconds: 6}, // livestream unknown
		mkR(tenantA, "r5", day(13, 0, 0), 1000),
		mkR(tenantB, "r-other", day(10, 0, 0), 5000),
	}
	update(t, s, func(w store.Writer) error {
		for _, l := range []store.Livestream{lsA, lsB, lsOther} {
			mustNil(t, "livestream", w.CreateLivestream(ctx, l))
		}
		for _, x := range sessions {
			mustNil(t, "session "+x.ID, w.CreateSession(ctx, x))
		}
		for _, r := range recordings {
			mustNil(t, "recording "+r.ID, w.CreateRecording(ctx, r))
		}
		return nil
	})
	err := s.Update(ctx, func(w store.Writer) error { return w.CreateRecording(ctx, recordings[0]) })
	wantErr(t, "CreateRecording duplicate id", err, store.ErrAlreadyExists)

	from, to := day(9, 0, 0), day(13, 0, 0)
	view(t, s, func(r store.Reader) error {
		tot, err := r.SessionTotals(ctx, tenantA, from, to)
		mustNil(t, "SessionTotals", err)
		if want := (store.Totals{Livestreams: 2, IngestSeconds: 300, ViewerSeconds: 720}); tot != want {
			t.Errorf("SessionTotals = %+v, want %+v", tot, want)
		}
		// Only s2 and s3 on the 10th: both livestreams, counted once each.
		tot, err = r.SessionTotals(ctx, tenantA, day(10, 0, 0), day(11, 0, 0))
		mustNil(t, "SessionTotals 10th", err)
		if want := (store.Totals{Livestreams: 2, IngestSeconds: 150, ViewerSeconds: 30}); tot != want {
			t.Errorf("SessionTotals on the 10th = %+v, want %+v", tot, want)
		}
		tot, err = r.SessionTotals(ctx, tenantA, day(20, 0, 0), day(21, 0, 0))
		mustNil(t, "SessionTotals empty", err)
		if tot != (store.Totals{}) {
			t.Errorf("SessionTotals of an empty range = %+v, want zero", tot)
		}

		days, err := r.SessionDays(ctx, tenantA, from, to)
		mustNil(t, "SessionDays", err)
		wantDays := []store.DayStat{
			{Day: "2025-03-09", Count: 1, Minutes: 1},
			{Day: "2025-03-10", Count: 2, Minutes: 2.5},
			{Day: "2025-03-12", Count: 1, Minutes: 1.5},
		}
		if !slices.Equal(days, wantDays) {
			t.Errorf("SessionDays = %+v, want %+v", days, wantDays)
		}
		days, err = r.SessionDays(ctx, tenantA, day(20, 0, 0), day(21, 0, 0))
		mustNil(t, "SessionDays empty", err)
		if len(days) != 0 {
			t.Errorf("SessionDays of an empty range = %+v", days)
		}

		days, err = r.RecordingDays(ctx, tenantA, from, to)
		mustNil(t, "RecordingDays", err)
		wantDays = []store.DayStat{
			{Day: "2025-03-09", Count: 2, Minutes: 2},
			{Day: "2025-03-10", Count: 1, Minutes: 10},
			{Day: "2025-03-12", Count: 1, Minutes: 0.1},
		}
		if !slices.Equal(days, wantDays) {
			t.Errorf("RecordingDays = %+v, want %+v", days, wantDays)
		}
		days, err = r.RecordingDays(ctx, tenantA, day(20, 0, 0), day(21, 0, 0))
		mustNil(t, "RecordingDays empty", err)
		if len(days) != 0 {
			t.Errorf("RecordingDays of an empty range = %+v", days)
		}
		return nil
	})
}

// testTenantIsolation fills tenant A with one of everything and checks that every
// tenant-scoped read answers tenants that share one of A's two ids as if A did not exist.
func testTenantIsolation(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	ls := livestream(tenantA, "ls-1", t0)
	ls.MeetingID = "m-1"
	ls.Provider = "amity"
	ls.ProviderID = "amity-1"
	sess := session(ls, "s-1", t0) // active
	sess.IngestSeconds = 60
	update(t, s, func(w store.Writer) error {
		mustNil(t, "app", w.CreateApp(ctx, store.App{Tenant: tenantA, TokenID: "tok-a", TokenHash: []byte("h"), CreatedAt: t0}))
		mustNil(t, "livestream", w.CreateLivestream(ctx, ls))
		mustNil(t, "session", w.CreateSession(ctx, sess))
		return w.CreateRecording(ctx, store.Recording{Tenant: tenantA, ID: "r-1", LivestreamID: "ls-1", Source: "amity", RecordedAt: t0, DurationSeconds: 60})
	})
	from, to := t0.Add(-24*time.Hour), t0.Add(24*time.Hour)

	// Tenant A sees its rows (so the misses below are about the tenant, not the data).
	view(t, s, func(r store.Reader) error {
		_, err := r.App(ctx, tenantA)
		mustNil(t, "A: App", err)
		_, err = r.Livestream(ctx, tenantA, "ls-1")
		mustNil(t, "A: Livestream", err)
		_, err = r.LivestreamByMeeting(ctx, tenantA, "m-1")
		mustNil(t, "A: LivestreamByMeeting", err)
		_, err = r.LivestreamByProviderID(ctx, tenantA, "amity", "amity-1")
		mustNil(t, "A: LivestreamByProviderID", err)
		_, n, err := r.ListLivestreams(ctx, tenantA, store.LivestreamFilter{})
		mustNil(t, "A: ListLivestreams", err)
		_, err = r.Session(ctx, tenantA, "s-1")
		mustNil(t, "A: Session", err)
		_, err = r.ActiveSession(ctx, tenantA, "ls-1")
		mustNil(t, "A: ActiveSession", err)
		_, err = r.LatestSession(ctx, tenantA, "ls-1")
		mustNil(t, "A: LatestSession", err)
		_, m, err := r.ListSessions(ctx, tenantA, "ls-1", 0, 10)
		mustNil(t, "A: ListSessions", err)
		tot, err := r.SessionTotals(ctx, tenantA, from, to)
		mustNil(t, "A: SessionTotals", err)
		sd, err := r.SessionDays(ctx, tenantA, from, to)
		mustNil(t, "A: SessionDays", err)
		rd, err := r.RecordingDays(ctx, tenantA, from, to)
		mustNil(t, "A: RecordingDays", err)
		if n != 1 || m != 1 || tot.Livestreams != 1 || len(sd) != 1 || len(rd) != 1 {
			t.Fatalf("tenant A does not see its own rows: livestreams %d, sessions %d, totals %+v, session days %v, recording days %v", n, m, tot, sd, rd)
		}
		return nil
	})

	for _, tn := range []store.Tenant{tenantB, tenantB2} {
		name := tn.AccountID + "/" + tn.AppID
		view(t, s, func(r store.Reader) error {
			_, err := r.App(ctx, tn)
			wantErr(t, name+": App", err, store.ErrNotFound)
			_, err = r.Livestream(ctx, tn, "ls-1")
			wantErr(t, name+": Livestream", err, store.ErrNotFound)
			_, err = r.LivestreamByMeeting(ctx, tn, "m-1")
			wantErr(t, name+": LivestreamByMeeting", err, store.ErrNotFound)
			_, err = r.LivestreamByProviderID(ctx, tn, "amity", "amity-1")
			wantErr(t, name+": LivestreamByProviderID", err, store.ErrNotFound)
			ls, n, err := r.ListLivestreams(ctx, tn, store.LivestreamFilter{})
			mustNil(t, name+": ListLivestreams", err)
			if len(ls) != 0 || n != 0 {
				t.Errorf("%s: ListLivestreams = %v total %d", name, livestreamIDs(ls), n)
			}
			_, err = r.Session(ctx, tn, "s-1")
			wantErr(t, name+": Session", err, store.ErrNotFound)
			_, err = r.ActiveSession(ctx, tn, "ls-1")
			wantErr(t, name+": ActiveSession", err, store.ErrNotFound)
			_, err = r.LatestSession(ctx, tn, "ls-1")
			wantErr(t, name+": LatestSession", err, store.ErrNotFound)
			ss, m, err := r.ListSessions(ctx, tn, "ls-1", 0, 10)
			mustNil(t, name+": ListSessions", err)
			if len(ss) != 0 || m != 0 {
				t.Errorf("%s: ListSessions = %v total %d", name, sessionIDs(ss), m)
			}
			tot, err := r.SessionTotals(ctx, tn, from, to)
			mustNil(t, name+": SessionTotals", err)
			if tot != (store.Totals{}) {
				t.Errorf("%s: SessionTotals = %+v", name, tot)
			}
			sd, err := r.SessionDays(ctx, tn, from, to)
			mustNil(t, name+": SessionDays", err)
			rd, err := r.RecordingDays(ctx, tn, from, to)
			mustNil(t, name+": RecordingDays", err)
			if len(sd) != 0 || len(rd) != 0 {
				t.Errorf("%s: SessionDays = %v, RecordingDays = %v", name, sd, rd)
			}
			return nil
		})
		// A session cannot be attached to another tenant's livestream.
		err := s.Update(ctx, func(w store.Writer) error {
			x := session(ls, "s-foreign-"+tn.AccountID+tn.AppID, t0)
			x.Tenant = tn
			return w.CreateSession(ctx, x)
		})
		if err == nil {
			t.Errorf("%s: CreateSession on tenant A's livestream succeeded", name)
		}
		err = s.Update(ctx, func(w store.Writer) error { return w.DeleteLivestream(ctx, tn, "ls-1") })
		wantErr(t, name+": DeleteLivestream", err, store.ErrNotFound)
	}
	// The global lookups are global.
	view(t, s, func(r store.Reader) error {
		_, err := r.AppByTokenID(ctx, "tok-a")
		mustNil(t, "AppByTokenID", err)
		got, err := r.LivestreamByStreamKey(ctx, ls.StreamKey)
		mustNil(t, "LivestreamByStreamKey", err)
		checkLivestream(t, "LivestreamByStreamKey", got, ls)
		_, m, err := r.ListSessions(ctx, tenantA, "ls-1", 0, 10)
		mustNil(t, "ListSessions", err)
		if m != 1 {
			t.Errorf("tenant A has %d sessions after foreign attempts, want 1", m)
		}
		return nil
	})
}

// --- transactions ---

var errBoom = errors.New("boom")

// writeEverything writes one row of every kind for tenant A.
func writeEverything(ctx context.Context, w store.Writer, suffix string) error {
	ls := livestream(tenantA, "ls-"+suffix, t0)
	for _, err := range []func() error{
		func() error {
			return w.CreateApp(ctx, store.App{Tenant: store.Tenant{AccountID: "acct-" + suffix, AppID: "app"}, TokenID: "tok-" + suffix, TokenHash: []byte("h"), CreatedAt: t0})
		},
		func() error { return w.CreateLivestream(ctx, ls) },
		func() error { return w.CreateSession(ctx, session(ls, "s-"+suffix, t0)) },
		func() error {
			return w.CreateRecording(ctx, store.Recording{Tenant: tenantA, ID: "r-" + suffix, Source: "hms", RecordedAt: t0, DurationSeconds: 1})
		},
	} {
		if err := err(); err != nil {
			return err
		}
	}
	return nil
}

// checkNothingWritten fails if any row writeEverything writes exists.
func checkNothingWritten(t *testing.T, s store.Store, suffix string) {
	t.Helper()
	ctx := ctxT(t)
	view(t, s, func(r store.Reader) error {
		_, err := r.AppByTokenID(ctx, "tok-"+suffix)
		wantErr(t, "app of a rolled back transaction", err, store.ErrNotFound)
		_, err = r.Livestream(ctx, tenantA, "ls-"+suffix)
		wantErr(t, "livestream of a rolled back transaction", err, store.ErrNotFound)
		_, err = r.Session(ctx, tenantA, "s-"+suffix)
		wantErr(t, "session of a rolled back transaction", err, store.ErrNotFound)
		days, err := r.RecordingDays(ctx, tenantA, t0.Add(-time.Hour), t0.Add(time.Hour))
		mustNil(t, "RecordingDays", err)
		if len(days) != 0 {
			t.Errorf("recording of a rolled back transaction: %v", days)
		}
		return nil
	})
}

func testRollback(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	err := s.Update(ctx, func(w store.Writer) error {
		if err := writeEverything(ctx, w, "x"); err != nil {
			return err
		}
		return fmt.Errorf("change of mind: %w", errBoom)
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update returned %v, want fn's error", err)
	}
	checkNothingWritten(t, s, "x")

	// A failed statement inside fn, its error returned: the earlier writes go too.
	err = s.Update(ctx, func(w store.Writer) error {
		if err := writeEverything(ctx, w, "y"); err != nil {
			return err
		}
		return w.CreateLivestream(ctx, livestream(tenantA, "ls-y", t0)) // duplicate
	})
	wantErr(t, "Update with a duplicate inside", err, store.ErrAlreadyExists)
	checkNothingWritten(t, s, "y")

	// The store still works, and the same rows can now be written.
	update(t, s, func(w store.Writer) error { return writeEverything(ctx, w, "x") })
}

func testRollbackOnPanic(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	func() {
		defer func() {
			if r := recover(); r != errBoom {
				t.Errorf("recovered %v, want the panic to propagate out of Update", r)
			}
		}()
		_ = s.Update(ctx, func(w store.Writer) error {
			if err := writeEverything(ctx, w, "p"); err != nil {
				return err
			}
			panic(errBoom)
		})
	}()
	checkNothingWritten(t, s, "p")
	// The transaction and its connection were released: the next Update goes through.
	done := make(chan error, 1)
	go func() { done <- s.Update(ctx, func(w store.Writer) error { return writeEverything(ctx, w, "p") }) }()
	select {
	case err := <-done:
		mustNil(t, "Update after a panic", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Update after a panicking Update did not return: the transaction was not released")
	}

	// A panic in View releases its transaction too.
	func() {
		defer func() { _ = recover() }()
		_ = s.View(ctx, func(store.Reader) error { panic(errBoom) })
	}()
	view(t, s, func(r store.Reader) error {
		_, err := r.Livestream(ctx, tenantA, "ls-p")
		mustNil(t, "Livestream", err)
		return nil
	})
}

// testViewSnapshot checks that View returns fn's error and sees committed writes.
func testViewSnapshot(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	err := s.View(ctx, func(store.Reader) error { return errBoom })
	if !errors.Is(err, errBoom) {
		t.Errorf("View returned %v, want fn's error", err)
	}
	update(t, s, func(w store.Writer) error { return w.CreateLivestream(ctx, livestream(tenantA, "ls-1", t0)) })
	view(t, s, func(r store.Reader) error {
		_, err := r.Livestream(ctx, tenantA, "ls-1")
		mustNil(t, "committed livestream visible to a later View", err)
		return nil
	})
}

func testConcurrentUpdates(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			errs <- s.Update(ctx, func(w store.Writer) error {
				l := livestream(tenantA, fmt.Sprintf("ls-%02d", i), t0.Add(time.Duration(i)*time.Second))
				if err := w.CreateLivestream(ctx, l); err != nil {
					return err
				}
				// Read-modify-write inside the transaction.
				got, err := w.Livestream(ctx, tenantA, l.ID)
				if err != nil {
					return err
				}
				got.Status = store.StatusLive
				return w.UpdateLivestream(ctx, got)
			})
		})
		// Readers run alongside the writers.
		wg.Go(func() {
			errs <- s.View(ctx, func(r store.Reader) error {
				_, _, err := r.ListLivestreams(ctx, tenantA, store.LivestreamFilter{Limit: 5})
				return err
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent call: %v", err)
		}
	}
	view(t, s, func(r store.Reader) error {
		ls, total, err := r.ListLivestreams(ctx, tenantA, store.LivestreamFilter{Order: store.Ascending, Status: store.StatusLive})
		mustNil(t, "ListLivestreams", err)
		if total != n || len(ls) != n {
			t.Errorf("%d livestreams stored (total %d), want %d", len(ls), total, n)
		}
		for i, l := range ls {
			if want := fmt.Sprintf("ls-%02d", i); l.ID != want {
				t.Errorf("livestream %d is %s, want %s", i, l.ID, want)
				break
			}
		}
		return nil
	})
}
