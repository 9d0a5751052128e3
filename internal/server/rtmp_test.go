package server_test

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	livegatev1 "github.com/livegate/livegate/gen/go/livegate/v1"
	"github.com/livegate/livegate/internal/rtmp"
	"github.com/livegate/livegate/internal/server"
	"github.com/livegate/livegate/internal/store"
)

// rtmpFixture is a server, an app with one RTMP livestream, and the callback secret.
type rtmpFixture struct {
	s      *testServer
	token  string
	acc    string
	app    string
	secret string
	ls     *livegatev1.Livestream
}

func newRTMPFixture(t *testing.T, tune func(*server.Config)) *rtmpFixture {
	t.Helper()
	s := startServer(t, t.TempDir(), tune)
	f := &rtmpFixture{s: s, acc: "acc-rtmp", app: "app-rtmp"}
	f.token = s.createApp(f.acc, f.app).APIToken
	var err error
	if f.secret, err = rtmp.CallbackSecret(context.Background(), s.db()); err != nil {
		t.Fatal(err)
	}
	f.ls = f.create(t, "studio")
	return f
}

func (f *rtmpFixture) create(t *testing.T, name string) *livegatev1.Livestream {
	t.Helper()
	resp, err := f.s.livestreams.CreateLivestream(withToken(f.token), &livegatev1.CreateLivestreamRequest{AccountId: f.acc, AppId: f.app, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetData()
}

// noRedirects is an HTTP client that shows a 3xx as it is, as nginx-rtmp reads it.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

type callbackAnswer struct {
	restResponse
	Location string
}

// callback sends one callback the way nginx-rtmp does: a form POST to /rtmp/SECRET/HOOK with
// nginx-rtmp's session fields first.
func (f *rtmpFixture) callback(t *testing.T, secret, hook string, fields ...string) callbackAnswer {
	t.Helper()
	form := []string{"app=live", "flashver=FMLE/3.0%20(compatible%3B%20FMSc/1.0)", "swfurl=", "tcurl=rtmp://127.0.0.1:1935/live", "pageurl=", "addr=127.0.0.1"}
	form = append(form, fields...)
	req, err := http.NewRequest(http.MethodPost, f.s.base+"/rtmp/"+secret+"/"+hook, strings.NewReader(strings.Join(form, "&")))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", hook, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := callbackAnswer{restResponse: restResponse{Status: resp.StatusCode, Raw: raw}, Location: resp.Header.Get("Location")}
	_ = json.Unmarshal(raw, &out.Body)
	return out
}

func client(id int) string { return "clientid=" + strconv.Itoa(id) }

func (f *rtmpFixture) publish(t *testing.T, key string, id int) callbackAnswer {
	t.Helper()
	return f.callback(t, f.secret, "on_publish", client(id), "call=publish", "name="+url.QueryEscape(key), "type=live")
}

func (f *rtmpFixture) publishDone(t *testing.T, key string, id int) callbackAnswer {
	t.Helper()
	return f.callback(t, f.secret, "on_publish_done", client(id), "call=publish_done", "name="+url.QueryEscape(key))
}

func (f *rtmpFixture) play(t *testing.T, name string, id int) callbackAnswer {
	t.Helper()
	return f.callback(t, f.secret, "on_play", client(id), "call=play", "name="+url.QueryEscape(name), "start=4294967294", "duration=0", "reset=0")
}

func (f *rtmpFixture) playDone(t *testing.T, name string, id int) callbackAnswer {
	t.Helper()
	return f.callback(t, f.secret, "on_play_done", client(id), "call=play_done", "name="+url.QueryEscape(name))
}

// state is what the store holds about a livestream: the livestream and its sessions.
func (f *rtmpFixture) state(t *testing.T, id string) (store.Livestream, []store.Session) {
	t.Helper()
	tn := store.Tenant{AccountID: f.acc, AppID: f.app}
	var l store.Livestream
	var sessions []store.Session
	err := f.s.db().View(context.Background(), func(r store.Reader) error {
		var err error
		if l, err = r.Livestream(context.Background(), tn, id); err != nil {
			return err
		}
		sessions, _, err = r.ListSessions(context.Background(), tn, id, 0, 100)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return l, sessions
}

func (f *rtmpFixture) events(t *testing.T) []*livegatev1.Event {
	t.Helper()
	return f.s.allEvents(f.token, f.acc, f.app)
}

func eventTypes(evs []*livegatev1.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.GetType())
	}
	return out
}

func TestRTMPCallbackRefusals(t *testing.T) {
	f := newRTMPFixture(t, nil)
	ctx := withToken(f.token)
	disabled := f.create(t, "disabled")
	if _, err := f.s.livestreams.DisableLivestream(ctx, &livegatev1.DisableLivestreamRequest{AccountId: f.acc, AppId: f.app, LivestreamId: disabled.GetId()}); err != nil {
		t.Fatal(err)
	}
	// Another app's 100ms livestream (players name a livestream by its id alone); its start
	// is in that app's feed, not in the one checked below.
	other := f.s.createApp("acc-meeting", "app-meeting")
	meeting, err := f.s.livestreams.StartMeetingLivestream(withToken(other.APIToken), &livegatev1.StartMeetingLivestreamRequest{AccountId: "acc-meeting", AppId: "app-meeting", MeetingId: "room-play"})
	if err != nil {
		t.Fatal(err)
	}
	reset := f.create(t, "reset")
	if _, err := f.s.livestreams.ResetStreamKey(ctx, &livegatev1.ResetStreamKeyRequest{AccountId: f.acc, AppId: f.app, LivestreamId: reset.GetId()}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		secret     string
		hook       string
		fields     []string
		wantStatus int
		wantReason string
		wantIn     string // in the error message
	}{
		{"wrong secret", "not-the-secret", "on_publish", []string{"clientid=1", "call=publish", "name=" + f.ls.GetStreamKey()}, 401, "SIGNATURE_MISMATCH", "callback secret"},
		{"empty secret", "", "on_publish", []string{"clientid=1", "call=publish", "name=" + f.ls.GetStreamKey()}, 401, "SIGNATURE_MISMATCH", "callback secret"},
		{"unknown key", f.secret, "on_publish", []string{"clientid=1", "call=publish", "name=nope"}, 403, "PERMISSION_DENIED", "unknown stream key"},
		{"key before reset", f.secret, "on_publish", []string{"clientid=1", "call=publish", "name=" + reset.GetStreamKey()}, 403, "PERMISSION_DENIED", "unknown stream key"},
		{"disabled livestream", f.secret, "on_publish", []string{"clientid=1", "call=publish", "name=" + disabled.GetStreamKey()}, 403, "PERMISSION_DENIED", "disabled"},
		{"play by stream key", f.secret, "on_play", []string{"clientid=1", "call=play", "name=" + f.ls.GetStreamKey()}, 403, "PERMISSION_DENIED", "play a livestream by its id"},
		{"play disabled", f.secret, "on_play", []string{"clientid=1", "call=play", "name=" + disabled.GetId()}, 403, "PERMISSION_DENIED", "disabled"},
		// nginx has nothing of a 100ms or Amity livestream to serve: no viewer time for it.
		{"play a 100ms livestream", f.secret, "on_play", []string{"clientid=1", "call=play", "name=" + meeting.GetData().GetId()}, 403, "PERMISSION_DENIED", "not RTMP ingest"},
		{"unknown hook", f.secret, "on_whatever", []string{"clientid=1", "call=publish", "name=x"}, 404, "NOT_FOUND", "on_whatever"},
		{"unknown hook lists every hook served", f.secret, "on_whatever", []string{"clientid=1", "call=publish", "name=x"}, 404, "NOT_FOUND", "on_connect, on_disconnect, on_done, on_play, on_play_done, on_publish, on_publish_done, on_record_done, on_update"},
		{"call on the wrong hook", f.secret, "on_play", []string{"clientid=1", "call=publish", "name=" + f.ls.GetStreamKey()}, 400, "INVALID_ARGUMENT", "call"},
		{"no name", f.secret, "on_publish", []string{"clientid=1", "call=publish"}, 400, "INVALID_ARGUMENT", "name"},
		{"bad clientid", f.secret, "on_publish", []string{"clientid=x1", "call=publish", "name=" + f.ls.GetStreamKey()}, 400, "INVALID_ARGUMENT", "clientid"},
		{"no clientid", f.secret, "on_publish", []string{"call=publish", "name=" + f.ls.GetStreamKey()}, 400, "INVALID_ARGUMENT", `clientid: missing: required for call "publish"`},
		{"not a form", f.secret, "on_publish", []string{"%zz"}, 400, "INVALID_ARGUMENT", "form"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := f.callback(t, tc.secret, tc.hook, tc.fields...)
			if got.Status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", got.Status, tc.wantStatus, got.Raw)
			}
			if got.Location != "" {
				t.Errorf("Location %q on a refusal", got.Location)
			}
			errs, _ := got.Body["errors"].([]any)
			if len(errs) != 1 {
				t.Fatalf("want the error envelope, got %s", got.Raw)
			}
			e := errs[0].(map[string]any)
			if e["reason"] != tc.wantReason || !strings.Contains(e["message"].(string), tc.wantIn) {
				t.Errorf("error %v, want reason %s and a message with %q", e, tc.wantReason, tc.wantIn)
			}
			if strings.Contains(string(got.Raw), f.ls.GetStreamKey()) || strings.Contains(string(got.Raw), disabled.GetStreamKey()) {
				t.Errorf("the answer repeats a stream key: %s", got.Raw)
			}
		})
	}

	// Nothing changed: every livestream is IDLE with no session, and the feed is empty.
	for _, ls := range []*livegatev1.Livestream{f.ls, disabled, reset} {
		l, sessions := f.state(t, ls.GetId())
		if l.Status != store.StatusIdle || len(sessions) != 0 {
			t.Errorf("livestream %s: status %s with %d sessions after refused callbacks", l.Name, l.Status, len(sessions))
		}
	}
	if evs := f.events(t); len(evs) != 0 {
		t.Errorf("refused callbacks stored events: %v", eventTypes(evs))
	}
}

func TestRTMPPublishLifecycle(t *testing.T) {
	f := newRTMPFixture(t, nil)
	key, id := f.ls.GetStreamKey(), f.ls.GetId()

	before := time.Now()
	pub := f.publish(t, key, 7)
	if pub.Status != http.StatusFound || pub.Location != id {
		t.Fatalf("on_publish: %d Location %q, want 302 to %q: %s", pub.Status, pub.Location, id, pub.Raw)
	}
	l, sessions := f.state(t, id)
	if l.Status != store.StatusLive || len(sessions) != 1 || !sessions[0].StoppedAt.IsZero() {
		t.Fatalf("after on_publish: status %s, sessions %+v; want LIVE with one active session", l.Status, sessions)
	}
	// A repeat of the same client's publish is answered the same, opens nothing and stores
	// nothing (sequence 0).
	if again := f.publish(t, key, 7); again.Status != http.StatusFound || again.Location != id || again.Body["sequence"] != "0" {
		t.Fatalf("repeated on_publish: %d %q %s, want 302 to %q with sequence 0", again.Status, again.Location, again.Raw, id)
	}
	// A second publisher is refused while the first is live.
	if second := f.publish(t, key, 8); second.Status != http.StatusConflict || !strings.Contains(second.errorMessage(t), "already has a publisher") {
		t.Fatalf("second publisher: %d %s, want 409", second.Status, second.Raw)
	}
	// nginx-rtmp keeps updating a live publisher: no feed event, state kept.
	if upd := f.callback(t, f.secret, "on_update", client(7), "call=update_publish", "time=30", "timestamp=30000", "name="+key); upd.Status != http.StatusOK {
		t.Fatalf("on_update: %d %s", upd.Status, upd.Raw)
	}

	time.Sleep(300 * time.Millisecond)
	// publish_done names the stream key again: nginx-rtmp keeps the name it was given.
	done := f.publishDone(t, key, 7)
	elapsed := time.Since(before).Seconds()
	if done.Status != http.StatusOK {
		t.Fatalf("on_publish_done: %d %s", done.Status, done.Raw)
	}
	l, sessions = f.state(t, id)
	if l.Status != store.StatusIdle || len(sessions) != 1 || sessions[0].StoppedAt.IsZero() {
		t.Fatalf("after on_publish_done: status %s, sessions %+v; want IDLE with the session stopped", l.Status, sessions)
	}
	if got := sessions[0].IngestSeconds; got < 0.3 || got > elapsed {
		t.Errorf("ingest_seconds %.3f, want between 0.3 and %.3f", got, elapsed)
	}
	// on_done after on_publish_done: nothing left to account for, nothing stored.
	if d := f.callback(t, f.secret, "on_done", client(7), "call=done", "name="+key); d.Status != http.StatusOK || d.Body["sequence"] != "0" {
		t.Errorf("on_done after publish_done: %d %s, want 200 with sequence 0", d.Status, d.Raw)
	}

	evs := f.events(t)
	want := []string{"rtmp.publish", "livestream.status_changed", "rtmp.publish_done", "livestream.status_changed"}
	if got := eventTypes(evs); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("feed %v, want %v", got, want)
	}
	for _, e := range evs {
		if e.GetLivestreamId() != id {
			t.Errorf("%s event about livestream %q, want %q", e.GetType(), e.GetLivestreamId(), id)
		}
		if strings.Contains(e.String(), key) {
			t.Errorf("%s event carries the stream key: %v", e.GetType(), e)
		}
	}
	if p := evs[0].GetRtmpPublish(); p.GetName() != id || p.GetClientid() != 7 || p.GetAddr() != "127.0.0.1" {
		t.Errorf("rtmp.publish payload %v, want name = livestream id, clientid 7", p)
	}
	if sc := evs[1].GetLivestreamStatusChanged(); sc.GetNewStatus() != livegatev1.LivestreamStatus_LIVE || sc.GetOldStatus() != livegatev1.LivestreamStatus_IDLE {
		t.Errorf("first status change %v, want IDLE → LIVE", sc)
	}
	if sc := evs[3].GetLivestreamStatusChanged(); sc.GetNewStatus() != livegatev1.LivestreamStatus_IDLE {
		t.Errorf("last status change %v, want → IDLE", sc)
	}
	if seq, _ := strconv.ParseUint(pub.Body["sequence"].(string), 10, 64); seq != evs[0].GetSequence() {
		t.Errorf("on_publish answered sequence %v, the event is %d", pub.Body["sequence"], evs[0].GetSequence())
	}
}

func TestRTMPReconnectWindow(t *testing.T) {
	for _, tc := range []struct {
		name         string
		window       time.Duration
		sameSession  bool
		wantSessions int
	}{
		{"within the window", time.Hour, true, 1},
		{"window off", -1, false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newRTMPFixture(t, func(c *server.Config) { c.RTMPReconnectWindow = tc.window })
			key, id := f.ls.GetStreamKey(), f.ls.GetId()
			f.publish(t, key, 1)
			time.Sleep(200 * time.Millisecond)
			f.publishDone(t, key, 1)
			_, first := f.state(t, id)
			if pub := f.publish(t, key, 2); pub.Status != http.StatusFound {
				t.Fatalf("reconnect: %d %s", pub.Status, pub.Raw)
			}
			time.Sleep(200 * time.Millisecond)
			f.publishDone(t, key, 2)
			l, sessions := f.state(t, id)
			if l.Status != store.StatusIdle || len(sessions) != tc.wantSessions {
				t.Fatalf("status %s with %d sessions, want IDLE with %d", l.Status, len(sessions), tc.wantSessions)
			}
			if tc.sameSession {
				if sessions[0].ID != first[0].ID || sessions[0].IngestSeconds < 0.4 || sessions[0].IngestSeconds <= first[0].IngestSeconds {
					t.Errorf("reconnected session %s with %.3fs ingest; want %s continued past %.3fs", sessions[0].ID, sessions[0].IngestSeconds, first[0].ID, first[0].IngestSeconds)
				}
			} else if sessions[0].ID == first[0].ID {
				t.Errorf("a reconnect with the window off continued session %s", first[0].ID)
			}
		})
	}
}

func TestRTMPViewers(t *testing.T) {
	f := newRTMPFixture(t, nil)
	key, id := f.ls.GetStreamKey(), f.ls.GetId()

	// A viewer who waits for the publisher counts only while the session runs.
	if p := f.play(t, id, 20); p.Status != http.StatusOK || p.Location != "" {
		t.Fatalf("on_play before the publisher: %d %q %s", p.Status, p.Location, p.Raw)
	}
	time.Sleep(200 * time.Millisecond)
	f.publish(t, key, 10)
	started := time.Now()
	if p := f.play(t, id, 21); p.Status != http.StatusOK {
		t.Fatalf("on_play: %d %s", p.Status, p.Raw)
	}
	if p := f.play(t, id, 21); p.Status != http.StatusOK || p.Body["sequence"] != "0" {
		t.Fatalf("repeated on_play: %d %s, want 200 with sequence 0 (stored nowhere)", p.Status, p.Raw)
	}
	time.Sleep(300 * time.Millisecond)
	f.playDone(t, id, 21)
	// on_done is the same end for a viewer; after play_done it changes nothing.
	f.callback(t, f.secret, "on_done", client(21), "call=done", "name="+id)
	time.Sleep(100 * time.Millisecond)
	f.publishDone(t, key, 10)
	time.Sleep(200 * time.Millisecond)
	// The waiting viewer leaves after the session stopped: its time after the stop is not counted.
	if d := f.callback(t, f.secret, "on_done", client(20), "call=done", "name="+id); d.Status != http.StatusOK {
		t.Fatalf("on_done: %d %s", d.Status, d.Raw)
	}
	elapsed := time.Since(started).Seconds()

	_, sessions := f.state(t, id)
	if len(sessions) != 1 {
		t.Fatalf("%d sessions, want 1", len(sessions))
	}
	sess := sessions[0]
	// Viewer 21 watched ≥ 0.3 s; viewer 20 the whole session (≥ 0.4 s); neither before the
	// start nor after the stop.
	if sess.ViewerSeconds < 0.7 || sess.ViewerSeconds > 2*sess.IngestSeconds {
		t.Errorf("viewer_seconds %.3f with ingest %.3f (elapsed %.3f): want at least 0.7 and at most two viewers × the session", sess.ViewerSeconds, sess.IngestSeconds, elapsed)
	}

	// Analytics sum the session's viewer seconds, in whole seconds.
	a := f.s.rest(http.MethodGet, "/accounts/"+f.acc+"/realtime/kit/"+f.app+"/analytics/livestreams/overall", f.token, nil)
	if a.Status != http.StatusOK {
		t.Fatalf("analytics: %d %s", a.Status, a.Raw)
	}
	if got, _ := a.data(t)["total_viewer_seconds"].(float64); got != math.Round(sess.ViewerSeconds) {
		t.Errorf("analytics total_viewer_seconds %v, want the session's %v rounded (%s)", got, sess.ViewerSeconds, a.Raw)
	}
	want := []string{"rtmp.play", "rtmp.publish", "livestream.status_changed", "rtmp.play", "rtmp.play_done", "rtmp.publish_done", "livestream.status_changed", "rtmp.done"}
	if got := eventTypes(f.events(t)); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("feed %v, want %v", got, want)
	}
}

// TestRTMPUpdates: nginx-rtmp's on_update reports (the relay's for the publisher, the
// viewers' own, and ones about clients livegate does not know) are answered 200 and put
// nothing in the feed.
func TestRTMPUpdates(t *testing.T) {
	f := newRTMPFixture(t, nil)
	key, id := f.ls.GetStreamKey(), f.ls.GetId()
	f.publish(t, key, 3)
	f.play(t, id, 4)
	before := eventTypes(f.events(t))
	for _, fields := range [][]string{
		{client(99), "call=update_publish", "time=30", "timestamp=30000", "name=" + id}, // the relay into the playback app
		{client(4), "call=update_play", "time=30", "timestamp=30000", "name=" + id},     // a viewer
		{client(5), "call=update_play", "time=30", "timestamp=30000", "name=" + id},     // unknown
		{client(6), "call=update_publish", "time=30", "timestamp=30000", "name=nope"},   // unknown livestream
	} {
		if upd := f.callback(t, f.secret, "on_update", fields...); upd.Status != http.StatusOK {
			t.Errorf("on_update %v: %d %s, want 200", fields, upd.Status, upd.Raw)
		}
	}
	if after := eventTypes(f.events(t)); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Errorf("on_update stored events: %v → %v", before, after)
	}
	if l, sessions := f.state(t, id); l.Status != store.StatusLive || len(sessions) != 1 {
		t.Errorf("after updates: %s with %d sessions, want LIVE with 1", l.Status, len(sessions))
	}
}

// TestRTMPClientIDReused: after an nginx restart its client ids start again, so a new
// publisher can come with the client id of one livegate still holds. The old publisher's
// livestream goes IDLE, its session stopped, with a status change that says why and points at
// the callback that showed it; the new publisher is registered under the id. Until 2026-11-29
// the old livestream stayed LIVE for good.
func TestRTMPClientIDReused(t *testing.T) {
	f := newRTMPFixture(t, nil)
	other := f.create(t, "second")
	if pub := f.publish(t, f.ls.GetStreamKey(), 5); pub.Status != http.StatusFound {
		t.Fatalf("on_publish: %d %s", pub.Status, pub.Raw)
	}
	pub := f.publish(t, other.GetStreamKey(), 5)
	if pub.Status != http.StatusFound || pub.Location != other.GetId() {
		t.Fatalf("on_publish with the id again: %d %q %s", pub.Status, pub.Location, pub.Raw)
	}
	if l, sessions := f.state(t, f.ls.GetId()); l.Status != store.StatusIdle || len(sessions) != 1 || sessions[0].StoppedAt.IsZero() {
		t.Fatalf("the first livestream: %s, sessions %+v; want IDLE with its session stopped", l.Status, sessions)
	}
	if l, _ := f.state(t, other.GetId()); l.Status != store.StatusLive {
		t.Fatalf("the second livestream: %s, want LIVE", l.Status)
	}
	var change *livegatev1.LivestreamStatusChanged
	for _, e := range f.events(t) {
		if sc := e.GetLivestreamStatusChanged(); sc != nil && sc.GetLivestreamId() == f.ls.GetId() && sc.GetNewStatus() == livegatev1.LivestreamStatus_IDLE {
			change = sc
		}
	}
	seq, _ := strconv.ParseUint(pub.Body["sequence"].(string), 10, 64)
	if change == nil || !strings.Contains(change.GetReason(), "client id 5") || change.GetCauseSequence() != seq || change.GetCause() != "rtmp.publish" {
		t.Errorf("status change of the first livestream %v, want → IDLE caused by rtmp.publish %d, its reason naming client id 5", change, seq)
	}
	// The id is the new publisher's now: its done ends the second livestream's run.
	if done := f.publishDone(t, other.GetStreamKey(), 5); done.Status != http.StatusOK {
		t.Fatalf("on_publish_done: %d %s", done.Status, done.Raw)
	}
	if l, _ := f.state(t, other.GetId()); l.Status != store.StatusIdle {
		t.Errorf("the second livestream after its done: %s, want IDLE", l.Status)
	}
}
