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
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/livegate/livegate/internal/apierror"
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
		{"AlreadyExistsAnswer", testAlreadyExistsAnswer},
		{"AppCredentials", testAppCredentials},
		{"ListAndDeleteApps", testListAndDeleteApps},
		{"AuditEntries", testAuditEntries},
		{"AppsVersion", testAppsVersion},
		{"LivestreamRoundTrip", testLivestreamRoundTrip},
		{"LivestreamDuplicate", testLivestreamDuplicate},
		{"LivestreamDuplicateProvider", testLivestreamDuplicateProvider},
		{"LivestreamUpdate", testLivestreamUpdate},
		{"LivestreamDelete", testLivestreamDelete},
		{"ListLivestreams", testListLivestreams},
		{"SessionRoundTrip", testSessionRoundTrip},
		{"SessionActiveLatest", testSessionActiveLatest},
		{"ListSessions", testListSessions},
		{"Analytics", testAnalytics},
		{"AnalyticsBefore1970", testAnalyticsBefore1970},
		{"TenantIsolation", testTenantIsolation},
		{"Rollback", testRollback},
		{"RollbackOnPanic", testRollbackOnPanic},
		{"ViewSnapshot", testViewSnapshot},
		{"ConcurrentUpdates", testConcurrentUpdates},

		// The event feed.
		{"EventRoundTrip", testEventRoundTrip},
		{"EventTenantIsolation", testEventTenantIsolation},
		{"EventsAfterFilters", testEventsAfterFilters},
		{"EventsAfterBytes", testEventsAfterBytes},
		{"DeliveryEvents", testDeliveryEvents},
		{"FeedBounds", testFeedBounds},
		{"PruneEvents", testPruneEvents},
		{"PruneEventsInBatches", testPruneEventsInBatches},
		{"PruneSkipsWebhookEndpoints", testPruneSkipsWebhookEndpoints},
		{"MeetingSessions", testMeetingSessions},
		{"OnCommit", testOnCommit},
		{"OnCommitConcurrent", testOnCommitConcurrent},
		{"GroupCommitIsolation", testGroupCommitIsolation},
		{"UpdatePanicAmongConcurrent", testUpdatePanicAmongConcurrent},
		{"UpdateCanceledContext", testUpdateCanceledContext},

		// RTMP ingest: nginx-rtmp clients, livestreams by id, settings.
		{"RtmpClients", testRtmpClients},
		{"RtmpPublisher", testRtmpPublisher},
		{"StaleRtmpClients", testStaleRtmpClients},
		{"RtmpClientCascade", testRtmpClientCascade},
		{"RtmpRollback", testRtmpRollback},
		{"LivestreamByID", testLivestreamByID},
		{"Settings", testSettings},

		// Outbound webhook endpoints and their delivery logs.
		{"WebhookEndpoints", testWebhookEndpoints},
		{"WebhookEndpointUpdate", testWebhookEndpointUpdate},
		{"WebhookCursor", testWebhookCursor},
		{"WebhookCursorStep", testWebhookCursorStep},
		{"WebhookAttempts", testWebhookAttempts},
		{"WebhookEndpointDelete", testWebhookEndpointDelete},
		{"PruneWebhookAttempts", testPruneWebhookAttempts},
		{"WebhookDeleteApp", testWebhookDeleteApp},
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
	d.eq("PlaybackURL", got.PlaybackURL, want.PlaybackURL)
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

// testAlreadyExistsAnswer: every unique-key conflict is a *store.AlreadyExistsError naming
// the write, and the API answers it ALREADY_EXISTS (HTTP 409) with that name, never with
// the driver's text (a constraint, a column, an SQL state).
func testAlreadyExistsAnswer(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	ls1, ls2 := livestream(tenantA, "ls-1", t0), livestream(tenantA, "ls-2", t0)
	update(t, s, func(w store.Writer) error {
		for _, err := range []error{
			w.CreateApp(ctx, store.App{Tenant: tenantA, TokenID: "tok-a", TokenHash: []byte("h"), CreatedAt: t0}),
			w.CreateLivestream(ctx, ls1),
			w.CreateLivestream(ctx, ls2),
			w.CreateSetting(ctx, "secret", "s3cr3t"),
			w.AppendEvent(ctx, feedEvent(tenantA, "hms", "hls.started", "k1")),
		} {
			if err != nil {
				return err
			}
		}
		return nil
	})
	takenKey := ls2
	takenKey.StreamKey = ls1.StreamKey
	for _, tc := range []struct {
		write string
		fn    func(w store.Writer) error
	}{
		{"create app acct-a/app-1", func(w store.Writer) error {
			return w.CreateApp(ctx, store.App{Tenant: tenantA, TokenID: "tok-other", TokenHash: []byte("h"), CreatedAt: t0})
		}},
		{"create livestream ls-1", func(w store.Writer) error { return w.CreateLivestream(ctx, ls1) }},
		{"update livestream ls-2", func(w store.Writer) error { return w.UpdateLivestream(ctx, takenKey) }},
		{"create setting secret", func(w store.Writer) error { return w.CreateSetting(ctx, "secret", "other") }},
		{"append hms event k1", func(w store.Writer) error {
			return w.AppendEvent(ctx, feedEvent(tenantA, "hms", "hls.started", "k1"))
		}},
	} {
		err := s.Update(ctx, tc.fn)
		var conflict *store.AlreadyExistsError
		if !errors.As(err, &conflict) || !errors.Is(err, store.ErrAlreadyExists) {
			t.Errorf("%s: error %v, want a *store.AlreadyExistsError", tc.write, err)
			continue
		}
		if conflict.Op != tc.write || conflict.Err == nil {
			t.Errorf("%s: Op %q, Err %v; want Op %q and the driver's error", tc.write, conflict.Op, conflict.Err, tc.write)
		}
		st := apierror.ToStatus(fmt.Errorf("wrapped by a caller: %w", err))
		want := tc.write + ": already exists"
		if st.Code() != codes.AlreadyExists || apierror.Info(st).GetReason() != string(apierror.ReasonAlreadyExists) || st.Message() != want {
			t.Errorf("%s: answered %v %q (reason %q), want ALREADY_EXISTS %q", tc.write, st.Code(), st.Message(), apierror.Info(st).GetReason(), want)
		}
		if conflict.Err != nil && strings.Contains(st.Message(), conflict.Err.Error()) {
			t.Errorf("%s: answer %q shows the driver's error %q", tc.write, st.Message(), conflict.Err)
		}
		if strings.Contains(st.Message(), "s3cr3t") {
			t.Errorf("%s: answer %q shows a setting's value", tc.write, st.Message())
		}
	}
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
		// A provider's URL, as it may come: long, with a query and non-ASCII.
		PlaybackURL: "https://cdn.example.com/live/ü/" + strings.Repeat("x", 1500) + "/index.m3u8?token=a&b=c",
		CreatedAt:   t0.In(zone), // any location in, UTC out
		UpdatedAt:   t0.Add(90*time.Minute + 999*time.Nanosecond),
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

// testLivestreamDuplicateProvider: one livestream per provider stream in a tenant (the
// first Amity event of a streamId creates it); livestreams without a provider id, and the
// same id of another provider or tenant, do not collide.
func testLivestreamDuplicateProvider(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	mk := func(tn store.Tenant, id, provider, providerID string) store.Livestream {
		l := livestream(tn, id, t0)
		l.Provider, l.ProviderID = provider, providerID
		return l
	}
	update(t, s, func(w store.Writer) error {
		for _, l := range []store.Livestream{
			mk(tenantA, "ls-1", "amity", "stream-1"),
			mk(tenantA, "ls-2", "amity", "stream-2"),
			mk(tenantA, "ls-3", "hms", "stream-1"),
			mk(tenantB, "ls-4", "amity", "stream-1"),
			mk(tenantA, "ls-5", "rtmp", ""),
			mk(tenantA, "ls-6", "rtmp", ""),
		} {
			mustNil(t, "create "+l.ID, w.CreateLivestream(ctx, l))
		}
		return nil
	})
	err := s.Update(ctx, func(w store.Writer) error { return w.CreateLivestream(ctx, mk(tenantA, "ls-7", "amity", "stream-1")) })
	wantErr(t, "CreateLivestream of a provider stream that has one", err, store.ErrAlreadyExists)
	view(t, s, func(r store.Reader) error {
		got, err := r.LivestreamByProviderID(ctx, tenantA, "amity", "stream-1")
		mustNil(t, "LivestreamByProviderID", err)
		if got.ID != "ls-1" {
			t.Errorf("livestream of amity stream-1 is %s, want ls-1", got.ID)
		}
		_, err = r.Livestream(ctx, tenantA, "ls-7")
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
	changed.PlaybackURL = "https://hls.example.com/run-2/index.m3u8"
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
	// A session counts on the day it began (started, else invoked), not the day it was
	// stored: a provider's events that came late (a stop before its start, a retry days on).
	late := mkS(lsB, "s6", day(20, 0, 0), 30, 0)
	late.InvokedAt, late.StartedAt = time.Time{}, day(12, 10, 0)
	early := mkS(lsA, "s7", day(10, 1, 0), 1000, 1000)
	early.StartedAt = day(8, 22, 0) // began before `from`: not counted
	sessions = append(sessions, late, early)
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
		if want := (store.Totals{Livestreams: 2, IngestSeconds: 330, ViewerSeconds: 720}); tot != want {
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
			{Day: "2025-03-12", Count: 2, Minutes: 2},
		}
		if !slices.Equal(days, wantDays) {
			t.Errorf("SessionDays = %+v, want %+v", days, wantDays)
		}
		days, err = r.SessionDays(ctx, tenantA, day(20, 0, 0), day(21, 0, 0))
		mustNil(t, "SessionDays empty", err)
		if len(days) != 0 {
			t.Errorf("SessionDays of an empty range = %+v", days)
		}

		lsDays, err := r.LivestreamDays(ctx, tenantA, from, to)
		mustNil(t, "LivestreamDays", err)
		wantLsDays := []store.LivestreamDay{
			{Day: "2025-03-09", Sessions: 1, IngestSeconds: 60, ViewerSeconds: 600},
			{Day: "2025-03-10", Sessions: 2, IngestSeconds: 150, ViewerSeconds: 30},
			{Day: "2025-03-12", Sessions: 2, IngestSeconds: 120, ViewerSeconds: 90},
		}
		if !slices.Equal(lsDays, wantLsDays) {
			t.Errorf("LivestreamDays = %+v, want %+v", lsDays, wantLsDays)
		}
		lsDays, err = r.LivestreamDays(ctx, tenantA, day(20, 0, 0), day(21, 0, 0))
		mustNil(t, "LivestreamDays empty", err)
		if len(lsDays) != 0 {
			t.Errorf("LivestreamDays of an empty range = %+v", lsDays)
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

	// A recording with the key of one the tenant has is not stored (nor an error); another
	// tenant's with the same key is, and recordings without a key always are.
	keyed := func(tn store.Tenant, id, key string) store.Recording {
		return store.Recording{Tenant: tn, ID: id, Source: "hms", RecordedAt: day(25, 0, 0), DurationSeconds: 60, Key: key}
	}
	update(t, s, func(w store.Writer) error {
		for _, r := range []store.Recording{keyed(tenantA, "k1", "same"), keyed(tenantA, "k2", "same"), keyed(tenantB, "k3", "same"),
			keyed(tenantA, "k4", ""), keyed(tenantA, "k5", "")} {
			mustNil(t, "recording "+r.ID, w.CreateRecording(ctx, r))
		}
		return nil
	})
	view(t, s, func(r store.Reader) error {
		for _, c := range []struct {
			tn   store.Tenant
			want int
		}{{tenantA, 3}, {tenantB, 1}} {
			days, err := r.RecordingDays(ctx, c.tn, day(25, 0, 0), day(26, 0, 0))
			mustNil(t, "RecordingDays of keyed recordings", err)
			if len(days) != 1 || days[0].Count != c.want {
				t.Errorf("RecordingDays of %v's keyed recordings = %+v, want %d (one per key, and each without)", c.tn, days, c.want)
			}
		}
		return nil
	})
}

// testAnalyticsBefore1970: a time before the epoch (a provider may send one) counts on its
// own UTC day, not the next: days are floor divisions. Until 2026-11-29 SQL's division,
// which truncates toward zero, put 1969-12-31T12:00 on 1970-01-01.
func testAnalyticsBefore1970(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	at := time.Date(1969, 12, 31, 12, 0, 0, 0, time.UTC)
	ls := livestream(tenantA, "ls-1969", at)
	sess := session(ls, "s-1969", at)
	sess.IngestSeconds = 60
	update(t, s, func(w store.Writer) error {
		mustNil(t, "livestream", w.CreateLivestream(ctx, ls))
		mustNil(t, "session", w.CreateSession(ctx, sess))
		mustNil(t, "recording", w.CreateRecording(ctx, store.Recording{Tenant: tenantA, ID: "r-1969", Source: "hms", RecordedAt: at, DurationSeconds: 60}))
		return nil
	})
	from, to := time.Date(1969, 12, 30, 0, 0, 0, 0, time.UTC), time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC)
	view(t, s, func(r store.Reader) error {
		lsDays, err := r.LivestreamDays(ctx, tenantA, from, to)
		mustNil(t, "LivestreamDays", err)
		if want := []store.LivestreamDay{{Day: "1969-12-31", Sessions: 1, IngestSeconds: 60}}; !slices.Equal(lsDays, want) {
			t.Errorf("LivestreamDays = %+v, want %+v", lsDays, want)
		}
		days, err := r.SessionDays(ctx, tenantA, from, to)
		mustNil(t, "SessionDays", err)
		if want := []store.DayStat{{Day: "1969-12-31", Count: 1, Minutes: 1}}; !slices.Equal(days, want) {
			t.Errorf("SessionDays = %+v, want %+v", days, want)
		}
		days, err = r.RecordingDays(ctx, tenantA, from, to)
		mustNil(t, "RecordingDays", err)
		if want := []store.DayStat{{Day: "1969-12-31", Count: 1, Minutes: 1}}; !slices.Equal(days, want) {
			t.Errorf("RecordingDays = %+v, want %+v", days, want)
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

// --- event feed: fixtures and comparisons ---

// feedEvent is an event of tn with every required field set; key is its dedupe key, and
// names it in the tests.
func feedEvent(tn store.Tenant, source, typ, key string) *store.Event {
	return &store.Event{
		Tenant:     tn,
		Source:     source,
		Type:       typ,
		DeliveryID: "delivery-" + key,
		DedupeKey:  key,
		ReceivedAt: t0,
		Body:       []byte("\x00body of " + key + "\xff"),
	}
}

// appendEvents appends evs in one Update, which sets their sequences.
func appendEvents(t *testing.T, s store.Store, evs ...*store.Event) {
	t.Helper()
	ctx := ctxT(t)
	update(t, s, func(w store.Writer) error {
		for _, e := range evs {
			if err := w.AppendEvent(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
}

func checkEvent(t *testing.T, what string, got, want store.Event) {
	t.Helper()
	var d diffs
	d.eq("Sequence", got.Sequence, want.Sequence)
	d.eq("Tenant", got.Tenant, want.Tenant)
	d.eq("Source", got.Source, want.Source)
	d.eq("Type", got.Type, want.Type)
	d.eq("DeliveryID", got.DeliveryID, want.DeliveryID)
	d.eq("DedupeKey", got.DedupeKey, want.DedupeKey)
	d.eq("LivestreamID", got.LivestreamID, want.LivestreamID)
	d.eq("RoomID", got.RoomID, want.RoomID)
	d.time("ReceivedAt", got.ReceivedAt, want.ReceivedAt)
	d.eq("Body", fmt.Sprintf("%x", got.Body), fmt.Sprintf("%x", want.Body))
	d.report(t, what)
}

// eventKey names an event within its tenant.
func eventKey(e store.Event) string { return e.Source + "/" + e.DedupeKey }

func eventKeys(evs []store.Event) []string {
	keys := make([]string, len(evs))
	for i, e := range evs {
		keys[i] = eventKey(e)
	}
	return keys
}

func eventPtrKeys(evs []*store.Event) []string {
	keys := make([]string, len(evs))
	for i, e := range evs {
		keys[i] = eventKey(*e)
	}
	return keys
}

// checkEvents compares a read's events with the appended ones, in order and field by field.
func checkEvents(t *testing.T, what string, got []store.Event, want []*store.Event) {
	t.Helper()
	if g, w := eventKeys(got), eventPtrKeys(want); !slices.Equal(g, w) {
		t.Errorf("%s: got events %v, want %v", what, g, w)
		return
	}
	for i := range got {
		checkEvent(t, fmt.Sprintf("%s: event %d (%s)", what, i, eventKey(got[i])), got[i], *want[i])
	}
}

// allEvents returns every event of tn the store has, in sequence order.
func allEvents(t *testing.T, r store.Reader, tn store.Tenant) []store.Event {
	t.Helper()
	evs, err := r.EventsAfter(ctxT(t), tn, 0, store.EventFilter{}, 100_000)
	if err != nil {
		t.Fatalf("EventsAfter(%v, 0): %v", tn, err)
	}
	return evs
}

func feedBounds(t *testing.T, s store.Store) (head, pruned uint64) {
	t.Helper()
	view(t, s, func(r store.Reader) error {
		var err error
		head, pruned, err = r.FeedBounds(ctxT(t))
		mustNil(t, "FeedBounds", err)
		return nil
	})
	return head, pruned
}

// hookRecorder is an OnCommit hook that records what it is told.
type hookRecorder struct {
	mu      sync.Mutex
	calls   [][]store.Event
	inside  atomic.Int32
	overlap atomic.Bool
	// returned holds the events (tenant and key) whose Update has returned; late lists
	// those the hook was told about only after that.
	returned sync.Map
	late     []string
}

// markReturned records that the Update that appended e has returned: the hook must have
// been told about e already.
func (h *hookRecorder) markReturned(e *store.Event) {
	h.returned.Store(fmt.Sprint(e.Tenant, eventKey(*e)), true)
}

// recordCommits installs a hookRecorder as s's OnCommit hook.
func recordCommits(s store.Store) *hookRecorder {
	h := &hookRecorder{}
	s.OnCommit(h.hook)
	return h
}

func (h *hookRecorder) hook(evs []store.Event) {
	if h.inside.Add(1) != 1 {
		h.overlap.Store(true)
	}
	defer h.inside.Add(-1)
	if len(evs) == 0 {
		return // a commit that appended nothing may or may not be reported
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, slices.Clone(evs))
	for _, e := range evs {
		if _, ok := h.returned.Load(fmt.Sprint(e.Tenant, eventKey(e))); ok {
			h.late = append(h.late, eventKey(e))
		}
	}
}

// reported returns the recorded calls that had events.
func (h *hookRecorder) reported() [][]store.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.calls)
}

// check verifies the hook's general contract: calls made one at a time, sequences strictly
// increasing within and across calls, every reported event exactly as stored. It returns
// every reported event, in order.
func (h *hookRecorder) check(t *testing.T, s store.Store) []store.Event {
	t.Helper()
	if h.overlap.Load() {
		t.Errorf("OnCommit hook called concurrently")
	}
	h.mu.Lock()
	if len(h.late) > 0 {
		t.Errorf("OnCommit reported events after their Update had returned: %v", h.late)
	}
	h.mu.Unlock()
	var all []store.Event
	for _, c := range h.reported() {
		all = append(all, c...)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Sequence <= all[i-1].Sequence {
			t.Errorf("OnCommit reported sequence %d after %d", all[i].Sequence, all[i-1].Sequence)
			break
		}
	}
	ctx := ctxT(t)
	view(t, s, func(r store.Reader) error {
		for _, e := range all {
			got, err := r.Event(ctx, e.Tenant, e.Sequence)
			if err != nil {
				t.Errorf("reported event %d (%s): %v", e.Sequence, eventKey(e), err)
				continue
			}
			checkEvent(t, fmt.Sprintf("reported event %d (%s) vs stored", e.Sequence, eventKey(e)), e, got)
		}
		return nil
	})
	return all
}

// holdWriter starts an Update whose fn waits until release is called, so that Updates
// started meanwhile queue behind it and, on a backend with group commit, commit together
// once it is released. release returns after the holding Update has.
func holdWriter(t *testing.T, s store.Store) (release func()) {
	t.Helper()
	ctx := ctxT(t)
	entered, gate := make(chan struct{}), make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		done <- s.Update(ctx, func(store.Writer) error {
			once.Do(func() { close(entered) })
			<-gate
			return nil
		})
	}()
	<-entered
	return func() {
		close(gate)
		if err := <-done; err != nil {
			t.Errorf("holding Update: %v", err)
		}
	}
}

// --- event feed: tests ---

func testEventRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	zone := time.FixedZone("UTC-7", -7*3600)
	full := &store.Event{
		Tenant:       tenantA,
		Source:       "hms",
		Type:         "recording.success",
		DeliveryID:   "dlv-1",
		DedupeKey:    "evt-1",
		LivestreamID: "ls-1",
		RoomID:       "room-1",
		ReceivedAt:   t0.In(zone), // any location in, UTC out; nanoseconds cut to microseconds
		Body:         []byte{0x00, 0x01, 0xfe, 0xff, 0x00},
	}
	// No livestream, no room; an empty (not nil) body.
	bare := &store.Event{
		Tenant:     tenantA,
		Source:     "amity",
		Type:       "video-streaming.didStart",
		DeliveryID: "sha256:ab",
		DedupeKey:  "sha256:ab/0",
		ReceivedAt: t0.Add(999 * time.Nanosecond),
		Body:       []byte{},
	}
	// Sequences increase across tenants and commits, in the order of the appends.
	order := []*store.Event{
		full,
		feedEvent(tenantB, "hms", "hls.started", "b-1"),
		feedEvent(tenantB2, "hms", "hls.started", "b2-1"),
		bare,
		feedEvent(tenantA, "hms", "hls.started", "a-3"),
		feedEvent(tenantB, "amity", "hls.started", "b-2"),
	}
	appendEvents(t, s, order[0], order[1])
	appendEvents(t, s, order[2])
	appendEvents(t, s, order[3:]...)
	for i, e := range order {
		if e.Sequence == 0 {
			t.Fatalf("event %s: AppendEvent left Sequence 0", e.DedupeKey)
		}
		if i > 0 && e.Sequence <= order[i-1].Sequence {
			t.Errorf("event %s got sequence %d after %d: not strictly increasing", e.DedupeKey, e.Sequence, order[i-1].Sequence)
		}
	}
	if head, _ := feedBounds(t, s); head != order[len(order)-1].Sequence {
		t.Errorf("FeedBounds head = %d, want the last sequence %d", head, order[len(order)-1].Sequence)
	}

	view(t, s, func(r store.Reader) error {
		for _, want := range order {
			got, err := r.Event(ctx, want.Tenant, want.Sequence)
			mustNil(t, "Event "+want.DedupeKey, err)
			checkEvent(t, "Event "+want.DedupeKey, got, *want)
		}
		checkEvents(t, "EventsAfter(A, 0)", allEvents(t, r, tenantA), []*store.Event{full, bare, order[4]})
		checkEvents(t, "EventsAfter(B, 0)", allEvents(t, r, tenantB), []*store.Event{order[1], order[5]})
		got, err := r.DeliveryEvents(ctx, tenantA, "amity", "sha256:ab")
		mustNil(t, "DeliveryEvents", err)
		checkEvents(t, "DeliveryEvents", got, []*store.Event{bare})

		_, err = r.Event(ctx, tenantA, 0)
		wantErr(t, "Event 0", err, store.ErrNotFound)
		_, err = r.Event(ctx, tenantA, order[len(order)-1].Sequence+1)
		wantErr(t, "Event after the head", err, store.ErrNotFound)
		_, err = r.Event(ctx, tenantA, math.MaxUint64)
		wantErr(t, "Event MaxUint64", err, store.ErrNotFound)
		return nil
	})
	// Visible inside the writing transaction.
	inTx := feedEvent(tenantA, "hms", "hls.stopped", "in-tx")
	update(t, s, func(w store.Writer) error {
		mustNil(t, "AppendEvent", w.AppendEvent(ctx, inTx))
		got, err := w.Event(ctx, tenantA, inTx.Sequence)
		mustNil(t, "Event in the writing transaction", err)
		checkEvent(t, "Event in the writing transaction", got, *inTx)
		return nil
	})
}

// testEventTenantIsolation: no read of one tenant returns another's events, dedupe keys are
// per tenant and source, and a duplicate fails the Update without writing anything.
func testEventTenantIsolation(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	mk := func(tn store.Tenant, source, key string) *store.Event {
		e := feedEvent(tn, source, "hls.started", key)
		e.DeliveryID, e.LivestreamID, e.RoomID = "d-1", "ls-1", "room-1" // the same everywhere
		return e
	}
	a1, a2 := mk(tenantA, "hms", "k1"), mk(tenantA, "hms", "k2")
	aAmity := mk(tenantA, "amity", "k1") // same key, another source
	b1, b21 := mk(tenantB, "hms", "k1"), mk(tenantB2, "hms", "k1")
	appendEvents(t, s, a1, b1, a2)
	appendEvents(t, s, b21, aAmity)
	own := map[store.Tenant][]*store.Event{tenantA: {a1, a2, aAmity}, tenantB: {b1}, tenantB2: {b21}}

	// A duplicate (same tenant, source and key), after a fresh append in the same Update.
	fresh := mk(tenantA, "hms", "fresh")
	fresh.DeliveryID = "d-fresh"
	dup := mk(tenantA, "hms", "k1")
	dup.Type, dup.Body, dup.DeliveryID = "hls.stopped", []byte("other body"), "d-dup"
	err := s.Update(ctx, func(w store.Writer) error {
		if err := w.AppendEvent(ctx, fresh); err != nil {
			return err
		}
		return w.AppendEvent(ctx, dup)
	})
	wantErr(t, "AppendEvent duplicate", err, store.ErrAlreadyExists)
	err = s.Update(ctx, func(w store.Writer) error { return w.AppendEvent(ctx, mk(tenantB, "hms", "k1")) })
	wantErr(t, "AppendEvent duplicate alone", err, store.ErrAlreadyExists)
	view(t, s, func(r store.Reader) error {
		for _, d := range []string{"d-fresh", "d-dup"} {
			got, err := r.DeliveryEvents(ctx, tenantA, "hms", d)
			mustNil(t, "DeliveryEvents", err)
			if len(got) != 0 {
				t.Errorf("events of a failed Update stored: %v", eventKeys(got))
			}
		}
		return nil
	})

	filters := []store.EventFilter{
		{},
		{Types: []string{"hls.started"}},
		{Types: []string{"hls."}},
		{Sources: []string{"hms", "amity"}},
		{LivestreamID: "ls-1"},
		{RoomID: "room-1"},
		{Types: []string{"hls."}, Sources: []string{"hms"}, LivestreamID: "ls-1", RoomID: "room-1"},
	}
	stranger := store.Tenant{AccountID: "acct-c", AppID: "app-c"}
	view(t, s, func(r store.Reader) error {
		for _, tn := range []store.Tenant{tenantA, tenantB, tenantB2, stranger} {
			name := tn.AccountID + "/" + tn.AppID
			mine := own[tn]
			for _, f := range filters {
				got, err := r.EventsAfter(ctx, tn, 0, f, 100)
				mustNil(t, name+": EventsAfter", err)
				want := mine
				if len(f.Sources) == 1 {
					want = slices.DeleteFunc(slices.Clone(mine), func(e *store.Event) bool { return e.Source != "hms" })
				}
				checkEvents(t, fmt.Sprintf("%s: EventsAfter %+v", name, f), got, want)
			}
			got, err := r.DeliveryEvents(ctx, tn, "hms", "d-1")
			mustNil(t, name+": DeliveryEvents", err)
			want := slices.DeleteFunc(slices.Clone(mine), func(e *store.Event) bool { return e.Source != "hms" })
			checkEvents(t, name+": DeliveryEvents", got, want)
			// Every other tenant's event is unknown to tn.
			for other, evs := range own {
				if other == tn {
					continue
				}
				for _, e := range evs {
					_, err := r.Event(ctx, tn, e.Sequence)
					wantErr(t, fmt.Sprintf("%s: Event %d of %v", name, e.Sequence, other), err, store.ErrNotFound)
				}
			}
		}
		// The original of the duplicate is unchanged.
		got, err := r.Event(ctx, tenantA, a1.Sequence)
		mustNil(t, "Event", err)
		checkEvent(t, "event after a duplicate", got, *a1)
		return nil
	})
}

func testEventsAfterFilters(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	// Appended in this order; received times go backwards and keys are unsorted, so only the
	// sequence gives this order.
	type spec struct{ key, source, typ, ls, room string }
	specs := []spec{
		{"start", "hms", "hls.started", "ls-1", "room-1"},
		{"other-tenant", "hms", "hls.started", "ls-1", "room-1"}, // tenant B
		{"stop", "hms", "hls.stopped", "ls-1", "room-1"},
		{"amity", "amity", "hls.started", "ls-2", ""},
		{"hlsx", "hms", "hlsx.started", "", "room-2"},
		{"upper", "hms", "HLS.started", "", ""},
		{"bare", "hms", "hls", "", ""},
		{"status", "livegate", "livestream.status_changed", "ls-1", ""},
		{"under", "hms", "a_b.c", "", ""},
		{"axb", "hms", "axb.c", "", ""},
		{"pct", "hms", "a%.c", "", ""},
		{"abc", "hms", "abc.c", "", ""},
		{"bslash", "hms", `a\.c`, "", ""},
		{"dot", "hms", "a.c", "", ""},
		{"rec", "hms", "recording.success", "ls-2", "room-1"},
		{"accent", "hms", "vidéo.started", "", ""},
		{"accent-longer", "hms", "vidéos.started", "", ""},
	}
	byKey := map[string]*store.Event{}
	var evs []*store.Event
	for i, sp := range specs {
		tn := tenantA
		if sp.key == "other-tenant" {
			tn = tenantB
		}
		e := feedEvent(tn, sp.source, sp.typ, sp.key)
		e.LivestreamID, e.RoomID = sp.ls, sp.room
		e.ReceivedAt = t0.Add(-time.Duration(i) * time.Minute)
		byKey[sp.key] = e
		evs = append(evs, e)
	}
	appendEvents(t, s, evs[:5]...)
	appendEvents(t, s, evs[5:]...)
	seq := func(key string) uint64 { return byKey[key].Sequence }
	all := []string{"start", "stop", "amity", "hlsx", "upper", "bare", "status", "under", "axb", "pct", "abc", "bslash", "dot", "rec", "accent", "accent-longer"}

	cases := []struct {
		name  string
		after uint64
		f     store.EventFilter
		limit int
		keys  []string
	}{
		{"no filter", 0, store.EventFilter{}, 100, all},
		{"exact type", 0, store.EventFilter{Types: []string{"hls.started"}}, 100, []string{"start", "amity"}},
		{"exact type is not a prefix", 0, store.EventFilter{Types: []string{"hls"}}, 100, []string{"bare"}},
		{"exact type with LIKE characters", 0, store.EventFilter{Types: []string{"a_b.c", "a%.c"}}, 100, []string{"under", "pct"}},
		{"prefix", 0, store.EventFilter{Types: []string{"hls."}}, 100, []string{"start", "stop", "amity"}},
		{"prefix is case-sensitive", 0, store.EventFilter{Types: []string{"HLS."}}, 100, []string{"upper"}},
		{"prefix with _", 0, store.EventFilter{Types: []string{"a_b."}}, 100, []string{"under"}},
		{"prefix with %", 0, store.EventFilter{Types: []string{"a%."}}, 100, []string{"pct"}},
		{"prefix with a backslash", 0, store.EventFilter{Types: []string{`a\.`}}, 100, []string{"bslash"}},
		{"prefix a.", 0, store.EventFilter{Types: []string{"a."}}, 100, []string{"dot"}},
		{"prefix with a multi-byte character", 0, store.EventFilter{Types: []string{"vidéo."}}, 100, []string{"accent"}},
		{"prefix matching nothing", 0, store.EventFilter{Types: []string{"zz."}}, 100, nil},
		{"several types", 0, store.EventFilter{Types: []string{"hls.stopped", "recording.", "livestream.status_changed"}}, 100, []string{"stop", "status", "rec"}},
		{"overlapping types, no duplicates", 0, store.EventFilter{Types: []string{"hls.", "hls.started"}}, 100, []string{"start", "stop", "amity"}},
		{"one source", 0, store.EventFilter{Sources: []string{"amity"}}, 100, []string{"amity"}},
		{"several sources", 0, store.EventFilter{Sources: []string{"livegate", "amity"}}, 100, []string{"amity", "status"}},
		{"unknown source", 0, store.EventFilter{Sources: []string{"nope"}}, 100, nil},
		{"livestream", 0, store.EventFilter{LivestreamID: "ls-1"}, 100, []string{"start", "stop", "status"}},
		{"other livestream", 0, store.EventFilter{LivestreamID: "ls-2"}, 100, []string{"amity", "rec"}},
		{"unknown livestream", 0, store.EventFilter{LivestreamID: "ls-nope"}, 100, nil},
		{"room", 0, store.EventFilter{RoomID: "room-1"}, 100, []string{"start", "stop", "rec"}},
		{"type and source", 0, store.EventFilter{Types: []string{"hls."}, Sources: []string{"hms"}}, 100, []string{"start", "stop"}},
		{"type and livestream", 0, store.EventFilter{Types: []string{"hls."}, LivestreamID: "ls-2"}, 100, []string{"amity"}},
		{"types and room", 0, store.EventFilter{Types: []string{"hls.", "recording."}, RoomID: "room-1"}, 100, []string{"start", "stop", "rec"}},
		{"source and livestream", 0, store.EventFilter{Sources: []string{"hms"}, LivestreamID: "ls-2"}, 100, []string{"rec"}},
		{"everything set", 0, store.EventFilter{Types: []string{"hls.stopped"}, Sources: []string{"hms"}, LivestreamID: "ls-1", RoomID: "room-1"}, 100, []string{"stop"}},
		{"everything set, no match", 0, store.EventFilter{Types: []string{"hls.stopped"}, Sources: []string{"hms"}, LivestreamID: "ls-1", RoomID: "room-2"}, 100, nil},
		{"after a sequence", seq("stop"), store.EventFilter{}, 100, all[2:]},
		{"after a sequence, filtered", seq("stop"), store.EventFilter{Types: []string{"hls."}}, 100, []string{"amity"}},
		{"after another tenant's sequence", seq("other-tenant"), store.EventFilter{Types: []string{"hls."}}, 100, []string{"stop", "amity"}},
		{"after the last", seq("accent-longer"), store.EventFilter{}, 100, nil},
		{"after MaxInt64", math.MaxInt64, store.EventFilter{}, 100, nil},
		{"after MaxInt64+1", math.MaxInt64 + 1, store.EventFilter{}, 100, nil},
		{"after MaxUint64", math.MaxUint64, store.EventFilter{}, 100, nil},
		{"limit", 0, store.EventFilter{}, 2, []string{"start", "stop"}},
		{"limit, filtered", 0, store.EventFilter{Types: []string{"hls."}}, 1, []string{"start"}},
		{"limit after a sequence, filtered", seq("start"), store.EventFilter{Types: []string{"hls."}, Sources: []string{"hms"}}, 1, []string{"stop"}},
		{"limit larger than the rest", seq("pct"), store.EventFilter{}, 10, []string{"abc", "bslash", "dot", "rec", "accent", "accent-longer"}},
	}
	view(t, s, func(r store.Reader) error {
		for _, tc := range cases {
			got, err := r.EventsAfter(ctx, tenantA, tc.after, tc.f, tc.limit)
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			want := make([]*store.Event, len(tc.keys))
			for i, k := range tc.keys {
				want[i] = byKey[k]
			}
			checkEvents(t, tc.name, got, want)
			checkEachEventAfter(t, r, tc.name, tenantA, tc.after, tc.f, tc.limit, 0, want, false)
		}
		// Paging with a filter: each page continues after the last sequence of the one before.
		f := store.EventFilter{Types: []string{"hls.", "a"}, Sources: []string{"hms", "amity"}}
		var paged []string
		for after, n := uint64(0), 0; ; n++ {
			page, err := r.EventsAfter(ctx, tenantA, after, f, 2)
			mustNil(t, "page", err)
			paged = append(paged, eventKeys(page)...)
			if len(page) < 2 || n > 10 {
				break
			}
			after = page[len(page)-1].Sequence
		}
		if want := []string{"hms/start", "hms/stop", "amity/amity"}; !slices.Equal(paged, want) {
			t.Errorf("paged EventsAfter = %v, want %v", paged, want)
		}
		return nil
	})
}

func testDeliveryEvents(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	mk := func(tn store.Tenant, source, delivery, key string) *store.Event {
		e := feedEvent(tn, source, "hls.started", key)
		e.DeliveryID = delivery
		return e
	}
	d1a := mk(tenantA, "hms", "d1", "d1-a")
	d2a := mk(tenantA, "hms", "d2", "d2-a")
	d1b := mk(tenantA, "hms", "d1", "d1-b")
	d1Amity := mk(tenantA, "amity", "d1", "amity-d1") // same delivery id, another source
	d1Other := mk(tenantB, "hms", "d1", "other-d1")   // same delivery id, another tenant
	d1c := mk(tenantA, "hms", "d1", "d1-c")
	appendEvents(t, s, d1a, d2a, d1b)
	appendEvents(t, s, d1Amity, d1Other)
	appendEvents(t, s, d1c)

	cases := []struct {
		name             string
		tn               store.Tenant
		source, delivery string
		want             []*store.Event
	}{
		{"delivery of three, across commits", tenantA, "hms", "d1", []*store.Event{d1a, d1b, d1c}},
		{"delivery of one", tenantA, "hms", "d2", []*store.Event{d2a}},
		{"other source", tenantA, "amity", "d1", []*store.Event{d1Amity}},
		{"other tenant", tenantB, "hms", "d1", []*store.Event{d1Other}},
		{"unknown delivery", tenantA, "hms", "d-nope", nil},
		{"known delivery, source without it", tenantA, "amity", "d2", nil},
		{"known delivery, tenant without it", tenantB2, "hms", "d1", nil},
		{"empty delivery id", tenantA, "hms", "", nil},
	}
	view(t, s, func(r store.Reader) error {
		for _, tc := range cases {
			got, err := r.DeliveryEvents(ctx, tc.tn, tc.source, tc.delivery)
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			checkEvents(t, "DeliveryEvents "+tc.name, got, tc.want)
			seqs, err := r.DeliverySequences(ctx, tc.tn, tc.source, tc.delivery)
			if err != nil {
				t.Errorf("%s: DeliverySequences: %v", tc.name, err)
				continue
			}
			var want []uint64
			for _, e := range tc.want {
				want = append(want, e.Sequence)
			}
			if !slices.Equal(seqs, want) {
				t.Errorf("DeliverySequences %s: %v, want %v", tc.name, seqs, want)
			}
		}
		return nil
	})
}

func testFeedBounds(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	if head, pruned := feedBounds(t, s); head != 0 || pruned != 0 {
		t.Errorf("FeedBounds of an empty store = (%d, %d), want (0, 0)", head, pruned)
	}
	// Writes other than events leave the feed alone.
	update(t, s, func(w store.Writer) error { return w.CreateLivestream(ctx, livestream(tenantA, "ls-1", t0)) })
	if head, pruned := feedBounds(t, s); head != 0 || pruned != 0 {
		t.Errorf("FeedBounds without events = (%d, %d), want (0, 0)", head, pruned)
	}
	a, b := feedEvent(tenantA, "hms", "hls.started", "a"), feedEvent(tenantB, "hms", "hls.started", "b")
	appendEvents(t, s, a, b)
	if head, pruned := feedBounds(t, s); head != b.Sequence || pruned != 0 {
		t.Errorf("FeedBounds = (%d, %d), want (%d, 0): the head is the last sequence of any tenant", head, pruned, b.Sequence)
	}

	// Pruning the newest events does not move the head back, and their sequences stay used.
	var n int
	update(t, s, func(w store.Writer) error {
		var err error
		n, err = w.PruneEvents(ctx, t0.Add(time.Hour), 0, 0)
		return err
	})
	if n != 2 {
		t.Errorf("PruneEvents deleted %d, want 2", n)
	}
	if head, pruned := feedBounds(t, s); head != b.Sequence || pruned != b.Sequence {
		t.Errorf("FeedBounds after pruning everything = (%d, %d), want (%d, %d)", head, pruned, b.Sequence, b.Sequence)
	}
	c := feedEvent(tenantA, "hms", "hls.started", "c")
	appendEvents(t, s, c)
	if c.Sequence != b.Sequence+1 {
		t.Errorf("first sequence after pruning the newest = %d, want %d (never reused)", c.Sequence, b.Sequence+1)
	}
	if head, pruned := feedBounds(t, s); head != c.Sequence || pruned != b.Sequence {
		t.Errorf("FeedBounds = (%d, %d), want (%d, %d)", head, pruned, c.Sequence, b.Sequence)
	}
	view(t, s, func(r store.Reader) error {
		checkEvents(t, "events after pruning", allEvents(t, r, tenantA), []*store.Event{c})
		checkEvents(t, "events of B after pruning", allEvents(t, r, tenantB), nil)
		return nil
	})
}

// testPruneEventsInBatches: with a limit, PruneEvents deletes the oldest events up to it, and
// the watermark says exactly what is gone after each batch; called again, it goes on, until
// it deletes none.
func testPruneEventsInBatches(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	var evs []*store.Event
	for i := range 10 {
		e := feedEvent(tenantA, "hms", "hls.started", fmt.Sprintf("b%02d", i))
		e.ReceivedAt = t0.Add(time.Duration(i) * time.Minute)
		evs = append(evs, e)
	}
	appendEvents(t, s, evs...)
	head := evs[9].Sequence
	for i, want := range []struct{ deleted, through int }{{3, 2}, {3, 5}, {3, 8}, {1, 9}, {0, 9}} {
		var n int
		update(t, s, func(w store.Writer) error {
			var err error
			n, err = w.PruneEvents(ctx, t0.Add(time.Hour), 0, 3)
			return err
		})
		if n != want.deleted {
			t.Errorf("batch %d: deleted %d, want %d", i, n, want.deleted)
		}
		if h, p := feedBounds(t, s); h != head || p != evs[want.through].Sequence {
			t.Errorf("batch %d: FeedBounds = (%d, %d), want (%d, %d)", i, h, p, head, evs[want.through].Sequence)
		}
		view(t, s, func(r store.Reader) error {
			got, err := r.EventsAfter(ctx, tenantA, 0, store.EventFilter{}, 100)
			mustNil(t, "EventsAfter", err)
			if len(got) != 9-want.through || (len(got) > 0 && got[0].Sequence != evs[want.through+1].Sequence) {
				t.Errorf("batch %d: %d events kept, want those after %d", i, len(got), evs[want.through].Sequence)
			}
			return nil
		})
	}
}

func testPruneEvents(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	prune := func(before time.Time, keepLast uint64) int {
		t.Helper()
		var n int
		update(t, s, func(w store.Writer) error {
			var err error
			n, err = w.PruneEvents(ctx, before, keepLast, 0)
			return err
		})
		return n
	}
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	if n := prune(at(100), 1); n != 0 {
		t.Errorf("PruneEvents of an empty store deleted %d", n)
	}
	if head, pruned := feedBounds(t, s); head != 0 || pruned != 0 {
		t.Errorf("FeedBounds after pruning an empty store = (%d, %d), want (0, 0)", head, pruned)
	}

	// Twelve events, of tenants A and B in turn (retention is global), received a minute apart.
	var evs []*store.Event
	for i := range 12 {
		tn := tenantA
		if i%2 == 1 {
			tn = tenantB
		}
		e := feedEvent(tn, "hms", "hls.started", fmt.Sprintf("p%02d", i))
		e.ReceivedAt = at(i)
		evs = append(evs, e)
	}
	appendEvents(t, s, evs[:5]...)
	appendEvents(t, s, evs[5:]...)
	head := evs[len(evs)-1].Sequence

	steps := []struct {
		name     string
		before   time.Time
		keepLast uint64
		deleted  int
		through  int // index of the last pruned event, -1: none
	}{
		{"no limits", time.Time{}, 0, 0, -1},
		{"keep more than there are", time.Time{}, 100, 0, -1},
		{"older than the oldest", at(0), 0, 0, -1},
		{"keep the last 10", time.Time{}, 10, 2, 1},
		{"keep the last 10 again", time.Time{}, 10, 0, 1},
		{"received before, exclusive", at(4), 0, 2, 3},
		{"received before, a microsecond later", at(4).Add(time.Microsecond), 0, 1, 4},
		{"an older age does not move it back", at(2), 0, 0, 4},
		{"a larger count does not move it back", time.Time{}, 11, 0, 4},
		{"both, the count prunes more", at(6), 4, 3, 7},
		{"both, the age prunes more", at(10), 3, 2, 9},
		{"everything", at(100), 0, 2, 11},
		{"everything again", at(100), 1, 0, 11},
	}
	for _, st := range steps {
		n := prune(st.before, st.keepLast)
		if n != st.deleted {
			t.Errorf("%s: PruneEvents deleted %d, want %d", st.name, n, st.deleted)
		}
		var through uint64
		if st.through >= 0 {
			through = evs[st.through].Sequence
		}
		if h, p := feedBounds(t, s); h != head || p != through {
			t.Errorf("%s: FeedBounds = (%d, %d), want (%d, %d)", st.name, h, p, head, through)
		}
		view(t, s, func(r store.Reader) error {
			kept := evs[st.through+1:]
			for _, tn := range []store.Tenant{tenantA, tenantB} {
				want := slices.DeleteFunc(slices.Clone(kept), func(e *store.Event) bool { return e.Tenant != tn })
				checkEvents(t, fmt.Sprintf("%s: events of %v", st.name, tn), allEvents(t, r, tn), want)
			}
			for _, e := range evs[:st.through+1] {
				_, err := r.Event(ctx, e.Tenant, e.Sequence)
				wantErr(t, fmt.Sprintf("%s: pruned event %d", st.name, e.Sequence), err, store.ErrNotFound)
			}
			return nil
		})
	}

	// A sequence is never reused: the next one follows the pruned head.
	next := feedEvent(tenantA, "hms", "hls.started", "after-prune")
	appendEvents(t, s, next)
	if next.Sequence != head+1 {
		t.Errorf("sequence after pruning everything = %d, want %d", next.Sequence, head+1)
	}
	if h, p := feedBounds(t, s); h != next.Sequence || p != head {
		t.Errorf("FeedBounds = (%d, %d), want (%d, %d)", h, p, next.Sequence, head)
	}
	if n := prune(time.Time{}, 1); n != 0 {
		t.Errorf("keep the last 1 of 1: deleted %d", n)
	}
	view(t, s, func(r store.Reader) error {
		checkEvents(t, "events after a prune and an append", allEvents(t, r, tenantA), []*store.Event{next})
		return nil
	})
}

func testMeetingSessions(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	day := func(d, h, m int) time.Time { return time.Date(2025, 3, d, h, m, 0, 0, time.UTC) }
	from, to := day(9, 0, 0), day(13, 0, 0)
	// A livestream session on the 10th: counted with the meeting sessions of that day.
	ls := livestream(tenantA, "ls-1", day(1, 0, 0))
	ls1 := session(ls, "s-1", day(10, 12, 0))
	ls1.IngestSeconds = 120
	update(t, s, func(w store.Writer) error {
		mustNil(t, "livestream", w.CreateLivestream(ctx, ls))
		return w.CreateSession(ctx, ls1)
	})
	ms := func(tn store.Tenant, id, room string, started, stopped time.Time, seconds float64) store.MeetingSession {
		return store.MeetingSession{Tenant: tn, ID: id, RoomID: room, StartedAt: started, StoppedAt: stopped, DurationSeconds: seconds}
	}
	var none time.Time
	steps := []struct {
		name    string
		record  []store.MeetingSession
		want    []store.DayStat // tenant A
		wantB   []store.DayStat // tenant B
		wantErr bool
	}{
		{"livestream session only", nil,
			[]store.DayStat{{Day: "2025-03-10", Count: 1, Minutes: 2}}, nil, false},
		{"open", []store.MeetingSession{ms(tenantA, "m1", "room-1", day(10, 10, 0), none, 0)},
			[]store.DayStat{{Day: "2025-03-10", Count: 2, Minutes: 2}}, nil, false},
		{"close keeps the room and the start", []store.MeetingSession{ms(tenantA, "m1", "", none, day(10, 10, 30), 1800)},
			[]store.DayStat{{Day: "2025-03-10", Count: 2, Minutes: 32}}, nil, false},
		{"reopen keeps the stop and the duration", []store.MeetingSession{ms(tenantA, "m1", "room-1", day(10, 10, 0), none, 0)},
			[]store.DayStat{{Day: "2025-03-10", Count: 2, Minutes: 32}}, nil, false},
		{"a stop without a duration keeps the duration", []store.MeetingSession{ms(tenantA, "m1", "", none, day(10, 10, 31), 0)},
			[]store.DayStat{{Day: "2025-03-10", Count: 2, Minutes: 32}}, nil, false},
		{"close only", []store.MeetingSession{ms(tenantA, "m2", "room-2", day(11, 9, 0), day(11, 9, 10), 600)},
			[]store.DayStat{{Day: "2025-03-10", Count: 2, Minutes: 32}, {Day: "2025-03-11", Count: 1, Minutes: 10}}, nil, false},
		{"a duration alone overwrites", []store.MeetingSession{ms(tenantA, "m2", "", none, none, 900)},
			[]store.DayStat{{Day: "2025-03-10", Count: 2, Minutes: 32}, {Day: "2025-03-11", Count: 1, Minutes: 15}}, nil, false},
		{"close without a known start: no day yet", []store.MeetingSession{ms(tenantA, "m3", "room-3", none, day(12, 9, 0), 120)},
			[]store.DayStat{{Day: "2025-03-10", Count: 2, Minutes: 32}, {Day: "2025-03-11", Count: 1, Minutes: 15}}, nil, false},
		{"its start arrives late", []store.MeetingSession{ms(tenantA, "m3", "", day(12, 8, 0), none, 0)},
			[]store.DayStat{{Day: "2025-03-10", Count: 2, Minutes: 32}, {Day: "2025-03-11", Count: 1, Minutes: 15}, {Day: "2025-03-12", Count: 1, Minutes: 2}}, nil, false},
		{"another tenant's session of the same id", []store.MeetingSession{ms(tenantB, "m1", "room-b", day(11, 0, 0), day(11, 1, 0), 3600)},
			[]store.DayStat{{Day: "2025-03-10", Count: 2, Minutes: 32}, {Day: "2025-03-11", Count: 1, Minutes: 15}, {Day: "2025-03-12", Count: 1, Minutes: 2}},
			[]store.DayStat{{Day: "2025-03-11", Count: 1, Minutes: 60}}, false},
		{"at `to` and before `from`: outside", []store.MeetingSession{
			ms(tenantA, "m4", "room-1", to, to.Add(time.Minute), 60),
			ms(tenantA, "m5", "room-1", from.Add(-time.Microsecond), from.Add(time.Minute), 60),
		}, []store.DayStat{{Day: "2025-03-10", Count: 2, Minutes: 32}, {Day: "2025-03-11", Count: 1, Minutes: 15}, {Day: "2025-03-12", Count: 1, Minutes: 2}},
			[]store.DayStat{{Day: "2025-03-11", Count: 1, Minutes: 60}}, false},
		{"a later start moves it to its day", []store.MeetingSession{ms(tenantA, "m1", "", day(12, 23, 59), none, 0)},
			[]store.DayStat{{Day: "2025-03-10", Count: 1, Minutes: 2}, {Day: "2025-03-11", Count: 1, Minutes: 15}, {Day: "2025-03-12", Count: 2, Minutes: 32}},
			[]store.DayStat{{Day: "2025-03-11", Count: 1, Minutes: 60}}, false},
	}
	for _, st := range steps {
		update(t, s, func(w store.Writer) error {
			for _, m := range st.record {
				if err := w.RecordMeetingSession(ctx, m); err != nil {
					return err
				}
			}
			return nil
		})
		view(t, s, func(r store.Reader) error {
			for _, c := range []struct {
				tn   store.Tenant
				want []store.DayStat
			}{{tenantA, st.want}, {tenantB, st.wantB}} {
				days, err := r.SessionDays(ctx, c.tn, from, to)
				mustNil(t, "SessionDays", err)
				if !slices.Equal(days, c.want) {
					t.Errorf("%s: SessionDays of %v = %+v, want %+v", st.name, c.tn, days, c.want)
				}
			}
			return nil
		})
	}
	// A failed Update keeps no meeting session.
	err := s.Update(ctx, func(w store.Writer) error {
		mustNil(t, "RecordMeetingSession", w.RecordMeetingSession(ctx, ms(tenantA, "m-failed", "room-1", day(9, 1, 0), day(9, 2, 0), 60)))
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Errorf("Update returned %v, want fn's error", err)
	}
	view(t, s, func(r store.Reader) error {
		days, err := r.SessionDays(ctx, tenantA, from, day(10, 0, 0))
		mustNil(t, "SessionDays", err)
		if len(days) != 0 {
			t.Errorf("meeting session of a failed Update counted: %+v", days)
		}
		return nil
	})
}

func testOnCommit(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	h := recordCommits(s)

	// One commit: one call, with its events in sequence order, before Update returns.
	e1, e2, e3 := feedEvent(tenantA, "hms", "hls.started", "e1"), feedEvent(tenantB, "amity", "x.y", "e2"), feedEvent(tenantA, "hms", "hls.stopped", "e3")
	e3.LivestreamID, e3.RoomID = "ls-1", "room-1"
	e3.ReceivedAt = t0.In(time.FixedZone("UTC+1", 3600))
	appendEvents(t, s, e1, e2, e3)
	calls := h.reported()
	if len(calls) != 1 {
		t.Fatalf("after one commit the hook was called %d times with events, want 1", len(calls))
	}
	checkEvents(t, "first call", calls[0], []*store.Event{e1, e2, e3})

	// A commit without events reports none.
	update(t, s, func(w store.Writer) error { return w.CreateLivestream(ctx, livestream(tenantA, "ls-1", t0)) })
	if n := len(h.reported()); n != 1 {
		t.Errorf("a commit without events was reported: %d calls", n)
	}

	// Failed Updates: neither reported nor stored.
	f1, f2 := feedEvent(tenantA, "hms", "hls.started", "f1"), feedEvent(tenantB, "hms", "hls.started", "f2")
	err := s.Update(ctx, func(w store.Writer) error {
		mustNil(t, "append f1", w.AppendEvent(ctx, f1))
		mustNil(t, "append f2", w.AppendEvent(ctx, f2))
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Errorf("Update returned %v, want fn's error", err)
	}
	f3 := feedEvent(tenantA, "hms", "hls.started", "f3")
	err = s.Update(ctx, func(w store.Writer) error {
		mustNil(t, "append f3", w.AppendEvent(ctx, f3))
		return w.AppendEvent(ctx, feedEvent(tenantA, "hms", "hls.started", "e1")) // duplicate
	})
	wantErr(t, "Update with a duplicate", err, store.ErrAlreadyExists)
	if n := len(h.reported()); n != 1 {
		t.Errorf("failed Updates were reported: %d calls", n)
	}
	view(t, s, func(r store.Reader) error {
		checkEvents(t, "A after failed Updates", allEvents(t, r, tenantA), []*store.Event{e1, e3})
		checkEvents(t, "B after failed Updates", allEvents(t, r, tenantB), []*store.Event{e2})
		return nil
	})

	// The next commit is reported alone, after the first.
	e4 := feedEvent(tenantB2, "hms", "hls.started", "e4")
	appendEvents(t, s, e4)
	calls = h.reported()
	if len(calls) != 2 {
		t.Fatalf("after two commits with events the hook was called %d times, want 2", len(calls))
	}
	checkEvents(t, "second call", calls[1], []*store.Event{e4})
	if e4.Sequence <= e3.Sequence {
		t.Errorf("sequence %d after %d", e4.Sequence, e3.Sequence)
	}
	h.check(t, s)
}

func testOnCommitConcurrent(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	h := recordCommits(s)
	const n = 100
	evs := make([]*store.Event, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		evs[i] = feedEvent([]store.Tenant{tenantA, tenantB, tenantB2}[i%3], "hms", "hls.started", fmt.Sprintf("c%03d", i))
		wg.Go(func() {
			errs[i] = s.Update(ctx, func(w store.Writer) error { return w.AppendEvent(ctx, evs[i]) })
			h.markReturned(evs[i])
		})
	}
	wg.Wait()
	seqs := map[uint64]string{}
	for i, err := range errs {
		if err != nil {
			t.Errorf("Update %d: %v", i, err)
			continue
		}
		if prev, ok := seqs[evs[i].Sequence]; ok {
			t.Errorf("sequence %d given to %s and %s", evs[i].Sequence, prev, evs[i].DedupeKey)
		}
		seqs[evs[i].Sequence] = evs[i].DedupeKey
	}
	if len(seqs) != n {
		t.Errorf("%d distinct sequences, want %d", len(seqs), n)
	}
	reported := h.check(t, s) // strictly increasing across calls, each as stored
	if len(reported) != n {
		t.Errorf("the hook reported %d events, want %d", len(reported), n)
	}
	for _, e := range reported {
		if seqs[e.Sequence] != e.DedupeKey {
			t.Errorf("reported event %d is %s, but that Update got sequence %d for %s", e.Sequence, e.DedupeKey, e.Sequence, seqs[e.Sequence])
		}
		delete(seqs, e.Sequence)
	}
	if len(seqs) != 0 {
		t.Errorf("appended but not reported: %v", seqs)
	}
	t.Logf("%d Updates, %d commits with events", n, len(h.reported()))
}

// testGroupCommitIsolation runs concurrent Updates, every third of which writes and then
// fails: exactly the others' writes are kept, whether or not they committed together.
func testGroupCommitIsolation(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	h := recordCommits(s)
	const n = 60
	fails := func(i int) bool { return i%3 == 0 }
	errs := make([]error, n)
	var ready, wg sync.WaitGroup
	release := holdWriter(t, s)
	for i := range n {
		ready.Add(1)
		wg.Go(func() {
			ready.Done()
			errs[i] = s.Update(ctx, func(w store.Writer) error {
				if err := w.CreateLivestream(ctx, livestream(tenantA, fmt.Sprintf("ls-%02d", i), t0)); err != nil {
					return err
				}
				if err := w.AppendEvent(ctx, feedEvent(tenantA, "hms", "hls.started", fmt.Sprintf("k%02d", i))); err != nil {
					return err
				}
				// A failing Update and the one after it write the same keys: whichever runs
				// first, the failing one's rows must not stand in the way of the other's.
				contested := -1
				if fails(i) {
					contested = i
				} else if fails(i - 1) {
					contested = i - 1
				}
				if contested >= 0 {
					if err := w.CreateLivestream(ctx, livestream(tenantA, fmt.Sprintf("contested-%02d", contested), t0)); err != nil {
						return err
					}
					if err := w.AppendEvent(ctx, feedEvent(tenantA, "hms", "hls.started", fmt.Sprintf("contested-%02d", contested))); err != nil {
						return err
					}
				}
				if err := w.RecordMeetingSession(ctx, store.MeetingSession{Tenant: tenantA, ID: fmt.Sprintf("m%02d", i), RoomID: "room", StartedAt: t0, StoppedAt: t0.Add(time.Minute), DurationSeconds: 60}); err != nil {
					return err
				}
				if fails(i) {
					return fmt.Errorf("Update %d: %w", i, errBoom)
				}
				return nil
			})
		})
	}
	ready.Wait()
	release()
	wg.Wait()

	var wantLs, wantEv []string
	for i := range n {
		switch {
		case fails(i):
			if !errors.Is(errs[i], errBoom) && !errors.Is(errs[i], store.ErrAlreadyExists) {
				t.Errorf("failing Update %d returned %v, want its own error", i, errs[i])
			}
		case errs[i] != nil:
			t.Errorf("Update %d returned %v", i, errs[i])
		default:
			wantLs = append(wantLs, fmt.Sprintf("ls-%02d", i))
			wantEv = append(wantEv, fmt.Sprintf("hms/k%02d", i))
			if fails(i - 1) {
				wantLs = append(wantLs, fmt.Sprintf("contested-%02d", i-1))
				wantEv = append(wantEv, fmt.Sprintf("hms/contested-%02d", i-1))
			}
		}
	}
	slices.Sort(wantLs)
	slices.Sort(wantEv)
	view(t, s, func(r store.Reader) error {
		ls, _, err := r.ListLivestreams(ctx, tenantA, store.LivestreamFilter{})
		mustNil(t, "ListLivestreams", err)
		got := livestreamIDs(ls)
		slices.Sort(got)
		if !slices.Equal(got, wantLs) {
			t.Errorf("stored livestreams %v, want %v", got, wantLs)
		}
		gotEv := eventKeys(allEvents(t, r, tenantA))
		slices.Sort(gotEv)
		if !slices.Equal(gotEv, wantEv) {
			t.Errorf("stored events %v, want %v", gotEv, wantEv)
		}
		days, err := r.SessionDays(ctx, tenantA, t0.Add(-time.Hour), t0.Add(time.Hour))
		mustNil(t, "SessionDays", err)
		ok := n - (n+2)/3
		if want := []store.DayStat{{Day: "2025-03-14", Count: ok, Minutes: float64(ok)}}; !slices.Equal(days, want) {
			t.Errorf("meeting sessions counted %+v, want %+v", days, want)
		}
		return nil
	})
	reported := eventKeys(h.check(t, s))
	slices.Sort(reported)
	if !slices.Equal(reported, wantEv) {
		t.Errorf("reported events %v, want %v", reported, wantEv)
	}
	t.Logf("%d Updates, %d commits with events", n, len(h.reported()))
}

// testUpdatePanicAmongConcurrent: a panicking fn's panic reaches its caller, its writes are
// undone, and Updates running alongside it commit.
func testUpdatePanicAmongConcurrent(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	h := recordCommits(s)
	const n = 9
	const panicking = 4
	errs := make([]error, n)
	var recovered any
	returned := false
	var ready, wg sync.WaitGroup
	release := holdWriter(t, s)
	for i := range n {
		ready.Add(1)
		wg.Go(func() {
			if i == panicking {
				defer func() { recovered = recover() }()
			}
			ready.Done()
			errs[i] = s.Update(ctx, func(w store.Writer) error {
				if err := w.CreateLivestream(ctx, livestream(tenantA, fmt.Sprintf("ls-%d", i), t0)); err != nil {
					return err
				}
				if err := w.AppendEvent(ctx, feedEvent(tenantA, "hms", "hls.started", fmt.Sprintf("k%d", i))); err != nil {
					return err
				}
				if i == panicking {
					panic(errBoom)
				}
				return nil
			})
			if i == panicking {
				returned = true
			}
		})
	}
	ready.Wait()
	release()
	wg.Wait()

	if recovered != errBoom {
		t.Errorf("the panicking Update's caller recovered %v, want the panic value", recovered)
	}
	if returned {
		t.Errorf("the panicking Update returned (%v) instead of panicking", errs[panicking])
	}
	var wantLs, wantEv []string
	for i := range n {
		if i == panicking {
			continue
		}
		if errs[i] != nil {
			t.Errorf("Update %d alongside a panic: %v", i, errs[i])
		}
		wantLs = append(wantLs, fmt.Sprintf("ls-%d", i))
		wantEv = append(wantEv, fmt.Sprintf("hms/k%d", i))
	}
	view(t, s, func(r store.Reader) error {
		ls, _, err := r.ListLivestreams(ctx, tenantA, store.LivestreamFilter{})
		mustNil(t, "ListLivestreams", err)
		got := livestreamIDs(ls)
		slices.Sort(got)
		if !slices.Equal(got, wantLs) {
			t.Errorf("stored livestreams %v, want %v", got, wantLs)
		}
		gotEv := eventKeys(allEvents(t, r, tenantA))
		slices.Sort(gotEv)
		if !slices.Equal(gotEv, wantEv) {
			t.Errorf("stored events %v, want %v", gotEv, wantEv)
		}
		return nil
	})
	reported := eventKeys(h.check(t, s))
	slices.Sort(reported)
	if !slices.Equal(reported, wantEv) {
		t.Errorf("reported events %v, want %v", reported, wantEv)
	}
}

// testUpdateCanceledContext: an Update whose context is canceled before the call returns
// context.Canceled and keeps nothing, even what fn writes with a live context.
func testUpdateCanceledContext(t *testing.T, s store.Store) {
	live := ctxT(t)
	h := recordCommits(s)
	canceled, cancel := context.WithCancel(live)
	cancel()
	for i := range 20 {
		err := s.Update(canceled, func(w store.Writer) error {
			if err := w.CreateLivestream(live, livestream(tenantA, fmt.Sprintf("ls-%d", i), t0)); err != nil {
				return err
			}
			return w.AppendEvent(live, feedEvent(tenantA, "hms", "hls.started", fmt.Sprintf("k%d", i)))
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Update %d with a canceled context returned %v, want context.Canceled", i, err)
		}
	}
	view(t, s, func(r store.Reader) error {
		ls, total, err := r.ListLivestreams(live, tenantA, store.LivestreamFilter{})
		mustNil(t, "ListLivestreams", err)
		if total != 0 {
			t.Errorf("canceled Updates stored livestreams %v", livestreamIDs(ls))
		}
		if evs := allEvents(t, r, tenantA); len(evs) != 0 {
			t.Errorf("canceled Updates stored events %v", eventKeys(evs))
		}
		return nil
	})
	if calls := h.reported(); len(calls) != 0 {
		t.Errorf("canceled Updates reported %d commits", len(calls))
	}
	// The store still works.
	e := feedEvent(tenantA, "hms", "hls.started", "after")
	appendEvents(t, s, e)
	if calls := h.reported(); len(calls) != 1 {
		t.Errorf("hook called %d times after one commit, want 1", len(calls))
	}
}

// checkEachEventAfter checks that EachEventAfter hands fn exactly want's sequences and bodies,
// in order, and says more as wanted; and that an error from fn ends the read and comes back.
func checkEachEventAfter(t *testing.T, r store.Reader, name string, tn store.Tenant, after uint64, f store.EventFilter, limit, maxBytes int, want []*store.Event, wantMore bool) {
	t.Helper()
	ctx := ctxT(t)
	var seqs []uint64
	var bodies [][]byte
	more, err := r.EachEventAfter(ctx, tn, after, f, limit, maxBytes, func(seq uint64, body []byte) error {
		seqs = append(seqs, seq)
		bodies = append(bodies, bytes.Clone(body))
		return nil
	})
	if err != nil {
		t.Errorf("%s: EachEventAfter: %v", name, err)
		return
	}
	if more != wantMore {
		t.Errorf("%s: EachEventAfter more = %v, want %v", name, more, wantMore)
	}
	if len(seqs) != len(want) {
		t.Errorf("%s: EachEventAfter read %d events (%v), want %d", name, len(seqs), seqs, len(want))
		return
	}
	for i, e := range want {
		if seqs[i] != e.Sequence || !bytes.Equal(bodies[i], e.Body) {
			t.Errorf("%s: EachEventAfter event %d = sequence %d, %d-byte body; want sequence %d, %d-byte body %q",
				name, i, seqs[i], len(bodies[i]), e.Sequence, len(e.Body), e.Body)
		}
	}
	if len(want) > 0 {
		stop := errors.New("stop")
		calls := 0
		_, err := r.EachEventAfter(ctx, tn, after, f, limit, maxBytes, func(uint64, []byte) error {
			calls++
			return stop
		})
		if !errors.Is(err, stop) || calls != 1 {
			t.Errorf("%s: EachEventAfter with fn failing: %d calls, error %v; want 1 call, fn's error", name, calls, err)
		}
	}
}

// testEventsAfterBytes: a byte budget cuts a read before the event whose body would pass it,
// never below one event, and says more follow; paging by it loses and repeats nothing.
func testEventsAfterBytes(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	sizes := []int{300, 300, 300, 1000, 100, 100, 2000, 50}
	var evs []*store.Event
	for i, n := range sizes {
		e := feedEvent(tenantA, "hms", "peer.join.success", fmt.Sprintf("bytes-%d", i))
		e.Body = bytes.Repeat([]byte{'x'}, n)
		evs = append(evs, e)
	}
	other := feedEvent(tenantB, "hms", "peer.join.success", "bytes-other")
	other.Body = bytes.Repeat([]byte{'y'}, 5000)
	appendEvents(t, s, evs[:4]...)
	appendEvents(t, s, other)
	appendEvents(t, s, evs[4:]...)
	view(t, s, func(r store.Reader) error {
		cases := []struct {
			name     string
			after    uint64
			limit    int
			maxBytes int
			want     []int // indexes into evs
			more     bool
		}{
			{"no budget", 0, 100, 0, []int{0, 1, 2, 3, 4, 5, 6, 7}, false},
			{"budget met exactly", 0, 100, 900, []int{0, 1, 2}, true},
			{"budget cuts before the event that passes it", 0, 100, 1000, []int{0, 1, 2}, true},
			{"first event over the budget is still returned", evs[2].Sequence, 100, 10, []int{3}, true},
			{"other tenants' bodies do not count", evs[3].Sequence, 100, 200, []int{4, 5}, true},
			{"limit before budget", 0, 2, 10000, []int{0, 1}, false},
			{"budget not reached: no more", evs[5].Sequence, 100, 1 << 20, []int{6, 7}, false},
			{"last event alone", evs[6].Sequence, 100, 1, []int{7}, false},
			{"nothing after", evs[7].Sequence, 100, 1, nil, false},
		}
		for _, tc := range cases {
			got, more, err := r.EventsAfterBytes(ctx, tenantA, tc.after, store.EventFilter{}, tc.limit, tc.maxBytes)
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			want := make([]*store.Event, len(tc.want))
			for i, k := range tc.want {
				want[i] = evs[k]
			}
			checkEvents(t, tc.name, got, want)
			if more != tc.more {
				t.Errorf("%s: more = %v, want %v", tc.name, more, tc.more)
			}
			// EachEventAfter reads the same events (their sequences and bodies) and more.
			checkEachEventAfter(t, r, tc.name, tenantA, tc.after, store.EventFilter{}, tc.limit, tc.maxBytes, want, tc.more)
		}
		// Paging by bytes: every event once, in order, each page within the budget unless it
		// holds one event.
		var paged []string
		for after, n := uint64(0), 0; n < 20; n++ {
			page, more, err := r.EventsAfterBytes(ctx, tenantA, after, store.EventFilter{}, 100, 700)
			mustNil(t, "page", err)
			total := 0
			for _, e := range page {
				total += len(e.Body)
			}
			if total > 700 && len(page) > 1 {
				t.Errorf("page after %d: %d events of %d bytes, over the 700-byte budget", after, len(page), total)
			}
			paged = append(paged, eventKeys(page)...)
			if !more {
				break
			}
			after = page[len(page)-1].Sequence
		}
		if want := eventPtrKeys(evs); !slices.Equal(paged, want) {
			t.Errorf("paged by bytes = %v, want %v", paged, want)
		}
		return nil
	})
}
