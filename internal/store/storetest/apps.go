package storetest

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/store"
)

// checkAppCredentials compares what rotation writes: the current and previous credentials.
func checkAppCredentials(t *testing.T, what string, got, want store.App) {
	t.Helper()
	checkApp(t, what, got, want)
	var d diffs
	d.eq("PrevTokenID", got.PrevTokenID, want.PrevTokenID)
	d.eq("PrevTokenHash", fmt.Sprintf("%x", got.PrevTokenHash), fmt.Sprintf("%x", want.PrevTokenHash))
	d.time("PrevTokenExpiresAt", got.PrevTokenExpiresAt, want.PrevTokenExpiresAt)
	d.eq("PrevWebhookSecret", got.PrevWebhookSecret, want.PrevWebhookSecret)
	d.time("PrevWebhookSecretExpiresAt", got.PrevWebhookSecretExpiresAt, want.PrevWebhookSecretExpiresAt)
	d.report(t, what)
}

// testAppCredentials: an app's credentials are replaced with the previous ones kept; the app
// is found by its new token id and by the previous one; clearing the previous ones forgets
// them; updating an unknown app is ErrNotFound, and a token id another app has is refused.
func testAppCredentials(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := store.App{Tenant: tenantA, TokenID: "tok-1", TokenHash: []byte{0, 1}, WebhookSecret: "whsec-1", CreatedAt: t0}
	b := store.App{Tenant: tenantB, TokenID: "tok-b", TokenHash: []byte("b"), WebhookSecret: "whsec-b", CreatedAt: t0}
	update(t, s, func(w store.Writer) error {
		mustNil(t, "CreateApp a", w.CreateApp(ctx, a))
		return w.CreateApp(ctx, b)
	})
	view(t, s, func(r store.Reader) error {
		got, err := r.App(ctx, tenantA)
		mustNil(t, "App", err)
		checkAppCredentials(t, "a new app", got, a) // no previous credentials
		return nil
	})

	rotated := a
	rotated.TokenID, rotated.TokenHash, rotated.WebhookSecret = "tok-2", []byte{2, 0, 0xff}, "whsec-2"
	rotated.PrevTokenID, rotated.PrevTokenHash, rotated.PrevTokenExpiresAt = a.TokenID, a.TokenHash, t0.Add(24*time.Hour)
	rotated.PrevWebhookSecret, rotated.PrevWebhookSecretExpiresAt = a.WebhookSecret, t0.Add(time.Hour)
	update(t, s, func(w store.Writer) error { return w.UpdateAppCredentials(ctx, rotated) })
	view(t, s, func(r store.Reader) error {
		for _, id := range []string{"tok-2", "tok-1"} {
			got, err := r.AppByTokenID(ctx, id)
			mustNil(t, "AppByTokenID "+id, err)
			checkAppCredentials(t, "AppByTokenID "+id+" after a rotation", got, rotated)
		}
		got, err := r.App(ctx, tenantA)
		mustNil(t, "App", err)
		checkAppCredentials(t, "App after a rotation", got, rotated)
		got, err = r.AppByTokenID(ctx, "tok-b")
		mustNil(t, "AppByTokenID tok-b", err)
		checkAppCredentials(t, "the other app", got, b)
		return nil
	})

	// Rotating again without a grace forgets the previous ones.
	again := rotated
	again.TokenID, again.TokenHash, again.WebhookSecret = "tok-3", []byte("3"), "whsec-3"
	again.PrevTokenID, again.PrevTokenHash, again.PrevTokenExpiresAt = "", nil, time.Time{}
	again.PrevWebhookSecret, again.PrevWebhookSecretExpiresAt = "", time.Time{}
	update(t, s, func(w store.Writer) error { return w.UpdateAppCredentials(ctx, again) })
	view(t, s, func(r store.Reader) error {
		for _, id := range []string{"tok-1", "tok-2"} {
			_, err := r.AppByTokenID(ctx, id)
			wantErr(t, "AppByTokenID "+id+" after a rotation without grace", err, store.ErrNotFound)
		}
		got, err := r.AppByTokenID(ctx, "tok-3")
		mustNil(t, "AppByTokenID tok-3", err)
		checkAppCredentials(t, "after a rotation without grace", got, again)
		return nil
	})

	err := s.Update(ctx, func(w store.Writer) error {
		return w.UpdateAppCredentials(ctx, store.App{Tenant: tenantB2, TokenID: "tok-x", TokenHash: []byte("x")})
	})
	wantErr(t, "UpdateAppCredentials of an unknown app", err, store.ErrNotFound)
	taken := again
	taken.TokenID = "tok-b"
	err = s.Update(ctx, func(w store.Writer) error { return w.UpdateAppCredentials(ctx, taken) })
	wantErr(t, "UpdateAppCredentials to another app's token id", err, store.ErrAlreadyExists)
}

// testListAndDeleteApps: ListApps lists every app in (account, app) order; DeleteApp removes
// the app and its tenant's data, and nothing of another tenant.
func testListAndDeleteApps(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	view(t, s, func(r store.Reader) error {
		apps, err := r.ListApps(ctx)
		mustNil(t, "ListApps of an empty store", err)
		if len(apps) != 0 {
			t.Errorf("ListApps of an empty store: %d apps", len(apps))
		}
		return nil
	})
	tenants := []store.Tenant{tenantB2, tenantB, tenantA} // created out of order
	for i, tn := range tenants {
		ls := livestream(tn, fmt.Sprintf("ls-%d", i), t0)
		update(t, s, func(w store.Writer) error {
			mustNil(t, "CreateApp", w.CreateApp(ctx, store.App{Tenant: tn, TokenID: fmt.Sprintf("tok-%d", i), TokenHash: []byte("h"), WebhookSecret: "s", CreatedAt: t0}))
			mustNil(t, "CreateLivestream", w.CreateLivestream(ctx, ls))
			mustNil(t, "CreateSession", w.CreateSession(ctx, session(ls, fmt.Sprintf("s-%d", i), t0)))
			mustNil(t, "PutRtmpClient", w.PutRtmpClient(ctx, rtmpClient(ls, uint64(100+i), fmt.Sprintf("s-%d", i), true, t0)))
			mustNil(t, "CreateRecording", w.CreateRecording(ctx, store.Recording{Tenant: tn, ID: fmt.Sprintf("r-%d", i), Source: "hms", RecordedAt: t0, DurationSeconds: 1}))
			mustNil(t, "RecordMeetingSession", w.RecordMeetingSession(ctx, store.MeetingSession{Tenant: tn, ID: fmt.Sprintf("m-%d", i), RoomID: "room", StartedAt: t0}))
			return w.AppendEvent(ctx, feedEvent(tn, "hms", "peer.join.success", fmt.Sprintf("k-%d", i)))
		})
	}
	view(t, s, func(r store.Reader) error {
		apps, err := r.ListApps(ctx)
		mustNil(t, "ListApps", err)
		var got []store.Tenant
		for _, a := range apps {
			got = append(got, a.Tenant)
		}
		if want := []store.Tenant{tenantA, tenantB, tenantB2}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("ListApps: %v, want %v", got, want)
		}
		return nil
	})

	update(t, s, func(w store.Writer) error { return w.DeleteApp(ctx, tenantA) })
	err := s.Update(ctx, func(w store.Writer) error { return w.DeleteApp(ctx, tenantA) })
	wantErr(t, "DeleteApp twice", err, store.ErrNotFound)
	view(t, s, func(r store.Reader) error {
		_, err := r.App(ctx, tenantA)
		wantErr(t, "App after DeleteApp", err, store.ErrNotFound)
		_, err = r.AppByTokenID(ctx, "tok-2")
		wantErr(t, "AppByTokenID after DeleteApp", err, store.ErrNotFound)
		_, err = r.Livestream(ctx, tenantA, "ls-2")
		wantErr(t, "the deleted app's livestream", err, store.ErrNotFound)
		_, err = r.Session(ctx, tenantA, "s-2")
		wantErr(t, "the deleted app's session", err, store.ErrNotFound)
		_, err = r.RtmpClient(ctx, 102)
		wantErr(t, "the deleted app's RTMP client", err, store.ErrNotFound)
		evs, err := r.EventsAfter(ctx, tenantA, 0, store.EventFilter{}, 10)
		mustNil(t, "EventsAfter", err)
		days, err := r.RecordingDays(ctx, tenantA, t0.Add(-time.Hour), t0.Add(time.Hour))
		mustNil(t, "RecordingDays", err)
		sdays, err := r.SessionDays(ctx, tenantA, t0.Add(-time.Hour), t0.Add(time.Hour))
		mustNil(t, "SessionDays", err)
		if len(evs) != 0 || len(days) != 0 || len(sdays) != 0 {
			t.Errorf("the deleted app kept %d events, %d recording days, %d session days", len(evs), len(days), len(sdays))
		}

		// The others keep everything.
		apps, err := r.ListApps(ctx)
		mustNil(t, "ListApps after DeleteApp", err)
		if len(apps) != 2 || apps[0].Tenant != tenantB || apps[1].Tenant != tenantB2 {
			t.Errorf("ListApps after DeleteApp: %v", apps)
		}
		for i, tn := range tenants[:2] {
			_, err := r.Livestream(ctx, tn, fmt.Sprintf("ls-%d", i))
			mustNil(t, "another tenant's livestream", err)
			_, err = r.RtmpClient(ctx, uint64(100+i))
			mustNil(t, "another tenant's RTMP client", err)
			evs, err := r.EventsAfter(ctx, tn, 0, store.EventFilter{}, 10)
			mustNil(t, "another tenant's events", err)
			days, err := r.RecordingDays(ctx, tn, t0.Add(-time.Hour), t0.Add(time.Hour))
			mustNil(t, "another tenant's recordings", err)
			if len(evs) != 1 || len(days) != 1 {
				t.Errorf("tenant %v after another's DeleteApp: %d events, %d recording days, want 1 and 1", tn, len(evs), len(days))
			}
		}
		return nil
	})
}

// testAuditEntries: the admin audit log keeps entries in order with increasing sequences,
// reads from a sequence on, and keeps an entry a rolled-back Update did not commit out.
func testAuditEntries(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	entries := []store.AuditEntry{
		{At: t0, Actor: "op:ab12", Action: "apps.create", Tenant: tenantA, Detail: ""},
		{At: t0.Add(time.Second), Actor: "op:ab12", Action: "apps.rotate_token", Tenant: tenantA, Detail: "previous token valid until x"},
		{At: t0.Add(2 * time.Second), Actor: "cli", Action: "apps.delete", Tenant: tenantB},
	}
	var last uint64
	for i := range entries {
		update(t, s, func(w store.Writer) error { return w.AppendAuditEntry(ctx, &entries[i]) })
		if entries[i].Seq <= last {
			t.Errorf("entry %d: sequence %d after %d", i, entries[i].Seq, last)
		}
		last = entries[i].Seq
	}
	_ = s.Update(ctx, func(w store.Writer) error {
		mustNil(t, "AppendAuditEntry", w.AppendAuditEntry(ctx, &store.AuditEntry{At: t0, Actor: "x", Action: "rolled.back", Tenant: tenantA}))
		return fmt.Errorf("roll back")
	})
	view(t, s, func(r store.Reader) error {
		got, err := r.AuditEntries(ctx, 0, 100)
		mustNil(t, "AuditEntries", err)
		if len(got) != len(entries) {
			t.Fatalf("AuditEntries: %d entries, want %d: %v", len(got), len(entries), got)
		}
		for i, e := range got {
			var d diffs
			d.eq("Seq", e.Seq, entries[i].Seq)
			d.time("At", e.At, entries[i].At)
			d.eq("Actor", e.Actor, entries[i].Actor)
			d.eq("Action", e.Action, entries[i].Action)
			d.eq("Tenant", e.Tenant, entries[i].Tenant)
			d.eq("Detail", e.Detail, entries[i].Detail)
			d.report(t, fmt.Sprintf("entry %d", i))
		}
		got, err = r.AuditEntries(ctx, entries[0].Seq, 1)
		mustNil(t, "AuditEntries after the first, limit 1", err)
		if len(got) != 1 || got[0].Seq != entries[1].Seq {
			t.Errorf("AuditEntries after %d, limit 1: %v", entries[0].Seq, got)
		}
		// A cursor past int64 is past every entry (it wrapped to a negative one and listed
		// from the start until 2026-11-29).
		for _, after := range []uint64{math.MaxInt64 + 1, math.MaxUint64} {
			got, err = r.AuditEntries(ctx, after, 10)
			mustNil(t, "AuditEntries after a huge cursor", err)
			if len(got) != 0 {
				t.Errorf("AuditEntries after %d: %d entries, want none", after, len(got))
			}
		}
		return nil
	})
}

// appsVersion reads s's AppsVersion in a View.
func appsVersion(t *testing.T, s store.Store) uint64 {
	t.Helper()
	var v uint64
	view(t, s, func(r store.Reader) error {
		var err error
		v, err = r.AppsVersion(ctxT(t))
		return err
	})
	return v
}

// testAppsVersion: every committed change to apps (create, credentials, delete) changes
// AppsVersion, seen in the writing transaction and after it; a change rolled back does not,
// and neither does a write to anything else.
func testAppsVersion(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := store.App{Tenant: tenantA, TokenID: "tok-1", TokenHash: []byte{1}, WebhookSecret: "whsec-1", CreatedAt: t0}
	seen := map[uint64]string{}
	changed := func(what string, fn func(w store.Writer) error) {
		t.Helper()
		before := appsVersion(t, s)
		seen[before] = "before " + what
		var inside uint64
		update(t, s, func(w store.Writer) error {
			if err := fn(w); err != nil {
				return err
			}
			var err error
			inside, err = w.AppsVersion(ctx)
			return err
		})
		after := appsVersion(t, s)
		if after != inside {
			t.Errorf("%s: AppsVersion %d inside the transaction, %d after its commit", what, inside, after)
		}
		if prev, ok := seen[after]; ok {
			t.Errorf("%s: AppsVersion %d after it, as %s", what, after, prev)
		}
		seen[after] = "after " + what
	}
	changed("CreateApp", func(w store.Writer) error { return w.CreateApp(ctx, a) })
	rotated := a
	rotated.WebhookSecret, rotated.PrevWebhookSecret, rotated.PrevWebhookSecretExpiresAt = "whsec-2", a.WebhookSecret, t0.Add(time.Hour)
	changed("UpdateAppCredentials", func(w store.Writer) error { return w.UpdateAppCredentials(ctx, rotated) })

	v := appsVersion(t, s)
	errRollback := fmt.Errorf("roll back")
	if err := s.Update(ctx, func(w store.Writer) error {
		mustNil(t, "UpdateAppCredentials", w.UpdateAppCredentials(ctx, a))
		return errRollback
	}); err != errRollback {
		t.Fatalf("Update: %v, want %v", err, errRollback)
	}
	update(t, s, func(w store.Writer) error { return w.CreateSetting(ctx, "apps-version-test", "x") })
	if got := appsVersion(t, s); got != v {
		t.Errorf("AppsVersion %d after a rolled-back change of apps and a setting, want %d as before", got, v)
	}
	changed("DeleteApp", func(w store.Writer) error { return w.DeleteApp(ctx, tenantA) })
}
