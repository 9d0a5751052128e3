package storetest

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/store"
)

// --- nginx-rtmp clients and settings ---

func rtmpClient(ls store.Livestream, id uint64, sessionID string, publishing bool, since time.Time) store.RtmpClient {
	return store.RtmpClient{
		Tenant:       ls.Tenant,
		ClientID:     id,
		LivestreamID: ls.ID,
		SessionID:    sessionID,
		Publishing:   publishing,
		Since:        since,
		SeenAt:       since,
	}
}

func checkRtmpClient(t *testing.T, what string, got, want store.RtmpClient) {
	t.Helper()
	var d diffs
	d.eq("Tenant", got.Tenant, want.Tenant)
	d.eq("ClientID", got.ClientID, want.ClientID)
	d.eq("LivestreamID", got.LivestreamID, want.LivestreamID)
	d.eq("SessionID", got.SessionID, want.SessionID)
	d.eq("Publishing", got.Publishing, want.Publishing)
	d.time("Since", got.Since, want.Since)
	d.time("SeenAt", got.SeenAt, want.SeenAt)
	d.report(t, what)
}

// putClients stores clients in one Update.
func putClients(t *testing.T, s store.Store, cs ...store.RtmpClient) {
	t.Helper()
	ctx := ctxT(t)
	update(t, s, func(w store.Writer) error {
		for _, c := range cs {
			if err := w.PutRtmpClient(ctx, c); err != nil {
				return fmt.Errorf("PutRtmpClient %d: %w", c.ClientID, err)
			}
		}
		return nil
	})
}

// wantClients checks what RtmpClient returns for each id: want[id], or ErrNotFound where
// want[id] is nil.
func wantClients(t *testing.T, s store.Store, what string, want map[uint64]*store.RtmpClient) {
	t.Helper()
	ctx := ctxT(t)
	view(t, s, func(r store.Reader) error {
		for id, c := range want {
			got, err := r.RtmpClient(ctx, id)
			if c == nil {
				wantErr(t, fmt.Sprintf("%s: RtmpClient %d", what, id), err, store.ErrNotFound)
				continue
			}
			if err != nil {
				t.Errorf("%s: RtmpClient %d: %v", what, id, err)
				continue
			}
			checkRtmpClient(t, fmt.Sprintf("%s: RtmpClient %d", what, id), got, *c)
		}
		return nil
	})
}

// testRtmpClients: every field round-trips, PutRtmpClient replaces the client with the same
// id, DeleteRtmpClient deletes one, and a client needs its livestream.
func testRtmpClients(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	lsA := livestream(tenantA, "ls-a", t0)
	lsA2 := livestream(tenantA, "ls-a2", t0)
	lsB := livestream(tenantB, "ls-b", t0)
	lsB2 := livestream(tenantB2, "ls-b2", t0)
	update(t, s, func(w store.Writer) error {
		for _, l := range []store.Livestream{lsA, lsA2, lsB, lsB2} {
			mustNil(t, "CreateLivestream "+l.ID, w.CreateLivestream(ctx, l))
		}
		return w.CreateSession(ctx, session(lsA, "s-a", t0))
	})

	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	publisher := store.RtmpClient{
		Tenant:       tenantA,
		ClientID:     7,
		LivestreamID: "ls-a",
		SessionID:    "s-a",
		Publishing:   true,
		Since:        t0.In(zone), // any location in, UTC out; nanoseconds cut to microseconds
		SeenAt:       t0.Add(90*time.Second + 1999*time.Nanosecond),
	}
	// A viewer that started before the livestream had a session.
	viewer := rtmpClient(lsA, 8, "", false, t0.Add(time.Microsecond))
	viewer.SeenAt = t0.Add(time.Hour + 1)
	cases := []store.RtmpClient{
		publisher,
		viewer,
		rtmpClient(lsB, 0, "s-b", false, t0), // 0 is an id like any other
		rtmpClient(lsA2, math.MaxInt64, "", true, t0.Add(-time.Minute)),
	}
	update(t, s, func(w store.Writer) error {
		for _, c := range cases {
			mustNil(t, fmt.Sprintf("PutRtmpClient %d", c.ClientID), w.PutRtmpClient(ctx, c))
		}
		// Visible inside the writing transaction.
		got, err := w.RtmpClient(ctx, publisher.ClientID)
		mustNil(t, "RtmpClient in the writing transaction", err)
		checkRtmpClient(t, "RtmpClient in the writing transaction", got, publisher)
		return nil
	})
	want := map[uint64]*store.RtmpClient{
		1:                 nil,
		math.MaxInt64 - 1: nil,
		math.MaxInt64 + 1: nil, // not MaxInt64's row, nor any other's, by wrapping around
		math.MaxUint64:    nil,
	}
	for i := range cases {
		want[cases[i].ClientID] = &cases[i]
	}
	wantClients(t, s, "after PutRtmpClient", want)

	// Upsert: a client with a stored id replaces every field of the stored one (another
	// livestream, even of another tenant; no session; publishing or not; its times).
	for _, tc := range []struct {
		name string
		c    store.RtmpClient
	}{
		{"viewer to publisher of another livestream", rtmpClient(lsA2, 8, "s-other", true, t0.Add(2*time.Hour+3*time.Microsecond))},
		{"publisher to viewer without session", rtmpClient(lsA, 7, "", false, t0.Add(-time.Hour))},
		{"to another tenant, same account", rtmpClient(lsB, 7, "s-b", true, t0.Add(3*time.Hour))},
		{"to another tenant, same app id", rtmpClient(lsB2, 7, "s-b2", true, t0.Add(3*time.Hour))},
		{"seen again", func() store.RtmpClient {
			c := rtmpClient(lsB2, 7, "s-b2", true, t0.Add(3*time.Hour))
			c.SeenAt = t0.Add(4*time.Hour + 999*time.Nanosecond)
			return c
		}()},
	} {
		putClients(t, s, tc.c)
		want[tc.c.ClientID] = &tc.c
		wantClients(t, s, "after replacing: "+tc.name, want)
	}

	// A client needs its livestream, of its own tenant.
	for _, tc := range []struct {
		name string
		c    store.RtmpClient
	}{
		{"unknown livestream", rtmpClient(livestream(tenantA, "ls-nope", t0), 100, "", false, t0)},
		{"livestream of another tenant", rtmpClient(livestream(tenantB, "ls-a", t0), 101, "", false, t0)},
		{"replacing, with an unknown livestream", rtmpClient(livestream(tenantA, "ls-nope", t0), 8, "", false, t0)},
	} {
		err := s.Update(ctx, func(w store.Writer) error { return w.PutRtmpClient(ctx, tc.c) })
		if err == nil {
			t.Errorf("PutRtmpClient for an %s: no error", tc.name)
		}
	}
	wantClients(t, s, "after failed puts", want) // 100 and 101 are not in want: not stored
	wantClients(t, s, "after failed puts", map[uint64]*store.RtmpClient{100: nil, 101: nil})

	// An id above MaxInt64 may be refused (SQLite and PostgreSQL hold signed 64-bit
	// integers); if it is stored, it round-trips as any other.
	huge := rtmpClient(lsA, math.MaxUint64, "", false, t0)
	if err := s.Update(ctx, func(w store.Writer) error { return w.PutRtmpClient(ctx, huge) }); err != nil {
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrAlreadyExists) {
			t.Errorf("PutRtmpClient %d: %v, want an error that is not about a missing or existing row", huge.ClientID, err)
		}
	} else {
		wantClients(t, s, "stored above MaxInt64", map[uint64]*store.RtmpClient{huge.ClientID: &huge})
		update(t, s, func(w store.Writer) error { return w.DeleteRtmpClient(ctx, huge.ClientID) })
	}
	wantClients(t, s, "after trying MaxUint64", want)

	// Delete.
	update(t, s, func(w store.Writer) error { return w.DeleteRtmpClient(ctx, 8) })
	want[8] = nil
	wantClients(t, s, "after DeleteRtmpClient 8", want)
	for _, id := range []uint64{8, 1, math.MaxInt64 + 1, math.MaxUint64} {
		err := s.Update(ctx, func(w store.Writer) error { return w.DeleteRtmpClient(ctx, id) })
		wantErr(t, fmt.Sprintf("DeleteRtmpClient %d (none)", id), err, store.ErrNotFound)
	}
	update(t, s, func(w store.Writer) error {
		for _, id := range []uint64{0, 7, math.MaxInt64} {
			mustNil(t, fmt.Sprintf("DeleteRtmpClient %d", id), w.DeleteRtmpClient(ctx, id))
			// Gone inside the writing transaction.
			_, err := w.RtmpClient(ctx, id)
			wantErr(t, fmt.Sprintf("RtmpClient %d deleted in the writing transaction", id), err, store.ErrNotFound)
			want[id] = nil
		}
		return nil
	})
	wantClients(t, s, "after deleting all", want)

	// The ids are free again.
	putClients(t, s, cases...)
	for i := range cases {
		want[cases[i].ClientID] = &cases[i]
	}
	wantClients(t, s, "after putting them again", want)
}

// testRtmpPublisher: RtmpPublisher finds the livestream's publishing client of the tenant,
// the most recent one if there are several, never a viewer.
func testRtmpPublisher(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	ls1 := livestream(tenantA, "ls-1", t0)
	ls2 := livestream(tenantA, "ls-2", t0)
	viewersOnly := livestream(tenantA, "ls-viewers", t0)
	lsB := livestream(tenantB, "ls-b", t0)
	lsB2 := livestream(tenantB2, "ls-b2", t0)
	update(t, s, func(w store.Writer) error {
		for _, l := range []store.Livestream{ls1, ls2, viewersOnly, lsB, lsB2} {
			mustNil(t, "CreateLivestream "+l.ID, w.CreateLivestream(ctx, l))
		}
		return nil
	})
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	putClients(t, s,
		rtmpClient(ls1, 10, "s-1", false, at(9)), // the newest of ls-1, but a viewer
		rtmpClient(ls1, 11, "s-1", true, at(1)),
		rtmpClient(ls1, 12, "s-1", true, at(2)),
		rtmpClient(ls1, 13, "", false, at(10)),
		rtmpClient(ls2, 20, "s-2", true, at(5)), // newer, but of another livestream
		rtmpClient(viewersOnly, 30, "s-3", false, at(1)),
		rtmpClient(viewersOnly, 31, "", false, at(2)),
		rtmpClient(lsB, 40, "s-b", true, at(20)),
		rtmpClient(lsB2, 50, "s-b2", true, at(20)),
	)

	type lookup struct {
		name         string
		tenant       store.Tenant
		livestreamID string
		want         uint64 // 0: ErrNotFound
	}
	check := func(step string, cases []lookup) {
		t.Helper()
		view(t, s, func(r store.Reader) error {
			for _, tc := range cases {
				what := fmt.Sprintf("%s: RtmpPublisher of %s (%s)", step, tc.livestreamID, tc.name)
				got, err := r.RtmpPublisher(ctx, tc.tenant, tc.livestreamID)
				if tc.want == 0 {
					wantErr(t, what, err, store.ErrNotFound)
					continue
				}
				if err != nil {
					t.Errorf("%s: %v", what, err)
					continue
				}
				if got.ClientID != tc.want || !got.Publishing || got.LivestreamID != tc.livestreamID || got.Tenant != tc.tenant {
					t.Errorf("%s = client %d (publishing %v, livestream %s, tenant %v), want publishing client %d",
						what, got.ClientID, got.Publishing, got.LivestreamID, got.Tenant, tc.want)
				}
			}
			return nil
		})
	}
	check("initially", []lookup{
		{"two publishers: the most recent", tenantA, "ls-1", 12},
		{"one publisher", tenantA, "ls-2", 20},
		{"viewers only", tenantA, "ls-viewers", 0},
		{"no clients", tenantA, "ls-nope", 0},
		{"empty id", tenantA, "", 0},
		{"other tenant's livestream, same account", tenantA, "ls-b", 0},
		{"other tenant's livestream, same app id", tenantA, "ls-b2", 0},
		{"asked by another tenant, same account", tenantB, "ls-1", 0},
		{"asked by another tenant, same app id", tenantB2, "ls-1", 0},
		{"tenant B", tenantB, "ls-b", 40},
		{"tenant B2", tenantB2, "ls-b2", 50},
	})

	// The most recent publisher goes: the other one is next; then none, the viewers stay.
	update(t, s, func(w store.Writer) error { return w.DeleteRtmpClient(ctx, 12) })
	check("after deleting 12", []lookup{{"the remaining publisher", tenantA, "ls-1", 11}})
	// A viewer becoming the publisher (an upsert) counts at once.
	putClients(t, s, rtmpClient(ls1, 13, "s-1", true, at(3)))
	check("after 13 publishes", []lookup{{"the newer publisher", tenantA, "ls-1", 13}})
	// And a publisher becoming a viewer stops counting.
	putClients(t, s, rtmpClient(ls1, 13, "s-1", false, at(3)))
	check("after 13 views", []lookup{{"the remaining publisher", tenantA, "ls-1", 11}})
	update(t, s, func(w store.Writer) error { return w.DeleteRtmpClient(ctx, 11) })
	check("after deleting 11", []lookup{
		{"viewers only", tenantA, "ls-1", 0},
		{"unaffected", tenantA, "ls-2", 20},
	})
	wantClients(t, s, "viewers after the publishers left", map[uint64]*store.RtmpClient{
		10: new(rtmpClient(ls1, 10, "s-1", false, at(9))),
		13: new(rtmpClient(ls1, 13, "s-1", false, at(3))),
	})
}

// testRtmpClientCascade: deleting a livestream deletes its clients, and only its.
func testRtmpClientCascade(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	gone := livestream(tenantA, "ls-gone", t0)
	kept := livestream(tenantA, "ls-kept", t0)
	update(t, s, func(w store.Writer) error {
		mustNil(t, "create gone", w.CreateLivestream(ctx, gone))
		mustNil(t, "create kept", w.CreateLivestream(ctx, kept))
		mustNil(t, "session gone", w.CreateSession(ctx, session(gone, "s-gone", t0)))
		return w.CreateSession(ctx, session(kept, "s-kept", t0))
	})
	keptPub := rtmpClient(kept, 3, "s-kept", true, t0)
	keptViewer := rtmpClient(kept, 4, "", false, t0)
	putClients(t, s,
		rtmpClient(gone, 1, "s-gone", true, t0),
		rtmpClient(gone, 2, "s-gone", false, t0),
		rtmpClient(gone, 5, "", false, t0),
		keptPub, keptViewer,
	)

	update(t, s, func(w store.Writer) error { return w.DeleteLivestream(ctx, tenantA, "ls-gone") })
	wantClients(t, s, "after deleting the livestream", map[uint64]*store.RtmpClient{
		1: nil, 2: nil, 5: nil, 3: &keptPub, 4: &keptViewer,
	})
	view(t, s, func(r store.Reader) error {
		_, err := r.RtmpPublisher(ctx, tenantA, "ls-gone")
		wantErr(t, "RtmpPublisher of a deleted livestream", err, store.ErrNotFound)
		got, err := r.RtmpPublisher(ctx, tenantA, "ls-kept")
		mustNil(t, "RtmpPublisher of the kept livestream", err)
		checkRtmpClient(t, "RtmpPublisher of the kept livestream", got, keptPub)
		return nil
	})
	for _, id := range []uint64{1, 2} {
		err := s.Update(ctx, func(w store.Writer) error { return w.DeleteRtmpClient(ctx, id) })
		wantErr(t, fmt.Sprintf("DeleteRtmpClient %d of a deleted livestream", id), err, store.ErrNotFound)
	}

	// The livestream and its client ids can come back.
	again := rtmpClient(gone, 1, "", true, t0.Add(time.Hour))
	update(t, s, func(w store.Writer) error {
		mustNil(t, "CreateLivestream again", w.CreateLivestream(ctx, gone))
		return w.PutRtmpClient(ctx, again)
	})
	wantClients(t, s, "after recreating", map[uint64]*store.RtmpClient{1: &again, 2: nil})
}

// testLivestreamByID: LivestreamByID finds a livestream by its id whatever its tenant.
func testLivestreamByID(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	full := livestream(tenantB2, "ls-full", t0)
	full.MeetingID = "meeting-1"
	full.Status = store.StatusLive
	full.Disabled = true
	full.Provider = "hms"
	full.ProviderID = "hms-1"
	full.UpdatedAt = t0.Add(time.Hour + 1500*time.Nanosecond)
	all := []store.Livestream{
		livestream(tenantA, "ls-a", t0),
		livestream(tenantB, "ls-b", t0.Add(time.Minute)),
		full,
	}
	update(t, s, func(w store.Writer) error {
		for _, l := range all {
			mustNil(t, "CreateLivestream "+l.ID, w.CreateLivestream(ctx, l))
		}
		// Visible inside the writing transaction.
		got, err := w.LivestreamByID(ctx, "ls-full")
		mustNil(t, "LivestreamByID in the writing transaction", err)
		checkLivestream(t, "LivestreamByID in the writing transaction", got, full)
		return nil
	})
	view(t, s, func(r store.Reader) error {
		for _, want := range all {
			got, err := r.LivestreamByID(ctx, want.ID)
			mustNil(t, "LivestreamByID "+want.ID, err)
			checkLivestream(t, "LivestreamByID "+want.ID, got, want)
		}
		for _, id := range []string{"ls-nope", "", "LS-A", "ls-a ", "key-ls-a", "meeting-1", "hms-1"} {
			_, err := r.LivestreamByID(ctx, id)
			wantErr(t, fmt.Sprintf("LivestreamByID %q", id), err, store.ErrNotFound)
		}
		return nil
	})
	update(t, s, func(w store.Writer) error { return w.DeleteLivestream(ctx, tenantA, "ls-a") })
	view(t, s, func(r store.Reader) error {
		_, err := r.LivestreamByID(ctx, "ls-a")
		wantErr(t, "LivestreamByID deleted", err, store.ErrNotFound)
		_, err = r.LivestreamByID(ctx, "ls-b")
		mustNil(t, "LivestreamByID of another", err)
		return nil
	})
}

// testSettings: settings round-trip, are created once, and their values (secrets) stay out
// of errors.
func testSettings(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	settings := []struct{ name, value string }{
		{"rtmp_callback_secret", "S3CRETVALUEABCDEFGHIJKLMNO"},
		{"Rtmp_Callback_Secret", "another value: names are case-sensitive"},
		{"empty", ""},
		{"unicode ✓", "'quoted' \"value\" ✓\nsecond line"},
	}
	view(t, s, func(r store.Reader) error {
		_, err := r.Setting(ctx, "rtmp_callback_secret")
		wantErr(t, "Setting before any is set", err, store.ErrNotFound)
		return nil
	})
	update(t, s, func(w store.Writer) error {
		for _, st := range settings {
			// The way CallbackSecret creates one: look, then create.
			_, err := w.Setting(ctx, st.name)
			wantErr(t, "Setting "+st.name+" before it is created", err, store.ErrNotFound)
			mustNil(t, "CreateSetting "+st.name, w.CreateSetting(ctx, st.name, st.value))
			got, err := w.Setting(ctx, st.name)
			mustNil(t, "Setting in the writing transaction", err)
			if got != st.value {
				t.Errorf("Setting %q in the writing transaction = %q, want %q", st.name, got, st.value)
			}
		}
		return nil
	})
	view(t, s, func(r store.Reader) error {
		for _, st := range settings {
			got, err := r.Setting(ctx, st.name)
			mustNil(t, "Setting "+st.name, err)
			if got != st.value {
				t.Errorf("Setting %q = %q, want %q", st.name, got, st.value)
			}
		}
		for _, name := range []string{"", "rtmp_callback_secret ", "RTMP_CALLBACK_SECRET", "nope"} {
			_, err := r.Setting(ctx, name)
			wantErr(t, fmt.Sprintf("Setting %q", name), err, store.ErrNotFound)
		}
		return nil
	})

	// Set once: a second CreateSetting fails, the first value stays, and the error holds
	// neither value.
	for _, st := range settings {
		second := "SECONDVALUE-" + st.name
		err := s.Update(ctx, func(w store.Writer) error { return w.CreateSetting(ctx, st.name, second) })
		wantErr(t, "CreateSetting "+st.name+" again", err, store.ErrAlreadyExists)
		if err != nil {
			for _, secret := range []string{st.value, second} {
				if secret != "" && strings.Contains(err.Error(), secret) {
					t.Errorf("CreateSetting %q again: error %q contains a value", st.name, err)
				}
			}
		}
	}
	view(t, s, func(r store.Reader) error {
		for _, st := range settings {
			got, err := r.Setting(ctx, st.name)
			mustNil(t, "Setting "+st.name, err)
			if got != st.value {
				t.Errorf("Setting %q after a second create = %q, want the first value %q", st.name, got, st.value)
			}
		}
		return nil
	})
}

// testRtmpRollback: a failing Update keeps none of its clients, settings or deletions.
func testRtmpRollback(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	ls := livestream(tenantA, "ls-1", t0)
	orig := rtmpClient(ls, 1, "", true, t0)
	update(t, s, func(w store.Writer) error {
		mustNil(t, "CreateLivestream", w.CreateLivestream(ctx, ls))
		mustNil(t, "PutRtmpClient", w.PutRtmpClient(ctx, orig))
		return w.CreateSetting(ctx, "kept", "kept-value")
	})
	// Every kind of write, then failing.
	writeAll := func(w store.Writer) error {
		mustNil(t, "PutRtmpClient new", w.PutRtmpClient(ctx, rtmpClient(ls, 2, "", false, t0)))
		mustNil(t, "PutRtmpClient replacing", w.PutRtmpClient(ctx, rtmpClient(ls, 1, "s-x", false, t0.Add(time.Hour))))
		mustNil(t, "PutRtmpClient to delete", w.PutRtmpClient(ctx, rtmpClient(ls, 3, "", true, t0)))
		mustNil(t, "DeleteRtmpClient", w.DeleteRtmpClient(ctx, 3))
		return w.CreateSetting(ctx, "new", "new-value")
	}
	check := func(what string) {
		t.Helper()
		wantClients(t, s, what, map[uint64]*store.RtmpClient{1: &orig, 2: nil, 3: nil})
		view(t, s, func(r store.Reader) error {
			got, err := r.RtmpPublisher(ctx, tenantA, "ls-1")
			mustNil(t, what+": RtmpPublisher", err)
			checkRtmpClient(t, what+": RtmpPublisher", got, orig)
			_, err = r.Setting(ctx, "new")
			wantErr(t, what+": Setting of a rolled back transaction", err, store.ErrNotFound)
			v, err := r.Setting(ctx, "kept")
			mustNil(t, what+": Setting kept", err)
			if v != "kept-value" {
				t.Errorf("%s: Setting kept = %q", what, v)
			}
			return nil
		})
	}

	for _, tc := range []struct {
		name    string
		fail    func(w store.Writer) error
		wantErr error
	}{
		{"fn's error", func(store.Writer) error { return fmt.Errorf("change of mind: %w", errBoom) }, errBoom},
		{"a duplicate setting", func(w store.Writer) error { return w.CreateSetting(ctx, "kept", "other") }, store.ErrAlreadyExists},
		{"a missing client", func(w store.Writer) error { return w.DeleteRtmpClient(ctx, 99) }, store.ErrNotFound},
	} {
		err := s.Update(ctx, func(w store.Writer) error {
			if err := writeAll(w); err != nil {
				return err
			}
			return tc.fail(w)
		})
		wantErr(t, "Update failing with "+tc.name, err, tc.wantErr)
		check("after an Update failing with " + tc.name)
	}

	// The store still works, and the same rows can now be written.
	update(t, s, writeAll)
	view(t, s, func(r store.Reader) error {
		v, err := r.Setting(ctx, "new")
		mustNil(t, "Setting new", err)
		if v != "new-value" {
			t.Errorf("Setting new = %q", v)
		}
		_, err = r.RtmpClient(ctx, 2)
		mustNil(t, "RtmpClient 2", err)
		return nil
	})
}

func testStaleRtmpClients(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	lsA := livestream(tenantA, "ls-a", t0)
	lsB := livestream(tenantB, "ls-b", t0)
	update(t, s, func(w store.Writer) error {
		mustNil(t, "CreateLivestream a", w.CreateLivestream(ctx, lsA))
		mustNil(t, "CreateLivestream b", w.CreateLivestream(ctx, lsB))
		return nil
	})
	seen := func(c store.RtmpClient, at time.Time) store.RtmpClient { c.SeenAt = at; return c }
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	putClients(t, s,
		seen(rtmpClient(lsA, 1, "s-a", true, at(0)), at(30)),
		seen(rtmpClient(lsB, 2, "s-b", false, at(0)), at(10)), // another tenant: listed too
		seen(rtmpClient(lsA, 3, "", false, at(0)), at(60)),
		seen(rtmpClient(lsA, 4, "s-a", false, at(5)), at(10)), // same seen_at as 2: by client id
	)
	for _, tc := range []struct {
		name   string
		before time.Time
		limit  int
		want   []uint64
	}{
		{"none that old", at(10), 10, nil},
		{"before is exclusive", at(30), 10, []uint64{2, 4}},
		{"oldest first, every tenant", at(61), 10, []uint64{2, 4, 1, 3}},
		{"limit", at(61), 3, []uint64{2, 4, 1}},
		{"a negative limit is none", at(61), -1, []uint64{2, 4, 1, 3}},
	} {
		view(t, s, func(r store.Reader) error {
			got, err := r.StaleRtmpClients(ctx, tc.before, tc.limit)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			var ids []uint64
			for _, c := range got {
				ids = append(ids, c.ClientID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tc.want) {
				t.Errorf("%s: StaleRtmpClients(%v, %d) = %v, want %v", tc.name, tc.before, tc.limit, ids, tc.want)
			}
			if len(got) > 0 && got[0].ClientID == 2 {
				checkRtmpClient(t, tc.name+": client 2", got[0], seen(rtmpClient(lsB, 2, "s-b", false, at(0)), at(10)))
			}
			return nil
		})
	}
}
