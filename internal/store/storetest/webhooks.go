package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/store"
)

// Outbound webhook endpoints and their delivery logs.

func webhookEndpoint(tn store.Tenant, id string, created time.Time) store.WebhookEndpoint {
	return store.WebhookEndpoint{
		Tenant:    tn,
		ID:        id,
		Name:      "name of " + id,
		URL:       "https://hooks.example.com/" + id,
		Events:    []string{"livestream.status_changed", "hls.", "livestreaming.statusUpdate"},
		Enabled:   true,
		Secret:    "whsec_" + id,
		Cursor:    7,
		CreatedAt: created,
		UpdatedAt: created,
	}
}

func checkWebhookEndpoint(t *testing.T, what string, got, want store.WebhookEndpoint) {
	t.Helper()
	var d diffs
	d.eq("Tenant", got.Tenant, want.Tenant)
	d.eq("ID", got.ID, want.ID)
	d.eq("Name", got.Name, want.Name)
	d.eq("URL", got.URL, want.URL)
	d.eq("Events", fmt.Sprintf("%q", got.Events), fmt.Sprintf("%q", want.Events))
	d.eq("Enabled", got.Enabled, want.Enabled)
	d.eq("Secret", got.Secret, want.Secret)
	d.eq("PrevSecret", got.PrevSecret, want.PrevSecret)
	d.time("PrevSecretExpiresAt", got.PrevSecretExpiresAt, want.PrevSecretExpiresAt)
	d.eq("Cursor", got.Cursor, want.Cursor)
	d.time("FailingSince", got.FailingSince, want.FailingSince)
	d.eq("DisabledReason", got.DisabledReason, want.DisabledReason)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	d.report(t, what)
}

func webhookEndpointIDs(es []store.WebhookEndpoint) []string {
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return ids
}

func webhookAttemptIDs(as []store.WebhookAttempt) []uint64 {
	ids := make([]uint64, len(as))
	for i, a := range as {
		ids[i] = a.ID
	}
	return ids
}

func getWebhookEndpoint(t *testing.T, s store.Store, tn store.Tenant, id string) store.WebhookEndpoint {
	t.Helper()
	var e store.WebhookEndpoint
	view(t, s, func(r store.Reader) error {
		var err error
		e, err = r.WebhookEndpoint(ctxT(t), tn, id)
		return err
	})
	return e
}

// testWebhookEndpoints: an endpoint reads back as written (every field, the events in their
// order, times to the microsecond in UTC); a tenant's list is oldest first (by creation, then
// id); the enabled ones of every tenant are listed by id; a duplicate id is ErrAlreadyExists;
// another tenant's endpoint is ErrNotFound.
func testWebhookEndpoints(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	view(t, s, func(r store.Reader) error {
		es, err := r.ListWebhookEndpoints(ctx, tenantA)
		mustNil(t, "ListWebhookEndpoints of an empty store", err)
		en, err := r.EnabledWebhookEndpoints(ctx)
		mustNil(t, "EnabledWebhookEndpoints of an empty store", err)
		if len(es) != 0 || len(en) != 0 {
			t.Errorf("an empty store lists %d endpoints, %d enabled", len(es), len(en))
		}
		return nil
	})

	full := webhookEndpoint(tenantA, "e-c", t0)
	full.Events = []string{"video-streaming.didStop", "meeting.started", "a.", "z"}
	full.PrevSecret, full.PrevSecretExpiresAt = "whsec_old", t0.Add(24*time.Hour)
	full.FailingSince = t0.Add(-time.Minute)
	full.UpdatedAt = t0.Add(time.Second)
	older := webhookEndpoint(tenantA, "e-z", t0.Add(-time.Hour))
	sameTime := webhookEndpoint(tenantA, "e-a", t0) // created with e-c: e-a first, by id
	off := webhookEndpoint(tenantA, "e-b", t0.Add(time.Hour))
	off.Enabled, off.DisabledReason = false, "failing since 2025-03-13"
	other := webhookEndpoint(tenantB, "e-0", t0) // another tenant; same app id as tenantB2
	other2 := webhookEndpoint(tenantB2, "e-1", t0)
	all := []store.WebhookEndpoint{full, older, sameTime, off, other, other2}
	for _, e := range all {
		update(t, s, func(w store.Writer) error { return w.CreateWebhookEndpoint(ctx, e) })
	}

	view(t, s, func(r store.Reader) error {
		for _, want := range all {
			got, err := r.WebhookEndpoint(ctx, want.Tenant, want.ID)
			mustNil(t, "WebhookEndpoint "+want.ID, err)
			checkWebhookEndpoint(t, "endpoint "+want.ID, got, want)
		}
		es, err := r.ListWebhookEndpoints(ctx, tenantA)
		mustNil(t, "ListWebhookEndpoints", err)
		if got, want := webhookEndpointIDs(es), []string{"e-z", "e-a", "e-c", "e-b"}; !slices.Equal(got, want) {
			t.Errorf("ListWebhookEndpoints: %v, want %v (oldest first, then by id)", got, want)
		}
		for _, e := range es {
			if e.ID == full.ID {
				checkWebhookEndpoint(t, "listed endpoint "+e.ID, e, full)
			}
		}
		for _, tn := range []store.Tenant{tenantB, tenantB2} {
			es, err := r.ListWebhookEndpoints(ctx, tn)
			mustNil(t, "ListWebhookEndpoints", err)
			if len(es) != 1 || es[0].Tenant != tn {
				t.Errorf("ListWebhookEndpoints of %v: %v", tn, webhookEndpointIDs(es))
			}
		}
		en, err := r.EnabledWebhookEndpoints(ctx)
		mustNil(t, "EnabledWebhookEndpoints", err)
		if got, want := webhookEndpointIDs(en), []string{"e-0", "e-1", "e-a", "e-c", "e-z"}; !slices.Equal(got, want) {
			t.Errorf("EnabledWebhookEndpoints: %v, want %v (enabled, of every tenant, by id)", got, want)
		}
		for _, e := range en {
			if e.ID == full.ID {
				checkWebhookEndpoint(t, "enabled endpoint "+e.ID, e, full)
			}
		}

		// Another tenant's id, also one sharing a half of the tenant's ids.
		for _, tn := range []store.Tenant{tenantB, tenantB2} {
			_, err := r.WebhookEndpoint(ctx, tn, full.ID)
			wantErr(t, fmt.Sprintf("WebhookEndpoint of %v by another tenant's id", tn), err, store.ErrNotFound)
		}
		_, err = r.WebhookEndpoint(ctx, tenantA, "e-nope")
		wantErr(t, "WebhookEndpoint unknown", err, store.ErrNotFound)
		return nil
	})

	// A duplicate id, also in another tenant (ids are unique across tenants), is refused and
	// changes nothing.
	for _, tn := range []store.Tenant{tenantA, tenantB} {
		dup := webhookEndpoint(tn, full.ID, t0)
		err := s.Update(ctx, func(w store.Writer) error { return w.CreateWebhookEndpoint(ctx, dup) })
		wantErr(t, fmt.Sprintf("CreateWebhookEndpoint of a duplicate id in %v", tn), err, store.ErrAlreadyExists)
		var ae *store.AlreadyExistsError
		if !errors.As(err, &ae) {
			t.Errorf("CreateWebhookEndpoint of a duplicate id: %T, want a *store.AlreadyExistsError", err)
		}
	}
	checkWebhookEndpoint(t, "after refused duplicates", getWebhookEndpoint(t, s, tenantA, full.ID), full)
}

// testWebhookEndpointUpdate: UpdateWebhookEndpoint overwrites what the app controls and
// keeps the cursor, FailingSince and the creation time; an unknown or another tenant's
// endpoint is ErrNotFound.
func testWebhookEndpointUpdate(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	e := webhookEndpoint(tenantA, "e-1", t0)
	e.FailingSince = t0.Add(time.Minute)
	update(t, s, func(w store.Writer) error { return w.CreateWebhookEndpoint(ctx, e) })

	changed := e
	changed.Name, changed.URL = "renamed", "https://other.example.org/x?y=1"
	changed.Events = []string{"meeting.ended"}
	changed.Enabled, changed.DisabledReason = false, "failing for 3 days"
	changed.Secret, changed.PrevSecret, changed.PrevSecretExpiresAt = "whsec_new", e.Secret, t0.Add(48*time.Hour)
	changed.UpdatedAt = t0.Add(time.Hour)
	// What UpdateWebhookEndpoint must not write.
	attempt := changed
	attempt.Cursor, attempt.FailingSince, attempt.CreatedAt = 99, time.Time{}, t0.Add(time.Hour)
	update(t, s, func(w store.Writer) error { return w.UpdateWebhookEndpoint(ctx, attempt) })
	checkWebhookEndpoint(t, "after UpdateWebhookEndpoint", getWebhookEndpoint(t, s, tenantA, e.ID), changed)

	// Clearing the previous secret and the reason.
	cleared := changed
	cleared.Enabled, cleared.DisabledReason = true, ""
	cleared.PrevSecret, cleared.PrevSecretExpiresAt = "", time.Time{}
	update(t, s, func(w store.Writer) error { return w.UpdateWebhookEndpoint(ctx, cleared) })
	checkWebhookEndpoint(t, "after clearing", getWebhookEndpoint(t, s, tenantA, e.ID), cleared)

	for _, tn := range []store.Tenant{tenantB, tenantB2} {
		x := cleared
		x.Tenant, x.Name = tn, "hijacked"
		err := s.Update(ctx, func(w store.Writer) error { return w.UpdateWebhookEndpoint(ctx, x) })
		wantErr(t, fmt.Sprintf("UpdateWebhookEndpoint as %v", tn), err, store.ErrNotFound)
	}
	unknown := cleared
	unknown.ID = "e-nope"
	err := s.Update(ctx, func(w store.Writer) error { return w.UpdateWebhookEndpoint(ctx, unknown) })
	wantErr(t, "UpdateWebhookEndpoint unknown", err, store.ErrNotFound)
	checkWebhookEndpoint(t, "after refused updates", getWebhookEndpoint(t, s, tenantA, e.ID), cleared)
}

// testWebhookCursor: MoveWebhookCursor is a compare-and-set: it moves the cursor (forward,
// or back as a replay does) and sets FailingSince only from the cursor it names; from a
// stale one it reports false and changes nothing; an unknown or another tenant's endpoint is
// ErrNotFound; it does not touch updated_at or the rest.
func testWebhookCursor(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	e := webhookEndpoint(tenantA, "e-1", t0) // cursor 7
	update(t, s, func(w store.Writer) error { return w.CreateWebhookEndpoint(ctx, e) })

	move := func(tn store.Tenant, id string, from, to uint64, failing time.Time) (bool, error) {
		var moved bool
		err := s.Update(ctx, func(w store.Writer) error {
			var err error
			moved, err = w.MoveWebhookCursor(ctx, tn, id, from, to, failing)
			return err
		})
		return moved, err
	}

	moved, err := move(tenantA, e.ID, 7, 12, t0.Add(time.Minute))
	mustNil(t, "MoveWebhookCursor 7→12", err)
	if !moved {
		t.Errorf("MoveWebhookCursor 7→12 from the current cursor: not moved")
	}
	want := e
	want.Cursor, want.FailingSince = 12, t0.Add(time.Minute)
	checkWebhookEndpoint(t, "after 7→12", getWebhookEndpoint(t, s, tenantA, e.ID), want)

	// A stale from (the deliverer read 7; a replay or another node moved it since).
	moved, err = move(tenantA, e.ID, 7, 13, time.Time{})
	mustNil(t, "MoveWebhookCursor from a stale cursor", err)
	if moved {
		t.Errorf("MoveWebhookCursor from a stale cursor 7 (it is 12): moved")
	}
	checkWebhookEndpoint(t, "after a stale move", getWebhookEndpoint(t, s, tenantA, e.ID), want)

	// Back (a replay), and FailingSince cleared.
	moved, err = move(tenantA, e.ID, 12, 3, time.Time{})
	mustNil(t, "MoveWebhookCursor 12→3", err)
	if !moved {
		t.Errorf("MoveWebhookCursor 12→3: not moved")
	}
	want.Cursor, want.FailingSince = 3, time.Time{}
	checkWebhookEndpoint(t, "after 12→3", getWebhookEndpoint(t, s, tenantA, e.ID), want)

	// Moving to where it is is a move (the deliverer may set FailingSince alone).
	moved, err = move(tenantA, e.ID, 3, 3, t0.Add(time.Hour))
	mustNil(t, "MoveWebhookCursor 3→3", err)
	if !moved {
		t.Errorf("MoveWebhookCursor 3→3: not moved")
	}
	want.FailingSince = t0.Add(time.Hour)
	checkWebhookEndpoint(t, "after 3→3", getWebhookEndpoint(t, s, tenantA, e.ID), want)

	for _, tn := range []store.Tenant{tenantB, tenantB2} {
		_, err := move(tn, e.ID, 3, 100, time.Time{})
		wantErr(t, fmt.Sprintf("MoveWebhookCursor as %v", tn), err, store.ErrNotFound)
	}
	_, err = move(tenantA, "e-nope", 0, 1, time.Time{})
	wantErr(t, "MoveWebhookCursor unknown", err, store.ErrNotFound)
	_, err = move(tenantA, "e-nope", 3, 1, time.Time{})
	wantErr(t, "MoveWebhookCursor unknown, from another endpoint's cursor", err, store.ErrNotFound)
	checkWebhookEndpoint(t, "after refused moves", getWebhookEndpoint(t, s, tenantA, e.ID), want)

	// A rolled-back move leaves the cursor.
	_ = s.Update(ctx, func(w store.Writer) error {
		moved, err := w.MoveWebhookCursor(ctx, tenantA, e.ID, 3, 50, time.Time{})
		mustNil(t, "MoveWebhookCursor in a rolled back Update", err)
		if !moved {
			t.Errorf("MoveWebhookCursor 3→50 in a rolled back Update: not moved")
		}
		return errBoom
	})
	checkWebhookEndpoint(t, "after a rolled back move", getWebhookEndpoint(t, s, tenantA, e.ID), want)
}

// testWebhookCursorStep: StepWebhookCursor moves the cursor from the one it names, keeping
// FailingSince, only while the endpoint is unchanged since the updated_at it names: after an
// update (another updated_at) it reports false and changes nothing; an unknown or another
// tenant's endpoint is ErrNotFound.
func testWebhookCursorStep(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	e := webhookEndpoint(tenantA, "e-1", t0) // cursor 7
	update(t, s, func(w store.Writer) error { return w.CreateWebhookEndpoint(ctx, e) })
	update(t, s, func(w store.Writer) error {
		_, err := w.MoveWebhookCursor(ctx, tenantA, e.ID, 7, 7, t0.Add(time.Minute))
		return err
	})
	step := func(tn store.Tenant, id string, from, to uint64, updated time.Time) (bool, error) {
		var moved bool
		err := s.Update(ctx, func(w store.Writer) error {
			var err error
			moved, err = w.StepWebhookCursor(ctx, tn, id, from, to, updated)
			return err
		})
		return moved, err
	}

	moved, err := step(tenantA, e.ID, 7, 20, t0)
	mustNil(t, "StepWebhookCursor 7→20", err)
	if !moved {
		t.Errorf("StepWebhookCursor 7→20 on the endpoint as read: not moved")
	}
	want := e
	want.Cursor, want.FailingSince = 20, t0.Add(time.Minute)
	checkWebhookEndpoint(t, "after 7→20", getWebhookEndpoint(t, s, tenantA, e.ID), want)

	moved, err = step(tenantA, e.ID, 7, 30, t0)
	mustNil(t, "StepWebhookCursor from a stale cursor", err)
	if moved {
		t.Errorf("StepWebhookCursor from a stale cursor 7 (it is 20): moved")
	}

	// The app changes the endpoint (its events): a step decided before is refused.
	changed := want
	changed.Events, changed.UpdatedAt = []string{"peer."}, t0.Add(time.Second)
	update(t, s, func(w store.Writer) error { return w.UpdateWebhookEndpoint(ctx, changed) })
	moved, err = step(tenantA, e.ID, 20, 40, t0)
	mustNil(t, "StepWebhookCursor after an update", err)
	if moved {
		t.Errorf("StepWebhookCursor 20→40 with the updated_at from before an update: moved")
	}
	checkWebhookEndpoint(t, "after a refused step", getWebhookEndpoint(t, s, tenantA, e.ID), changed)
	moved, err = step(tenantA, e.ID, 20, 40, changed.UpdatedAt)
	mustNil(t, "StepWebhookCursor with the new updated_at", err)
	if !moved {
		t.Errorf("StepWebhookCursor 20→40 with the endpoint's updated_at: not moved")
	}

	for _, tn := range []store.Tenant{tenantB, tenantB2} {
		_, err := step(tn, e.ID, 40, 100, changed.UpdatedAt)
		wantErr(t, fmt.Sprintf("StepWebhookCursor as %v", tn), err, store.ErrNotFound)
	}
	_, err = step(tenantA, "e-nope", 40, 100, changed.UpdatedAt)
	wantErr(t, "StepWebhookCursor unknown", err, store.ErrNotFound)
}

func checkWebhookAttempt(t *testing.T, what string, got, want store.WebhookAttempt) {
	t.Helper()
	var d diffs
	d.eq("Tenant", got.Tenant, want.Tenant)
	d.eq("EndpointID", got.EndpointID, want.EndpointID)
	d.eq("ID", got.ID, want.ID)
	d.time("At", got.At, want.At)
	d.eq("Sequence", got.Sequence, want.Sequence)
	d.eq("EventID", got.EventID, want.EventID)
	d.eq("EventType", got.EventType, want.EventType)
	d.eq("Attempt", got.Attempt, want.Attempt)
	d.eq("StatusCode", got.StatusCode, want.StatusCode)
	d.eq("Latency", got.Latency, want.Latency.Truncate(time.Microsecond))
	d.eq("Error", got.Error, want.Error)
	d.eq("ResponseBody", got.ResponseBody, want.ResponseBody)
	d.eq("Outcome", got.Outcome, want.Outcome)
	d.report(t, what)
}

func webhookAttempt(e store.WebhookEndpoint, seq uint64, n int, at time.Time, outcome store.WebhookOutcome) store.WebhookAttempt {
	a := store.WebhookAttempt{
		Tenant:       e.Tenant,
		EndpointID:   e.ID,
		At:           at,
		Sequence:     seq,
		EventID:      fmt.Sprintf("evt-%d", seq),
		EventType:    "livestream.status_changed",
		Attempt:      n,
		StatusCode:   200,
		Latency:      1234567 * time.Nanosecond,
		ResponseBody: "ok",
		Outcome:      outcome,
	}
	if outcome != store.WebhookSucceeded {
		a.StatusCode, a.Error, a.ResponseBody = 503, "HTTP 503", "busy"
	}
	return a
}

func webhookAttempts(t *testing.T, s store.Store, tn store.Tenant, id string, before uint64, limit int) []store.WebhookAttempt {
	t.Helper()
	var out []store.WebhookAttempt
	view(t, s, func(r store.Reader) error {
		var err error
		out, err = r.WebhookAttempts(ctxT(t), tn, id, before, limit)
		return err
	})
	return out
}

// testWebhookAttempts: attempts get increasing ids; an endpoint's log reads newest first,
// up to limit, below `before` (so a client pages with the last id it got); every field
// reads back, the response body cut to MaxWebhookResponseBody on a character boundary and
// made valid UTF-8; an attempt of an unknown or another tenant's endpoint is ErrNotFound,
// and nobody reads another tenant's log.
func testWebhookAttempts(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	e1 := webhookEndpoint(tenantA, "e-1", t0)
	e2 := webhookEndpoint(tenantA, "e-2", t0)
	eb := webhookEndpoint(tenantB, "e-b", t0)
	for _, e := range []store.WebhookEndpoint{e1, e2, eb} {
		update(t, s, func(w store.Writer) error { return w.CreateWebhookEndpoint(ctx, e) })
	}
	if got := webhookAttempts(t, s, tenantA, e1.ID, 0, 10); len(got) != 0 {
		t.Errorf("the log of a new endpoint: %d attempts", len(got))
	}

	var e1s []store.WebhookAttempt // e1's, in order of appending
	var last uint64
	for i := range 7 {
		e := e1
		if i%3 == 1 {
			e = e2 // interleaved with another endpoint's
		}
		outcome := store.WebhookSucceeded
		if i%2 == 1 {
			outcome = store.WebhookRetrying
		}
		a := webhookAttempt(e, uint64(10+i), 1+i%2, t0.Add(time.Duration(i)*time.Second), outcome)
		update(t, s, func(w store.Writer) error { return w.AppendWebhookAttempt(ctx, &a) })
		if a.ID <= last {
			t.Errorf("attempt %d: id %d after %d", i, a.ID, last)
		}
		last = a.ID
		if e.ID == e1.ID {
			e1s = append(e1s, a)
		}
	}
	// A test ping (sequence 0), with no answer, and a long answer that is not UTF-8.
	long := strings.Repeat("é", store.MaxWebhookResponseBody) + "\xff\x00tail" // 2 bytes a rune: cut on a boundary
	ping := store.WebhookAttempt{Tenant: tenantA, EndpointID: e1.ID, At: t0.Add(time.Minute), EventID: "msg_ping",
		EventType: "webhook.test", Attempt: 1, StatusCode: 0, Latency: 10 * time.Second,
		Error: "timeout \xff\x00after 10s", ResponseBody: long, Outcome: store.WebhookFailed}
	update(t, s, func(w store.Writer) error { return w.AppendWebhookAttempt(ctx, &ping) })
	wantBody := strings.Repeat("é", store.MaxWebhookResponseBody/2)
	if ping.ResponseBody != wantBody || ping.Error != "timeout \uFFFDafter 10s" {
		t.Errorf("AppendWebhookAttempt set the body to %d bytes %q…, the error to %q; want %d bytes of é, %q",
			len(ping.ResponseBody), ping.ResponseBody[:min(8, len(ping.ResponseBody))], ping.Error, len(wantBody), "timeout \uFFFDafter 10s")
	}
	e1s = append(e1s, ping)

	newestFirst := slices.Clone(e1s)
	slices.Reverse(newestFirst)
	got := webhookAttempts(t, s, tenantA, e1.ID, 0, 100)
	if !slices.Equal(webhookAttemptIDs(got), webhookAttemptIDs(newestFirst)) {
		t.Fatalf("WebhookAttempts: ids %v, want %v (e1's, newest first)", webhookAttemptIDs(got), webhookAttemptIDs(newestFirst))
	}
	for i := range got {
		checkWebhookAttempt(t, fmt.Sprintf("attempt %d", got[i].ID), got[i], newestFirst[i])
	}

	// Paging: limit 2, then below the last id got.
	var paged []uint64
	before := uint64(0)
	for range 10 {
		page := webhookAttempts(t, s, tenantA, e1.ID, before, 2)
		if len(page) > 2 {
			t.Fatalf("a page of limit 2 has %d attempts", len(page))
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, webhookAttemptIDs(page)...)
		before = page[len(page)-1].ID
	}
	if !slices.Equal(paged, webhookAttemptIDs(newestFirst)) {
		t.Errorf("paging by 2: %v, want %v", paged, webhookAttemptIDs(newestFirst))
	}
	if got := webhookAttempts(t, s, tenantA, e1.ID, e1s[0].ID, 10); len(got) != 0 {
		t.Errorf("before the first attempt: %v", webhookAttemptIDs(got))
	}
	if got := webhookAttempts(t, s, tenantA, e2.ID, 0, 10); len(got) != 2 {
		t.Errorf("e2's log: %d attempts, want 2", len(got))
	}

	// Tenant isolation.
	for _, tn := range []store.Tenant{tenantB, tenantB2} {
		if got := webhookAttempts(t, s, tn, e1.ID, 0, 10); len(got) != 0 {
			t.Errorf("%v reads %d attempts of another tenant's endpoint", tn, len(got))
		}
		a := webhookAttempt(e1, 99, 1, t0, store.WebhookSucceeded)
		a.Tenant = tn
		err := s.Update(ctx, func(w store.Writer) error { return w.AppendWebhookAttempt(ctx, &a) })
		wantErr(t, fmt.Sprintf("AppendWebhookAttempt as %v to another tenant's endpoint", tn), err, store.ErrNotFound)
	}
	a := webhookAttempt(e1, 99, 1, t0, store.WebhookSucceeded)
	a.EndpointID = "e-nope"
	err := s.Update(ctx, func(w store.Writer) error { return w.AppendWebhookAttempt(ctx, &a) })
	wantErr(t, "AppendWebhookAttempt to an unknown endpoint", err, store.ErrNotFound)
	if got := webhookAttempts(t, s, tenantA, e1.ID, 0, 100); len(got) != len(e1s) {
		t.Errorf("after refused appends: %d attempts, want %d", len(got), len(e1s))
	}
	// A failed append inside an Update leaves the transaction usable (as every store write).
	update(t, s, func(w store.Writer) error {
		bad := webhookAttempt(e1, 1, 1, t0, store.WebhookSucceeded)
		bad.EndpointID = "e-nope"
		wantErr(t, "AppendWebhookAttempt to an unknown endpoint", w.AppendWebhookAttempt(ctx, &bad), store.ErrNotFound)
		good := webhookAttempt(eb, 1, 1, t0, store.WebhookSucceeded)
		return w.AppendWebhookAttempt(ctx, &good)
	})
	if got := webhookAttempts(t, s, tenantB, eb.ID, 0, 10); len(got) != 1 {
		t.Errorf("tenant B's log: %d attempts, want 1", len(got))
	}
}

// testWebhookEndpointDelete: deleting an endpoint deletes its delivery log and nothing of
// another endpoint; a second delete, or another tenant's, is ErrNotFound; an attempt
// appended after the delete is refused, so the log stays empty.
func testWebhookEndpointDelete(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	e1 := webhookEndpoint(tenantA, "e-1", t0)
	e2 := webhookEndpoint(tenantA, "e-2", t0)
	for _, e := range []store.WebhookEndpoint{e1, e2} {
		update(t, s, func(w store.Writer) error {
			mustNil(t, "CreateWebhookEndpoint", w.CreateWebhookEndpoint(ctx, e))
			a := webhookAttempt(e, 1, 1, t0, store.WebhookSucceeded)
			return w.AppendWebhookAttempt(ctx, &a)
		})
	}
	for _, tn := range []store.Tenant{tenantB, tenantB2} {
		err := s.Update(ctx, func(w store.Writer) error { return w.DeleteWebhookEndpoint(ctx, tn, e1.ID) })
		wantErr(t, fmt.Sprintf("DeleteWebhookEndpoint as %v", tn), err, store.ErrNotFound)
	}
	update(t, s, func(w store.Writer) error { return w.DeleteWebhookEndpoint(ctx, tenantA, e1.ID) })
	err := s.Update(ctx, func(w store.Writer) error { return w.DeleteWebhookEndpoint(ctx, tenantA, e1.ID) })
	wantErr(t, "DeleteWebhookEndpoint twice", err, store.ErrNotFound)
	view(t, s, func(r store.Reader) error {
		_, err := r.WebhookEndpoint(ctx, tenantA, e1.ID)
		wantErr(t, "WebhookEndpoint after its delete", err, store.ErrNotFound)
		es, err := r.ListWebhookEndpoints(ctx, tenantA)
		mustNil(t, "ListWebhookEndpoints", err)
		if got := webhookEndpointIDs(es); !slices.Equal(got, []string{e2.ID}) {
			t.Errorf("ListWebhookEndpoints after a delete: %v", got)
		}
		return nil
	})
	a := webhookAttempt(e1, 2, 1, t0, store.WebhookSucceeded)
	err = s.Update(ctx, func(w store.Writer) error { return w.AppendWebhookAttempt(ctx, &a) })
	wantErr(t, "AppendWebhookAttempt to a deleted endpoint", err, store.ErrNotFound)
	// An endpoint made again with the id starts with an empty log.
	update(t, s, func(w store.Writer) error { return w.CreateWebhookEndpoint(ctx, e1) })
	if got := webhookAttempts(t, s, tenantA, e1.ID, 0, 10); len(got) != 0 {
		t.Errorf("the log of a deleted endpoint: %d attempts", len(got))
	}
	if got := webhookAttempts(t, s, tenantA, e2.ID, 0, 10); len(got) != 1 {
		t.Errorf("the other endpoint's log: %d attempts, want 1", len(got))
	}
}

// testPruneWebhookAttempts: pruning deletes the attempts made before the time, of every
// endpoint and tenant, reports how many, and keeps the rest.
func testPruneWebhookAttempts(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	ea := webhookEndpoint(tenantA, "e-a", t0)
	eb := webhookEndpoint(tenantB, "e-b", t0)
	for _, e := range []store.WebhookEndpoint{ea, eb} {
		update(t, s, func(w store.Writer) error {
			mustNil(t, "CreateWebhookEndpoint", w.CreateWebhookEndpoint(ctx, e))
			for i := range 4 { // at t0, +1h, +2h, +3h
				a := webhookAttempt(e, uint64(i+1), 1, t0.Add(time.Duration(i)*time.Hour), store.WebhookSucceeded)
				if err := w.AppendWebhookAttempt(ctx, &a); err != nil {
					return err
				}
			}
			return nil
		})
	}
	var n int
	update(t, s, func(w store.Writer) error {
		var err error
		n, err = w.PruneWebhookAttempts(ctx, t0.Add(2*time.Hour)) // t0 and +1h go; +2h stays
		return err
	})
	if n != 4 {
		t.Errorf("PruneWebhookAttempts: %d deleted, want 4 (2 of each endpoint)", n)
	}
	for _, e := range []store.WebhookEndpoint{ea, eb} {
		got := webhookAttempts(t, s, e.Tenant, e.ID, 0, 10)
		var seqs []uint64
		for _, a := range got {
			seqs = append(seqs, a.Sequence)
		}
		if !slices.Equal(seqs, []uint64{4, 3}) {
			t.Errorf("%s after pruning: sequences %v, want [4 3]", e.ID, seqs)
		}
	}
	update(t, s, func(w store.Writer) error {
		var err error
		n, err = w.PruneWebhookAttempts(ctx, t0.Add(2*time.Hour))
		return err
	})
	if n != 0 {
		t.Errorf("PruneWebhookAttempts again: %d deleted, want 0", n)
	}
}

// testWebhookDeleteApp: DeleteApp deletes the tenant's endpoints and their logs, and
// nothing of another tenant's.
func testWebhookDeleteApp(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	for i, tn := range []store.Tenant{tenantA, tenantB, tenantB2} {
		e := webhookEndpoint(tn, fmt.Sprintf("e-%d", i), t0)
		update(t, s, func(w store.Writer) error {
			mustNil(t, "CreateApp", w.CreateApp(ctx, store.App{Tenant: tn, TokenID: fmt.Sprintf("tok-%d", i), TokenHash: []byte("h"), WebhookSecret: "s", CreatedAt: t0}))
			mustNil(t, "CreateWebhookEndpoint", w.CreateWebhookEndpoint(ctx, e))
			a := webhookAttempt(e, 1, 1, t0, store.WebhookSucceeded)
			return w.AppendWebhookAttempt(ctx, &a)
		})
	}
	update(t, s, func(w store.Writer) error { return w.DeleteApp(ctx, tenantA) })
	view(t, s, func(r store.Reader) error {
		_, err := r.WebhookEndpoint(ctx, tenantA, "e-0")
		wantErr(t, "the deleted app's endpoint", err, store.ErrNotFound)
		es, err := r.ListWebhookEndpoints(ctx, tenantA)
		mustNil(t, "ListWebhookEndpoints", err)
		as, err := r.WebhookAttempts(ctx, tenantA, "e-0", 0, 10)
		mustNil(t, "WebhookAttempts", err)
		en, err := r.EnabledWebhookEndpoints(ctx)
		mustNil(t, "EnabledWebhookEndpoints", err)
		if len(es) != 0 || len(as) != 0 || !slices.Equal(webhookEndpointIDs(en), []string{"e-1", "e-2"}) {
			t.Errorf("after DeleteApp: %d endpoints, %d attempts of the app; enabled %v, want [e-1 e-2]", len(es), len(as), webhookEndpointIDs(en))
		}
		for i, tn := range []store.Tenant{tenantB, tenantB2} {
			as, err := r.WebhookAttempts(ctx, tn, fmt.Sprintf("e-%d", i+1), 0, 10)
			mustNil(t, "WebhookAttempts", err)
			if len(as) != 1 {
				t.Errorf("%v after another app's delete: %d attempts, want 1", tn, len(as))
			}
		}
		return nil
	})
	// The deleted app's endpoint id is free again, and its log empty.
	update(t, s, func(w store.Writer) error { return w.CreateWebhookEndpoint(ctx, webhookEndpoint(tenantA, "e-0", t0)) })
	if got := webhookAttempts(t, s, tenantA, "e-0", 0, 10); len(got) != 0 {
		t.Errorf("the log of an endpoint of a deleted app: %d attempts", len(got))
	}
}

// testPruneSkipsWebhookEndpoints: retention deleting events a webhook endpoint was not sent
// yet (it was disabled, or retrying, or far behind) tells that endpoint: an entry in its
// delivery log naming the events gone (failed, attempt 0) and its cursor past them. An
// endpoint none of whose app's events were deleted after its cursor is left alone. Until
// 2026-11-29 such an endpoint went on after the gap with no trace of it.
func testPruneSkipsWebhookEndpoints(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	// Tenant A's events, then B's: A's 1-4, B's 5-6.
	var evs []*store.Event
	for i := range 6 {
		tn := tenantA
		if i >= 4 {
			tn = tenantB
		}
		evs = append(evs, feedEvent(tn, "hms", "hls.started", fmt.Sprintf("w%02d", i)))
	}
	appendEvents(t, s, evs...)
	behind := webhookEndpoint(tenantA, "e-behind", t0)
	behind.Cursor, behind.Enabled = evs[0].Sequence, false // sent A's first event only
	caughtUp := webhookEndpoint(tenantA, "e-caught-up", t0)
	caughtUp.Cursor = evs[3].Sequence // every A event to be pruned, sent
	quiet := webhookEndpoint(tenantB, "e-quiet", t0)
	quiet.Cursor = evs[5].Sequence
	for _, e := range []store.WebhookEndpoint{behind, caughtUp, quiet} {
		update(t, s, func(w store.Writer) error { return w.CreateWebhookEndpoint(ctx, e) })
	}
	update(t, s, func(w store.Writer) error {
		_, err := w.PruneEvents(ctx, time.Time{}, 1, 0) // keep B's last: prune through evs[4]
		return err
	})
	through := evs[4].Sequence
	got := webhookAttempts(t, s, tenantA, behind.ID, 0, 10)
	if len(got) != 1 || got[0].Outcome != store.WebhookFailed || got[0].Sequence != evs[3].Sequence || got[0].Attempt != 0 ||
		!strings.Contains(got[0].Error, fmt.Sprintf("events after %d through %d were deleted by retention", evs[0].Sequence, evs[3].Sequence)) {
		t.Errorf("delivery log of the endpoint behind: %+v, want one failed entry naming the events gone", got)
	}
	if c := getWebhookEndpoint(t, s, tenantA, behind.ID).Cursor; c != through {
		t.Errorf("cursor of the endpoint behind: %d, want %d (past the events gone)", c, through)
	}
	for _, e := range []store.WebhookEndpoint{caughtUp, quiet} {
		if got := webhookAttempts(t, s, e.Tenant, e.ID, 0, 10); len(got) != 0 {
			t.Errorf("%s: delivery log %+v, want none", e.ID, got)
		}
		if c := getWebhookEndpoint(t, s, e.Tenant, e.ID).Cursor; c != e.Cursor {
			t.Errorf("%s: cursor %d, want %d (unchanged)", e.ID, c, e.Cursor)
		}
	}
}
